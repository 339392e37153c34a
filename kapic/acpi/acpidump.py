"""Read the text that ACPICA's ``acpidump`` prints: the MADT ("APIC") tables it holds.

Format (source/tools/acpidump/apdump.c ``ap_dump_table_buffer`` and
source/components/utilities/utbuffer.c ``acpi_ut_dump_buffer``): a ``SIG @ 0xADDRESS`` line,
then lines ``  OFFSET: up to 16 hex bytes  ascii`` (the hex column is 48 characters wide),
a blank line between tables. Only APIC tables are checked; other tables are skipped.
"""

from __future__ import annotations

import re
from typing import Final

from kapic.errors import MadtError

__all__ = ["acpidump_madts", "looks_like_acpidump"]

_TABLE_LINE: Final = re.compile(r"^\s*(\S.{0,7}?) @ 0x([0-9A-Fa-f]+)\s*$")
_HEX_LINE: Final = re.compile(r"^\s*([0-9A-Fa-f]{4,8}): (.*)$")
_BYTE: Final = re.compile(r"[0-9A-Fa-f]{2}")
_HEX_COLUMN: Final = 48


def looks_like_acpidump(data: bytes) -> bool:
    """Whether *data* is text with at least one ``SIG @ 0x...`` table line."""
    if b"\0" in data[:4096]:
        return False
    text = data.decode("latin-1")
    return any(_TABLE_LINE.match(line) for line in text.splitlines())


def acpidump_madts(data: bytes, source: str) -> list[tuple[str, bytes]]:
    """Every APIC table of an acpidump text, in order, as ``(source, bytes)``."""
    text = data.decode("latin-1")
    tables: list[tuple[str, list[tuple[int, str]]]] = []
    found: list[str] = []
    current: list[tuple[int, str]] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        head = _TABLE_LINE.match(line)
        if head is not None:
            found.append(head.group(1))
            current = None
            if head.group(1) == "APIC":
                current = []
                tables.append((f"{source} (APIC @ 0x{head.group(2)})", current))
        elif current is not None:
            if not line.strip():
                if current:
                    current = None
                continue
            current.append((number, line))
    if not tables:
        seen = ", ".join(found) or "none"
        raise MadtError(f"acpidump text holds no APIC table (tables found: {seen})",
                        source=source, offset=0, field="signature")
    return [(name, _decode_lines(name, lines)) for name, lines in tables]


def _decode_lines(source: str, lines: list[tuple[int, str]]) -> bytes:
    out = bytearray()
    for number, line in lines:
        match = _HEX_LINE.match(line)
        if match is None:
            raise MadtError(f"acpidump line {number} is not 'OFFSET: hex bytes': {line[:40]!r}",
                            source=source, offset=len(out), field="acpidump")
        offset = int(match.group(1), 16)
        if offset != len(out):
            raise MadtError(f"acpidump line {number} starts at offset 0x{offset:x} but "
                            f"{len(out)} bytes came before it", source=source,
                            offset=len(out), field="acpidump")
        tokens = match.group(2)[:_HEX_COLUMN].split()
        if not tokens or len(tokens) > 16 or not all(_BYTE.fullmatch(t) for t in tokens):
            raise MadtError(f"acpidump line {number}: bad hex bytes "
                            f"{match.group(2)[:_HEX_COLUMN].strip()!r}", source=source,
                            offset=len(out), field="acpidump")
        out += bytes.fromhex("".join(tokens))
    if not out:
        raise MadtError("APIC table without hex bytes", source=source, offset=0,
                        field="acpidump")
    return bytes(out)
