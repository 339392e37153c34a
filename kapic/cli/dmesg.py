"""``kapic dmesg FILE``: a real boot log against kapic's boot of the same machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kapic.cli.common import kernel_version, print_json, whole_number
from kapic.errors import ConfigError, InputError

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "dmesg", help="compare a real boot log with kapic's boot of the same machine",
        description="Read a boot log as dmesg prints it (FILE, or - for stdin; timestamps "
        "optional), find the kernel release, the wakeup path and the machine, boot kapic on "
        "the same machine and compare the MADT and bring-up lines and the timings. Exit 0 "
        "when the lines agree, 1 when they differ or the log cannot be read.")
    parser.add_argument("file", metavar="FILE", help="the log (dmesg output), or -")
    parser.add_argument("--madt", metavar="FILE",
                        help="the machine's MADT (/sys/firmware/acpi/tables/APIC); without "
                        "it, a machine is described from the log's CPU count")
    parser.add_argument("--cpus", type=whole_number, metavar="N",
                        help="the CPUs, for an excerpt that does not show how many")
    parser.add_argument("--kernel", type=kernel_version, metavar="VERSION",
                        help="the release to model (default: the log's 'Linux version')")
    parser.add_argument("--platform", metavar="PLATFORM",
                        help="platform model (default: tdx for a mailbox boot, kvm when the "
                        "log shows KVM, else bare-metal)")
    parser.add_argument("--fit", action="store_true",
                        help="also fit the platform parameter that makes kapic's time per AP "
                        "the log's, and write the parameters as TOML for --params")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="with --fit: write the TOML here (default: stdout, after the "
                        "comparison)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(func=run, json_errors=True)


def run(args: argparse.Namespace) -> int:
    from kapic.acpi.loader import read_input
    from kapic.api import run_boot
    from kapic.plugin import PluginHost
    from kapic.report.dmesg import parse_dmesg
    from kapic.report.logcheck import compare_logs, fit, plan
    from kapic.report.units import format_ns

    if args.output and not args.fit:
        raise ConfigError("-o FILE writes the --fit parameters: give --fit")
    source = "<stdin>" if args.file == "-" else args.file
    log = parse_dmesg(read_input(args.file), source=source)
    spec = plan(log, kernel=args.kernel, madt=args.madt, platform=args.platform,
                cpus=args.cpus, source=source)
    host = PluginHost.from_options(args.plugin_options)
    result = run_boot(spec, plugins=host)
    check = compare_logs(log, spec, result)
    fitted = fit(log, spec, lambda s: run_boot(s, plugins=host)) if args.fit else None
    if args.fit and fitted is None:
        raise InputError("--fit: the log shows no time per AP (no timestamps around the "
                         "bring-up)", source=source)
    toml = fitted.toml(source, log, spec) if fitted is not None else ""
    if fitted is not None and args.output:
        Path(args.output).write_text(toml)
        print(f"kapic: --fit parameters written to {args.output}", file=sys.stderr)
    if args.json:
        print_json({"schema_version": 1, "file": source, "log": {
            "version": log.version_text, "cpus_up": log.cpus_up, "parallel": log.parallel,
            "wakeup": log.wakeup}, **check.to_json(),
            **({"fit": {"params": {k: int(v) for k, v in fitted.params.items()},
                        "fitted": fitted.fitted,
                        "target_ns": fitted.target_ns, "kapic_ns": fitted.kapic_ns,
                        "residual": fitted.residual}} if fitted is not None else {})})
        return 0 if check.agree else 1
    out = sys.stdout
    what = ", ".join(f"{k}={v}" for k, v in {**spec.params, **spec.config}.items())
    machine = f"--madt {spec.madt}" if spec.madt else f"--cpus {spec.cpus}"
    version = f"Linux {log.version_text}" if log.version_text else "an excerpt (no version line)"
    up = f"{log.cpus_up} CPUs brought up" if log.cpus_up else "no 'Brought up' line"
    mode = {True: "parallel", False: "serial", None: "serial or parallel?"}[log.parallel]
    out.write(f"log: {version}, {up}, {mode}, {log.wakeup}\n")
    out.write(f"kapic: --kernel {spec.kernel} --platform {spec.platform} {machine}"
              f"{' (' + what + ')' if what else ''}: {result.result}, "
              f"{result.cpus_online} CPUs online\n\n")
    if check.agree:
        n = len(check.real)
        out.write(f"bring-up lines: {'the ' + str(n) + ' lines agree' if n != 1 else 'the line agrees'}\n")
    else:
        out.write("bring-up lines differ (- real, + kapic):\n")
        out.write("\n".join(check.diff[2:]) + "\n")
    width = max(len(w) for w, _, _ in check.timing)
    out.write(f"\n{'TIMING':<{width}}  {'REAL':>9}  {'KAPIC':>9}\n")
    for what_, real, ours in check.timing:
        cells = [format_ns(v) if v is not None else "-" for v in (real, ours)]
        out.write(f"{what_:<{width}}  {cells[0]:>9}  {cells[1]:>9}\n")
    if fitted is not None and not args.output:
        out.write("\n" + toml)
    return 0 if check.agree else 1
