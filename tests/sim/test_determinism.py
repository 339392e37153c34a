"""Determinism (same spec + seed -> same result) and isolation of machines in one process."""

from __future__ import annotations

from typing import Any

import pytest

from kapic import BootResult, BootSpec, build_machine, run_boot


def _strip_wall(obj: Any) -> Any:
    """The JSON object without any key containing "wall" (wall-clock time is not simulated)."""
    if isinstance(obj, dict):
        return {k: _strip_wall(v) for k, v in obj.items() if "wall" not in k}
    if isinstance(obj, list):
        return [_strip_wall(v) for v in obj]
    return obj


def _json(result: BootResult) -> Any:
    return _strip_wall(result.to_json())


def test_same_spec_and_seed_give_identical_results_at_a_few_hundred_cpus() -> None:
    spec = BootSpec(platform="bare-metal", cpus=300, seed=7)
    first, second = run_boot(spec), run_boot(spec)
    assert first.result == "ok"
    assert first.cpus_online == 300
    assert _json(first) == _json(second)
    # the comparison is not vacuous: the wall-clock field exists and was dropped
    assert "wall_seconds" in first.to_json()
    assert "wall_seconds" not in _json(first)


@pytest.mark.parametrize(
    "spec",
    [
        BootSpec(platform="tdx", kernel="seed", cpus=6, seed=3),
        BootSpec(platform="kvm", kernel="6.11", cpus=6, seed=3),
        BootSpec(platform="tdx", cpus=6, seed=3, relaxed_memory=True),
    ],
    ids=["tdx-seed", "kvm-upstream", "tdx-relaxed"],
)
def test_determinism_across_platforms(spec: BootSpec) -> None:
    assert _json(run_boot(spec)) == _json(run_boot(spec))


def test_a_different_seed_changes_timings() -> None:
    a = run_boot(BootSpec(platform="bare-metal", cpus=8, seed=1))
    b = run_boot(BootSpec(platform="bare-metal", cpus=8, seed=2))
    assert a.result == b.result == "ok"
    assert a.sim_time_ns != b.sim_time_ns
    alive_a = [c.kick_to_alive_ns for c in a.cpus[1:]]
    alive_b = [c.kick_to_alive_ns for c in b.cpus[1:]]
    assert alive_a != alive_b
    # ...but not what happens: same CPUs, same handlers, same messages minus timestamps
    assert [c.state for c in a.cpus] == [c.state for c in b.cpus]
    assert [line.split("] ", 1)[1] for line in a.log] == [line.split("] ", 1)[1] for line in b.log]


def test_two_machines_booted_interleaved_share_no_state() -> None:
    """Boot machine B entirely from inside machine A's boot (A is mid-bring-up), then compare
    both with solo runs: module-level state anywhere (wakemap, announce line, drivers,
    mailbox mapping, RNG) would show up as a difference."""
    spec_a = BootSpec(platform="tdx", kernel="seed", cpus=4, seed=11)
    spec_b = BootSpec(platform="tdx", kernel="seed", cpus=4, seed=12)
    spec_c = BootSpec(platform="bare-metal", kernel="6.11", cpus=4, seed=13)
    solo = [_json(run_boot(s)) for s in (spec_a, spec_b, spec_c)]

    machine_a = build_machine(spec_a)
    machine_b = build_machine(spec_b)
    machine_c = build_machine(spec_c)
    inner: dict[str, BootResult] = {}

    def progress(done: int, total: int) -> None:
        if done == 1 and "b" not in inner:
            inner["b"] = machine_b.boot()
            inner["c"] = machine_c.boot()

    machine_a.progress = progress
    result_a = machine_a.boot()
    assert set(inner) == {"b", "c"}
    assert [_json(result_a), _json(inner["b"]), _json(inner["c"])] == solo
    # and the drivers of one kernel are not the other's objects
    assert machine_a.kernel.registry.drivers[0] is not machine_b.kernel.registry.drivers[0]


@pytest.mark.parametrize(
    "spec",
    [
        BootSpec(platform="tdx", kernel="seed", cpus=6, seed=3,
                 params={"vcpu_delay_ns": "100000"}),  # the kernel gives up: ap-late-alive
        BootSpec(platform="kvm", kernel="6.11", cpus=6, seed=3),
        BootSpec(platform="bare-metal", cpus=16, seed=1),
    ],
    ids=["tdx-seed-late", "kvm-6.11", "bare-metal"],
)
def test_recording_levels_change_what_is_kept_never_the_result(spec: BootSpec) -> None:
    full, spans, summary = (run_boot(spec, recording=level)
                            for level in ("full", "spans", "summary"))
    assert (full.recording, spans.recording, summary.recording) == ("full", "spans", "summary")
    assert len(full.trace) > len(spans.trace)
    assert spans.spans == full.spans and full.spans and not summary.spans
    # the trace events a reason is made of survive every level
    kept = [e for e in full.trace if e.kind == "ap-late-alive"]
    assert spans.trace == kept and summary.trace == kept

    def rest(result: BootResult) -> Any:
        out = _json(result)
        for key in ("recording", "trace", "spans"):
            del out[key]
        return out

    assert rest(full) == rest(spans) == rest(summary)


def test_an_unknown_recording_level_is_refused() -> None:
    with pytest.raises(ValueError, match="recording level 'everything'"):
        run_boot(BootSpec(cpus=2), recording="everything")


@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_jitter_draws_are_the_seeded_randint_sequence(seed: int) -> None:
    """``Board.jittered`` inlines ``random.randint``: the draws stay the ones randint gives
    for the same seed, for spans whose widths are and are not powers of two."""
    import random

    machine = build_machine(BootSpec(platform="kvm", cpus=2, seed=seed,
                                     params={"jitter_ppm": "250000"}))
    board = machine.board
    reference = random.Random(seed)
    for param in ("ap_alive_ns", "ap_online_ns", "bp_online_ns") * 50:
        base = board.platform.param(param)
        span = base * 250_000 // 1_000_000
        assert span > 1
        assert board.jittered(param) == base + reference.randint(-span, span)


def test_a_negative_jitter_range_is_refused_as_randint_refused_it() -> None:
    """A platform built without the checks (negative ``jitter_ppm``) gets an error, not an
    endless draw."""
    import random
    import types

    from kapic.hw.board import Board

    board: Any = types.SimpleNamespace(_jitter_ppm=-10_000, _rng=random.Random(0),
                                       platform=types.SimpleNamespace(param=lambda _n: 900_000))
    with pytest.raises(ValueError, match="empty range"):
        Board.jittered(board, "ap_alive_ns")


def test_a_finished_boot_leaves_no_machine_behind() -> None:
    """run_boot frees its machine (a web of reference cycles) before it returns, without a
    full collection: no CPU object of it is left, even as garbage waiting for the collector."""
    import gc

    from kapic.hw.cpu import Cpu
    from kapic.kernel.kernel import KernelCpu

    def cpu_objects() -> int:  # garbage waiting for the collector included
        return sum(1 for o in gc.get_objects() if type(o) in (Cpu, KernelCpu))

    gc.collect()
    before = cpu_objects()  # another test's machine still held somewhere does not count
    result = run_boot(BootSpec(platform="kvm", cpus=64), recording="spans")
    assert result.cpus_online == 64
    assert cpu_objects() == before
