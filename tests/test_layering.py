"""The layers depend only downward, and nobody reaches into another object's privates.

Each package of kapic has a rank; a module may import modules of a lower rank, and modules
of its own package. Imports under ``TYPE_CHECKING`` count too: a type-level cycle is still a
cycle. The built-in plugins (``plugins/``) import nothing of kapic but its public API, exactly
as a third-party plugin would. Below :mod:`kapic.machine`, no module imports it or holds a
``.machine`` reference; and no module reads a private attribute (``obj._name``) that its own
module does not define.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package (or module) -> rank; a module may import only lower ranks and its own package
RANKS: dict[str, int] = {
    "kapic.errors": 0,
    "kapic.result": 0,
    "kapic.markers": 0,
    "kapic.versions": 1,
    "kapic.sim": 2,
    "kapic.acpi": 2,
    "kapic.platforms": 2,
    "kapic.hw": 3,
    "kapic.boundary": 3,
    "kapic.firmware": 4,
    "kapic.kernel": 5,
    "kapic.methods": 6,
    "kapic.faults": 6,
    "kapic.hookspecs": 7,
    "kapic.plugin": 8,
    "kapic.classify": 9,
    "kapic.machine": 10,
    "kapic.api": 11,
    "kapic.report": 12,
    "kapic.testing": 12,
    "kapic.sweeps": 13,
    "kapic.cli": 14,
    "kapic": 15,  # the public API re-exports every layer
    "kapic.__main__": 15,
}
#: the layers that must not know the machine that assembles them
BELOW_MACHINE = ("kapic/sim", "kapic/hw", "kapic/firmware", "kapic/kernel", "plugins")
#: private names of other libraries kapic may use
ALLOWED_PRIVATE = {("sys", "_getframe")}


def _unit(module: str) -> str:
    """The ranked unit a module belongs to (the longest prefix in RANKS)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in RANKS:
            return name
    raise AssertionError(f"{module} has no rank in RANKS")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[1:] if rel.parts[0] == "plugins" else rel.parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> Iterator[Path]:
    for top in ("kapic", "plugins"):
        yield from sorted((ROOT / top).rglob("*.py"))


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            for alias in node.names:
                full = f"{name}.{alias.name}"
                # "from kapic.kernel import apic" imports a module; "from kapic import X" a name
                yield node.lineno, full if _is_module(full) else name


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _violations(paths: Iterable[Path] | None = None) -> list[str]:
    out: list[str] = []
    for path in _sources() if paths is None else paths:
        rel = path.relative_to(ROOT).as_posix()
        module = _module_name(path)
        tree = ast.parse(path.read_text(), rel)
        is_package = path.name == "__init__.py"
        in_plugins = rel.startswith("plugins/")
        below_machine = rel.startswith(BELOW_MACHINE)
        own = module.split(".")[0] if in_plugins else _unit(module)
        for line, name in _imports(tree, module, is_package):
            if not (name == "kapic" or name.startswith("kapic.")):
                continue
            where = f"{rel}:{line}: imports {name}"
            if below_machine and (name == "kapic.machine" or name.startswith("kapic.machine.")):
                out.append(f"{where} (below the machine)")
            if in_plugins:
                if name != "kapic":
                    out.append(f"{where} (a plugin uses only kapic's public API: from kapic import)")
                continue
            target = _unit(name)
            if target == own or name == own:
                continue
            if RANKS[target] >= RANKS[own]:
                out.append(f"{where} ({own} rank {RANKS[own]} reaches up to {target} rank "
                           f"{RANKS[target]})")
        defined = _private_names_defined(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            if below_machine and node.attr == "machine":
                out.append(f"{rel}:{node.lineno}: holds a .machine reference")
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__"):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Name) and (owner.id, attr) in ALLOWED_PRIVATE:
                continue
            if attr not in defined:
                out.append(f"{rel}:{node.lineno}: reads another object's private {attr}")
    return out


def _private_names_defined(tree: ast.AST) -> set[str]:
    """Private attribute names a module defines: assigned on self, in __slots__, in a class
    body, or as module-level names."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def test_every_module_has_a_rank() -> None:
    for path in _sources():
        if path.relative_to(ROOT).parts[0] == "kapic":
            _unit(_module_name(path))


def test_layers_depend_only_downward() -> None:
    assert _violations() == []


@pytest.mark.parametrize("source", [
    "from kapic.machine import Machine",
    "if TYPE_CHECKING:\n    from kapic.machine import Machine",
    "from kapic.plugin import PluginHost",
    "x = kernel.machine",
    "heap = engine._heap",
])
def test_the_checker_catches_a_violation(source: str) -> None:
    probe = ROOT / "kapic" / "kernel" / "_layering_probe.py"
    probe.write_text(source + "\n")
    try:
        problems = _violations([probe])
    finally:
        probe.unlink()
    assert problems, source
