"""The ``kapic`` command line: ``main(argv) -> int``.

Exit status: 0 ok; 1 a CPU failed to come up, the boot hung, or the input was invalid; 2 the
command line was wrong; 4 a plugin failed to load or misbehaved (the plugin is named on
stderr; ``--debug`` adds its traceback).

Each command lives in its own module with an ``add_parser(subparsers)`` function that adds a
sub-parser and sets ``func`` (``Callable[[argparse.Namespace], int]``) as its default. Data goes
to stdout, diagnostics to stderr; every :class:`~kapic.errors.KapicError` becomes one line on
stderr and its exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from kapic.errors import ExitCode, KapicError

__all__ = ["main"]

#: Command modules, in the order ``kapic --help`` lists them.
COMMAND_MODULES = ("compare", "boot", "sweep", "dmesg", "faults", "kernels", "madt", "plugins")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kapic",
        description="Simulate how an x86 Linux kernel brings its secondary CPUs online: "
        "INIT/SIPI against the ACPI MADT wakeup mailbox.",
        epilog="exit status: 0 ok; 1 a CPU failed, the boot hung or the input was invalid; "
        "2 usage; 4 a plugin failed to load or misbehaved",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a plugin's error")
    parser.add_argument(
        "-p",
        dest="plugin_options",
        action="append",
        default=[],
        metavar="no:NAME",
        help="block a plugin by name (as pytest's -p no:NAME)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"kapic.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kapic.cli.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 must not crash
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else int(ExitCode.USAGE)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return int(ExitCode.USAGE)
    try:
        return int(cast(Callable[[argparse.Namespace], int], func)(args))
    except KapicError as exc:
        if getattr(args, "json_errors", False) and getattr(args, "json", False):
            from kapic.cli.common import error_json, print_json

            print_json(error_json(exc))  # --json still gives an object, saying what was wrong
        print(f"kapic: error: {exc}", file=sys.stderr)
        text = getattr(exc, "traceback_text", "")
        if args.debug and text:
            sys.stderr.write(text)
        return int(exc.exit_code)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except KeyboardInterrupt:
        print("kapic: interrupted", file=sys.stderr)
        return 130
