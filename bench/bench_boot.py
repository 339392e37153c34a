"""Benchmark: wall time and events of simulated boots, by platform and CPU count.

Run: ``python bench/bench_boot.py [--cpus 1024,2048,8192] [--repeat 3]``. Prints a table; the
best of ``--repeat`` runs is reported (the machine's noise only ever adds time).
"""

from __future__ import annotations

import argparse
import time

from kapic import BootSpec, PluginHost, run_boot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpus", default="64,1024,2048,8192")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    host = PluginHost()
    print(f"{'platform':<11} {'kernel':<9} {'cpus':>6} {'result':<7} {'events':>8} "
          f"{'sim time':>12} {'wall best':>10} {'us/event':>9}")
    for cpus in (int(c) for c in args.cpus.split(",")):
        for platform in ("bare-metal", "kvm", "tdx"):
            for kernel in ("latest", "seed"):
                best = float("inf")
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    result = run_boot(BootSpec(platform=platform, kernel=kernel, cpus=cpus),
                                      plugins=host)
                    best = min(best, time.perf_counter() - t0)
                print(f"{platform:<11} {kernel:<9} {cpus:>6} {result.result:<7} "
                      f"{result.events:>8} {result.sim_time_ns / 1e6:>9.2f} ms "
                      f"{best:>8.3f} s {best / max(result.events, 1) * 1e6:>9.2f}")


if __name__ == "__main__":
    main()
