"""The cyclic garbage collector, paused while a machine is built, booted and classified.

Those phases make millions of short-lived objects and hundreds of thousands of long-lived
ones (a 65,536-CPU boot), and no reference cycle that must be freed before they end: the
collector would only scan the growing heap again and again (1.5 s of 8 at 65,536 CPUs in
the event loop, 0.2 to 0.35 s in building the machine).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["paused"]

# The collector is one per process, so what pauses it is too: the outermost pause of any
# thread saves its state and the last one to end restores it (boots in threads of one
# process, a sweep on a thread pool, must not leave it off).
_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore it after (if it was on)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
