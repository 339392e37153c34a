"""JSON view, summary and non-fatal problems of a decoded MADT.

The JSON layout is the one of the shared ``*.expected.json`` files (an independent
stdlib decoder written from the ACPI specification layouts; see include/acpi/actbl2.h for
the structs). Problems are what Linux tolerates: a wrong checksum (drivers/acpi/tables.c
leaves early checksum verification off unless ``acpi_force_table_verification``) and bytes
after the table's own length.

Entries of a type a plugin declares (``kapic.acpi.types.MadtTypes``) show their fields by name
like the built-in typed ones; the summary lists their type bytes under ``plugin_types``, a key
present only when the table holds such an entry (so the JSON of every other table is the
shared layout exactly).
"""

from __future__ import annotations

from typing import Any

from kapic.acpi.cpus import madt_cpu_entries
from kapic.acpi.entry import POLARITY_NAMES, TRIGGER_NAMES, MadtEntry, inti_polarity, inti_trigger
from kapic.acpi.header import table_checksum
from kapic.acpi.interrupts import InterruptOverride, IoApic, LocalApicNmi, LocalX2ApicNmi
from kapic.acpi.madt import SUBTABLE_CLASSES, Madt, Subtable
from kapic.acpi.processors import LocalApic, LocalX2Apic
from kapic.acpi.raw import RawSubtable
from kapic.acpi.types import MadtTypes
from kapic.acpi.wakeup import MpWakeup
from kapic.errors import MadtError

__all__ = [
    "madt_problems",
    "madt_summary",
    "madt_summary_line",
    "madt_to_json",
    "subtable_to_json",
]

JsonDict = dict[str, Any]


def madt_problems(madt: Madt, *, data_size: int | None = None,
                  source: str = "<bytes>") -> list[MadtError]:
    """Problems Linux lets pass, as errors (not raised) naming offset and field."""
    problems: list[MadtError] = []
    total = table_checksum(madt.to_bytes())
    if total:
        problems.append(MadtError(
            f"checksum byte 0x{madt.header.checksum:02x} does not make the table sum to "
            f"zero (sum mod 256 = 0x{total:02x})", source=source, offset=9, field="checksum"))
    length = madt.header.length
    if data_size is not None and data_size > length:
        problems.append(MadtError(
            f"{data_size - length} byte(s) after the table's length ({length}) ignored",
            source=source, offset=length, field="length"))
    return problems


def _fields(entry: MadtEntry) -> JsonDict:
    values = entry.values()
    out: JsonDict = {}
    for name, value in values.items():
        out[name] = value.hex() if isinstance(value, bytes) else value
        if name == "inti_flags":
            out["polarity"] = inti_polarity(value)
            out["polarity_name"] = POLARITY_NAMES[inti_polarity(value)]
            out["trigger_mode"] = inti_trigger(value)
            out["trigger_mode_name"] = TRIGGER_NAMES[inti_trigger(value)]
        elif name == "flags" and isinstance(entry, LocalApic | LocalX2Apic):
            out["enabled"] = entry.enabled
            out["online_capable"] = entry.online_capable
        elif name == "acpi_processor_uid" and isinstance(entry, LocalApicNmi | LocalX2ApicNmi):
            out["all_processors"] = entry.all_processors
    if isinstance(entry, MpWakeup):
        out["reset_vector_used"] = entry.reset_vector_used
        if entry.reset_vector is not None:
            out["reset_vector"] = entry.reset_vector
    return out


def subtable_to_json(entry: Subtable, *, types: MadtTypes | None = None) -> JsonDict:
    """One subtable: offset, type, type_name, length, then ``fields`` or ``raw`` hex.

    With *types*, a raw entry of a type *types* adds is shown decoded by that class
    (``MadtTypes.typed``).
    """
    if types is not None:
        entry = types.typed(entry)
    # A typed entry's NAME is its type's specification name (the built-ins' are the names of
    # MADT_TYPE_NAMES); a raw entry's NAME is madt_type_name(type).
    out: JsonDict = {"offset": entry.offset, "type": entry.type,
                     "type_name": entry.NAME, "length": entry.length}
    if isinstance(entry, RawSubtable):
        out["raw"] = entry.raw.hex()
    else:
        out["fields"] = _fields(entry)
        if entry.extra:
            out["extra"] = entry.extra.hex()
    return out


def madt_summary(madt: Madt, *, types: MadtTypes | None = None) -> JsonDict:
    """Counts per kind, first wakeup mailbox, the other (raw) types present; and the plugin
    types present, when there are any (*types* as for :func:`subtable_to_json`)."""
    entries = madt.subtables
    if types is not None:
        entries = tuple(types.typed(entry) for entry in entries)
    lapics = [e for e in entries if isinstance(e, LocalApic)]
    x2apics = [e for e in entries if isinstance(e, LocalX2Apic)]
    wakeups = [e for e in entries if isinstance(e, MpWakeup)]
    summary: JsonDict = {
        "subtables": len(entries),
        "lapic": len(lapics),
        "lapic_enabled": sum(e.enabled for e in lapics),
        "x2apic": len(x2apics),
        "x2apic_enabled": sum(e.enabled for e in x2apics),
        "ioapic": sum(isinstance(e, IoApic) for e in entries),
        "interrupt_source_override": sum(isinstance(e, InterruptOverride) for e in entries),
        "lapic_nmi": sum(isinstance(e, LocalApicNmi) for e in entries),
        "x2apic_nmi": sum(isinstance(e, LocalX2ApicNmi) for e in entries),
        "mp_wakeup": len(wakeups),
        "mp_wakeup_mailbox_address": wakeups[0].mailbox_address if wakeups else None,
        "other_types": sorted({e.type for e in entries if isinstance(e, RawSubtable)}),
    }
    plugin_types = sorted({e.type for e in entries
                           if not isinstance(e, RawSubtable) and e.type not in SUBTABLE_CLASSES})
    if plugin_types:
        summary["plugin_types"] = plugin_types
    return summary


def madt_to_json(madt: Madt, *, file: str | None = None, file_size: int | None = None,
                 source: str | None = None, types: MadtTypes | None = None) -> JsonDict:
    """The decoded table in the layout of the shared ``*.expected.json`` files.

    *types* as for :func:`subtable_to_json`.
    """
    header = madt.header
    problems = madt_problems(madt, data_size=file_size, source=source or file or "<bytes>")
    return {
        "file": file,
        "file_size": header.length if file_size is None else file_size,
        "header": {
            "signature": header.signature, "length": header.length,
            "revision": header.revision, "checksum": header.checksum,
            "checksum_ok": madt.checksum_ok, "oem_id": header.oem_id,
            "oem_table_id": header.oem_table_id, "oem_revision": header.oem_revision,
            "creator_id": header.creator_id, "creator_revision": header.creator_revision,
        },
        "local_apic_address": madt.local_apic_address,
        "flags": madt.flags,
        "pcat_compat": madt.pcat_compat,
        "subtables": [subtable_to_json(entry, types=types) for entry in madt.subtables],
        "summary": madt_summary(madt, types=types),
        "errors": [f"offset {p.offset}: {p.message}" for p in problems],
    }


def madt_summary_line(madt: Madt) -> str:
    """One line: CPUs enabled / possible, I/O APICs, wakeup mailbox."""
    # Counted with the kernel's rules (placeholder IDs, x2APIC IDs below 0xFF beside LAPICs).
    possible = madt_cpu_entries(madt)
    enabled = sum(e.enabled for e in possible)
    summary = madt_summary(madt)
    line = (f"CPUs: {enabled} enabled / {len(possible)} possible, "
            f"{summary['ioapic']} IOAPIC(s)")
    wakeup = next((e for e in madt.subtables if isinstance(e, MpWakeup)), None)
    if wakeup is None:
        return line + ", no MP wakeup mailbox"
    reset = (f"reset vector 0x{wakeup.reset_vector:x}" if wakeup.reset_vector_used
             and wakeup.reset_vector is not None else "no reset vector")
    return (line + f", MP wakeup mailbox 0x{wakeup.mailbox_address:x} "
            f"(version {wakeup.version}, {wakeup.length} bytes, {reset})")
