"""Chrome/Perfetto trace-event JSON of the rows, for ui.perfetto.dev or chrome://tracing.

One process (``pid`` = row index + 1) per row of ``kapic compare``, named like the row and
drawn from the row's median run (:attr:`~kapic.report.rows.Row.result`). Its tracks, top down:

* ``bring-up``: one slice from 0 to the median run's end; its ``args`` carry the row: the
  runs and seeds, the outcome, and the median, low and high over the runs (:meth:`Row.spread
  <kapic.report.rows.Row.spread>`) of the total, the per-AP time and each of its parts;
* ``median AP``: the row's per-AP medians of ``wakeup``, ``start-up`` and ``waiting`` laid
  end to end from 0 (not a moment of the run: the size of each part, spread in ``args``), so
  the part that dominates shows at a glance;
* ``CPU n split`` (``tid`` = :data:`SPLIT_TID_OFFSET` + n), one per AP that ran at all: its
  bring-up split into ``wakeup`` (kick to its first instruction: the method), ``start-up``
  (to alive: the platform) and ``waiting`` (to the end of the boot CPU's online work: the
  kernel), back to back, each with the row's spread of that part in ``args``; an AP that
  never came online has the parts it got through (``args.online`` false);
* ``CPU n`` (``tid`` = CPU number): every :class:`~kapic.result.Span` of the run as a complete
  slice (``ph: "X"``, ``ts``/``dur`` in microseconds) and a CPU coming online as a
  thread-scoped instant (``ph: "i"``, ``s: "t"``).

Nesting rule: slices on one thread must nest (a child lies fully inside its parent). A CPU's
spans are placed in start order (longer first on equal starts, a ``mailbox`` after the ``kick``
whose interval it shares) on the CPU's own thread whenever they nest there; a span that would
partly overlap a slice already on the thread goes to the first *overlap lane* of that CPU where
it nests, ``tid = OVERLAP_TID_STRIDE * lane + cpu``, named ``CPU n (overlap lane)``. Nothing is
clipped, so every duration in the trace is the simulated one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from kapic.report.rows import PART_NAMES, Row, Spread, ap_splits
from kapic.report.trace_check import validate_trace
from kapic.result import BootResult, Span

__all__ = [
    "MEDIAN_AP_TID",
    "OVERLAP_TID_STRIDE",
    "ROW_TID",
    "SPLIT_TID_OFFSET",
    "as_rows",
    "assign_lanes",
    "build_trace",
    "validate_trace",
    "write_trace",
]

#: tid offset of each overlap lane; far above any CPU number
OVERLAP_TID_STRIDE: Final = 1_000_000
#: tid of CPU n's split track is this plus n; above any CPU number, below the overlap lanes
SPLIT_TID_OFFSET: Final = 500_000
#: tids of the row's own tracks: the whole bring-up with the spread, and the median AP
ROW_TID: Final = 900_000
MEDIAN_AP_TID: Final = 900_001
#: spans that nest inside another on the same interval: placed after their parent on ties
_CHILD_KINDS: Final = frozenset({"mailbox"})


def as_rows(rows: Sequence[Row | BootResult]) -> list[Row]:
    """Rows as given; a bare :class:`BootResult` is a row of that one run."""
    return [r if isinstance(r, Row) else Row((r,)) for r in rows]


def _us(ns: int) -> float:
    return ns / 1000


def assign_lanes(spans: Sequence[Span]) -> list[tuple[int, Span]]:
    """Place one CPU's spans in lanes where they nest, as ``(lane, span)`` in placement order."""
    ordered = sorted(spans, key=lambda s: (s.start_ns, -s.end_ns, s.name in _CHILD_KINDS))
    stacks: list[list[Span]] = []
    placed: list[tuple[int, Span]] = []
    for span in ordered:
        for lane, stack in enumerate([*stacks, []]):
            while stack and stack[-1].end_ns <= span.start_ns:
                stack.pop()
            if not stack or span.end_ns <= stack[-1].end_ns:
                if lane == len(stacks):
                    stacks.append(stack)
                stack.append(span)
                placed.append((lane, span))
                break
    return placed


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"ph": "M", "name": name, "pid": pid, "tid": tid, "args": args}


def _slice(name: str, cat: str, pid: int, tid: int, start_ns: int, end_ns: int,
           args: dict[str, Any]) -> dict[str, Any]:
    return {"ph": "X", "name": name, "cat": cat, "pid": pid, "tid": tid,
            "ts": _us(start_ns), "dur": _us(max(0, end_ns - start_ns)), "args": args}


def _spread_args(spread: Spread) -> dict[str, Any]:
    return {"median_ns": spread.median, "low_ns": spread.low, "high_ns": spread.high,
            "runs": spread.runs}


def _dominant(spreads: dict[str, Spread]) -> str | None:
    known = {k: s.median for k, s in spreads.items() if s.median is not None}
    return PART_NAMES[max(known, key=lambda k: known[k])] if known else None


def _row_events(pid: int, row: Row) -> tuple[list[dict[str, Any]], dict[int, tuple[str, int]]]:
    """The row's own slices (whole bring-up, median AP, each AP's split) and their threads."""
    result = row.result
    spreads = {part: row.spread(part) for part in PART_NAMES}
    runs = f"{len(row.runs)} run{'s' if len(row.runs) != 1 else ''}"
    threads: dict[int, tuple[str, int]] = {ROW_TID: (f"bring-up (median of {runs})", -2)}
    summary = {
        "runs": len(row.runs),
        "seeds": [r.seed for r in row.runs],
        "median_run_seed": result.seed,
        "outcome": row.outcome,
        "mode": None if row.mode[0] == "-" else row.mode[0],
        "reasons": result.reasons[:3],
        "dominant_part": _dominant(spreads),
        "total_ns": _spread_args(row.spread("total")),
        "per_cpu_ns": _spread_args(row.spread("per_cpu")),
        **{f"{part}_ns": _spread_args(s) for part, s in spreads.items()},
    }
    events = [_slice("bring-up", "row", pid, ROW_TID, 0, result.sim_time_ns, summary)]
    t = 0
    for part, spread in spreads.items():
        if spread.median is None:
            break
        threads[MEDIAN_AP_TID] = ("median AP (parts end to end)", -1)
        events.append(_slice(PART_NAMES[part], "median-ap", pid, MEDIAN_AP_TID, t,
                             t + spread.median, {"part": part, **_spread_args(spread)}))
        t += spread.median
    for ap in ap_splits(result):
        tid = SPLIT_TID_OFFSET + ap.cpu
        if ap.parts():
            threads[tid] = (f"CPU {ap.cpu} split", ap.cpu)
        for part, start, end in ap.parts():
            args = {"cpu": ap.cpu, "part": part, "dur_ns": end - start, "online": ap.complete,
                    "row": _spread_args(spreads[part])}
            events.append(_slice(PART_NAMES[part], "split", pid, tid, start, end, args))
    return events, threads


def _run_events(pid: int, row: Row) -> list[dict[str, Any]]:
    result = row.result
    events = [
        _meta("process_name", pid, 0, {"name": row.label}),
        _meta("process_sort_index", pid, 0, {"sort_index": pid}),
    ]
    slices, threads = _row_events(pid, row)
    by_cpu: dict[int, list[Span]] = {}
    for s in result.spans:  # one pass: a scan per CPU was quadratic (8,192 CPUs: 50 s)
        by_cpu.setdefault(s.cpu, []).append(s)
    cpus = sorted({c.cpu for c in result.cpus} | set(by_cpu))
    first_cpu_sort = 1 + max(cpus, default=0)  # the CPU threads come after every split track
    for cpu in cpus:
        threads[cpu] = (f"CPU {cpu}", first_cpu_sort + 16 * cpu)
        for lane, span in assign_lanes(by_cpu.get(cpu, [])):
            tid = OVERLAP_TID_STRIDE * lane + cpu
            threads.setdefault(tid, (f"CPU {cpu} (overlap {lane})", first_cpu_sort + 16 * cpu + lane))
            name = span.name if span.target == span.cpu else f"{span.name} CPU {span.target}"
            slices.append(_slice(name, span.name, pid, tid, span.start_ns, span.end_ns,
                                 {"cpu": span.cpu, "target": span.target}))
    for tid, (label, sort_index) in sorted(threads.items()):
        events.append(_meta("thread_name", pid, tid, {"name": label}))
        events.append(_meta("thread_sort_index", pid, tid, {"sort_index": sort_index}))
    events.extend(slices)
    for c in result.cpus:
        if c.state == "online" and c.online_ns is not None:
            events.append(
                {
                    "ph": "i",
                    "s": "t",
                    "name": "online",
                    "pid": pid,
                    "tid": c.cpu,
                    "ts": _us(c.online_ns),
                    "args": {"cpu": c.cpu, "apic_id": c.apic_id},
                }
            )
    return events


def build_trace(rows: Sequence[Row | BootResult]) -> dict[str, Any]:
    """The trace document of ``rows`` (see :func:`as_rows`), one process per row in order."""
    events: list[dict[str, Any]] = []
    for index, row in enumerate(as_rows(rows)):
        events.extend(_run_events(index + 1, row))
    return {"traceEvents": events, "displayTimeUnit": "ns"}


def write_trace(rows: Sequence[Row | BootResult], path: str | Path) -> None:
    """Write :func:`build_trace` of ``rows`` to ``path`` as JSON.

    The same text as ``json.dumps(build_trace(rows), separators=(",", ":"))``, made one row at
    a time, so that only one row's event objects exist at once (at 8,192 CPUs a row has about
    100,000); all of it is encoded before the file is opened."""
    encoded = (json.dumps(_run_events(index + 1, row), separators=(",", ":"))[1:-1]
               for index, row in enumerate(as_rows(rows)))
    pieces = [piece for piece in encoded if piece]  # a row without events adds nothing
    with Path(path).open("w", encoding="utf-8") as out:
        out.write('{"traceEvents":[')
        for n, piece in enumerate(pieces):
            if n:
                out.write(",")
            out.write(piece)
        out.write('],"displayTimeUnit":"ns"}\n')
