"""The collector pause is process-wide: overlapping pauses (boots on threads of one process)
keep the collector off until the last one ends, then restore it."""

from __future__ import annotations

import gc

from kapic.sim import collector


def test_overlapping_pauses_end_in_any_order() -> None:
    assert gc.isenabled()
    first, second = collector.paused(), collector.paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first ends while the second still runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_pause_keeps_a_collector_that_was_off_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_exception_ends_the_pause() -> None:
    try:
        with collector.paused():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.isenabled()
