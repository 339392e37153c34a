"""The engine's own cost per event, without any model: processes that only sleep.

A boot's cost is this plus what the kernel, firmware and plugin code does per event; the
difference between this figure and a boot's wall time per event (``bench_scale.py``) is the
model's share. Run:

    python bench/bench_engine.py [--procs 20000] [--steps 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Generator

from kapic.sim.engine import Engine


def _sleeper(steps: int) -> Generator[int, None, None]:
    for _ in range(steps):
        yield 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = []
    events = 0
    for _ in range(args.runs):
        engine = Engine()
        for i in range(args.procs):
            engine.process(_sleeper(args.steps), f"p{i}")
        start = time.perf_counter()
        engine.run()
        times.append(time.perf_counter() - start)
        events = engine.events
    best = min(times)
    print(f"engine: {events} events in {best:.3f} s (best of {args.runs}): "
          f"{best / events * 1e6:.2f} us per event")


if __name__ == "__main__":
    main()
