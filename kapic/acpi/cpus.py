"""Which MADT processor entries the kernel counts: the rules of arch/x86/kernel/acpi/boot.c.

Models ``acpi_parse_lapic`` / ``acpi_parse_x2apic`` (IDs 0xFF and 0xFFFFFFFF are placeholders;
from 6.7, x2APIC entries below 0xFF are ignored when a usable LAPIC entry exists: the
has_lapic_cpus gate) and ``acpi_is_processor_usable()`` (reference section 1.4). 6.7 to 6.13
register every LAPIC entry before any x2APIC entry (the lapic_before_x2apic gate); the other
releases walk types 0 and 9 together in table order, as ``acpi_table_parse_entries_array`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from kapic.acpi.madt import Madt
from kapic.acpi.processors import LocalApic, LocalX2Apic
from kapic.versions import (
    HAS_LAPIC_CPUS,
    LAPIC_BEFORE_X2APIC,
    LAPIC_HOTPLUG_GUEST_ONLY,
    LATEST,
    KernelVersion,
)

__all__ = ["CpuEntry", "acpi_is_processor_usable", "enabled_apic_ids", "madt_cpu_entries"]


@dataclass(frozen=True, slots=True)
class CpuEntry:
    apic_id: int
    enabled: bool
    x2apic: bool


def acpi_is_processor_usable(flags: int, online_capable_supported: bool, *,
                             guest_only: bool = False, guest: bool = True) -> bool:
    """``acpi_is_processor_usable()``: enabled, or online capable where firmware supports
    that bit; without it, any disabled entry, or (``guest_only``: 7.0's rule) only under a
    hypervisor (``guest``)."""
    if flags & 1:
        return True
    if online_capable_supported:
        return bool(flags & 2)
    return guest or not guest_only


def madt_cpu_entries(madt: Madt, kernel: KernelVersion | None = None, *,
                     guest: bool = True) -> list[CpuEntry]:
    """The processor entries ``kernel`` (default: the latest) registers, in its order, with
    the rules of reference section 1.4; ``guest``: whether the kernel runs under a
    hypervisor (it decides for disabled entries from 7.0)."""
    version = kernel or KernelVersion(LATEST)
    rule = {"guest_only": version.has(LAPIC_HOTPLUG_GUEST_ONLY), "guest": guest}
    # Online-capable is honoured from ACPI 6.3 (MADT revision 5) on; kapic has no FADT.
    oc = madt.header.revision >= 5
    has_lapic = version.has(HAS_LAPIC_CPUS) and any(
        s.apic_id != 0xFF and acpi_is_processor_usable(s.flags, oc)
        for s in madt.subtables
        if isinstance(s, LocalApic)
    )
    out: list[CpuEntry] = []
    entries = list(madt.subtables)
    if version.has(LAPIC_BEFORE_X2APIC):  # two passes: types 0, then type 9
        entries.sort(key=lambda e: isinstance(e, LocalX2Apic))
    # Otherwise one walk over types 0 and 9 together, in table order
    # (acpi_table_parse_entries_array: "enumerate the APIC IDs in the order that they appear
    # in the MADT").
    for entry in entries:
        if isinstance(entry, LocalX2Apic):
            if entry.x2apic_id == 0xFFFFFFFF or (has_lapic and entry.x2apic_id < 0xFF):
                continue
            if acpi_is_processor_usable(entry.flags, oc, **rule):
                out.append(CpuEntry(entry.x2apic_id, bool(entry.flags & 1), True))
        elif isinstance(entry, LocalApic):
            if entry.apic_id != 0xFF and acpi_is_processor_usable(entry.flags, oc, **rule):
                out.append(CpuEntry(entry.apic_id, bool(entry.flags & 1), False))
    return out


def enabled_apic_ids(madt: Madt) -> list[int]:
    """The hardware a table describes: the APIC ID of every enabled processor entry, LAPIC or
    x2APIC, in table order, once each, whatever a kernel makes of them (placeholders 0xFF and
    0xFFFFFFFF excluded)."""
    ids: dict[int, None] = {}
    for entry in madt.subtables:
        if isinstance(entry, LocalX2Apic) and entry.flags & 1 and entry.x2apic_id != 0xFFFFFFFF:
            ids[entry.x2apic_id] = None
        elif isinstance(entry, LocalApic) and entry.flags & 1 and entry.apic_id != 0xFF:
            ids[entry.apic_id] = None
    return list(ids)
