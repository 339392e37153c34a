"""``kapic faults``: the fault scenarios, their parameters and their expected outcomes."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

from kapic.cli.common import print_json

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "faults", help="list the fault scenarios (--fault NAME[:K=V,...])",
        description="List the fault scenarios boot and compare take with --fault: their "
        "layer, parameters with defaults, and the expected outcome on the seed and on each "
        "span of releases.")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(func=run, json_errors=True)


def run(args: argparse.Namespace) -> int:
    from kapic.plugin import PluginHost

    host = PluginHost.from_options(args.plugin_options)
    faults = sorted(host.faults(), key=lambda f: (f.layer, f.name))
    if args.json:
        print_json({"schema_version": 1, "faults": [{
            "name": f.name, "layer": f.layer, "summary": f.summary, "platform": f.platform,
            "plugin": host.owner(f).name,
            "params": [{"name": p.name, "default": p.default, "help": p.help} for p in f.params],
            "expected": {k: {"result": e.result, "why": e.why} for k, e in f.expected.items()},
            "expected_spans": [{"kernels": k, "result": e.result, "why": e.why}
                               for k, e in f.expected_spans()],
        } for f in faults]})
        return 0
    out = sys.stdout
    for f in faults:
        params = ",".join(f"{p.name}={p.default}" for p in f.params)
        out.write(f"{f.name}{':' + params if params else ''}  [{f.layer}, on {f.platform}, "
                  f"{host.owner(f).name}]\n")
        out.write(textwrap.fill(f.summary, 96, initial_indent="    ",
                                subsequent_indent="    ") + "\n")
        for p in f.params:
            out.write(f"    {p.name}: {p.help} (default {p.default})\n")
        for kernels, e in f.expected_spans():
            why = f": {e.why}" if e.why else ""
            out.write(textwrap.fill(f"{kernels}: {e.result}{why}", 96, initial_indent="    ",
                                    subsequent_indent="      ") + "\n")
    return 0
