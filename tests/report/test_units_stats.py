"""Human units and per-run statistics."""

from __future__ import annotations

import pytest

from kapic.report.stats import (
    COUNTER_KEYS,
    alive_aps,
    failure_reasons,
    nearest_rank,
    relies_on_hypervisor,
    run_label,
    run_stats,
)
from kapic.report.units import format_ns, time_unit
from kapic.result import BootResult

from .conftest import MakeRun


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (None, "-"),
        (0, "0 ns"),
        (999, "999 ns"),
        (1_000, "1.00 us"),
        (12_345, "12.3 us"),
        (612_000, "612 us"),
        (3_490_000, "3.49 ms"),
        (48_900_000, "48.9 ms"),
        (2_000_000_000, "2.00 s"),
    ],
)
def test_format_ns(ns: int | None, text: str) -> None:
    assert format_ns(ns) == text


def test_time_unit_picks_the_largest_unit_reached() -> None:
    assert time_unit(999) == (1, "ns")
    assert time_unit(1_500_000) == (1_000_000, "ms")


def test_nearest_rank_follows_the_definition() -> None:
    values = list(range(100, 0, -1))  # 1..100, unsorted
    assert nearest_rank(values, 50) == 50
    assert nearest_rank(values, 99) == 99
    assert nearest_rank(values, 100) == 100
    assert nearest_rank([7], 99) == 7
    assert nearest_rank([1, 2, 3, 4], 50) == 2  # rank ceil(0.5 * 4) = 2
    assert nearest_rank([1, 2, 3, 4, 5], 50) == 3
    assert nearest_rank([], 50) is None
    with pytest.raises(ValueError):
        nearest_rank([1], 0)


def test_run_stats_counts_only_aps_that_came_alive(make_run: MakeRun) -> None:
    run = make_run(cpus=6, alive_ns=1_000, alive_step_ns=100, fail={3})
    stats = run_stats(run)
    times = sorted(c.kick_to_alive_ns or 0 for c in alive_aps(run))
    assert [c.cpu for c in alive_aps(run)] == [1, 2, 4, 5]
    assert times == [1_100 + 40_000, 1_200 + 40_000, 1_400 + 40_000, 1_500 + 40_000]
    assert stats.alive_aps == 4
    assert stats.kick_to_alive_median_ns == times[1]
    assert stats.kick_to_alive_p99_ns == times[3]
    assert stats.kick_to_alive_max_ns == times[3]
    assert (stats.cpus_online, stats.cpus_requested) == (5, 6)
    assert stats.sim_time_ns == run.sim_time_ns


def test_run_stats_of_a_run_without_aps(runs: list[BootResult]) -> None:
    stats = run_stats(runs[-1])  # not applicable: only the boot CPU
    assert stats.alive_aps == 0
    assert stats.kick_to_alive_median_ns is None
    assert stats.kick_to_alive_max_ns is None
    assert list(stats.counters) == list(COUNTER_KEYS)
    assert set(stats.counters.values()) == {0}


def test_counters_keep_extra_keys_after_the_standard_ones(make_run: MakeRun) -> None:
    run = make_run()
    run.counters["zz_extra"] = 5
    del run.counters["vm_exits"]
    counters = run_stats(run).counters
    assert list(counters)[: len(COUNTER_KEYS)] == list(COUNTER_KEYS)
    assert counters["vm_exits"] == 0
    assert counters["zz_extra"] == 5


def test_relies_on_hypervisor(make_run: MakeRun) -> None:
    """Decided by the hypervisor exits the run counted, whatever the trust text says."""
    assert not relies_on_hypervisor(make_run(trust=["local APIC hardware (no hypervisor)"]))
    assert not relies_on_hypervisor(make_run(trust=["hypervisor INIT/SIPI emulation"]))
    assert relies_on_hypervisor(make_run(trust=[], vm_exits_per_ap=1))


def test_failure_reasons_fall_back_to_cpu_errors(make_run: MakeRun) -> None:
    assert failure_reasons(make_run(fail={2}, reasons=["stuck"])) == ["stuck"]
    assert failure_reasons(make_run(fail={2})) == ["CPU 2: CPU2 failed to report alive state"]
    assert run_label(make_run()) == "init-sipi on bare-metal (Linux 6.11)"
