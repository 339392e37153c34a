"""--json output: indented as json.dumps(indent=2), a long top-level list on one line."""

from __future__ import annotations

import json

import pytest

from kapic.cli.common import print_json


@pytest.mark.parametrize("obj", [{"a": 1, "b": [1, 2, {"c": [3]}], "d": {"e": "x"}, "f": []},
                                 {}, [1, 2], "text"])
def test_small_json_is_exactly_indent_2(obj: object, capsys: pytest.CaptureFixture[str]) -> None:
    print_json(obj)
    assert capsys.readouterr().out == json.dumps(obj, indent=2) + "\n"


def test_a_long_list_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    obj = {"cpus": [{"cpu": n} for n in range(5000)], "result": "ok"}
    print_json(obj)
    out = capsys.readouterr().out
    assert json.loads(out) == obj and out.count("\n") == 4
