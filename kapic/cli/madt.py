"""``kapic madt``: decode MADTs (raw tables or acpidump text) and build QEMU-like ones.

``kapic madt decode FILE`` prints what drivers/acpi/tables.c ``acpi_table_print_madt_entry``
prints for each entry, then a summary line; ``kapic madt build ... -o FILE`` writes a table
described as QEMU's hw/i386/acpi-common.c ``acpi_build_madt`` would (plus an optional MP
wakeup entry, as TDVF appends it, and entries of types plugins declare, ``--entry``).

Both know the MADT subtable types the installed plugins declare (a ``MadtTypes`` from the
plugin host): ``decode`` decodes and prints their entries with the plugins' classes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from types import MappingProxyType
from typing import Any, Final

from kapic.acpi import (
    Madt,
    MadtEntry,
    MadtTypes,
    MpWakeup,
    Subtable,
    build_madt,
    describe_madt,
    madt_boot_lines,
    madt_entry_lines,
    madt_problems,
    madt_summary_line,
    madt_to_json,
)
from kapic.acpi.builder import MAX_MADT_CPUS
from kapic.acpi.header import printable
from kapic.acpi.loader import MadtInput, read_madts
from kapic.cli.common import table_number, whole_number
from kapic.errors import ConfigError, ExitCode, MadtError
from kapic.versions import LATEST, KernelVersion, parse_kernel_version

__all__ = ["add_parser"]

#: Bytes of each integer struct code of a LAYOUT.
_INT_SIZES: Final = MappingProxyType({"B": 1, "H": 2, "I": 4, "Q": 8})


def _kernel(text: str) -> KernelVersion:
    try:
        return parse_kernel_version(text, bootable=False)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cpu_count(text: str) -> int:
    """``--cpus N``: 1 to :data:`MAX_MADT_CPUS`."""
    value = whole_number(text)
    if not 1 <= value <= MAX_MADT_CPUS:
        raise argparse.ArgumentTypeError(f"{text!r}: must be between 1 and {MAX_MADT_CPUS} "
                                         f"(kapic models at most {MAX_MADT_CPUS} CPUs)")
    return value


def _id_list(text: str) -> list[int]:
    """``0,1,2`` or ranges ``0-3,8``: at most :data:`MAX_MADT_CPUS` 32-bit APIC IDs."""
    ids: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, sep, high = part.partition("-")
        first = whole_number(low)
        last = whole_number(high) if sep else first
        if last > 0xFFFFFFFF:
            raise argparse.ArgumentTypeError(f"{part!r}: APIC IDs are 0..0xFFFFFFFF (32 bits)")
        if len(ids) + max(last - first + 1, 0) > MAX_MADT_CPUS:
            raise argparse.ArgumentTypeError(f"{text!r}: more than {MAX_MADT_CPUS} IDs (kapic "
                                             f"models at most {MAX_MADT_CPUS} CPUs)")
        ids.extend(range(first, last + 1))
    if not ids:
        raise argparse.ArgumentTypeError(f"empty ID list: {text!r}")
    return ids


def add_parser(subparsers: Any) -> None:
    """Add ``madt decode`` and ``madt build``."""
    madt = subparsers.add_parser("madt", help="decode or build an ACPI MADT (APIC table)",
                                 description=__doc__.splitlines()[0] if __doc__ else None)
    actions = madt.add_subparsers(dest="madt_command", metavar="ACTION", required=True)
    decode = actions.add_parser("decode", help="decode a MADT, print the kernel's lines")
    decode.add_argument("file", metavar="FILE",
                        help="raw table (/sys/firmware/acpi/tables/APIC), acpidump text, or -")
    decode.add_argument("--json", action="store_true", help="print JSON")
    decode.add_argument("--strict", action="store_true",
                        help="a bad checksum (or trailing bytes) is an error")
    decode.add_argument("--kernel", type=_kernel, default=KernelVersion(LATEST), metavar="VERSION",
                        help="kernel whose print format to use: a release such as 5.19 or "
                        "6.12, seed, or latest (the default)")
    decode.add_argument("--order", choices=("table", "boot"), default="table",
                        help="table order, or the order an x86 boot prints them")
    decode.add_argument("--table", type=table_number, metavar="N",
                        help="decode only the Nth MADT of an acpidump text, from 1 (Linux's "
                        "acpi_apic_instance=2 takes the second)")
    decode.set_defaults(func=_decode)
    _add_build(actions)


def _add_build(actions: Any) -> None:
    build = actions.add_parser("build", help="write a QEMU-like MADT")
    cpus = build.add_mutually_exclusive_group(required=True)
    cpus.add_argument("--cpus", type=_cpu_count, metavar="N",
                      help=f"APIC IDs 0..N-1 (N at most {MAX_MADT_CPUS})")
    cpus.add_argument("--apic-ids", type=_id_list, metavar="LIST", help="e.g. 0,1,2,4-6")
    build.add_argument("--disabled", type=_id_list, default=[], metavar="LIST",
                       help="APIC IDs whose Enabled flag is clear")
    build.add_argument("--online-capable", type=_id_list, default=[], metavar="LIST",
                       help="APIC IDs with the Online Capable flag")
    build.add_argument("--wakeup-version", type=int, choices=(0, 1),
                       help="add an MP wakeup entry of this mailbox version")
    build.add_argument("--wakeup-length", type=int, choices=(16, 24),
                       help="MP wakeup entry length (default 24 with a reset vector)")
    build.add_argument("--mailbox", type=whole_number, metavar="ADDR", help="mailbox address")
    build.add_argument("--reset-vector", type=whole_number, metavar="ADDR",
                       help="reset vector (a 24-byte entry)")
    build.add_argument("--entry", action="append", default=[], metavar="TYPE:FIELD=VALUE,...",
                       help="append an entry of a type a plugin declares; TYPE is its type "
                       "byte (0x80) or class NAME; fields left out take their defaults")
    build.add_argument("--no-ioapic", dest="ioapic", action="store_false")
    build.add_argument("--no-overrides", dest="overrides", action="store_false",
                       help="no ISA interrupt source overrides")
    build.add_argument("--no-nmi", dest="nmi", action="store_false")
    build.add_argument("--oem-id", default="BOCHS")
    build.add_argument("--oem-table-id", default="BXPC")
    build.add_argument("--revision", type=whole_number, default=1, help="MADT revision")
    build.add_argument("-o", "--output", required=True, metavar="FILE", help="or - (stdout)")
    build.add_argument("--json", action="store_true", help="also print the table as JSON")
    build.set_defaults(func=_build)


def _madt_types(args: argparse.Namespace) -> MadtTypes:
    """The subtable types: the built-ins and those the installed plugins add."""
    from kapic.plugin import PluginHost

    return PluginHost.from_options(args.plugin_options).madt_types()


def _decode(args: argparse.Namespace) -> int:
    """Decode every MADT of the input (or the ``--table N``th): a table that cannot be decoded
    is one error line on stderr, the others are still shown; exit status 1 if one failed."""
    types = _madt_types(args)
    tables = read_madts(args.file, types=types)
    if args.table is not None:
        if args.table > len(tables):
            count = f"{len(tables)} MADT" + ("" if len(tables) == 1 else "s")
            raise MadtError(f"--table {args.table}: the input holds {count}",
                            source=_source_name(args.file), field="table")
        shown = [tables[args.table - 1]]
    else:
        shown = tables
    decoded: list[tuple[MadtInput, Madt | MadtError]] = []
    for item in shown:
        result: Madt | MadtError
        if item.error is not None:
            result = item.error
        else:
            assert item.madt is not None
            result = item.madt
            for problem in madt_problems(item.madt, data_size=len(item.data),
                                         source=item.source):
                if args.strict:
                    result = problem
                    break
                print(f"kapic: warning: {problem}", file=sys.stderr)
        decoded.append((item, result))
    if len(decoded) == 1 and isinstance(decoded[0][1], MadtError):
        raise decoded[0][1]  # a single table: the error is all there is to say
    failed = 0
    if args.json:
        docs: list[Any] = []
        for item, result in decoded:
            if isinstance(result, MadtError):
                failed += 1
                print(f"kapic: error: {result}", file=sys.stderr)
                docs.append({"file": item.source, "file_size": len(item.data) or None,
                             "error": str(result)})
            else:
                docs.append(madt_to_json(result, file=item.source, file_size=len(item.data)))
        _print_json(docs[0] if len(docs) == 1 else docs)
        return int(ExitCode.FAILED if failed else ExitCode.OK)
    lines_of = madt_boot_lines if args.order == "boot" else madt_entry_lines
    printed = 0
    for item, result in decoded:
        if isinstance(result, MadtError):
            failed += 1
            sys.stdout.flush()
            print(f"kapic: error: {result}", file=sys.stderr)
            continue
        if len(tables) > 1:
            print(("\n" if printed else "") + f"# {item.source}")
        print("\n".join(lines_of(result, args.kernel)))
        head = result.header
        print(f"summary: APIC v{head.revision:02d} {printable(head.oem_id)} "
              f"{printable(head.oem_table_id)}, {head.length} bytes; "
              f"{madt_summary_line(result)}")
        printed += 1
    return int(ExitCode.FAILED if failed else ExitCode.OK)


def _source_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _wakeup(args: argparse.Namespace) -> MpWakeup | None:
    asked = (args.wakeup_version, args.wakeup_length, args.mailbox, args.reset_vector)
    if all(value is None for value in asked):
        return None
    if args.mailbox is None:
        raise ConfigError("an MP wakeup entry needs --mailbox ADDR")
    reset = args.reset_vector
    length = args.wakeup_length or (24 if reset is not None else 16)
    if length == 16 and reset is not None:
        raise ConfigError("--reset-vector needs a 24-byte wakeup entry")
    version = args.wakeup_version if args.wakeup_version is not None else int(length == 24)
    if length == 24 and reset is None:
        reset = 0
    return MpWakeup(version=version, mailbox_address=args.mailbox, reset_vector=reset)


def _entries(args: argparse.Namespace) -> list[Subtable]:
    """The ``--entry`` options as entries (the plugin host is loaded only when there are some)."""
    if not args.entry:
        return []
    types = _madt_types(args)
    return [_entry(text, types) for text in args.entry]


def _entry(text: str, types: MadtTypes) -> MadtEntry:
    """``TYPE:FIELD=VALUE,...`` -> an entry of the plugin class for TYPE."""
    kind, _, assignments = text.partition(":")
    cls = _entry_class(text, kind.strip(), types)
    layout = dict(cls.LAYOUT)
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in assignments.split(","))):
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not name:
            raise ConfigError(f"--entry {text!r}: {item!r} is not FIELD=VALUE")
        if name not in layout:
            raise ConfigError(f"--entry {text!r}: field {name}: {cls.NAME} has no such field "
                              f"(fields: {', '.join(layout)})")
        if name in values:
            raise ConfigError(f"--entry {text!r}: field {name}: given twice")
        values[name] = _field_value(text, name, layout[name], value)
    for f in dataclasses.fields(cls):
        required = (f.init and f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING)
        if required and f.name not in values:
            raise ConfigError(f"--entry {text!r}: field {f.name}: required (no default)")
    try:
        return cls(**values)
    except MadtError as exc:  # the class's own checks
        where = f"field {exc.field}: " if exc.field else ""
        raise ConfigError(f"--entry {text!r}: {where}{exc.message}") from None


def _entry_class(text: str, kind: str, types: MadtTypes) -> type[MadtEntry]:
    declared = ", ".join(f"0x{c.type:02x} {c.NAME}" for c in types.added) or "none"
    try:
        number: int | None = int(kind, 0)
    except ValueError:
        number = None
    if number is not None:
        cls = types.added_class(number) if 0 <= number <= 0xFF else None
        if cls is None and types.class_for(number) is not None:
            raise ConfigError(f"--entry {text!r}: type 0x{number:02x} ({types.type_name(number)}) "
                              "is built in; --entry adds the types plugins declare "
                              f"(installed: {declared})")
    else:
        cls = next((c for c in types.added if kind.casefold() in
                    (c.NAME.casefold(), c.__name__.casefold())), None)
    if cls is None:
        raise ConfigError(f"--entry {text!r}: type {kind!r}: no installed plugin declares this "
                          f"MADT subtable type (installed: {declared})")
    return cls


def _field_value(text: str, name: str, code: str, value: str) -> int | bytes:
    """*value* for a field of struct *code*: a number for B/H/I/Q, hex digits for Ns."""
    if code in _INT_SIZES:
        size = _INT_SIZES[code]
        try:
            number = int(value, 0)
        except ValueError:
            raise ConfigError(f"--entry {text!r}: field {name}: {value!r} is not a number"
                              ) from None
        if not 0 <= number < 1 << (8 * size):
            raise ConfigError(f"--entry {text!r}: field {name}: {value} does not fit the "
                              f"u{8 * size} field")
        return number
    size = int(code[:-1])
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ConfigError(f"--entry {text!r}: field {name}: {value!r} is not hex bytes"
                          ) from None
    if len(data) != size:
        raise ConfigError(f"--entry {text!r}: field {name}: {len(data)} byte(s) given, the "
                          f"field has {size}")
    return data


def _build(args: argparse.Namespace) -> int:
    if args.json and args.output == "-":
        raise ConfigError("--json and -o - both write to stdout")
    madt = describe_madt(
        args.cpus, args.apic_ids, disabled=set(args.disabled),
        online_capable=set(args.online_capable), ioapic=args.ioapic,
        overrides=args.overrides, nmi=args.nmi, wakeup=_wakeup(args), entries=_entries(args),
        oem_id=args.oem_id, oem_table_id=args.oem_table_id, revision=args.revision,
    )
    data = build_madt(madt)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            with open(args.output, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise ConfigError(f"{args.output}: {exc.strerror or exc}") from None
    report = sys.stderr if args.output == "-" else sys.stdout
    if args.json:
        _print_json(madt_to_json(madt, file=args.output, file_size=len(data)))
    else:
        print(f"wrote {args.output}: {len(data)} bytes; {madt_summary_line(madt)}", file=report)
    return int(ExitCode.OK)


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2))
