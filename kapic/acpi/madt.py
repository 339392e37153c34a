"""The MADT as a value: header, fixed part, subtables; and its exact byte image.

Mirrors include/acpi/actbl2.h ``struct acpi_table_madt`` (header, ``address``, ``flags``
with ``ACPI_MADT_PCAT_COMPAT``) and ``enum acpi_madt_type`` for the built-in typed
subtables (plugins add more with ``kapic.acpi.types.MadtTypes``).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeAlias

from kapic.acpi.entry import MadtEntry
from kapic.acpi.header import HEADER_SIZE, AcpiHeader, table_checksum
from kapic.acpi.interrupts import (
    InterruptOverride,
    IoApic,
    LocalApicNmi,
    LocalX2ApicNmi,
    NmiSource,
)
from kapic.acpi.processors import LocalApic, LocalApicAddressOverride, LocalX2Apic
from kapic.acpi.raw import RawSubtable
from kapic.acpi.wakeup import MpWakeup
from kapic.errors import MadtError

__all__ = [
    "ACPI_MADT_PCAT_COMPAT",
    "MADT_FIXED_SIZE",
    "SUBTABLE_CLASSES",
    "Madt",
    "Subtable",
    "finalize_madt",
]

#: ``sizeof(struct acpi_table_madt)``: subtables start here.
MADT_FIXED_SIZE: Final = 44
ACPI_MADT_PCAT_COMPAT: Final = 1
_FIXED: Final = struct.Struct("<II")

#: One subtable: a typed entry (a built-in class of :data:`SUBTABLE_CLASSES`, or a class a
#: plugin declares through ``kapic.acpi.types.MadtTypes``) or the raw bytes of any other type.
Subtable: TypeAlias = MadtEntry | RawSubtable

#: The built-in typed subtable classes by type byte; every other type is a
#: :class:`RawSubtable` unless a ``kapic.acpi.types.MadtTypes`` adds a class for it.
SUBTABLE_CLASSES: Final[Mapping[int, type[MadtEntry]]] = MappingProxyType({
    cls.type: cls
    for cls in (LocalApic, IoApic, InterruptOverride, NmiSource, LocalApicNmi,
                LocalApicAddressOverride, LocalX2Apic, LocalX2ApicNmi, MpWakeup)
})


@dataclass(frozen=True, slots=True)
class Madt:
    """A decoded (or described) MADT. ``to_bytes()`` gives its exact byte image."""

    header: AcpiHeader
    local_apic_address: int
    flags: int
    subtables: tuple[Subtable, ...] = ()
    #: the byte image, made once (the table and its entries are immutable)
    _image: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def to_bytes(self, *, fix_checksum: bool = False) -> bytes:
        """The table's bytes. The checksum byte is the header's unless *fix_checksum*.

        Raises :class:`MadtError` when ``header.length`` does not match the contents
        (use :func:`finalize_madt` after editing a table).
        """
        image = self._image
        if image is None:
            image = self._pack()
            object.__setattr__(self, "_image", image)
        if fix_checksum:
            return _with_checksum(image, (self.header.checksum - table_checksum(image)) & 0xFF)
        return image

    def _pack(self) -> bytes:
        try:
            fixed = _FIXED.pack(self.local_apic_address, self.flags)
        except struct.error as exc:
            raise MadtError(str(exc), source="<madt>", offset=36,
                            field="local_apic_address/flags") from None
        body = fixed + b"".join(entry.pack() for entry in self.subtables)
        length = HEADER_SIZE + len(body)
        if length != self.header.length:
            raise MadtError(
                f"header length {self.header.length} but the contents make {length} bytes",
                source="<madt>", offset=4, field="length",
            )
        return self.header.pack() + body

    def expected_checksum(self) -> int:
        """The checksum byte that makes the table sum to zero."""
        image = self.to_bytes()
        return (self.header.checksum - table_checksum(image)) & 0xFF

    @property
    def checksum_ok(self) -> bool:
        """Whether all ``length`` bytes sum to 0 mod 256 (Linux does not check by default)."""
        return table_checksum(self.to_bytes()) == 0

    @property
    def pcat_compat(self) -> bool:
        """``ACPI_MADT_PCAT_COMPAT``: the system also has dual 8259 PICs."""
        return bool(self.flags & ACPI_MADT_PCAT_COMPAT)


def finalize_madt(madt: Madt) -> Madt:
    """Recompute subtable offsets and lengths, the header length and the checksum."""
    entries: list[Subtable] = []
    offset = MADT_FIXED_SIZE
    for entry in madt.subtables:
        # an entry's length always matches its contents (its __post_init__ checks), so an
        # entry already at its offset stays as it is
        fixed = entry if entry.offset == offset else dataclasses.replace(entry, offset=offset,
                                                                         length=0)
        entries.append(fixed)
        offset += fixed.length
    header = dataclasses.replace(madt.header, length=offset, checksum=0)
    draft = dataclasses.replace(madt, header=header, subtables=tuple(entries))
    image = draft.to_bytes()
    checksum = (-table_checksum(image)) & 0xFF
    final = dataclasses.replace(draft, header=dataclasses.replace(header, checksum=checksum))
    object.__setattr__(final, "_image", _with_checksum(image, checksum))  # packed once
    return final


def _with_checksum(image: bytes, checksum: int) -> bytes:
    """``image`` with its header's checksum byte (offset 9) set to ``checksum``."""
    return image[:9] + bytes((checksum,)) + image[10:]
