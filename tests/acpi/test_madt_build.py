"""describe_madt / build_madt / finalize_madt: round trips and QEMU byte-exactness."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kapic.acpi import (
    IoApic,
    LocalApic,
    LocalApicNmi,
    LocalX2Apic,
    LocalX2ApicNmi,
    MpWakeup,
    RawSubtable,
    build_madt,
    describe_madt,
    finalize_madt,
    parse_madt,
)
from kapic.errors import MadtError

MADT_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "madt"

DESCRIPTIONS = [
    pytest.param({"cpus": 1}, id="1cpu"),
    pytest.param({"cpus": 4, "disabled": {2, 3}}, id="disabled"),
    pytest.param({"apic_ids": [0, 2, 300, 301], "online_capable": {300}}, id="x2apic"),
    pytest.param({"cpus": 2, "ioapic": False, "overrides": False, "nmi": False}, id="bare"),
    pytest.param({"cpus": 2, "wakeup": MpWakeup(0, 0x7FFFD000)}, id="wake-v0"),
    pytest.param({"cpus": 2, "wakeup": MpWakeup(1, 0x7FFFD000, 0x7FFFE068)}, id="wake-v1"),
    pytest.param({"cpus": 2, "wakeup": MpWakeup(1, 0x7FFFD000)}, id="wake-v1-16-bytes"),
    pytest.param({"cpus": 2, "revision": 5, "oem_id": "INTEL", "oem_table_id": "SHIM"},
                 id="header"),
]


@pytest.mark.parametrize("kwargs", DESCRIPTIONS)
def test_described_tables_round_trip(kwargs: dict[str, object]) -> None:
    madt = describe_madt(**kwargs)  # type: ignore[arg-type]
    data = build_madt(madt)
    assert madt.checksum_ok and sum(data) % 256 == 0
    assert len(data) == madt.header.length
    assert parse_madt(data) == madt


def test_entry_kinds_follow_qemu() -> None:
    madt = describe_madt(apic_ids=[0, 254, 255], disabled={255}, online_capable={254})
    kinds = [type(e) for e in madt.subtables]
    assert kinds[:3] == [LocalApic, LocalApic, LocalX2Apic]
    assert kinds[-1] is LocalX2ApicNmi  # highest APIC ID > 254
    a, b, c = madt.subtables[:3]
    assert isinstance(a, LocalApic) and a.flags == 1
    assert isinstance(b, LocalApic) and b.flags == 3 and b.acpi_processor_uid == 1
    assert isinstance(c, LocalX2Apic) and c.flags == 0 and c.x2apic_id == 255
    assert isinstance(describe_madt(cpus=1).subtables[-1], LocalApicNmi)


def test_wakeup_entry_lengths() -> None:
    v0 = describe_madt(cpus=1, wakeup=MpWakeup(0, 0x1000)).subtables[-1]
    v1 = describe_madt(cpus=1, wakeup=MpWakeup(1, 0x1000, 0x2000)).subtables[-1]
    assert isinstance(v0, MpWakeup) and v0.length == 16 and not v0.reset_vector_used
    assert isinstance(v1, MpWakeup) and v1.length == 24 and v1.reset_vector_used


QEMU_72 = [
    ("qemu-7.2-q35-APIC.bin", {"cpus": 1}),
    ("qemu-7.2-q35-APIC.acpihmat.bin", {"cpus": 2}),
    ("qemu-7.2-q35-APIC.dimmpxm.bin", {"cpus": 4}),
    ("qemu-7.2-q35-APIC.cphp.bin", {"apic_ids": [0, 1, 2, 4, 5, 6], "disabled": {2, 4, 5, 6}}),
    ("qemu-7.2-q35-APIC.core-count2.bin", {"cpus": 275}),
    ("qemu-7.2-q35-APIC.xapic.bin", {"cpus": 288, "disabled": set(range(1, 288))}),
    ("qemu-2020-pc-APIC.bin", {"cpus": 1, "oem_table_id": "BXPCAPIC"}),
]


@pytest.mark.skipif(not MADT_DIR.is_dir(), reason="shared MADT data not found")
@pytest.mark.parametrize(("name", "kwargs"), QEMU_72, ids=[n for n, _ in QEMU_72])
def test_describe_reproduces_qemu_tables(name: str, kwargs: dict[str, object]) -> None:
    assert build_madt(describe_madt(**kwargs)) == (MADT_DIR / name).read_bytes()  # type: ignore[arg-type]


def test_finalize_after_editing() -> None:
    madt = describe_madt(cpus=2)
    edited = dataclasses.replace(madt, subtables=(*madt.subtables, RawSubtable(0x80, b"oem")))
    with pytest.raises(MadtError, match="header length"):
        build_madt(edited)
    fixed = finalize_madt(edited)
    assert fixed.checksum_ok and fixed.subtables[-1].offset == madt.header.length
    assert parse_madt(build_madt(fixed)) == fixed


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "cpus"),
        ({"cpus": 2, "apic_ids": [0]}, "cpus"),
        ({"apic_ids": [1, 1]}, "apic_ids"),
        ({"cpus": 2, "disabled": {7}}, "disabled/online_capable"),
        ({"apic_ids": [*range(300, 600), 5]}, "apic_ids"),  # CPU index 300 in a u8 UID
        ({"cpus": 1, "oem_id": "TOO LONG ID"}, "oem_id"),
    ],
)
def test_describe_errors(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(MadtError) as info:
        describe_madt(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_subtable_validation() -> None:
    with pytest.raises(MadtError, match="does not fit") as info:
        LocalApic(0, 256)
    assert info.value.field == "Processor Local APIC.apic_id"
    with pytest.raises(MadtError, match="length"):
        IoApic(0, 0xFEC00000, length=13)
    with pytest.raises(MadtError):
        MpWakeup(1, 0, reset_vector=-1)
    assert IoApic(0, 0xFEC00000, extra=b"x").length == 13


@pytest.mark.parametrize("kwargs", DESCRIPTIONS)
def test_the_cached_image_is_the_packed_table(kwargs: dict[str, object]) -> None:
    """finalize_madt hands back the image it packed; it equals a fresh pack of the same
    table, and fix_checksum and a changed header are computed from the right bytes."""
    madt = describe_madt(**kwargs)  # type: ignore[arg-type]
    image = madt.to_bytes()
    uncached = dataclasses.replace(madt)  # a copy starts without an image
    assert uncached.to_bytes() == image and madt.to_bytes() is image
    wrong = dataclasses.replace(madt, header=dataclasses.replace(madt.header, checksum=0x5A))
    assert not wrong.checksum_ok and wrong.to_bytes()[9] == 0x5A
    assert wrong.to_bytes(fix_checksum=True) == image
    assert wrong == dataclasses.replace(wrong)  # the image takes no part in equality
