"""Common part of the typed MADT subtables: header, length rule, extra bytes, MPS INTI flags.

Mirrors include/acpi/actbl2.h ``struct acpi_subtable_header`` (u8 type, u8 length) and the
``BAD_MADT_ENTRY(entry, end)`` rule of include/linux/acpi.h: an entry may be longer than its
struct (the extra bytes are kept here so a rebuild is byte-exact) but never shorter.
Polarity/trigger masks are ``ACPI_MADT_POLARITY_MASK`` / ``ACPI_MADT_TRIGGER_MASK``.
"""

from __future__ import annotations

import functools
import operator
import struct
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from kapic.errors import MadtError

if TYPE_CHECKING:
    from kapic.versions import KernelVersion

__all__ = [
    "POLARITY_NAMES",
    "TRIGGER_NAMES",
    "UNSUPPORTED_MADT_ENTRY",
    "MadtEntry",
    "inti_polarity",
    "inti_trigger",
]

#: Names of MPS INTI polarity values 0-3 (as in the decoded JSON).
POLARITY_NAMES: Final = ("conforms", "active-high", "reserved", "active-low")
#: Names of MPS INTI trigger-mode values 0-3.
TRIGGER_NAMES: Final = ("conforms", "edge", "reserved", "level")

#: The ``default:`` case of drivers/acpi/tables.c ``acpi_table_print_madt_entry`` (a pr_warn;
#: the "ACPI: " pr_fmt prefix not included), formatted with the type byte.
UNSUPPORTED_MADT_ENTRY: Final = "Found unsupported MADT entry (type = 0x{:x})"

_LIMITS: Final = MappingProxyType({"B": 1 << 8, "H": 1 << 16, "I": 1 << 32, "Q": 1 << 64})


def inti_polarity(inti_flags: int) -> int:
    """Bits 0-1 of MPS INTI flags."""
    return inti_flags & 0x3


def inti_trigger(inti_flags: int) -> int:
    """Bits 2-3 of MPS INTI flags."""
    return (inti_flags >> 2) & 0x3


@functools.lru_cache(maxsize=256)
def _layout_struct(layout: tuple[tuple[str, str], ...]) -> struct.Struct:
    """The struct of a LAYOUT (shared by every entry of a type: a table has thousands)."""
    return struct.Struct("<" + "".join(code for _, code in layout))


@functools.lru_cache(maxsize=256)
def _layout_fields(
    layout: tuple[tuple[str, str], ...],
) -> tuple[Callable[[Any], tuple[Any, ...]], tuple[tuple[str, str, int | None], ...]]:
    """A LAYOUT's field getter (the values in table order, as a tuple) and, per field, its
    name, code, and the bound of an integer code (None for a byte string)."""
    names = [name for name, _ in layout]
    getter: Callable[[Any], tuple[Any, ...]]
    if len(names) > 1:
        getter = operator.attrgetter(*names)
    else:  # attrgetter of one name gives the value itself, of none cannot be made
        fields = operator.attrgetter(*names) if names else None

        def getter(entry: Any) -> tuple[Any, ...]:
            return () if fields is None else (fields(entry),)
    checks = tuple((name, code, _LIMITS.get(code)) for name, code in layout)
    return getter, checks


@dataclass(frozen=True, slots=True, kw_only=True)
class MadtEntry:
    """Base of the typed subtables, the built-in ones and those a plugin declares.

    ``offset`` is the entry's byte offset in the table (recomputed by ``finalize_madt``);
    ``length`` is the entry's length byte, 0 meaning "compute it" (struct size + extra);
    ``extra`` holds the bytes past the end of the struct.

    A plugin type is a frozen dataclass deriving from this one with the three ClassVars
    below, registered through :class:`kapic.acpi.types.MadtTypes`; it may override
    :meth:`kernel_lines`.
    """

    #: Subtable type byte (``enum acpi_madt_type``).
    type: ClassVar[int]
    #: Name as in the ACPI specification (and the decoded JSON).
    NAME: ClassVar[str]
    #: (field, struct code) after the 2-byte header, in table order.
    LAYOUT: ClassVar[tuple[tuple[str, str], ...]]

    offset: int = 0
    length: int = 0
    extra: bytes = b""

    def __post_init__(self) -> None:
        self._check_values()
        size = self.struct_size() + len(self.extra)
        if self.length == 0:
            object.__setattr__(self, "length", size)
        elif self.length != size:
            raise MadtError(
                f"length {self.length} != struct size {self.struct_size()} + "
                f"{len(self.extra)} extra byte(s)",
                source="<subtable>", offset=self.offset, field=f"{self.NAME}.length",
            )
        if self.length > 0xFF:
            raise MadtError(f"length {self.length} does not fit in the u8 length byte",
                            source="<subtable>", offset=self.offset,
                            field=f"{self.NAME}.length")

    @classmethod
    def _struct(cls) -> struct.Struct:
        return _layout_struct(cls.LAYOUT)

    @classmethod
    def min_length(cls) -> int:
        """Smallest valid length byte (``sizeof`` the kernel struct)."""
        return 2 + cls._struct().size

    def struct_size(self) -> int:
        """Size of the struct this entry carries (without extra bytes)."""
        return self.min_length()

    def values(self) -> dict[str, Any]:
        """The type-specific fields, by name, in table order."""
        return {name: getattr(self, name) for name, _ in self.LAYOUT}

    def _check_values(self) -> None:
        getter, checks = _layout_fields(self.LAYOUT)
        for value, (name, code, limit) in zip(getter(self), checks, strict=True):
            if limit is not None:
                ok = isinstance(value, int) and 0 <= value < limit
            else:
                ok = isinstance(value, bytes) and len(value) == int(code[:-1])
            if not ok:
                raise MadtError(f"{value!r} does not fit the {code!r} field",
                                source="<subtable>", offset=self.offset,
                                field=f"{self.NAME}.{name}")

    def kernel_lines(self, kernel: KernelVersion) -> list[str]:
        """The lines ``acpi_table_print_madt_entry`` prints for a plugin-declared type.

        Without the "ACPI: " prefix, which ``kapic.acpi.kprint.print_madt_entry`` adds; it
        calls this only for types that are not built in (it prints those with the kernel's
        own cases). The default is the kernel's ``default:`` case, the "unsupported" warning,
        which is what Linux prints for a type it has no case for; override it to model a
        kernel that has one (*kernel* is a :class:`~kapic.versions.KernelVersion`: ask it
        ``kernel.has(gate)``).
        """
        return [UNSUPPORTED_MADT_ENTRY.format(self.type)]

    @classmethod
    def unpack(cls, data: bytes, offset: int, length: int) -> Self:
        """Decode the entry at *offset* (the walker has checked *length* fits)."""
        layout = cls._struct()
        values = layout.unpack_from(data, offset + 2)
        named = dict(zip((name for name, _ in cls.LAYOUT), values, strict=True))
        extra = bytes(data[offset + 2 + layout.size : offset + length])
        return cls(**named, offset=offset, length=length, extra=extra)

    def pack(self) -> bytes:
        """The entry's bytes: header, struct, extra."""
        body = self._struct().pack(*_layout_fields(self.LAYOUT)[0](self))
        return bytes((self.type, self.length)) + body + self.extra
