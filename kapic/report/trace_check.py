"""Checks of a Chrome/Perfetto trace-event document, used by the tests and by anyone who
post-processes :func:`kapic.report.build_trace` output."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["validate_trace"]


#: slack when comparing microsecond floats converted from integer nanoseconds
_EPS_US: Final = 1e-6


def _is_num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_event(i: int, ev: object) -> list[str]:
    if not isinstance(ev, dict):
        return [f"event {i}: not an object"]
    ph = ev.get("ph")
    need = {"X": ("ts", "dur", "pid", "tid"), "i": ("ts", "pid", "tid"), "M": ("pid", "args")}
    if ph not in need:
        return [f"event {i}: unknown phase {ph!r}"]
    problems = [f"event {i} ({ph}): missing {key}" for key in need[ph] if key not in ev]
    if not isinstance(ev.get("name"), str):
        problems.append(f"event {i} ({ph}): name is not a string")
    for key in ("ts", "dur"):
        if key in ev and not (_is_num(ev[key]) and ev[key] >= 0):
            problems.append(f"event {i} ({ph}): {key} is not a non-negative number")
    for key in ("pid", "tid"):
        if key in ev and not (isinstance(ev[key], int) and not isinstance(ev[key], bool)):
            problems.append(f"event {i} ({ph}): {key} is not an integer")
    if "args" in ev and not isinstance(ev["args"], dict):
        problems.append(f"event {i} ({ph}): args is not an object")
    if ph == "i" and ev.get("s", "t") not in ("t", "p", "g"):
        problems.append(f"event {i} (i): scope {ev.get('s')!r} is not t, p or g")
    return problems


def _check_nesting(slices: list[dict[str, Any]]) -> list[str]:
    threads: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for ev in slices:
        threads.setdefault((ev["pid"], ev["tid"]), []).append(ev)
    problems = []
    for (pid, tid), evs in sorted(threads.items()):
        stack: list[dict[str, Any]] = []
        for ev in sorted(evs, key=lambda e: (e["ts"], -e["dur"])):
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= ev["ts"] + _EPS_US:
                stack.pop()
            if stack and ev["ts"] + ev["dur"] > stack[-1]["ts"] + stack[-1]["dur"] + _EPS_US:
                problems.append(
                    f"pid {pid} tid {tid}: {ev.get('name')!r} at {ev['ts']} us overlaps "
                    f"{stack[-1].get('name')!r} at {stack[-1]['ts']} us without nesting"
                )
                continue
            stack.append(ev)
    return problems


def validate_trace(obj: object) -> list[str]:
    """Problems that would make ``obj`` a wrong trace document; empty when it is sound.

    Checks the envelope, that every ``X`` has ``ts``, ``dur``, ``pid`` and ``tid``, that
    instants and metadata are well formed, that ``args`` (where present) are objects, that
    each process with slices is named, and that the slices of each thread nest.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("traceEvents"), list):
        return ["not an object with a traceEvents list"]
    problems = []
    if obj.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        problems.append(f"displayTimeUnit {obj['displayTimeUnit']!r} is not ms or ns")
    events: list[object] = obj["traceEvents"]
    for i, ev in enumerate(events):
        problems.extend(_check_event(i, ev))
    if problems:
        return problems
    good = [ev for ev in events if isinstance(ev, dict)]
    slices = [ev for ev in good if ev["ph"] == "X"]
    named = {ev["pid"] for ev in good if ev["ph"] == "M" and ev["name"] == "process_name"}
    for pid in sorted({ev["pid"] for ev in slices} - named):
        problems.append(f"pid {pid}: slices but no process_name metadata")
    return problems + _check_nesting(slices)
