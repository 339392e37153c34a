"""The plain-language verdict under the compare table, computed from the runs themselves.

Nothing here knows which method "should" win: every sentence is derived from the numbers
in the :class:`~kapic.result.BootResult` objects it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

from kapic.report.stats import failure_reasons, relies_on_hypervisor, run_label, run_stats
from kapic.report.units import format_ns
from kapic.result import BootResult

__all__ = ["verdict_lines"]


def _median(result: BootResult) -> int | None:
    return run_stats(result).kick_to_alive_median_ns


def _speed_lines(results: Sequence[BootResult]) -> list[str]:
    # A run a plugin broke says nothing about its method's speed: it is left out.
    timed = [r for r in results if r.result not in ("not-applicable", "plugin-error")
             and _median(r) is not None]
    if not timed:
        return ["No run brought an AP up, so there is no speed to compare."]
    ranked = sorted(timed, key=lambda r: (_median(r) or 0, r.method, r.platform))
    order = ", ".join(f"{r.method} on {r.platform} {format_ns(_median(r))}" for r in ranked)
    lines = [f"Per CPU (median kick-to-alive), fastest first: {order}."]
    done = sorted((r for r in results if r.result == "ok"), key=lambda r: r.sim_time_ns)
    if len(done) > 1:
        totals = ", ".join(f"{r.method} on {r.platform} {format_ns(r.sim_time_ns)}" for r in done)
        lines.append(f"Whole bring-up (runs that brought every CPU up), fastest first: {totals}.")
    best: dict[str, BootResult] = {}
    for r in ranked:
        best.setdefault(r.method, r)
    if len(best) < 2:
        lines.append(f"Only {ranked[0].method} brought APs up; there is no other method to compare.")
        return lines
    winner, *others = best.values()
    fast = _median(winner) or 0
    for other in others:
        slow = _median(other) or 0
        pair = f"{format_ns(fast)} ({winner.platform}) against {format_ns(slow)} ({other.platform})"
        if slow == fast:
            lines.append(f"{winner.method} and {other.method} are equally fast per CPU: {pair}.")
            continue
        ratio = f"{slow / fast:.2f}x faster, " if fast > 0 else ""
        lines.append(
            f"{winner.method} is faster per CPU than {other.method}: {pair}, "
            f"{ratio}{format_ns(slow - fast)} less per CPU."
        )
    return lines


def _trust_lines(results: Sequence[BootResult]) -> list[str]:
    done = [r for r in results if r.result == "ok"]
    lines = []
    for needs, title in (
        (False, "Needs no help from the hypervisor"),
        (True, "Relies on the hypervisor"),
    ):
        runs = [r for r in done if relies_on_hypervisor(r) is needs]
        if runs:
            items = "; ".join(
                f"{r.method} on {r.platform} ({r.counters.get('vm_exits', 0)} hypervisor exits, "
                f"trusts {', '.join(r.trust) or 'nothing named'})"
                for r in runs
            )
            lines.append(f"{title}: {items}.")
    return lines


def _failure_lines(results: Sequence[BootResult]) -> list[str]:
    lines = []
    for r in results:
        if r.result == "ok":
            continue
        what = {
            "not-applicable": "is not possible",
            "hung": "hung (stopped by the watchdog)",
            "invalid-input": "rejected its input",
            "plugin-error": "was stopped by a plugin's error (left out of the comparison)",
        }.get(r.result, f"brought {r.cpus_online} of {r.cpus_requested} CPUs online")
        why = "; ".join(failure_reasons(r)) or "no reason recorded"
        lines.append(f"{run_label(r)} {what}: {why}.")
    return lines


def verdict_lines(results: Sequence[BootResult]) -> list[str]:
    """Sentences on speed per CPU, reliance on the hypervisor and failures, in that order."""
    if not results:
        return []
    return [*_speed_lines(results), *_trust_lines(results), *_failure_lines(results)]
