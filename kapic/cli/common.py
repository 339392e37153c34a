"""Options shared by ``kapic boot`` and ``kapic compare``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from kapic.errors import ConfigError, InputError, KapicError, PluginError
from kapic.report.jsontext import pieces as json_pieces
from kapic.versions import LATEST, RELEASES, parse_kernel_version

__all__ = [
    "add_machine_options",
    "error_json",
    "key_values",
    "print_json",
    "table_number",
    "wall_budget",
    "watchdog_ns",
    "whole_number",
]


def add_machine_options(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """--platform/--method/--kernel/--cpus/--madt/--config/--param/--seed/--json."""
    action = "append" if many else "store"
    parser.add_argument("--platform", action=action, default=None,
                        help="platform model: bare-metal, kvm, tdx, or one a plugin adds")
    parser.add_argument("--method", action=action, default=None,
                        help="force a wakeup method (init-sipi, acpi-mailbox, ...)")
    parser.add_argument("--kernel", default="latest", type=kernel_version, metavar="VERSION",
                        help=f"kernel release, {RELEASES[0][0]}.{RELEASES[0][1]} to "
                        f"{LATEST[0]}.{LATEST[1]} (e.g. 6.12), 'latest' (the default), or "
                        "'seed' (the PATCHv7 posting, never merged)")
    machine = parser.add_mutually_exclusive_group()
    machine.add_argument("--cpus", type=int, default=None, help="CPUs of a described machine")
    machine.add_argument("--madt", default=None, metavar="FILE",
                         help="boot the machine a MADT describes (raw table, acpidump text, -)")
    parser.add_argument("--table", type=table_number, default=None, metavar="N",
                        help="which MADT of an acpidump text --madt reads, from 1 "
                        "(default the first, as Linux; acpi_apic_instance=2 takes the second)")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="kernel configuration, e.g. HOTPLUG_PARALLEL=n, NR_CPUS=64")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="platform timing parameter, e.g. vcpu_delay_ns=100000")
    parser.add_argument("--params", default=None, metavar="FILE",
                        help="platform parameters from a TOML file (NAME = integer lines, as "
                        "'kapic dmesg --fit' writes); --param wins over it")
    parser.add_argument("--firmware", default=None, help="firmware model (default: platform's)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[:K=V,...]",
                        help="a fault scenario (repeatable; 'kapic faults' lists them)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed, 0 or more (default 0)")
    parser.add_argument("--wall-budget", type=float, default=None, metavar="SECONDS",
                        help="wall-clock seconds one boot may take before the code running "
                        "is stopped as a plugin error (default 600)")
    parser.add_argument("--watchdog", type=float, default=None, metavar="SECONDS",
                        help="stop the boot as hung after this much simulated time "
                        "without progress (no AP kicked, alive, online or failed; default 30 s)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")


def kernel_version(text: str) -> str:
    """``--kernel``: a release kapic models, ``latest`` or ``seed`` (checked, kept as given)."""
    try:
        parse_kernel_version(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def whole_number(text: str) -> int:
    """A command-line number, 0 or more, in any base Python reads (``0x1000``)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"negative: {text!r}")
    return value


def table_number(text: str) -> int:
    """``--table N``: 1 or more."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: tables are numbered from 1")
    return value


def platform_params(args: argparse.Namespace) -> dict[str, str]:
    """``--params FILE`` then ``--param KEY=VALUE`` (which wins), as BootSpec takes them."""
    out = read_params_file(args.params) if getattr(args, "params", None) else {}
    out.update(key_values(args.param, "--param"))
    return out


def read_params_file(path: str) -> dict[str, str]:
    """A TOML file of platform parameters: ``name = integer`` at the top level (or in a
    ``[params]`` table). Bad input is one :class:`InputError` naming the file and the key."""
    import tomllib

    from kapic.acpi.loader import read_input
    from kapic.platforms.model import PARAM_DOCS

    try:
        doc = tomllib.loads(read_input(path).decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"not a TOML file of parameters: {exc}", source=path) from None
    table = doc.get("params", doc)
    if not isinstance(table, dict):
        raise InputError("[params] is not a table", source=path)
    out: dict[str, str] = {}
    for key, value in table.items():
        if key not in PARAM_DOCS:
            raise InputError(f"{key!r} is no platform parameter (known: "
                             f"{', '.join(sorted(PARAM_DOCS))})", source=path)
        if isinstance(value, bool) or not isinstance(value, int):
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            raise InputError(f"{key} = {shown}: expected an integer", source=path)
        if value < 0:
            raise InputError(f"{key} = {value}: must not be negative", source=path)
        out[key] = str(value)
    return out


def key_values(items: Sequence[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:  # random.Random(-5) is random.Random(5): a negative seed would lie
        raise argparse.ArgumentTypeError(f"{value} is negative (seeds are 0 or more)")
    return value


def watchdog_ns(seconds: float | None) -> int | None:
    """``--watchdog SECONDS`` in ns: at least 1 us, at most an hour."""
    if seconds is None:
        return None
    if not 1e-6 <= seconds <= 3600:
        raise ConfigError(f"--watchdog {seconds}: must be between 1e-06 and 3600 seconds")
    return round(seconds * 1e9)


def wall_budget(seconds: float | None) -> float | None:
    """``--wall-budget SECONDS``: positive (default: the machine's)."""
    if seconds is not None and not 0 < seconds <= 86_400:
        raise ConfigError(f"--wall-budget {seconds}: must be between 0 and 86400 seconds")
    return seconds


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON; a long list (a large boot's CPUs, trace, spans, log) on one
    line of its own (:mod:`kapic.report.jsontext`)."""
    write = sys.stdout.write
    for piece in json_pieces(obj):  # the whole text is never one string (tens of MB)
        write(piece)
    write("\n")


def error_json(exc: KapicError) -> dict[str, Any]:
    """The ``--json`` object of a command that stopped on an error, naming what went wrong
    (and, for a plugin, which one: the ``plugin_error`` of a boot result)."""
    kind = ("plugin-error" if isinstance(exc, PluginError)
            else "invalid-input" if isinstance(exc, InputError) else "usage-error")
    out: dict[str, Any] = {"schema_version": 1, "result": kind, "error": str(exc)}
    if isinstance(exc, PluginError):
        out["plugin_error"] = exc.to_json()
    return out
