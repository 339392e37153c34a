"""The data of one simulated boot's outcome, for the report renderers (the policy that
classifies a boot is :mod:`kapic.classify`).

A :class:`BootResult` holds everything a report needs; nothing in it refers back to the
machine, so results can be pickled, compared and rendered in another process.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Iterable, Iterator, MutableSequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, overload

__all__ = ["BootResult", "CpuResult", "Span", "Spans", "TraceEvent", "method_label",
           "span_rows", "state_summary"]

ResultKind = Literal["ok", "cpu-failed", "hung", "invalid-input", "plugin-error", "not-applicable"]
#: ``kicked``: woken, but the boot ended (hung) before the kernel brought it online
CpuState = Literal[
    "online", "failed", "offline", "not-attempted", "kicked", "hung", "boot-cpu", "disabled"
]


class TraceEvent(NamedTuple):
    """One instant of the event trace: simulated time, CPU, what happened."""

    t_ns: int
    cpu: int
    kind: str
    detail: str = ""


class Span(NamedTuple):
    """A phase of one CPU's bring-up, for timelines: ``[start_ns, end_ns)`` on ``cpu``.

    ``name`` is one of: on the boot CPU (``cpu`` 0), ``kick`` (the wakeup hook, e.g. the
    INIT/SIPI sequence), ``mailbox`` (the mailbox handshake, inside ``kick``), ``alive-wait``
    (waiting for the AP's alive state) and ``online`` (the boot CPU's remaining hotplug work);
    on the AP itself, ``ap-startup`` (from its wakeup to reporting alive) and ``ap-online``
    (from being released to ``set_cpu_online``). ``target`` is the AP the span is about.
    """

    cpu: int
    name: str
    start_ns: int
    end_ns: int
    target: int


_I64 = (-(1 << 63), (1 << 63) - 1)


class Spans(MutableSequence[Span]):
    """A boot's spans, kept compactly: five integer arrays instead of a tuple per span (a
    ``compare`` of 8,192 CPUs keeps 16 boots of about 41,000 spans each).

    It is a mutable sequence of :class:`Span`, as the list it replaces was: reading gives
    ``Span`` tuples; ``append``, ``extend``, ``insert``, item assignment, ``del``, ``pop`` and
    ``sort`` work; ``+`` and ``*`` give lists; it compares equal to a list (or another
    ``Spans``) of the same spans. A span whose CPU, times or target are not integers is
    refused whole (``TypeError``), leaving the others as they were. Not a ``list``:
    ``dataclasses.asdict`` keeps it as it is; ``list(spans)`` or ``BootResult.to_json()``
    give plain values."""

    __slots__ = ("_cpu", "_end", "_index", "_name", "_names", "_start", "_target")

    def __init__(self, spans: Iterable[Span] = ()) -> None:
        self._cpu = array("q")
        self._name = array("L")  # an index into _names
        self._start = array("q")
        self._end = array("q")
        self._target = array("q")
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        for span in spans:
            self.append(span)

    def _columns(self) -> tuple[array[int], ...]:
        return self._cpu, self._name, self._start, self._end, self._target

    def _row(self, cpu: object, name: object, start_ns: object, end_ns: object,
             target: object) -> tuple[int, int, int, int, int]:
        """The span's five stored values, checked before anything is stored."""
        for field_name, value in (("cpu", cpu), ("start_ns", start_ns), ("end_ns", end_ns),
                                  ("target", target)):
            if not isinstance(value, int) or isinstance(value, bool) or not (
                    _I64[0] <= value <= _I64[1]):
                raise TypeError(f"span {name!r}: {field_name} must be an int (ns, a CPU "
                                f"number), not {value!r}")
        if not isinstance(name, str):
            raise TypeError(f"span name must be a str, not {name!r}")
        index = self._index.get(name)
        if index is None:
            index = self._index[name] = len(self._names)
            self._names.append(name)
        return cpu, index, start_ns, end_ns, target  # type: ignore[return-value]

    def add(self, cpu: int, name: str, start_ns: int, end_ns: int, target: int) -> None:
        """Append the span ``[start_ns, end_ns)`` called ``name`` on ``cpu`` about ``target``."""
        index = self._index.get(name)
        if index is None:
            self._row(cpu, name, start_ns, end_ns, target)  # a new name: check it all first
            index = self._index[name]
        n = len(self._cpu)
        try:  # the arrays check the values: undo a half-added span
            self._cpu.append(cpu)
            self._name.append(index)
            self._start.append(start_ns)
            self._end.append(end_ns)
            self._target.append(target)
        except (TypeError, OverflowError):
            for column in self._columns():
                del column[n:]
            self._row(cpu, name, start_ns, end_ns, target)  # says which value, in one line
            raise

    def append(self, value: Span) -> None:
        """Append a span."""
        self.add(*value)

    def insert(self, index: int, value: Span) -> None:
        """Insert a span before ``index``."""
        row = self._row(*value)
        for column, item in zip(self._columns(), row, strict=True):
            column.insert(index, item)

    def __len__(self) -> int:
        return len(self._cpu)

    @overload
    def __getitem__(self, index: int) -> Span: ...

    @overload
    def __getitem__(self, index: slice) -> list[Span]: ...

    def __getitem__(self, index: int | slice) -> Span | list[Span]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return Span(self._cpu[index], self._names[self._name[index]], self._start[index],
                    self._end[index], self._target[index])

    @overload
    def __setitem__(self, index: int, value: Span) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Iterable[Span]) -> None: ...

    def __setitem__(self, index: int | slice, value: Span | Iterable[Span]) -> None:
        if isinstance(index, slice):
            spans = list(self)
            spans[index] = list(value)  # type: ignore[arg-type]
            self._replace(spans)
            return
        row = self._row(*value)
        for column, item in zip(self._columns(), row, strict=True):
            column[index] = item

    def __delitem__(self, index: int | slice) -> None:
        for column in self._columns():
            del column[index]

    def _replace(self, spans: list[Span]) -> None:
        fresh = Spans(spans)  # checked whole before this one changes
        self._cpu, self._name, self._start, self._end, self._target = fresh._columns()
        self._names, self._index = fresh._names, fresh._index

    def __iter__(self) -> Iterator[Span]:
        # A generator, as a list-like's iterator was (the arrays are read at the first next());
        # each row made a Span in C by tuple.__new__ (what Span(...) makes, without its
        # Python __new__).
        yield from map(functools.partial(tuple.__new__, Span), self.rows())

    def rows(self) -> Iterator[tuple[int, str, int, int, int]]:
        """The spans as plain ``(cpu, name, start_ns, end_ns, target)`` tuples, in order: for
        reports that read every span of a large boot (made in C, without a :class:`Span`
        each)."""
        cpu, name, start, end, target = self._columns()
        return zip(cpu, map(self._names.__getitem__, name), start, end, target, strict=True)

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        """Sort in place, as ``list.sort``."""
        self._replace(sorted(self, key=key, reverse=reverse))

    def copy(self) -> Spans:
        """An independent copy."""
        copy = Spans()
        copy._cpu, copy._name, copy._start, copy._end, copy._target = (
            array(c.typecode, c) for c in self._columns())
        copy._names, copy._index = list(self._names), dict(self._index)
        return copy

    __copy__ = copy

    def __add__(self, other: Iterable[Span]) -> list[Span]:
        return [*self, *other]

    def __radd__(self, other: Iterable[Span]) -> list[Span]:
        return [*other, *self]

    def __mul__(self, times: int) -> list[Span]:
        return list(self) * times

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list | Spans):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Spans({list(self)!r})"


@dataclass(slots=True)
class CpuResult:
    """Per-CPU outcome."""

    cpu: int
    apic_id: int
    state: CpuState
    #: kernel name of the function that woke it (``acpi_wakeup_cpu``, ...) or None
    wakeup_handler: str | None = None
    #: from the start of the kick to the AP reporting alive, None when it never did
    kick_to_alive_ns: int | None = None
    kick_start_ns: int | None = None
    online_ns: int | None = None
    error: str | None = None


@dataclass(slots=True)
class BootResult:
    """Everything one simulated boot produced."""

    result: ResultKind
    platform: str
    kernel: str
    method: str
    seed: int
    cpus_requested: int
    sim_time_ns: int
    cpus: list[CpuResult]
    log: list[str]
    trace: list[TraceEvent] = field(default_factory=list)
    #: the timeline (a compact :class:`Spans` from a boot; any list of spans from elsewhere)
    spans: Spans | list[Span] = field(default_factory=Spans)
    counters: dict[str, int] = field(default_factory=dict)
    #: what the guest must trust for the wakeup to work, e.g. ["hypervisor INIT/SIPI emulation"]
    trust: list[str] = field(default_factory=list)
    #: why the run failed / is not possible, in one sentence each
    reasons: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    #: wall-clock seconds the simulation took (excluded from determinism checks)
    wall_seconds: float = 0.0
    events: int = 0
    #: for a ``plugin-error`` result: the plugin, its distribution, the callable, the CPU,
    #: the simulated time, the message and the traceback
    plugin_error: dict[str, Any] | None = None
    #: the ``--method`` asked for (``auto``: whatever the kernel chooses); ``method`` is the
    #: one whose handler woke the APs (``mixed`` when several did, ``none`` when none ran)
    method_requested: str = "auto"
    #: CPUs woken per method (a handler no method names counts as ``handler()``)
    methods: dict[str, int] = field(default_factory=dict)
    #: ``mode`` (``serial`` or ``parallel``) and the ``reason`` for it
    bringup: dict[str, str] = field(default_factory=dict)
    #: what was booted (``BootSpec.to_json()``), so the run can be replayed from its JSON
    spec: dict[str, Any] | None = None
    #: what the boot recorded (``kapic.sim.recorder.LEVELS``): ``full`` keeps every trace
    #: event and span; ``spans`` the spans and only the trace events the reasons are made
    #: of; ``summary`` no spans and only those trace events
    recording: str = "full"

    @property
    def cpus_online(self) -> int:
        """CPUs online at the end, the boot CPU included."""
        return sum(1 for c in self.cpus if c.state in ("online", "boot-cpu"))

    def cpus_json(self) -> list[dict[str, Any]]:
        """The ``cpus`` list of :meth:`to_json`: one object per CPU, in order."""
        return [
            {
                "cpu": c.cpu,
                "apic_id": c.apic_id,
                "state": c.state,
                "wakeup_handler": c.wakeup_handler,
                "kick_to_alive_ns": c.kick_to_alive_ns,
                "kick_start_ns": c.kick_start_ns,
                "online_ns": c.online_ns,
                "error": c.error,
            }
            for c in self.cpus
        ]

    def to_json(self) -> dict[str, Any]:
        """The ``kapic boot --json`` object (``schema_version`` 1); ``plugin_error`` is there
        only for a ``plugin-error`` result."""
        out: dict[str, Any] = {
            "schema_version": 1,
            "result": self.result,
            "platform": self.platform,
            "kernel": self.kernel,
            "method": self.method,
            "method_requested": self.method_requested,
            "methods": dict(self.methods),
            "bringup": dict(self.bringup),
            "seed": self.seed,
            "cpus_requested": self.cpus_requested,
            "cpus_online": self.cpus_online,
            "sim_time_ns": self.sim_time_ns,
            "counters": dict(sorted(self.counters.items())),
            "trust": list(self.trust),
            "reasons": list(self.reasons),
            "config": dict(self.config),
            "cpus": self.cpus_json(),
            "log": list(self.log),
            "recording": self.recording,
            "trace": [[e.t_ns, e.cpu, e.kind, e.detail] for e in self.trace],
            "spans": list(map(list, span_rows(self.spans))),
            "events": self.events,
            "wall_seconds": self.wall_seconds,
        }
        if self.plugin_error is not None:
            out["plugin_error"] = dict(self.plugin_error)
        if self.spec is not None:
            out["spec"] = dict(self.spec)
        return out


def span_rows(spans: Iterable[Span]) -> Iterator[tuple[int, str, int, int, int]]:
    """Any spans (a :class:`Spans`, a list of :class:`Span` or of objects with the same
    attributes) as plain ``(cpu, name, start_ns, end_ns, target)`` tuples, in order."""
    if isinstance(spans, Spans):
        return spans.rows()
    return ((s.cpu, s.name, s.start_ns, s.end_ns, s.target) for s in spans)


def state_summary(result: BootResult) -> str:
    """``; 1 hung (CPU1), 2 not-attempted (CPU2, CPU3)``: every AP that is not online, by
    state, so no CPU goes unaccounted for (empty when all are online)."""
    groups: dict[str, list[int]] = {}
    for c in result.cpus:
        if c.state not in ("online", "boot-cpu", "disabled"):
            groups.setdefault(c.state, []).append(c.cpu)
    parts = []
    for state, cpus in groups.items():
        named = ", ".join(f"CPU{n}" for n in cpus[:6]) + (
            f" and {len(cpus) - 6} more" if len(cpus) > 6 else "")
        parts.append(f"{len(cpus)} {state} ({named})")
    return "; " + ", ".join(parts) if parts else ""


def method_label(result: BootResult) -> str:
    """The method that woke the APs, with the breakdown when several did and the method asked
    for when another ran: ``parking (asked for init-sipi)``, ``mixed (a: 3, b: 4)``."""
    label = result.method
    if result.method == "mixed":
        label += " (" + ", ".join(f"{m}: {n}" for m, n in result.methods.items()) + ")"
    asked = result.method_requested
    if asked not in ("auto", result.method) and result.methods and asked not in result.methods:
        label += f" (asked for {asked})"
    return label
