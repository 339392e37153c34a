"""Decode every shared real MADT and compare with its independent ``.expected.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kapic.acpi import (
    LocalApic,
    MpWakeup,
    RawSubtable,
    build_madt,
    madt_to_json,
    parse_madt,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MADT_DIR = SHARED / "data" / "madt"
BINS = sorted(MADT_DIR.glob("*.bin")) if MADT_DIR.is_dir() else []
needs_shared = pytest.mark.skipif(not BINS, reason=f"shared MADT data not found at {MADT_DIR}")


def _ids(path: Path) -> str:
    return path.name


@needs_shared
def test_shared_tables_present() -> None:
    assert len(BINS) >= 33
    assert all(p.with_name(p.name[:-4] + ".expected.json").is_file() for p in BINS)


@needs_shared
@pytest.mark.parametrize("path", BINS, ids=_ids)
def test_json_matches_expected(path: Path) -> None:
    data = path.read_bytes()
    expected = json.loads(path.with_name(path.name[:-4] + ".expected.json").read_text())
    got = madt_to_json(parse_madt(data, path.name), file=path.name, file_size=len(data))
    assert got == expected
    # Same key order too, so the CLI output reads like the reference files.
    assert json.dumps(got) == json.dumps(expected)


@needs_shared
@pytest.mark.parametrize("path", BINS, ids=_ids)
def test_rebuild_is_byte_exact(path: Path) -> None:
    data = path.read_bytes()
    madt = parse_madt(data, path.name)
    assert build_madt(madt) == data
    assert parse_madt(build_madt(madt)) == madt
    fixed = build_madt(madt, fix_checksum=True)
    assert sum(fixed) % 256 == 0
    assert fixed[:9] == data[:9] and fixed[10:] == data[10:]


@needs_shared
def test_bad_checksum_tables_are_flagged_and_kept() -> None:
    bad = [p for p in BINS if not parse_madt(p.read_bytes()).checksum_ok]
    assert sorted(p.name for p in bad) == [
        "fwts-intel-crestline-APIC.badchecksum.bin",
        "fwts-intel-crestline-APIC.corrupted.bin",
        "fwts-phoenix-ptltd-APIC.badchecksum.bin",
    ]
    doc = madt_to_json(parse_madt(bad[0].read_bytes()))
    assert doc["errors"] == [
        "offset 9: checksum byte 0xcb does not make the table sum to zero (sum mod 256 = 0xff)"
    ]


@needs_shared
def test_template_wakeup_and_raw_types() -> None:
    madt = parse_madt((MADT_DIR / "acpica-template-2026-acpi67.bin").read_bytes())
    wakeups = [e for e in madt.subtables if isinstance(e, MpWakeup)]
    assert [(w.version, w.length, w.mailbox_address, w.reset_vector) for w in wakeups] == [
        (0, 16, 0, None)
    ]
    raw_types = [e.type for e in madt.subtables if isinstance(e, RawSubtable)]
    assert raw_types[-3:] == [0x1D, 0x1E, 0x1C]  # table order, not sorted
    lapic = madt.subtables[0]
    assert isinstance(lapic, LocalApic) and lapic.enabled and not lapic.online_capable


def test_longer_entries_keep_extra_bytes() -> None:
    base = bytearray(b"APIC" + bytes(40))
    entry = bytes([0, 10, 1, 2, 1, 0, 0, 0, 0xAA, 0xBB])  # LAPIC, 2 bytes too long
    wake = bytes([0x10, 20, 1, 0]) + bytes(4) + (0x1000).to_bytes(8, "little") + b"\x01\x02\x03\x04"
    data = bytes(base) + entry + wake
    data = data[:4] + len(data).to_bytes(4, "little") + data[8:]
    madt = parse_madt(data)
    lapic, mp = madt.subtables
    assert isinstance(lapic, LocalApic) and lapic.extra == b"\xaa\xbb" and lapic.length == 10
    assert isinstance(mp, MpWakeup) and mp.reset_vector is None and mp.extra == b"\x01\x02\x03\x04"
    assert not mp.reset_vector_used  # version 1 but only 20 bytes
    assert build_madt(madt) == data
    assert madt_to_json(madt)["subtables"][0]["extra"] == "aabb"


def test_v1_wakeup_json_has_reset_vector() -> None:
    entry = bytes([0x10, 24, 1, 0]) + bytes(4) + (0x7FFFD000).to_bytes(8, "little")
    entry += (0x7FFFE068).to_bytes(8, "little")
    data = b"APIC" + (44 + 24).to_bytes(4, "little") + bytes(36) + entry
    fields = madt_to_json(parse_madt(data))["subtables"][0]["fields"]
    assert list(fields) == ["version", "reserved", "mailbox_address", "reset_vector_used",
                            "reset_vector"]
    assert fields["reset_vector"] == 0x7FFFE068 and fields["reset_vector_used"] is True
