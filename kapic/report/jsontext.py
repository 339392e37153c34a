"""Readable JSON text that stays fast for the largest machines.

``json.dumps(indent=2)`` falls back to the pure-Python encoder, which takes seconds on the
per-CPU lists of a 65,536-CPU boot. :func:`dumps` indents dictionaries and short lists as
``indent=2`` does, and writes a list longer than ``long`` on one line with the C encoder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["CHUNK", "LONG", "dumps", "pieces"]

#: a list longer than this is written on one line
LONG = 1000
#: how many items of a long list are encoded at a time (one piece of text each)
CHUNK = 1024


def dumps(obj: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None,
          long: int = LONG) -> str:
    """``obj`` as JSON text, indented by two spaces except for lists longer than ``long``."""
    return "".join(pieces(obj, sort_keys=sort_keys, default=default, long=long))


def pieces(obj: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None,
           long: int = LONG) -> list[str]:
    """The text of :func:`dumps` in pieces, to write one after the other: no copy of the whole
    text is made (it is tens of MB for a 65,536-CPU boot), and a long list is encoded
    :data:`CHUNK` items at a time. Encoding is over before anything is written, so a value
    JSON cannot hold raises before any output."""
    flat = json.JSONEncoder(sort_keys=sort_keys, default=default).encode  # the C encoder
    parts: list[str] = []
    _write(obj, 0, flat, sort_keys, long, parts)
    return parts


def _write(obj: Any, depth: int, flat: Callable[[Any], str], sort_keys: bool, long: int,
           parts: list[str]) -> None:
    if isinstance(obj, dict) and obj:
        inner = "\n" + "  " * (depth + 1)
        items = sorted(obj.items()) if sort_keys else obj.items()
        parts.append("{")
        for n, (key, value) in enumerate(items):
            # a key that is not a string becomes one as json writes it (3 -> "3", True -> "true")
            text = flat(key) if isinstance(key, str) else flat({key: 0})[1:-4]
            parts.append(("," if n else "") + inner + text + ": ")
            _write(value, depth + 1, flat, sort_keys, long, parts)
        parts.append("\n" + "  " * depth + "}")
    elif isinstance(obj, (list, tuple)) and obj and len(obj) <= long:
        inner = "\n" + "  " * (depth + 1)
        parts.append("[")
        for n, value in enumerate(obj):
            parts.append(("," if n else "") + inner)
            _write(value, depth + 1, flat, sort_keys, long, parts)
        parts.append("\n" + "  " * depth + "]")
    elif isinstance(obj, (list, tuple)) and len(obj) > CHUNK:
        # one line, as flat(obj) writes it ("[a, b, ...]"), CHUNK items per piece
        for start in range(0, len(obj), CHUNK):
            text = flat(obj[start : start + CHUNK])
            parts.append(("[" if start == 0 else ", ") + text[1:-1])
        parts.append("]")
    else:
        parts.append(flat(obj))
