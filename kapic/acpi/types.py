"""Which subtable types a MADT decode knows: the built-in classes, plus those plugins declare.

Linux knows the types of include/acpi/actbl2.h ``enum acpi_madt_type``; the ACPI specification
keeps 0x80-0xFF for OEMs (and reserves the unassigned ones below for later versions). A plugin
models such a type with a :class:`~kapic.acpi.entry.MadtEntry` subclass; a :class:`MadtTypes`
value says which classes a decode, a print or a JSON view uses. It is an immutable value, never
a module global that plugins write to: two callers holding different registries do not see each
other's types.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Self

from kapic.acpi.entry import MadtEntry
from kapic.acpi.madt import SUBTABLE_CLASSES, Subtable
from kapic.acpi.raw import RawSubtable, madt_type_name
from kapic.errors import MadtError

__all__ = ["MadtTypes"]

#: The struct codes a LAYOUT may use: u8, u16, u32, u64 and N bytes (``MadtEntry._check_values``).
_CODE: Final = re.compile(r"[BHIQ]|[1-9][0-9]*s")


@dataclass(frozen=True, slots=True)
class MadtTypes:
    """The typed subtable classes by type byte: the built-ins plus *added* plugin classes.

    ``MadtTypes.builtin()`` (the same as ``MadtTypes()``) is kapic's own set; ``with_types``
    returns a new value with more classes. Adding a class whose type byte a built-in class or
    another added class already has raises :class:`MadtError` naming both; adding the same
    class again changes nothing.
    """

    #: The classes added to the built-ins, in the order they were added.
    added: tuple[type[MadtEntry], ...] = ()
    _by_type: Mapping[int, type[MadtEntry]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_type = dict(SUBTABLE_CLASSES)
        added: list[type[MadtEntry]] = []
        for cls in self.added:
            _check_class(cls)
            taken = by_type.get(cls.type)
            if taken is cls:
                continue
            if taken is not None:
                owner = "the built-in" if taken is SUBTABLE_CLASSES.get(cls.type) else "the added"
                raise MadtError(f"MADT subtable type 0x{cls.type:02x} is already taken by {owner} "
                                f"class {_qualname(taken)} ({taken.NAME})",
                                source=_qualname(cls), field="type")
            by_type[cls.type] = cls
            added.append(cls)
        object.__setattr__(self, "added", tuple(added))
        object.__setattr__(self, "_by_type", MappingProxyType(by_type))

    @classmethod
    def builtin(cls) -> Self:
        """kapic's own typed subtables (``SUBTABLE_CLASSES``), nothing added."""
        return cls()

    def with_types(self, *classes: type[MadtEntry]) -> MadtTypes:
        """A new registry with *classes* added (this one is left as it is)."""
        return MadtTypes((*self.added, *classes))

    def class_for(self, subtable_type: int) -> type[MadtEntry] | None:
        """The class that decodes *subtable_type*, or None (the entry stays raw)."""
        return self._by_type.get(subtable_type)

    def added_class(self, subtable_type: int) -> type[MadtEntry] | None:
        """The added (plugin) class for *subtable_type*; None for built-in or unknown types."""
        cls = self._by_type.get(subtable_type)
        return None if cls is None or cls is SUBTABLE_CLASSES.get(subtable_type) else cls

    def type_name(self, subtable_type: int) -> str:
        """The ``NAME`` of the class for *subtable_type*, else its specification name."""
        cls = self._by_type.get(subtable_type)
        return madt_type_name(subtable_type) if cls is None else cls.NAME

    def typed(self, entry: Subtable) -> Subtable:
        """*entry* as this registry types it.

        A :class:`RawSubtable` of a type an added class declares is decoded by that class
        (kept raw when it is shorter than the class needs); any other entry is returned as is,
        so a raw entry of a built-in type stays raw.
        """
        if not isinstance(entry, RawSubtable):
            return entry
        cls = self.added_class(entry.type)
        if cls is None or entry.length < cls.min_length():
            return entry
        return dataclasses.replace(cls.unpack(entry.pack(), 0, entry.length), offset=entry.offset)


def _qualname(cls: object) -> str:
    if isinstance(cls, type):
        return f"{cls.__module__}.{cls.__qualname__}"
    return repr(cls)


def _check_class(cls: object) -> None:
    """One :class:`MadtError` naming the class and the ClassVar for a class that cannot be one."""
    name = _qualname(cls)
    if not isinstance(cls, type) or not issubclass(cls, MadtEntry) or cls is MadtEntry:
        raise MadtError("not a subclass of kapic.acpi.entry.MadtEntry", source=name,
                        field="class")
    kind = getattr(cls, "type", None)
    if isinstance(kind, bool) or not isinstance(kind, int) or not 0 <= kind <= 0xFF:
        raise MadtError(f"the type ClassVar must be a subtable type byte 0..0xFF, not {kind!r}",
                        source=name, field="type")
    title = getattr(cls, "NAME", None)
    if not isinstance(title, str) or not title.strip():
        raise MadtError(f"the NAME ClassVar must be a non-empty str, not {title!r}",
                        source=name, field="NAME")
    layout = getattr(cls, "LAYOUT", None)
    if not isinstance(layout, tuple) or not all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
        and isinstance(item[1], str) and _CODE.fullmatch(item[1]) for item in layout
    ):
        raise MadtError(f"the LAYOUT ClassVar must be a tuple of (field, code) pairs with codes "
                        f"B, H, I, Q or Ns, not {layout!r}", source=name, field="LAYOUT")
    fields = {f.name for f in dataclasses.fields(cls)}
    missing = [field_name for field_name, _ in layout if field_name not in fields]
    if missing:
        raise MadtError(f"LAYOUT names {missing} that are not dataclass fields (decorate the "
                        "class with @dataclass(frozen=True, slots=True))", source=name,
                        field="LAYOUT")
    if cls.min_length() > 0xFF:
        raise MadtError(f"LAYOUT makes {cls.min_length()} bytes; a subtable has at most 255",
                        source=name, field="LAYOUT")
