"""``--blame``: slowest CPUs first."""

from __future__ import annotations

from kapic.report.blame import blame_order, render_blame
from kapic.report.units import format_ns
from kapic.result import BootResult

from .conftest import MakeRun


def test_blame_lists_never_alive_first_then_slowest(make_run: MakeRun) -> None:
    run = make_run(cpus=6, alive_step_ns=-100, fail={4})  # lower CPU numbers are slower
    assert [c.cpu for c in blame_order(run)] == [4, 1, 2, 3, 5]
    lines = render_blame([run]).splitlines()
    assert lines[0] == "init-sipi on bare-metal (Linux 6.11):"
    assert lines[1].split() == [
        "never",
        "CPU",
        "4",
        "(APIC",
        "ID",
        "8)",
        "failed:",
        "CPU4",
        "failed",
        "to",
        "report",
        "alive",
        "state",
    ]
    slowest = run.cpus[1].kick_to_alive_ns
    assert lines[2].strip() == f"{format_ns(slowest)} CPU 1 (APIC ID 2)"


def test_blame_ties_keep_cpu_order(make_run: MakeRun) -> None:
    run = make_run(cpus=4, alive_step_ns=0)
    assert [c.cpu for c in blame_order(run)] == [1, 2, 3]


def test_blame_of_every_run(runs: list[BootResult]) -> None:
    blocks = render_blame(runs).rstrip("\n").split("\n\n")
    assert len(blocks) == len(runs)
    assert blocks[-1].startswith("init-sipi on tdx (Linux 6.11):\n  (not possible: ")
    for block, run in zip(blocks, runs, strict=True):
        times = [line.rsplit(" CPU ", 1)[0].strip() for line in block.splitlines()[1:]]
        expected = sorted(
            (c for c in run.cpus if c.kick_to_alive_ns is not None),
            key=lambda c: -(c.kick_to_alive_ns or 0),
        )
        if expected:
            assert times == [format_ns(c.kick_to_alive_ns) for c in expected]
