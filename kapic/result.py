"""The data of one simulated boot's outcome, for the report renderers (the policy that
classifies a boot is :mod:`kapic.classify`).

A :class:`BootResult` holds everything a report needs; nothing in it refers back to the
machine, so results can be pickled, compared and rendered in another process.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, overload

__all__ = ["BootResult", "CpuResult", "Span", "Spans", "TraceEvent", "method_label",
           "state_summary"]

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


class Spans(Sequence[Span]):
    """A boot's spans, kept compactly: five integer arrays instead of a tuple per span (a
    ``compare`` of 8,192 CPUs keeps 16 boots of about 41,000 spans each). Reading gives
    :class:`Span` tuples; it compares equal to any sequence of the same spans, and
    ``append`` adds one."""

    __slots__ = ("_cpu", "_end", "_index", "_name", "_names", "_start", "_target")

    def __init__(self, spans: Iterable[Span] = ()) -> None:
        self._cpu = array("q")
        self._name = array("H")  # an index into _names
        self._start = array("q")
        self._end = array("q")
        self._target = array("q")
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        for span in spans:
            self.append(span)

    def add(self, cpu: int, name: str, start_ns: int, end_ns: int, target: int) -> None:
        """Append the span ``[start_ns, end_ns)`` called ``name`` on ``cpu`` about ``target``."""
        index = self._index.get(name)
        if index is None:
            index = self._index[name] = len(self._names)
            self._names.append(name)
        self._cpu.append(cpu)
        self._name.append(index)
        self._start.append(start_ns)
        self._end.append(end_ns)
        self._target.append(target)

    def append(self, span: Span) -> None:
        """Append ``span``."""
        self.add(*span)

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

    def __iter__(self) -> Iterator[Span]:
        names = self._names
        for cpu, name, start, end, target in zip(self._cpu, self._name, self._start, self._end,
                                                 self._target, strict=True):
            yield Span(cpu, names[name], start, end, target)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
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
            "cpus": [
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
            ],
            "log": list(self.log),
            "recording": self.recording,
            "trace": [[e.t_ns, e.cpu, e.kind, e.detail] for e in self.trace],
            "spans": [[s.cpu, s.name, s.start_ns, s.end_ns, s.target] for s in self.spans],
            "events": self.events,
            "wall_seconds": self.wall_seconds,
        }
        if self.plugin_error is not None:
            out["plugin_error"] = dict(self.plugin_error)
        if self.spec is not None:
            out["spec"] = dict(self.spec)
        return out


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
