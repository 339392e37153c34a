"""The 36-byte common ACPI table header and the table checksum.

Mirrors include/acpi/actbl.h ``struct acpi_table_header`` and the byte-sum rule of
drivers/acpi/acpica/utcksum.c ``acpi_ut_checksum`` / ``acpi_ut_verify_checksum``.
Text fields are kept as Latin-1 strings, so every byte (a NUL or a tab in an OEM id
included) survives a decode/encode round trip.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from kapic.errors import MadtError

__all__ = ["HEADER_FIELDS", "HEADER_SIZE", "AcpiHeader", "printable", "table_checksum"]

#: ``sizeof(struct acpi_table_header)``.
HEADER_SIZE: Final = 36
_HEADER: Final = struct.Struct("<4sIBB6s8sI4sI")

#: (name, offset, size) of every header field, in table order.
HEADER_FIELDS: Final = (
    ("signature", 0, 4),
    ("length", 4, 4),
    ("revision", 8, 1),
    ("checksum", 9, 1),
    ("oem_id", 10, 6),
    ("oem_table_id", 16, 8),
    ("oem_revision", 24, 4),
    ("creator_id", 28, 4),
    ("creator_revision", 32, 4),
)
_TEXT_SIZES: Final = MappingProxyType(
    {"signature": 4, "oem_id": 6, "oem_table_id": 8, "creator_id": 4})
_INT_SIZES: Final = MappingProxyType(
    {"length": 4, "revision": 1, "checksum": 1, "oem_revision": 4, "creator_revision": 4})


def table_checksum(data: bytes) -> int:
    """The byte sum of *data* modulo 256 (0 for a table whose checksum is right)."""
    return sum(data) & 0xFF


@dataclass(frozen=True, slots=True)
class AcpiHeader:
    """``struct acpi_table_header`` (36 bytes, little endian)."""

    signature: str
    length: int
    revision: int
    checksum: int
    oem_id: str
    oem_table_id: str
    oem_revision: int
    creator_id: str
    creator_revision: int

    def __post_init__(self) -> None:
        for name, size in _TEXT_SIZES.items():
            value: str = getattr(self, name)
            if len(value) != size or any(ord(ch) > 0xFF for ch in value):
                raise MadtError(
                    f"{value!r} is not {size} Latin-1 characters",
                    source="<header>", offset=_offset(name), field=name,
                )
        for name, size in _INT_SIZES.items():
            number: int = getattr(self, name)
            if not 0 <= number < 1 << (8 * size):
                raise MadtError(
                    f"{number} does not fit in {size} byte(s)",
                    source="<header>", offset=_offset(name), field=name,
                )

    @classmethod
    def unpack(cls, data: bytes) -> AcpiHeader:
        """Decode the first 36 bytes of *data* (the caller checks there are 36)."""
        sig, length, rev, csum, oem, table, oem_rev, creator, creator_rev = (
            _HEADER.unpack_from(data)
        )
        return cls(
            signature=sig.decode("latin-1"), length=length, revision=rev, checksum=csum,
            oem_id=oem.decode("latin-1"), oem_table_id=table.decode("latin-1"),
            oem_revision=oem_rev, creator_id=creator.decode("latin-1"),
            creator_revision=creator_rev,
        )

    def pack(self) -> bytes:
        """The 36 header bytes, every field as stored (checksum byte included)."""
        return _HEADER.pack(
            self.signature.encode("latin-1"), self.length, self.revision, self.checksum,
            self.oem_id.encode("latin-1"), self.oem_table_id.encode("latin-1"),
            self.oem_revision, self.creator_id.encode("latin-1"), self.creator_revision,
        )


def _offset(name: str) -> int:
    return next(off for field, off, _ in HEADER_FIELDS if field == name)


def printable(text: str) -> str:
    """An ACPI string (signature, OEM ID) fit for a message: what is not printable as ``\\xNN``."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
