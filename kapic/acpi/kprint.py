"""The lines Linux prints for MADT entries, in table order or in the kernel's parse order.

``madt_entry_lines`` mirrors drivers/acpi/tables.c ``acpi_table_print_madt_entry`` (pr_fmt
"ACPI: "; LAPIC/X2APIC/IOAPIC/MP Wakeup lines are pr_debug, shown here as with debug on)
applied to every entry. Types kapic keeps raw print the "unsupported" warning; the real
function has cases for a few non-x86 types (IOSAPIC, LSAPIC, GICC, ...) that an x86 kernel
never reaches, since no x86 handler parses them. A type a plugin declares (see
``kapic.acpi.types.MadtTypes``) prints what its class's ``kernel_lines`` returns: by default
the same warning, which is what Linux prints for a type it has no case for.

``madt_boot_lines`` mirrors arch/x86/kernel/acpi/boot.c ``acpi_process_madt``: the order in
which an x86 boot walks (and so prints) the entries: LAPIC address overrides; LAPIC and
x2APIC entries together in table order; x2APIC NMIs then LAPIC NMIs; then only if a LAPIC
entry exists: I/O APICs (at most ``MAX_IO_APICS``), and only if one exists, interrupt
source overrides and NMI sources; then the first MP wakeup entry (5.19+). Entries of other
types, those of plugin types included, are not in it: x86 Linux walks (and prints) an entry
only from the handler of an ``acpi_table_parse_madt(type, ...)`` call, and a plugin's handler
for its type prints the entry itself with ``print_madt_entry``, as ``acpi_parse_mp_wake`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from kapic.acpi.entry import UNSUPPORTED_MADT_ENTRY, MadtEntry
from kapic.acpi.interrupts import (
    InterruptOverride,
    IoApic,
    LocalApicNmi,
    LocalX2ApicNmi,
    NmiSource,
)
from kapic.acpi.madt import MADT_FIXED_SIZE, Madt, Subtable
from kapic.acpi.processors import LocalApic, LocalApicAddressOverride, LocalX2Apic
from kapic.acpi.raw import RawSubtable
from kapic.acpi.types import MadtTypes
from kapic.acpi.wakeup import MpWakeup
from kapic.errors import MadtError
from kapic.versions import (
    LAPIC_ADDR_OVR_HEX,
    LATEST,
    MADT_WAKEUP_PRINTED,
    MP_WAKE,
    KernelVersion,
)

__all__ = ["madt_boot_lines", "madt_entry_lines", "print_madt_entry"]

_POLARITY: Final = ("dfl", "high", "res", "low")
_TRIGGER: Final = ("dfl", "edge", "res", "level")
MAX_IO_APICS: Final = 128
_LATEST: Final = KernelVersion(LATEST)


def _s32(value: int) -> int:
    """A u32 printed with C's %d."""
    return value - (1 << 32) if value & 0x80000000 else value


def _hash_llx(value: int) -> str:
    """C's %#llx: "0" for zero, "0x..." otherwise."""
    return f"{value:#x}" if value else "0"


def _pt(inti_flags: int) -> str:
    return f"{_POLARITY[inti_flags & 3]} {_TRIGGER[(inti_flags >> 2) & 3]}"


def _ed(flags: int) -> str:
    return "enabled" if flags & 1 else "disabled"


def print_madt_entry(entry: Subtable, kernel: KernelVersion = _LATEST, *,
                     following: bytes = b"", types: MadtTypes | None = None) -> list[str]:
    """``acpi_table_print_madt_entry`` for one entry. *following*: the table bytes after the
    entry, which 6.11+ reads as the reset vector of a 16-byte version-1 wakeup entry.

    An entry of a plugin-declared class prints its ``kernel_lines(kernel)``; with *types*, a
    raw entry of a type *types* adds is first decoded by that class (``MadtTypes.typed``).
    """
    if types is not None:
        entry = types.typed(entry)
    lines: list[str]
    match entry:
        case LocalApic():
            lines = [f"LAPIC (acpi_id[0x{entry.acpi_processor_uid:02x}] "
                     f"lapic_id[0x{entry.apic_id:02x}] {_ed(entry.flags)})"]
        case LocalX2Apic():
            lines = [f"X2APIC (apic_id[0x{entry.x2apic_id:02x}] "
                     f"uid[0x{entry.acpi_processor_uid:02x}] {_ed(entry.flags)})"]
        case IoApic():
            lines = [f"IOAPIC (id[0x{entry.ioapic_id:02x}] address[0x{entry.address:08x}] "
                     f"gsi_base[{_s32(entry.gsi_base)}])"]
        case InterruptOverride():
            lines = [f"INT_SRC_OVR (bus {entry.bus} bus_irq {entry.source_irq} "
                     f"global_irq {_s32(entry.gsi)} {_pt(entry.inti_flags)})"]
            if entry.inti_flags & ~0xF:
                lines.append(f"INT_SRC_OVR unexpected reserved flags: "
                             f"0x{entry.inti_flags & ~0xF:x}")
        case NmiSource():
            lines = [f"NMI_SRC ({_pt(entry.inti_flags)} global_irq {_s32(entry.gsi)})"]
        case LocalApicNmi():
            lines = [f"LAPIC_NMI (acpi_id[0x{entry.acpi_processor_uid:02x}] "
                     f"{_pt(entry.inti_flags)} lint[0x{entry.lint:x}])"]
        case LocalX2ApicNmi():
            lines = [f"X2APIC_NMI (uid[0x{entry.acpi_processor_uid:02x}] "
                     f"{_pt(entry.inti_flags)} lint[0x{entry.lint:x}])"]
        case LocalApicAddressOverride():
            addr = (f"0x{entry.address:x}" if kernel.has(LAPIC_ADDR_OVR_HEX)
                    else "(____ptrval____)")
            lines = [f"LAPIC_ADDR_OVR (address[{addr}])"]
        case MpWakeup() if kernel.has(MADT_WAKEUP_PRINTED):
            lines = [f"MP Wakeup (version[{entry.version}], "
                     f"mailbox[{_hash_llx(entry.mailbox_address)}], "
                     f"reset[{_hash_llx(_printed_reset(entry, following))}])"]
        case RawSubtable() | MpWakeup():  # default: (MP Wakeup has a case from 6.11 on)
            lines = [UNSUPPORTED_MADT_ENTRY.format(entry.type)]
        case _:  # a type a plugin declares
            lines = _plugin_lines(entry, kernel)
    return [f"ACPI: {line}" for line in lines]


def _plugin_lines(entry: MadtEntry, kernel: KernelVersion) -> list[str]:
    lines = entry.kernel_lines(kernel)
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        cls = type(entry)
        raise MadtError(f"{cls.__module__}.{cls.__qualname__}.kernel_lines returned {lines!r}, "
                        "not a list of str", source="<subtable>", offset=entry.offset,
                        field=f"{entry.NAME}.kernel_lines")
    return lines


def _printed_reset(entry: MpWakeup, following: bytes) -> int:
    """6.11+ prints ``p->reset_vector`` whenever version >= 1, even in a 16-byte entry,
    where it reads the 8 bytes after the entry (shown as 0 past the table end)."""
    if entry.version < 1:
        return 0
    if entry.reset_vector is not None:
        return entry.reset_vector
    return int.from_bytes(following[:8].ljust(8, b"\0"), "little")


def _visited(madt: Madt) -> Iterator[tuple[Subtable, bytes]]:
    """(entry, bytes after it) for the entries the kernel walker reaches: it stops unless
    ``entry + 2 < table_end``."""
    table = madt.to_bytes()
    offset = MADT_FIXED_SIZE
    for entry in madt.subtables:
        if offset + 2 >= len(table):
            break
        offset += entry.length
        yield entry, table[offset : offset + 8]


def _lines(pairs: list[tuple[Subtable, bytes]], kernel: KernelVersion,
           types: MadtTypes | None = None) -> list[str]:
    return [line for entry, after in pairs
            for line in print_madt_entry(entry, kernel, following=after, types=types)]


def madt_entry_lines(madt: Madt, kernel: KernelVersion = _LATEST, *,
                     types: MadtTypes | None = None) -> list[str]:
    """``acpi_table_print_madt_entry`` output for every entry, in table order (plugin types
    included; *types* as for :func:`print_madt_entry`)."""
    return _lines(list(_visited(madt)), kernel, types)


def madt_boot_lines(madt: Madt, kernel: KernelVersion = _LATEST, *,
                    processors: bool = True) -> list[str]:
    """The entry lines an x86 boot prints, in ``acpi_process_madt`` order.

    Only built-in types are walked here; a plugin type's entries are printed by the plugin's
    handler (see the module docstring), so they never appear in these lines. Without
    ``processors`` the LAPIC and x2APIC entries' lines (``pr_debug``, one per CPU) are left
    out, for a boot that does not keep debug lines.
    """
    entries = list(_visited(madt))

    def of(*kinds: type[Subtable], limit: int = 0) -> list[tuple[Subtable, bytes]]:
        found = [pair for pair in entries if isinstance(pair[0], kinds)]
        return found[:limit] if limit else found

    order = of(LocalApicAddressOverride)
    cpus = of(LocalApic, LocalX2Apic)
    order += (cpus if processors else []) + of(LocalX2ApicNmi) + of(LocalApicNmi)
    if cpus:
        ioapics = of(IoApic, limit=MAX_IO_APICS)
        order += ioapics
        if ioapics:
            order += of(InterruptOverride) + of(NmiSource)
        if kernel.has(MP_WAKE):
            order += of(MpWakeup, limit=1)
    return _lines(order, kernel)
