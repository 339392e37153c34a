"""``kapic compare --jobs N``: the same comparison, its boots on N processes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kapic.cli import main


def _compare(capsys: pytest.CaptureFixture[str], *argv: str, plugins: tuple[str, ...] = ()) -> Any:
    assert main([*plugins, "compare", "--json", "--cpus", "4", *argv]) == 0

    def strip(obj: Any) -> Any:  # wall-clock time is the one thing that may differ
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if "wall" not in k}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return strip(json.loads(capsys.readouterr().out))


def test_jobs_give_the_serial_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    serial = _compare(capsys, "--repeat", "3")
    parallel = _compare(capsys, "--repeat", "3", "--jobs", "3")
    assert parallel == serial
    # the row that is not possible (INIT/SIPI on tdx) ran once, as serially; the others 3 times
    runs = [(r["method"], r["platform"]) for r in serial["runs"]]
    assert runs.count(("init-sipi", "tdx")) == 1
    assert runs.count(("acpi-mailbox", "tdx")) == 3


def test_jobs_keep_the_plugin_options(capsys: pytest.CaptureFixture[str]) -> None:
    blocked = ("-p", "no:acpi-mailbox")
    serial = _compare(capsys, "--repeat", "1", plugins=blocked)
    parallel = _compare(capsys, "--repeat", "1", "--jobs", "2", plugins=blocked)
    assert parallel == serial
    assert "acpi-mailbox" not in {r["method"] for r in parallel["runs"]}


def test_no_jobs_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--jobs", "0"]) == 2
    assert "--jobs 0: give at least 1 process" in capsys.readouterr().err
