"""``Spans``: a boot's timeline kept as integer arrays, read as ``Span`` tuples."""

from __future__ import annotations

import pickle

import pytest

from kapic import BootSpec, Span, Spans, run_boot

SOME = [Span(0, "kick", 100, 2_000, 1), Span(1, "ap-startup", 2_000, 900_000, 1),
        Span(0, "online", 900_000, 1_050_000, 1), Span(0, "kick", 1_050_000, 1_060_000, 2)]


def test_reads_back_what_was_added_in_order() -> None:
    spans = Spans(SOME[:2])
    spans.append(SOME[2])
    spans.add(0, "kick", 1_050_000, 1_060_000, 2)
    assert len(spans) == 4 and list(spans) == SOME
    assert spans[0] == SOME[0] and spans[-1] == SOME[-1] and spans[1:3] == SOME[1:3]
    assert spans == SOME and SOME == spans and spans == Spans(SOME) and spans != SOME[:3]
    assert spans != "kick" and spans != [(0, "kick")]
    with pytest.raises(IndexError):
        spans[4]
    with pytest.raises(TypeError):
        hash(spans)
    assert repr(Spans(SOME[:1])) == f"Spans({[SOME[0]]!r})"


def test_pickles_with_its_names_and_times() -> None:
    spans = Spans(SOME)
    copy = pickle.loads(pickle.dumps(spans))
    assert isinstance(copy, Spans) and copy == SOME
    copy.add(2, "ap-online", 1, 2, 2)
    assert len(spans) == 4 and copy[-1] == Span(2, "ap-online", 1, 2, 2)


def test_a_boot_keeps_its_spans_compactly() -> None:
    result = run_boot(BootSpec(platform="kvm", cpus=4), recording="spans")
    assert isinstance(result.spans, Spans)
    assert {s.name for s in result.spans} >= {"kick", "alive-wait", "ap-startup", "online"}
    assert result.to_json()["spans"] == [list(s) for s in result.spans]
