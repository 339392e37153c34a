"""The discrete-event engine: integer-ns clock, spin-loop compression, bounded polls, Wait."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from kapic import RELAX, SPIN, Wait
from kapic.hw.memory import CpuMemory, PhysicalMemory
from kapic.sim.engine import Engine

FLAG = 0x1000


def _run(engine: Engine, gen: Generator[Any, Any, Any], name: str = "p") -> Any:
    proc = engine.process(gen, name)
    engine.run()
    assert not engine.failures, engine.failures
    assert not proc.alive, f"{name} did not finish"
    return proc.result


# -- clock ----------------------------------------------------------------------------------


def test_clock_is_integer_ns_and_events_run_in_time_order() -> None:
    engine = Engine()
    seen: list[tuple[int, str]] = []

    def proc(name: str, delays: list[int]) -> Generator[int, Any, None]:
        for d in delays:
            yield d
            seen.append((engine.now, name))

    engine.process(proc("a", [300, 300, 1]), "a")
    engine.process(proc("b", [100, 500, 1_000_000_000]), "b")
    engine.process(proc("c", [600]), "c", delay=0)
    engine.run()
    times = [t for t, _ in seen]
    assert all(type(t) is int for t in times)
    assert times == sorted(times)
    assert seen == [
        (100, "b"),
        (300, "a"),
        # equal times run in the order they were scheduled: c at t=0, b at 100, a at 300
        (600, "c"),
        (600, "b"),
        (600, "a"),
        (601, "a"),
        (1_000_000_600, "b"),
    ]
    assert engine.now == 1_000_000_600


def test_negative_delay_is_refused() -> None:
    engine = Engine()
    with pytest.raises(ValueError, match="negative delay"):
        engine.schedule(-1, lambda _arg: None)


def test_run_until_stops_the_clock_at_until() -> None:
    engine = Engine()
    hits: list[int] = []

    def proc() -> Generator[int, Any, None]:
        yield 5_000
        hits.append(engine.now)
        yield 5_000
        hits.append(engine.now)

    engine.process(proc(), "p")
    engine.run(until=7_000)
    assert hits == [5_000]
    assert engine.now == 7_000
    engine.run()
    assert hits == [5_000, 10_000]


def test_a_process_yielding_garbage_is_recorded_as_a_failure() -> None:
    engine = Engine()

    def bad() -> Generator[Any, Any, None]:
        yield "soon"

    proc = engine.process(bad(), "bad")
    engine.run()
    assert not proc.alive
    assert [name for name, _ in engine.failures] == ["bad"]
    assert isinstance(engine.failures[0][1], TypeError)


# -- spin loops -----------------------------------------------------------------------------


def _spin_machine() -> tuple[Engine, CpuMemory, CpuMemory]:
    engine = Engine()
    mem = PhysicalMemory(engine)
    mem.write(FLAG, 4, 1)
    return engine, mem.cpu_view(0), mem.cpu_view(1)


def _spin_once(delay: int) -> tuple[int, int]:
    """A reader spins while FLAG != 0; a writer clears it after ``delay`` ns.

    Returns (engine events, time the reader left the loop)."""
    engine, writer_mem, reader_mem = _spin_machine()

    def reader() -> Generator[Any, Any, int]:
        while reader_mem.read_once(FLAG, 4):
            yield SPIN
        return engine.now

    def writer() -> Generator[int, Any, None]:
        yield delay
        writer_mem.write_once(FLAG, 4, 0)

    rproc = engine.process(reader(), "reader", relax_ns=100)
    engine.process(writer(), "writer")
    engine.run()
    assert not engine.failures
    assert isinstance(rproc.result, int)
    return engine.events, rproc.result


def test_unbounded_spin_costs_o1_events_whatever_the_delay() -> None:
    short_events, short_exit = _spin_once(10_000)
    long_events, long_exit = _spin_once(1_000_000_000)
    assert abs(long_events - short_events) <= 2, (short_events, long_events)
    assert long_events < 20
    assert short_exit == 10_000
    assert long_exit == 1_000_000_000


def test_parked_spin_resumes_on_its_next_iteration_boundary() -> None:
    # The loop polls every 100 ns from t=0: a write at 1_000_000_050 is seen at ..._100.
    events, exit_t = _spin_once(1_000_000_050)
    assert exit_t == 1_000_000_100
    assert events < 20


def _bounded_poll(tries: int) -> tuple[int, int, int, int]:
    """The seed kernel's poll: counter in a local, gives up after ``tries`` reads.

    Returns (events, reads, relaxes, tries left)."""
    engine, _writer, reader_mem = _spin_machine()
    counts = {"reads": 0, "relax": 0}

    def poll() -> Generator[Any, Any, int]:
        left = tries
        while True:
            counts["reads"] += 1
            if not reader_mem.read_once(FLAG, 4):
                break
            left -= 1
            if not left:
                break
            counts["relax"] += 1
            yield RELAX
        return left

    result = _run(engine, poll())
    return engine.events, counts["reads"], counts["relax"], result


def test_bounded_poll_runs_every_iteration() -> None:
    events_255, reads, relaxes, left = _bounded_poll(255)
    assert (reads, relaxes, left) == (255, 254, 0)
    events_50, reads_50, _, _ = _bounded_poll(50)
    assert reads_50 == 50
    # one resume per cpu_relax(): not compressed, because the local changes every time
    assert events_255 - events_50 == 255 - 50
    assert events_255 >= 254


def test_bounded_poll_takes_tries_minus_one_relax_periods() -> None:
    engine, _w, reader_mem = _spin_machine()

    def poll() -> Generator[Any, Any, int]:
        left = 255
        while reader_mem.read_once(FLAG, 4):
            left -= 1
            if not left:
                break
            yield RELAX
        return engine.now

    proc = engine.process(poll(), "poll", relax_ns=100)
    engine.run()
    assert proc.result == 254 * 100


def test_bounded_poll_sees_an_ack_that_arrives_in_time() -> None:
    engine, writer_mem, reader_mem = _spin_machine()

    def poll() -> Generator[Any, Any, int]:
        left = 255
        while reader_mem.read_once(FLAG, 4):
            left -= 1
            if not left:
                break
            yield RELAX
        return left

    def ack() -> Generator[int, Any, None]:
        yield 10_050
        writer_mem.write_once(FLAG, 4, 0)

    proc = engine.process(poll(), "poll", relax_ns=100)
    engine.process(ack(), "ack")
    engine.run()
    # reads at 0, 100, ..., 10_100: the 102nd read (at 10_100) sees 0
    assert proc.result == 255 - 101


def test_a_bounded_poll_with_its_counter_in_a_dict_runs_every_iteration() -> None:
    # The plugin guide's idiom: per-kernel state in a dict. The loop's locals never change,
    # only the dict does: a RELAX loop is never parked, so it still gives up after 255 reads.
    engine, _w, reader_mem = _spin_machine()
    state = {"tries": 255}

    def poll() -> Generator[Any, Any, tuple[int, int]]:
        st = state
        while reader_mem.read_once(FLAG, 4):
            st["tries"] -= 1
            if not st["tries"]:
                break
            yield RELAX
        return st["tries"], engine.now

    proc = engine.process(poll(), "poll", relax_ns=100)
    engine.run()
    assert proc.result == (0, 254 * 100)
    assert engine.events == 255


def test_a_declared_spin_is_parked_but_a_new_call_of_the_loop_starts_afresh() -> None:
    # Two calls of one spin function back to back read the same word with the same value
    # in one step (the first call's last read and the second's first): the second call is a
    # new loop and must not be parked on the first one's history.
    engine, writer_mem, reader_mem = _spin_machine()
    exits: list[int] = []

    def wait_clear() -> Generator[Any, Any, None]:
        while reader_mem.read_once(FLAG, 4):
            yield SPIN
        exits.append(engine.now)

    def reader() -> Generator[Any, Any, None]:
        for _ in range(3):
            yield from wait_clear()
            writer_mem.write_once(FLAG, 4, 1)

    def writer() -> Generator[int, Any, None]:
        for _ in range(3):
            yield 1_050
            writer_mem.write_once(FLAG, 4, 0)

    engine.process(reader(), "reader", relax_ns=100)
    engine.process(writer(), "writer")
    engine.run()
    assert exits == [1_100, 2_100, 3_200]


# -- Wait ------------------------------------------------------------------------------------


def test_wait_times_out_with_false_at_the_timeout() -> None:
    engine = Engine()
    sig = engine.signal("never")

    def waiter() -> Generator[Any, Any, tuple[bool, int]]:
        fired = yield Wait(sig, 1_000)
        return fired, engine.now

    assert _run(engine, waiter()) == (False, 1_000)


def test_wait_returns_true_when_the_signal_fires_first() -> None:
    engine = Engine()
    sig = engine.signal("alive")
    seen: list[object] = []

    def waiter() -> Generator[Any, Any, None]:
        fired = yield Wait(sig, 10_000)
        seen.append((fired, engine.now))
        yield 50_000  # the stale 10 us timeout must not cut this sleep short
        seen.append(engine.now)

    def firer() -> Generator[int, Any, None]:
        yield 500
        sig.fire("v")

    engine.process(waiter(), "w")
    engine.process(firer(), "f")
    engine.run()
    assert seen == [(True, 500), 50_500]
    assert sig.value == "v"


def test_wait_on_an_already_fired_signal_returns_true_at_once() -> None:
    engine = Engine()
    sig = engine.signal()
    sig.fire()

    def waiter() -> Generator[Any, Any, tuple[bool, int]]:
        yield 7
        fired = yield Wait(sig)
        return fired, engine.now

    assert _run(engine, waiter()) == (True, 7)
