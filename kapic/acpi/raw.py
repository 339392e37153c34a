"""Subtables kapic does not decode (GIC, SAPIC, LoongArch, RISC-V, reserved, OEM): raw bytes.

The x86 walker skips them by their length byte, as drivers/acpi/tables.c
``acpi_parse_entries_array`` does for types no handler asked for. Names follow
include/acpi/actbl2.h ``enum acpi_madt_type`` (spelled as in the ACPI specification).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from kapic.errors import MadtError

__all__ = ["MADT_TYPE_NAMES", "RawSubtable", "madt_type_name"]

#: Specification names of the subtable types (the typed ones included).
MADT_TYPE_NAMES: Final = MappingProxyType({
    0x00: "Processor Local APIC",
    0x01: "I/O APIC",
    0x02: "Interrupt Source Override",
    0x03: "NMI Source",
    0x04: "Local APIC NMI",
    0x05: "Local APIC Address Override",
    0x06: "I/O SAPIC",
    0x07: "Local SAPIC",
    0x08: "Platform Interrupt Sources",
    0x09: "Processor Local x2APIC",
    0x0A: "Local x2APIC NMI",
    0x0B: "GIC CPU Interface (GICC)",
    0x0C: "GIC Distributor (GICD)",
    0x0D: "GIC MSI Frame",
    0x0E: "GIC Redistributor (GICR)",
    0x0F: "GIC Interrupt Translation Service (ITS)",
    0x10: "Multiprocessor Wakeup",
    0x11: "Core Programmable Interrupt Controller (CORE PIC)",
    0x12: "Legacy I/O Programmable Interrupt Controller (LIO PIC)",
    0x13: "HyperTransport Programmable Interrupt Controller (HT PIC)",
    0x14: "Extend I/O Programmable Interrupt Controller (EIO PIC)",
    0x15: "MSI Programmable Interrupt Controller (MSI PIC)",
    0x16: "Bridge I/O Programmable Interrupt Controller (BIO PIC)",
    0x17: "Low Pin Count Programmable Interrupt Controller (LPC PIC)",
    0x18: "RISC-V Hart Local Interrupt Controller (RINTC)",
    0x19: "RISC-V Incoming MSI Controller (IMSIC)",
    0x1A: "RISC-V Advanced Platform-Level Interrupt Controller (APLIC)",
    0x1B: "RISC-V Platform-Level Interrupt Controller (PLIC)",
    0x1C: "GICv5 Interrupt Routing Service (IRS)",
    0x1D: "GICv5 Interrupt Translation Service (ITS)",
    0x1E: "GICv5 ITS Translate Frame",
})


def madt_type_name(subtable_type: int) -> str:
    """Specification name of a subtable type; "Reserved" / "OEM" for the unassigned ones."""
    if subtable_type in MADT_TYPE_NAMES:
        return MADT_TYPE_NAMES[subtable_type]
    return "OEM" if subtable_type >= 0x80 else "Reserved"


@dataclass(frozen=True, slots=True)
class RawSubtable:
    """Any subtable kapic keeps undecoded; ``data`` is everything after the 2-byte header."""

    type: int
    data: bytes = b""
    offset: int = 0
    #: The length byte; 0 means "compute it" (2 + len(data)).
    length: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.type <= 0xFF:
            raise MadtError(f"type {self.type} does not fit in a byte", source="<subtable>",
                            offset=self.offset, field="type")
        size = 2 + len(self.data)
        if self.length == 0:
            object.__setattr__(self, "length", size)
        if self.length != size or size > 0xFF:
            raise MadtError(f"length {self.length} does not match 2 + {len(self.data)} bytes "
                            "(at most 255)", source="<subtable>", offset=self.offset,
                            field="length")

    @property
    def NAME(self) -> str:
        return madt_type_name(self.type)

    @property
    def raw(self) -> bytes:
        """The whole entry, header included."""
        return self.pack()

    @classmethod
    def unpack(cls, data: bytes, offset: int, length: int) -> RawSubtable:
        return cls(type=data[offset], data=bytes(data[offset + 2 : offset + length]),
                   offset=offset, length=length)

    def pack(self) -> bytes:
        return bytes((self.type, self.length)) + self.data
