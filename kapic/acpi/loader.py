"""Load MADT bytes from a raw table file, an acpidump text, or standard input.

A raw file is what Linux exposes as /sys/firmware/acpi/tables/APIC (drivers/acpi/sysfs.c
``acpi_table_show``: exactly the table's bytes). Every failure is a :class:`MadtError`
naming the file; nothing is read past :data:`MAX_INPUT_BYTES`.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, Final

from kapic.acpi.acpidump import acpidump_madts, looks_like_acpidump
from kapic.acpi.madt import Madt
from kapic.acpi.types import MadtTypes
from kapic.acpi.walker import parse_madt
from kapic.errors import MadtError

__all__ = ["MAX_INPUT_BYTES", "load_madt_tables", "load_madts", "read_input"]

#: Larger inputs are refused (a whole-machine acpidump is a few hundred KiB).
MAX_INPUT_BYTES: Final = 64 << 20


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
    if len(data) > MAX_INPUT_BYTES:
        raise MadtError(f"input larger than {MAX_INPUT_BYTES} bytes",
                        source=_name(path_or_dash), offset=MAX_INPUT_BYTES)
    return data


def load_madt_tables(path_or_dash: str, stdin: BinaryIO | None = None, *,
                     name: str | None = None) -> list[tuple[str, bytes]]:
    """``(source, table bytes)`` for every MADT in a raw table or acpidump text; ``name``
    replaces the input's name in messages (a spooled FIFO keeps its own)."""
    data = read_input(path_or_dash, stdin)
    source = name or _name(path_or_dash)
    if looks_like_acpidump(data):
        return acpidump_madts(data, source)
    return [(source, data)]


def load_madts(path_or_dash: str, stdin: BinaryIO | None = None, *,
               types: MadtTypes | None = None, name: str | None = None,
               ) -> list[tuple[str, Madt, int]]:
    """``(source, decoded table, input size)`` for every MADT of the input.

    *types*: the subtable classes to decode with (None: the built-ins), as for ``parse_madt``;
    *name*: as for :func:`load_madt_tables`.
    """
    return [(source, parse_madt(data, source, types=types), len(data))
            for source, data in load_madt_tables(path_or_dash, stdin, name=name)]


def _name(path_or_dash: str) -> str:
    return "<stdin>" if path_or_dash == "-" else path_or_dash
