"""``--plot``: a Gantt picture per run, matplotlib optional."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kapic.errors import ConfigError
from kapic.report.plot import check_plot_path, require_matplotlib, write_plot
from kapic.result import BootResult, Span

from .conftest import MakeRun, sample

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


def test_svg_has_a_bar_per_span_and_the_legend(tmp_path: Path, runs: list[BootResult]) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "boot.svg"
    write_plot(runs, path)
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")
    for label in ("kick (boot CPU)", "ap-startup (the CPU)", "simulated time (ms)"):
        assert label in text
    assert "not possible: the TDX module drops INIT and SIPI" in text


def test_failed_cpus_and_unknown_span_kinds(tmp_path: Path, make_run: MakeRun) -> None:
    pytest.importorskip("matplotlib")
    run = make_run(cpus=4, fail={2})
    run.spans.append(Span(0, "custom-phase", 0, 5_000, 1))
    path = tmp_path / "f.svg"
    write_plot([run], path)
    assert "custom-phase" in path.read_text(encoding="utf-8")


def test_nothing_to_draw(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(ConfigError, match="no run"):
        write_plot([], tmp_path / "x.png")


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
    assert "init-sipi on tdx (upstream): 1/4 online, 90.0 s, hung" in text
