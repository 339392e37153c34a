"""The benchmarks under bench/ still run (tiny sizes: the figures themselves are not checked,
only that each prints them in its documented shape)."""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

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
            rf"CPU, {_NUM} above a 2-CPU boot's {_NUM} MiB; without --json\); {_NUM} events per "
            rf"AP; ok", line), line


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


def test_bench_simpy_prints_its_table_sim_times_and_what_it_did_not_run() -> None:
    out = _bench("bench_simpy.py", "--cpus", "16", "--runs", "1")
    table, sims = out.split("\n\n")
    header, *rows = table.splitlines()
    assert re.split(r"\s{2,}", header) == ["case", "mode", "cpus", "impl", "wall s", "events/AP",
                                           "events/s", "CPUs/s", "RSS B/CPU", "kapic/SimPy",
                                           "kapic/heapq"]
    pairs = [("mailbox/tdx", "serial"), ("init-sipi/bare-metal", "serial"),
             ("init-sipi/bare-metal", "parallel")]
    assert [tuple(r.split()[:4]) for r in rows] == [
        (case, mode, "16", impl) for case, mode in pairs for impl in ("kapic", "simpy", "heapq")]
    for row in rows:
        cells = row.split()
        assert len(cells) == 11 and all(re.fullmatch(_NUM, n) for n in cells[4:9]), row
        if cells[3] == "kapic":  # kapic's wall time over SimPy's and heapq's
            assert all(re.fullmatch(_NUM, r) for r in cells[9:]), row
        else:
            assert cells[9:] == ["-", "-"], row
    # SimPy and heapq process the same events, one per heap entry
    events = {tuple(r.split()[:2] + r.split()[3:4]): r.split()[5] for r in rows}
    for case, mode in pairs:
        assert events[(case, mode, "simpy")] == events[(case, mode, "heapq")]
    title, sim_header, *sim_rows, not_run = sims.splitlines()
    assert title.startswith("simulated end time")
    assert re.split(r"\s{2,}", sim_header) == ["case", "mode", "cpus", "kapic ns", "SimPy ns",
                                               "diff %", "heapq ns"]
    assert [tuple(r.split()[:3]) for r in sim_rows] == [(c, m, "16") for c, m in pairs]
    for row in sim_rows:
        assert re.fullmatch(rf"\S+\s+\S+\s+16\s+\d+\s+\d+\s+[-+]{_NUM}\s+\d+", row), row
    assert not_run.startswith("not run: mailbox/tdx parallel: kapic ran serial: "), not_run


@functools.cache
def _bench_simpy() -> Any:
    """bench/bench_simpy.py as a module (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_simpy", BENCH / "bench_simpy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("wakeup, mode", [("mailbox", "serial"), ("mailbox", "parallel"),
                                          ("init-sipi", "serial"), ("init-sipi", "parallel")])
def test_bench_simpy_models_end_when_kapic_does(wakeup: str, mode: str) -> None:
    """At 64 CPUs the SimPy model ends within 5 % of kapic's boot (its jitter averages out),
    and to the nanosecond without jitter; SimPy's event count is its steps; heapq processes
    SimPy's events and ends with it. A pair kapic does not boot is one the bench reports as
    not run, and kapic says why."""
    bench = _bench_simpy()
    case = next(c for c in bench.CASES if c.wakeup == wakeup)
    if mode not in case.modes:
        assert "disables parallel bring-up" in bench.check_not_run(case, mode)
        return
    costs = bench.costs_for(case)
    simpy_end, simpy_events = bench.simpy_boot(costs, mode, 64)
    assert bench.simpy_boot(costs, mode, 64, count_steps=True) == (simpy_end, simpy_events)
    assert bench.heapq_boot(costs, mode, 64) == (simpy_end, simpy_events)
    kapic, _doc = bench.kapic_run(case, mode, 64)
    assert abs(simpy_end - kapic.sim_end_ns) <= 0.05 * kapic.sim_end_ns, (simpy_end, kapic)
    exact = case._replace(params=(*case.params, ("jitter_ppm", "0")))
    assert bench.kapic_run(exact, mode, 64)[0].sim_end_ns == simpy_end
