"""``--plot``: each row's median run split into wakeup, start-up and waiting, with the spread
over its runs; matplotlib optional."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kapic.errors import ConfigError
from kapic.report.plot import build_figure, check_plot_path, require_matplotlib, write_plot
from kapic.report.rows import Row, ap_splits
from kapic.result import BootResult, Span

from .conftest import MakeRun, not_applicable, repeated, sample

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PARTS = ("wakeup", "startup", "waiting")



def _axes(fig: Figure, label: str) -> Axes:
    """The Axes labelled ``label`` (``gantt N``, ``per-ap N``)."""
    (ax,) = [a for a in fig.axes if a.get_label() == label]
    return ax


def _bars(ax: Axes, label: str) -> list[tuple[float, float, float]]:
    """``(y, left, width)`` of the bars of the container labelled ``label``, by y."""
    from matplotlib.container import BarContainer

    (container,) = [c for c in ax.containers if c.get_label() == label]
    assert isinstance(container, BarContainer)
    return sorted((p.get_y() + p.get_height() / 2, p.get_x(), p.get_width())
                  for p in container.patches)


def _whisker(ax: Axes, label: str) -> tuple[float, float]:
    """The (low, high) x of the error bar labelled ``label``."""
    from matplotlib.container import ErrorbarContainer

    (container,) = [c for c in ax.containers if c.get_label() == label]
    assert isinstance(container, ErrorbarContainer)
    (segments,) = container.lines[2]  # one horizontal bar: its segment's two ends
    (x0, _), (x1, _) = segments.get_segments()[0]
    return x0, x1


def test_suffix_is_checked_before_anything_is_drawn(tmp_path: Path) -> None:
    assert check_plot_path(tmp_path / "a.PNG").name == "a.PNG"
    with pytest.raises(ConfigError, match=r"\.png or \.svg"):
        check_plot_path(tmp_path / "a.pdf")


def test_missing_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: list[BootResult]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'kapic\[plot\]'"):
        require_matplotlib()
    with pytest.raises(ConfigError, match=r"--plot needs matplotlib"):
        write_plot(runs, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("cpus", [8, 64])
def test_png(tmp_path: Path, cpus: int) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "boot.png"
    write_plot(sample(cpus), path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 800 and height >= 400


def test_svg_has_the_parts_the_spread_and_the_not_possible_row(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "boot.svg"
    write_plot([repeated(n=5), Row((not_applicable("init-sipi", "tdx"),))], path)
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")
    for label in (
        "wakeup: kick to first instruction (the method)",
        "start-up: to alive (the platform)",
        "waiting: online work and queue (the kernel)",
        "whiskers: lowest to highest of 5 runs",
        "end of bring-up",
        "simulated time (ms), median run",
        "per AP (ms): median over APs, then runs",
        "(median of 5 runs, seed 2)",
        "not possible: the TDX module drops INIT and SIPI",
    ):
        assert label in text, label


def test_gantt_bars_are_the_split_of_the_median_run() -> None:
    pytest.importorskip("matplotlib")
    row = repeated(n=5, alive_step_ns=7_000)
    ax = _axes(build_figure([row]), "gantt 0")
    aps = ap_splits(row.result)
    assert row.result.seed == 2 and [ap.cpu for ap in aps] == list(range(1, 8))
    for i, part in enumerate(PARTS):
        bars = _bars(ax, part)
        assert [y for y, _, _ in bars] == list(range(7))  # one bar per AP, CPU 1 on top
        for (_, left, width), ap in zip(bars, aps, strict=True):
            _, start, end = ap.parts()[i]
            assert left == pytest.approx(start / 1e6)  # in ms
            assert width == pytest.approx(max((end - start) / 1e6, 0.001 * _axis_ms(ax)))
    # each AP's bar runs from its kick to the end of the boot CPU's online work for it
    online = {s.target: s.end_ns for s in row.result.spans if s.name == "online"}
    for (_, left, width), ap in zip(_bars(ax, "waiting"), aps, strict=True):
        assert left + width == pytest.approx(online[ap.cpu] / 1e6)


def _axis_ms(ax: Axes) -> float:
    return float(ax.get_xlim()[1]) / 1.02


def test_the_total_has_whiskers_over_the_runs() -> None:
    pytest.importorskip("matplotlib")
    row = repeated(n=5)
    total = row.spread("total")
    assert total.low is not None and total.high is not None and total.width > 0
    fig = build_figure([row])
    ax = _axes(fig, "gantt 0")
    assert _whisker(ax, "total") == pytest.approx((total.low / 1e6, total.high / 1e6))
    assert row.result.sim_time_ns == total.median
    assert f"total {total.format()}" in ax.get_title(loc="left")
    # one run has no spread: no whiskers, and the legend does not promise any
    one = build_figure([Row(row.runs[:1])])
    for label in ("gantt 0", "per-ap 0"):
        labels = [str(c.get_label()) for c in _axes(one, label).containers]
        assert not [x for x in labels if x.startswith(("total", "spread"))]
    assert not [t for t in one.legends[0].get_texts() if "whiskers" in t.get_text()]


def test_per_ap_bars_are_the_row_medians_with_their_range() -> None:
    pytest.importorskip("matplotlib")
    rows = [repeated("init-sipi", "kvm", n=5), repeated("init-sipi", "bare-metal", n=3)]
    fig = build_figure(rows)
    for i, row in enumerate(rows):
        ax = _axes(fig, f"per-ap {i}")
        for y, part in enumerate(PARTS):
            s = row.spread(part)
            assert s.median is not None and s.low is not None and s.high is not None
            ((bar_y, left, width),) = _bars(ax, part)
            assert (bar_y, left) == (y, 0) and width == pytest.approx(s.median / 1e6)
            assert _whisker(ax, f"spread {part}") == pytest.approx((s.low / 1e6, s.high / 1e6))
        assert row.spread("startup").width == 20_000 * (len(row.runs) - 1)
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[1] == f"start-up\n{row.spread('startup').format()}"
        assert ax.get_title(loc="left") == f"per AP: {row.spread('per_cpu').format()}"
    # both columns share their time axis across the rows
    assert _axes(fig, "gantt 0").get_xlim() == _axes(fig, "gantt 1").get_xlim()
    assert _axes(fig, "per-ap 0").get_xlim() == _axes(fig, "per-ap 1").get_xlim()


def test_failed_cpus_are_hatched_and_crossed(tmp_path: Path, make_run: MakeRun) -> None:
    pytest.importorskip("matplotlib")
    run = make_run(cpus=4, fail={2})
    run.spans.append(Span(2, "ap-startup", 80_500, 400_000, 2))  # alive too late
    fig = build_figure([run])
    ax = _axes(fig, "gantt 0")
    assert [y for y, _, _ in _bars(ax, "startup (not online)")] == [1]  # CPU 2's row
    assert [y for y, _, _ in _bars(ax, "startup")] == [0, 2]
    np = pytest.importorskip("numpy")
    (crosses,) = ax.collections
    assert np.asarray(crosses.get_offsets()).tolist() == [[0.4, 1.0]]  # where it stopped, ms
    assert "cpu-failed after" in ax.get_title(loc="left")
    path = tmp_path / "f.svg"
    write_plot([run], path)
    assert "never came online: the parts it got through" in path.read_text(encoding="utf-8")


def test_nothing_to_draw(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(ConfigError, match="no run"):
        write_plot([], tmp_path / "x.png")


def test_only_rows_that_were_not_possible(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    fig = build_figure([not_applicable("init-sipi", "tdx")])
    assert len(fig.axes) == 1 and not fig.legends
    write_plot([not_applicable("init-sipi", "tdx")], tmp_path / "n.png")


def test_a_run_stopped_by_the_watchdog_is_cut_at_the_axis(tmp_path: Path, make_run: MakeRun) -> None:
    pytest.importorskip("matplotlib")
    done = make_run("acpi-mailbox", "tdx", cpus=4)
    hung = make_run("init-sipi", "tdx", cpus=4, fail={1, 2, 3}, alive_ns=3_000_000_000)
    hung.result = "hung"
    path = tmp_path / "cut.svg"
    write_plot([done, hung], path)
    text = path.read_text(encoding="utf-8")
    assert "simulated time (ms)" in text  # the axis follows the run that finished
    assert "cut at the axis: runs to 90.0 s" in text
    assert "init-sipi on tdx (Linux 6.11): 1/4 online, hung after 90.0 s, parallel (seed 0)" in text
    assert "no AP came online" in text


def test_a_row_of_mixed_outcomes_says_so(make_run: MakeRun) -> None:
    pytest.importorskip("matplotlib")
    hung = make_run("init-sipi", "tdx", cpus=4, fail={1, 2, 3}, alive_ns=3_000_000_000)
    hung.result = "hung"
    ok = [make_run("init-sipi", "tdx", cpus=4) for _ in range(2)]
    for seed, run in enumerate([hung, *ok]):
        run.seed = seed
    row = Row((hung, *ok))
    title = _axes(build_figure([row]), "gantt 0").get_title(loc="left")
    assert title.endswith("(median of 3 runs, seed 2; mixed (hung 1/3, ok 2/3))")
    # when the median run is the hung one, the title says so once, then the row's mix
    row = Row((hung, hung, ok[0]))
    title = _axes(build_figure([row]), "gantt 0").get_title(loc="left").replace("\n", " ")
    assert "1/4 online, hung after 90.0 s, parallel (median of 3 runs, seed 0; mixed (hung 2/3, " \
        "ok 1/3))" in title
