"""``kapic sweep report FILE --plot PNG``: a metric against one axis, one line per remaining
combination, with its spread over the seeds as a band (matplotlib's Agg canvas, the optional
extra ``kapic[plot]``)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kapic.errors import ConfigError
from kapic.sweeps.results import METRICS

__all__ = ["plot_sweep"]


def _online(row: Mapping[str, Any]) -> int | None:
    value = row.get("cpus_online")
    return value if isinstance(value, int) else None


def plot_sweep(rows: Sequence[Mapping[str, Any]], *, x: str, lines_by: Sequence[str],
               metric: str, path: Path) -> None:
    """Draw ``metric`` of the ok runs against axis ``x``, a line per combination of
    ``lines_by``: the median over the other axes (the seeds), a band from min to max."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'kapic[plot]'") from None
    online = metric == "online"
    get: Callable[[Mapping[str, Any]], int | None]
    if online:  # every run has a count of CPUs online, whatever its result
        what, get = "CPUs online", _online
    else:
        what, get = METRICS[metric]
    series: dict[tuple[Any, ...], dict[Any, list[int]]] = {}
    for row in rows:
        value = get(row) if online or row.get("result") == "ok" else None
        if value is None or x not in row["point"]:
            continue
        key = tuple(row["point"].get(a) for a in lines_by)
        series.setdefault(key, {}).setdefault(row["point"][x], []).append(value)
    if not series:
        raise ConfigError(f"--plot: no ok run has a {what} to draw")
    top = max(v for s in series.values() for vals in s.values() for v in vals)
    scale, unit = ((1.0, "CPUs") if online else (1e6, "ms") if top >= 1e6 else (1e3, "us"))
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "x"]
    for n, (key, points) in enumerate(sorted(series.items(), key=lambda kv: str(kv[0]))):
        xs = sorted(points)
        med = [statistics.median(points[p]) / scale for p in xs]
        low = [min(points[p]) / scale for p in xs]
        high = [max(points[p]) / scale for p in xs]
        label = ", ".join(f"{a}={v}" for a, v in zip(lines_by, key, strict=True)) or "all runs"
        # lines that coincide stay visible: each has its own dash and marker
        (line,) = ax.plot(xs, med, linestyle=styles[n % len(styles)],
                          marker=markers[n % len(markers)], markersize=7 - n % 3, label=label)
        ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2)
    xs_all = {p for s in series.values() for p in s}
    if all(isinstance(p, int) and p > 0 for p in xs_all) and len(xs_all) > 2 and \
            max(xs_all) >= 8 * min(xs_all):
        ax.set_xscale("log", base=2)
    ax.set_xlabel(x)
    ax.set_ylabel(f"{what} ({unit})")
    ax.set_title(f"{what} against {x} (median, band: min to max over the seeds)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=110)
