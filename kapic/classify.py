"""Classify a finished boot: the policy that turns what the recorder and the kernel hold into
a :class:`~kapic.result.BootResult` (the data, in :mod:`kapic.result`).

The result is ``plugin-error`` when a plugin's callable raised or returned the wrong type,
``hung`` when the watchdog (or the event limit) stopped the boot, ``cpu-failed`` when an AP
did not come up, and ``ok`` otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from kapic.result import BootResult, CpuResult, CpuState, ResultKind

if TYPE_CHECKING:
    from kapic.boundary import PluginFault
    from kapic.firmware.model import FirmwareModel
    from kapic.kernel.kernel import Kernel
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

__all__ = ["FinishedBoot", "classify_boot", "format_log_line"]


def format_log_line(t_ns: int, message: str) -> str:
    """A dmesg line: ``[    0.741153] message`` (simulated time since the kernel started)."""
    us = t_ns // 1000
    return f"[{us // 1_000_000:5d}.{us % 1_000_000:06d}] {message}"


def classify_boot(machine: FinishedBoot, hung_why: str | None, fault: PluginFault | None,
                  wall: float) -> BootResult:
    """The result of ``machine``'s boot as it stands."""
    kernel = machine.kernel
    recorder = machine.recorder
    boundary = machine.plugins.boundary
    now = machine.engine.now
    reasons = list(recorder.reasons)
    log = list(recorder.log)
    if fault is not None:
        message = f"kapic: {fault}"
        log.append((now, "err", message))
        reasons.append(str(fault))
    for name, exc in machine.engine.failures:
        reasons.append(f"{name}: model raised {type(exc).__name__}: {exc}")
    stuck = next((c for c in kernel.cpus if c.state == "kicking"), None)
    if hung_why is not None:
        where = (
            f" while waking CPU{stuck.cpu} (APIC 0x{stuck.apic_id:x}) with {stuck.wakeup_handler}()"
            if stuck is not None
            else ""
        )
        bp = kernel.bp.process
        if stuck is not None and bp is not None and bp.alive and bp.watching:
            words = ", ".join(f"0x{a:x}" for a in bp.watching)
            where += f", spinning (SPIN) until {words} is written"
        message = f"kapic: watchdog: boot CPU stuck{where}; {hung_why}"
        log.append((now, "err", message))
        reasons.append(message.removeprefix("kapic: watchdog: "))
    cpus: list[CpuResult] = []
    failed = False
    for k in kernel.cpus:
        state: CpuState
        if k.cpu == 0:
            state = "boot-cpu"
        elif not k.present:
            state = "disabled"
        elif k.state == "online":
            state = "online"
        elif k.state == "offline":
            state = "offline"
        elif fault is not None and (k.state == "kicking" or k.cpu == fault.cpu):
            state = "failed"  # the plugin's fault ended the boot while it handled this CPU
        elif k.state == "kicking" and hung_why is not None:
            state = "hung"
        elif k.state == "failed":
            state = "failed"
        elif k.state == "kicked":
            state = "kicked"
        else:
            state = "not-attempted"
        error = k.error
        if state == "failed" and fault is not None and error is None:
            error = f"{fault.what}: {fault.problem}"  # said once, in the fault's reason
        elif state in ("failed", "hung"):
            failed = True
            reasons.append(f"CPU{k.cpu} (APIC 0x{k.apic_id:x}): {error or state}")
        alive = (
            k.alive_ns - k.kick_start_ns
            if k.alive_ns is not None and k.kick_start_ns is not None and not k.abandoned
            else None
        )
        cpus.append(CpuResult(k.cpu, k.apic_id, state, k.wakeup_handler, alive,
                              k.kick_start_ns, k.online_ns, error))
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
        kind = "cpu-failed" if failed else "ok"
    handlers = {c.wakeup_handler for c in cpus if c.wakeup_handler}
    methods = machine.plugins.wakeup_methods()
    used = [m for m in methods if m.handler_name in handlers]
    method = machine.method if machine.method != "auto" else (
        "+".join(m.name for m in used) or "none"
    )
    if machine.method != "auto" and handlers and not any(m.name == machine.method for m in used):
        reasons.append(
            f"--method {machine.method} was asked for, but the kernel woke the CPUs with "
            f"{', '.join(sorted(h + '()' for h in handlers))}: a hook installed at boot wins"
        )
    platform = machine.platform
    trust = [boundary.call(f"WakeupMethod {m.name!r} trust", m.trust, platform) for m in used]
    if kind not in ("ok", "plugin-error"):
        for m in used:
            why = boundary.call(f"WakeupMethod {m.name!r} unavailable", m.unavailable,
                                platform, machine.firmware)
            if why is not None:
                reasons.insert(0, why)
    sim_time = machine.bp_done if machine.bp_done is not None else now
    return BootResult(
        result=kind,
        platform=machine.platform.name,
        kernel=kernel.profile.name,
        method=method,
        seed=machine.seed,
        cpus_requested=sum(1 for k in kernel.cpus if k.present),
        sim_time_ns=sim_time,
        cpus=cpus,
        log=[format_log_line(t, m) for t, level, m in log if level != "debug"],
        trace=sorted(recorder.trace, key=lambda e: e.t_ns),
        spans=list(recorder.spans),
        counters=dict(recorder.counters),
        trust=trust,
        reasons=list(dict.fromkeys(reasons)),
        config={**kernel.config.as_dict(), "firmware": machine.firmware.name},
        wall_seconds=wall,
        events=machine.engine.events,
        plugin_error=None if fault is None else fault.to_json(),
    )
