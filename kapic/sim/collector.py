"""The cyclic garbage collector, paused while a machine is built, booted and classified.

Those phases make millions of short-lived objects and hundreds of thousands of long-lived
ones (a 65,536-CPU boot), and no reference cycle that must be freed before they end: the
collector would only scan the growing heap again and again (1.5 s of 8 at 65,536 CPUs in
the event loop, 0.2 to 0.35 s in building the machine).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["paused"]


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore it after (if it was on)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
