"""The compare table and the verdict computed under it: rows over repeated runs, the cost
split, and differences stated only when they exceed the run-to-run spread."""

from __future__ import annotations

import dataclasses
import re

import pytest

from kapic.report.rows import Spread, cost_split, group_rows
from kapic.report.table import (
    HEADER,
    format_table,
    render_compare,
    render_table,
    short_trust,
    table_row,
)
from kapic.report.units import format_ns
from kapic.report.verdict import verdict_lines, verdict_statements
from kapic.result import BootResult

from .conftest import MakeRun, build_run, not_applicable


def _cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def _row(run: BootResult) -> dict[str, str]:
    return dict(zip(HEADER, table_row(group_rows([run])[0]), strict=True))


def _seeds(make: MakeRun, n: int, alive_ns: int = 900_000, **kwargs: object) -> list[BootResult]:
    """``n`` runs of one row, as --repeat makes them (seeds 0..n-1), timings varied by seed."""
    runs = []
    for seed in range(n):
        run = make(**kwargs, alive_ns=alive_ns + seed * 1_000)
        runs.append(dataclasses.replace(run, seed=seed))
    return runs


def test_rows_hold_the_numbers_of_their_run(runs: list[BootResult]) -> None:
    lines = render_table(runs).splitlines()
    assert _cells(lines[0]) == list(HEADER)
    assert set(lines[1]) == {"-", " "}
    for line, run in zip(lines[2 : 2 + len(runs)], runs, strict=True):
        cells = dict(zip(HEADER, _cells(line), strict=True))
        assert (cells["METHOD"], cells["PLATFORM"], cells["KERNEL"]) == (
            run.method, run.platform, run.kernel)
        if run.result == "not-applicable":
            assert cells["CPUS"] == cells["TOTAL"] == cells["IPIS"] == "-"
            assert cells["FAILURES"] == "not possible"
            continue
        split = cost_split(run)
        assert cells["MODE"] == run.bringup["mode"]
        assert cells["CPUS"] == f"{run.cpus_online}/{run.cpus_requested}"
        assert cells["TOTAL"] == format_ns(run.sim_time_ns)
        assert cells["PER CPU"] == format_ns(split.per_cpu)
        assert cells["WAKEUP"] == format_ns(split.wakeup)
        assert cells["START-UP"] == format_ns(split.startup)
        assert cells["WAITING"] == format_ns(split.waiting)
        assert cells["IPIS"] == str(run.counters["ipis"])
        assert cells["HV EXITS"] == str(run.counters["vm_exits"])
        assert cells["MAILBOX"] == str(run.counters["mailbox_handshakes"])
        assert cells["TRUST"] == "; ".join(short_trust(t) for t in run.trust)
        assert cells["FAILURES"] == "-"


def test_the_cost_split_adds_up_to_each_aps_bring_up(make_run: MakeRun) -> None:
    # serial: one AP at a time, so each AP's kick-to-online is kick + alive + online
    run = make_run("acpi-mailbox", "tdx", cpus=2, parallel=False, kick_ns=8_000,
                   alive_ns=600_000, online_ns=450_000, mailbox=True)
    split = cost_split(run)
    assert (split.wakeup, split.startup, split.waiting) == (8_000, 601_000, 450_000)
    assert split.per_cpu == 8_000 + 601_000 + 450_000
    assert split.aps == 1


def test_failed_run_row_says_how_many_cpus_are_missing(make_run: MakeRun) -> None:
    row = _row(make_run(cpus=4, fail={1, 3}))
    assert row["CPUS"] == "2/4"
    assert row["FAILURES"] == "cpu-failed (2 CPUs not online)"


def test_a_row_shows_the_median_and_half_the_range_of_its_runs(make_run: MakeRun) -> None:
    runs = _seeds(make_run, 5, alive_step_ns=0)
    (row,) = group_rows(runs)
    assert len(row.runs) == 5
    startup = row.spread("startup")
    assert (startup.low, startup.median, startup.high) == (
        cost_split(runs[0]).startup, cost_split(runs[2]).startup, cost_split(runs[4]).startup)
    assert _cells(render_table(runs).splitlines()[2])[HEADER.index("START-UP")] == (
        f"{format_ns(startup.median)} ±{format_ns(4_000 // 2)}")
    assert row.result is runs[2]  # the median run is the one the pictures show


def test_spreads_differ_only_when_their_ranges_do_not_overlap() -> None:
    assert Spread(10, 9, 11).differs_from(Spread(20, 19, 21))
    assert not Spread(10, 9, 15).differs_from(Spread(14, 13, 21))
    assert not Spread(None, None, None).differs_from(Spread(1, 1, 1))


def test_format_table_aligns_columns() -> None:
    text = format_table(("A", "NUM", "Z"), [("x", "1", "end"), ("long", "123", "e")], frozenset({1}))
    assert text.splitlines() == ["A     NUM  Z", "----  ---  ---", "x       1  end", "long  123  e"]


def test_render_compare_puts_the_verdict_under_the_table(runs: list[BootResult]) -> None:
    text = render_compare(runs)
    table, _, verdict = text.partition("\nVerdict:\n")
    assert table.startswith("METHOD")
    assert [line[2:] for line in verdict.splitlines()] == verdict_lines(runs)


def test_verdict_names_the_cheaper_wakeup_and_by_how_much() -> None:
    slow = build_run("init-sipi", "kvm", alive_step_ns=0, kick_ns=100_000)
    fast = build_run("acpi-mailbox", "tdx", alive_step_ns=0, kick_ns=2_000)
    lines = verdict_lines([slow, fast])
    assert ("Wakeup per CPU: acpi-mailbox costs 2.00 us on tdx against 100 us for init-sipi "
            "on kvm: 50x cheaper, 98.0 us less per CPU.") in lines


def test_verdict_follows_the_numbers_not_the_names() -> None:
    """Swap the timings and the conclusion swaps too: nothing is hard-coded."""
    slow = build_run("acpi-mailbox", "tdx", alive_step_ns=0, kick_ns=100_000)
    fast = build_run("init-sipi", "kvm", alive_step_ns=0, kick_ns=2_000)
    assert any(line.startswith("Wakeup per CPU: init-sipi costs 2.00 us on kvm")
               for line in verdict_lines([slow, fast]))


def test_a_difference_inside_the_spread_is_equal(make_run: MakeRun) -> None:
    # five seeds each; the two methods' kicks overlap in range: no winner is named
    a = [dataclasses.replace(r, method="a", method_requested="a", methods={"a": 7})
         for r in _seeds(make_run, 5, kick_ns=40_000)]
    b = [dataclasses.replace(r, method="b", method_requested="b", methods={"b": 7},
                             platform="q")
         for r in _seeds(make_run, 5, kick_ns=40_000)]
    for i, r in enumerate(a):  # a's kick varies 39-41 us over its seeds, b's stays at 40 us
        a[i] = dataclasses.replace(r, spans=[
            s._replace(end_ns=s.end_ns + (i - 2) * 1_000) if s.name == "kick" else s
            for s in r.spans])
    wakeup = next(s for s in verdict_statements([*a, *b]) if s.kind == "wakeup")
    assert wakeup.exceeds_spread is False
    assert "cost the same within run-to-run variation" in wakeup.text


def test_one_run_per_row_says_no_spread_was_measured() -> None:
    a = build_run("a", "p", alive_step_ns=0)
    b = build_run("b", "q", alive_step_ns=0)
    assert verdict_lines([a, b])[0].startswith("One run per row: no run-to-run spread")


def test_verdict_single_method_and_nothing_to_compare() -> None:
    a = build_run("a", "p", alive_step_ns=0)
    one = verdict_lines([a, build_run("a", "q")])
    assert any(line.startswith("Only a brought every AP up as asked") for line in one)
    assert verdict_lines([not_applicable("x", "y")])[0].startswith("No run brought every AP up")
    assert verdict_lines([]) == []


def test_whole_bring_up_names_serial_mode_as_the_cause(runs: list[BootResult]) -> None:
    kvm_tdx = next(s for s in verdict_statements(runs)
                   if s.kind == "total" and set(s.rows) == {
                       "init-sipi on kvm (Linux 6.11)", "acpi-mailbox on tdx (Linux 6.11)"})
    assert kvm_tdx.rows[0] == "init-sipi on kvm (Linux 6.11)"
    assert kvm_tdx.text.endswith(
        "mostly because tdx brings its CPUs up one by one (the tdx platform is serial).")


def test_verdict_on_hypervisor_help_and_failures(runs: list[BootResult], make_run: MakeRun) -> None:
    failed = make_run("init-sipi", "kvm", cpus=4, fail={2}, reasons=["CPU2 never answered"])
    lines = verdict_lines([*runs, failed])
    needs_none = next(line for line in lines if line.startswith("Needs no help"))
    relies = next(line for line in lines if line.startswith("Relies on the hypervisor"))
    assert ("acpi-mailbox on tdx (Linux 6.11) (0 hypervisor exits, trusts firmware (TDVF) "
            "mailbox loop)") in needs_none
    assert "init-sipi on kvm (Linux 6.11) (21 hypervisor exits" in relies
    assert "acpi-mailbox" not in relies
    assert (
        "init-sipi on tdx (Linux 6.11) is not possible: the TDX module drops INIT and SIPI: "
        "a TD guest cannot be woken this way." in lines
    )
    assert ("init-sipi on kvm (Linux 6.11) brought 3 of 4 CPUs online (cpu-failed): CPU2 never "
            "answered.") in lines


def test_a_row_whose_asked_method_did_not_run_says_so_and_is_not_compared(
    make_run: MakeRun,
) -> None:
    other = dataclasses.replace(make_run("init-sipi", "parking-vm"), method="parking",
                                method_requested="init-sipi", methods={"parking": 7})
    row = _row(other)
    assert row["METHOD"] == "parking (asked for init-sipi)"
    assert row["FAILURES"] == "another method ran"
    statements = verdict_statements([other, make_run("acpi-mailbox", "tdx")])
    assert [s.kind for s in statements if s.kind in ("wakeup", "total")] == ["wakeup"]
    assert any(s.kind == "not-as-asked" and s.text.startswith(
        "init-sipi was asked for on parking-vm, but parking woke the CPUs") for s in statements)


def test_trust_cell_keeps_the_head_of_each_statement(make_run: MakeRun) -> None:
    assert short_trust("firmware only (the mailbox loop); the VMM can delay") == "firmware only"
    assert short_trust("hypervisor INIT/SIPI emulation (kvm)") == "hypervisor INIT/SIPI emulation"
    assert short_trust("(odd)") == "(odd)"
    assert _row(make_run(trust=["a (x)", "a; y", "b"]))["TRUST"] == "a; b"


def test_rows_under_the_same_seeds_are_compared_seed_by_seed(make_run: MakeRun) -> None:
    # b starts up 500 ns slower than a under every seed, while each row spreads over 4 us:
    # the ranges overlap, the per-seed differences all agree: a systematic difference
    a = _seeds(make_run, 5)
    b = [dataclasses.replace(r, method="b", method_requested="b", methods={"b": 7})
         for r in _seeds(make_run, 5, alive_ns=900_500)]
    (row_a,), (row_b,) = group_rows(a), group_rows(b)
    assert not row_a.spread("startup").differs_from(row_b.spread("startup"))
    assert row_a.differs(row_b, "startup")
    # under other seeds the runs cannot be paired: only the ranges count, and they overlap
    (row_c,) = group_rows([dataclasses.replace(r, seed=r.seed + 10) for r in b])
    assert not row_a.differs(row_c, "startup")


def test_cost_split_reads_spans_of_any_kind_alike() -> None:
    """A result's spans as ``Spans``, a list of ``Span`` or of span-like objects with the same
    attributes (a user's own records) give the same split."""
    from kapic import BootSpec, Spans, run_boot

    @dataclasses.dataclass
    class SpanLike:
        cpu: int
        name: str
        start_ns: int
        end_ns: int
        target: int

    result = run_boot(BootSpec(platform="kvm", cpus=5))
    assert isinstance(result.spans, Spans)
    split = cost_split(result)
    assert split.aps == 4 and split.per_cpu is not None
    assert cost_split(dataclasses.replace(result, spans=list(result.spans))) == split
    assert cost_split(dataclasses.replace(
        result, spans=[SpanLike(*s) for s in result.spans])) == split  # type: ignore[misc]


def test_rows_given_to_the_report_must_be_those_of_its_runs() -> None:
    from kapic import BootSpec, run_boot
    from kapic.report.jsonout import compare_json
    from kapic.report.table import render_compare

    kvm = [run_boot(BootSpec(platform="kvm", cpus=4))]
    tdx = [run_boot(BootSpec(platform="tdx", cpus=4))]
    both = kvm + tdx
    assert render_compare(both, rows=group_rows(both)) == render_compare(both)
    assert compare_json(both, rows=group_rows(both))["rows"] == compare_json(both)["rows"]
    for results, rows in ((kvm, group_rows(tdx)), (both, group_rows(kvm)),
                          (kvm, group_rows([run_boot(BootSpec(platform="kvm", cpus=4))]))):
        with pytest.raises(ValueError, match="group_rows"):
            render_compare(results, rows=rows)
        with pytest.raises(ValueError, match="group_rows"):
            compare_json(results, rows=rows)
