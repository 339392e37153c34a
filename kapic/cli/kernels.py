"""``kapic kernels``: the kernel versions kapic models and the gates that tell them apart."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

from kapic.cli.common import kernel_version, print_json
from kapic.versions import GATES, LATEST, NAMED_RELEASES, RELEASES, KernelVersion, parse_kernel_version

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "kernels", help="the kernel versions kapic models and what changed between them",
        description="List the releases --kernel takes and the gates: each behaviour that "
        "changed between releases, with the first release that has it and its commit. With "
        "VERSION, say which gates that kernel has.")
    parser.add_argument("version", nargs="?", type=kernel_version, metavar="VERSION",
                        help="a release (6.12), latest or seed: its gates, open or not")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(func=run, json_errors=True)


def _name(release: tuple[int, int]) -> str:
    return f"{release[0]}.{release[1]}"


def run(args: argparse.Namespace) -> int:
    if args.version is not None:
        return _one(parse_kernel_version(args.version), args.json)
    columns = [KernelVersion((5, 19), seed=True), *(KernelVersion(r) for r in NAMED_RELEASES)]
    if args.json:
        print_json({
            "schema_version": 1,
            "releases": [_name(r) for r in RELEASES],
            "named": [_name(r) for r in NAMED_RELEASES],
            "latest": _name(LATEST),
            "gates": [{
                "name": g.name, "since": _name(g.since) if g.since else None,
                "until": _name(g.until) if g.until else None, "releases": g.span(),
                "in_seed": KernelVersion((5, 19), seed=True).has(g), "commit": g.commit,
                "backports": {_name(r): n for r, n in sorted(g.backports.items())},
                "dropped": {_name(r): n for r, n in sorted(g.dropped.items())},
                "source": g.source, "summary": g.summary,
            } for g in GATES],
        })
        return 0
    out = sys.stdout
    out.write(f"releases: {_name(RELEASES[0])} to {_name(LATEST)} (any release between); "
              f"latest = {_name(LATEST)}\n")
    out.write("seed: Linux 5.19 + the seed patch (PATCHv7 21/30, never merged)\n\n")
    width = max(len(g.name) for g in GATES)
    heads = [c.name for c in columns]
    out.write(f"{'GATE':<{width}}  " + "  ".join(f"{h:>4}" for h in heads) + "\n")
    for g in GATES:
        marks = ["x" if c.has(g) else "-" for c in columns]
        out.write(f"{g.name:<{width}}  " + "  ".join(f"{m:>4}" for m in marks) + "\n")
    out.write("\nx: the kernel has the behaviour. 'kapic kernels VERSION' says what each is.\n")
    return 0


def _one(version: KernelVersion, as_json: bool) -> int:
    if as_json:
        print_json({"schema_version": 1, "kernel": version.name, "label": version.label,
                    "gates": {g.name: version.has(g) for g in GATES}})
        return 0
    out = sys.stdout
    out.write(f"{version.label}\n")
    for g in GATES:
        mark = "has" if version.has(g) else "not"
        out.write(f"  {mark} {g.name} ({g.span()})\n")
        out.write(textwrap.fill(g.summary, 96, initial_indent="        ",
                                subsequent_indent="        ") + "\n")
    return 0
