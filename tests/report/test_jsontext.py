"""The readable JSON writer: indent=2 text, except long lists on one line (C encoder)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kapic.report.jsontext import CHUNK, dumps, pieces

DOCS: list[Any] = [
    {"a": [1, 2, {"b": None, "c": []}], "z": {}, "y": {"x": "é\n\"q\""}, "n": 1.5, "t": (1, 2)},
    {"b": 1, "a": {"d": [True, False], "c": 2.0}},
    [], {}, "text", 7, None,
    {3: "int key", True: 1, None: 2, 1.5: 3},
]


@pytest.mark.parametrize("doc", DOCS)
def test_short_documents_are_exactly_json_indent_2(doc: Any) -> None:
    assert dumps(doc) == json.dumps(doc, indent=2)
    if not (isinstance(doc, dict) and any(not isinstance(k, str) for k in doc)):
        assert dumps(doc, sort_keys=True) == json.dumps(doc, indent=2, sort_keys=True)


def test_a_long_list_is_one_line_and_the_document_the_same() -> None:
    doc = {"runs": [{"cpus": [{"cpu": i, "state": "online"} for i in range(5)], "seed": 0}]}
    text = dumps(doc, long=4)
    assert json.loads(text) == doc
    assert '"cpus": [{"cpu": 0, "state": "online"}, {"cpu": 1,' in text
    assert '    {\n      "cpus": [' in text  # the short list around it is still indented


def test_default_turns_what_json_cannot_hold_into_text() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd"

    assert json.loads(dumps({"k": [Odd()] * 3}, default=str, long=1)) == {"k": ["odd"] * 3}
    with pytest.raises(TypeError):
        dumps({"k": Odd()})


@pytest.mark.parametrize("size", [CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_a_list_longer_than_a_chunk_is_the_same_line_as_one_encode(size: int) -> None:
    items = [{"cpu": i, "state": "online", "t": [i, None]} for i in range(size)]
    doc = {"cpus": items, "tail": (1, 2)}
    text = dumps(doc)
    assert text == ('{\n  "cpus": ' + json.dumps(items)
                    + ',\n  "tail": [\n    1,\n    2\n  ]\n}')
    parts = pieces(doc)
    assert "".join(parts) == text
    # the long list came in pieces of at most CHUNK items, none of them the whole list
    assert len(parts) >= 5 + -(-size // CHUNK)


def test_nothing_is_returned_in_pieces_when_a_value_cannot_be_encoded() -> None:
    items: list[Any] = list(range(3 * CHUNK))
    items[-1] = object()
    with pytest.raises(TypeError):
        pieces({"cpus": items})
