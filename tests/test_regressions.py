"""Regression tests for problems found in review (each names what it guards)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kapic import BootSpec, MpWakeup, build_machine, build_madt, describe_madt, run_boot
from kapic.cli import main


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_mixed_lapic_x2apic_table_keeps_table_order_and_boot_cpu(tmp_path: Path) -> None:
    madt = describe_madt(apic_ids=[0, 1, 2, 300, 301])
    result = run_boot(BootSpec(platform="kvm", madt=_write(tmp_path, "m.bin", build_madt(madt))))
    assert [c.apic_id for c in result.cpus] == [0, 1, 2, 300, 301]
    assert result.cpus[0].state == "boot-cpu" and result.result == "ok"


def test_nr_cpus_drops_the_last_entries_in_table_order(tmp_path: Path) -> None:
    madt = describe_madt(apic_ids=[0, 1, 2, 300, 301])
    spec = BootSpec(platform="kvm", madt=_write(tmp_path, "m.bin", build_madt(madt)),
                    config={"NR_CPUS": "3"})
    assert [c.apic_id for c in run_boot(spec).cpus] == [0, 1, 2]


def test_reset_vector_zero_cannot_take_a_cpu_back(tmp_path: Path) -> None:
    madt = describe_madt(cpus=3, wakeup=MpWakeup(version=1, mailbox_address=0x7FFFD000,
                                                 reset_vector=0))
    machine = build_machine(BootSpec(platform="tdx", madt=_write(tmp_path, "m.bin", build_madt(madt))))
    assert machine.boot().result == "ok"
    machine.offline([1])
    lines = [m for _t, _l, m in machine.kernel.log]
    assert "Failed to hand over CPU 1 to BIOS" in lines


def test_firmware_reset_vector_takes_the_cpu_back() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=3))
    machine.boot()
    assert machine.offline([1]) == [0]
    lines = [m for _t, _l, m in machine.kernel.log]
    assert "Failed to hand over CPU 1 to BIOS" not in lines
    assert lines[-1] == "smpboot: CPU 1 is now offline"


def test_seed_tdx_guest_cannot_offline() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="seed", cpus=3))
    machine.boot()
    assert machine.offline([1]) == [-95]


def test_boot_json_reports_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "zero.bin", b"")
    assert main(["boot", "--madt", path, "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["result"] == "invalid-input"
    assert "field signature" in captured.err


def test_compare_rejects_unwritable_outputs_before_simulating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "--trace", str(tmp_path / "missing" / "t.json")]) == 1
    assert main(["compare", "--plot", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "does not exist" in captured.err and "is a directory" in captured.err


def test_compare_without_the_mailbox_plugin_still_compares(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["-p", "no:acpi-mailbox", "compare", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert {r["method"] for r in runs} == {"init-sipi"}
    tdx = next(r for r in runs if r["platform"] == "tdx")
    assert tdx["result"] == "not-applicable"


def test_seed_profile_has_no_parallel_bringup(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--kernel", "seed", "--config", "HOTPLUG_PARALLEL=y"]) == 2
    assert "5.19" in capsys.readouterr().err


def test_offline_rejects_bad_cpu_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--platform", "tdx", "--cpus", "3", "--offline", "0"]) == 2
    assert main(["boot", "--platform", "tdx", "--cpus", "3", "--offline", "1", "--offline", "1"]) == 2


def test_32_bit_kernel_links_the_32_bit_drivers_and_ignores_the_mailbox() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=12, config={"X86_64": "n"}))
    assert [d.name for d in machine.kernel.registry.drivers] == ["bigsmp", "default"]
    result = machine.boot()
    assert "APIC: Switched APIC routing to: bigsmp" in [line.split("] ", 1)[1] for line in result.log]
    # No 32-bit TDX guests: the mailbox entry is not parsed, INIT/SIPI cannot work.
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"wakeup_secondary_cpu_via_init"}
    assert result.result == "cpu-failed"


def test_compare_validates_options_instead_of_hiding_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--cpus", "0"]) == 2
    assert main(["boot", "--param", "jitter_ppm=2000000"]) == 2
    err = capsys.readouterr().err
    assert "--cpus 0" in err and "jitter_ppm" in err
