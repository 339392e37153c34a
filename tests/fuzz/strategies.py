"""Hypothesis strategies and property checks for fuzzing kapic's inputs: MADT bytes, acpidump
text, and the ``kapic madt`` / ``kapic boot`` command lines.

Shared by the bounded suite in tests/fuzz/ (a few seconds, derandomized) and the long-running
target bench/fuzz_madt.py. Each ``check_*`` function runs one input and raises
:class:`PropertyFailed` (or lets an unexpected exception escape) when a property is broken:

* every input either decodes or raises :class:`~kapic.errors.MadtError` /
  :class:`~kapic.errors.InputError`, a one-line message naming the source (and, for table
  bytes, the offset and the field), never another exception;
* a table that decodes rebuilds byte for byte, and decodes again to the same value;
* an acpidump text printed from tables reads back to those tables;
* ``kapic.cli.main`` returns one of the documented exit statuses 0, 1, 2, 4, never raises, and
  prints no traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from hypothesis import strategies as st

from kapic import KernelVersion
from kapic.acpi import (
    LocalApicAddressOverride,
    Madt,
    MpWakeup,
    NmiSource,
    RawSubtable,
    Subtable,
    build_madt,
    describe_madt,
    finalize_madt,
    loader,
    madt_boot_lines,
    madt_entry_lines,
    madt_problems,
    madt_summary_line,
    madt_to_json,
    parse_madt,
)
from kapic.acpi.cpus import madt_cpu_entries
from kapic.acpi.madt import SUBTABLE_CLASSES
from kapic.cli import main
from kapic.errors import InputError, MadtError
from kapic.platforms.model import PARAM_DOCS

ROOT: Final = Path(__file__).resolve().parents[2]
SHARED: Final = ROOT / ".." / "shared" / "data"
#: The exit statuses kapic documents (kapic/errors.py ExitCode).
EXIT_STATUSES: Final = frozenset({0, 1, 2, 4})
KERNELS: Final = (KernelVersion((5, 19)), KernelVersion((6, 6)), KernelVersion((6, 11)))
#: every fault scenario, with its default and some chosen parameters
_FAULTS: Final = (
    "ap-ack-2-bytes", "ap-ack-wrong-cpu", "ap-late-ack", "ap-late-ack:us=50", "ap-never-ack",
    "fw-32bit-vector", "fw-ignore-command", "ipi-drop", "ipi-drop:p=0.5", "ipi-duplicate",
    "vcpu-delay", "vcpu-delay:us=20000", "vcpu-delay-random:max_us=100", "vcpu-never-runs:cpu=1",
    "vmm-late-wake", "vmm-wrong-apicid:cpu=1,as=2", "double-wakeup:cpu=1", "plugin-plain-store",
    "madt-corrupt", "madt-duplicate-apic-id:cpu=1", "madt-no-boot-cpu",
    "madt-x2apic-placeholders:n=3", "mailbox-overlaps-ram", "mailbox-unaligned", "mailbox-zero",
)


class PropertyFailed(AssertionError):
    """A property of the fuzzed code does not hold for an input; ``kind`` names the property
    (and the failure, without the input's numbers) so that a fuzzer can count each bug once."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind if kind is not None else re.sub(r"\d+", "N", message.split(":")[0])


def _shape(text: str) -> str:
    """*text* with numbers, quoted values and paths replaced: the shape of a message."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    return re.sub(r"0x[0-9a-fA-F]+|\d+|/\S+", "N", text)[:160]


def _files(directory: str, pattern: str, limit: int) -> list[bytes]:
    path = SHARED / directory
    if not path.is_dir():
        return []
    return [p.read_bytes() for p in sorted(path.glob(pattern)) if p.stat().st_size <= limit]


#: Real MADTs of ../shared/data/madt (none when ../shared is absent).
REAL_TABLES: Final = _files("madt", "*.bin", 4096)
#: Real acpidump texts of ../shared/data/acpidump (the small ones: a few KiB).
REAL_DUMPS: Final = _files("acpidump", "*.txt", 8192)


# -- tables ---------------------------------------------------------------------------------

_LATIN1: Final = st.characters(min_codepoint=0, max_codepoint=0xFF)
_RAW_TYPES: Final = st.integers(0, 0xFF).filter(lambda t: t not in SUBTABLE_CLASSES)


def _extra_entries() -> st.SearchStrategy[list[Subtable]]:
    raw = st.builds(lambda kind, data: RawSubtable(kind, data), _RAW_TYPES,
                    st.binary(max_size=24))
    override = st.builds(LocalApicAddressOverride, address=st.integers(0, 2**64 - 1))
    nmi_source = st.builds(NmiSource, gsi=st.integers(0, 2**32 - 1),
                           inti_flags=st.integers(0, 0xFFFF))
    return st.lists(st.one_of(raw, override, nmi_source), max_size=3)


@st.composite
def described_madts(draw: st.DrawFn, max_cpus: int = 6) -> Madt:
    """A valid table from ``describe_madt``: a few CPUs (xAPIC and x2APIC IDs), optional MP
    wakeup entry and extra entries of other types."""
    ids = draw(st.lists(st.one_of(st.integers(0, 0xFE), st.integers(0xFF, 2**32 - 1),
                                  st.integers(0, 16)), min_size=1, max_size=max_cpus,
                        unique=True))
    disabled = draw(st.sets(st.sampled_from(ids)))
    online = draw(st.sets(st.sampled_from(ids)))
    wakeup = draw(st.none() | st.builds(
        MpWakeup, version=st.integers(0, 3), mailbox_address=st.integers(0, 2**64 - 1),
        reset_vector=st.none() | st.integers(0, 2**64 - 1)))
    return describe_madt(
        apic_ids=ids, disabled=disabled, online_capable=online, ioapic=draw(st.booleans()),
        overrides=draw(st.booleans()), nmi=draw(st.booleans()), wakeup=wakeup,
        entries=draw(_extra_entries()), oem_id=draw(st.text(_LATIN1, max_size=6)),
        oem_table_id=draw(st.text(_LATIN1, max_size=8)), revision=draw(st.integers(0, 255)),
        local_apic_address=draw(st.integers(0, 2**32 - 1)), pcat_compat=draw(st.booleans()),
    )


def valid_tables() -> st.SearchStrategy[bytes]:
    """Bytes of valid tables: described ones, and the real ones when ../shared is there."""
    built = described_madts().map(build_madt)
    return st.one_of(built, st.sampled_from(REAL_TABLES)) if REAL_TABLES else built


@st.composite
def mutated_tables(draw: st.DrawFn, seeds: st.SearchStrategy[bytes] | None = None) -> bytes:
    """A valid table with 1-5 mutations: bit flips, byte writes, truncation, insertions,
    deletions, a new header length or subtable length, splices, a repaired checksum."""
    data = bytearray(draw(seeds if seeds is not None else valid_tables()))
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["flip", "byte", "truncate", "insert", "delete", "length",
                                     "entry-length", "entry-type", "splice", "checksum",
                                     "append"]))
        size = len(data)
        if kind == "flip" and size:
            bit = draw(st.integers(0, size * 8 - 1))
            data[bit // 8] ^= 1 << (bit % 8)
        elif kind == "byte" and size:
            data[draw(st.integers(0, size - 1))] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[draw(st.integers(0, size)):]
        elif kind == "insert":
            at = draw(st.integers(0, size))
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete" and size:
            at = draw(st.integers(0, size - 1))
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "length" and size >= 8:
            value = draw(st.one_of(st.integers(0, 2**32 - 1), st.integers(size - 4, size + 4)
                                   .filter(lambda n: n >= 0)))
            data[4:8] = value.to_bytes(4, "little")
        elif kind in ("entry-length", "entry-type") and size > 46:
            offsets = _entry_offsets(bytes(data))
            if offsets:
                at = draw(st.sampled_from(offsets)) + (1 if kind == "entry-length" else 0)
                if at < size:
                    data[at] = draw(st.integers(0, 255))
        elif kind == "splice":
            other = draw(valid_tables())
            cut = draw(st.integers(0, size))
            data[cut:] = other[draw(st.integers(0, len(other))):]
        elif kind == "checksum" and size >= 10:
            data[9] = 0
            data[9] = (-sum(data[: int.from_bytes(data[4:8], "little")])) & 0xFF
        elif kind == "append":
            data += draw(st.binary(max_size=32))
    return bytes(data)


def _entry_offsets(data: bytes) -> list[int]:
    """Offsets of the subtables a walk of *data* reaches (stops at the first bad length)."""
    end = min(len(data), int.from_bytes(data[4:8], "little"))
    offsets: list[int] = []
    offset = 44
    while offset + 2 <= end and data[offset + 1] and len(offsets) < 64:
        offsets.append(offset)
        offset += data[offset + 1]
    return offsets


def table_inputs() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes (some with an ``APIC`` signature), valid and mutated tables."""
    return st.one_of(st.binary(max_size=300), st.binary(max_size=200).map(lambda b: b"APIC" + b),
                     valid_tables(), mutated_tables())


# -- acpidump text --------------------------------------------------------------------------


def acpidump_text(tables: Sequence[tuple[str, int, bytes]]) -> str:
    """What acpidump prints for *tables*, ``(signature, address, bytes)`` each (apdump.c
    ``ap_dump_table_buffer``: the heading, 16 bytes a line, a blank line after each table)."""
    out: list[str] = []
    for signature, address, data in tables:
        out.append(f"{signature} @ 0x{address:016x}" if address >> 32 else
                   f"{signature} @ 0x{address:x}")
        for offset in range(0, len(data), 16):
            chunk = data[offset : offset + 16]
            hexes = "".join(f"{b:02x} " for b in chunk).ljust(48)
            text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
            out.append(f"  {offset:04x}: {hexes} {text}")
        out.append("")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Dump:
    """An acpidump text, and the APIC tables it must read back to (None: mutated)."""

    data: bytes
    expected: list[bytes] | None = field(default=None)


_SIGNATURES: Final = st.sampled_from(["APIC", "DSDT", "FACP", "SSDT", "RSD PTR", "XSDT"])


@st.composite
def printed_dumps(draw: st.DrawFn) -> Dump:
    """An acpidump text printed from 1-3 tables, some of them MADTs, saved in one of the ways
    that keep it an acpidump: ``\\r\\n`` line ends, UTF-16 or UTF-8 with a byte-order mark
    (Windows), NUL padding at the end or NUL bytes in blank lines or before a heading, blanks
    at the ends of lines."""
    tables: list[tuple[str, int, bytes]] = []
    for _ in range(draw(st.integers(1, 3))):
        signature = draw(_SIGNATURES)
        data = draw(valid_tables() if signature == "APIC" else st.binary(min_size=1,
                                                                          max_size=80))
        tables.append((signature, draw(st.integers(0, 2**64 - 1)), data))
    expected = [data for signature, _, data in tables if signature == "APIC"]
    text = acpidump_text(tables)
    saved = draw(st.sampled_from(["plain", "crlf", "utf-16", "utf-8-bom", "nul-pad",
                                  "nul-blank", "nul-heading", "blanks"]))
    if saved == "crlf":
        text = text.replace("\n", "\r\n")
    elif saved == "nul-blank":
        text = text.replace("\n\n", "\n\0\0\n")
    elif saved == "nul-heading":
        text = "\0" + text
    elif saved == "blanks":
        text = text.replace("\n", " \t\n")
    data = text.encode("latin-1")
    if saved == "utf-16":
        data = b"\xff\xfe" + text.encode("utf-16-le")
    elif saved == "utf-8-bom":
        data = b"\xef\xbb\xbf" + text.encode("utf-8")
    elif saved == "nul-pad":
        data += b"\0" * draw(st.integers(1, 64))
    return Dump(data, expected or None)


_JUNK_LINES: Final = st.sampled_from([
    "APIC @ 0x1000", "DSDT @ 0x20", "", "   ", "\0", "  0000: 41 50 49 43", "  0004: zz",
    "  0010: 00 00\0", "junk", "  00000000: 41 50 49 43 2c 00 00 00", "\t", "APIC @ 0x",
    "Intel ACPI Component Architecture",
])


@st.composite
def mutated_dumps(draw: st.DrawFn) -> Dump:
    """A printed or real acpidump text with line and byte mutations (NULs, CRLF, UTF-16...)."""
    seeds = [st.builds(lambda d: d.data, printed_dumps())]
    if REAL_DUMPS:
        seeds.append(st.sampled_from(REAL_DUMPS))
    data = draw(st.one_of(*seeds))
    lines = data.split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["drop", "dup", "swap", "insert", "char", "nul", "truncate",
                                     "blank", "indent", "case"]))
        at = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if kind == "drop" and lines:
            del lines[at]
        elif kind == "dup" and lines:
            lines.insert(at, lines[at])
        elif kind == "swap" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "insert":
            lines.insert(at, draw(_JUNK_LINES).encode())
        elif kind in ("char", "nul") and lines and lines[at]:
            line = bytearray(lines[at])
            pos = draw(st.integers(0, len(line) - 1))
            line[pos] = 0 if kind == "nul" else draw(st.integers(0, 255))
            lines[at] = bytes(line)
        elif kind == "truncate" and lines:
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        elif kind == "blank" and lines:
            lines[at] = b""
        elif kind == "indent" and lines:
            lines[at] = b"\t " + lines[at]
        elif kind == "case" and lines:
            lines[at] = lines[at].upper()
    data = b"\n".join(lines)
    encoding = draw(st.sampled_from(["plain", "plain", "plain", "utf-16", "utf-8-bom", "nul-pad"]))
    if encoding == "utf-16":
        data = b"\xff\xfe" + data.decode("latin-1").encode("utf-16-le")
    elif encoding == "utf-8-bom":
        data = b"\xef\xbb\xbf" + data
    elif encoding == "nul-pad":
        data += b"\0" * draw(st.integers(1, 64))
    return Dump(data)


def dump_inputs() -> st.SearchStrategy[Dump]:
    """Printed, real and mutated acpidump texts, and arbitrary text."""
    text = st.text(st.sampled_from("APIC@0x 1234567890abcdefDST:\n\r\t\0z"), max_size=200)
    choices = [printed_dumps(), mutated_dumps(),
               text.map(lambda t: Dump(t.encode("latin-1")))]
    if REAL_DUMPS:
        choices.append(st.sampled_from(REAL_DUMPS).map(Dump))
    return st.one_of(*choices)


# -- property checks ------------------------------------------------------------------------


def _one_line(exc: InputError, what: str) -> None:
    text = str(exc)
    if not text or "\n" in text or "\r" in text:
        raise PropertyFailed(f"{what}: error message is not one line: {text!r}")
    if exc.source is None:
        raise PropertyFailed(f"{what}: error names no source: {text!r}")


def check_table(data: bytes, source: str = "fuzz") -> Madt | None:
    """``parse_madt`` decodes *data* or raises a one-line :class:`MadtError` naming source,
    offset and field; a decoded table rebuilds byte for byte, decodes again to itself, and
    every view of it (JSON, kernel lines, summary) works."""
    try:
        madt = parse_madt(data, source)
    except MadtError as exc:
        _one_line(exc, "parse_madt")
        if exc.source != source or exc.offset is None or not exc.field:
            raise PropertyFailed(f"parse_madt error lacks source/offset/field: {exc}") from None
        return None
    image = data[: madt.header.length]
    rebuilt = build_madt(madt)
    if rebuilt != image:
        raise PropertyFailed("decode -> build is not byte-exact")
    if parse_madt(rebuilt, source) != madt:
        raise PropertyFailed("decode -> build -> decode gives another table")
    fixed = finalize_madt(madt).to_bytes()
    if fixed[:9] + fixed[10:] != image[:9] + image[10:] or sum(fixed) & 0xFF:
        raise PropertyFailed("finalize_madt changes more than the checksum byte")
    json.dumps(madt_to_json(madt, file=source, file_size=len(data)))
    for kernel in KERNELS:
        madt_entry_lines(madt, kernel)
        madt_boot_lines(madt, kernel)
    madt_summary_line(madt)
    madt_cpu_entries(madt)
    for problem in madt_problems(madt, data_size=len(data), source=source):
        _one_line(problem, "madt_problems")
    return madt


def check_dump(dump: Dump, source: str = "dump") -> None:
    """``read_madts`` reads the text (as a file would be read, from standard input here):
    every table decodes or carries a one-line error naming it; the whole input fails only
    with a one-line :class:`MadtError`; a printed text reads back to its tables."""
    try:
        tables = loader.read_madts("-", io.BytesIO(dump.data), name=source)
    except MadtError as exc:
        _one_line(exc, "read_madts")
        if dump.expected is not None:
            raise PropertyFailed(f"a printed acpidump text fails: {exc}") from None
        return
    if not tables:
        raise PropertyFailed("read_madts returned no table and no error")
    for item in tables:
        if item.error is not None:
            _one_line(item.error, "read_madts table")
            if not (item.error.source or "").startswith(source):
                raise PropertyFailed(f"table error does not name the input: {item.error}")
        elif item.madt is None:
            raise PropertyFailed("a table with neither a decode nor an error")
        else:
            check_table(item.data, item.source)
    if dump.expected is not None:
        got = [item.data for item in tables]
        if got != dump.expected:
            raise PropertyFailed(f"printed acpidump reads back {len(got)} tables, "
                                 f"{len(dump.expected)} printed, or other bytes")


@dataclass(frozen=True)
class CliRun:
    """What one ``kapic.cli.main(argv)`` call did."""

    argv: list[str]
    status: int
    out: str
    err: str


@contextlib.contextmanager
def _captured(stdin: bytes) -> Iterator[list[bytes]]:
    """Standard streams replaced by buffers; the list yielded receives stdout and stderr."""
    streams = (sys.stdin, sys.stdout, sys.stderr)
    wrappers = [io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"),
                io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True),
                io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)]
    sys.stdin, sys.stdout, sys.stderr = wrappers
    captured: list[bytes] = []
    try:
        yield captured
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
        for wrapper in wrappers[1:]:
            with contextlib.suppress(ValueError):  # closed by the code under test
                wrapper.flush()
            buffer = wrapper.detach()
            assert isinstance(buffer, io.BytesIO)
            captured.append(buffer.getvalue())
        wrappers[0].detach()


def run_cli(argv: Sequence[str], stdin: bytes = b"") -> CliRun:
    """Run ``kapic.cli.main(argv)`` with captured standard streams; an exception escaping
    ``main`` (SystemExit included) is a :class:`PropertyFailed` naming it."""
    with _captured(stdin) as captured:
        try:
            status = main(list(argv))
        except BaseException as exc:  # main must not raise anything
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise PropertyFailed(f"kapic {' '.join(argv)}: main raised "
                                 f"{type(exc).__name__}: {exc}") from exc
    out, err = (data.decode("utf-8", "replace") for data in captured)
    return CliRun(list(argv), status, out, err)


def _without_tracebacks(doc: object) -> object:
    """A JSON document without its ``traceback`` fields (a plugin error's, shown on purpose)."""
    if isinstance(doc, dict):
        return {k: _without_tracebacks(v) for k, v in doc.items() if k != "traceback"}
    if isinstance(doc, list):
        return [_without_tracebacks(v) for v in doc]
    return doc


def check_cli(argv: Sequence[str], stdin: bytes = b"") -> CliRun:
    """``main(argv)`` returns 0, 1, 2 or 4 and prints no traceback (a ``--json`` document may
    carry a plugin error's in its ``traceback`` fields, and must be valid JSON); a usage error
    says why on stderr. With only kapic's built-in plugins installed, exit status 4 (a plugin
    failed) means kapic blamed its own plugin: a bug, or input taken for a plugin's fault."""
    run = run_cli(argv, stdin)
    command = f"kapic {' '.join(argv)}"
    if run.status not in EXIT_STATUSES:
        raise PropertyFailed(f"{command}: exit status {run.status!r}",
                             f"undocumented exit status {run.status!r}")
    out = run.out
    if "--json" in argv and out.strip():
        try:
            out = json.dumps(_without_tracebacks(json.loads(out)))
        except ValueError:
            raise PropertyFailed(f"{command}: --json output is not one JSON document",
                                 f"{argv[0]} --json output is not JSON") from None
    if "Traceback" in out or "Traceback" in run.err:
        raise PropertyFailed(f"{command}: printed a traceback:\n{run.err[-2000:]}",
                             f"{argv[0]} printed a traceback")
    if run.status == 2 and not run.err.strip():
        raise PropertyFailed(f"{command}: usage error without a message",
                             f"{argv[0]} usage error without a message")
    if run.status == 4:
        last = run.err.strip().splitlines()[-1] if run.err.strip() else ""
        raise PropertyFailed(f"{command}: exit status 4 blames a built-in plugin: {last}",
                             f"exit status 4: {_shape(last)}")
    return run


# -- command lines --------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A command line; ``{file}`` in an argument is the table file the runner writes with
    ``file_data`` (and ``{dir}`` the directory it is in)."""

    argv: tuple[str, ...]
    file_data: bytes = b""
    stdin: bytes = b""

    def materialize(self, directory: Path) -> list[str]:
        path = directory / "table.bin"
        path.write_bytes(self.file_data)
        return [a.replace("{file}", str(path)).replace("{dir}", str(directory))
                for a in self.argv]


_GARBAGE: Final = st.sampled_from(["", "x", "-1", "0x", "1e3", "99999999999999999999999", "nan",
                                   "inf", " 1", "1_0", "\u00e9", "0", "--json"])


def _mostly(valid: st.SearchStrategy[str], odd: st.SearchStrategy[str] = _GARBAGE
            ) -> st.SearchStrategy[str]:
    """*valid* nine times in ten, else *odd*: enough usable options for most runs to boot."""
    return st.integers(0, 9).flatmap(lambda n: odd if n == 9 else valid)


def _small_table_files() -> st.SearchStrategy[bytes]:
    """Table files a boot reads quickly: small described, mutated and real tables, their
    acpidump text, and junk."""
    small = described_madts(max_cpus=4).map(build_madt)
    real = [st.sampled_from(REAL_TABLES)] if REAL_TABLES else []
    tables = st.one_of(small, *real)
    as_dump = st.lists(tables, min_size=1, max_size=2).map(
        lambda ts: acpidump_text([("APIC", 0x1000 * i, t) for i, t in enumerate(ts)])
        .encode())
    return st.one_of(tables, tables, as_dump, as_dump, mutated_tables(tables),
                     mutated_dumps().map(lambda d: d.data), st.binary(max_size=64))


def _table_option() -> st.SearchStrategy[str]:
    return _mostly(st.just("{file}"), st.sampled_from(["{dir}", "{dir}/missing", "-"]))


def _key_values(keys: Sequence[str], values: st.SearchStrategy[str]
                ) -> st.SearchStrategy[str]:
    key = _mostly(st.sampled_from(list(keys)), st.sampled_from(["", "bogus", "CONFIG_SMP"]))
    return _mostly(st.tuples(key, values).map(lambda kv: f"{kv[0]}={kv[1]}"))


_CONFIG_KEYS: Final = ("X86_64", "SMP", "NR_CPUS", "HOTPLUG_PARALLEL", "cpu_init_udelay",
                       "x2apic_phys")


@st.composite
def boot_commands(draw: st.DrawFn, extreme: bool = False) -> Command:
    """``kapic boot`` with generated machine options, small CPU counts; *extreme* adds
    parameter values that make long simulations (for the long-running fuzzer)."""
    argv: list[str] = [draw(st.sampled_from(["boot", "boot", "boot", "compare"]))]
    compare = argv[0] == "compare"
    machine = draw(st.sampled_from(["cpus", "madt", "none"]))
    if machine == "cpus":
        argv += ["--cpus", draw(_mostly(st.integers(1, 5).map(str), st.one_of(
            _GARBAGE, st.sampled_from(["65537", "-3", "1000000"]))))]
    elif machine == "madt":
        argv += ["--madt", draw(_table_option())]
    small = st.integers(0, 3_000_000)
    big = st.integers(0, 10**13) if extreme else st.integers(0, 50_000_000)
    number = st.one_of(small, big, st.integers(-5, 5)).map(str)
    options: dict[str, st.SearchStrategy[list[str]]] = {
        "--platform": _mostly(st.sampled_from(["bare-metal", "kvm", "tdx"]),
                              st.sampled_from(["bogus", ""])).map(lambda v: ["--platform", v]),
        "--method": _mostly(st.sampled_from(["init-sipi", "acpi-mailbox"])).map(
            lambda v: ["--method", v]),
        "--kernel": _mostly(st.sampled_from(["seed", "5.19", "6.1", "6.5", "6.11", "6.12",
                                             "7.2", "latest"]),
                            st.sampled_from(["5.18", "7.3", "6.12.77", "upstream"])).map(
            lambda v: ["--kernel", v]),
        "--fault": st.lists(_mostly(st.sampled_from(_FAULTS), st.sampled_from(
            ["vcpu-delay:us=-1", "ipi-drop:p=2", "vmm-wrong-apicid:cpu=1,as=99",
             "vcpu-never-runs:cpu=0", "ap-late-ack:ms=1", "nosuch", "vcpu-delay:"])),
                            min_size=1, max_size=2).map(
            lambda vs: [a for v in vs for a in ("--fault", v)]),
        "--firmware": _mostly(st.sampled_from(["tdvf", "td-shim", "td-shim-noack",
                                               "sipi-wait"])).map(lambda v: ["--firmware", v]),
        "--param": st.lists(_key_values(sorted(PARAM_DOCS), _mostly(number)),
                            min_size=1, max_size=3).map(
            lambda vs: [a for v in vs for a in ("--param", v)]),
        "--config": st.lists(_key_values(_CONFIG_KEYS, _mostly(
            st.sampled_from(["y", "n", "Y", "no", "2", "4", "8192", "0x10"]),
            st.one_of(number, st.just("1048577")))), min_size=1, max_size=3).map(
            lambda vs: [a for v in vs for a in ("--config", v)]),
        "--seed": _mostly(st.integers(0, 2**70).map(str)).map(lambda v: ["--seed", v]),
        "--watchdog": _mostly(st.sampled_from(["1e-6", "0.001", "0.05", "30", "3600"]),
                              st.sampled_from(["1e-7", "3601", "-1", "0", "nan", "x"])).map(
            lambda v: ["--watchdog", v]),
        "--wall-budget": _mostly(st.just("30"), st.sampled_from(["0", "-1", "nan", "1e9"])).map(
            lambda v: ["--wall-budget", v]),
        "--json": st.just(["--json"]),
    }
    if compare:
        options["--repeat"] = _mostly(st.sampled_from(["1", "2"]),
                                      st.sampled_from(["0", "-1", "x"])).map(
            lambda v: ["--repeat", v])
        options["--same-platform"] = st.just(["--same-platform"])
    else:
        options["--relaxed-memory"] = st.just(["--relaxed-memory"])
        options["--trace"] = st.just(["--trace"])
        options["--offline"] = _mostly(st.integers(-1, 6).map(str)).map(
            lambda v: ["--offline", v])
    for name in draw(st.lists(st.sampled_from(sorted(options)), max_size=5, unique=True)):
        argv += draw(options[name])
    if compare and "--repeat" not in argv:
        argv += ["--repeat", "1"]
    if compare and "--cpus" not in argv and "--madt" not in argv:
        argv += ["--cpus", "2"]
    data = draw(_small_table_files()) if machine == "madt" else b""
    stdin = data if "-" in argv else b""
    return Command(tuple(argv), data, stdin)


@st.composite
def madt_commands(draw: st.DrawFn) -> Command:
    """``kapic madt decode`` / ``build`` with generated options."""
    if draw(st.booleans()):
        argv = ["madt", "decode", draw(_table_option())]
        for flag in draw(st.lists(st.sampled_from(["--json", "--strict"]), unique=True)):
            argv.append(flag)
        if draw(st.booleans()):
            argv += ["--kernel", draw(st.one_of(st.sampled_from(
                ["5.19", "6.6", "6.11", "seed", "latest", "upstream", "4.0", "6", "6.11.3", "99.99"]),
                _GARBAGE))]
        if draw(st.booleans()):
            argv += ["--order", draw(st.sampled_from(["table", "boot", "x"]))]
        if draw(st.booleans()):
            argv += ["--table", draw(st.one_of(st.integers(0, 4).map(str), _GARBAGE))]
        data = draw(st.one_of(table_inputs(), dump_inputs().map(lambda d: d.data)))
        return Command(tuple(argv), data, data if "-" in argv else b"")
    argv = ["madt", "build"]
    ids = st.lists(st.one_of(st.integers(0, 300), st.integers(0, 2**33)), min_size=1,
                   max_size=5).map(lambda xs: ",".join(map(str, xs)))
    ranges = st.sampled_from(["0-3", "0-2,4-6", "5-3", "0-70000", "0-4294967295", "300-310,5"])
    id_list = st.one_of(ids, ranges, _GARBAGE)
    if draw(st.booleans()):
        argv += ["--cpus", draw(st.one_of(st.integers(0, 300).map(str), _GARBAGE,
                                          st.sampled_from(["65536", "65537", "2000000"])))]
    else:
        argv += ["--apic-ids", draw(id_list)]
    options: dict[str, st.SearchStrategy[list[str]]] = {
        "--disabled": id_list.map(lambda v: ["--disabled", v]),
        "--online-capable": id_list.map(lambda v: ["--online-capable", v]),
        "--wakeup-version": st.sampled_from(["0", "1", "2"]).map(lambda v: ["--wakeup-version",
                                                                            v]),
        "--wakeup-length": st.sampled_from(["16", "24", "8"]).map(lambda v: ["--wakeup-length",
                                                                             v]),
        "--mailbox": st.one_of(st.integers(0, 2**65).map(hex), _GARBAGE).map(
            lambda v: ["--mailbox", v]),
        "--reset-vector": st.one_of(st.integers(0, 2**65).map(hex), _GARBAGE).map(
            lambda v: ["--reset-vector", v]),
        "--entry": st.sampled_from(["0x80:x=1", "0x10:version=1", "bogus", ":", "0x100:a=b"]).map(
            lambda v: ["--entry", v]),
        "--no-ioapic": st.just(["--no-ioapic"]),
        "--no-overrides": st.just(["--no-overrides"]),
        "--no-nmi": st.just(["--no-nmi"]),
        "--oem-id": st.text(max_size=8).filter(lambda t: "\0" not in t).map(
            lambda v: ["--oem-id", v]),
        "--revision": st.one_of(st.integers(0, 300).map(str), _GARBAGE).map(
            lambda v: ["--revision", v]),
        "--json": st.just(["--json"]),
    }
    for name in draw(st.lists(st.sampled_from(sorted(options)), max_size=4, unique=True)):
        argv += draw(options[name])
    argv += ["-o", draw(st.sampled_from(["{dir}/out.bin", "-", "{dir}", "{dir}/no/out.bin"]))]
    return Command(tuple(argv))


def check_command(command: Command, directory: Path) -> CliRun:
    """Write the command's table file into *directory*, run it, check :func:`check_cli`."""
    argv = command.materialize(directory)
    cwd = os.getcwd()
    os.chdir(directory)  # --trace/--plot and relative outputs land there
    try:
        return check_cli(argv, command.stdin)
    finally:
        os.chdir(cwd)
