"""Load MADT bytes from a raw table file, an acpidump text, or standard input.

A raw file is what Linux exposes as /sys/firmware/acpi/tables/APIC (drivers/acpi/sysfs.c
``acpi_table_show``: exactly the table's bytes). Every failure is a :class:`MadtError`
naming the file; nothing is read past :data:`MAX_INPUT_BYTES`.

An acpidump text may hold several MADTs (Linux then uses the first, or the second when
booted with ``acpi_apic_instance=2``: Documentation/admin-guide/kernel-parameters.txt).
:func:`read_madts` decodes each on its own, so one broken table does not hide the others;
:func:`load_madt_choice` picks one, as ``--table N`` does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import BinaryIO, Final

from kapic.acpi.acpidump import acpidump_madts, acpidump_tables, looks_like_acpidump
from kapic.acpi.madt import Madt
from kapic.acpi.types import MadtTypes
from kapic.acpi.walker import parse_madt
from kapic.errors import MadtError

__all__ = [
    "MAX_INPUT_BYTES",
    "MadtInput",
    "load_madt_choice",
    "load_madt_tables",
    "load_madts",
    "read_input",
    "read_madts",
]

#: Larger inputs are refused (a whole-machine acpidump is a few hundred KiB).
MAX_INPUT_BYTES: Final = 64 << 20
_ORDINALS: Final = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                    "eighth", "ninth", "tenth")


@dataclass(frozen=True, slots=True)
class MadtInput:
    """One MADT of an input: where it is, and its decode or the error that stopped it."""

    #: The name used in messages: the file, or ``FILE (APIC @ 0xADDRESS)`` in an acpidump.
    source: str
    #: Position among the input's MADTs, from 1 (as ``--table N``).
    index: int
    #: The table's bytes (empty when its acpidump hex lines are broken).
    data: bytes
    #: The decoded table; None when ``error`` says why it could not be decoded.
    madt: Madt | None
    error: MadtError | None = None
    #: For a table of an acpidump text: the address acpidump printed, the line of its
    #: ``APIC @ 0x...`` heading and that line's byte offset in the input (None: a raw table).
    address: int | None = None
    line: int | None = None
    input_offset: int | None = None

    @property
    def where(self) -> str:
        """``APIC @ 0x..., line N, offset M`` for a table of an acpidump, else ``raw table``."""
        if self.address is None:
            return "raw table"
        return f"APIC @ 0x{self.address:x}, line {self.line}, offset {self.input_offset}"


def read_input(path_or_dash: str, stdin: BinaryIO | None = None) -> bytes:
    """The bytes of a file, or of standard input for ``-``."""
    if path_or_dash == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(MAX_INPUT_BYTES + 1)
    else:
        if os.path.isdir(path_or_dash):
            raise MadtError("is a directory, not a table file", source=path_or_dash)
        try:
            # O_NONBLOCK: opening a FIFO nobody writes to must not wait; reading it then
            # blocks only while a writer is there (process substitution), else it is empty.
            fd = os.open(path_or_dash, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            os.set_blocking(fd, True)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise MadtError(exc.strerror or str(exc), source=path_or_dash) from None
        except ValueError as exc:  # a NUL character in the path
            raise MadtError(str(exc), source=path_or_dash) from None
    if len(data) > MAX_INPUT_BYTES:
        raise MadtError(f"input larger than {MAX_INPUT_BYTES} bytes",
                        source=_name(path_or_dash), offset=MAX_INPUT_BYTES)
    return data


def load_madt_tables(path_or_dash: str, stdin: BinaryIO | None = None, *,
                     name: str | None = None) -> list[tuple[str, bytes]]:
    """``(source, table bytes)`` for every MADT in a raw table or acpidump text; ``name``
    replaces the input's name in messages (a spooled FIFO keeps its own). The first table of
    an acpidump whose hex lines are broken raises (:func:`read_madts` keeps going)."""
    data = read_input(path_or_dash, stdin)
    source = name or _name(path_or_dash)
    if looks_like_acpidump(data):
        return acpidump_madts(data, source)
    return [(source, data)]


def read_madts(path_or_dash: str, stdin: BinaryIO | None = None, *,
               types: MadtTypes | None = None, name: str | None = None) -> list[MadtInput]:
    """Every MADT of a raw table or acpidump text, each decoded on its own: a table that
    cannot be read or decoded carries its :class:`MadtError` and the others are still there.

    Raises :class:`MadtError` only for what spoils the whole input: a file that cannot be
    read, an acpidump text without an APIC table. *types*, *name*: as for :func:`load_madts`.
    """
    data = read_input(path_or_dash, stdin)
    source = name or _name(path_or_dash)
    if not looks_like_acpidump(data):
        return [_decoded(source, 1, data, types)]
    out: list[MadtInput] = []
    for index, table in enumerate(acpidump_tables(data, source), start=1):
        if table.data is None:
            item = MadtInput(table.source, index, b"", None, table.error)
        else:
            item = _decoded(table.source, index, table.data, types)
        out.append(MadtInput(item.source, index, item.data, item.madt, item.error,
                             table.address, table.line, table.input_offset))
    return out


def _decoded(source: str, index: int, data: bytes, types: MadtTypes | None) -> MadtInput:
    try:
        return MadtInput(source, index, data, parse_madt(data, source, types=types))
    except MadtError as exc:
        return MadtInput(source, index, data, None, exc)


def load_madts(path_or_dash: str, stdin: BinaryIO | None = None, *,
               types: MadtTypes | None = None, name: str | None = None,
               errors: list[MadtError] | None = None) -> list[tuple[str, Madt, int]]:
    """``(source, decoded table, input size)`` for every MADT of the input.

    *types*: the subtable classes to decode with (None: the built-ins), as for ``parse_madt``;
    *name*: as for :func:`load_madt_tables`. The first table that cannot be decoded raises its
    :class:`MadtError`; with an *errors* list, it is appended there instead and the tables that
    decode are still returned (what spoils the whole input, as in :func:`read_madts`, raises).
    """
    out: list[tuple[str, Madt, int]] = []
    for item in read_madts(path_or_dash, stdin, types=types, name=name):
        if item.error is not None:
            if errors is None:
                raise item.error
            errors.append(item.error)
        else:
            assert item.madt is not None
            out.append((item.source, item.madt, len(item.data)))
    return out


def load_madt_choice(path: str, table: int | None = None, types: MadtTypes | None = None, *,
                     stdin: BinaryIO | None = None, name: str | None = None,
                     ) -> tuple[str, Madt, str]:
    """One MADT of a raw table or acpidump text: ``(source, madt, note)``.

    *table*: which MADT, counting from 1 (``acpi_apic_instance=2`` is table 2); None: the
    first, as Linux takes it. Only that table must decode: a broken other one does not matter. *note*
    is one line saying which table was taken when the input holds several, e.g.
    ``dump.txt: 2 MADTs, using the first (APIC @ 0xbf6dfcc6, line 1, offset 0); --table N
    picks another``; it is empty for an input with a single MADT and no *table*.

    Raises :class:`MadtError` for an unreadable input, a *table* that is not 1..count, or a
    chosen table that cannot be decoded.
    """
    source_name = name or _name(path)
    if table is not None and (isinstance(table, bool) or not isinstance(table, int)
                              or table < 1):
        raise MadtError(f"--table {table!r}: tables are numbered from 1", source=source_name,
                        field="table")
    tables = read_madts(path, stdin, types=types, name=name)
    count = len(tables)
    if table is not None and table > count:
        raise MadtError(f"--table {table}: the input holds {_madts(count)}", source=source_name,
                        field="table")
    chosen = tables[(table or 1) - 1]
    if chosen.error is not None:
        if count > 1:
            others = "another" if table is not None else "one that decodes"
            error = chosen.error
            raise MadtError(f"{error.message} (table {chosen.index} of {count}; --table N picks "
                            f"{others})", source=error.source, offset=error.offset,
                            field=error.field)
        raise chosen.error
    assert chosen.madt is not None
    note = ""
    if count > 1 or table is not None:
        which = (_ORDINALS[chosen.index - 1] if chosen.index <= len(_ORDINALS)
                 else f"number {chosen.index}")
        note = f"{source_name}: {_madts(count)}, using the {which} ({chosen.where})"
        if count > 1:
            note += "; --table N picks another" if table is None else ""
    return chosen.source, chosen.madt, note


def _madts(count: int) -> str:
    return f"{count} MADT" + ("" if count == 1 else "s")


def _name(path_or_dash: str) -> str:
    return "<stdin>" if path_or_dash == "-" else path_or_dash
