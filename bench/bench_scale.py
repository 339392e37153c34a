"""The figures of the performance issue, for the largest machines: whole-process wall time,
peak memory per simulated CPU, events per AP, and what --json adds.

Each case runs ``python -m kapic boot`` in a fresh process (so interpreter start-up and
teardown count, as for a user), twice, and prints the median. Run:

    python bench/bench_scale.py [--cpus 65536] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

# the child runs kapic and reports its own peak RSS (VmHWM) as its last line on stderr
from bench_simpy import kapic_child

CASES = {
    # every CPU usable: interrupt remapping lifts the 32,767 APIC ID cap of a guest
    "mailbox (tdx)": ["--platform", "tdx", "--param", "irq_remap=1"],
    "INIT/SIPI (bare-metal)": ["--platform", "bare-metal"],
}


def _run(argv: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in KiB, stdout of one child process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", kapic_child(), *argv], capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - start
    return wall, int(done.stderr.strip().splitlines()[-1]), done.stdout


def main() -> None:
    """Print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cpus", type=int, default=65536)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    machine = ["--cpus", str(args.cpus), "--config", f"NR_CPUS={args.cpus}"]
    for name, extra in CASES.items():
        text, walls, jsons, peaks = "", [], [], []
        for _ in range(args.runs):
            wall, peak, _ = _run(["boot", *machine, *extra])
            walls.append(wall)
            peaks.append(peak)
            wall_json, _, text = _run(["boot", "--json", *machine, *extra])
            jsons.append(wall_json)
        doc = json.loads(text)
        aps = max(1, doc["cpus_requested"] - 1)
        # what the CPUs cost, above the interpreter and kapic's imports: a 2-CPU boot's peak
        _, base, _ = _run(["boot", "--cpus", "2", *extra])
        peak = max(peaks)
        print(f"{name}, {args.cpus} CPUs: {statistics.median(walls):.2f} s; --json "
              f"+{statistics.median(jsons) - statistics.median(walls):.2f} s; peak RSS "
              f"{peak / 1024:.0f} MiB ({peak * 1024 / args.cpus:.0f} bytes per CPU, "
              f"{max(0, peak - base) * 1024 / args.cpus:.0f} above a 2-CPU boot's "
              f"{base / 1024:.0f} MiB; without --json); {doc['events'] / aps:.1f} events per AP; "
              f"{doc['result']}")


if __name__ == "__main__":
    main()
