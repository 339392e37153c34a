"""A progress bar on stderr for long runs, drawn only on a terminal and at most ~10 times a second.

Used as the ``progress(done_cpus, total_cpus)`` callback of ``run_boot``::

    bar = progress_bar(label="init-sipi on kvm")
    run_boot(spec, progress=bar)
    if bar is not None:
        bar.close()
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """``label [#####.....] done/total`` redrawn in place; call :meth:`close` to erase it."""

    def __init__(
        self,
        stream: TextIO,
        *,
        label: str = "",
        unit: str = "CPUs",
        width: int = 30,
        min_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.label = label
        self.unit = unit
        self.width = width
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._last_draw: float | None = None
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        finished = total > 0 and done >= total
        recent = self._last_draw is not None and now - self._last_draw < self.min_interval_s
        if recent and not finished:
            return
        self._last_draw = now
        filled = self.width * min(done, total) // total if total > 0 else 0
        bar = "#" * filled + "." * (self.width - filled)
        prefix = f"{self.label} " if self.label else ""
        self.stream.write(f"\r\x1b[2K{prefix}[{bar}] {done}/{total} {self.unit}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the bar (if drawn) so the next line of output starts clean."""
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False
        self._last_draw = None


def progress_bar(stream: TextIO | None = None, *, label: str = "",
                 unit: str = "CPUs") -> ProgressBar | None:
    """A :class:`ProgressBar` on ``stream`` (default stderr), or None when it is not a TTY."""
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return ProgressBar(stream, label=label, unit=unit) if tty else None
