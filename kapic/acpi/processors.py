"""Processor subtables: Local APIC (0), Local APIC Address Override (5), Local x2APIC (9).

Mirrors include/acpi/actbl2.h ``struct acpi_madt_local_apic``,
``struct acpi_madt_local_apic_override`` and ``struct acpi_madt_local_x2apic``, with the
flag bits ``ACPI_MADT_ENABLED`` (1) and ``ACPI_MADT_ONLINE_CAPABLE`` (2). Field names follow
the decoded JSON; the kernel calls them ``processor_id``/``id`` (type 0) and
``local_apic_id``/``uid`` (type 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from kapic.acpi.entry import MadtEntry

__all__ = [
    "ACPI_MADT_ENABLED",
    "ACPI_MADT_ONLINE_CAPABLE",
    "LocalApic",
    "LocalApicAddressOverride",
    "LocalX2Apic",
]

ACPI_MADT_ENABLED: Final = 1
ACPI_MADT_ONLINE_CAPABLE: Final = 2


@dataclass(frozen=True, slots=True)
class LocalApic(MadtEntry):
    """Type 0, 8 bytes: ``acpi_madt_local_apic``."""

    type: ClassVar[int] = 0
    NAME: ClassVar[str] = "Processor Local APIC"
    LAYOUT: ClassVar[tuple[tuple[str, str], ...]] = (
        ("acpi_processor_uid", "B"), ("apic_id", "B"), ("flags", "I"),
    )

    acpi_processor_uid: int
    apic_id: int
    flags: int = ACPI_MADT_ENABLED

    @property
    def enabled(self) -> bool:
        """``ACPI_MADT_ENABLED``: the processor is usable now."""
        return bool(self.flags & ACPI_MADT_ENABLED)

    @property
    def online_capable(self) -> bool:
        """``ACPI_MADT_ONLINE_CAPABLE``: disabled, but may be enabled at run time."""
        return bool(self.flags & ACPI_MADT_ONLINE_CAPABLE)


@dataclass(frozen=True, slots=True)
class LocalApicAddressOverride(MadtEntry):
    """Type 5, 12 bytes: ``acpi_madt_local_apic_override`` (64-bit LAPIC address)."""

    type: ClassVar[int] = 5
    NAME: ClassVar[str] = "Local APIC Address Override"
    LAYOUT: ClassVar[tuple[tuple[str, str], ...]] = (("reserved", "H"), ("address", "Q"))

    address: int
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class LocalX2Apic(MadtEntry):
    """Type 9, 16 bytes: ``acpi_madt_local_x2apic``."""

    type: ClassVar[int] = 9
    NAME: ClassVar[str] = "Processor Local x2APIC"
    LAYOUT: ClassVar[tuple[tuple[str, str], ...]] = (
        ("reserved", "H"), ("x2apic_id", "I"), ("flags", "I"), ("acpi_processor_uid", "I"),
    )

    x2apic_id: int
    acpi_processor_uid: int
    flags: int = ACPI_MADT_ENABLED
    reserved: int = 0

    @property
    def enabled(self) -> bool:
        """``ACPI_MADT_ENABLED``: the processor is usable now."""
        return bool(self.flags & ACPI_MADT_ENABLED)

    @property
    def online_capable(self) -> bool:
        """``ACPI_MADT_ONLINE_CAPABLE``: disabled, but may be enabled at run time."""
        return bool(self.flags & ACPI_MADT_ONLINE_CAPABLE)
