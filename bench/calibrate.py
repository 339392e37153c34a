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
#: Borislav Petkov, LKML, 4 Jul 2025, <20250704102103.GAaGerDxWX7VhePA3j@fat_crate.local>:
#: a 6.16-rc4 guest, QEMU Q35, 16 vCPUs, "Booting SMP configuration" at 0.288623 to "Brought
#: up 1 node, 16 CPUs" at 0.302358 (KVM by its PMU: "NMI watchdog: Enabled")
KVM_PETKOV = "Borislav Petkov, LKML 2025-07-04 (QEMU Q35 guest, Linux 6.16-rc4, 16 vCPUs)"
#: Vitaly Kuznetsov, LKML, 18 Mar 2021, <87blbg7tlo.fsf@vitty.brq.redhat.com>: an AWS EC2
#: r5d.xlarge guest ("Hypervisor detected: KVM"), 5.12-rc3, apic=verbose, serial console:
#: 0.942245 to 0.961174 for 3 APs
KVM_EC2 = "Vitaly Kuznetsov, LKML 2021-03-18 (EC2 r5d.xlarge, KVM, Linux 5.12-rc3, 4 vCPUs)"
#: Richard Purdie, qemu-devel, 3 Jun 2021,
#: <89f4220fd2b973ebfed4bf4be0afbdefc44a9d4d.camel@linuxfoundation.org>: QEMU 6.0 Q35 on KVM,
#: 5.10.41, two serial consoles, a loaded CI host: 0.236350 to 0.253250 for 3 APs
KVM_YOCTO = "Richard Purdie, qemu-devel 2021-06-03 (QEMU/KVM Q35, Linux 5.10, 4 vCPUs)"


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
    #: why the figure cannot test kapic (docs/calibration.md says more); empty when it can
    not_comparable: str = ""

    @property
    def kind(self) -> str:
        """``fitted``, ``predicted`` or ``not comparable: why``."""
        if self.not_comparable:
            return f"not comparable: {self.not_comparable}"
        return "fitted" if self.fitted else "predicted"

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
    # kvm: nothing fitted (its parameters are the TDX guest's); the published logs, set beside
    kvm16 = run_boot(BootSpec(platform="kvm", kernel="6.16", cpus=16))
    out.append(Row("kvm", "parallel, whole bring-up (15 APs)", KVM_PETKOV, 13_735_000,
                   kvm16.sim_time_ns,
                   not_comparable="unexplained (host, load and console not stated)"))
    kvm4 = run_boot(BootSpec(platform="kvm", kernel="5.19", cpus=4))  # serial, as 5.10-5.12
    out.append(Row("kvm", "serial, per AP (3 APs)", KVM_EC2, 6_310_000, kvm4.sim_time_ns // 3,
                   not_comparable="apic=verbose lines on a serial console"))
    out.append(Row("kvm", "serial, per AP (3 APs)", KVM_YOCTO, 5_633_000, kvm4.sim_time_ns // 3,
                   not_comparable="serial consoles, a loaded host"))
    return out


def table(computed: Sequence[Row]) -> str:
    """The markdown table docs/calibration.md shows."""
    lines = ["| platform | figure | source | measured | kapic | error | |",
             "|---|---|---|---|---|---|---|"]
    for r in computed:
        lines.append(f"| {r.platform} | {r.what} | {r.source} | {r.measured_ns / MS:.3f} ms | "
                     f"{r.kapic_ns / MS:.3f} ms | {r.error:+.1%} | "
                     f"{r.kind} |")
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
