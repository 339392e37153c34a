"""``kapic compare --plot FILE``: a Gantt chart of every run (matplotlib ``broken_barh``).

One subplot per run, stacked on a shared simulated-time axis so methods compare at a glance;
one row per CPU being brought up. Each row has two lanes: the upper one is what the boot CPU
does for that CPU (spans whose ``cpu`` is not their ``target``: ``kick``, the nested ``mailbox``
handshake drawn thinner, ``alive-wait``, ...), the lower one what the CPU does itself
(``ap-startup``, ...). A red cross marks a CPU that never came online, at its kick.

The time axis ends where the last CPU that came online (in any run) finished, so a run stopped
by the watchdog after seconds does not squash the others into a sliver; such a run is cut at
the axis and its title says how long it really ran.

matplotlib is the optional extra ``kapic[plot]``, imported only here and only when a plot is
asked for; figures are drawn with the Agg canvas, never pyplot.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from kapic.errors import ConfigError
from kapic.report.stats import run_label
from kapic.report.units import format_ns, time_unit
from kapic.result import BootResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "PLOT_SUFFIXES",
    "SPAN_COLOURS",
    "check_plot_path",
    "require_matplotlib",
    "write_plot",
]

PLOT_SUFFIXES: Final = (".png", ".svg")
#: span kind -> colour, in legend order; unknown kinds are drawn grey
SPAN_COLOURS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "kick": "#4c72b0",
        "mailbox": "#dd8452",
        "alive-wait": "#b8b8d8",
        "online": "#8c6bb1",
        "ap-startup": "#55a868",
        "ap-online": "#2a9d8f",
    }
)
_OTHER: Final = "#999999"
#: bars narrower than this fraction of the time axis are widened so they stay visible
_MIN_WIDTH: Final = 0.002
#: (lane offset from the row's top, bar height) in row units; the mailbox sits inside the kick
_BSP_LANE: Final = (0.08, 0.40)
_AP_LANE: Final = (0.52, 0.40)
_NESTED: Final = (0.16, 0.24)


def check_plot_path(path: str | Path) -> Path:
    """``path`` as a Path when its suffix is one :func:`write_plot` can draw, else ConfigError."""
    p = Path(path)
    if p.suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"--plot {path}: the file name must end in .png or .svg")
    return p


def require_matplotlib() -> None:
    """Raise ConfigError, with the install hint, when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'kapic[plot]'") from None


def _lane(name: str, on_bsp: bool) -> tuple[float, float]:
    if name == "mailbox":
        return _NESTED
    return _BSP_LANE if on_bsp else _AP_LANE


def _rows(result: BootResult) -> list[int]:
    """The CPUs with a row: every CPU brought up (or tried), not the idle boot CPU."""
    targets = {s.target for s in result.spans}
    return sorted({c.cpu for c in result.cpus if c.state != "boot-cpu"} | targets)


def _draw_not_applicable(ax: Axes, result: BootResult) -> None:
    why = result.reasons[0].split("; ")[0] if result.reasons else "no reason recorded"
    text = textwrap.fill(f"not possible: {why}", width=70)
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize="small")
    ax.set_yticks([])
    ax.set_title(run_label(result), fontsize=9, loc="left")


def _axis_end(results: Sequence[BootResult]) -> int:
    """Where the time axis ends: the last span of a CPU that came online, else the last end."""
    ends = [
        s.end_ns
        for r in results
        for s in r.spans
        if s.target in {c.cpu for c in r.cpus if c.state == "online"}
    ]
    return max(ends) if ends else max(_run_end(r) for r in results)


def _run_end(result: BootResult) -> int:
    return max([result.sim_time_ns, *(s.end_ns for s in result.spans)])


def _legend_label(kind: str, results: Sequence[BootResult]) -> str:
    sides = {s.cpu != s.target for r in results for s in r.spans if s.name == kind}
    return kind + {frozenset({True}): " (boot CPU)", frozenset({False}): " (the CPU)"}.get(
        frozenset(sides), ""
    )


def _draw_run(ax: Axes, result: BootResult, unit: int, min_width: float) -> None:
    if result.result == "not-applicable":
        _draw_not_applicable(ax, result)
        return
    rows = _rows(result) or [0]
    row_of = {cpu: i for i, cpu in enumerate(rows)}
    kinds = [*SPAN_COLOURS, *sorted({s.name for s in result.spans} - set(SPAN_COLOURS))]
    for kind in kinds:
        spans = [s for s in result.spans if s.name == kind and s.target in row_of]
        for span in spans:
            top, height = _lane(kind, span.cpu != span.target)
            width = max((span.end_ns - span.start_ns) / unit, min_width)
            ax.broken_barh(
                [(span.start_ns / unit, width)],
                (row_of[span.target] + top, height),
                facecolors=SPAN_COLOURS.get(kind, _OTHER),
                linewidth=0,
            )
    failed = [c for c in result.cpus if c.state not in ("online", "boot-cpu", "disabled")]
    if failed:
        xs = [(c.kick_start_ns or 0) / unit for c in failed]
        ax.scatter(xs, [row_of[c.cpu] + 0.5 for c in failed], marker="x", color="#c0392b", s=18)
    step = 1
    while len(rows) > 16 * step:  # at most ~16 labels, on round CPU numbers
        step *= 2
    ticks = [(i, cpu) for i, cpu in enumerate(rows) if cpu % step == 0]
    ax.set_yticks([i + 0.5 for i, _ in ticks])
    ax.set_yticklabels([f"CPU {cpu}" for _, cpu in ticks], fontsize=8)
    ax.set_ylim(len(rows), 0)
    ax.grid(axis="x", linestyle=":", linewidth=0.6)
    summary = f"{result.cpus_online}/{result.cpus_requested} online, {format_ns(result.sim_time_ns)}"
    if result.result != "ok":
        summary += f", {result.result}"
    if _run_end(result) > ax.get_xlim()[1] * unit:
        summary += f" (cut at the axis: runs to {format_ns(_run_end(result))})"
    ax.set_title(f"{run_label(result)}: {summary}", fontsize=9, loc="left")


def write_plot(results: Sequence[BootResult], path: str | Path) -> None:
    """Draw the runs' timelines to ``path`` (.png or .svg)."""
    target = check_plot_path(path)
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if not results:
        raise ConfigError("--plot: there is no run to draw")
    end = max(_axis_end(results), 1)
    unit, suffix = time_unit(end)
    heights = [
        0.7 if r.result == "not-applicable" else min(6.0, max(1.4, 0.6 + 0.09 * len(_rows(r))))
        for r in results
    ]
    fig = Figure(figsize=(12, sum(heights) + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(results), 1, sharex=True, squeeze=False, height_ratios=heights)
    axes[-1, 0].set_xlim(0, 1.02 * end / unit)  # shared by every subplot
    for ax, result in zip(axes[:, 0], results, strict=True):
        _draw_run(ax, result, unit, _MIN_WIDTH * end / unit)
    axes[-1, 0].set_xlabel(f"simulated time ({suffix})")
    shown = {s.name for r in results for s in r.spans}
    kinds = [k for k in SPAN_COLOURS if k in shown] + sorted(shown - set(SPAN_COLOURS))
    handles = [Patch(color=SPAN_COLOURS.get(k, _OTHER), label=_legend_label(k, results)) for k in kinds]
    if handles:
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6), fontsize=8)
    fig.savefig(target, format=target.suffix.lower().lstrip("."), dpi=110)
