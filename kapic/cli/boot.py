"""``kapic boot``: one simulated boot, its kernel log and a summary."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kapic.cli.common import (
    add_machine_options,
    key_values,
    platform_params,
    print_json,
    wall_budget,
    watchdog_ns,
)
from kapic.errors import ConfigError, ExitCode, InputError
from kapic.result import method_label, state_summary
from kapic.sim.recorder import LEVELS
from kapic.versions import kernel_label

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("boot", help="simulate one boot and print the kernel log",
                            description="Simulate one boot: the kernel-style log and a summary.")
    add_machine_options(parser)
    parser.add_argument("--relaxed-memory", action="store_true",
                        help="plain stores become visible late and out of order (LKMM-style)")
    parser.add_argument("--trace", action="store_true",
                        help="also print the event trace (and keep it and the spans in --json)")
    parser.add_argument("--record", choices=LEVELS, default=None,
                        help="what the boot keeps for --json: summary (the default), spans "
                        "(and the per-CPU timeline) or full (and every trace event; "
                        "--trace implies it)")
    parser.add_argument("--offline", action="append", type=int, default=[], metavar="CPU",
                        help="after the boot, take logical CPU offline (repeatable)")
    parser.add_argument("--replay", metavar="FILE", default=None,
                        help="boot again what a 'kapic boot --json' output in FILE booted (its "
                        "'spec'); other machine options are then not allowed")
    parser.set_defaults(func=run, json_errors=True)


def run(args: argparse.Namespace) -> int:
    from kapic.api import BootSpec, build_machine
    from kapic.plugin import PluginHost
    from kapic.report import progress_bar

    spec = _replayed(args) if args.replay is not None else BootSpec(
        platform=args.platform or "bare-metal",
        kernel=args.kernel,
        method=args.method,
        cpus=args.cpus,
        madt=args.madt,
        table=args.table,
        config=key_values(args.config, "--config"),
        params=platform_params(args),
        seed=args.seed,
        watchdog_ns=watchdog_ns(args.watchdog),
        firmware=args.firmware,
        relaxed_memory=args.relaxed_memory,
        wall_budget_s=wall_budget(args.wall_budget),
        faults=tuple(args.fault),
    )
    # An error here still gives a --json object (kapic.cli.main prints it).
    host = PluginHost.from_options(args.plugin_options)
    # a boot records what its output shows: the trace and the spans (the timeline) for
    # --trace, the summary otherwise (--json included) unless --record asks for more
    recording = "full" if args.trace else args.record or "summary"
    machine = build_machine(spec, host, recording=recording)
    bad = [c for c in args.offline if not 0 < c < len(machine.kernel.cpus or machine.cpus)]
    if bad or len(set(args.offline)) != len(args.offline):
        raise ConfigError(f"--offline {args.offline}: give distinct secondary CPU numbers "
                          f"(1..{len(machine.cpus) - 1})")
    if machine.madt_note and not args.json:
        print(f"kapic: note: {machine.madt_note}", file=sys.stderr)
    # a large boot takes seconds: a bar on a terminal, CPUs online or failed of those present
    bar = progress_bar(label=f"boot, {spec.platform}")
    machine.progress = bar
    try:
        result = machine.boot()
    finally:
        machine.progress = None
        if bar is not None:
            bar.close()
    if args.offline and result.result != "hung":
        machine.offline(args.offline)
        result = machine.result()
    if args.json:
        print_json(result.to_json())
    else:
        out = sys.stdout
        for line in result.log:
            out.write(line + "\n")
        if args.trace:
            for e in result.trace:
                out.write(f"{e.t_ns:>14} CPU{e.cpu:<4} {e.kind:<22} {e.detail}\n")
        out.write(
            f"\n{result.result}: {result.cpus_online}/{result.cpus_requested} CPUs online"
            f"{state_summary(result)}, simulated bring-up {result.sim_time_ns / 1e6:.3f} ms "
            f"({result.platform}, {kernel_label(result.kernel)}, {method_label(result)}"
            f"{''.join(f', fault {f}' for f in spec.faults)})\n"
        )
        for reason in result.reasons:
            out.write(f"  - {reason}\n")
    if result.result == "plugin-error" and result.plugin_error is not None:
        print(f"kapic: error: {result.reasons[0] if result.reasons else 'plugin error'}",
              file=sys.stderr)
        if args.debug:
            sys.stderr.write(str(result.plugin_error.get("traceback", "")))
        return int(ExitCode.PLUGIN)
    # A hung boot is a boot in which a CPU failed to come up: exit 1, as for a failed CPU.
    return int(ExitCode.OK if result.result == "ok" else ExitCode.FAILED)


def _replayed(args: argparse.Namespace) -> Any:
    """The ``BootSpec`` a ``kapic boot --json`` output recorded."""
    import json

    from kapic.acpi.loader import read_input
    from kapic.api import BootSpec

    given = [opt for opt, value in (("--platform", args.platform), ("--method", args.method),
                                    ("--cpus", args.cpus), ("--madt", args.madt),
                                    ("--table", args.table),
                                    ("--config", args.config), ("--param", args.param),
                                    ("--params", args.params),
                                    ("--firmware", args.firmware), ("--fault", args.fault),
                                    ("--seed", args.seed), ("--relaxed-memory",
                                                            args.relaxed_memory),
                                    ("--kernel", args.kernel != "latest"),
                                    ("--watchdog", args.watchdog is not None),
                                    ("--wall-budget", args.wall_budget is not None))
             if value]
    if given:
        raise ConfigError(f"--replay {args.replay}: the file says what to boot; drop "
                          f"{', '.join(given)}")
    try:
        doc = json.loads(read_input(args.replay))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"not a 'kapic boot --json' output: {exc}", source=args.replay) from None
    if not isinstance(doc, dict) or "spec" not in doc:
        raise InputError("no 'spec' object: not a 'kapic boot --json' output of kapic 0.2 or "
                         "later", source=args.replay, field="spec")
    return BootSpec.from_json(doc["spec"], args.replay)
