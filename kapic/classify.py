"""Classify a finished boot: the policy that turns what the recorder and the kernel hold into
a :class:`~kapic.result.BootResult` (the data, in :mod:`kapic.result`).

The result is ``plugin-error`` when a plugin's callable raised or returned the wrong type,
``hung`` when the watchdog (or the event limit) stopped the boot, ``cpu-failed`` when an AP
did not come up, and ``ok`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from kapic.result import BootResult, CpuResult, CpuState, ResultKind

if TYPE_CHECKING:
    from kapic.boundary import PluginFault
    from kapic.firmware.model import FirmwareModel
    from kapic.kernel.kernel import Kernel, KernelCpu
    from kapic.methods import WakeupMethod
    from kapic.platforms.model import Platform
    from kapic.plugin import PluginHost
    from kapic.sim.engine import Engine
    from kapic.sim.recorder import Recorder


class FinishedBoot(Protocol):
    """What classifying a boot reads (a :class:`~kapic.machine.Machine` after its run)."""

    @property
    def kernel(self) -> Kernel: ...
    @property
    def recorder(self) -> Recorder: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def plugins(self) -> PluginHost: ...
    @property
    def platform(self) -> Platform: ...
    @property
    def firmware(self) -> FirmwareModel: ...
    @property
    def method(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def bp_done(self) -> int | None: ...
    @property
    def offline_errors(self) -> list[str]: ...
    @property
    def spec_json(self) -> dict[str, Any] | None: ...

__all__ = ["FinishedBoot", "classify_boot", "cpu_list", "format_log_line"]


def format_log_line(t_ns: int, message: str) -> str:
    """A dmesg line: ``[    0.741153] message`` (simulated time since the kernel started)."""
    us = t_ns // 1000
    return f"[{us // 1_000_000:5d}.{us % 1_000_000:06d}] {message}"


def cpu_list(cpus: Sequence[CpuResult], most: int = 8) -> str:
    """``CPU1 (APIC 0x1), CPU2 (APIC 0x2) and 5 more``: every CPU up to ``most``."""
    named = ", ".join(f"CPU{c.cpu} (APIC 0x{c.apic_id:x})" for c in cpus[:most])
    rest = len(cpus) - most
    return f"{named} and {rest} more" if rest > 0 else named


def _cpu_state(k: KernelCpu, hung: bool, fault: PluginFault | None) -> CpuState:
    if k.cpu == 0:
        return "boot-cpu"
    if not k.present:
        return "disabled"
    if k.state in ("online", "offline", "failed", "kicked"):
        return k.state  # type: ignore[return-value]
    if fault is not None and (k.state == "kicking" or k.cpu == fault.cpu):
        return "failed"  # the plugin's fault ended the boot while it handled this CPU
    if k.state == "kicking" and hung:
        return "hung"
    return "not-attempted"


def _cpu_results(kernel: Kernel, hung: bool, fault: PluginFault | None) -> list[CpuResult]:
    out = []
    for k in kernel.cpus:
        state = _cpu_state(k, hung, fault)
        error = k.error
        if state == "failed" and fault is not None and error is None:
            error = f"{fault.what}: {fault.problem}"  # said once, in the fault's reason
        alive = (
            k.alive_ns - k.kick_start_ns
            if k.alive_ns is not None and k.kick_start_ns is not None and not k.abandoned
            else None
        )
        out.append(CpuResult(k.cpu, k.apic_id, state, k.wakeup_handler, alive,
                             k.kick_start_ns, k.online_ns, error))
    return out


def _failure_reasons(cpus: Sequence[CpuResult], fault: PluginFault | None,
                     owner: Callable[[str], str]) -> list[str]:
    """One reason per distinct failure, counting CPUs and naming them, the hook and its plugin."""
    groups: dict[tuple[str, str | None], list[CpuResult]] = {}
    for c in cpus:
        if c.state != "failed":
            continue  # a hung CPU is named by the watchdog's message
        if fault is not None and c.error == f"{fault.what}: {fault.problem}":
            continue  # the fault's own reason names this CPU
        groups.setdefault((c.error or c.state, c.wakeup_handler), []).append(c)
    reasons = []
    for (error, handler), group in groups.items():
        n = len(group)
        hook = f", woken with {handler}() of {owner(handler)}" if handler else ""
        reasons.append(f"{n} CPU{'s' if n != 1 else ''} ({cpu_list(group)}){hook}: {error}")
    return reasons


def _hung_message(kernel: Kernel, owner: Callable[[str], str], hung_why: str) -> str:
    """What the boot CPU was doing when the watchdog stopped it."""
    stuck = next((c for c in kernel.cpus if c.state == "kicking"), None)
    where = ""
    if stuck is not None:
        handler = stuck.wakeup_handler or "?"
        where = (f" while waking CPU{stuck.cpu} (APIC 0x{stuck.apic_id:x}) with {handler}() "
                 f"of {owner(handler)}")
        bp = kernel.bp.process
        if bp is not None and bp.alive and bp.watching:
            words = ", ".join(f"0x{a:x}" for a in bp.watching)
            where += f", spinning (SPIN) until {words} is written"
    elif kernel.bp_waits_for is not None:
        kcpu, what = kernel.bp_waits_for
        where = f" waiting for CPU{kcpu.cpu} (APIC 0x{kcpu.apic_id:x}) to {what}"
    return f"boot CPU stuck{where}; {hung_why}"


def _methods_run(machine: FinishedBoot, cpus: Sequence[CpuResult]
                 ) -> tuple[str, dict[str, int], list[WakeupMethod]]:
    """The method that woke the APs (``mixed``, ``none``), CPUs per method, the methods."""
    by_handler = {m.handler_name: m for m in machine.plugins.wakeup_methods()}
    counts: dict[str, int] = {}
    used: dict[str, WakeupMethod] = {}
    for c in cpus:
        if c.wakeup_handler is None:
            continue
        wm = by_handler.get(c.wakeup_handler)
        name = wm.name if wm is not None else f"{c.wakeup_handler}()"
        counts[name] = counts.get(name, 0) + 1
        if wm is not None:
            used[wm.name] = wm
    if not counts:  # nothing ran: the row keeps the name it was asked for
        return (machine.method if machine.method != "auto" else "none"), counts, []
    method = next(iter(counts)) if len(counts) == 1 else "mixed"
    return method, counts, list(used.values())


def classify_boot(machine: FinishedBoot, hung_why: str | None, fault: PluginFault | None,
                  wall: float) -> BootResult:
    """The result of ``machine``'s boot as it stands."""
    kernel = machine.kernel
    kernel.flush_cont()
    recorder = machine.recorder
    boundary = machine.plugins.boundary
    now = machine.engine.now
    reasons = list(recorder.reasons)
    log = list(recorder.log)

    def owner(handler: str) -> str:
        fn = next((getattr(d, f) for d in kernel.registry.drivers
                   for f in ("wakeup_secondary_cpu_64", "wakeup_secondary_cpu")
                   if getattr(getattr(d, f), "__name__", None) == handler), None)
        fallback = kernel.wakeup_secondary_cpu_via_init
        if fn is None and getattr(fallback, "__name__", None) == handler:
            fn = fallback
        return str(boundary.owner_of(fn)) if fn is not None else "an unknown plugin"

    if fault is not None:
        log.append((now, "err", f"kapic: {fault}"))
        reasons.append(str(fault))
    for name, exc in machine.engine.failures:
        reasons.append(f"{name}: model raised {type(exc).__name__}: {exc}")
    if hung_why is not None:
        message = _hung_message(kernel, owner, hung_why)
        log.append((now, "err", f"kapic: watchdog: {message}"))
        reasons.append(message)
    cpus = _cpu_results(kernel, hung_why is not None, fault)
    failures = _failure_reasons(cpus, fault, owner) + list(machine.offline_errors)
    reasons += failures
    for event in recorder.trace:
        if event.kind == "ap-late-alive":
            reasons.append(
                f"CPU{event.cpu} came alive at {event.t_ns / 1e6:.3f} ms, after the kernel gave up "
                "on it: it runs kernel code nobody waits for"
            )
    kind: ResultKind
    if fault is not None:
        kind = "plugin-error"
    elif hung_why is not None:
        kind = "hung"
    else:
        kind = "cpu-failed" if failures else "ok"
    method, methods, used = _methods_run(machine, cpus)
    requested = machine.method
    if requested != "auto" and methods and requested not in methods:
        ran = ", ".join(f"{name} ({n} CPU{'s' if n != 1 else ''})" for name, n in methods.items())
        why = ("a hook installed at boot wins over the kernel's INIT/SIPI fallback"
               if method != "init-sipi" else
               "no hook was installed, so do_boot_cpu() fell back to INIT/SIPI")
        reasons.append(f"--method {requested} was asked for, but the kernel woke the CPUs with "
                       f"{ran}: {why}")
    platform = machine.platform
    trust = [boundary.call(f"WakeupMethod {m.name!r} trust", m.trust, platform) for m in used]
    if kind not in ("ok", "plugin-error"):
        for m in used:
            why = boundary.call(f"WakeupMethod {m.name!r} unavailable", m.unavailable,
                                platform, machine.firmware)
            if why is not None:
                reasons.insert(0, why)
    sim_time = machine.bp_done if machine.bp_done is not None else now
    mode, mode_why = kernel.bringup or ("serial", "no AP was brought up")
    return BootResult(
        result=kind,
        platform=machine.platform.name,
        kernel=kernel.version.name,
        method=method,
        seed=machine.seed,
        cpus_requested=sum(1 for k in kernel.cpus if k.present),
        sim_time_ns=sim_time,
        cpus=cpus,
        log=[format_log_line(t, m) for t, level, m in log if level != "debug"],
        trace=sorted(recorder.trace, key=lambda e: e.t_ns),
        spans=recorder.spans.copy(),  # each result its own (the recorder goes on)
        recording=recorder.level,
        counters=dict(recorder.counters),
        trust=trust,
        reasons=list(dict.fromkeys(reasons)),
        config={**kernel.config.as_dict(), "firmware": machine.firmware.name},
        wall_seconds=wall,
        events=machine.engine.events,
        plugin_error=None if fault is None else fault.to_json(),
        method_requested=requested,
        methods=methods,
        bringup={"mode": mode, "reason": mode_why},
        spec=None if machine.spec_json is None else dict(machine.spec_json),
    )
