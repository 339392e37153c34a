"""Offlining a CPU after boot: ``cpu_down()`` as far as the wakeup mailbox is concerned.

Models kernel/cpu.c ``cpu_down`` (-EOPNOTSUPP once ``cpu_hotplug_disable_offlining()`` was
called, as madt_wakeup.c does for a version-0 mailbox), the dying CPU's
``smp_ops.play_dead`` (``acpi_mp_play_dead``: jump to the firmware's reset vector) and the
control CPU's ``smp_ops.cpu_die`` (``acpi_mp_cpu_die``: the Test command, 1 s bound), then
arch/x86/kernel/smpboot.c's "CPU %u is now offline".
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from kapic.kernel.kernel import EINVAL, EOPNOTSUPP
from kapic.versions import TDX_HOTPLUG_DISABLED

if TYPE_CHECKING:
    from kapic.kernel.kernel import Kernel

__all__ = ["cpu_down"]


def cpu_down(kernel: Kernel, cpu: int) -> Generator[Any, Any, int]:
    """Take logical CPU ``cpu`` offline; returns 0 or a negative errno."""
    if cpu <= 0 or cpu >= len(kernel.cpus) or kernel.cpus[cpu].state != "online":
        kernel.printk(f"kapic: cpu_down(CPU{cpu}): not an online secondary CPU", "err")
        return -EINVAL
    if kernel.version.has(TDX_HOTPLUG_DISABLED) and kernel.platform.hypervisor == "tdx":
        # Before the gate a TDX guest cannot offline CPUs (CC_ATTR_HOTPLUG_DISABLED).
        kernel.printk(f"kapic: cpu_down(CPU{cpu}) = -{EOPNOTSUPP}: TDX guests cannot offline CPUs "
                      f"in {TDX_HOTPLUG_DISABLED.span()} (CC_ATTR_HOTPLUG_DISABLED)", "err")
        return -EOPNOTSUPP
    if kernel.offlining_disabled:
        kernel.printk(f"kapic: cpu_down(CPU{cpu}) = -{EOPNOTSUPP}: offlining is disabled", "err")
        return -EOPNOTSUPP
    kcpu = kernel.cpus[cpu]
    play_dead = kernel.smp_ops.get("play_dead")
    cpu_die = kernel.smp_ops.get("cpu_die")
    kcpu.state = "offline"
    kernel.trace("cpu-down", "", cpu)
    boundary = kernel.boundary
    if play_dead is None or not boundary.call("smp_ops.play_dead", play_dead, kernel, cpu, cpu=cpu):
        # native_play_dead: the CPU halts in the kernel (hlt_play_dead); nothing to hand over
        kernel.printk(f"smpboot: CPU {cpu} is now offline")
        return 0
    if cpu_die is not None:
        handed = yield from boundary.run("smp_ops.cpu_die", cpu_die, kernel, cpu, kcpu.apic_id,
                                         cpu=cpu)
        if not handed:
            kcpu.error = "firmware did not acknowledge the Test command within 1 s"
    kernel.printk(f"smpboot: CPU {cpu} is now offline")
    return 0
