"""End-to-end smoke tests of `kapic boot` on each platform (details live in tests/kernel etc.)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from kapic import BootSpec, Cpu, build_machine, run_boot
from kapic.cli import main


@pytest.mark.parametrize(
    ("platform", "handler"),
    [("bare-metal", "wakeup_secondary_cpu_via_init"), ("kvm", "wakeup_secondary_cpu_via_init"),
     ("tdx", "acpi_wakeup_cpu")],
)
def test_64_cpus_boot_on_each_platform(platform: str, handler: str) -> None:
    result = run_boot(BootSpec(platform=platform, cpus=64))
    assert result.result == "ok"
    assert result.cpus_online == 64
    assert {c.wakeup_handler for c in result.cpus[1:]} == {handler}
    assert result.log[-2].endswith("smp: Brought up 1 node, 64 CPUs")


def test_boot_is_deterministic_bit_for_bit() -> None:
    def run(seed: int) -> str:
        data = run_boot(BootSpec(platform="kvm", cpus=64, seed=seed)).to_json()
        data.pop("wall_seconds")
        return json.dumps(data, sort_keys=True)

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_cli_boot_json_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--platform", "tdx", "--cpus", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 1 and data["result"] == "ok"
    assert [c["state"] for c in data["cpus"]] == ["boot-cpu", "online", "online", "online"]
    assert main(["boot", "--platform", "tdx", "--method", "init-sipi", "--cpus", "2"]) == 1
    out = capsys.readouterr().out
    assert "CPU1 failed to report alive state" in out
    assert "INIT/SIPI is not available on tdx" in out
    assert main(["boot", "--cpus", "2", "--config", "NOPE=1"]) == 2
    assert "unknown option" in capsys.readouterr().err


def test_hung_boot_ends_with_the_watchdog(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["boot", "--platform", "kvm", "--method", "acpi-mailbox", "--cpus", "2"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "boot CPU stuck while waking CPU1 (APIC 0x1) with acpi_wakeup_cpu()" in out


def test_the_watchdog_counts_kicks_as_progress() -> None:
    # A parallel bring-up kicks every AP before it waits for any: with the legacy 10 ms INIT
    # delay the kick phase of 63 APs takes 0.65 s, longer than this watchdog, while no AP has
    # come online yet. Each kick is progress, so the boot is not stopped as hung.
    spec = BootSpec(platform="bare-metal", cpus=64, config={"cpu_init_udelay": "10000"},
                    watchdog_ns=300_000_000)
    result = run_boot(spec, recording="summary")
    assert result.bringup["mode"] == "parallel"
    assert result.result == "ok", result.reasons
    assert result.sim_time_ns > 600_000_000


def test_the_watchdog_still_stops_a_boot_cpu_stuck_on_one_ap() -> None:
    # a mailbox nobody polls: the boot CPU spins on CPU1's command forever, no AP moves
    spec = BootSpec(platform="kvm", method="acpi-mailbox", cpus=4, watchdog_ns=300_000_000)
    result = run_boot(spec, recording="summary")
    assert result.result == "hung"
    assert result.sim_time_ns == 300_000_000


def test_a_cpus_devices_are_made_when_first_used_and_can_be_replaced() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=4))
    result = machine.boot()
    assert result.result == "ok"
    bp, ap = machine.cpus[0], machine.cpus[1]
    assert all(c._lapic is None and c._mem is None for c in machine.cpus[1:])  # never touched
    assert ap.lapic.apic_id == ap.apic_id and ap._lapic is ap.lapic
    ap.lapic = bp.lapic
    ap.mem = bp.mem
    assert ap.lapic is bp.lapic and ap.mem is bp.mem
    with pytest.raises(TypeError):
        Cpu(5, 5, bp.lapic, bp.mem)  # type: ignore[call-arg, arg-type]  # old signature


def test_boot_shows_progress_on_a_terminal_and_erases_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["boot", "--platform", "tdx", "--cpus", "4"]) == 0
    shown = terminal.getvalue()
    assert "boot, tdx [" in shown and "3/3 CPUs" in shown  # drawn once done, at least
    assert shown.endswith("\r\x1b[2K")  # and erased before the log is read
    assert "ok: 4/4 CPUs online" in capsys.readouterr().out
