"""docs/api.md and ``kapic.__all__`` agree, and every exported name is documented in the code.

* Every name of ``kapic.__all__`` has a line in docs/api.md, a list item starting with the
  name in backquotes and a description (``- `Kernel`: ...``; a function may show its arguments,
  ``- `udelay(usecs)`: ...``; names may share a line, ``- `EINVAL`, `EIO`: ...``). docs/api.md
  lists no name that kapic does not export, and none twice.
* Every exported class and function has a docstring of its own in its source (the
  ``Name(field, ...)`` a dataclass generates does not count), and so does every public method
  and property an exported class defines itself.
* Data cannot carry a docstring (an int's ``__doc__`` is ``int``'s), so an exported data name
  (an int, a mapping, a marker, a type alias, an instance) must be described by a ``#:``
  comment in the module that assigns it: on the line above, or heading the run of assignments
  it belongs to (``#: errno values kernel code returns`` above ``EINVAL`` to ``EOPNOTSUPP``).
  Exempt: an instance of a kapic class with a docstring (``RELAX`` is a ``Relax``), dunders
  (``__version__``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import kapic

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"


_ITEM = re.compile(r"^- ((?:`[^`]+`(?:, )?)+):(.*)$", flags=re.M)


def _listed() -> list[tuple[str, str]]:
    """(name, description) of every list item of docs/api.md, in page order."""
    out = []
    for head, description in _ITEM.findall(API_MD.read_text()):
        for shown in re.findall(r"`([^`]+)`", head):
            name = re.match(r"[A-Za-z_]\w*", shown)
            assert name is not None, f"docs/api.md: {shown!r} is no name"
            out.append((name.group(), description.strip()))
    return out


def test_every_export_is_listed() -> None:
    listed = [name for name, _ in _listed()]
    missing = sorted(set(kapic.__all__) - set(listed))
    assert not missing, f"docs/api.md does not list {missing} (in kapic.__all__)"


def test_every_listed_name_is_exported() -> None:
    listed = [name for name, _ in _listed()]
    extra = sorted(set(listed) - set(kapic.__all__))
    assert not extra, f"docs/api.md lists {extra}, which kapic.__all__ does not export"
    twice = sorted({name for name in listed if listed.count(name) > 1})
    assert not twice, f"docs/api.md lists {twice} more than once"


def test_every_listed_name_is_described() -> None:
    bare = [name for name, description in _listed() if len(description) < 10]
    assert not bare, f"docs/api.md: no description for {bare}"


def _source_module(name: str) -> str:
    """The module ``kapic`` imports ``name`` from (``kapic`` itself when defined there)."""
    tree = ast.parse(Path(kapic.__file__).read_text())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if any((a.asname or a.name) == name for a in node.names):
                return node.module
    return "kapic"


@functools.cache
def _module_tree(module_name: str) -> ast.Module:
    return ast.parse(inspect.getsource(sys.modules[module_name]))


def _definition(obj: Any) -> ast.ClassDef | ast.FunctionDef:
    """The ``class`` or ``def`` statement of ``obj`` in its module's source."""
    body: list[ast.stmt] = _module_tree(obj.__module__).body
    found: ast.ClassDef | ast.FunctionDef | None = None
    for part in obj.__qualname__.split("."):
        found = next(n for n in body if isinstance(n, ast.ClassDef | ast.FunctionDef)
                     and n.name == part)
        body = found.body
    assert found is not None
    return found


CALLABLES = sorted(n for n in kapic.__all__
                   if inspect.isclass(getattr(kapic, n)) or inspect.isfunction(getattr(kapic, n)))
DATA = sorted(set(kapic.__all__) - set(CALLABLES))


@pytest.mark.parametrize("name", CALLABLES)
def test_class_or_function_has_a_docstring(name: str) -> None:
    obj = getattr(kapic, name)
    assert ast.get_docstring(_definition(obj)), f"kapic.{name} has no docstring"
    if not inspect.isclass(obj):
        return
    undocumented = []
    for attr, value in vars(obj).items():
        if attr.startswith("_"):
            continue
        func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        if inspect.isfunction(func) and func.__module__.startswith("kapic") and not func.__doc__:
            undocumented.append(attr)
    assert not undocumented, f"kapic.{name}: no docstring on {undocumented}"


def _described_by_comment(path: Path, name: str) -> bool:
    """Whether ``name``'s top-level assignment in ``path`` has a ``#:`` comment above it,
    directly or heading the run of assignments it is in."""
    lines = path.read_text().splitlines()
    assignment = re.compile(rf"^{re.escape(name)}\s*(:[^=]*)?=")
    at = next((i for i, line in enumerate(lines) if assignment.match(line)), None)
    assert at is not None, f"{path}: no assignment of {name}"
    for line in reversed(lines[:at]):
        if line.startswith("#:"):
            return True
        if not re.match(r"^[A-Za-z_]\w*\s*(:[^=]*)?=", line):
            return False
    return False


@pytest.mark.parametrize("name", DATA)
def test_data_is_described(name: str) -> None:
    if name.startswith("__") and name.endswith("__"):
        return
    obj = getattr(kapic, name)
    cls = type(obj)
    if cls.__module__.startswith("kapic") and ast.get_docstring(_definition(cls)):
        return  # an instance of a documented kapic class (RELAX, SPIN)
    module = importlib.import_module(_source_module(name))
    path = Path(module.__file__ or "")
    assert _described_by_comment(path, name), (
        f"kapic.{name}: no '#:' comment above its assignment in {path.relative_to(ROOT)}"
    )
