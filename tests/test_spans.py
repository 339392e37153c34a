"""``Spans``: a boot's timeline kept as integer arrays, read as ``Span`` tuples."""

from __future__ import annotations

import copy as copy_module
import pickle

import pytest

from kapic import BootSpec, Span, Spans, build_machine, run_boot

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


def test_rows_are_the_spans_as_plain_tuples_after_any_change() -> None:
    spans = Spans(SOME)
    del spans[1]
    spans.insert(0, Span(3, "ap-online", 5, 6, 3))
    rows = list(spans.rows())
    assert rows == [tuple(s) for s in spans] and len(rows) == 4
    assert all(type(row) is tuple for row in rows)
    assert rows[0] == (3, "ap-online", 5, 6, 3)


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


def test_a_bad_span_is_refused_whole_and_the_others_stay() -> None:
    spans = Spans(SOME[:2])
    for bad in ((0, "kick", 1.5, 2, 1), (0, "kick", None, 2, 1), (0, "new", 1, 1 << 64, 1),
                (0, 7, 1, 2, 1), ("0", "kick", 1, 2, 1)):
        with pytest.raises(TypeError, match=r"span|name"):
            spans.add(*bad)
        assert spans == SOME[:2]
    with pytest.raises(TypeError):
        spans[0] = Span(0, "kick", 0.5, 1, 1)  # type: ignore[arg-type]
    assert spans == SOME[:2]


def test_it_does_what_the_list_it_replaces_did() -> None:
    spans = Spans(SOME)
    # concatenation is what is tested here
    assert spans + [SOME[0]] == [*SOME, SOME[0]]  # noqa: RUF005
    assert [SOME[0]] + spans == [SOME[0], *SOME]  # noqa: RUF005
    assert spans * 2 == SOME * 2 and isinstance(spans + [], list)  # noqa: RUF005
    assert spans != () and spans != tuple(SOME)  # as a list: not equal to a tuple
    assert SOME[2] in spans and spans.index(SOME[2]) == 2 and spans.count(SOME[0]) == 1
    assert list(reversed(spans)) == SOME[::-1] and spans[::-2] == SOME[::-2]
    copy = copy_module.copy(spans)
    copy.append(SOME[0])
    assert len(spans) == 4 and len(copy) == 5  # a copy is independent
    spans.extend([SOME[0]])
    spans.insert(0, SOME[3])
    del spans[1]
    spans[0] = SOME[1]
    assert list(spans) == [SOME[1], *SOME[1:], SOME[0]]
    assert spans.pop() == SOME[0]
    spans.sort(key=lambda s: -s.start_ns)
    assert list(spans) == sorted([SOME[1], *SOME[1:]], key=lambda s: -s.start_ns)
    spans[1:3] = [SOME[0]]
    assert len(spans) == 3 and spans[1] == SOME[0]
    spans.clear()
    assert spans == [] and len(spans) == 0


def test_each_result_has_its_own_spans() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=4), recording="spans")
    first = machine.boot()
    second = machine.result()
    first.spans.append(SOME[0])
    assert len(second.spans) == len(first.spans) - 1
