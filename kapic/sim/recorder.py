"""The recorder: the one place a simulated boot's observations go.

Hardware, firmware and kernel models write here (kernel log lines, trace instants, timeline
spans, counters, reasons for failure, progress); nothing reads another model's lists. After
the run the recorder's contents become the :class:`~kapic.result.BootResult`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from kapic.result import Spans, TraceEvent
from kapic.sim.engine import Engine

__all__ = ["KEPT_EVENTS", "LEVELS", "LogLine", "Recorder"]

#: what a boot records: ``full`` (every trace event and span), ``spans`` (the spans, and of
#: the trace only :data:`KEPT_EVENTS`), ``summary`` (no spans, and of the trace only
#: :data:`KEPT_EVENTS`)
LEVELS = ("full", "spans", "summary")
#: the trace events every level keeps (the classification reads them)
KEPT_EVENTS = frozenset({"ap-late-alive"})

#: (simulated time in ns, level, message); level is ``debug``, ``info``, ``warn`` or ``err``
LogLine = tuple[int, str, str]


class Recorder:
    """Log, trace, spans, counters, reasons and progress of one simulated boot."""

    def __init__(self, engine: Engine, counters: Iterable[str] = (), *,
                 level: str = "full") -> None:
        if level not in LEVELS:
            raise ValueError(f"recording level {level!r} is not one of {', '.join(LEVELS)}")
        self._engine = engine
        #: one of :data:`LEVELS`
        self.level = level
        #: whether every trace event is kept (callers may skip formatting one when not)
        self.tracing = level == "full"
        self._spans = level != "summary"
        self.log: list[LogLine] = []
        self.trace: list[TraceEvent] = []
        self.spans = Spans()
        #: named counts (``ipis``, ``vm_exits``, ...); the names given start at 0
        self.counters: Counter[str] = Counter(dict.fromkeys(counters, 0))
        self.reasons: list[str] = []
        #: ``progress(done, total)`` called as each AP comes online or fails
        self.progress: Callable[[int, int], None] | None = None
        self.cpus_done = 0
        #: simulated time of the last progress of any kind (an AP kicked, alive, online or
        #: failed): the watchdog's clock
        self.last_progress_ns = 0
        #: the engine's event count then (the event budget's clock)
        self.progress_events = 0

    def printk(self, message: str, level: str = "info") -> None:
        """A kernel log line at the current simulated time."""
        self.log.append((self._engine.now, level, message))

    def event(self, cpu: int, kind: str, detail: str = "") -> None:
        """A trace instant on ``cpu`` at the current simulated time."""
        if self.tracing or kind in KEPT_EVENTS:
            self.trace.append(TraceEvent(self._engine.now, cpu, kind, detail))

    def span(self, cpu: int, name: str, start_ns: int, target: int) -> None:
        """A timeline slice ``[start_ns, now)`` on ``cpu`` about CPU ``target``."""
        if self._spans:
            self.spans.add(cpu, name, start_ns, self._engine.now, target)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name``."""
        self.counters[name] += n

    def reason(self, text: str) -> None:
        """Why the boot (or a CPU of it) failed, in one sentence."""
        self.reasons.append(text)

    def progressed(self) -> None:
        """An AP moved on (kicked, alive): the watchdog and the event budget start again."""
        self.last_progress_ns = self._engine.now
        self.progress_events = self._engine.events

    def cpu_done(self, total: int) -> None:
        """One more AP of ``total`` came online or failed."""
        self.cpus_done += 1
        self.last_progress_ns = self._engine.now
        self.progress_events = self._engine.events
        if self.progress is not None:
            self.progress(self.cpus_done, total)
