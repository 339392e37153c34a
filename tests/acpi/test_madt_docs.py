"""Re-run every ``$ kapic ...`` example of docs/madt.md and diff its saved output."""

from __future__ import annotations

import re
import shlex
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
