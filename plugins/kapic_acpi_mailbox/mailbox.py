"""The ACPI Multiprocessor Wakeup mailbox layout (ACPI 6.4 5.2.12.19; include/acpi/actbl2.h).

4 KiB, 4 KiB aligned: Command u16 at 0, reserved u16 at 2, APIC ID u32 at 4, wakeup vector
u64 at 8, OS area at 0x10 (2032 bytes), firmware area at 0x800 (2048 bytes).
"""

from typing import TYPE_CHECKING, Any, Final

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
