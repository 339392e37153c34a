"""Decode a MADT from bytes, walking subtables the way the kernel does.

Mirrors drivers/acpi/tables.c ``acpi_parse_entries_array`` (now lib/fw_table.c): subtables
start at ``sizeof(struct acpi_table_madt)`` (44), a zero length is an error ("Invalid zero
length"), the walk advances by the length byte; and include/linux/acpi.h
``BAD_MADT_ENTRY``: an entry must not run past the table end nor be shorter than its struct
(longer is fine). Differences, all stricter: a 1-byte tail that cannot hold an entry header
is an error here (the kernel's ``entry + 2 < end`` test silently ignores up to 2 trailing
bytes), and an entry shorter than its struct fails the whole decode (the kernel fails only
when a handler for that type runs). The checksum is not verified (Linux does not by
default); see ``kapic.acpi.summary.madt_problems``. Which types decode to which classes is a
``kapic.acpi.types.MadtTypes`` (the built-ins unless plugins add some).
"""

from __future__ import annotations

from kapic.acpi.header import HEADER_FIELDS, HEADER_SIZE, AcpiHeader
from kapic.acpi.madt import MADT_FIXED_SIZE, Madt, Subtable
from kapic.acpi.raw import RawSubtable
from kapic.acpi.types import MadtTypes
from kapic.errors import MadtError

__all__ = ["parse_madt"]


def parse_madt(data: bytes, source: str = "<bytes>", *, types: MadtTypes | None = None,
               ) -> Madt:
    """Decode one MADT. Bytes past the header's ``length`` are ignored.

    *types* says which subtable types decode to which classes (None: the built-ins); the
    others are kept as :class:`RawSubtable`. Every problem that stops the decode is a
    :class:`MadtError` naming *source*, the byte offset and the field.
    """
    data = bytes(data)
    header = _parse_header(data, source)
    local_apic_address = int.from_bytes(data[36:40], "little")
    flags = int.from_bytes(data[40:44], "little")
    subtables = tuple(_walk(data, header.length, source,
                            MadtTypes.builtin() if types is None else types))
    return Madt(header=header, local_apic_address=local_apic_address, flags=flags,
                subtables=subtables)


def _parse_header(data: bytes, source: str) -> AcpiHeader:
    size = len(data)
    if size == 0:
        raise MadtError("empty input (0 bytes); a MADT starts with a 36-byte ACPI header",
                        source=source, offset=0, field="signature")
    if size >= 4 and data[:4] != b"APIC":
        raise MadtError(f"signature {data[:4]!r} is not b'APIC' (not a MADT)",
                        source=source, offset=0, field="signature")
    if size < HEADER_SIZE:
        name, offset, _ = next(f for f in HEADER_FIELDS if f[1] + f[2] > size)
        raise MadtError(f"truncated: input ends after {size} bytes, inside the "
                        f"{HEADER_SIZE}-byte ACPI table header", source=source,
                        offset=offset, field=name)
    header = AcpiHeader.unpack(data)
    if header.length < MADT_FIXED_SIZE:
        raise MadtError(f"header length {header.length} is shorter than the "
                        f"{MADT_FIXED_SIZE}-byte MADT fixed part", source=source,
                        offset=4, field="length")
    if header.length > size:
        raise MadtError(f"header length {header.length} is beyond the end of the input "
                        f"({size} bytes)", source=source, offset=4, field="length")
    return header


def _walk(data: bytes, end: int, source: str, types: MadtTypes) -> list[Subtable]:
    entries: list[Subtable] = []
    offset = MADT_FIXED_SIZE
    while offset < end:
        field = f"subtable[{len(entries)}]"
        if end - offset < 2:
            raise MadtError(f"{end - offset} byte left before the table end at {end}; a "
                            "subtable header needs 2", source=source, offset=offset,
                            field=f"{field}.type")
        kind, length = data[offset], data[offset + 1]
        where = f"subtable type 0x{kind:02x} ({types.type_name(kind)}) at offset {offset}"
        if length == 0:
            raise MadtError(f"invalid zero length of {where}", source=source,
                            offset=offset + 1, field=f"{field}.length")
        if offset + length > end:
            raise MadtError(f"length {length} of {where} runs {offset + length - end} "
                            f"byte(s) past the table end at {end}", source=source,
                            offset=offset + 1, field=f"{field}.length")
        cls = types.class_for(kind)
        minimum = 2 if cls is None else cls.min_length()
        if length < minimum:
            raise MadtError(f"length {length} of {where} is shorter than the {minimum} "
                            "bytes its type needs", source=source, offset=offset + 1,
                            field=f"{field}.length")
        if cls is None:
            entries.append(RawSubtable.unpack(data, offset, length))
        else:
            entries.append(cls.unpack(data, offset, length))
        offset += length
    return entries
