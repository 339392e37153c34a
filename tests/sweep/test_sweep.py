"""kapic sweep: grids, executors, the results file, interruption and resume, the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kapic import BootSpec, run_boot
from kapic.cli import main
from kapic.sweeps import Grid, sweep
from kapic.sweeps.results import summarize

GRID = "cpus = [4, 8]\nplatform = [\"kvm\", \"tdx\"]\nseed = \"0-1\"\n"


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_axes_cross_in_order_and_zip_pairs() -> None:
    grid = Grid({"cpus": (4, 8), "platform": ("kvm", "tdx"), "seed": (0, 1)})
    assert grid.size == 8
    points = list(grid.points())
    assert points[0] == {"cpus": 4, "platform": "kvm", "seed": 0}
    assert points[1] == {"cpus": 4, "platform": "kvm", "seed": 1}  # the last axis fastest
    zipped = Grid({"cpus": (4, 8), "platform": ("kvm", "tdx"), "seed": (0, 1)},
                  zip=(("cpus", "platform"),))
    assert zipped.size == 4
    assert [(p["cpus"], p["platform"]) for p in zipped.points()][::2] == [(4, "kvm"), (8, "tdx")]


@pytest.mark.parametrize(("argv", "error"), [
    (["--cpus", "4,x"], "cpus: 'x' is not an integer"),
    (["--seeds", "9-3"], "seed: range '9-3' runs backwards"),
    (["--platform", "kvm,nope"], "axis platform: 'nope': "),
    (["--kernel", "4.19"], "kapic models Linux 5.19 to"),
    (["--param", "nosuch=1,2"], "no platform parameter 'nosuch'"),
    (["--fault", "nosuch"], "axis fault: 'nosuch': "),
    (["--cpus", "4,8", "--platform", "kvm", "--zip", "cpus,platform"],
     "zipped axes need as many values each (cpus has 2, platform has 1)"),
    (["--cpus", "4", "--zip", "cpus,seed"], "zip names 'seed', which is no axis of the grid"),
    ([], "empty grid"),
    (["--cpus", "0"], "axis cpus: 0 is not a positive integer"),
])
def test_a_grid_error_is_one_line_and_exit_2_before_anything_runs(
        argv: list[str], error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["sweep", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and error in err[-1], err
    assert not out.exists()


def test_a_toml_grid_with_an_unknown_axis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text("cpu = [4]\n")
    assert main(["sweep", str(grid)]) == 2
    assert "grid.toml: unknown axis 'cpu' (axes: cpus, platform" in capsys.readouterr().err


def test_the_api_runs_serially_or_on_an_executor_it_does_not_shut_down() -> None:
    grid = Grid({"cpus": (4,), "platform": ("kvm", "tdx"), "seed": (0, 1)})
    serial = sorted(sweep(grid), key=lambda r: r["index"])
    assert [r["index"] for r in serial] == [0, 1, 2, 3]
    # each row is the boot's --json object plus its grid point
    one = run_boot(BootSpec(platform="kvm", cpus=4, seed=1)).to_json()
    assert set(serial[1]) == set(one) | {"index", "point"}
    assert serial[1]["point"] == {"cpus": 4, "platform": "kvm", "seed": 1}
    with ThreadPoolExecutor(2) as pool:
        threaded = sorted(sweep(grid, pool), key=lambda r: r["index"])
        assert pool.submit(lambda: 1).result() == 1  # still usable: the sweep did not close it
    for a, b in zip(serial, threaded, strict=True):
        a.pop("wall_seconds"), b.pop("wall_seconds")
        assert a == b  # the same boots, bit for bit, on any executor


def test_a_failing_run_is_a_row_not_the_end(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"APIC" + bytes(40))
    good = tmp_path / "good.bin"
    assert main(["madt", "build", "--cpus", "2", "-o", str(good)]) == 0
    grid = Grid({"madt": (str(bad), str(good)), "fault": ("", "vcpu-never-runs")})
    rows = sorted(sweep(grid, base=BootSpec(platform="kvm")), key=lambda r: r["index"])
    assert [r["result"] for r in rows] == ["invalid-input", "invalid-input", "ok", "cpu-failed"]
    assert "bad.bin" in rows[0]["reasons"][0]


def test_the_file_resume_and_a_grid_that_differs(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    out = tmp_path / "out.jsonl"
    assert main(["sweep", str(grid), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["kapic_sweep"] == 1 and header["grid"]["axes"]["seed"] == [0, 1]
    assert set(header["platforms"]) == {"kvm", "tdx"} and "kapic_version" in header
    assert sorted(r["index"] for r in _rows(out)) == list(range(8))
    # a run cut short: the first 3 runs and half a line
    out.write_text("\n".join(lines[:4]) + "\n" + lines[4][:50])
    capsys.readouterr()
    assert main(["sweep", str(grid), "-o", str(out), "--resume"]) == 0
    assert sorted(r["index"] for r in _rows(out)) == list(range(8))
    assert main(["sweep", str(grid), "-o", str(out)]) == 2
    assert "exists: give --resume" in capsys.readouterr().err
    assert main(["sweep", str(grid), "--cpus", "4,16", "-o", str(out), "--resume"]) == 2
    assert "the file is another sweep: axis cpus was [4, 8], now [4, 16]" in capsys.readouterr().err


def test_a_killed_sweep_loses_no_finished_run_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    argv = [sys.executable, "-m", "kapic", "sweep", "--platform", "tdx", "--cpus", "32",
            "--seeds", "0-399", "-o", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 20):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {r["index"] for r in _rows_tolerant(out)}
    assert 19 <= len(before) < 400
    assert main(["sweep", "--platform", "tdx", "--cpus", "32", "--seeds", "0-399", "-o",
                 str(out), "--resume", "--json"]) == 0
    indices = [r["index"] for r in _rows(out)]
    assert sorted(indices) == list(range(400))  # every run once, the early ones kept
    assert before <= set(indices[:len(before)])


def _rows_tolerant(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines()[1:]:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def test_ctrl_c_says_where_the_runs_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import kapic.sweeps.run as run

    real = run.sweep_lines

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        yield from list(real(*args, **kwargs))[:2]
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "sweep_lines", interrupted)
    out = tmp_path / "out.jsonl"
    assert main(["sweep", "--cpus", "4", "--seeds", "0-9", "-o", str(out)]) == 130
    assert f"2 of 10 runs are in {out}, --resume continues" in capsys.readouterr().err
    assert len(_rows(out)) == 2


def test_jobs_give_the_same_rows(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["sweep", "--cpus", "4,8", "--platform", "kvm,tdx", "-o", str(a)]) == 0
    assert main(["sweep", "--cpus", "4,8", "--platform", "kvm,tdx", "-o", str(b),
                 "--jobs", "2"]) == 0

    def strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(({k: v for k, v in r.items() if k != "wall_seconds"} for r in rows),
                      key=lambda r: r["index"])

    assert strip(_rows(a)) == strip(_rows(b))


def test_jobs_where_workers_cannot_start_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_semaphores(*args: Any, **kwargs: Any) -> None:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor.__init__", no_semaphores)
    assert main(["sweep", "--cpus", "4,8", "-o", str(tmp_path / "a.jsonl"), "--jobs", "2"]) == 2
    err = capsys.readouterr().err
    assert "--jobs 2: worker processes cannot start here (OSError: [Errno 38] Function not " \
           "implemented); leave --jobs out" in err
    assert "Traceback" not in err


def test_report_groups_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["sweep", "--kernel", "seed", "--platform", "tdx", "--cpus", "4",
                 "--param", "vcpu_delay_ns=0,50000", "--seeds", "0-1", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["sweep", "report", str(out), "--by", "param.vcpu_delay_ns", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    groups = {g["group"]["param.vcpu_delay_ns"]: g for g in doc["groups"]}
    assert groups[0]["results"] == {"ok": 2} and groups[0]["bringup_ns"]["median"] > 0
    assert groups[50000]["results"] == {"cpu-failed": 2} and groups[50000]["bringup_ns"] is None
    assert groups[50000]["cpus_online"] == {"median": 2, "of": 4}
    assert main(["sweep", "report", str(out), "--by", "nosuch"]) == 2
    assert "'nosuch' is no axis of the sweep" in capsys.readouterr().err
    text = tmp_path / "not.jsonl"
    text.write_text("hello\n")
    assert main(["sweep", "report", str(text)]) == 1
    assert "not a kapic sweep file" in capsys.readouterr().err


def test_report_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "out.jsonl"
    assert main(["sweep", "--cpus", "4,8,16", "--platform", "kvm,tdx", "--seeds", "0-1", "-o",
                 str(out)]) == 0
    png = tmp_path / "p.png"
    assert main(["sweep", "report", str(out), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summarize_spread_is_half_the_range() -> None:
    rows = [{"index": i, "point": {"x": 1}, "result": "ok", "sim_time_ns": t, "cpus_online": 2,
             "cpus_requested": 2, "cpus": []} for i, t in enumerate((100, 300, 200))]
    (group,) = summarize(rows, ["x"])
    assert group.stats["bringup"] == (200, 100) and group.stats["kick-to-alive"] is None


def test_dask_missing_or_unreachable_is_one_clear_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    real = importlib.import_module

    def no_dask(name: str, *a: Any) -> Any:
        if name == "distributed":
            raise ImportError(name)
        return real(name, *a)

    monkeypatch.setattr(importlib, "import_module", no_dask)
    assert main(["sweep", "--cpus", "4", "--executor", "dask://127.0.0.1:1"]) == 2
    assert "dask.distributed is not installed (pip install 'kapic[dask]')" in \
        capsys.readouterr().err
    monkeypatch.undo()
    assert main(["sweep", "--cpus", "4", "--executor", "tcp://x"]) == 2
    assert "expected dask://HOST:PORT" in capsys.readouterr().err


def test_on_a_dask_local_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        out = tmp_path / "dask.jsonl"
        assert main(["sweep", "--cpus", "4,8", "--platform", "kvm,tdx", "-o", str(out),
                     "--executor", f"dask://{address}"]) == 0
    serial = tmp_path / "serial.jsonl"
    assert main(["sweep", "--cpus", "4,8", "--platform", "kvm,tdx", "-o", str(serial)]) == 0
    key = lambda r: (r["index"], r["sim_time_ns"], r["result"])  # noqa: E731
    assert sorted(map(key, _rows(out))) == sorted(map(key, _rows(serial)))
    assert main(["sweep", "--cpus", "4", "--executor", "dask://127.0.0.1:1"]) == 2
    assert "cannot reach the dask scheduler at 127.0.0.1:1" in capsys.readouterr().err


class _Tty:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_the_progress_bar_shows_rate_and_eta_on_a_terminal_only() -> None:
    from kapic.cli.sweep import _Progress

    clock = iter([0.0, 2.0, 4.0]).__next__
    tty = _Tty(True)
    bar = _Progress(10, tty, clock)  # type: ignore[arg-type]
    bar(5)
    assert "sweep [" in tty.text and "5/10 runs, 2.5/s, ETA 2 s" in tty.text
    bar.close()
    pipe = _Tty(False)
    quiet = _Progress(10, pipe, iter([0.0, 1.0]).__next__)  # type: ignore[arg-type]
    quiet(5)
    quiet.close()
    assert pipe.text == ""


def test_an_online_plot_counts_every_run(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "out.jsonl"
    assert main(["sweep", "--kernel", "seed", "--platform", "tdx", "--cpus", "4", "--param",
                 "vcpu_delay_ns=0,50000", "-o", str(out)]) == 0
    png = tmp_path / "online.png"
    assert main(["sweep", "report", str(out), "--plot", str(png), "--metric", "online",
                 "--x", "param.vcpu_delay_ns"]) == 0
    assert png.stat().st_size > 1000
