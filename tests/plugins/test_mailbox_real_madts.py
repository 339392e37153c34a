"""Boots from real MADTs in ../shared/data/madt: the wakeup entry decides the method."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kapic import (
    BootResult,
    BootSpec,
    MpWakeup,
    PluginHost,
    build_madt,
    describe_madt,
    finalize_madt,
    parse_madt,
    run_boot,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MADT_DIR = SHARED / "data" / "madt"
TABLE = "igvm-tooling-clh-6vcpu-APIC.bin"  # cloud-hypervisor, 6 enabled LAPICs, no type 0x10

pytestmark = pytest.mark.skipif(not MADT_DIR.is_dir(), reason="../shared/data/madt is absent")


def _messages(result: BootResult) -> list[str]:
    return [line.split("] ", 1)[1] for line in result.log]


def _with_wakeup(tmp_path: Path, name: str) -> str:
    """The real table with a TDVF-style MP Wakeup entry appended (what TDVF does to QEMU's)."""
    madt = parse_madt((MADT_DIR / name).read_bytes())
    assert not any(isinstance(s, MpWakeup) for s in madt.subtables)
    tdvf = PluginHost().firmware("tdvf").publish_madt(describe_madt(cpus=1))
    (wake,) = [s for s in tdvf.subtables if isinstance(s, MpWakeup)]
    assert wake.version == 1 and wake.mailbox_address and wake.reset_vector
    amended = finalize_madt(dataclasses.replace(madt, subtables=(*madt.subtables, wake)))
    path = tmp_path / f"wake-{name}"
    path.write_bytes(build_madt(amended))
    return str(path)


@pytest.mark.parametrize("kernel", ["seed", "6.11"])
def test_real_madt_with_a_wakeup_entry_boots_tdx_through_the_mailbox(
    tmp_path: Path, kernel: str
) -> None:
    result = run_boot(BootSpec(platform="tdx", kernel=kernel, madt=_with_wakeup(tmp_path, TABLE)))
    assert result.result == "ok", result.reasons
    assert result.cpus_online == 6
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"acpi_wakeup_cpu"}
    assert result.counters["mailbox_handshakes"] == 5
    assert result.counters["icr_writes"] == 0
    assert result.method == "acpi-mailbox"


def test_the_same_madt_without_the_entry_fails_on_tdx() -> None:
    result = run_boot(BootSpec(platform="tdx", madt=str(MADT_DIR / TABLE)))
    assert result.result == "cpu-failed", result.reasons
    assert result.cpus_online == 1
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"wakeup_secondary_cpu_via_init"}
    failed = [m for m in _messages(result) if m.endswith("failed to report alive state")]
    assert failed == [f"CPU{n} failed to report alive state" for n in range(1, 6)]
    assert any(r.startswith("INIT/SIPI is not available on tdx") for r in result.reasons)


def test_the_same_madt_without_the_entry_boots_kvm_through_init_sipi() -> None:
    result = run_boot(BootSpec(platform="kvm", madt=str(MADT_DIR / TABLE)))
    assert result.result == "ok", result.reasons
    assert result.cpus_online == 6
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"wakeup_secondary_cpu_via_init"}
    assert result.counters["vm_exits"] == 4 * 5


def _plain_tables() -> list[str]:
    if not MADT_DIR.is_dir():
        return []
    names = []
    for path in sorted(MADT_DIR.glob("*.bin")):
        summary = json.loads(path.with_suffix(".expected.json").read_text())["summary"]
        if summary["x2apic_enabled"] == 0 and summary["mp_wakeup"] == 0:
            names.append(path.name)
    return names


@pytest.mark.parametrize("name", _plain_tables())
def test_every_real_lapic_table_brings_up_its_enabled_cpus_on_kvm(name: str) -> None:
    path = MADT_DIR / name
    summary = json.loads(path.with_suffix(".expected.json").read_text())["summary"]
    result = run_boot(BootSpec(platform="kvm", madt=str(path)))
    assert result.result == "ok", result.reasons
    assert result.cpus_online == summary["lapic_enabled"]
    assert result.cpus_requested == summary["lapic_enabled"]


def test_acpica_template_wakeup_entry_without_a_mailbox_is_parsed_but_unused() -> None:
    # ACPICA's template carries a v0 entry with mailbox 0 and only one usable CPU
    path = MADT_DIR / "acpica-template-2021-acpi64.bin"
    result = run_boot(BootSpec(platform="tdx", madt=str(path)))
    assert result.result == "ok"
    assert result.cpus_online == 1
    assert "APIC: wakeup_secondary_cpu_64() replaced with acpi_wakeup_cpu()" in _messages(result)
