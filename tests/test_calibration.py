"""docs/calibration.md shows what bench/calibrate.py computes now, and the fitted rows fit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _calibrate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "bench" / "calibrate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibrate"] = module
    spec.loader.exec_module(module)
    return module


def test_the_docs_table_is_the_scripts_output() -> None:
    calibrate = _calibrate()
    text = (ROOT / "docs" / "calibration.md").read_text()
    assert calibrate.table(calibrate.rows()) in text, (
        "docs/calibration.md is stale: run python bench/calibrate.py --write docs/calibration.md")


def test_fitted_rows_fit_and_predictions_are_within_their_documented_error() -> None:
    for row in _calibrate().rows():
        if row.not_comparable:  # shown with its reason, and docs/calibration.md explains it
            continue
        bound = 0.02 if row.fitted else 0.25
        assert abs(row.error) <= bound, (row.what, row.error)
