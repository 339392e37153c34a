"""The programmatic entry point: describe a boot, run it, get a :class:`BootResult`."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kapic.acpi.builder import MAX_MADT_CPUS, build_madt, describe_madt
from kapic.acpi.madt import Madt
from kapic.acpi.walker import parse_madt
from kapic.errors import ConfigError, InputError, MadtError, MissingFirmwareError, PluginError
from kapic.faults.model import Fault, FaultContext, ParamValue, parse_fault
from kapic.kernel.config import KernelConfig
from kapic.machine import DEFAULT_WATCHDOG_NS, Machine
from kapic.platforms.model import Platform
from kapic.plugin import PluginHost
from kapic.result import BootResult, ResultKind
from kapic.sim import collector
from kapic.versions import parse_kernel_version

__all__ = [
    "DEFAULT_CPUS",
    "BootSpec",
    "build_machine",
    "check_faults",
    "compare_plan",
    "mark_unavailable",
    "not_possible",
    "plugin_error",
    "run_boot",
]

#: CPUs of the built-in default machine (``kapic boot`` and ``kapic compare`` without --cpus)
DEFAULT_CPUS = 8
MAX_CPUS = MAX_MADT_CPUS


@dataclass(frozen=True)
class BootSpec:
    """What to boot: a platform, a kernel version, a method, a machine (CPUs or a MADT).

    ``kernel`` is what ``--kernel`` takes: a release (``"6.12"``), ``"latest"`` or ``"seed"``.
    """

    platform: str = "bare-metal"
    kernel: str = "latest"
    method: str | None = None
    cpus: int | None = None
    madt: str | None = None
    #: which MADT of an acpidump text ``madt`` names, from 1 (None: the first, as Linux)
    table: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0
    watchdog_ns: int | None = None
    firmware: str | None = None
    relaxed_memory: bool = False
    #: wall-clock seconds the boot may take (None: the machine's default)
    wall_budget_s: float | None = None
    #: fault scenarios, as ``--fault`` takes them: ``NAME[:KEY=VALUE,...]``
    faults: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """Every field, as ``kapic boot --json`` records it (``--replay`` reads it back)."""
        return {
            "platform": self.platform, "kernel": self.kernel, "method": self.method,
            "cpus": self.cpus, "madt": self.madt, "table": self.table,
            "config": dict(self.config),
            "params": dict(self.params), "seed": self.seed, "watchdog_ns": self.watchdog_ns,
            "firmware": self.firmware, "relaxed_memory": self.relaxed_memory,
            "wall_budget_s": self.wall_budget_s, "faults": list(self.faults),
        }

    @classmethod
    def from_json(cls, obj: object, source: str = "<json>") -> BootSpec:
        """A spec from :meth:`to_json`'s object; unknown or wrongly typed keys are an error."""
        if not isinstance(obj, dict):
            raise InputError("the boot's 'spec' is not an object", source=source, field="spec")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - set(names))
        if unknown:
            raise InputError(f"unknown key {unknown[0]!r}", source=source,
                             field=f"spec.{unknown[0]}")
        kinds: dict[str, type | tuple[type, ...]] = {
                 "platform": str, "kernel": str, "method": (str, type(None)),
                 "cpus": (int, type(None)), "madt": (str, type(None)),
                 "table": (int, type(None)), "config": dict,
                 "params": dict, "seed": int, "watchdog_ns": (int, type(None)),
                 "firmware": (str, type(None)), "relaxed_memory": bool,
                 "wall_budget_s": (int, float, type(None)), "faults": list}
        for key, value in obj.items():
            if not isinstance(value, kinds[key]) or (
                    isinstance(value, bool) and kinds[key] in (int, (int, type(None)))):
                raise InputError(f"{value!r} is not of the right type", source=source,
                                 field=f"spec.{key}")
        if not all(isinstance(f, str) for f in obj.get("faults", [])):
            raise InputError("faults must be strings", source=source, field="spec.faults")
        return cls(**{**obj, "faults": tuple(obj.get("faults", ()))})


def load_madt(path: str, host: PluginHost | None = None, table: int | None = None) -> Madt:
    """A MADT of a file (raw table, acpidump text, or ``-`` for stdin), decoded with the
    subtable types the plugins of ``host`` add: the *table*-th (from 1), else the first."""
    return load_madt_noted(path, host, table)[0]


def load_madt_noted(path: str, host: PluginHost | None = None, table: int | None = None, *,
                    name: str | None = None) -> tuple[Madt, str]:
    """:func:`load_madt`, and the line saying which table of several was taken (or "");
    *name* replaces the file's name in messages (a spooled standard input keeps its own)."""
    from kapic.acpi.loader import load_madt_choice

    types = host.madt_types() if host is not None else None
    _, madt, note = load_madt_choice(path, table, types, name=name)
    return madt, note


def build_machine(spec: BootSpec, plugins: PluginHost | None = None, *,
                  recording: str = "full") -> Machine:
    """Make the machine ``spec`` describes, ready to :meth:`~Machine.boot`.

    ``recording``: ``full`` (every trace event and span), ``spans`` (what compare and its
    plot use) or ``summary`` (neither): a boot records what its consumer reads."""
    with collector.paused():  # hundreds of thousands of objects, no cycle to free
        return _build_machine(spec, plugins, recording)


def _build_machine(spec: BootSpec, plugins: PluginHost | None, recording: str) -> Machine:
    from kapic.hw.memory import Visibility

    host = plugins or PluginHost()
    declared = host.platform(spec.platform)
    faults = _apply_faults(spec, host, declared)
    fault_params = {k: v for ctx in faults.values() for k, v in ctx.params.items()}
    platform = declared.with_params({**spec.params, **fault_params})
    try:
        firmware = host.firmware(spec.firmware or platform.firmware)
    except ConfigError as exc:
        if spec.firmware:
            raise MissingFirmwareError(str(exc)) from None
        raise MissingFirmwareError(
            f"platform {platform.name!r} of {host.owner(declared)} parks its APs in the firmware "
            f"model {platform.firmware!r}, which no installed plugin provides (blocked, or "
            f"missing from its plugin?); {str(exc).removeprefix('unknown firmware model ')}"
        ) from None
    version = parse_kernel_version(spec.kernel)
    config = KernelConfig.from_options(spec.config).check(version)
    if spec.madt is not None and spec.cpus is not None:
        raise ConfigError("give --cpus or --madt, not both")
    if spec.table is not None and spec.madt is None:
        raise ConfigError(f"--table {spec.table} picks one MADT of --madt FILE: give --madt")
    boundary = host.boundary
    madt_note = ""
    if spec.madt is not None:
        madt, madt_note = load_madt_noted(spec.madt, host, spec.table)
        _check_processors(madt, spec.madt)
        _check_mailbox(madt, spec.madt)
    else:
        cpus = DEFAULT_CPUS if spec.cpus is None else spec.cpus
        if not 1 <= cpus <= MAX_CPUS:
            raise ConfigError(f"--cpus {cpus}: must be between 1 and {MAX_CPUS}")
        # A described machine gets the table its firmware would publish (TDVF appends the
        # wakeup structure); a table given by the user is the firmware's, taken as is.
        madt = boundary.call(f"firmware {firmware.name!r} publish_madt", firmware.publish_madt,
                             describe_madt(cpus=cpus), owner=host.owner(firmware),
                             check=_madt_check)
    method = "auto"
    if spec.method is not None:
        wm = host.method(spec.method)
        madt = boundary.call(f"WakeupMethod {wm.name!r} force_madt", wm.force_madt, madt,
                             platform, check=_madt_check)
        method = wm.name
    firmware_owner = host.owner(firmware)
    published = madt  # what the firmware itself knows (a fault may change what the OS gets)
    for name, ctx in faults.items():
        owner = host.owner(host.fault(name))
        for transform in ctx.madt_transforms:
            madt = boundary.call(f"fault {name!r} MADT change", transform, madt, owner=owner,
                                 check=_madt_check)
        for corrupt in ctx.byte_transforms:
            data = boundary.call(f"fault {name!r} table bytes", corrupt, build_madt(madt),
                                 owner=owner, check=_bytes_check)
            madt = parse_madt(data, f"the MADT as fault {name!r} left it",
                              types=host.madt_types())
        for variant in ctx.firmware_variants:
            firmware = boundary.call(f"fault {name!r} firmware", variant, firmware, owner=owner)
    machine = Machine(
        madt=madt,
        platform=platform,
        firmware=firmware,
        version=version,
        config=config,
        plugins=host,
        seed=spec.seed,
        watchdog_ns=spec.watchdog_ns or DEFAULT_WATCHDOG_NS,
        visibility=(Visibility(relaxed=True)
                    if spec.relaxed_memory or any(c.relaxed for c in faults.values()) else None),
        method=method,
        firmware_owner=firmware_owner,
        firmware_madt=published,
        fault_hooks=[(host.owner(host.fault(name)), name, ctx) for name, ctx in faults.items()],
        **({} if spec.wall_budget_s is None else {"wall_budget_s": spec.wall_budget_s}),
        recording=recording,
    )
    machine.spec_json = spec.to_json()
    machine.madt_note = madt_note
    return machine


def check_faults(texts: Sequence[str], host: PluginHost
                 ) -> dict[str, tuple[Fault, dict[str, ParamValue]]]:
    """Each ``--fault NAME[:K=V,...]`` text parsed: its fault and parameter values, by name.
    Raises :class:`ConfigError` for an unknown fault or parameter, or a fault given twice."""
    out: dict[str, tuple[Fault, dict[str, ParamValue]]] = {}
    for text in texts:
        name, raw = parse_fault(text)
        fault = host.fault(name)
        if name in out:
            raise ConfigError(f"--fault {name} given twice")
        out[name] = (fault, fault.values(raw))
    return out


def _apply_faults(spec: BootSpec, host: PluginHost, platform: Platform
                  ) -> dict[str, FaultContext]:
    """Each fault of ``spec`` applied to a context of its own, by name (checked first)."""
    out: dict[str, FaultContext] = {}
    for name, (fault, values) in check_faults(spec.faults, host).items():
        ctx = FaultContext(spec.seed, name, platform)
        host.boundary.call(f"fault {name!r} apply", fault.apply, ctx, values,
                           owner=host.owner(fault))
        out[name] = ctx
    return out


def _check_processors(madt: Madt, source: str) -> None:
    """A table kapic can boot: an enabled processor, and no more CPUs than it models."""
    from kapic.acpi.cpus import madt_cpu_entries

    enabled = {e.apic_id for e in madt_cpu_entries(madt) if e.enabled}
    field = "Processor Local APIC / Processor Local x2APIC entries"
    if not enabled:
        raise MadtError("no enabled processor entry: nothing to boot", source=source,
                        field=field)
    if len(enabled) > MAX_CPUS:
        raise MadtError(f"{len(enabled)} enabled processors: kapic models at most {MAX_CPUS} "
                        "CPUs (a TDX guest has at most 65535 vCPUs, NR_CPUS is at most 8192 "
                        "by default)", source=source, field=field)


def _check_mailbox(madt: Madt, source: str) -> None:
    """A wakeup mailbox kapic's memory can hold: its 4 KiB page below 2**52 (the largest
    physical address width x86-64 defines). Alignment is not checked: the kernel does not,
    and the ``mailbox-unaligned`` fault shows what follows."""
    from kapic.acpi.wakeup import MpWakeup
    from kapic.hw.memory import PAGE_SIZE, PHYS_ADDR_LIMIT

    for entry in madt.subtables:
        if isinstance(entry, MpWakeup) and entry.mailbox_address + PAGE_SIZE > PHYS_ADDR_LIMIT:
            raise MadtError(
                f"mailbox 0x{entry.mailbox_address:x}: its {PAGE_SIZE}-byte page does not fit "
                f"below 0x{PHYS_ADDR_LIMIT:x}, the end of the 52-bit physical address space",
                source=source, offset=entry.offset + 8, field=f"{entry.NAME}.mailbox_address")


def run_boot(
    spec: BootSpec,
    *,
    plugins: PluginHost | None = None,
    progress: Callable[[int, int], None] | None = None,
    recording: str = "full",
) -> BootResult:
    """Build the machine ``spec`` describes and boot it (``recording`` as for
    :func:`build_machine`)."""
    # The machine is a web of reference cycles (CPUs, bus, kernel, engine) that only the cyclic
    # collector frees. With the collector paused from its making to its end, none of it grows
    # old: one young-generation collection frees it (about 2 us a CPU), where it would
    # otherwise wait for a full collection (18 MiB at 65,536 CPUs, kept across the runs of a
    # comparison).
    with collector.paused():
        machine = build_machine(spec, plugins, recording=recording)
        machine.progress = progress
        result = machine.boot()
        del machine
    gc.collect(0)
    return result


def compare_plan(
    platforms: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    plugins: PluginHost | None = None,
    *,
    same_platform: bool = False,
    firmware: str | None = None,
) -> list[tuple[str, str]]:
    """(method, platform) pairs ``kapic compare`` runs, methods in name order.

    A method is paired with every platform where it applies; a method that cannot work on a
    platform is still listed there (its run shows why) unless platforms were narrowed to
    exclude it. ``same_platform``: only the methods that apply, only on platforms where at
    least two do (a like-for-like comparison of methods). ``firmware``: the firmware model the
    runs will use instead of each platform's own (``--firmware``).
    """
    host = plugins or PluginHost()
    all_platforms = [p.name for p in host.platforms()]
    all_methods = sorted(m.name for m in host.wakeup_methods())
    for name in platforms or ():
        host.platform(name)
    for name in methods or ():
        host.method(name)
    chosen_p = [p for p in all_platforms if not platforms or p in platforms]
    chosen_m = [m for m in all_methods if not methods or m in methods]
    if same_platform:
        applies = {p: [m for m in chosen_m if _unavailable(host, m, p, firmware) is None]
                   for p in chosen_p}
        pairs = [(m, p) for m in chosen_m for p in chosen_p if len(applies[p]) > 1
                 and m in applies[p]]
        if not pairs:
            raise ConfigError("--same-platform: no platform has two wakeup methods that apply "
                              "(" + "; ".join(f"{p}: {', '.join(ms) or 'none'}"
                                              for p, ms in applies.items()) + ")")
        return pairs
    plan: list[tuple[str, str]] = []
    for m in chosen_m:
        wm = host.method(m)
        for p in chosen_p:
            reason = _unavailable(host, wm.name, p, firmware)
            # Show a method where it cannot work only when it is the platform's only chance
            # to be compared with something (INIT/SIPI on tdx), or when asked for explicitly.
            if reason is None or methods or wm.fallback_handler is not None:
                plan.append((m, p))
    return plan


def mark_unavailable(result: BootResult, plugins: PluginHost | None = None) -> BootResult:
    """For ``kapic compare``: a run of a method its platform cannot support becomes
    ``not-applicable`` with the reason first (the kernel's failed attempt kept after it)."""
    host = plugins or PluginHost()
    asked = result.method_requested
    if asked == "auto":
        return result
    why = _unavailable(host, asked, result.platform, result.config.get("firmware"))
    if why is not None and result.result not in ("ok", "plugin-error"):
        rest = [r for r in result.reasons if r != why]
        if rest:
            why = f"{why}; the kernel's attempt: {'; '.join(rest)}"
        result.result = "not-applicable"
        result.reasons = [why]
    return result


def _bytes_check(value: object) -> str | None:
    return None if isinstance(value, bytes | bytearray) else f"returned {value!r}, expected bytes"


def _madt_check(value: object) -> str | None:
    return None if isinstance(value, Madt) else f"returned {value!r}, expected a Madt"


def _unavailable(host: PluginHost, method: str, platform: str, firmware: object) -> str | None:
    """Why ``method`` cannot work on ``platform`` with its firmware (the platform's own, or the
    one named), asked through the plugin boundary."""
    wm = host.method(method)
    pf = host.platform(platform)
    try:
        fw = host.firmware(str(firmware) if firmware else pf.firmware)
    except ConfigError:
        return None  # the platform's firmware is missing: the run says so itself
    check = _reason_check
    why: str | None = host.boundary.call(f"WakeupMethod {wm.name!r} unavailable", wm.unavailable,
                                         pf, fw, check=check)
    return why


def _reason_check(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return None
    return f"returned {value!r}, expected None or a reason (str)"


def _kernel_name(text: str) -> str:
    """The release a ``--kernel`` text names ("latest" -> "7.2"), as results name it."""
    try:
        return parse_kernel_version(text).name
    except ConfigError:
        return text


def _unbooted(spec: BootSpec, kind: ResultKind, reason: str,
              plugin_error: dict[str, Any] | None = None) -> BootResult:
    """The result of a run that ended before its boot started."""
    return BootResult(
        result=kind,
        platform=spec.platform,
        kernel=_kernel_name(spec.kernel),
        method=spec.method or "auto",
        seed=spec.seed,
        cpus_requested=spec.cpus or 0,
        sim_time_ns=0,
        cpus=[],
        log=[],
        reasons=[reason],
        plugin_error=plugin_error,
        method_requested=spec.method or "auto",
    )


def plugin_error(spec: BootSpec, error: PluginError) -> BootResult:
    """The result of a run a plugin broke before the boot started (``kapic compare`` shows
    it as a ``plugin-error`` row)."""
    return _unbooted(spec, "plugin-error", str(error), error.to_json())


def not_possible(spec: BootSpec, why: str) -> BootResult:
    """The result of a run that could not even be set up (``kapic compare`` shows it)."""
    return _unbooted(spec, "not-applicable", why)
