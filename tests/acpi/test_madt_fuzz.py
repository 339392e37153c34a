"""Property tests: random bytes and mutated real tables never escape as anything but MadtError,
and whatever decodes rebuilds byte for byte."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapic import KernelVersion
from kapic.acpi import (
    MpWakeup,
    build_madt,
    describe_madt,
    madt_boot_lines,
    madt_entry_lines,
    madt_to_json,
    parse_madt,
)
from kapic.acpi.acpidump import acpidump_madts
from kapic.errors import MadtError

MADT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "madt"
_SMALL = [p for p in sorted(MADT.glob("*.bin")) if p.stat().st_size < 700] if MADT.is_dir() else []
#: Real tables when the shared data is there, plus described ones with MP wakeup entries.
SEEDS = [p.read_bytes() for p in _SMALL] + [
    build_madt(describe_madt(cpus=2, wakeup=MpWakeup(1, 0x7FFFD000, 0x7FFFE068))),
    build_madt(describe_madt(apic_ids=[0, 300], wakeup=MpWakeup(1, 0x1000))),
]
FUZZ = settings(max_examples=250, deadline=500,
                suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    try:
        madt = parse_madt(data, "fuzz")
    except MadtError as exc:
        assert exc.source == "fuzz" and exc.offset is not None and exc.field
        return
    assert build_madt(madt) == data[: madt.header.length]
    madt_to_json(madt, file="fuzz", file_size=len(data))
    madt_entry_lines(madt, KernelVersion((5, 19)))
    madt_boot_lines(madt)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"APIC" + data)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "length", "subtable", "append"]))
        if kind == "flip" and data:
            bit = draw(st.integers(0, len(data) * 8 - 1))
            data[bit // 8] ^= 1 << (bit % 8)
        elif kind == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif kind == "length" and len(data) >= 8:
            data[4:8] = draw(st.integers(0, 0x1_0000)).to_bytes(4, "little")
        elif kind == "subtable" and len(data) > 45:
            data[draw(st.integers(45, len(data) - 1))] = draw(st.integers(0, 255))
        elif kind == "append":
            data += draw(st.binary(max_size=30))
    return bytes(data)


@FUZZ
@given(_mutated())
def test_mutated_real_tables(data: bytes) -> None:
    _check(data)


@FUZZ
@given(st.lists(st.sampled_from(["APIC @ 0x10", "DSDT @ 0x20", "  0000: 41 50 49 43",
                                 "  0004: 2c 00 00 00", "  0010: zz", "", "junk",
                                 "  0000: 41 50 49 43 2c 00 00 00 01 00"]), max_size=8))
def test_random_acpidump_text(lines: list[str]) -> None:
    try:
        tables = acpidump_madts("\n".join(lines).encode(), "dump")
    except MadtError:
        return
    assert tables
    for _, data in tables:
        _check(data)
