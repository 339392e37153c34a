"""``kapic compare --plot FILE``: where each row's time goes (matplotlib, Agg canvas).

One band of the figure per row of the table (method, platform, kernel), drawn from the row's
median run (:attr:`~kapic.report.rows.Row.result`):

* left, a Gantt chart on a time axis shared by every row: one bar per AP, from its kick to the
  end of the boot CPU's online work for it, split into the three parts of
  :func:`~kapic.report.rows.cost_split`: **wakeup** (the method), **start-up** (the platform)
  and **waiting** (the kernel's online work and the queue). An AP that never came online shows
  the parts it got through, hatched, and a red cross where it stopped. A dashed line marks the
  end of the bring-up, with whiskers over its range across the runs;
* right, the row's per-AP medians of the three parts (median over APs, then over runs) as bars
  on an axis shared by every row, each with whiskers from the lowest to the highest run: the
  longest bar is the part that dominates.

The time axis ends where the last part of any row ends, so a run stopped by the watchdog after
seconds does not squash the others into a sliver; such a run is cut at the axis and says how
long it really ran. Parts shorter than 0.1 % of the axis are widened so they stay visible (the
trace has the exact times).

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
from kapic.report.rows import PART_NAMES, ApSplit, Row, ap_splits
from kapic.report.trace import as_rows
from kapic.report.units import format_ns, time_unit
from kapic.result import BootResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PART_COLOURS",
    "PLOT_SUFFIXES",
    "build_figure",
    "check_plot_path",
    "require_matplotlib",
    "write_plot",
]

PLOT_SUFFIXES: Final = (".png", ".svg")
#: part of an AP's bring-up -> colour, in time (and legend) order
PART_COLOURS: Final[Mapping[str, str]] = MappingProxyType(
    {"wakeup": "#e6550d", "startup": "#31a354", "waiting": "#9ecae1"}
)
#: what the legend says each part is
_PART_LEGEND: Final = {
    "wakeup": "wakeup: kick to first instruction (the method)",
    "startup": "start-up: to alive (the platform)",
    "waiting": "waiting: online work and queue (the kernel)",
}
_FAILED: Final = "#c0392b"
#: bars narrower than this fraction of the time axis are widened so they stay visible
_MIN_WIDTH: Final = 0.001
#: Gantt bar height, in rows
_BAR: Final = 0.72
#: width of the Gantt column against the per-AP column
_WIDTHS: Final = (3.3, 1.0)


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


def _cpu_rows(result: BootResult) -> list[int]:
    """The CPUs with a Gantt row: every CPU brought up (or tried), not the idle boot CPU."""
    targets = {s.target for s in result.spans}
    return sorted({c.cpu for c in result.cpus if c.state not in ("boot-cpu", "disabled")} | targets)


def _is_text_only(row: Row) -> bool:
    """A row drawn as a sentence across the figure: not possible, or nothing ran."""
    return row.result.result == "not-applicable" or not _cpu_rows(row.result)


def _run_end(result: BootResult) -> int:
    return max([result.sim_time_ns, *(s.end_ns for s in result.spans)])


def _axis_end(rows: Sequence[Row], splits: Mapping[int, list[ApSplit]]) -> int:
    """Where the time axis ends: the last end of a part or of a total's range, else of a run."""
    ends = [ap.end_ns for aps in splits.values() for ap in aps]
    ends += [high for row in rows if (high := row.spread("total").high) is not None]
    drawn = [r for r in rows if not _is_text_only(r)]
    return max(ends) if ends else max([_run_end(r.result) for r in drawn] or [1])


def _runs_text(row: Row) -> str:
    n = len(row.runs)
    if n == 1:
        return f"seed {row.result.seed}"
    return f"median of {n} runs, seed {row.result.seed}"


def _draw_text_row(ax: Axes, row: Row) -> None:
    result = row.result
    if result.result == "not-applicable":
        why = result.reasons[0].split("; ")[0] if result.reasons else "no reason recorded"
        text = f"not possible: {why}"
    else:
        why = f": {result.reasons[0]}" if result.reasons else ""
        text = f"{row.outcome}, no CPU to draw{why}"
    ax.text(0.5, 0.5, textwrap.fill(text, width=110), transform=ax.transAxes, ha="center",
            va="center", fontsize="small")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(row.label, fontsize=9, loc="left")


def _draw_gantt(ax: Axes, row: Row, aps: list[ApSplit], unit: int, min_width: float) -> None:
    result = row.result
    cpus = _cpu_rows(result)
    y_of = {cpu: i for i, cpu in enumerate(cpus)}
    for part in PART_NAMES:
        for complete in (True, False):
            bars = [(y_of[ap.cpu], start, end) for ap in aps if ap.complete is complete
                    for name, start, end in ap.parts() if name == part]
            if not bars:
                continue
            # a widened bar must not push the next part: it is drawn over it instead
            ax.barh(
                [y for y, _, _ in bars],
                [max((end - start) / unit, min_width) for _, start, end in bars],
                left=[start / unit for _, start, _ in bars],
                height=_BAR,
                color=PART_COLOURS[part],
                alpha=1.0 if complete else 0.45,
                hatch=None if complete else "////",
                edgecolor="white" if complete else PART_COLOURS[part],
                linewidth=0,
                zorder=3 if part == "wakeup" else 2,
                label=part if complete else f"{part} (not online)",
            )
    stopped = [ap for ap in aps if not ap.complete]
    split = {ap.cpu for ap in aps}
    never = [c for c in result.cpus  # kicked, yet without a kick span: marked at its kick
             if c.cpu in y_of and c.cpu not in split and c.kick_start_ns is not None]
    if stopped or never:
        xs = [ap.end_ns / unit for ap in stopped] + [(c.kick_start_ns or 0) / unit for c in never]
        ys = [y_of[ap.cpu] for ap in stopped] + [y_of[c.cpu] for c in never]
        ax.scatter(xs, ys, marker="x", color=_FAILED, s=22, linewidths=1.4, zorder=4)
    total = row.spread("total")
    if result.result == "ok":
        end = result.sim_time_ns / unit
        ax.axvline(end, color="#333333", linestyle="--", linewidth=0.9, zorder=1)
        if total.low is not None and total.high is not None and total.runs > 1:
            # the median run is one of the runs the range is over, so it lies inside it
            ax.errorbar([end], [-0.55], xerr=[[end - total.low / unit], [total.high / unit - end]],
                        fmt="none", ecolor="#333333", elinewidth=1.2, capsize=3.5, zorder=5,
                        clip_on=False, label="total")
    step = 1
    while len(cpus) > 16 * step:  # at most ~16 labels, on round CPU numbers
        step *= 2
    ticks = [(i, cpu) for i, cpu in enumerate(cpus) if cpu % step == 0]
    for i in (0, len(cpus) - 1):  # name the first and last AP when no label is near
        if all(abs(i - j) > max(1, step // 2) for j, _ in ticks):
            ticks.append((i, cpus[i]))
    ax.set_yticks([i for i, _ in ticks])
    ax.set_yticklabels([f"CPU {cpu}" for _, cpu in ticks], fontsize=7.5)
    # room above the first AP for the total's whiskers; one or two APs keep thin bars
    ax.set_ylim(max(len(cpus), 3) - 0.4, -0.9)
    ax.grid(axis="x", linestyle=":", linewidth=0.6)
    ax.set_axisbelow(True)
    online = f"{result.cpus_online}/{result.cpus_requested} online"
    if result.result == "ok":
        summary = f"{online}, total {total.format()}"
    else:
        summary = f"{online}, {result.result} after {format_ns(result.sim_time_ns)}"
    mode = row.mode[0]
    if mode != "-":
        summary += f", {mode}"
    runs = _runs_text(row)
    if row.outcome != result.result:
        runs += f"; {row.outcome}"
    title = textwrap.fill(f"{row.label}: {summary} ({runs})", width=125)
    ax.set_title(title, fontsize=9, loc="left")
    if _run_end(result) > ax.get_xlim()[1] * unit:
        ax.text(0.995, 0.04, f"cut at the axis: runs to {format_ns(_run_end(result))} →",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7.5, color=_FAILED,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})


def _draw_per_ap(ax: Axes, row: Row, unit: int, panel_rows: float) -> None:
    """The row's per-AP medians of the three parts, with their range over the runs."""
    parts = list(PART_NAMES)
    spreads = [row.spread(part) for part in parts]
    ys = list(range(len(parts)))
    ax.set_ylim(max(len(parts), panel_rows) - 0.5, -0.6)
    ax.set_yticks(ys)
    labels = [f"{PART_NAMES[p]}\n{s.format()}" for p, s in zip(parts, spreads, strict=True)]
    ax.set_yticklabels(labels, fontsize=7)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", linestyle=":", linewidth=0.6)
    ax.set_axisbelow(True)
    per_cpu = row.spread("per_cpu")
    if per_cpu.median is None:
        ax.text(0.5, 0.5, "no AP came online", transform=ax.transAxes, ha="center",
                va="center", fontsize=7.5, color="#555555")
        ax.set_title("per AP: -", fontsize=8.5, loc="left")
        return
    for y, part, s in zip(ys, parts, spreads, strict=True):
        if s.median is None or s.low is None or s.high is None:
            continue
        ax.barh([y], [s.median / unit], height=0.62, color=PART_COLOURS[part], zorder=2,
                label=part)
        if s.runs < 2:
            continue  # one run has no spread: no whiskers
        ax.errorbar([s.median / unit], [y],
                    xerr=[[(s.median - s.low) / unit], [(s.high - s.median) / unit]],
                    fmt="none", ecolor="#222222", elinewidth=1.0, capsize=3, zorder=3,
                    label=f"spread {part}")
    ax.set_title(f"per AP: {per_cpu.format()}", fontsize=8.5, loc="left")


def _height(row: Row) -> float:
    if _is_text_only(row):
        return 0.75
    return min(6.0, max(1.35, 0.75 + 0.085 * len(_cpu_rows(row.result))))


def _legend(fig: Figure, rows: Sequence[Row], splits: Mapping[int, list[ApSplit]]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Patch | Line2D] = [
        Patch(color=PART_COLOURS[part], label=_PART_LEGEND[part]) for part in PART_NAMES
    ]
    aps = [ap for aps in splits.values() for ap in aps]
    if any(not ap.complete for ap in aps) or any(
        c.kick_start_ns is not None and c.state != "online"
        for i in splits for c in rows[i].result.cpus
    ):
        handles.append(Patch(facecolor="white", edgecolor="#777777", hatch="////",
                             label="never came online: the parts it got through"))
        handles.append(Line2D([], [], color=_FAILED, marker="x", linestyle="none",
                              markersize=5, label="where it stopped"))
    if any(not _is_text_only(r) and r.result.result == "ok" for r in rows):
        handles.append(Line2D([], [], color="#333333", linestyle="--", linewidth=0.9,
                              label="end of bring-up"))
    counts = {len(r.runs) for r in rows if not _is_text_only(r)}
    if max(counts, default=1) > 1:
        runs = f"{counts.pop()} runs" if len(counts) == 1 else "the row's runs"
        handles.append(Line2D([], [], color="#222222", marker="|", markersize=8,
                              linestyle="-", linewidth=1.0,
                              label=f"whiskers: lowest to highest of {runs}"))
    fig.legend(handles=handles, loc="outside upper center", ncols=3, fontsize=7.5,
               frameon=False)


def write_plot(rows: Sequence[Row | BootResult], path: str | Path) -> None:
    """Draw the rows (a bare BootResult is a row of one run) to ``path`` (.png or .svg)."""
    target = check_plot_path(path)
    require_matplotlib()
    fig = build_figure(rows)
    fig.savefig(target, format=target.suffix.lower().lstrip("."), dpi=110)


def build_figure(rows: Sequence[Row | BootResult]) -> Figure:
    """The figure :func:`write_plot` saves (needs matplotlib).

    Each row's Gantt panel is the Axes labelled ``gantt N`` and its per-AP panel ``per-ap N``
    (N counts from 0 in row order); their bars are in containers labelled by part (``wakeup``,
    ``startup``, ``waiting``, with `` (not online)`` for the hatched ones) and the whiskers in
    error-bar containers labelled ``total`` and ``spread PART``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = as_rows(rows)
    if not table:
        raise ConfigError("--plot: there is no run to draw")
    splits = {i: ap_splits(row.result) for i, row in enumerate(table) if not _is_text_only(row)}
    end = max(_axis_end(table, splits), 1)
    unit, suffix = time_unit(end)
    per_ap_end = max([s.high for r in table for p in PART_NAMES
                      if (s := r.spread(p)).high is not None] or [1])
    per_ap_unit, per_ap_suffix = time_unit(per_ap_end)
    heights = [_height(r) for r in table]
    fig = Figure(figsize=(13, sum(heights) + 1.3), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(table), 2, width_ratios=_WIDTHS, height_ratios=heights)
    gantt: list[Axes] = []
    per_ap: list[Axes] = []
    for i, row in enumerate(table):
        if i not in splits:
            _draw_text_row(fig.add_subplot(grid[i, :]), row)
            continue
        ax = fig.add_subplot(grid[i, 0], sharex=gantt[0] if gantt else None)
        side = fig.add_subplot(grid[i, 1], sharex=per_ap[0] if per_ap else None)
        if not gantt:
            ax.set_xlim(0, 1.02 * end / unit)  # shared by every Gantt panel
            side.set_xlim(0, 1.08 * per_ap_end / per_ap_unit)
        ax.set_label(f"gantt {i}")
        side.set_label(f"per-ap {i}")
        gantt.append(ax)
        per_ap.append(side)
        _draw_gantt(ax, row, splits[i], unit, _MIN_WIDTH * end / unit)
        # as many bar slots as fit the panel, so a tall panel keeps thin bars at its top
        _draw_per_ap(side, row, per_ap_unit, heights[i] / 0.42)
    for axes in (gantt, per_ap):
        for ax in axes[:-1]:
            ax.tick_params(labelbottom=False)
    if gantt:
        gantt[-1].set_xlabel(f"simulated time ({suffix}), median run", fontsize=8.5)
        per_ap[-1].set_xlabel(f"per AP ({per_ap_suffix}): median over APs, then runs",
                              fontsize=8.5)
        for ax in gantt + per_ap:
            ax.tick_params(axis="x", labelsize=8)
    if splits:
        _legend(fig, table, splits)
    return fig
