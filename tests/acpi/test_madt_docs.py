"""Re-run every ``$ kapic ...`` example of docs/madt.md and diff its saved output; run every
``python`` block."""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

import pytest

from kapic.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared"
DOC = ROOT / "docs" / "madt.md"


def _examples() -> list[tuple[str, str]]:
    """(command, expected stderr + stdout) in document order."""
    examples: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(), flags=re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output))
    return examples


@pytest.mark.skipif(not (SHARED / "data").is_dir() or not DOC.is_file(),
                    reason="docs/madt.md or shared data not found")
def test_doc_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    examples = _examples()
    assert len(examples) >= 10
    monkeypatch.chdir(tmp_path)
    for command, expected in examples:
        argv = [a.replace("../shared", str(SHARED)) for a in shlex.split(command)]
        assert argv[:2] == ["kapic", "madt"]
        main(argv[1:])
        out, err = capsys.readouterr()
        assert (err + out).replace(str(SHARED), "../shared") == expected, command


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if DOC.is_file() \
        else []


@pytest.mark.parametrize("code", _python_blocks(), ids=lambda code: code.splitlines()[0][:40])
def test_doc_python_blocks_run(code: str, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """Every ``python`` block of docs/madt.md runs (the examples assert what they show), as a
    module of its own, without this file's ``from __future__`` imports."""
    module = types.ModuleType("madt_doc_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, str(DOC), "exec", dont_inherit=True), module.__dict__)
