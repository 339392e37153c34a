"""Tests that keep the documentation honest (the datasette way: cheap, and they fail loudly).

* every hook of kapic/hookspecs.py is documented in docs/plugin-guide.md under a heading with
  its name and argument names, and with its exact signature;
* every ``path:name`` reference in docs/kernel-map.md and docs/plugin-guide.md exists;
* every kernel identifier a modelling module's docstring names in double backquotes (lowercase,
  with an underscore; kapic's own ``*_ns`` timing parameters excepted) is on docs/kernel-map.md;
* the worked example in docs/plugin-guide.md is the example distribution's code, verbatim;
* the runnable examples under docs/examples print what the guide says they print.
"""

from __future__ import annotations

import ast
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDE = DOCS / "plugin-guide.md"
KERNEL_MAP = DOCS / "kernel-map.md"
EXAMPLE = DOCS / "examples" / "kapic-sevsnp"

#: modules whose docstrings name the kernel code they model
MODELLING_MODULES = sorted(
    [
        *(ROOT / "kapic" / "kernel").glob("*.py"),
        *(ROOT / "kapic" / "hw").glob("*.py"),
        *(ROOT / "plugins").rglob("*.py"),
        *(EXAMPLE / "kapic_sevsnp").glob("*.py"),
    ]
)

_REF = re.compile(r"`([\w./-]+\.py):([A-Za-z_][\w.]*)`")
_DOC_NAME = re.compile(r"``([a-z_][a-z0-9_]*)(?:\(\))?``")


def _hookspecs() -> list[tuple[str, tuple[str, ...], str]]:
    """(name, argument names, ``def`` signature) of every ``@hookspec`` function."""
    tree = ast.parse((ROOT / "kapic" / "hookspecs.py").read_text())
    hooks = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
        if not any(isinstance(d, ast.Name) and d.id == "hookspec" for d in decorators):
            continue
        params = tuple(a.arg for a in node.args.args)
        annotated = ", ".join(
            a.arg + (f": {ast.unparse(a.annotation)}" if a.annotation else "")
            for a in node.args.args
        )
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        hooks.append((node.name, params, f"def {node.name}({annotated}){returns}"))
    return hooks


HOOKS = _hookspecs()


def test_hookspecs_found() -> None:
    assert len(HOOKS) >= 6, HOOKS


@pytest.mark.parametrize(("name", "params", "signature"), HOOKS, ids=[h[0] for h in HOOKS])
def test_hook_is_documented(name: str, params: tuple[str, ...], signature: str) -> None:
    guide = GUIDE.read_text()
    heading = re.compile(rf"^#+ `{re.escape(name)}\({re.escape(', '.join(params))}\)`", re.M)
    assert heading.search(guide), f"plugin-guide.md has no heading `{name}({', '.join(params)})`"
    assert signature in guide, f"plugin-guide.md does not show the signature {signature!r}"


def _resolve(path: Path, qualname: str) -> bool:
    """Whether ``qualname`` (``name`` or ``Class.name``) is defined at the top of ``path``."""
    body: list[ast.stmt] = ast.parse(path.read_text()).body
    parts = qualname.split(".")
    for i, part in enumerate(parts):
        found: ast.stmt | None = None
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name == part:
                    found = node
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.target.id == part:
                    found = node
            elif isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id == part for t in node.targets):
                    found = node
        if found is None:
            return False
        if i < len(parts) - 1:
            if not isinstance(found, ast.ClassDef):
                return False
            body = found.body
    return True


def _refs() -> list[tuple[str, str, str]]:
    refs = []
    for doc in (KERNEL_MAP, GUIDE):
        text = doc.read_text() if doc.is_file() else ""  # a missing page fails below
        for path, qualname in _REF.findall(text):
            refs.append((doc.name, path, qualname))
    return sorted(set(refs))


REFS = _refs()


def test_kernel_map_has_references() -> None:
    assert sum(1 for doc, _, _ in REFS if doc == KERNEL_MAP.name) >= 80


@pytest.mark.parametrize(("doc", "path", "qualname"), REFS, ids=[f"{p}:{q}" for _, p, q in REFS])
def test_reference_exists(doc: str, path: str, qualname: str) -> None:
    source = ROOT / path
    assert source.is_file(), f"{doc}: {path} does not exist"
    assert _resolve(source, qualname), f"{doc}: {path} defines no {qualname}"


def _docstring_names() -> list[tuple[str, str]]:
    out = set()
    for module in MODELLING_MODULES:
        doc = ast.get_docstring(ast.parse(module.read_text())) or ""
        for name in _DOC_NAME.findall(doc):
            if "_" in name.strip("_") and not name.endswith("_ns"):
                out.add((str(module.relative_to(ROOT)), name))
    return sorted(out)


DOC_NAMES = _docstring_names()


@pytest.mark.parametrize(("module", "name"), DOC_NAMES, ids=[f"{m}:{n}" for m, n in DOC_NAMES])
def test_docstring_kernel_name_is_mapped(module: str, name: str) -> None:
    kernel_map = KERNEL_MAP.read_text()
    assert re.search(rf"(?<!\w){re.escape(name)}(?!\w)", kernel_map), (
        f"{module} names ``{name}`` in its docstring; docs/kernel-map.md does not map it"
    )


@pytest.mark.parametrize(
    "relpath", ["pyproject.toml", "kapic_sevsnp/__init__.py"], ids=lambda p: str(p)
)
def test_guide_shows_the_example_in_full(relpath: str) -> None:
    text = (EXAMPLE / relpath).read_text()
    assert text in GUIDE.read_text(), f"plugin-guide.md does not show {relpath} verbatim"


def test_override_demo_output_is_in_the_guide(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(DOCS / "examples" / "override_demo.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip() and out in GUIDE.read_text()


def test_relaxed_memory_demo_shows_the_missing_release(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runpy.run_path(str(DOCS / "examples" / "relaxed_memory_demo.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "relaxed_memory=False: " + " ".join(["ok"] * 12)
    assert lines[1].startswith("relaxed_memory=True: ") and "hung" in lines[1]
    assert "triple fault" in lines[2]
