"""The bring-up loop: ``smp_init()``, ``bringup_nonboot_cpus()``, serial or parallel.

Models kernel/smp.c (``smp_init``, the "Bringing up" / "Brought up" lines), kernel/cpu.c
(``cpuhp_bringup_mask``, ``cpuhp_bringup_cpus_parallel``, ``cpuhp_kick_ap_alive``,
``cpuhp_bringup_ap``) and arch/x86/kernel/smpboot.c (``arch_cpuhp_init_parallel_bringup``,
``native_smp_cpus_done``). Before 6.5 CPUs come up strictly one by one through
``native_cpu_up``; from 6.5 (the hotplug_split_startup gate) kick and alive are split and, with
``CONFIG_HOTPLUG_PARALLEL`` (the hotplug_parallel gate), ``cpuhp_bringup_cpus_parallel`` runs
``cpuhp_bringup_mask`` twice over each mask: every AP to the kick, then each to online;
primary SMT threads first, then their siblings; a CPU whose kick failed in the first pass is
rolled back and kicked again by the second.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from kapic.kernel.smpboot import do_boot_cpu, wait_for_alive
from kapic.sim.engine import Wait
from kapic.versions import (
    HOTPLUG_PARALLEL,
    HOTPLUG_SPLIT_STARTUP,
    KICK_AP_MESSAGES,
    TDX_TSC_RELIABLE,
    TOPOLOGY_REWORK,
)

MSEC = 1_000_000

if TYPE_CHECKING:
    from kapic.kernel.kernel import Kernel, KernelCpu

__all__ = ["smp_init"]


def arch_cpuhp_init_parallel_bringup(kernel: Kernel) -> bool:
    if not kernel.platform.parallel_bringup:
        kernel.printk("smpboot: Parallel CPU startup disabled by the platform")
        return False
    # smpboot_control = STARTUP_READ_APICID: each AP finds its CPU number from its APIC ID
    kernel.printk("smpboot: Parallel CPU startup enabled: 0x80000000", "debug")
    return True


def _kick(kernel: Kernel, kcpu: KernelCpu, *, last_try: bool = True) -> Generator[Any, Any, bool]:
    """``cpuhp_kick_ap_alive`` -> ``native_kick_ap`` -> ``do_boot_cpu`` (kick only).

    A failure that is not the ``last_try`` rolls the CPU back to OFFLINE (``cpu_up``'s error
    path), so that the second ``cpuhp_bringup_mask`` pass kicks it again."""
    if not apic_id_valid(kernel, kcpu, "native_kick_ap", last_try=last_try):
        return False
    yield from cpuhp_prepare(kernel)
    kcpu.state = "kicking"
    err = yield from do_boot_cpu(kernel, kcpu)
    if err:
        kernel.printk(f"smpboot: do_boot_cpu failed({err}) to wakeup CPU#{kcpu.cpu}", "err")
        if last_try:
            _fail(kernel, kcpu, f"do_boot_cpu failed({err})")
        else:
            kcpu.state = "offline"
            kernel.trace("cpu-rollback", f"do_boot_cpu failed({err}): back to OFFLINE, "
                         "kicked again by the second pass", kcpu.cpu)
        return False
    kcpu.state = "kicked"
    kernel.progressed()
    return True


def _bringup_ap(kernel: Kernel, kcpu: KernelCpu) -> Generator[Any, Any, bool]:
    """``cpuhp_bringup_ap``: wait alive (10 s), release the AP, wait online, finish states."""
    if not (yield from wait_for_alive(kernel, kcpu)):
        kernel.printk(f"CPU{kcpu.cpu} failed to report alive state", "err")
        _fail(kernel, kcpu, "failed to report alive state within 10 s")
        return False
    yield from _release_and_online(kernel, kcpu)
    return True


#: arch/x86/kernel/tsc_sync.c loop_timeout(): the warp test of the first CPU of a package
TSC_WARP_TEST_NS = 20 * MSEC


def check_tsc_sync_source(kernel: Kernel, kcpu: KernelCpu) -> Generator[Any, Any, None]:
    """arch/x86/kernel/tsc_sync.c ``check_tsc_sync_source()``: the first AP of a package
    (no sibling whose TSC_ADJUST it can trust) runs the 20 ms warp test with the control
    CPU, unless the TSC is reliable (``tsc=reliable``, TDX from 6.7)."""
    packages = kernel.state("tsc").setdefault("packages", {kernel.package_of(kernel.bp.apic_id)})
    package = kernel.package_of(kcpu.apic_id)
    if package in packages:
        return
    packages.add(package)
    reliable = kernel.platform.param("tsc_reliable") or (
        kernel.platform.hypervisor == "tdx" and kernel.version.has(TDX_TSC_RELIABLE))
    if not reliable:
        start = kernel.now
        yield TSC_WARP_TEST_NS
        kernel.span("tsc-sync", start, kcpu.cpu)


def _release_and_online(kernel: Kernel, kcpu: KernelCpu) -> Generator[Any, Any, None]:
    yield from check_tsc_sync_source(kernel, kcpu)
    kcpu.should_online.fire()
    kernel.bp_waits_for = (kcpu, "come online")
    yield Wait(kcpu.online)
    kernel.bp_waits_for = None
    start = kernel.engine.now
    yield kernel.jittered("bp_online_ns")
    kernel.span("online", start, kcpu.cpu)
    kcpu.state = "online"
    kcpu.bringup_done()
    kernel.trace("cpu-online", "", kcpu.cpu)
    kernel.cpu_done()


def _native_cpu_up_seed(kernel: Kernel, kcpu: KernelCpu) -> Generator[Any, Any, None]:
    """5.19 ``native_cpu_up``: do_boot_cpu kicks, then waits 10 s for a sign of life."""
    if not apic_id_valid(kernel, kcpu, "native_cpu_up"):
        return
    yield from cpuhp_prepare(kernel)
    kcpu.state = "kicking"
    err = yield from do_boot_cpu(kernel, kcpu)
    if not err:
        kcpu.state = "kicked"
        kernel.progressed()
    if not err and not (yield from wait_for_alive(kernel, kcpu)):
        err = -1
    if err:
        kernel.printk(f"smpboot: do_boot_cpu failed({err}) to wakeup CPU#{kcpu.cpu}", "err")
        _fail(kernel, kcpu, f"do_boot_cpu failed({err})")
        return
    yield from _release_and_online(kernel, kcpu)


def cpuhp_prepare(kernel: Kernel) -> Generator[Any, Any, None]:
    """The control CPU's prepare states for one AP (``cpuhp_up_callbacks`` up to the kick:
    smpcfd, threads, workqueues, ..., ``common_cpu_up``): ``bp_prepare_ns``."""
    if kernel.platform.param("bp_prepare_ns"):
        yield kernel.jittered("bp_prepare_ns")


def apic_id_valid(kernel: Kernel, kcpu: KernelCpu, caller: str, *, last_try: bool = True) -> bool:
    """``native_kick_ap`` / ``native_cpu_up``: refuse a CPU whose APIC ID the driver cannot
    address (``apic_id_valid``; x2APIC without interrupt remapping caps it)."""
    if kernel.apic_state.apic_id_valid(kcpu.apic_id):
        return True
    if kernel.version.has(KICK_AP_MESSAGES):
        kernel.printk(f"smpboot: CPU {kcpu.cpu} has invalid APIC ID {kcpu.apic_id:x}. "
                      "Aborting bringup", "err")
    else:
        kernel.printk(f"smpboot: {caller}: bad cpu {kcpu.cpu}", "err")
    if not last_try:
        kcpu.state = "offline"  # rolled back; the second pass tries again
        return False
    cap = kernel.x2apic_max_apicid
    _fail(kernel, kcpu, f"APIC ID above the largest usable one (0x{cap:x}: x2APIC without "
          "interrupt remapping)" if cap is not None else "APIC ID does not fit xAPIC")
    return False


def _fail(kernel: Kernel, kcpu: KernelCpu, why: str) -> None:
    kcpu.state = "failed"
    kcpu.abandoned = True
    kcpu.error = kcpu.error or why
    kernel.trace("cpu-failed", why, kcpu.cpu)
    kernel.cpu_done()


def _bringup_mode(kernel: Kernel, parallel: bool) -> tuple[str, str]:
    """Serial or parallel, and why, in a reviewer's words."""
    if parallel:
        return "parallel", "CONFIG_HOTPLUG_PARALLEL: every AP is kicked before any is waited for"
    if not kernel.version.has(HOTPLUG_PARALLEL):
        return "serial", (f"Linux {kernel.version.release_name} has no parallel bring-up (it arrived in "
                          f"{HOTPLUG_PARALLEL.first_release})")
    if not kernel.config.HOTPLUG_PARALLEL:
        return "serial", "CONFIG_HOTPLUG_PARALLEL=n"
    if not kernel.config.X86_64:
        return "serial", "a 32-bit kernel has no parallel bring-up"
    return "serial", (f"the {kernel.platform.name} platform disables parallel bring-up "
                      "(x86_cpuinit.parallel_bringup)")


def cpuhp_bringup_cpus_parallel(kernel: Kernel, aps: list[KernelCpu]) -> Generator[Any, Any, None]:
    """kernel/cpu.c ``cpuhp_bringup_cpus_parallel``: with SMT (``cpuhp_smt_aware``) the
    primary threads' mask first, then the rest; each mask through ``cpuhp_bringup_mask``
    twice, to CPUHP_BP_KICK_AP and then to CPUHP_ONLINE."""
    threads = kernel.platform.param("threads_per_core")
    if threads > 1:  # cpuhp_smt_aware(): cpu_primary_thread_mask first
        primary = [k for k in aps if k.apic_id % threads == 0]
        masks = [primary, [k for k in aps if k.apic_id % threads]]
    else:
        masks = [aps]
    for mask in masks:
        for kcpu in mask:  # cpuhp_bringup_mask(mask, ncpus, CPUHP_BP_KICK_AP)
            yield from _kick(kernel, kcpu, last_try=False)
        for kcpu in mask:  # cpuhp_bringup_mask(mask, ncpus, CPUHP_ONLINE)
            if kcpu.state == "offline" and not (yield from _kick(kernel, kcpu)):
                continue  # kicked again from OFFLINE; failed for good
            if kcpu.state == "kicked":
                yield from _bringup_ap(kernel, kcpu)


def smp_init(kernel: Kernel) -> Generator[Any, Any, None]:
    """Bring every present AP online, then print the summary lines."""
    if not kernel.config.SMP:
        return  # a uniprocessor kernel has no smp_init()
    kernel.printk("smp: Bringing up secondary CPUs ...")
    aps = [c for c in kernel.cpus[1:] if c.present]
    split = kernel.version.has(HOTPLUG_SPLIT_STARTUP)
    parallel = (
        kernel.version.has(HOTPLUG_PARALLEL)
        and kernel.config.HOTPLUG_PARALLEL
        and kernel.config.X86_64
        and arch_cpuhp_init_parallel_bringup(kernel)
    )
    kernel.bringup = _bringup_mode(kernel, bool(parallel))
    if parallel:
        yield from cpuhp_bringup_cpus_parallel(kernel, aps)
    elif split:
        for kcpu in aps:
            if (yield from _kick(kernel, kcpu)):
                yield from _bringup_ap(kernel, kcpu)
    else:
        for kcpu in aps:
            yield from _native_cpu_up_seed(kernel, kcpu)
    online = 1 + sum(1 for c in aps if c.state == "online")
    kernel.printk(f"smp: Brought up 1 node, {online} CPU{'s' if online != 1 else ''}")
    if not kernel.version.has(TOPOLOGY_REWORK):
        # native_smp_cpus_done -> calculate_max_logical_packages: total_cpus (the possible
        # ones) over the boot CPU's booted_cores x SMT threads (kapic: one package, so the
        # CPUs online)
        packages = -(-kernel.num_possible_cpus() // online)
        kernel.printk(f"smpboot: Max logical packages: {packages}")
    bogo = kernel.platform.param("bogomips_x100") * online
    kernel.printk(
        f"smpboot: Total of {online} processors activated ({bogo // 100}.{bogo % 100:02d} BogoMIPS)"
    )
