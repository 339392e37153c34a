"""A sweep's grid: axes over boot options, crossed (or zipped), into grid points.

An axis is a boot option and its values: ``cpus``, ``platform``, ``method``, ``kernel``,
``firmware``, ``fault`` (a ``--fault`` text, or ``""`` for none), ``seed``, ``madt``,
``param.NAME`` (a platform parameter) and ``config.NAME`` (a Kconfig option). Axes are crossed
unless ``zip`` groups some of them: zipped axes have the same length and advance together.
A grid comes from a TOML file (``kapic sweep grid.toml``) or from flags
(``--cpus 8,64 --platform kvm,tdx --seeds 0-99``); every value is checked before anything
runs, and a mistake is one :class:`GridError` naming the axis and the value.
"""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kapic.errors import ConfigError

__all__ = ["AXES", "Grid", "GridError", "parse_values"]

#: the axes a grid may have besides ``param.NAME`` and ``config.NAME``: name -> value type
AXES: Final[Mapping[str, type]] = {
    "cpus": int, "platform": str, "method": str, "kernel": str, "firmware": str,
    "fault": str, "seed": int, "madt": str,
}
_PREFIXED: Final = ("param.", "config.")
_RANGE: Final = re.compile(r"(\d+)-(\d+)")
#: a grid larger than this is surely a mistake (each point is a whole boot)
MAX_POINTS: Final = 10_000_000

Value = int | str
Point = dict[str, Value]


class GridError(ConfigError):
    """A grid that cannot run: an unknown axis, a bad value, an empty grid (exit 2)."""


@dataclass(frozen=True)
class Grid:
    """Axes (name -> values, in order) and the groups of axes that are zipped."""

    axes: dict[str, tuple[Value, ...]]
    zip: tuple[tuple[str, ...], ...] = ()
    #: where the grid came from, for error messages
    source: str = "the grid"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.axes:
            raise GridError(f"{self.source}: empty grid: give at least one axis "
                            f"({', '.join(AXES)}, param.NAME, config.NAME)")
        for name, values in self.axes.items():
            _check_axis(self.source, name, values)
        seen: set[str] = set()
        for group in self.zip:
            for name in group:
                if name not in self.axes:
                    raise GridError(f"{self.source}: zip names {name!r}, which is no axis of "
                                    "the grid")
                if name in seen:
                    raise GridError(f"{self.source}: zip names {name!r} twice")
                seen.add(name)
            lengths = {len(self.axes[n]) for n in group}
            if len(lengths) > 1:
                sizes = ", ".join(f"{n} has {len(self.axes[n])}" for n in group)
                raise GridError(f"{self.source}: zipped axes need as many values each ({sizes})")
        if self.size > MAX_POINTS:
            raise GridError(f"{self.source}: {self.size} grid points, more than {MAX_POINTS}")

    @property
    def size(self) -> int:
        """How many grid points (boots)."""
        total = 1
        for unit in self._units():
            total *= len(self.axes[unit[0]])
        return total

    def _units(self) -> list[tuple[str, ...]]:
        """The crossed units: each zip group, then every other axis alone, in axis order."""
        zipped = {n for group in self.zip for n in group}
        units: list[tuple[str, ...]] = []
        for name in self.axes:
            if name in zipped:
                group = next(g for g in self.zip if name in g)
                if group not in units:
                    units.append(group)
            else:
                units.append((name,))
        return units

    def points(self) -> Iterator[Point]:
        """Every grid point, in a fixed order (the last axis varies fastest)."""
        units = self._units()
        choices = [range(len(self.axes[unit[0]])) for unit in units]
        for combo in itertools.product(*choices):
            point: Point = {}
            for unit, index in zip(units, combo, strict=True):
                for name in unit:
                    point[name] = self.axes[name][index]
            yield {name: point[name] for name in self.axes}

    def to_json(self) -> dict[str, Any]:
        """The grid as the sweep file's first line records it."""
        return {"axes": {n: list(v) for n, v in self.axes.items()},
                "zip": [list(g) for g in self.zip]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], source: str) -> Grid:
        """The grid a sweep file recorded."""
        axes = {str(n): tuple(v) for n, v in dict(doc.get("axes", {})).items()}
        return cls(axes, tuple(tuple(g) for g in doc.get("zip", [])), source)

    @classmethod
    def from_toml(cls, text: str, source: str) -> Grid:
        """``[axes]`` (or top-level) ``name = [values]`` (a single value is an axis of one),
        ``param.NAME`` / ``config.NAME`` keys or ``[param]`` / ``[config]`` tables, and
        ``zip = [["cpus", "platform"]]``."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise GridError(f"{source}: not a TOML grid: {exc}") from None
        zipped = doc.pop("zip", [])
        table = doc.pop("axes", doc)
        if not isinstance(table, dict):
            raise GridError(f"{source}: [axes] is not a table")
        axes: dict[str, tuple[Value, ...]] = {}
        for key, value in table.items():
            if key in ("param", "config") and isinstance(value, dict):
                for sub, values in value.items():
                    axes[f"{key}.{sub}"] = _listed(source, f"{key}.{sub}", values)
            else:
                axes[key] = _listed(source, key, value)
        if not isinstance(zipped, list) or not all(
                isinstance(g, list) and all(isinstance(n, str) for n in g) for g in zipped):
            raise GridError(f"{source}: zip must be a list of lists of axis names, e.g. "
                            'zip = [["cpus", "platform"]]')
        if "seed" in axes and isinstance(table.get("seed"), str):
            axes["seed"] = tuple(parse_values("seed", str(table["seed"]), source))
        return cls(axes, tuple(tuple(g) for g in zipped), source)

    def describe_difference(self, other: Grid) -> str:
        """How ``other`` differs from this grid, in words (for ``--resume``)."""
        mine, theirs = self.to_json(), other.to_json()
        parts = []
        for name in sorted(set(mine["axes"]) | set(theirs["axes"])):
            a, b = mine["axes"].get(name), theirs["axes"].get(name)
            if a is None:
                parts.append(f"axis {name} is new")
            elif b is None:
                parts.append(f"axis {name} is gone")
            elif a != b:
                parts.append(f"axis {name} was {_short(a)}, now {_short(b)}")
        if mine["zip"] != theirs["zip"]:
            parts.append(f"zip was {mine['zip']}, now {theirs['zip']}")
        return "; ".join(parts) or "the axes are in another order"


def _short(values: list[Any]) -> str:
    text = json.dumps(values)
    return text if len(text) <= 60 else text[:57] + "...]"


def _listed(source: str, name: str, value: Any) -> tuple[Value, ...]:
    values = value if isinstance(value, list) else [value]
    out: list[Value] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise GridError(f"{source}: axis {name}: {v!r} is neither an integer nor a text")
        out.append(v)
    return tuple(out)


def _check_axis(source: str, name: str, values: Sequence[Value]) -> None:
    if not values:
        raise GridError(f"{source}: axis {name} has no values")
    if name.startswith(_PREFIXED):
        if not name.split(".", 1)[1]:
            raise GridError(f"{source}: axis {name!r}: name the parameter ({name}NAME)")
        return
    kind = AXES.get(name)
    if kind is None:
        known = ", ".join([*AXES, "param.NAME", "config.NAME"])
        raise GridError(f"{source}: unknown axis {name!r} (axes: {known})")
    for value in values:
        if kind is int and (not isinstance(value, int) or value < (1 if name == "cpus" else 0)):
            raise GridError(f"{source}: axis {name}: {value!r} is not a "
                            f"{'positive' if name == 'cpus' else 'non-negative'} integer")
        if kind is str and not isinstance(value, str):
            raise GridError(f"{source}: axis {name}: {value!r} is not a text")
    if len(set(values)) != len(values):
        raise GridError(f"{source}: axis {name} repeats a value")


def parse_values(name: str, text: str, source: str = "the command line") -> list[Value]:
    """A flag's comma-separated values: ``8,64,512``, ``kvm,tdx``, ranges ``0-99`` for
    integer axes (``seed``, ``cpus``)."""
    kind = int if name in ("cpus", "seed") or name.startswith("param.") else str
    out: list[Value] = []
    for item in (part.strip() for part in text.split(",")):
        if kind is str:
            out.append(item)
            continue
        if m := _RANGE.fullmatch(item):
            low, high = int(m[1]), int(m[2])
            if high < low:
                raise GridError(f"{source}: {name}: range {item!r} runs backwards")
            out.extend(range(low, high + 1))
            continue
        try:
            out.append(int(item.replace("_", ""), 0))
        except ValueError:
            raise GridError(f"{source}: {name}: {item!r} is not an integer") from None
    return out
