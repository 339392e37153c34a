"""Kernel-style lines against real dmesg excerpts and the printf rules of tables.c."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kapic import LATEST, KernelVersion, parse_kernel_version
from kapic.acpi import (
    AcpiHeader,
    InterruptOverride,
    IoApic,
    LocalApic,
    LocalApicAddressOverride,
    LocalApicNmi,
    LocalX2Apic,
    Madt,
    MpWakeup,
    NmiSource,
    RawSubtable,
    Subtable,
    describe_madt,
    finalize_madt,
    madt_boot_lines,
    madt_entry_lines,
    parse_madt,
    print_madt_entry,
)
from kapic.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not (DATA / "dmesg").is_dir(), reason="shared data not found")
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")
_ENTRY_LINE = r"ACPI: (LAPIC|LAPIC_NMI|IOAPIC|INT_SRC_OVR) "


def _log(name: str, pattern: str) -> list[str]:
    lines = (DATA / "dmesg" / name).read_text().splitlines()
    stripped = [_TIMESTAMP.sub("", line) for line in lines if not line.startswith("#")]
    return [line for line in stripped if re.match(pattern, line)]


def _madt(*entries: Subtable) -> Madt:
    header = AcpiHeader("APIC", 0, 1, 0, "KAPIC ", "TEST    ", 1, "KPIC", 1)
    return finalize_madt(Madt(header, 0xFEE00000, 1, entries))


@needs_shared
def test_qemu_pc_matches_vrnetlab_log() -> None:
    """The log (1 vCPU SeaBIOS guest) shows parse order, cut after the first override."""
    log = _log("qemu-guest-madt.vrnetlab-141.txt", _ENTRY_LINE)
    madt = parse_madt((DATA / "madt" / "qemu-2020-pc-APIC.bin").read_bytes())
    boot = madt_boot_lines(madt)
    assert log == [
        "ACPI: LAPIC (acpi_id[0x00] lapic_id[0x00] enabled)",
        "ACPI: LAPIC_NMI (acpi_id[0xff] dfl dfl lint[0x1])",
        "ACPI: IOAPIC (id[0x00] address[0xfec00000] gsi_base[0])",
        "ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)",
    ]
    assert boot[: len(log)] == log
    assert boot[len(log) :] == [  # what the excerpt left out
        f"ACPI: INT_SRC_OVR (bus 0 bus_irq {irq} global_irq {irq} high level)"
        for irq in (5, 9, 10, 11)
    ]
    table = madt_entry_lines(madt)
    assert sorted(table) == sorted(boot) and table != boot  # same lines, table order differs
    assert table[-1].startswith("ACPI: LAPIC_NMI")


@needs_shared
def test_real_hw_parse_order_bumblebee() -> None:
    log = _log("real-hw-madt-parse.bumblebee-654.txt", _ENTRY_LINE)
    apic_ids = (0, 2, 4, 6, 1, 3, 5, 7)
    cpus = [LocalApic(uid, apic) for uid, apic in zip(range(1, 9), apic_ids, strict=True)]
    madt = _madt(*cpus, IoApic(8, 0xFEC00000), InterruptOverride(0, 2),
                 InterruptOverride(9, 9, 0xD), LocalApicNmi(0xFF, 0x5, 1))
    assert madt_boot_lines(madt)[4:] == log  # the excerpt starts at acpi_id 5


@needs_shared
def test_x2apic_placeholder_lines() -> None:
    log = _log("real-hw-x2apic-disabled.open-cas-linux-524.txt", r"ACPI: X2APIC ")
    madt = _madt(*(LocalX2Apic(0xFFFFFFFF, uid, flags=0) for uid in range(0x35, 0x3B)))
    assert madt_entry_lines(madt) == log
    assert madt_boot_lines(madt) == log


@needs_shared
@pytest.mark.parametrize("release", [(5, 19), (6, 2), (6, 10)])
def test_tdx_guest_lines_before_6_11(release: tuple[int, int]) -> None:
    log = _log("tdx-guest-madt-parse.intel-tdx-tools-524.txt", r"ACPI: (INT_SRC_OVR|Found) ")
    madt = describe_madt(cpus=4, overrides=False, wakeup=MpWakeup(1, 0x7FFFD000, 0x7FFFE068))
    madt = finalize_madt(Madt(madt.header, madt.local_apic_address, madt.flags, (
        *madt.subtables[:-1], *(InterruptOverride(i, i, 0x5) for i in (13, 14, 15)),
        madt.subtables[-1])))
    assert madt_boot_lines(madt, KernelVersion(release))[-4:] == log


def test_wakeup_line_by_kernel() -> None:
    madt = describe_madt(cpus=1, wakeup=MpWakeup(1, 0x7FFFD000, 0x7FFFE068))
    assert madt_entry_lines(madt, KernelVersion((6, 11)))[-1] == (
        "ACPI: MP Wakeup (version[1], mailbox[0x7fffd000], reset[0x7fffe068])")
    assert madt_entry_lines(madt, KernelVersion((6, 10)))[-1] == (
        "ACPI: Found unsupported MADT entry (type = 0x10)")
    assert "type = 0x10" not in " ".join(madt_boot_lines(madt, KernelVersion((5, 18))))  # not parsed yet
    v0 = describe_madt(cpus=1, wakeup=MpWakeup(0, 0))
    assert madt_entry_lines(v0)[-1] == "ACPI: MP Wakeup (version[0], mailbox[0], reset[0])"


def test_v1_in_16_bytes_prints_following_bytes() -> None:
    """6.11+ reads reset_vector past a 16-byte version-1 entry (old TDVF tables)."""
    tail = RawSubtable(0x80, bytes(6))  # 8 bytes after the wakeup entry: 80 08 00 ...
    madt = _madt(LocalApic(0, 0), MpWakeup(1, 0x1000), tail)
    assert madt_entry_lines(madt)[1] == (
        "ACPI: MP Wakeup (version[1], mailbox[0x1000], reset[0x880])")
    last = _madt(LocalApic(0, 0), MpWakeup(1, 0x1000))
    assert madt_entry_lines(last)[1].endswith("reset[0])")


def test_printf_details() -> None:
    lines = [
        *print_madt_entry(IoApic(2, 0xFEC00000, gsi_base=0xFFFFFFFF)),
        *print_madt_entry(InterruptOverride(0, 2, inti_flags=0x1F, bus=1)),
        *print_madt_entry(NmiSource(0x80000000, 0xF)),
        *print_madt_entry(LocalApicAddressOverride(0x800FEE00000)),
        *print_madt_entry(LocalApicAddressOverride(0xFEE00000), KernelVersion((5, 15))),
        *print_madt_entry(RawSubtable(0xB, bytes(78))),
    ]
    assert lines == [
        "ACPI: IOAPIC (id[0x02] address[0xfec00000] gsi_base[-1])",
        "ACPI: INT_SRC_OVR (bus 1 bus_irq 0 global_irq 2 low level)",
        "ACPI: INT_SRC_OVR unexpected reserved flags: 0x10",
        "ACPI: NMI_SRC (low level global_irq -2147483648)",
        "ACPI: LAPIC_ADDR_OVR (address[0x800fee00000])",
        "ACPI: LAPIC_ADDR_OVR (address[(____ptrval____)])",
        "ACPI: Found unsupported MADT entry (type = 0xb)",
    ]


def test_kernel_walker_skips_a_two_byte_tail() -> None:
    madt = _madt(LocalApic(0, 0), RawSubtable(0x80))
    assert madt_entry_lines(madt) == ["ACPI: LAPIC (acpi_id[0x00] lapic_id[0x00] enabled)"]


@pytest.mark.parametrize(
    ("text", "version"),
    [("6.11", KernelVersion((6, 11))), ("v6.6.30", KernelVersion((6, 6), sublevel=30)),
     ("6.10-rc2", KernelVersion((6, 10))), ("seed", KernelVersion((5, 19), seed=True)),
     ("latest", KernelVersion(LATEST)), ("5.19", KernelVersion((5, 19))),
     ("7.0", KernelVersion((7, 0)))],
)
def test_parse_kernel_version(text: str, version: KernelVersion) -> None:
    assert parse_kernel_version(text) == version


@pytest.mark.parametrize(("text", "error"), [
    ("", "expected MAJOR.MINOR"), ("6", "expected MAJOR.MINOR"),
    ("six.eleven", "expected MAJOR.MINOR"), ("6.11x", "expected MAJOR.MINOR"),
    ("upstream", "that profile is gone; name a release"),
    ("5.18", "kapic models Linux 5.19 to"), ("6.20", "kapic models Linux 5.19 to"),
    ("8.0", "kapic models Linux 5.19 to"),
])
def test_parse_kernel_version_rejects(text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_kernel_version(text)


def test_madt_decode_takes_any_release() -> None:
    assert parse_kernel_version("5.10", bootable=False) == KernelVersion((5, 10))
