"""The acpidump reader (``read_madts``, ``load_madts``) on printed, real, mutated and arbitrary
text: every table decodes or carries one error line; a printed text reads back exactly."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings

from kapic.acpi import load_madts
from kapic.errors import MadtError

from .settings import CI
from .strategies import (
    REAL_DUMPS,
    Dump,
    check_dump,
    dump_inputs,
    mutated_dumps,
    printed_dumps,
)


@settings(CI, max_examples=80)
@given(printed_dumps())
def test_printed_dumps_read_back(dump: Dump) -> None:
    check_dump(dump)


@settings(CI, max_examples=200)
@given(mutated_dumps())
def test_mutated_dumps(dump: Dump) -> None:
    check_dump(dump)


@settings(CI, max_examples=100)
@given(dump_inputs())
def test_load_madts_keeps_going(dump: Dump) -> None:
    """With an errors list, load_madts returns the tables that decode and lists the others."""
    errors: list[MadtError] = []
    try:
        good = load_madts("-", io.BytesIO(dump.data), name="dump", errors=errors)
    except MadtError as exc:  # the whole input: no APIC table, unreadable text
        assert "\n" not in str(exc)
        return
    assert good or errors
    for error in errors:
        assert str(error).startswith("dump")


@pytest.mark.skipif(not REAL_DUMPS, reason="../shared/data/acpidump not found")
@pytest.mark.parametrize("index", range(len(REAL_DUMPS)))
def test_real_dumps(index: int) -> None:
    check_dump(Dump(REAL_DUMPS[index]))
