"""Secondary CPU start-up: ``do_boot_cpu()`` and the AP's ``start_secondary()``.

Models arch/x86/kernel/smpboot.c: ``announce_cpu``, ``do_boot_cpu`` (hook choice
``wakeup_secondary_cpu_64`` > ``wakeup_secondary_cpu`` > ``wakeup_secondary_cpu_via_init``,
``start_ip`` from ``real_mode_header``), ``native_kick_ap`` (6.5+), ``native_cpu_up`` and its
10 s wait for the AP (5.19), and on the AP side the path from the trampoline through
``start_secondary`` to ``set_cpu_online``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from kapic.boundary import errno_result
from kapic.sim.engine import Wait
from kapic.versions import ANNOUNCE_PR_INFO, HOTPLUG_SPLIT_STARTUP, TOPOLOGY_REWORK

if TYPE_CHECKING:
    from kapic.hw.cpu import Cpu
    from kapic.kernel.kernel import Kernel, KernelCpu

__all__ = ["announce_cpu", "do_boot_cpu", "smp_sanity_check", "start_secondary"]

SEC = 1_000_000_000
MSEC = 1_000_000


def _num_digits(n: int) -> int:
    return len(str(n))


def smp_sanity_check(kernel: Kernel) -> None:
    """``smp_sanity_check()`` (5.x, from ``native_smp_prepare_cpus``): a boot CPU the MADT
    does not list is warned about and set present. The 6.9 topology rework removed the check
    (the boot CPU is registered before the MADT is read)."""
    if kernel.bp_unlisted and not kernel.version.has(TOPOLOGY_REWORK):
        kernel.printk(f"weird, boot CPU (#{kernel.bp.apic_id}) not listed by the BIOS", "warn")


def announce_cpu(kernel: Kernel, kcpu: KernelCpu) -> None:
    """``announce_cpu()``: "x86: Booting SMP configuration:" and the ``#N`` list.

    The ``#N`` fields are ``pr_cont`` fragments: they extend the open line unless another
    message was printed since, in which case the printk core starts a new record (its own
    timestamp, the field with its padding), as real logs show (``[    0.326316]   #2``)."""
    state = kernel.state("smpboot")
    width = _num_digits(kernel.num_possible_cpus()) + 1
    pr_info = kernel.version.has(ANNOUNCE_PR_INFO)
    first = "node_line" not in state
    if first:
        kernel.printk(f"{'smpboot: ' if pr_info else ''}x86: Booting SMP configuration:")
        kernel.printk(".... node  #0, CPUs:  ")
        state["node_line"] = len(kernel.log) - 1
    fragment = ""
    # the boot CPU's place: before the first CPU announced (6.5+), before CPU 1 (before)
    if first if pr_info else kcpu.cpu == 1:
        fragment += " " * (width + 1)
    fragment += " " * (width - _num_digits(kcpu.cpu)) + f"#{kcpu.cpu}"
    if first:
        kernel.open_cont()
    if not kernel.pr_cont(fragment):  # another message since: a new record
        kernel.printk(fragment)
        kernel.open_cont()


def do_boot_cpu(kernel: Kernel, kcpu: KernelCpu) -> Generator[Any, Any, int]:
    """Kick one AP through the wakeup hook; returns the hook's result (0 or -errno)."""
    apic = kernel.apic
    rmh = kernel.real_mode_header
    start_ip = rmh.trampoline_start64 if apic.wakeup_secondary_cpu_64 else rmh.trampoline_start
    kcpu.expected_entry = start_ip
    announce_cpu(kernel, kcpu)
    if apic.wakeup_secondary_cpu_64:
        hook, field = apic.wakeup_secondary_cpu_64, "wakeup_secondary_cpu_64"
    elif apic.wakeup_secondary_cpu:
        hook, field = apic.wakeup_secondary_cpu, "wakeup_secondary_cpu"
    else:
        hook, field = kernel.wakeup_secondary_cpu_via_init, "wakeup_secondary_cpu_via_init"
    if hook is None:
        kcpu.error = "no wakeup method: no APIC driver hook and no INIT/SIPI plugin installed"
        return -19
    name = getattr(hook, "__name__", repr(hook))
    kcpu.wakeup_handler = name
    kcpu.kick_start_ns = start = kernel.now
    if kernel.tracing:  # a detail worth formatting only when the trace keeps it
        kernel.trace("kick", f"{name}(apicid=0x{kcpu.apic_id:x}, start_ip=0x{start_ip:x})")
    # A plugin's handler that raises, is no generator function or returns anything but an
    # int errno ends the boot here (a PluginFault), naming the plugin and this CPU.
    ret: int = yield from kernel.boundary.run(
        f"{field} {name}()", hook, kernel, kcpu.apic_id, start_ip, kcpu.cpu,
        cpu=kcpu.cpu, check=errno_result,
    )
    kernel.span("kick", start, kcpu.cpu)
    return ret


def wait_for_alive(kernel: Kernel, kcpu: KernelCpu) -> Generator[Any, Any, bool]:
    """Wait at most 10 s for the AP to report alive.

    6.5+ ``cpuhp_bp_sync_alive()``: busy-polls for 1 ms, then sleeps with
    ``usleep_range(1000, 2000)``; kapic wakes those sleeps at their 2 ms hard expiry (a quiet
    system), so a late AP is seen on the next 2 ms boundary. 5.19 ``do_boot_cpu()`` loops on
    ``schedule()`` with nothing else runnable: it sees the AP at once.
    """
    engine = kernel.engine
    start = engine.now
    kernel.bp_waits_for = (kcpu, "report alive")
    fired = yield Wait(kcpu.alive, SEC * 10)
    kernel.bp_waits_for = None
    if fired and kernel.version.has(HOTPLUG_SPLIT_STARTUP) and engine.now - start > MSEC:
        elapsed = engine.now - start - MSEC
        step = 2 * MSEC
        boundary = start + MSEC + -(-elapsed // step) * step
        if boundary > engine.now:
            yield boundary - engine.now
    kernel.span("alive-wait", start, kcpu.cpu)
    return bool(fired)


def start_secondary(kernel: Kernel, cpu: Cpu, entry: int, mode: str) -> Generator[Any, Any, None]:
    """The AP from the wakeup vector to ``set_cpu_online()`` (trampoline, start_secondary)."""
    kcpu = kernel.cpu_by_apicid(cpu.apic_id)
    if kcpu is None or kcpu.expected_entry is None:
        kernel.trace("ap-stray", f"APIC 0x{cpu.apic_id:x} started at 0x{entry:x} unasked", cpu.index)
        cpu.state = "crashed"
        return
    kcpu.starts += 1
    if kcpu.starts > 1:
        # A second start of a CPU that already runs kernel code (a broadcast wakeup, a CPU
        # woken twice): whatever it was doing is lost, and the kernel does not know.
        when = "after it came alive" if kcpu.alive_ns is not None else "before it came alive"
        kcpu.error = (f"started again at 0x{entry:x} ({mode} mode) {when}: the CPU's state "
                      "is lost")
        kernel.trace("ap-restarted", kcpu.error, kcpu.cpu)
        kcpu.state = "failed"
        cpu.state = "crashed"
        return
    expected = kcpu.expected_entry
    want_mode = "real" if expected == kernel.real_mode_header.trampoline_start else "long"
    if entry != expected or mode != want_mode:
        kcpu.error = (
            f"AP jumped to 0x{entry:x} in {mode} mode, not the trampoline at 0x{expected:x} "
            f"({want_mode} mode): triple fault"
        )
        kernel.trace("ap-crash", kcpu.error, kcpu.cpu)
        cpu.state = "crashed"
        return
    start = kernel.now
    if kernel.tracing:
        kernel.trace("ap-start", f"entry 0x{entry:x} ({mode} mode)", kcpu.cpu)
    yield kernel.jittered("ap_alive_ns")
    if kernel.platform.param("ucode_load_ns") and kernel.primary_thread(kcpu.apic_id):
        yield kernel.jittered("ucode_load_ns")  # load_ucode_ap on the core's first thread
    kcpu.alive_ns = kernel.now
    kernel.span("ap-startup", start, kcpu.cpu, cpu=kcpu.cpu)
    if kcpu.abandoned:
        kernel.trace("ap-late-alive", "alive after the kernel gave up on it", kcpu.cpu)
    else:
        kernel.trace("ap-alive", "", kcpu.cpu)
    kernel.progressed()
    kcpu.alive.fire(kernel.now)
    yield Wait(kcpu.should_online)
    start = kernel.now
    yield kernel.jittered("ap_online_ns")
    kcpu.online_ns = kernel.now
    kernel.span("ap-online", start, kcpu.cpu, cpu=kcpu.cpu)
    kcpu.online.fire(kernel.now)
