"""The benchmarks under bench/ still run (tiny sizes: the figures themselves are not checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_bench_engine_prints_its_cost_per_event() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_engine.py"), "--procs", "50", "--steps", "3",
         "--runs", "1"], capture_output=True, text=True, check=True)
    # 50 processes x (3 sleeps + the final step) = 200 events
    assert re.fullmatch(r"engine: 200 events in \d+\.\d+ s \(best of 1\): \d+\.\d+ us per event\n",
                        done.stdout), done.stdout
