"""Sweep overhead: 1,000 boots of 64 CPUs with two local processes, against the boots alone.

Prints the sweep's wall time, the boots' own wall time (each row's ``wall_seconds``, summed and
halved for two processes: what two processes could not do faster than) and the difference:
the sweep's overhead (process start-up, pickling, writing the JSONL file). Run:

    python bench/bench_sweep.py [--runs 1000] [--cpus 64] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from kapic.cli import main as kapic


def run(runs: int, cpus: int, jobs: int) -> dict[str, float]:
    """One sweep of ``runs`` seeds; the figures in seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.jsonl"
        start = time.perf_counter()
        code = kapic(["sweep", "--platform", "tdx", "--cpus", str(cpus), "--seeds",
                      f"0-{runs - 1}", "--jobs", str(jobs), "-o", str(out), "--json"])
        wall = time.perf_counter() - start
        assert code == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()[1:]]
        size = out.stat().st_size
    boots = sum(r["wall_seconds"] for r in rows)
    return {"runs": len(rows), "sweep_s": wall, "boots_s": boots, "ideal_s": boots / jobs,
            "overhead_s": wall - boots / jobs, "file_mb": size / 1e6}


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--cpus", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    r = run(args.runs, args.cpus, args.jobs)
    print(f"{r['runs']:.0f} boots of {args.cpus} CPUs, --jobs {args.jobs}: sweep "
          f"{r['sweep_s']:.2f} s; the boots {r['boots_s']:.2f} s in all, {r['ideal_s']:.2f} s "
          f"on {args.jobs} processes; overhead {r['overhead_s']:.2f} s "
          f"({r['overhead_s'] / r['sweep_s']:.0%} of the sweep); file {r['file_mb']:.1f} MB")


if __name__ == "__main__":
    main()
