"""Interrupt subtables: I/O APIC (1), Interrupt Source Override (2), NMI Source (3),
Local APIC NMI (4) and Local x2APIC NMI (0xA).

Mirrors include/acpi/actbl2.h ``struct acpi_madt_io_apic``,
``acpi_madt_interrupt_override``, ``acpi_madt_nmi_source``, ``acpi_madt_local_apic_nmi`` and
``acpi_madt_local_x2apic_nmi``. Field names follow the decoded JSON (the kernel's
``global_irq``/``global_irq_base`` are ``gsi``/``gsi_base`` here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kapic.acpi.entry import MadtEntry

__all__ = ["InterruptOverride", "IoApic", "LocalApicNmi", "LocalX2ApicNmi", "NmiSource"]

_Layout = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class IoApic(MadtEntry):
    """Type 1, 12 bytes."""

    type: ClassVar[int] = 1
    NAME: ClassVar[str] = "I/O APIC"
    LAYOUT: ClassVar[_Layout] = (
        ("ioapic_id", "B"), ("reserved", "B"), ("address", "I"), ("gsi_base", "I"),
    )

    ioapic_id: int
    address: int
    gsi_base: int = 0
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class InterruptOverride(MadtEntry):
    """Type 2, 10 bytes: an ISA IRQ routed to another GSI / with other polarity."""

    type: ClassVar[int] = 2
    NAME: ClassVar[str] = "Interrupt Source Override"
    LAYOUT: ClassVar[_Layout] = (
        ("bus", "B"), ("source_irq", "B"), ("gsi", "I"), ("inti_flags", "H"),
    )

    source_irq: int
    gsi: int
    inti_flags: int = 0
    bus: int = 0


@dataclass(frozen=True, slots=True)
class NmiSource(MadtEntry):
    """Type 3, 8 bytes."""

    type: ClassVar[int] = 3
    NAME: ClassVar[str] = "NMI Source"
    LAYOUT: ClassVar[_Layout] = (("inti_flags", "H"), ("gsi", "I"))

    gsi: int
    inti_flags: int = 0


@dataclass(frozen=True, slots=True)
class LocalApicNmi(MadtEntry):
    """Type 4, 6 bytes; UID 0xFF means all processors."""

    type: ClassVar[int] = 4
    NAME: ClassVar[str] = "Local APIC NMI"
    LAYOUT: ClassVar[_Layout] = (
        ("acpi_processor_uid", "B"), ("inti_flags", "H"), ("lint", "B"),
    )

    acpi_processor_uid: int = 0xFF
    inti_flags: int = 0
    lint: int = 1

    @property
    def all_processors(self) -> bool:
        return self.acpi_processor_uid == 0xFF


@dataclass(frozen=True, slots=True)
class LocalX2ApicNmi(MadtEntry):
    """Type 0xA, 12 bytes; UID 0xFFFFFFFF means all processors."""

    type: ClassVar[int] = 0xA
    NAME: ClassVar[str] = "Local x2APIC NMI"
    LAYOUT: ClassVar[_Layout] = (
        ("inti_flags", "H"), ("acpi_processor_uid", "I"), ("lint", "B"), ("reserved", "3s"),
    )

    acpi_processor_uid: int = 0xFFFFFFFF
    inti_flags: int = 0
    lint: int = 1
    reserved: bytes = b"\0\0\0"

    @property
    def all_processors(self) -> bool:
        return self.acpi_processor_uid == 0xFFFFFFFF
