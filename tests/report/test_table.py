"""The compare table and the verdict computed under it."""

from __future__ import annotations

import math
import re

from kapic.report.stats import run_stats
from kapic.report.table import (
    HEADER,
    format_table,
    render_compare,
    render_table,
    short_trust,
    table_row,
)
from kapic.report.units import format_ns
from kapic.report.verdict import verdict_lines
from kapic.result import BootResult

from .conftest import MakeRun, build_run, not_applicable


def _cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def test_rows_hold_the_numbers_of_their_run(runs: list[BootResult]) -> None:
    lines = render_table(runs).splitlines()
    assert _cells(lines[0]) == list(HEADER)
    assert set(lines[1]) == {"-", " "}
    for line, run in zip(lines[2 : 2 + len(runs)], runs, strict=True):
        cells = dict(zip(HEADER, _cells(line), strict=True))
        assert (cells["METHOD"], cells["PLATFORM"], cells["KERNEL"]) == (
            run.method,
            run.platform,
            run.kernel,
        )
        if run.result == "not-applicable":
            assert cells["CPUS"] == cells["TOTAL"] == cells["IPIS"] == "-"
            assert cells["FAILURES"] == "not possible"
            continue
        times = sorted(c.kick_to_alive_ns for c in run.cpus if c.kick_to_alive_ns is not None)
        assert cells["CPUS"] == f"{run.cpus_online}/{run.cpus_requested}"
        assert cells["TOTAL"] == format_ns(run.sim_time_ns)
        assert cells["ALIVE MED"] == format_ns(times[(len(times) + 1) // 2 - 1])
        assert cells["ALIVE P99"] == format_ns(times[math.ceil(0.99 * len(times)) - 1])
        assert cells["ALIVE MAX"] == format_ns(times[-1])
        assert cells["IPIS"] == str(run.counters["ipis"])
        assert cells["HV EXITS"] == str(run.counters["vm_exits"])
        assert cells["MAILBOX"] == str(run.counters["mailbox_handshakes"])
        assert cells["TRUST"] == "; ".join(short_trust(t) for t in run.trust)
        assert cells["FAILURES"] == "-"


def test_failed_run_row_says_how_many_cpus_are_missing(make_run: MakeRun) -> None:
    row = dict(zip(HEADER, table_row(make_run(cpus=4, fail={1, 3})), strict=True))
    assert row["CPUS"] == "2/4"
    assert row["FAILURES"] == "cpu-failed (2 CPUs not online)"
    assert row["ALIVE MED"] == format_ns(run_stats(make_run(cpus=4, fail={1, 3})).kick_to_alive_median_ns)


def test_format_table_aligns_columns() -> None:
    text = format_table(("A", "NUM", "Z"), [("x", "1", "end"), ("long", "123", "e")], frozenset({1}))
    assert text.splitlines() == ["A     NUM  Z", "----  ---  ---", "x       1  end", "long  123  e"]


def test_render_compare_puts_the_verdict_under_the_table(runs: list[BootResult]) -> None:
    text = render_compare(runs)
    table, _, verdict = text.partition("\nVerdict:\n")
    assert table.startswith("METHOD")
    assert [line[2:] for line in verdict.splitlines()] == verdict_lines(runs)


def test_verdict_names_the_faster_method_and_by_how_much() -> None:
    slow = build_run("init-sipi", "kvm", alive_ns=900_000, alive_step_ns=0, kick_ns=100_000)
    fast = build_run("acpi-mailbox", "tdx", alive_ns=200_000, alive_step_ns=0, kick_ns=0)
    lines = verdict_lines([slow, fast])
    # kick-to-alive = kick + alive: 1 ms against 200 us
    assert (
        "acpi-mailbox is faster per CPU than init-sipi: 200 us (tdx) against 1.00 ms (kvm), "
        "5.00x faster, 800 us less per CPU." in lines
    )
    assert lines[0].startswith("Per CPU (median kick-to-alive), fastest first: acpi-mailbox")


def test_verdict_follows_the_numbers_not_the_names() -> None:
    """Swap the timings and the conclusion swaps too: nothing is hard-coded."""
    slow = build_run("acpi-mailbox", "tdx", alive_ns=900_000, alive_step_ns=0, kick_ns=100_000)
    fast = build_run("init-sipi", "kvm", alive_ns=200_000, alive_step_ns=0, kick_ns=0)
    assert any(
        line.startswith("init-sipi is faster per CPU than acpi-mailbox")
        for line in verdict_lines([slow, fast])
    )


def test_verdict_equal_speed_and_single_method() -> None:
    a = build_run("a", "p", alive_step_ns=0)
    b = build_run("b", "q", alive_step_ns=0)
    assert any("a and b are equally fast per CPU" in line for line in verdict_lines([a, b]))
    one = verdict_lines([a, build_run("a", "q")])
    assert any(line.startswith("Only a brought APs up") for line in one)
    assert verdict_lines([not_applicable("x", "y")])[0].startswith("No run brought an AP up")
    assert verdict_lines([]) == []


def test_verdict_on_hypervisor_help_and_failures(runs: list[BootResult], make_run: MakeRun) -> None:
    failed = make_run("init-sipi", "kvm", cpus=4, fail={2}, reasons=["CPU2 never answered"])
    lines = verdict_lines([*runs, failed])
    needs_none = next(line for line in lines if line.startswith("Needs no help"))
    relies = next(line for line in lines if line.startswith("Relies on the hypervisor"))
    assert "acpi-mailbox on tdx (0 hypervisor exits, trusts firmware (TDVF) mailbox loop)" in needs_none
    assert "init-sipi on kvm (21 hypervisor exits" in relies
    assert "acpi-mailbox" not in relies
    assert (
        "init-sipi on tdx (upstream) is not possible: the TDX module drops INIT and SIPI: "
        "a TD guest cannot be woken this way." in lines
    )
    assert "init-sipi on kvm (upstream) brought 3 of 4 CPUs online: CPU2 never answered." in lines


def test_trust_cell_keeps_the_head_of_each_statement(make_run: MakeRun) -> None:
    assert short_trust("firmware only (the mailbox loop); the VMM can delay") == "firmware only"
    assert short_trust("hypervisor INIT/SIPI emulation (kvm)") == "hypervisor INIT/SIPI emulation"
    assert short_trust("(odd)") == "(odd)"
    run = make_run(trust=["a (x)", "a; y", "b"])
    assert dict(zip(HEADER, table_row(run), strict=True))["TRUST"] == "a; b"


def test_verdict_ranks_whole_bring_up_of_complete_runs(runs: list[BootResult]) -> None:
    line = next(line for line in verdict_lines(runs) if line.startswith("Whole bring-up"))
    done = sorted((r for r in runs if r.result == "ok"), key=lambda r: r.sim_time_ns)
    assert line.endswith(
        ", ".join(f"{r.method} on {r.platform} {format_ns(r.sim_time_ns)}" for r in done) + "."
    )
