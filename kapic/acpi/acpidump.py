"""Read the text that ACPICA's ``acpidump`` prints: the MADT ("APIC") tables it holds.

Format (source/tools/acpidump/apdump.c ``ap_dump_table_buffer`` and
source/components/utilities/utbuffer.c ``acpi_ut_dump_buffer``): a ``SIG @ 0xADDRESS`` line,
then lines ``  OFFSET: up to 16 hex bytes  ascii`` (the hex column is 48 characters wide),
a blank line between tables. Only APIC tables are checked; other tables are skipped.

Text with a byte-order mark (UTF-16 as Windows PowerShell's ``acpidump > file`` saves it, or
UTF-8) is read as well. NUL bytes do not make the text binary: they are ignored in a
``SIG @ 0x...`` line and in the ASCII column, a line of only blanks and NULs counts as blank
(a NUL-padded copy), and a NUL in a line's offset or hex bytes is an error naming its line,
column and input offset. At most :data:`MAX_APIC_TABLES` APIC tables are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from kapic.acpi.header import printable
from kapic.errors import MadtError

__all__ = [
    "MAX_APIC_TABLES",
    "AcpidumpTable",
    "acpidump_madts",
    "acpidump_tables",
    "looks_like_acpidump",
]

#: More APIC tables in one text is an error (firmware publishes one, a few at most; a 64 MiB
#: text of nothing but headings would otherwise make millions of error objects).
MAX_APIC_TABLES: Final = 1024

_TABLE_LINE: Final = re.compile(r"^\s*(\S.{0,7}?) @ 0x([0-9A-Fa-f]+)\s*$")
_HEX_LINE: Final = re.compile(r"^\s*([0-9A-Fa-f]{4,8}): (.*)$")
_BYTE: Final = re.compile(r"[0-9A-Fa-f]{2}")
#: Line ends: "\n", "\r\n" or "\r" (str.splitlines would also split at \x0c, \x1c, \x85, ...,
#: and so number lines differently from an editor).
_LINE_END: Final = re.compile(r"\r\n|\r|\n")
_HEX_COLUMN: Final = 48
_BLANK: Final = " \t\0"
_BOMS: Final = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                (b"\xfe\xff", "utf-16-be"))


@dataclass(frozen=True, slots=True)
class AcpidumpTable:
    """One APIC table of an acpidump text: its bytes, or why they cannot be read."""

    #: The name used in messages: ``FILE (APIC @ 0xADDRESS)``.
    source: str
    #: The ``@ 0x...`` address acpidump printed.
    address: int
    #: Line number (from 1) of the ``APIC @ 0x...`` line.
    line: int
    #: Byte offset of that line in the input.
    input_offset: int
    #: The table's bytes; None when its hex lines are broken (then ``error`` says how).
    data: bytes | None
    error: MadtError | None = None


class _Text:
    """The input as text, and how to map a character position back to an input offset (in
    time proportional to the distance from the previous position asked for)."""

    def __init__(self, text: str, encoding: str, skip: int) -> None:
        self.text, self.encoding, self.skip = text, encoding, skip
        self._pos, self._offset = 0, skip

    def offset(self, pos: int) -> int:
        if self.encoding == "latin-1":
            return self.skip + pos
        if pos >= self._pos:
            self._offset += len(self.text[self._pos : pos].encode(self.encoding))
        else:
            self._offset -= len(self.text[pos : self._pos].encode(self.encoding))
        self._pos = pos
        return self._offset


def _text(data: bytes) -> _Text | None:
    """The input as text (Latin-1, or the encoding its byte-order mark names); None when a
    byte-order mark promises an encoding the data does not follow."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _Text(data[len(bom):].decode(encoding), encoding, len(bom))
            except UnicodeDecodeError:
                return None
    return _Text(data.decode("latin-1"), "latin-1", 0)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset in *text*, line without its end) of every line, lazily."""
    start = 0
    for end in _LINE_END.finditer(text):
        yield start, text[start : end.start()]
        start = end.end()
    if start < len(text):
        yield start, text[start:]


def looks_like_acpidump(data: bytes) -> bool:
    """Whether *data* is acpidump text rather than a raw table.

    It is when its first non-blank line is a ``SIG @ 0x...`` line, or, for input that does
    not start with a raw table's ``APIC`` signature, when any line is. NUL bytes do not make
    it binary: a raw MADT's length field could only read ``" @ 0"`` for an 800 MB table.
    """
    text = _text(data)
    if text is None:
        return False
    lines = _lines(text.text)
    first = next((line for _, line in lines if line.strip(_BLANK)), "")
    if _table_line(first):
        return True
    if data.startswith(b"APIC"):
        return False
    return any(_table_line(line) for _, line in lines)  # the lines after the first


def _table_line(line: str) -> re.Match[str] | None:
    """The ``SIG @ 0xADDRESS`` match of a line; NUL bytes in it are ignored."""
    return _TABLE_LINE.match(line.replace("\0", "") if "\0" in line else line)


def acpidump_tables(data: bytes, source: str) -> list[AcpidumpTable]:
    """Every APIC table of an acpidump text, in order; a table whose hex lines are broken is
    returned with its error, so the others can still be used.

    Raises :class:`MadtError` only when the text as a whole cannot be used: it holds no APIC
    table, or a byte-order mark does not match its encoding.
    """
    text = _text(data)
    if text is None:
        raise MadtError("text with a byte-order mark that does not decode in its encoding",
                        source=source, offset=0, field="acpidump")
    found: list[str] = []
    heads: list[tuple[str, int, int, int]] = []
    bodies: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] | None = None
    for number, (start, line) in enumerate(_lines(text.text), start=1):
        head = _table_line(line)
        if head is not None:
            found.append(head.group(1))
            current = None
            if head.group(1) == "APIC":
                if len(heads) == MAX_APIC_TABLES:
                    raise MadtError(f"acpidump line {number}: more than {MAX_APIC_TABLES} APIC "
                                    "tables", source=source, offset=0, field="acpidump")
                current = []
                heads.append((head.group(2), int(head.group(2), 16), number,
                              text.offset(start)))
                bodies.append(current)
        elif current is not None:
            if not line.strip(_BLANK):
                if current:
                    current = None
                continue
            current.append((number, start, line))
    if not heads:
        seen = ", ".join(printable(name) for name in found) or "none"
        raise MadtError(f"acpidump text holds no APIC table (tables found: {seen})",
                        source=source, offset=0, field="signature")
    tables: list[AcpidumpTable] = []
    for (digits, address, number, offset), lines in zip(heads, bodies, strict=True):
        name = f"{source} (APIC @ 0x{digits})"
        try:
            table = AcpidumpTable(name, address, number, offset, _decode_lines(name, lines, text))
        except MadtError as exc:
            table = AcpidumpTable(name, address, number, offset, None, exc)
        tables.append(table)
    return tables


def acpidump_madts(data: bytes, source: str) -> list[tuple[str, bytes]]:
    """Every APIC table of an acpidump text, in order, as ``(source, bytes)``; the first
    broken one raises its :class:`MadtError` (:func:`acpidump_tables` keeps going)."""
    out: list[tuple[str, bytes]] = []
    for table in acpidump_tables(data, source):
        if table.error is not None:
            raise table.error
        assert table.data is not None
        out.append((table.source, table.data))
    return out


def _decode_lines(source: str, lines: list[tuple[int, int, str]], text: _Text) -> bytes:
    out = bytearray()
    for number, start, line in lines:
        match = _HEX_LINE.match(line)
        end = len(line) if match is None else match.start(2) + _HEX_COLUMN
        if "\0" in line[:end]:  # the ASCII column may hold anything
            column_number = line.index("\0") + 1
            at = text.offset(start + column_number - 1)
            raise MadtError(f"acpidump line {number}, column {column_number}: a NUL byte in the "
                            f"offset or hex bytes (input offset {at}, 0x{at:x})", source=source,
                            offset=len(out), field="acpidump")
        if match is None:
            raise MadtError(f"acpidump line {number} is not 'OFFSET: hex bytes': "
                            f"{line[:40]!r}", source=source, offset=len(out),
                            field="acpidump")
        offset = int(match.group(1), 16)
        if offset != len(out):
            raise MadtError(f"acpidump line {number} starts at offset 0x{offset:x} but "
                            f"{len(out)} bytes came before it", source=source,
                            offset=len(out), field="acpidump")
        column = match.group(2)[:_HEX_COLUMN]
        tokens = column.split()
        if not tokens or len(tokens) > 16 or not all(_BYTE.fullmatch(t) for t in tokens):
            raise MadtError(f"acpidump line {number}: bad hex bytes "
                            f"{column.strip()!r}", source=source,
                            offset=len(out), field="acpidump")
        out += bytes.fromhex("".join(tokens))
    if not out:
        raise MadtError("APIC table without hex bytes", source=source, offset=0,
                        field="acpidump")
    return bytes(out)
