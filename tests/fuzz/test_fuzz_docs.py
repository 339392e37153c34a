"""docs/fuzzing.md: every ``python bench/fuzz_madt.py ...`` command it shows runs (quickly) and
prints what it shows; the options it lists are the script's.

(tests/test_docs.py runs the ``kapic`` commands of the pages; the bench script's commands are
shown in the text and run here.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "fuzzing.md"
SCRIPT = ROOT / "bench" / "fuzz_madt.py"
TEXT = DOC.read_text() if DOC.is_file() else ""
COMMANDS = sorted(set(re.findall(r"python bench/fuzz_madt\.py[^`\n]*", TEXT)))
#: the summary line, numbers left out
SUMMARY = re.compile(r"fuzz_madt: \d+ inputs in \d+\.\d\d min \(seed \d+, \d+ batches: "
                     r"[a-z-]+ \d+(, [a-z-]+ \d+)*\); \d+ failure kind\(s\), \d+ failing "
                     r"input\(s\)")


def test_the_page_shows_commands() -> None:
    assert len(COMMANDS) >= 2, COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_command_runs(command: str, tmp_path: Path) -> None:
    argv = command.split()[2:]
    minutes = float(argv[argv.index("--minutes") + 1])
    assert minutes <= 0.05, f"{command}: too long for the test suite; say it in prose"
    done = subprocess.run([sys.executable, str(SCRIPT), *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    lines = done.stdout.splitlines()
    assert lines and SUMMARY.fullmatch(lines[0]), done.stdout + done.stderr
    # Exit status 1 exactly when it found something (then listed after the summary): what it
    # finds is the fuzzer's business (tests/fuzz/test_fuzz_findings.py keeps the known ones).
    clean = " 0 failure kind(s)" in lines[0]
    assert (done.returncode, len(lines) == 1) == ((0, True) if clean else (1, False)), \
        done.stdout
    targets = argv[argv.index("--targets") + 1].split(",") if "--targets" in argv else [
        "decode", "acpidump", "madt-cli", "boot"]
    assert re.findall(r"([a-z-]+) \d+[,)]", lines[0].partition("batches: ")[2]) == targets


def test_shown_output_has_the_summary_shape() -> None:
    shown = re.findall(r"```text\n(fuzz_madt: .*)\n```", TEXT)
    assert len(shown) == 1 and SUMMARY.fullmatch(shown[0])


def test_listed_options_are_the_scripts() -> None:
    listed = set(re.findall(r"^- `(--[\w-]+)", TEXT, flags=re.M))
    declared = set(re.findall(r'add_argument\("(--[\w-]+)"', SCRIPT.read_text()))
    assert listed == declared
