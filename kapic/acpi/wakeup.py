"""Multiprocessor Wakeup subtable (type 0x10), ACPI 6.4 (v0, 16 bytes) and 6.6 (v1, 24 bytes).

Mirrors include/acpi/actbl2.h ``struct acpi_madt_multiproc_wakeup`` (``version``,
``mailbox_address``, ``reset_vector``; ``ACPI_MADT_MP_WAKEUP_SIZE_V0``/``_V1``) and the
length/version rule of arch/x86/kernel/acpi/madt_wakeup.c ``acpi_parse_mp_wake``: the entry
needs 16 bytes; the reset vector is used only when ``version >= 1`` and ``length >= 24``.
A "version 1 in a 16-byte entry" (old TDVF / td-shim) therefore decodes with
``reset_vector=None``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final, Self

from kapic.acpi.entry import MadtEntry
from kapic.errors import MadtError

__all__ = [
    "ACPI_MADT_MP_WAKEUP_SIZE_V0",
    "ACPI_MADT_MP_WAKEUP_SIZE_V1",
    "ACPI_MADT_MP_WAKEUP_VERSION_V1",
    "MpWakeup",
]

ACPI_MADT_MP_WAKEUP_SIZE_V0: Final = 16
ACPI_MADT_MP_WAKEUP_SIZE_V1: Final = 24
ACPI_MADT_MP_WAKEUP_VERSION_V1: Final = 1
_RESET: Final = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class MpWakeup(MadtEntry):
    """Type 0x10: the mailbox through which the OS wakes APs (TDX guests)."""

    type: ClassVar[int] = 0x10
    NAME: ClassVar[str] = "Multiprocessor Wakeup"
    LAYOUT: ClassVar[tuple[tuple[str, str], ...]] = (
        ("version", "H"), ("reserved", "I"), ("mailbox_address", "Q"),
    )

    version: int
    mailbox_address: int
    #: None when the entry is shorter than 24 bytes (no reset vector field).
    reset_vector: int | None = None
    reserved: int = 0

    def _check_values(self) -> None:
        MadtEntry._check_values(self)
        rv = self.reset_vector
        if rv is not None and not (isinstance(rv, int) and 0 <= rv < 1 << 64):
            raise MadtError(f"{rv!r} does not fit the 'Q' field", source="<subtable>",
                            offset=self.offset, field=f"{self.NAME}.reset_vector")

    def struct_size(self) -> int:
        """16 bytes (version 0 layout) or 24 with the reset vector."""
        if self.reset_vector is None:
            return ACPI_MADT_MP_WAKEUP_SIZE_V0
        return ACPI_MADT_MP_WAKEUP_SIZE_V1

    @property
    def reset_vector_used(self) -> bool:
        """Whether Linux uses the reset vector (version >= 1 and length >= 24)."""
        return self.version >= ACPI_MADT_MP_WAKEUP_VERSION_V1 and self.reset_vector is not None

    @classmethod
    def unpack(cls, data: bytes, offset: int, length: int) -> Self:
        """Decode the entry at *offset*; the reset vector only when *length* is 24 or more."""
        version, reserved, mailbox = struct.unpack_from("<HIQ", data, offset + 2)
        reset: int | None = None
        end = offset + ACPI_MADT_MP_WAKEUP_SIZE_V0
        if length >= ACPI_MADT_MP_WAKEUP_SIZE_V1:
            (reset,) = _RESET.unpack_from(data, end)
            end = offset + ACPI_MADT_MP_WAKEUP_SIZE_V1
        return cls(version=version, mailbox_address=mailbox, reset_vector=reset,
                   reserved=reserved, offset=offset, length=length,
                   extra=bytes(data[end : offset + length]))

    def pack(self) -> bytes:
        """The entry's bytes: header, mailbox, the reset vector if present, extra."""
        head = struct.pack("<BBHIQ", self.type, self.length, self.version, self.reserved,
                           self.mailbox_address)
        reset = b"" if self.reset_vector is None else _RESET.pack(self.reset_vector)
        return head + reset + self.extra
