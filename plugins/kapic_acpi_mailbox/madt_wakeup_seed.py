"""The ``seed`` kernel's mailbox wakeup: the seed patch (PATCHv7 21/30 as re-sent by Dave Hansen).

Models arch/x86/kernel/acpi/boot.c ``acpi_wakeup_cpu`` (the mp_wake_timeout gate) of
../shared/reference/seed-patch.txt: a wakemap that refuses a second wakeup of one APIC ID,
plain stores of APIC ID and vector then ``smp_store_release`` of the command, and a poll of
at most 255 reads (``wake_tries_left``) after which the command is withdrawn and -EIO returned.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from kapic import EINVAL, EIO, RELAX, Kernel
from kapic_acpi_mailbox.mailbox import (
    COMMAND,
    PLUGIN_NAME,
    mapped_mailbox,
    post_wakeup,
)


def acpi_wakeup_cpu(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
    st = kernel.state(PLUGIN_NAME)
    # Remap mailbox memory only for the first call; wakeups are serialized by the core.
    mailbox = mapped_mailbox(kernel)
    wakemap: set[int] = st.setdefault("apic_id_wakemap", set())
    # ACPI 6.4: the mailbox cannot be used more than once for the same CPU.
    if apicid in wakemap:
        kernel.printk(f"ACPI: CPU already awake (APIC ID {apicid:x}), skipping wakeup", "err")
        return -EINVAL
    # apic_id and wakeup_vector must be visible to firmware before the command.
    post_wakeup(mailbox, apicid, start_ip)
    start = kernel.now
    # 255 was found to work on well-behaving TDX guest systems.
    wake_tries_left = 255
    while True:
        if not mailbox.read_once(COMMAND, 2):
            break
        wake_tries_left -= 1
        if not wake_tries_left:
            break
        yield RELAX
    kernel.span("mailbox", start, cpu)
    if not wake_tries_left:
        kernel.printk(f"ACPI: ACPI wakeup of APIC ID: 0x{apicid:x} timed out", "warn")
        # Reset ->command so mailbox can try to boot another CPU.
        mailbox.store_release(COMMAND, 2, 0)
        return -EIO
    wakemap.add(apicid)
    return 0

