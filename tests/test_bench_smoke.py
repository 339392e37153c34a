"""The benchmarks under bench/ still run (tiny sizes: the figures themselves are not checked,
only that each prints them in its documented shape)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
_NUM = r"-?\d+(?:\.\d+)?"


def _bench(*argv: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH / argv[0]), *argv[1:]],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_engine_prints_its_cost_per_event() -> None:
    out = _bench("bench_engine.py", "--procs", "50", "--steps", "3", "--runs", "1")
    # 50 processes x (3 sleeps + the final step) = 200 events
    assert re.fullmatch(rf"engine: 200 events in {_NUM} s \(best of 1\): {_NUM} us per event\n",
                        out), out


def test_bench_scale_prints_one_line_per_case() -> None:
    out = _bench("bench_scale.py", "--cpus", "16", "--runs", "1")
    lines = out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["mailbox (tdx)", "INIT/SIPI (bare-metal)"]
    for line in lines:
        assert re.fullmatch(
            rf".*, 16 CPUs: {_NUM} s; --json \+{_NUM} s; peak RSS {_NUM} MiB \({_NUM} bytes per "
            rf"CPU, without --json\); {_NUM} events per AP; ok", line), line


@pytest.mark.parametrize("argv", [("--runs", "4", "--cpus", "4", "--jobs", "1")])
def test_bench_sweep_prints_the_overhead(argv: tuple[str, ...]) -> None:
    out = _bench("bench_sweep.py", *argv)
    assert re.search(rf"^4 boots of 4 CPUs, --jobs 1: sweep {_NUM} s; .*overhead {_NUM} s",
                     out, flags=re.M), out


def test_bench_boot_prints_a_row_per_platform_and_kernel() -> None:
    out = _bench("bench_boot.py", "--cpus", "8", "--repeat", "1")
    header, *rows = out.splitlines()
    assert header.split() == ["platform", "kernel", "cpus", "result", "events", "sim", "time",
                              "wall", "best", "us/event"]
    assert {tuple(r.split()[:4]) for r in rows} == {
        (p, k, "8", "ok") for p in ("bare-metal", "kvm", "tdx") for k in ("latest", "seed")}
