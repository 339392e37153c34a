"""The mailbox wakeup while it lived in arch/x86/kernel/acpi/boot.c (5.19 to 6.10).

Models ``acpi_parse_mp_wake`` and ``acpi_wakeup_cpu`` as merged in 5.19 (commit f39642d0dbacd):
after the review of PATCHv7 dropped the timeout and the wakemap, the kernel writes APIC ID and
vector, releases the command and spins until the firmware acknowledges, with no bound. The
handler reaches the APIC drivers through ``acpi_wake_cpu_handler_update()`` (every registered
driver) until 6.6, then through ``apic_update_callback()`` (the apic_update_callback gate).
The seed posting's variant (the mp_wake_timeout gate) is in :mod:`.madt_wakeup_seed`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from kapic import (
    APIC_UPDATE_CALLBACK,
    EINVAL,
    ENODEV,
    MP_WAKE_TIMEOUT,
    Kernel,
    MpWakeup,
    print_madt_entry,
)
from kapic_acpi_mailbox import madt_wakeup_seed
from kapic_acpi_mailbox.mailbox import (
    PLUGIN_NAME,
    wakeup_and_spin,
)


def acpi_wakeup_cpu(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
    """arch/x86/kernel/acpi/boot.c ``acpi_wakeup_cpu()``: post the command, spin unbounded."""
    return (yield from wakeup_and_spin(kernel, apicid, start_ip, cpu))


def acpi_parse_mp_wake(kernel: Kernel, entry: MpWakeup, end: int) -> int:
    if not kernel.config.X86_64:  # parsed only under CONFIG_X86_64
        return 0
    if not kernel.config.SMP:
        return -ENODEV
    if entry.length < 16 or entry.offset + 16 > end:  # BAD_MADT_ENTRY, the 16-byte struct
        return -EINVAL
    for line in print_madt_entry(entry, kernel.version):
        kernel.printk(line, "warn")  # before 6.11: "Found unsupported MADT entry (type = 0x10)"
    kernel.state(PLUGIN_NAME)["paddr"] = entry.mailbox_address
    seed = kernel.version.has(MP_WAKE_TIMEOUT)
    handler = madt_wakeup_seed.acpi_wakeup_cpu if seed else acpi_wakeup_cpu
    if kernel.version.has(APIC_UPDATE_CALLBACK):
        # the macro's pr_info takes boot.c's pr_fmt
        kernel.apic_state.apic_update_callback("wakeup_secondary_cpu_64", handler, pr_fmt="ACPI: ")
    else:
        kernel.apic_state.acpi_wake_cpu_handler_update(handler)
    return 0
