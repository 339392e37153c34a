"""Per-run statistics, computed from a :class:`~kapic.result.BootResult` and nothing else."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kapic.result import BootResult, CpuResult, method_label
from kapic.versions import kernel_label

__all__ = [
    "COUNTER_KEYS",
    "RunStats",
    "alive_aps",
    "failure_reasons",
    "nearest_rank",
    "relies_on_hypervisor",
    "run_label",
    "run_stats",
]

#: The counters every report shows, in display order (a missing counter counts as 0).
COUNTER_KEYS = ("ipis", "vm_exits", "mailbox_handshakes", "icr_writes")


@dataclass(frozen=True, slots=True)
class RunStats:
    """What the table, the JSON and the verdict say about one run."""

    cpus_requested: int
    cpus_online: int
    sim_time_ns: int
    #: number of APs that reported alive (the population of the three figures below)
    alive_aps: int
    kick_to_alive_median_ns: int | None
    kick_to_alive_p99_ns: int | None
    kick_to_alive_max_ns: int | None
    counters: dict[str, int]


def nearest_rank(values: Sequence[int], percent: float) -> int | None:
    """The nearest-rank percentile: the smallest value with at least ``percent`` % at or below.

    ``None`` for an empty sequence. ``percent`` is in ``(0, 100]``.
    """
    if not 0 < percent <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {percent}")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def alive_aps(result: BootResult) -> list[CpuResult]:
    """The application processors (not the boot CPU) that reported alive."""
    return [c for c in result.cpus if c.state != "boot-cpu" and c.kick_to_alive_ns is not None]


def run_stats(result: BootResult) -> RunStats:
    """Statistics of one run: CPUs, total simulated time, kick-to-alive over alive APs."""
    times = [c.kick_to_alive_ns for c in alive_aps(result) if c.kick_to_alive_ns is not None]
    counters = {key: result.counters.get(key, 0) for key in COUNTER_KEYS}
    counters.update({k: v for k, v in sorted(result.counters.items()) if k not in counters})
    return RunStats(
        cpus_requested=result.cpus_requested,
        cpus_online=result.cpus_online,
        sim_time_ns=result.sim_time_ns,
        alive_aps=len(times),
        kick_to_alive_median_ns=nearest_rank(times, 50),
        kick_to_alive_p99_ns=nearest_rank(times, 99),
        kick_to_alive_max_ns=max(times) if times else None,
        counters=counters,
    )


def run_label(result: BootResult) -> str:
    """``method on platform`` with the kernel, e.g. ``init-sipi on kvm (Linux 6.12)``;
    the method is the one that woke the APs, with the one asked for when another ran."""
    return f"{method_label(result)} on {result.platform} ({kernel_label(result.kernel)})"


def relies_on_hypervisor(result: BootResult) -> bool:
    """Whether the wakeup needed the hypervisor's help: the run trapped to it (``vm_exits``).

    Decided from the counter, not from the wording of ``trust``.
    """
    return result.counters.get("vm_exits", 0) > 0


def failure_reasons(result: BootResult) -> list[str]:
    """Why a run did not bring every CPU up: its reasons, else the distinct per-CPU errors."""
    if result.reasons:
        return list(result.reasons)
    errors = [f"CPU {c.cpu}: {c.error}" for c in result.cpus if c.error]
    return list(dict.fromkeys(errors))
