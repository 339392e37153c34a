"""Tests that keep the documentation honest (the datasette way: cheap, and they fail loudly).

* every hook of kapic/hookspecs.py is documented in docs/plugin-guide.md under a heading with
  its name and argument names, and with its exact signature;
* every ``path:name`` reference in docs/kernel-map.md and docs/plugin-guide.md exists;
* every kernel identifier a modelling module's docstring names in double backquotes (lowercase,
  with an underscore; kapic's own ``*_ns`` timing parameters excepted) is on docs/kernel-map.md;
* the worked example in docs/plugin-guide.md is the example distribution's code, verbatim, and
  so are the excerpts it says are from a file;
* every link to a heading (``page.md#anchor``, ``#anchor``) between the pages resolves;
* every shell command shown in README.md and docs/*.md runs and gives what the page shows (see
  ``test_doc_commands``; docs/madt.md has its own test, tests/acpi/test_madt_docs.py).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from kapic import ExitCode
from kapic.cli import main

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


#: excerpts the guide shows as "from FILE": (file, first line of the block)
EXCERPTS = [
    ("docs/examples/kapic-sevsnp/tests/test_sevsnp.py",
     "def test_every_ap_is_created_by_one_vmgexit(kapic_boot: Callable[..., BootResult]) -> None:"),
]


@pytest.mark.parametrize(("path", "first"), EXCERPTS, ids=[p for p, _ in EXCERPTS])
def test_guide_excerpt_is_verbatim(path: str, first: str) -> None:
    blocks = [b for lang, b in _fences(GUIDE.read_text()) if lang == "python"
              and b.startswith(first + "\n")]
    assert len(blocks) == 1, f"plugin-guide.md: no single python block starting {first!r}"
    assert blocks[0] in (ROOT / path).read_text(), f"plugin-guide.md: excerpt of {path} drifted"


# -- links between the pages ----------------------------------------------------------------

PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
_LINK = re.compile(r"\]\(([\w./-]*\.md)?(?:#([\w-]+))?\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target, anchor in _LINK.findall(text):
        dest = (page.parent / target).resolve() if target else page
        assert dest.is_file(), f"{page.name}: link to missing {target}"
        if anchor:
            assert anchor in _anchors(dest), f"{page.name}: {target}#{anchor}: no such heading"


# -- every shell command of the docs runs ----------------------------------------------------

#: pages whose commands this file runs (docs/madt.md: tests/acpi/test_madt_docs.py)
COMMAND_PAGES = [p for p in PAGES if p.name != "madt.md"]
#: commands shown but not run here, and why: each must match one of these
NOT_RUN = {
    r"^python3? -m pip install ": "installs into the environment (the suite runs installed)",
    r"^pip install \. \./docs/examples/kapic-sevsnp$": "installs the worked example: simulated",
    r"^python -m venv ": "creates a virtual environment",
    r"^\. \S+/bin/activate$": "activates a virtual environment",
    r"^python3? -m pytest": "the test suite itself (tests/test_example_plugin.py is part of it)",
    r"^dask (scheduler|worker)": "starts a dask cluster (tests/sweep/test_sweep.py runs one)",
    r"^pip install ": "installs into the environment (the suite runs installed)",
    r"--executor dask://scheduler": "needs the cluster above (tests/sweep runs a LocalCluster)",
    r"^python bench/bench_\w+\.py": "a benchmark: tests/test_bench_smoke.py runs each, small",
}
#: a sentence that makes a page's section run with a plugin distribution installed
_INSTALLED = re.compile(r"distribution `([\w-]+)` with the entry point\s+`([\w-]+) = \"([\w.:]+)\"`")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", flags=re.S | re.M)
#: a line naming a command, ending with ":", right before a ``text`` block of its output
_SAID = re.compile(r"^`((?:python -m )?kapic [^`]+)`[^\n]*:\n\n\Z", flags=re.M)
#: what follows a python block that runs: a paragraph ending "prints:" and a text block
_PRINTS = re.compile(r"\n\n[^\n]*prints:\n\n```text\n(.*?)^```$", flags=re.S | re.M)


def _fences(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(text)]


@dataclass
class Shown:
    """One command a page shows, with what the page says it prints."""

    section: str
    command: str
    #: the output shown; None when the page shows none (a ``sh`` block)
    output: str | None = None
    #: the output is an excerpt (a ``text`` block): its lines appear in order
    excerpt: bool = False
    #: a python block to write to a file (``# name.py`` first line) or to run (``prints:``)
    python: str | None = None


def _shown(page: Path) -> list[Shown]:
    """Commands, files and python examples of ``page``, in page order, with their section."""
    text = page.read_text()
    items: list[tuple[int, Shown]] = []
    heading = re.compile(r"^#+ (.+)$", flags=re.M)
    fences = list(_FENCE.finditer(text))

    def section(pos: int) -> str:
        names = [m.group(1) for m in heading.finditer(text, 0, pos)
                 if not any(f.start() < m.start() < f.end() for f in fences)]
        return names[-1] if names else ""

    for fence in fences:
        lang, body = fence.group(1), fence.group(2)
        where = section(fence.start())
        said = _SAID.search(text, 0, fence.start())
        if lang == "console" or (lang == "text" and body.startswith("$ ")):
            for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
                command, _, output = chunk.partition("\n")
                items.append((fence.start(), Shown(where, command, output, lang == "text")))
        elif lang == "text" and said is not None:
            items.append((fence.start(), Shown(where, said.group(1), body, excerpt=True)))
        elif lang in ("sh", "bash", "shell"):
            for line in body.splitlines():
                if line.strip():
                    items.append((fence.start(), Shown(where, line)))
        elif lang == "python" and body.startswith("# ") and body.split("\n", 1)[0].endswith(".py"):
            items.append((fence.start(), Shown(where, "", python=body)))
        elif lang == "python" and (prints := _PRINTS.match(text, fence.end())):
            items.append((fence.start(), Shown(where, "", prints.group(1), python=body)))
    return [shown for _, shown in sorted(items, key=lambda i: i[0])]


def _split(line: str, sep: str) -> list[str]:
    """``line`` split at ``sep`` outside single or double quotes."""
    parts, quote, start, i = [], "", 0, 0
    while i < len(line):
        ch = line[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif line.startswith(sep, i):
            parts.append(line[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    return [*parts, line[start:]]


def _run_filter(stage: str, text: str) -> str | None:
    """The output of a pipeline stage after kapic; None when it cannot be run here."""
    argv = shlex.split(stage)
    if argv[0] == "tail":
        n = int(argv[-1].lstrip("-"))
        return "".join(text.splitlines(keepends=True)[-n:])
    if argv[0] == "head":
        n = int(argv[-1].lstrip("-"))
        return "".join(text.splitlines(keepends=True)[:n])
    if argv[:2] == ["grep", "-E"]:
        return "".join(line for line in text.splitlines(keepends=True)
                       if re.search(argv[2], line))
    if argv[0] == "jq":
        if shutil.which("jq") is None:
            return None
        done = subprocess.run(argv, input=text, capture_output=True, text=True, check=True)
        return done.stdout
    raise AssertionError(f"unknown pipeline stage {stage!r}")


def _matches(expected: str, actual: str, excerpt: bool) -> bool:
    if excerpt:  # every shown line, in order
        lines = iter(actual.splitlines())
        return all(any(line == got for got in lines) for line in expected.splitlines())
    if "\n...\n" in "\n" + expected:  # "..." stands for lines left out
        pos = 0
        for piece in ("\n" + expected).split("\n...\n"):
            piece = piece.lstrip("\n")
            found = actual.find(piece, pos)
            if found < 0:
                return False
            pos = found + len(piece)
        return True
    return actual == expected


class _Runner:
    """Runs a page's commands in one directory, as a reader would, through ``kapic.cli.main``.

    ``--plot`` draws through a stub that writes the file (tests/report/test_plot.py draws for
    real: matplotlib costs a second or two per picture). Identical commands that write no file
    run once per session.
    """

    cache: ClassVar[dict[tuple[object, ...], tuple[int, str, str]]] = {}

    def __init__(self, page: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> None:
        self.page, self.tmp, self.monkeypatch, self.capsys = page, tmp, monkeypatch, capsys
        self.files = tmp / "files"
        self.site = tmp / "site"
        self.files.mkdir()
        self.site.mkdir()
        # the repository's test data (real boot logs), as a reader in a checkout sees it
        (tmp / "tests").mkdir()
        (tmp / "tests" / "data").symlink_to(ROOT / "tests" / "data")
        #: distributions installed for the current section: name -> (version, entry point)
        self.installed: dict[str, tuple[str, str, str]] = {}
        self.section = ""
        self.sys_path = list(sys.path)

    def enter(self, section: str, text: str) -> None:
        if section == self.section:
            return
        self.section = section
        self.installed.clear()
        for match in _INSTALLED.finditer(text):
            self.installed[match.group(1)] = ("0.1.0", match.group(2), match.group(3))

    def _install_sevsnp(self) -> None:
        project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
        ((name, value),) = project["entry-points"]["kapic"].items()
        self.installed[project["name"]] = (project["version"], name, value)

    def _activate(self) -> None:
        """sys.path with the installed distributions (a dist-info each) and their code."""
        extra = [str(self.files)]
        for dist, (version, name, value) in self.installed.items():
            info = self.site / dist / f"{dist.replace('-', '_')}-{version}.dist-info"
            if not info.is_dir():
                info.mkdir(parents=True)
                (info / "METADATA").write_text(
                    f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
                (info / "entry_points.txt").write_text(f"[kapic]\n{name} = {value}\n")
            extra.append(str(info.parent))
        if "kapic-sevsnp" in self.installed:
            extra.append(str(EXAMPLE))
        sys.path[:] = extra + self.sys_path
        importlib.invalidate_caches()

    def restore(self) -> None:
        sys.path[:] = self.sys_path
        importlib.invalidate_caches()

    def python(self, code: str) -> str:
        self._activate()
        module = types.ModuleType("doc_example")
        self.monkeypatch.setitem(sys.modules, module.__name__, module)
        exec(compile(code, str(self.page), "exec", dont_inherit=True), module.__dict__)
        return self.capsys.readouterr().out

    def write(self, code: str) -> None:
        name = code.split("\n", 1)[0].removeprefix("# ").strip()
        (self.files / name).write_text(code)

    def kapic(self, command: str) -> tuple[int, str, str]:
        """Exit status, stdout and stderr (empty after ``2>/dev/null``) of a ``kapic`` command."""
        quiet = command.endswith(" 2>/dev/null")
        command = command.removesuffix(" 2>/dev/null")
        env = dict(re.findall(r"^(\w+)=(\S*) ", command))
        command = re.sub(r"^(\w+=\S* )+", "", command)
        argv = shlex.split(re.sub(r"^python3? -m kapic\b", "kapic", command))[1:]
        writes = [argv[i + 1] for i, a in enumerate(argv[:-1])  # files it writes
                  if a in ("-o", "--trace", "--plot") and not argv[i + 1].startswith("-")]
        key = (tuple(argv), tuple(sorted(env.items())), tuple(sorted(self.installed)))
        if not writes and key in self.cache:
            rc, out, err = self.cache[key]
            return rc, out, "" if quiet else err
        for file in writes:
            (self.tmp / file).parent.mkdir(parents=True, exist_ok=True)
        self._activate()
        with self.monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            m.setattr("kapic.report.write_plot",
                      lambda results, path: Path(path).write_text("plot\n"))
            rc = main(argv)
        out, err = self.capsys.readouterr()
        self.cache[key] = (rc, out, err)
        return rc, out, "" if quiet else err

    def run(self, shown: Shown) -> str | None:
        """Run one shown command; the problem, or None."""
        if shown.python is not None:
            if shown.output is None:
                self.write(shown.python)
                return None
            got = self.python(shown.python)
            return None if got == shown.output else f"python example prints:\n{got}"
        line, _, comment = shown.command.partition("  # ")
        line = line.strip()
        echo = line.endswith('; echo "exit status $?"')
        line = line.removesuffix('; echo "exit status $?"')
        output = ""
        for part in _split(line, " && "):
            redirect = re.search(r" > (\S+)$", part)  # stdout to a file in the directory
            if redirect is not None:
                part = part[: redirect.start()]
            stages = _split(part, " | ")
            program = re.sub(r"^(\w+=\S* )+", "", stages[0])
            example = re.fullmatch(r"python3? (docs/examples/\w+\.py)", program)
            if example is not None:
                runpy.run_path(str(ROOT / example.group(1)), run_name="__main__")
                output += self.capsys.readouterr().out
                continue
            if not re.match(r"^(python3? -m )?kapic\b", program):
                if program.startswith("pip install") and "kapic-sevsnp" in program:
                    self._install_sevsnp()
                if not any(re.search(rx, program) for rx in NOT_RUN):
                    return f"{program!r}: a command no test runs (add it to NOT_RUN or run it)"
                shown = dataclasses.replace(shown, output=None)  # its output is not checked
                continue
            if "/sys/firmware/" in program:  # the reader's own table: any valid command line
                table = Path(program.split()[-1])
                if not os.access(table, os.R_OK):
                    continue
                rc, _, _ = self.kapic(stages[0])
                if rc in (ExitCode.USAGE, ExitCode.PLUGIN):
                    return f"exit status {rc}"
                continue
            if "../shared" in program and not (ROOT / ".." / "shared").is_dir():
                continue
            rc, out, err = self.kapic(stages[0].replace("../shared", str(ROOT / ".." / "shared")))
            for stage in stages[1:]:  # a pipe takes stdout; stderr reaches the terminal first
                filtered = _run_filter(stage, out)
                if filtered is None:  # jq missing: only the exit status is checked
                    shown = dataclasses.replace(shown, output=None)
                    break
                out = filtered
            if redirect is not None:
                (self.tmp / redirect.group(1)).write_text(out)
                out = ""
            output += err + out if len(stages) > 1 else out + err
            shown_rc = re.search(r"exit status (\d+)", comment)
            want = int(shown_rc.group(1)) if shown_rc else 0
            if len(stages) > 1:  # a pipeline's status is its last command's
                rc = 0
            if echo:
                output += f"exit status {rc}\n"
                found = re.findall(r"^exit status (\d+)$", shown.output or "", flags=re.M)
                want = int(found[-1]) if found else want
            if rc != want:
                return f"exit status {rc}, the page says {want}:\n{out}"
        if shown.output is not None and not _matches(shown.output, output, shown.excerpt):
            return f"prints:\n{output}"
        return None


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=lambda p: p.name)
def test_doc_commands(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    """Every command in a ``console``, ``sh`` or ``text`` block of ``page`` runs, in page order
    in one directory, with the exit status the page shows (``; echo "exit status $?"``, or
    ``# ... exit status N`` in a ``sh`` block; 0 otherwise) and the output it shows (all of it
    in a ``console`` block; the lines shown, in order, in a ``text`` block, which may also
    follow a line naming the command in backquotes and ending with ":"). A section saying
    a plugin is installed as ``distribution `NAME` with the entry point `EP = "MOD:OBJ"```
    runs with that distribution on ``sys.path``; ``pip install ... kapic-sevsnp`` installs the
    worked example for the rest of its section. A ``python`` block starting ``# NAME.py`` is
    written to that file; one followed by ``prints:`` and a ``text`` block runs and must print
    it. Commands reading ``/sys/firmware`` run when readable and must not be a usage or plugin
    error; those reading ``../shared`` are skipped without it."""
    items = _shown(page)
    prose = _FENCE.sub("", page.read_text())
    parts = re.split(r"^#+ (.+)$", prose, flags=re.M)
    sections = {"": parts[0], **dict(zip(parts[1::2], parts[2::2], strict=True))}
    runner = _Runner(page, tmp_path, monkeypatch, capsys)
    monkeypatch.chdir(tmp_path)
    problems = []
    try:
        for shown in items:
            runner.enter(shown.section, sections[shown.section])
            problem = runner.run(shown)
            if problem is not None:
                problems.append(f"{page.name}: `{shown.command or 'python'}`: {problem}")
    finally:
        runner.restore()
    assert not problems, "\n\n".join(problems)
