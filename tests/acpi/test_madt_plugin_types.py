"""MADT subtable types a plugin declares: decode, JSON, kernel-style print, build, CLI."""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

import kapic.cli.madt as cli_madt
from kapic import Gate, KernelVersion
from kapic.acpi import (
    LocalApic,
    Madt,
    MadtEntry,
    MadtTypes,
    MpWakeup,
    RawSubtable,
    build_madt,
    describe_madt,
    load_madts,
    madt_boot_lines,
    madt_entry_lines,
    madt_summary,
    madt_to_json,
    parse_madt,
    print_madt_entry,
    subtable_to_json,
)
from kapic.acpi.madt import SUBTABLE_CLASSES
from kapic.acpi.raw import madt_type_name
from kapic.cli import main
from kapic.errors import MadtError
from kapic.plugin import PluginHost

Capsys = pytest.CaptureFixture[str]
_Layout = tuple[tuple[str, str], ...]


#: an invented kernel change: the plugin's own gate
OEM_PARKING_PRINTED = Gate("oem_parking_printed", (6, 12), "(invented)",
                           "drivers/acpi/tables.c: acpi_table_print_madt_entry()",
                           "prints the OEM parking entry")


@dataclass(frozen=True, slots=True)
class OemParking(MadtEntry):
    """Type 0x80, 16 bytes: an (invented) OEM parking-protocol entry, one per processor."""

    type: ClassVar[int] = 0x80
    NAME: ClassVar[str] = "OEM Parking Protocol"
    LAYOUT: ClassVar[_Layout] = (
        ("version", "B"), ("reserved", "B"), ("processor_uid", "I"), ("parking_address", "Q"),
    )

    processor_uid: int
    parking_address: int
    version: int = 1
    reserved: int = 0

    def kernel_lines(self, kernel: KernelVersion) -> list[str]:
        """As if the kernel had a case for it (from an invented 6.12 on: a plugin's gate)."""
        if not kernel.has(OEM_PARKING_PRINTED):
            return MadtEntry.kernel_lines(self, kernel)
        return [f"OEM_PARKING (uid[0x{self.processor_uid:02x}] "
                f"address[0x{self.parking_address:x}] version[{self.version}])"]


@dataclass(frozen=True, slots=True)
class OemTag(MadtEntry):
    """Type 0x81, 10 bytes: no ``kernel_lines``, so it prints what Linux prints."""

    type: ClassVar[int] = 0x81
    NAME: ClassVar[str] = "OEM Tag"
    LAYOUT: ClassVar[_Layout] = (("tag", "8s"),)

    tag: bytes = b"KAPIC\0\0\0"


@dataclass(frozen=True, slots=True)
class OtherAt0x80(MadtEntry):
    """Another vendor's type 0x80, 4 bytes."""

    type: ClassVar[int] = 0x80
    NAME: ClassVar[str] = "Other OEM"
    LAYOUT: ClassVar[_Layout] = (("value", "H"),)

    value: int = 0


@dataclass(frozen=True, slots=True)
class FakeWakeup(MadtEntry):
    """Claims the built-in type 0x10."""

    type: ClassVar[int] = 0x10
    NAME: ClassVar[str] = "Fake Wakeup"
    LAYOUT: ClassVar[_Layout] = (("value", "H"),)

    value: int = 0


TYPES = MadtTypes.builtin().with_types(OemParking, OemTag)
PARKING = OemParking(processor_uid=1, parking_address=0x7FFF0000)


def _madt(*extra: MadtEntry | RawSubtable) -> Madt:
    return describe_madt(cpus=2, entries=extra or (PARKING, OemTag()))


def test_decode_gives_typed_entries() -> None:
    data = build_madt(_madt())
    madt = parse_madt(data, types=TYPES)
    assert madt.subtables[-2:] == (
        OemParking(processor_uid=1, parking_address=0x7FFF0000, version=1, offset=128,
                   length=16),
        OemTag(offset=144, length=10),
    )
    assert madt == _madt()
    assert build_madt(madt) == data  # byte for byte
    # Without the plugin types both are kept raw, with the same bytes.
    plain = parse_madt(data)
    assert [type(e) for e in plain.subtables[-2:]] == [RawSubtable, RawSubtable]
    assert build_madt(plain) == data


def test_extra_bytes_and_short_entries() -> None:
    longer = dataclasses.replace(PARKING, extra=b"\xaa\xbb", length=0)
    data = build_madt(_madt(longer))
    decoded = parse_madt(data, types=TYPES).subtables[-1]
    assert isinstance(decoded, OemParking) and decoded.extra == b"\xaa\xbb"
    assert decoded.length == 18 and build_madt(parse_madt(data, types=TYPES)) == data
    short = bytearray(build_madt(_madt(RawSubtable(0x80, bytes(6)))))
    with pytest.raises(MadtError) as info:
        parse_madt(bytes(short), "short.bin", types=TYPES)
    assert str(info.value) == (
        "short.bin: offset 129 (0x81): field subtable[9].length: length 8 of subtable type 0x80 "
        "(OEM Parking Protocol) at offset 128 is shorter than the 16 bytes its type needs")
    assert isinstance(parse_madt(bytes(short)).subtables[-1], RawSubtable)


def test_json_fields_by_name() -> None:
    madt = parse_madt(build_madt(_madt()), types=TYPES)
    assert subtable_to_json(madt.subtables[-2]) == {
        "offset": 128, "type": 0x80, "type_name": "OEM Parking Protocol", "length": 16,
        "fields": {"version": 1, "reserved": 0, "processor_uid": 1,
                   "parking_address": 0x7FFF0000},
    }
    assert subtable_to_json(madt.subtables[-1])["fields"] == {"tag": b"KAPIC\0\0\0".hex()}
    summary = madt_summary(madt)
    assert summary["other_types"] == [] and summary["plugin_types"] == [0x80, 0x81]
    raw = parse_madt(build_madt(_madt()))
    assert madt_summary(raw)["other_types"] == [0x80, 0x81] and "plugin_types" not in (
        madt_summary(raw))
    assert subtable_to_json(raw.subtables[-2])["raw"] == PARKING.pack().hex()
    # A table decoded without the types shows as one decoded with them when given them.
    assert madt_to_json(raw, types=TYPES) == madt_to_json(madt)


def test_json_of_tables_without_plugin_types_is_unchanged() -> None:
    madt = describe_madt(cpus=3, wakeup=MpWakeup(1, 0x1000, 0x2000))
    doc = madt_to_json(madt, types=TYPES)
    assert doc == madt_to_json(madt) and "plugin_types" not in doc["summary"]
    # The built-in classes' NAMEs are the specification names the JSON always showed.
    assert all(cls.NAME == madt_type_name(kind) for kind, cls in SUBTABLE_CLASSES.items())


def test_kernel_style_print() -> None:
    madt = parse_madt(build_madt(_madt()), types=TYPES)
    lines = madt_entry_lines(madt, KernelVersion((6, 12)))
    assert lines[-2:] == [
        "ACPI: OEM_PARKING (uid[0x01] address[0x7fff0000] version[1])",
        "ACPI: Found unsupported MADT entry (type = 0x81)",
    ]
    raw = parse_madt(build_madt(_madt()))
    # Before "6.12" and for a class without kernel_lines: exactly what Linux prints.
    assert madt_entry_lines(madt, KernelVersion((6, 11))) == madt_entry_lines(raw, KernelVersion((6, 11)))
    assert madt_entry_lines(raw, KernelVersion((6, 12)), types=TYPES) == lines
    assert print_madt_entry(raw.subtables[-2], KernelVersion((6, 12)), types=TYPES) == lines[-2:-1]
    assert print_madt_entry(raw.subtables[-2], KernelVersion((6, 12))) == [
        "ACPI: Found unsupported MADT entry (type = 0x80)"]
    # The x86 boot walks only the built-in types: a plugin's handler prints its entries.
    v612 = KernelVersion((6, 12))
    assert madt_boot_lines(madt, v612) == madt_boot_lines(describe_madt(cpus=2), v612)


def test_kernel_lines_must_be_a_list_of_str() -> None:
    @dataclass(frozen=True, slots=True)
    class Broken(OemTag):
        def kernel_lines(self, kernel: KernelVersion) -> list[str]:
            return "not a list"  # type: ignore[return-value]

    with pytest.raises(MadtError, match=r"Broken\.kernel_lines returned 'not a list', not a "):
        print_madt_entry(Broken())


def test_load_madts_with_types(tmp_path: Path) -> None:
    path = tmp_path / "APIC"
    path.write_bytes(build_madt(_madt()))
    [(source, madt, size)] = load_madts(str(path), types=TYPES)
    assert (source, size) == (str(path), path.stat().st_size)
    assert isinstance(madt.subtables[-2], OemParking)
    assert isinstance(load_madts(str(path))[0][1].subtables[-2], RawSubtable)


def test_registry_conflicts() -> None:
    with pytest.raises(MadtError) as info:
        MadtTypes.builtin().with_types(FakeWakeup)
    assert str(info.value) == (
        f"{__name__}.FakeWakeup: field type: MADT subtable type 0x10 is already taken by the "
        "built-in class kapic.acpi.wakeup.MpWakeup (Multiprocessor Wakeup)")
    with pytest.raises(MadtError) as info:
        TYPES.with_types(OtherAt0x80)
    assert str(info.value) == (
        f"{__name__}.OtherAt0x80: field type: MADT subtable type 0x80 is already taken by the "
        f"added class {__name__}.OemParking (OEM Parking Protocol)")
    # The same class twice (two plugins returning it, or a built-in) is no conflict.
    assert TYPES.with_types(OemParking, MpWakeup) == TYPES
    assert TYPES.added == (OemParking, OemTag)


def test_registry_rejects_classes_that_cannot_decode() -> None:
    class NotADataclass(MadtEntry):
        type: ClassVar[int] = 0x90
        NAME: ClassVar[str] = "No dataclass"
        LAYOUT: ClassVar[_Layout] = (("value", "H"),)

    @dataclass(frozen=True, slots=True)
    class BadCode(OtherAt0x80):
        type: ClassVar[int] = 0x91
        LAYOUT: ClassVar[_Layout] = (("value", "h"),)

    @dataclass(frozen=True, slots=True)
    class BadType(OtherAt0x80):
        type: ClassVar[int] = 0x100

    @dataclass(frozen=True, slots=True)
    class TooLong(OtherAt0x80):
        type: ClassVar[int] = 0x92
        LAYOUT: ClassVar[_Layout] = (("value", "254s"),)

    cases: list[tuple[Any, str]] = [
        (RawSubtable, "field class: not a subclass of kapic.acpi.entry.MadtEntry"),
        (NotADataclass, "field LAYOUT: LAYOUT names ['value'] that are not dataclass fields"),
        (BadCode, "field LAYOUT: the LAYOUT ClassVar must be a tuple of (field, code) pairs"),
        (BadType, "field type: the type ClassVar must be a subtable type byte 0..0xFF, not 256"),
        (TooLong, "field LAYOUT: LAYOUT makes 256 bytes; a subtable has at most 255"),
    ]
    for cls, message in cases:
        with pytest.raises(MadtError, match=r"\.\w+: " + message.replace("(", r"\(")
                           .replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
            MadtTypes((cls,))


def test_two_registries_do_not_interfere() -> None:
    data = build_madt(_madt())
    first = MadtTypes.builtin().with_types(OemParking)
    second = MadtTypes.builtin().with_types(OtherAt0x80)
    assert first.added == (OemParking,) and second.added == (OtherAt0x80,)
    assert MadtTypes.builtin() == MadtTypes() and MadtTypes.builtin().added == ()
    assert isinstance(parse_madt(data, types=first).subtables[-2], OemParking)
    other = parse_madt(data, types=second).subtables[-2]
    assert isinstance(other, OtherAt0x80) and other.value == 0x0001 and len(other.extra) == 12
    assert isinstance(parse_madt(data).subtables[-2], RawSubtable)
    assert isinstance(parse_madt(data, types=first).subtables[-2], OemParking)
    assert first.class_for(0x80) is OemParking and second.class_for(0x80) is OtherAt0x80
    assert first.added_class(0x10) is None and first.class_for(0x10) is MpWakeup
    assert (first.type_name(0x80), second.type_name(0x80)) == ("OEM Parking Protocol",
                                                                "Other OEM")
    assert MadtTypes.builtin().type_name(0x80) == "OEM"


def test_typed_keeps_raw_what_it_cannot_decode() -> None:
    short = RawSubtable(0x80, bytes(4), offset=60)
    assert TYPES.typed(short) is short
    builtin_raw = RawSubtable(0x01, bytes(10))
    assert TYPES.typed(builtin_raw) is builtin_raw  # a built-in type kept raw stays raw
    full = RawSubtable(0x80, PARKING.pack()[2:], offset=60)
    assert TYPES.typed(full) == dataclasses.replace(PARKING, offset=60)
    entry = LocalApic(0, 0)
    assert TYPES.typed(entry) is entry


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
def plugin_types(monkeypatch: pytest.MonkeyPatch) -> MadtTypes:
    """``kapic madt`` sees TYPES as the installed plugins' types."""
    monkeypatch.setattr(cli_madt, "_madt_types", lambda args: TYPES)
    return TYPES


def _run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["madt", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_madt_types_from_the_plugin_host() -> None:
    args = argparse.Namespace(plugin_options=[])
    types = cli_madt._madt_types(args)
    assert types is None or isinstance(types, MadtTypes)


@pytest.mark.usefixtures("plugin_types")
def test_cli_build_then_decode(tmp_path: Path, capsys: Capsys) -> None:
    path = str(tmp_path / "APIC")
    code, out, err = _run(capsys, "build", "--cpus", "2", "-o", path, "--entry",
                          "0x80:processor_uid=1,parking_address=0x7fff0000",
                          "--entry", "oem tag:tag=4b41504943000000")
    assert (code, err) == (0, "") and out.startswith(f"wrote {path}: 154 bytes;")
    data = Path(path).read_bytes()
    assert data == build_madt(_madt())  # byte for byte what the API builds
    assert build_madt(parse_madt(data, types=TYPES)) == data
    code, out, _ = _run(capsys, "decode", "--kernel", "6.12", path)
    assert out.splitlines()[-3:-1] == [
        "ACPI: OEM_PARKING (uid[0x01] address[0x7fff0000] version[1])",
        "ACPI: Found unsupported MADT entry (type = 0x81)",
    ]
    code, out, _ = _run(capsys, "decode", "--json", path)
    doc = json.loads(out)
    assert doc["subtables"][-2]["fields"]["parking_address"] == 0x7FFF0000
    assert doc["summary"]["plugin_types"] == [0x80, 0x81] and doc["summary"]["other_types"] == []
    code, out, _ = _run(capsys, "decode", "--order", "boot", "--kernel", "6.12", path)
    assert "OEM" not in out and "0x81" not in out
    code, out, _ = _run(capsys, "build", "--cpus", "1", "-o", path, "--json",
                        "--entry", "OemParking:processor_uid=0,parking_address=0,version=2")
    assert json.loads(out)["subtables"][-1]["fields"]["version"] == 2


@pytest.mark.usefixtures("plugin_types")
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("0x80:processor_uid=1,parking_address=2,colour=3",
         "field colour: OEM Parking Protocol has no such field (fields: version, reserved, "
         "processor_uid, parking_address)"),
        ("0x80:processor_uid=1,parking_address=0x10000000000000000",
         "field parking_address: 0x10000000000000000 does not fit the u64 field"),
        ("0x80:processor_uid=one,parking_address=2", "field processor_uid: 'one' is not a number"),
        ("0x80:processor_uid=1", "field parking_address: required (no default)"),
        ("0x80:processor_uid=1,processor_uid=2,parking_address=3", "field processor_uid: given "
         "twice"),
        ("0x80:processor_uid", "'processor_uid' is not FIELD=VALUE"),
        ("0x81:tag=4b41", "field tag: 2 byte(s) given, the field has 8"),
        ("0x81:tag=zz", "field tag: 'zz' is not hex bytes"),
        ("0x90", "type '0x90': no installed plugin declares this MADT subtable type "
         "(installed: 0x80 OEM Parking Protocol, 0x81 OEM Tag)"),
        ("parking", "type 'parking': no installed plugin declares this MADT subtable type "
         "(installed: 0x80 OEM Parking Protocol, 0x81 OEM Tag)"),
        ("0x10:version=1", "type 0x10 (Multiprocessor Wakeup) is built in; --entry adds the "
         "types plugins declare (installed: 0x80 OEM Parking Protocol, 0x81 OEM Tag)"),
    ],
)
def test_cli_entry_errors(entry: str, message: str, tmp_path: Path, capsys: Capsys) -> None:
    code, out, err = _run(capsys, "build", "--cpus", "2", "--entry", entry, "-o",
                          str(tmp_path / "t"))
    assert (code, out) == (2, "")
    assert err == f"kapic: error: --entry {entry!r}: {message}\n"
    assert not (tmp_path / "t").exists()


def test_cli_entry_without_plugin_types(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: Capsys) -> None:
    monkeypatch.setattr(cli_madt, "_madt_types", lambda args: MadtTypes.builtin())
    code, _, err = _run(capsys, "build", "--cpus", "2", "--entry", "0x80", "-o",
                        str(tmp_path / "t"))
    assert (code, err) == (2, "kapic: error: --entry '0x80': type '0x80': no installed plugin "
                              "declares this MADT subtable type (installed: none)\n")


@pytest.mark.skipif(not hasattr(PluginHost, "madt_types"),
                    reason="PluginHost.madt_types (hook kapic_madt_subtable_types) not there yet")
def test_cli_with_a_real_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                capsys: Capsys) -> None:
    from kapic.hookspecs import hookimpl

    class OemParkingPlugin:
        @hookimpl
        def kapic_madt_subtable_types(self) -> list[type[MadtEntry]]:
            return [OemParking]

    loaded = PluginHost.from_options

    def from_options(plugin_options: list[str]) -> PluginHost:
        host = loaded(plugin_options)
        host.register(OemParkingPlugin(), "oem-parking")
        return host

    monkeypatch.setattr(PluginHost, "from_options", staticmethod(from_options))
    path = str(tmp_path / "APIC")
    code, _, err = _run(capsys, "build", "--cpus", "2", "-o", path, "--entry",
                        "0x80:processor_uid=1,parking_address=0x7fff0000")
    assert (code, err) == (0, "")
    code, out, _ = _run(capsys, "decode", "--json", path)
    assert json.loads(out)["subtables"][-1]["type_name"] == "OEM Parking Protocol"
    assert main(["-p", "no:oem-parking", "madt", "decode", "--json", path]) == 0
    assert json.loads(capsys.readouterr().out)["subtables"][-1]["type_name"] == "OEM"
