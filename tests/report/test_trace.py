"""Chrome/Perfetto trace export and its validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kapic.report.trace import (
    OVERLAP_TID_STRIDE,
    assign_lanes,
    build_trace,
    validate_trace,
    write_trace,
)
from kapic.result import BootResult, Span

from .conftest import MakeRun


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
    assert names == {i + 1: f"{r.method} on {r.platform} ({r.kernel})" for i, r in enumerate(runs)}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in _of(trace, "M", name="thread_name")}
    for pid, run in enumerate(runs, start=1):
        for cpu in run.cpus:
            assert threads[(pid, cpu.cpu)] == f"CPU {cpu.cpu}"


def test_slices_are_the_spans_in_microseconds(runs: list[BootResult]) -> None:
    trace = build_trace(runs)
    for pid, run in enumerate(runs, start=1):
        slices = _of(trace, "X", pid=pid)
        assert len(slices) == len(run.spans)
        got = sorted((e["cat"], e["args"]["target"], e["ts"], e["dur"]) for e in slices)
        want = sorted(
            (s.name, s.target, s.start_ns / 1000, (s.end_ns - s.start_ns) / 1000) for s in run.spans
        )
        assert got == want
        assert all(e["tid"] < OVERLAP_TID_STRIDE for e in slices)  # the sample nests


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


def test_a_mailbox_sharing_its_kicks_interval_nests_inside_it() -> None:
    spans = [Span(0, "mailbox", 0, 200, 1), Span(0, "kick", 0, 200, 1)]
    assert [s.name for _, s in assign_lanes(spans)] == ["kick", "mailbox"]
