"""Calibration: every built-in platform's timing against the measurement it cites.

Runs kapic on the machine each source measured and prints (or, with ``--write FILE``, puts
into FILE between the calibration markers) a table: the source figure, kapic's figure and the
error. docs/calibration.md holds the table; tests/test_calibration.py checks it is this
script's output.

    python bench/calibrate.py [--write docs/calibration.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from kapic import BootResult, BootSpec, run_boot

MS = 1_000_000
BEGIN = "<!-- calibration table: bench/calibrate.py --write docs/calibration.md -->"
END = "<!-- end of calibration table -->"

#: Thomas Gleixner, "[patch 00/37] cpu/hotplug, x86: Reworked parallel CPU bringup", LKML,
#: 15 Apr 2023, <20230414225551.858160935@linutronix.de>: "dual socket SKL 56 cores/ 112
#: threads", cpu_up() time per CPU in ms
SKL = "tglx, parallel bring-up V1 cover letter (SKL, 2 x 28 cores x 2 threads)"
#: ../shared/data/dmesg/tdx-guest-smp-bringup.intel-tdx-linux-5.txt: 3 APs in 4.05 ms
TDX_4 = "intel/tdx-linux issue 5 log (QEMU TDX guest, 4 vCPUs, one package)"
#: ../shared/data/dmesg/tdx-guest-smp-bringup.flashbots-yocto-manifests-25.txt
TDX_FLASHBOTS = ("flashbots/yocto-manifests issue 25 log (QEMU TDX guest, Linux 6.6, a "
                 "package per vCPU)")


@dataclass(frozen=True)
class Row:
    """One measured figure and kapic's."""

    platform: str
    what: str
    source: str
    measured_ns: int
    kapic_ns: int
    #: whether a parameter was fitted to this figure (else kapic predicts it)
    fitted: bool = False

    @property
    def error(self) -> float:
        """kapic's relative error."""
        return (self.kapic_ns - self.measured_ns) / self.measured_ns


def _online_times(result: BootResult) -> list[tuple[int, int]]:
    """(APIC ID, time it came online) in bring-up order, the boot CPU first at 0."""
    done = [(0, 0)]
    for event in sorted((e for e in result.trace if e.kind == "cpu-online"), key=lambda e: e.t_ns):
        done.append((result.cpus[event.cpu].apic_id, event.t_ns))
    return done


def _cpu_up_ns(result: BootResult) -> dict[int, int]:
    """Serial bring-up: each AP's cpu_up() time (from the previous CPU online to its own),
    by APIC ID."""
    times = _online_times(result)
    return {apic: t - prev for (_, prev), (apic, t) in pairwise(times)}


def _mean(values: Sequence[int]) -> int:
    return round(statistics.fmean(values))


def _skl(kernel: str, parallel: bool) -> BootResult:
    return run_boot(BootSpec(platform="bare-metal", kernel=kernel, cpus=112,
                             config={"HOTPLUG_PARALLEL": "y" if parallel else "n"}))


def rows() -> list[Row]:
    """Every calibration row, kapic's figure computed now."""
    serial = _skl("6.4", parallel=False)  # the V1 baseline: tip x86/apic, April 2023
    up = _cpu_up_ns(serial)
    socket0_primaries = [ns for apic, ns in up.items() if apic % 2 == 0 and apic < 56]
    secondaries = [ns for apic, ns in up.items() if apic % 2]
    parallel = _skl("6.5", parallel=True)
    out = [
        Row("bare-metal", "serial, per AP (111 APs)", SKL, 7_081_000, _mean(list(up.values()))),
        Row("bare-metal", "serial, socket 0's primary threads, per AP", SKL, 12_065_000,
            _mean(socket0_primaries), fitted=True),
        Row("bare-metal", "serial, secondary threads, per AP", SKL, 1_794_000,
            _mean(secondaries), fitted=True),
        Row("bare-metal", "serial, slowest AP (first of socket 1: TSC sync)", SKL, 36_098_000,
            max(up.values())),
        Row("bare-metal", "parallel, whole bring-up", SKL, 84_274_000, parallel.sim_time_ns),
    ]
    tdx4 = run_boot(BootSpec(platform="tdx", kernel="6.6", cpus=4))
    out.append(Row("tdx", "serial, per AP (3 APs)", TDX_4, 1_350_000, tdx4.sim_time_ns // 3,
                   fitted=True))
    flashbots = run_boot(BootSpec(platform="tdx", kernel="6.6", cpus=9,
                                  params={"cores_per_package": "1"}))
    out.append(Row("tdx", "serial, per AP, a package per vCPU (8 APs)", TDX_FLASHBOTS,
                   17_900_000, flashbots.sim_time_ns // 8))
    return out


def table(computed: Sequence[Row]) -> str:
    """The markdown table docs/calibration.md shows."""
    lines = ["| platform | figure | source | measured | kapic | error | |",
             "|---|---|---|---|---|---|---|"]
    for r in computed:
        lines.append(f"| {r.platform} | {r.what} | {r.source} | {r.measured_ns / MS:.3f} ms | "
                     f"{r.kapic_ns / MS:.3f} ms | {r.error:+.1%} | "
                     f"{'fitted' if r.fitted else 'predicted'} |")
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    """Replace the table between the markers of ``path``."""
    doc = path.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    path.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])


def main(argv: Sequence[str] | None = None, out: Callable[[str], object] = print) -> int:
    """Print the table, or write it into a file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", type=Path, metavar="FILE",
                        help="put the table into FILE, between its calibration markers")
    args = parser.parse_args(argv)
    text = table(rows())
    if args.write:
        write(args.write, text)
    else:
        out(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
