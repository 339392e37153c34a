"""Chrome/Perfetto trace export and its validator."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from kapic.report.rows import Row, ap_splits, cost_split
from kapic.report.trace import (
    MEDIAN_AP_TID,
    OVERLAP_TID_STRIDE,
    ROW_TID,
    SPLIT_TID_OFFSET,
    assign_lanes,
    build_trace,
    validate_trace,
    write_trace,
)
from kapic.result import BootResult, Span

from .conftest import MakeRun, build_run, not_applicable, repeated

#: the categories of the slices that are the row's own, not a span of the run
ROW_CATS = {"row", "median-ap", "split"}


def _of(trace: dict[str, Any], ph: str, **match: object) -> list[dict[str, Any]]:
    return [e for e in trace["traceEvents"] if e["ph"] == ph and all(e.get(k) == v for k, v in match.items())]


def test_trace_of_the_sample_is_valid(runs: list[BootResult]) -> None:
    trace = build_trace(runs)
    assert trace["displayTimeUnit"] == "ns"
    assert validate_trace(trace) == []
    assert validate_trace(json.loads(json.dumps(trace))) == []



def test_one_process_per_run_one_thread_per_cpu(runs: list[BootResult]) -> None:
    trace = build_trace(runs)
    names = {e["pid"]: e["args"]["name"] for e in _of(trace, "M", name="process_name")}
    assert names == {i + 1: f"{r.method} on {r.platform} (Linux {r.kernel})" for i, r in enumerate(runs)}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in _of(trace, "M", name="thread_name")}
    for pid, run in enumerate(runs, start=1):
        for cpu in run.cpus:
            assert threads[(pid, cpu.cpu)] == f"CPU {cpu.cpu}"


def test_slices_are_the_spans_in_microseconds(runs: list[BootResult]) -> None:
    trace = build_trace(runs)
    for pid, run in enumerate(runs, start=1):
        slices = [e for e in _of(trace, "X", pid=pid) if e["cat"] not in ROW_CATS]
        assert len(slices) == len(run.spans)
        got = sorted((e["cat"], e["args"]["target"], e["ts"], e["dur"]) for e in slices)
        want = sorted(
            (s.name, s.target, s.start_ns / 1000, (s.end_ns - s.start_ns) / 1000) for s in run.spans
        )
        assert got == want
        assert all(e["tid"] < SPLIT_TID_OFFSET for e in slices)  # the sample nests


def test_online_instants(runs: list[BootResult]) -> None:
    trace = build_trace(runs)
    for pid, run in enumerate(runs, start=1):
        instants = {e["tid"]: e for e in _of(trace, "i", pid=pid)}
        online = [c for c in run.cpus if c.state == "online"]
        assert sorted(instants) == [c.cpu for c in online]
        for c in online:
            assert instants[c.cpu]["s"] == "t"
            assert instants[c.cpu]["ts"] == (c.online_ns or 0) / 1000


def test_partial_overlap_goes_to_an_overlap_lane(make_run: MakeRun) -> None:
    run = make_run(cpus=2)
    run.spans = [
        Span(0, "kick", 0, 10_000, 1),
        Span(0, "mailbox", 2_000, 4_000, 1),
        Span(0, "alive-wait", 5_000, 15_000, 1),  # overlaps the kick without nesting
        Span(0, "online", 15_000, 20_000, 1),
    ]
    lanes = [(lane, s.name) for lane, s in assign_lanes(run.spans)]
    assert lanes == [(0, "kick"), (0, "mailbox"), (1, "alive-wait"), (0, "online")]
    trace = build_trace([run])
    assert validate_trace(trace) == []
    moved = _of(trace, "X", cat="alive-wait")[0]
    assert moved["tid"] == OVERLAP_TID_STRIDE
    assert _of(trace, "M", name="thread_name", tid=OVERLAP_TID_STRIDE)[0]["args"]["name"] == (
        "CPU 0 (overlap 1)"
    )


def test_identical_and_touching_spans_nest() -> None:
    spans = [Span(0, "a", 0, 10, 1), Span(0, "b", 0, 10, 1), Span(0, "c", 10, 10, 1)]
    assert [lane for lane, _ in assign_lanes(spans)] == [0, 0, 0]


def _x(ts: float, dur: float, tid: object = 0, **extra: object) -> dict[str, Any]:
    return {"ph": "X", "name": "s", "pid": 1, "tid": tid, "ts": ts, "dur": dur, **extra}


NAMED = {"ph": "M", "name": "process_name", "pid": 1, "tid": 0, "args": {"name": "run"}}


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        ([NAMED, _x(0, 10), _x(5, 10)], "without nesting"),
        ([NAMED, {"ph": "X", "name": "s", "pid": 1, "tid": 0, "ts": 0}], "missing dur"),
        ([NAMED, {"ph": "X", "name": "s", "pid": 1, "ts": 0, "dur": 1}], "missing tid"),
        ([NAMED, _x(0, -1)], "dur is not a non-negative number"),
        ([NAMED, _x(0, 1, tid="0")], "tid is not an integer"),
        ([_x(0, 1)], "no process_name"),
        ([NAMED, {"ph": "Q", "name": "s"}], "unknown phase"),
        ([NAMED, {"ph": "i", "s": "x", "name": "s", "pid": 1, "tid": 0, "ts": 1}], "scope"),
        (["not an event"], "not an object"),
        ([NAMED, _x(0, 1, args=[1, 2])], "args is not an object"),
    ],
)
def test_validator_finds_problems(events: list[Any], problem: str) -> None:
    problems = validate_trace({"traceEvents": events})
    assert any(problem in p for p in problems), problems


def test_validator_accepts_nesting_and_separate_threads() -> None:
    events = [NAMED, _x(0, 10), _x(2, 3), _x(5, 5), _x(5, 10, tid=1)]
    assert validate_trace({"traceEvents": events, "displayTimeUnit": "ns"}) == []
    assert validate_trace([]) == ["not an object with a traceEvents list"]
    assert validate_trace({"traceEvents": [], "displayTimeUnit": "s"}) != []


def test_write_trace(tmp_path: Path, runs: list[BootResult]) -> None:
    path = tmp_path / "boot.json"
    write_trace(runs, path)
    assert json.loads(path.read_text(encoding="utf-8")) == build_trace(runs)


def test_write_trace_is_the_compact_json_of_build_trace(tmp_path: Path,
                                                       runs: list[BootResult]) -> None:
    """Written row by row, the file is still exactly the one-shot encoding of the document."""
    path = tmp_path / "t.json"
    for rows in (runs, runs[:1], []):
        write_trace(rows, path)
        assert path.read_text(encoding="utf-8") == json.dumps(
            build_trace(rows), separators=(",", ":")) + "\n"


def test_a_mailbox_sharing_its_kicks_interval_nests_inside_it() -> None:
    spans = [Span(0, "mailbox", 0, 200, 1), Span(0, "kick", 0, 200, 1)]
    assert [s.name for _, s in assign_lanes(spans)] == ["kick", "mailbox"]


def test_each_ap_has_a_split_track_with_its_three_parts(make_run: MakeRun) -> None:
    run = make_run("acpi-mailbox", "tdx", cpus=4, parallel=False, kick_ns=8_000, mailbox=True)
    trace = build_trace([run])
    assert validate_trace(trace) == []
    kicks = {s.target: s.start_ns for s in run.spans if s.name == "kick"}
    onlined = {s.target: s.end_ns for s in run.spans if s.name == "online"}
    startups = {s.target: s for s in run.spans if s.name == "ap-startup"}
    for cpu in (1, 2, 3):
        tid = SPLIT_TID_OFFSET + cpu
        assert _of(trace, "M", name="thread_name", tid=tid)[0]["args"]["name"] == f"CPU {cpu} split"
        parts = sorted(_of(trace, "X", tid=tid), key=lambda e: e["ts"])
        assert [e["name"] for e in parts] == ["wakeup", "start-up", "waiting"]
        assert all(e["cat"] == "split" and e["args"]["cpu"] == cpu for e in parts)
        start = startups[cpu]
        want = [start.start_ns - kicks[cpu], start.end_ns - start.start_ns,
                onlined[cpu] - start.end_ns]
        assert [e["args"]["dur_ns"] for e in parts] == want
        assert [e["dur"] for e in parts] == [ns / 1000 for ns in want]
        assert parts[0]["ts"] == kicks[cpu] / 1000
        for a, b in itertools.pairwise(parts):  # back to back, no gap, no overlap
            assert a["ts"] + a["dur"] == pytest.approx(b["ts"])


def test_split_medians_are_cost_splits() -> None:
    run = build_run("init-sipi", "kvm", cpus=8, alive_ns=900_000, alive_step_ns=7_000)
    trace = build_trace([run])
    split = cost_split(run)
    for part, name in (("wakeup", "wakeup"), ("startup", "start-up"), ("waiting", "waiting")):
        durations = sorted(e["args"]["dur_ns"] for e in _of(trace, "X", cat="split", name=name))
        assert len(durations) == split.aps == 7
        assert durations[3] == getattr(split, part)  # the median of 7


def test_the_row_track_carries_the_spread_over_the_runs() -> None:
    row = repeated(n=5)
    trace = build_trace([row])
    assert validate_trace(trace) == []
    assert _of(trace, "M", name="process_name")[0]["args"]["name"] == row.label
    (whole,) = _of(trace, "X", tid=ROW_TID)
    assert whole["name"] == "bring-up" and whole["ts"] == 0
    assert whole["dur"] == row.result.sim_time_ns / 1000
    args = whole["args"]
    assert args["runs"] == 5 and args["seeds"] == [0, 1, 2, 3, 4]
    assert args["median_run_seed"] == row.result.seed == 2
    assert args["outcome"] == "ok" and args["mode"] == "parallel"
    for part in ("total", "per_cpu", "wakeup", "startup", "waiting"):
        s = row.spread(part)
        assert args[f"{part}_ns"] == {"median_ns": s.median, "low_ns": s.low, "high_ns": s.high,
                                      "runs": 5}
    assert args["startup_ns"]["high_ns"] - args["startup_ns"]["low_ns"] == 80_000
    assert args["dominant_part"] == "waiting"
    name = _of(trace, "M", name="thread_name", tid=ROW_TID)[0]["args"]["name"]
    assert name == "bring-up (median of 5 runs)"


def test_the_median_ap_track_lays_the_parts_end_to_end() -> None:
    row = repeated(n=3)
    trace = build_trace([row])
    parts = sorted(_of(trace, "X", tid=MEDIAN_AP_TID), key=lambda e: e["ts"])
    assert [e["name"] for e in parts] == ["wakeup", "start-up", "waiting"]
    t = 0
    for event, part in zip(parts, ("wakeup", "startup", "waiting"), strict=True):
        s = row.spread(part)
        assert event["ts"] == t / 1000 and event["dur"] == (s.median or 0) / 1000
        assert (event["args"]["low_ns"], event["args"]["high_ns"]) == (s.low, s.high)
        t += s.median or 0
    # the split of each AP is the median run's, its args hold the row's spread of the part
    split = _of(trace, "X", cat="split", name="start-up")[0]
    assert split["args"]["row"]["low_ns"] == row.spread("startup").low


def test_a_cpu_that_never_came_online_has_the_parts_it_got_through(make_run: MakeRun) -> None:
    run = make_run("init-sipi", "kvm", cpus=4, fail={2})
    run.spans.append(Span(2, "ap-startup", 60_000, 500_000, 2))  # started, never alive in time
    trace = build_trace([run])
    assert validate_trace(trace) == []
    parts = sorted(_of(trace, "X", tid=SPLIT_TID_OFFSET + 2), key=lambda e: e["ts"])
    assert [e["name"] for e in parts] == ["wakeup", "start-up"]
    assert [e["args"]["online"] for e in parts] == [False, False]
    assert [e["args"]["dur_ns"] for e in parts] == [20_000, 440_000]
    (ap,) = [a for a in ap_splits(run) if a.cpu == 2]
    assert not ap.complete and ap.end_ns == 500_000
    assert all(a.complete for a in ap_splits(run) if a.cpu != 2)


def test_a_row_that_was_not_possible_has_only_its_bring_up_slice() -> None:
    row = Row((not_applicable("init-sipi", "tdx"),))
    trace = build_trace([row])
    assert validate_trace(trace) == []
    (whole,) = _of(trace, "X")
    assert whole["tid"] == ROW_TID and whole["dur"] == 0
    assert whole["args"]["outcome"] == "not-applicable"
    assert whole["args"]["reasons"][0].startswith("the TDX module drops INIT and SIPI")
    assert whole["args"]["total_ns"]["median_ns"] is None
    assert not _of(trace, "M", name="thread_name", tid=MEDIAN_AP_TID)


def test_rows_and_bare_runs_give_the_same_trace(runs: list[BootResult]) -> None:
    assert build_trace([Row((r,)) for r in runs]) == build_trace(runs)


def test_the_tracks_are_ordered_row_median_ap_splits_then_cpus() -> None:
    trace = build_trace([repeated(n=2)])
    order = {e["tid"]: e["args"]["sort_index"] for e in _of(trace, "M", name="thread_sort_index")}
    tids = sorted(order, key=lambda tid: order[tid])
    splits = [SPLIT_TID_OFFSET + cpu for cpu in range(1, 8)]
    assert tids[:2 + len(splits)] == [ROW_TID, MEDIAN_AP_TID, *splits]
    assert tids[2 + len(splits):] == list(range(8))
