"""``parse_madt`` on arbitrary bytes and on mutated valid tables: a decode or one MadtError
line naming source, offset and field; decode -> build -> decode is byte-exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapic.acpi import Madt, build_madt, parse_madt

from .settings import CI
from .strategies import REAL_TABLES, check_table, described_madts, mutated_tables, valid_tables


@settings(CI, max_examples=150)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    check_table(data)
    check_table(b"APIC" + data)


@settings(CI, max_examples=250)
@given(mutated_tables())
def test_mutated_tables(data: bytes) -> None:
    check_table(data)


@settings(CI, max_examples=60)
@given(described_madts())
def test_described_tables_round_trip(madt: Madt) -> None:
    data = build_madt(madt)
    assert parse_madt(data) == madt
    assert check_table(data) == madt


@settings(CI, max_examples=40)
@given(valid_tables(), st.binary(max_size=8))
def test_trailing_bytes_are_ignored(data: bytes, tail: bytes) -> None:
    assert check_table(data + tail) == parse_madt(data)


@pytest.mark.skipif(not REAL_TABLES, reason="../shared/data/madt not found")
@pytest.mark.parametrize("index", range(len(REAL_TABLES)))
def test_real_table_round_trips(index: int) -> None:
    data = REAL_TABLES[index]
    madt = check_table(data)
    if madt is not None:
        assert build_madt(madt) == data[: madt.header.length]
