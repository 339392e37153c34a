"""Chrome/Perfetto trace-event JSON of the runs, for ui.perfetto.dev or chrome://tracing.

One process (``pid`` = run index + 1) per run, named by a ``process_name`` metadata event; one
thread per CPU (``tid`` = CPU number, named ``CPU n``); every :class:`~kapic.result.Span` is a
complete slice (``ph: "X"``, ``ts``/``dur`` in microseconds) and a CPU coming online is a
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

from kapic.report.stats import run_label
from kapic.report.trace_check import validate_trace
from kapic.result import BootResult, Span

__all__ = [
    "OVERLAP_TID_STRIDE",
    "assign_lanes",
    "build_trace",
    "validate_trace",
    "write_trace",
]

#: tid offset of each overlap lane; far above any CPU number
OVERLAP_TID_STRIDE: Final = 1_000_000
#: spans that nest inside another on the same interval: placed after their parent on ties
_CHILD_KINDS: Final = frozenset({"mailbox"})


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


def _run_events(pid: int, result: BootResult) -> list[dict[str, Any]]:
    events = [
        _meta("process_name", pid, 0, {"name": run_label(result)}),
        _meta("process_sort_index", pid, 0, {"sort_index": pid}),
    ]
    cpus = sorted({c.cpu for c in result.cpus} | {s.cpu for s in result.spans})
    threads: dict[int, str] = {cpu: f"CPU {cpu}" for cpu in cpus}
    slices: list[dict[str, Any]] = []
    for cpu in cpus:
        for lane, span in assign_lanes([s for s in result.spans if s.cpu == cpu]):
            tid = OVERLAP_TID_STRIDE * lane + cpu
            threads.setdefault(tid, f"CPU {cpu} (overlap {lane})")
            name = span.name if span.target == span.cpu else f"{span.name} CPU {span.target}"
            slices.append(
                {
                    "ph": "X",
                    "name": name,
                    "cat": span.name,
                    "pid": pid,
                    "tid": tid,
                    "ts": _us(span.start_ns),
                    "dur": _us(max(0, span.end_ns - span.start_ns)),
                    "args": {"cpu": span.cpu, "target": span.target},
                }
            )
    for tid, label in sorted(threads.items()):
        events.append(_meta("thread_name", pid, tid, {"name": label}))
        lane, cpu = divmod(tid, OVERLAP_TID_STRIDE)
        events.append(_meta("thread_sort_index", pid, tid, {"sort_index": cpu * 16 + lane}))
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


def build_trace(results: Sequence[BootResult]) -> dict[str, Any]:
    """The trace document of ``results``, one process per run in order."""
    events: list[dict[str, Any]] = []
    for index, result in enumerate(results):
        events.extend(_run_events(index + 1, result))
    return {"traceEvents": events, "displayTimeUnit": "ns"}


def write_trace(results: Sequence[BootResult], path: str | Path) -> None:
    """Write :func:`build_trace` of ``results`` to ``path`` as JSON."""
    text = json.dumps(build_trace(results), separators=(",", ":"))
    Path(path).write_text(text + "\n", encoding="utf-8")
