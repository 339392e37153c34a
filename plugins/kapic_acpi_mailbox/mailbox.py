"""The ACPI Multiprocessor Wakeup mailbox layout (ACPI 6.4 5.2.12.19; include/acpi/actbl2.h).

4 KiB, 4 KiB aligned: Command u16 at 0, reserved u16 at 2, APIC ID u32 at 4, wakeup vector
u64 at 8, OS area at 0x10 (2032 bytes), firmware area at 0x800 (2048 bytes).

Also what every kernel version does with it alike: map it on the first call
(:func:`mapped_mailbox`), post the Wakeup command (:func:`post_wakeup`), and the unbounded
spin of ``acpi_wakeup_cpu`` as merged in 5.19 and moved to madt_wakeup.c in 6.11
(:func:`wakeup_and_spin`; reference section 2.2).
"""

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final

from kapic import SPIN

if TYPE_CHECKING:
    from kapic import Kernel

MAILBOX_SIZE: Final = 0x1000
COMMAND: Final = 0x0
RESERVED: Final = 0x2
APIC_ID: Final = 0x4
WAKEUP_VECTOR: Final = 0x8
OS_AREA: Final = 0x10
FIRMWARE_AREA: Final = 0x800

ACPI_MP_WAKE_COMMAND_NOOP: Final = 0
ACPI_MP_WAKE_COMMAND_WAKEUP: Final = 1
#: ACPI 6.6
ACPI_MP_WAKE_COMMAND_TEST: Final = 2
#: edk2-internal (after the Test command was added)
TDVF_COMMAND_SLEEP: Final = 3

APIC_ID_INVALID: Final = 0xFFFFFFFF
APIC_ID_BROADCAST: Final = 0xFFFFFFFE

#: Where kapic's TDVF model places the mailbox and its reset vector (a real TDX guest's
#: values, quoted in reference section 1.8).
TDVF_MAILBOX: Final = 0x7FFFD000
TDVF_RESET_VECTOR: Final = 0x7FFFE068


#: the plugin's name, and the key of its per-kernel state
PLUGIN_NAME: Final = "acpi-mailbox"


def mapped_mailbox(kernel: "Kernel") -> Any:
    """The mailbox as the kernel maps it: ``memremap(paddr, 4096, MEMREMAP_WB)`` on the first
    call only (every version of ``acpi_wakeup_cpu`` does this), the window after."""
    st = kernel.state(PLUGIN_NAME)
    if st.get("mailbox") is None:
        st["mailbox"] = kernel.memremap(st["paddr"], MAILBOX_SIZE)
    return st["mailbox"]


def post_wakeup(mailbox: Any, apicid: int, start_ip: int) -> None:
    """The Wakeup command as every version of ``acpi_wakeup_cpu`` writes it: APIC ID and
    wakeup vector with plain stores, then the command with ``smp_store_release``, so that both
    are visible to the firmware before it."""
    mailbox.write_once(APIC_ID, 4, apicid)
    mailbox.write_once(WAKEUP_VECTOR, 8, start_ip)
    mailbox.store_release(COMMAND, 2, ACPI_MP_WAKE_COMMAND_WAKEUP)


def wakeup_and_spin(kernel: "Kernel", apicid: int, start_ip: int,
                    cpu: int) -> Generator[Any, Any, int]:
    """``acpi_wakeup_cpu`` as merged (5.19 boot.c, moved unchanged to madt_wakeup.c in 6.11):
    map the mailbox on the first call, post the command, then spin until the firmware clears
    it. No timeout: the CPU being woken is stuck in firmware, which is trusted; the VMM can only
    delay it (the review of PATCHv7 dropped the seed's bound), and do_boot_cpu still waits
    10 s for a sign of life after the acknowledgement."""
    mailbox = mapped_mailbox(kernel)
    post_wakeup(mailbox, apicid, start_ip)
    start = kernel.now
    while mailbox.read_once(COMMAND, 2):
        yield SPIN  # cpu_relax(): the loop depends on nothing but the command word
    kernel.span("mailbox", start, cpu)
    return 0
