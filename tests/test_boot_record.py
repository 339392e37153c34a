"""kapic boot --json keeps what --record (or --trace) asks for, and says so in "recording"."""

from __future__ import annotations

import json

import pytest

from kapic.cli import main


@pytest.mark.parametrize(("argv", "recording", "spans", "all_events"), [
    ([], "summary", False, False),
    (["--record", "spans"], "spans", True, False),
    (["--record", "full"], "full", True, True),
    (["--trace"], "full", True, True),
])
def test_record_levels(argv: list[str], recording: str, spans: bool, all_events: bool,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--platform", "tdx", "--cpus", "4", "--json", *argv]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recording"] == recording
    assert bool(out["spans"]) is spans
    assert bool(out["trace"]) is all_events  # an ok boot has no reason-making events


def test_an_unknown_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--record", "everything"]) == 2
    assert "--record: invalid choice: 'everything'" in capsys.readouterr().err
