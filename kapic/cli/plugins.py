"""``kapic plugins``: what is installed, from which distribution, with which hooks."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kapic.cli.common import print_json

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("plugins", help="list plugins, platforms, firmware and methods")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(func=run, json_errors=True)


def run(args: argparse.Namespace) -> int:
    from kapic.plugin import PluginHost

    host = PluginHost.from_options(args.plugin_options)
    plugins = host.plugins()
    platforms = host.platforms()
    firmware = host.firmware_models()
    methods = host.wakeup_methods()
    if args.json:
        print_json({
            "schema_version": 1,
            "plugins": [
                {"name": p.name, "distribution": p.distribution, "version": p.version,
                 "builtin": p.builtin, "hooks": list(p.hooks)}
                for p in plugins
            ],
            "platforms": [{"name": p.name, "description": p.description,
                           "params": dict(p.params)} for p in platforms],
            "firmware": [{"name": f.name, "summary": f.summary} for f in firmware],
            "methods": [{"name": m.name, "handler": m.handler_name, "summary": m.summary}
                        for m in methods],
        })
        return 0
    out = sys.stdout
    out.write("plugins:\n")
    for p in plugins:
        origin = "built-in" if p.builtin else f"{p.distribution} {p.version}"
        out.write(f"  {p.name:<20} {origin:<22} {', '.join(p.hooks)}\n")
    out.write("wakeup methods:\n")
    for m in methods:
        out.write(f"  {m.name:<20} {m.handler_name + '()':<32} {m.summary}\n")
    out.write("platforms:\n")
    for pl in platforms:
        out.write(f"  {pl.name:<20} {pl.description}\n")
    out.write("firmware models:\n")
    for f in firmware:
        out.write(f"  {f.name:<20} {f.summary}\n")
    return 0
