"""Build MADT bytes, and describe QEMU-like MADTs from a CPU list.

``describe_madt`` mirrors QEMU hw/i386/acpi-common.c ``acpi_build_madt`` /
``pc_madt_cpu_entry`` (7.2): one Local APIC entry (type 0) per CPU whose APIC ID is below
255, a Local x2APIC entry (type 9) otherwise, ACPI UID = CPU index; one I/O APIC (ID 0 at
0xFEC00000); ISA overrides IRQ0 -> GSI 2 and IRQs 5, 9, 10, 11 active-high level; a LAPIC NMI
for all processors on LINT1, or an x2APIC NMI when the highest APIC ID is above 254. An MP
wakeup entry, when given, is appended last, as TDVF (edk2 OvmfPkg/TdxDxe/TdxAcpiTable.c
``AlterAcpiTable``) and td-shim (``create_madt``) do; further entries (of OEM or plugin
types) come after it, in the order given.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Collection, Sequence
from typing import Final

from kapic.acpi.header import AcpiHeader
from kapic.acpi.interrupts import InterruptOverride, IoApic, LocalApicNmi, LocalX2ApicNmi
from kapic.acpi.madt import ACPI_MADT_PCAT_COMPAT, MADT_FIXED_SIZE, Madt, Subtable, finalize_madt
from kapic.acpi.processors import (
    ACPI_MADT_ENABLED,
    ACPI_MADT_ONLINE_CAPABLE,
    LocalApic,
    LocalX2Apic,
)
from kapic.acpi.wakeup import MpWakeup
from kapic.errors import MadtError

__all__ = ["MAX_MADT_CPUS", "QEMU_PCI_IRQS", "build_madt", "describe_madt"]

#: The most CPUs a described MADT may list: what kapic models (a TDX guest has at most 65535
#: vCPUs; x2APIC IDs are 32 bits, but a table of 2**32 entries would not be a table).
MAX_MADT_CPUS: Final = 65536

#: QEMU's ``ACPI_BUILD_PCI_IRQS``: ISA IRQs given active-high, level overrides.
QEMU_PCI_IRQS = (5, 9, 10, 11)
_SOURCE = "<describe>"


def build_madt(madt: Madt, *, fix_checksum: bool = False) -> bytes:
    """The table's bytes; the checksum byte is kept as given unless *fix_checksum*.

    Tables from :func:`describe_madt` / ``finalize_madt`` already carry a valid checksum;
    decoded tables rebuild byte for byte, a wrong checksum included.
    """
    return madt.to_bytes(fix_checksum=fix_checksum)


def describe_madt(
    cpus: int | None = None,
    apic_ids: Sequence[int] | None = None,
    *,
    disabled: Collection[int] = (),
    online_capable: Collection[int] = (),
    ioapic: bool = True,
    overrides: bool = True,
    nmi: bool = True,
    wakeup: MpWakeup | None = None,
    entries: Sequence[Subtable] = (),
    oem_id: str = "BOCHS",
    oem_table_id: str = "BXPC",
    oem_revision: int = 1,
    creator_id: str = "BXPC",
    creator_revision: int = 1,
    revision: int = 1,
    local_apic_address: int = 0xFEE00000,
    pcat_compat: bool = True,
) -> Madt:
    """Describe a QEMU-like MADT (defaults give QEMU 7.2's q35 table byte for byte).

    *cpus* alone means APIC IDs ``0..cpus-1``. *disabled* and *online_capable* are APIC IDs
    whose Enabled bit is cleared / Online Capable bit is set (both: QEMU 8 style
    hot-pluggable CPU; online-capable only: cloud-hypervisor style flags 3). *entries* are
    appended last (after the MP wakeup entry), e.g. entries of a type a plugin declares.
    """
    ids = _apic_ids(cpus, apic_ids)
    unknown = (set(disabled) | set(online_capable)) - set(ids)
    if unknown:
        raise MadtError(f"APIC IDs {_few(sorted(unknown))} are not in the CPU list",
                        source=_SOURCE, field="disabled/online_capable")
    subtables: list[Subtable] = []
    # each CPU entry made at its offset in the table, so that finalize_madt keeps it as it is
    # (a table has up to 65,536 of them)
    offset = MADT_FIXED_SIZE
    for index, apic_id in enumerate(ids):
        flags = 0 if apic_id in disabled else ACPI_MADT_ENABLED
        if apic_id in online_capable:
            flags |= ACPI_MADT_ONLINE_CAPABLE
        entry: Subtable
        if apic_id < 0xFF:
            if index > 0xFF:
                raise MadtError(f"CPU index {index} does not fit the u8 ACPI UID of a type 0 "
                                "entry", source=_SOURCE, field="apic_ids")
            entry = LocalApic(index, apic_id, flags, offset=offset)
        else:
            entry = LocalX2Apic(x2apic_id=apic_id, acpi_processor_uid=index, flags=flags,
                                offset=offset)
        subtables.append(entry)
        offset += entry.length
    if ioapic:
        subtables.append(IoApic(ioapic_id=0, address=0xFEC00000, gsi_base=0))
    if overrides:
        subtables.append(InterruptOverride(source_irq=0, gsi=2, inti_flags=0))
        subtables.extend(InterruptOverride(source_irq=irq, gsi=irq, inti_flags=0xD)
                         for irq in QEMU_PCI_IRQS)
    if nmi:
        subtables.append(LocalX2ApicNmi() if max(ids) > 254 else LocalApicNmi())
    if wakeup is not None:
        subtables.append(wakeup)
    subtables.extend(entries)
    header = AcpiHeader(
        signature="APIC", length=0, revision=revision, checksum=0,
        oem_id=oem_id.ljust(6), oem_table_id=oem_table_id.ljust(8),
        oem_revision=oem_revision, creator_id=creator_id.ljust(4),
        creator_revision=creator_revision,
    )
    madt = Madt(header=header, local_apic_address=local_apic_address,
                flags=ACPI_MADT_PCAT_COMPAT if pcat_compat else 0, subtables=tuple(subtables))
    return finalize_madt(madt)


def _apic_ids(cpus: int | None, apic_ids: Sequence[int] | None) -> list[int]:
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, int)
                             or not 1 <= cpus <= MAX_MADT_CPUS):
        raise MadtError(f"cpus={cpus!r}: must be between 1 and {MAX_MADT_CPUS} (kapic models at "
                        f"most {MAX_MADT_CPUS} CPUs)", source=_SOURCE, field="cpus")
    if apic_ids is None:
        if cpus is None:
            raise MadtError("give cpus or apic_ids", source=_SOURCE, field="cpus")
        apic_ids = range(cpus)
    ids = list(itertools.islice(apic_ids, MAX_MADT_CPUS + 1))
    if len(ids) > MAX_MADT_CPUS:
        raise MadtError(f"more than {MAX_MADT_CPUS} APIC IDs: kapic models at most "
                        f"{MAX_MADT_CPUS} CPUs", source=_SOURCE, field="apic_ids")
    if cpus is not None and cpus != len(ids):
        raise MadtError(f"cpus={cpus} but {len(ids)} APIC IDs given", source=_SOURCE,
                        field="cpus")
    if not ids:
        raise MadtError("at least one CPU is needed", source=_SOURCE, field="cpus")
    if len(set(ids)) != len(ids):
        twice = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
        raise MadtError(f"duplicate APIC IDs {_few(twice)}", source=_SOURCE, field="apic_ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise MadtError("APIC IDs must be integers", source=_SOURCE, field="apic_ids")
    if min(ids) < 0 or max(ids) > 0xFFFFFFFF:
        raise MadtError("APIC IDs must be 0..0xFFFFFFFF", source=_SOURCE, field="apic_ids")
    return ids


def _few(ids: Sequence[object]) -> str:
    """A list for a message: at most 8 items shown."""
    shown = ", ".join(map(str, ids[:8]))
    return f"[{shown}{f', ... ({len(ids)} in all)' if len(ids) > 8 else ''}]"
