"""ACPI MADT ("APIC" table) layer: model, kernel-faithful decoder, builder, kernel-style print,
and the registry of subtable types (``MadtTypes``) through which plugins add their own.

Mirrors include/acpi/actbl.h / actbl2.h (structs), drivers/acpi/tables.c
(``acpi_parse_entries_array``, ``acpi_table_print_madt_entry``) and
arch/x86/kernel/acpi/boot.c / madt_wakeup.c (``acpi_process_madt``, ``acpi_parse_mp_wake``).
"""

from kapic.acpi.builder import build_madt, describe_madt
from kapic.acpi.entry import MadtEntry
from kapic.acpi.header import AcpiHeader, table_checksum
from kapic.acpi.interrupts import (
    InterruptOverride,
    IoApic,
    LocalApicNmi,
    LocalX2ApicNmi,
    NmiSource,
)
from kapic.acpi.kprint import madt_boot_lines, madt_entry_lines, print_madt_entry
from kapic.acpi.loader import (
    MadtInput,
    load_madt_choice,
    load_madt_tables,
    load_madts,
    read_madts,
)
from kapic.acpi.madt import Madt, Subtable, finalize_madt
from kapic.acpi.processors import LocalApic, LocalApicAddressOverride, LocalX2Apic
from kapic.acpi.raw import RawSubtable, madt_type_name
from kapic.acpi.summary import (
    madt_problems,
    madt_summary,
    madt_summary_line,
    madt_to_json,
    subtable_to_json,
)
from kapic.acpi.types import MadtTypes
from kapic.acpi.wakeup import MpWakeup
from kapic.acpi.walker import parse_madt

__all__ = [
    "AcpiHeader",
    "InterruptOverride",
    "IoApic",
    "LocalApic",
    "LocalApicAddressOverride",
    "LocalApicNmi",
    "LocalX2Apic",
    "LocalX2ApicNmi",
    "Madt",
    "MadtEntry",
    "MadtInput",
    "MadtTypes",
    "MpWakeup",
    "NmiSource",
    "RawSubtable",
    "Subtable",
    "build_madt",
    "describe_madt",
    "finalize_madt",
    "load_madt_choice",
    "load_madt_tables",
    "load_madts",
    "madt_boot_lines",
    "madt_entry_lines",
    "madt_problems",
    "madt_summary",
    "madt_summary_line",
    "madt_to_json",
    "madt_type_name",
    "parse_madt",
    "print_madt_entry",
    "read_madts",
    "subtable_to_json",
    "table_checksum",
]
