"""The golden outputs hold: ``kapic boot --json`` and ``kapic compare --json`` over platforms,
kernel profiles, firmware models, 8 and 64 CPUs and real tables are byte-identical (wall-clock
keys dropped) to those recorded before the core was layered.

A change that alters them on purpose re-records with ``python -m tests.golden.cases record``
(from the project root) and says why in its commit; ``python -m tests.golden.cases dump DIR``
at two commits and ``diff -r`` shows what changed.
"""

from __future__ import annotations

import json

import pytest

from .cases import GOLDEN, SHARED, cases, run_case, summary

RECORDED = json.loads(GOLDEN.read_text())


@pytest.mark.parametrize(("name", "argv", "needs_shared"), cases(), ids=[c[0] for c in cases()])
def test_golden(name: str, argv: list[str], needs_shared: bool) -> None:
    if needs_shared and not SHARED.is_dir():
        pytest.skip("../shared is absent")
    _, canon = run_case(argv)
    assert summary(canon) == RECORDED[name]
