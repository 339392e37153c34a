"""The mailbox wakeup from 6.11 on (the madt_wakeup_c gate).

Models arch/x86/kernel/acpi/madt_wakeup.c: ``acpi_parse_mp_wake`` (size checks, reset vector
for version 1, otherwise offlining disabled and the in-memory MADT's mailbox address zeroed),
``acpi_wakeup_cpu`` (no wakemap, no timeout: spin until the firmware acknowledges) and
``acpi_mp_cpu_die`` (the Test command after an offlined CPU jumped to the reset vector).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from kapic import EINVAL, EOPNOTSUPP, Kernel, MpWakeup, print_madt_entry, udelay
from kapic_acpi_mailbox.mailbox import (
    ACPI_MP_WAKE_COMMAND_TEST,
    APIC_ID,
    COMMAND,
    PLUGIN_NAME,
    mapped_mailbox,
    wakeup_and_spin,
)


def acpi_wakeup_cpu(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
    st = kernel.state(PLUGIN_NAME)
    if not st.get("paddr"):
        if not st.get("warned"):
            st["warned"] = True
            kernel.printk("No MADT mailbox: cannot bringup secondary CPUs. Booting with kexec?", "warn")
        return -EOPNOTSUPP
    # the rest as boot.c had it (moved unchanged)
    return (yield from wakeup_and_spin(kernel, apicid, start_ip, cpu))


def acpi_mp_cpu_die(kernel: Kernel, cpu: int, apicid: int) -> Generator[Any, Any, bool]:
    """Hand an offlined CPU (back in the firmware's loop) over with the Test command."""
    mailbox = mapped_mailbox(kernel)
    mailbox.write_once(APIC_ID, 4, apicid)
    mailbox.store_release(COMMAND, 2, ACPI_MP_WAKE_COMMAND_TEST)
    # while (READ_ONCE(command) && --timeout) udelay(1); with timeout = USEC_PER_SEC:
    # sleep until the word changes (at 1 us poll granularity), at most 1 s in all.
    start = kernel.now
    limit = 1_000_000 * udelay(1)
    while mailbox.read_once(COMMAND, 2):
        left = start + limit - kernel.now
        if left <= 0:
            kernel.printk(f"Failed to hand over CPU {cpu} to BIOS", "err")
            return False
        yield mailbox.wait_write(COMMAND, 2, left)
        step = udelay(1)
        late = (kernel.now - start) % step
        if late:
            yield step - late
    return True


def acpi_mp_play_dead(kernel: Kernel, cpu: int) -> bool:
    """The dying CPU jumps to the MADT's reset vector (asm_acpi_mp_play_dead); the kernel
    does not check it for 0."""
    vector = kernel.state(PLUGIN_NAME)["reset_vector"]
    return kernel.jump_to_reset_vector(cpu, vector)


def acpi_parse_mp_wake(kernel: Kernel, entry: MpWakeup, end: int) -> int:
    config = kernel.config
    if not (config.X86_64 and config.SMP):  # CONFIG_ACPI_MADT_WAKEUP depends on both
        return 0
    if entry.length < 16 or entry.offset + 16 > end:
        return -EINVAL
    for line in print_madt_entry(entry, kernel.version):
        # 6.11+ prints the entry with pr_debug; 5.19-6.10 warn "unsupported MADT entry"
        kernel.printk(line, "debug" if line.startswith("ACPI: MP Wakeup") else "warn")
    st = kernel.state(PLUGIN_NAME)
    st["paddr"] = entry.mailbox_address
    if entry.version >= 1 and entry.reset_vector is not None:
        # acpi_mp_setup_reset(): identity page tables always allocate in the simulation.
        st["reset_vector"] = entry.reset_vector
        kernel.smp_ops["cpu_die"] = acpi_mp_cpu_die
        kernel.smp_ops["play_dead"] = acpi_mp_play_dead
    else:
        # Disable CPU offlining, and hide the mailbox from a kexec'd kernel.
        kernel.offlining_disabled = True
        at = entry.offset + 8
        kernel.madt_bytes[at : at + 8] = bytes(8)
    kernel.apic_state.apic_update_callback("wakeup_secondary_cpu_64", acpi_wakeup_cpu)
    return 0
