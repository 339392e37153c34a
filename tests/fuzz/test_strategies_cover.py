"""The fuzz strategies keep up with kapic: every fault scenario is among the --fault values."""

from __future__ import annotations

import json

import pytest

from kapic.cli import main

from .strategies import _FAULTS


def test_every_catalogued_fault_is_fuzzed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faults", "--json"]) == 0
    names = {f["name"] for f in json.loads(capsys.readouterr().out)["faults"]}
    assert names == {f.split(":")[0] for f in _FAULTS}
