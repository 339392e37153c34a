"""The programmatic entry point: describe a boot, run it, get a :class:`BootResult`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kapic.acpi.builder import describe_madt
from kapic.acpi.madt import Madt
from kapic.errors import ConfigError, MissingFirmwareError
from kapic.kernel.config import KernelConfig, get_profile
from kapic.machine import DEFAULT_WATCHDOG_NS, Machine
from kapic.plugin import PluginHost
from kapic.result import BootResult

__all__ = ["BootSpec", "build_machine", "compare_plan", "mark_unavailable", "not_possible", "run_boot"]

DEFAULT_CPUS = 8
MAX_CPUS = 65536


@dataclass(frozen=True)
class BootSpec:
    """What to boot: a platform, a kernel profile, a method, a machine (CPUs or a MADT)."""

    platform: str = "bare-metal"
    kernel: str = "upstream"
    method: str | None = None
    cpus: int | None = None
    madt: str | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0
    watchdog_ns: int | None = None
    firmware: str | None = None
    relaxed_memory: bool = False


def load_madt(path: str) -> Madt:
    """The first MADT of a file (raw table, acpidump text, or ``-`` for stdin)."""
    from kapic.acpi.loader import load_madts

    return load_madts(path)[0][1]


def build_machine(spec: BootSpec, plugins: PluginHost | None = None) -> Machine:
    """Make the machine ``spec`` describes, ready to :meth:`~Machine.boot`."""
    from kapic.hw.memory import Visibility

    host = plugins or PluginHost()
    platform = host.platform(spec.platform).with_params(spec.params)
    try:
        firmware = host.firmware(spec.firmware or platform.firmware)
    except ConfigError as exc:
        raise MissingFirmwareError(str(exc)) from None
    profile = get_profile(spec.kernel)
    config = KernelConfig.from_options(spec.config).check(profile)
    if spec.madt is not None and spec.cpus is not None:
        raise ConfigError("give --cpus or --madt, not both")
    if spec.madt is not None:
        madt = load_madt(spec.madt)
    else:
        cpus = DEFAULT_CPUS if spec.cpus is None else spec.cpus
        if not 1 <= cpus <= MAX_CPUS:
            raise ConfigError(f"--cpus {cpus}: must be between 1 and {MAX_CPUS}")
        # A described machine gets the table its firmware would publish (TDVF appends the
        # wakeup structure); a table given by the user is the firmware's, taken as is.
        madt = firmware.publish_madt(describe_madt(cpus=cpus))
    method = "auto"
    if spec.method is not None:
        wm = host.method(spec.method)
        madt = wm.force_madt(madt, platform)
        method = wm.name
    return Machine(
        madt=madt,
        platform=platform,
        firmware=firmware,
        profile=profile,
        config=config,
        plugins=host,
        seed=spec.seed,
        watchdog_ns=spec.watchdog_ns or DEFAULT_WATCHDOG_NS,
        visibility=Visibility(relaxed=True) if spec.relaxed_memory else None,
        method=method,
    )


def run_boot(
    spec: BootSpec,
    *,
    plugins: PluginHost | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BootResult:
    """Build the machine ``spec`` describes and boot it."""
    machine = build_machine(spec, plugins)
    machine.progress = progress
    return machine.boot()


def compare_plan(
    platforms: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    plugins: PluginHost | None = None,
) -> list[tuple[str, str]]:
    """(method, platform) pairs ``kapic compare`` runs, methods in name order.

    A method is paired with every platform where it applies; a method that cannot work on a
    platform is still listed there (its run shows why) unless platforms were narrowed to
    exclude it.
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
    plan: list[tuple[str, str]] = []
    for m in chosen_m:
        wm = host.method(m)
        for p in chosen_p:
            reason = wm.unavailable(host.platform(p))
            # Show a method where it cannot work only when it is the platform's only chance
            # to be compared with something (INIT/SIPI on tdx), or when asked for explicitly.
            if reason is None or methods or wm.fallback_handler is not None:
                plan.append((m, p))
    return plan


def mark_unavailable(result: BootResult, plugins: PluginHost | None = None) -> BootResult:
    """For ``kapic compare``: a run of a method its platform cannot support becomes
    ``not-applicable`` with the reason first (the kernel's failed attempt kept after it)."""
    host = plugins or PluginHost()
    why = host.method(result.method).unavailable(host.platform(result.platform))
    if why is not None and result.result != "ok":
        rest = [r for r in result.reasons if r != why]
        if rest:
            more = f" (and {len(rest) - 1} more)" if len(rest) > 1 else ""
            why = f"{why}; the kernel's attempt: {rest[0]}{more}"
        result.result = "not-applicable"
        result.reasons = [why]
    return result


def not_possible(spec: BootSpec, why: str) -> BootResult:
    """The result of a run that could not even be set up (``kapic compare`` shows it)."""
    return BootResult(
        result="not-applicable",
        platform=spec.platform,
        kernel=spec.kernel,
        method=spec.method or "auto",
        seed=spec.seed,
        cpus_requested=spec.cpus or 0,
        sim_time_ns=0,
        cpus=[],
        log=[],
        reasons=[why],
    )
