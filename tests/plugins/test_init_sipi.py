"""The INIT/SIPI/SIPI plugin (reference 5): ICR sequence, delays, VMM rules, TDX."""

from __future__ import annotations

import pytest

from kapic import (
    APIC_DM_STARTUP,
    APIC_ESR,
    APIC_ICR,
    APIC_ICR2,
    BootResult,
    BootSpec,
    build_machine,
    run_boot,
)
from kapic.machine import Machine

US = 1_000
MS = 1_000_000
SEC = 1_000_000_000


def _messages(result: BootResult) -> list[str]:
    return [line.split("] ", 1)[1] for line in result.log]


def _kicks(result: BootResult) -> list[int]:
    return [s.end_ns - s.start_ns for s in result.spans if s.name == "kick"]


def _ipis(result: BootResult, dest: int) -> list[tuple[int, int]]:
    """(delivery mode, vector) of every IPI sent to APIC ``dest``, in order."""
    out = []
    for e in result.trace:
        if e.kind == "ipi" and e.detail.endswith(f"dest=0x{dest:x}"):
            fields = dict(part.split("=") for part in e.detail.split())
            out.append((int(fields["mode"], 16), int(fields["vector"], 16)))
    return out


def _boot_recording_icr(
    monkeypatch: pytest.MonkeyPatch, spec: BootSpec
) -> tuple[BootResult, Machine, list[tuple[int, int]], list[tuple[int, int, bool]]]:
    """Boot, recording the boot CPU's local APIC register writes and ICR writes."""
    machine = build_machine(spec)
    lapic = machine.cpus[0].lapic
    writes: list[tuple[int, int]] = []
    icr: list[tuple[int, int, bool]] = []
    real_write, real_icr_write = lapic.write, lapic.icr_write

    def write(reg: int, value: int) -> int:
        writes.append((reg, value))
        return real_write(reg, value)

    def icr_write(low: int, dest: int, *, x2apic: bool) -> int:
        icr.append((low, dest, x2apic))
        return real_icr_write(low, dest, x2apic=x2apic)

    monkeypatch.setattr(lapic, "write", write)
    monkeypatch.setattr(lapic, "icr_write", icr_write)
    return machine.boot(), machine, writes, icr


# -- the sequence ---------------------------------------------------------------------------


def test_ipi_sequence_in_the_trace_is_init_init_startup_startup() -> None:
    machine = build_machine(BootSpec(platform="bare-metal", cpus=3))
    result = machine.boot()
    assert result.result == "ok"
    vector = machine.kernel.real_mode_header.trampoline_start >> 12
    for apic in (1, 2):
        assert _ipis(result, apic) == [(0x500, 0), (0x500, 0), (0x600, vector), (0x600, vector)]


def test_exact_xapic_register_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    result, machine, writes, icr = _boot_recording_icr(
        monkeypatch, BootSpec(platform="bare-metal", cpus=2, params={"x2apic": "0"})
    )
    assert result.result == "ok"
    assert not machine.kernel.x2apic_mode
    sipi = APIC_DM_STARTUP | machine.kernel.real_mode_header.trampoline_start >> 12
    dest = 1 << 24
    assert writes == [
        (APIC_ESR, 0),
        (APIC_ICR2, dest), (APIC_ICR, 0xC500),  # INIT, level, assert
        (APIC_ICR2, dest), (APIC_ICR, 0x8500),  # INIT, level, de-assert
        (APIC_ESR, 0), (APIC_ICR2, dest), (APIC_ICR, sipi), (APIC_ESR, 0),
        (APIC_ESR, 0), (APIC_ICR2, dest), (APIC_ICR, sipi), (APIC_ESR, 0),
    ]
    assert [(low, d) for low, d, _x2 in icr] == [(0xC500, 1), (0x8500, 1), (sipi, 1), (sipi, 1)]


def test_x2apic_icr_is_one_write_per_ipi_on_kvm(monkeypatch: pytest.MonkeyPatch) -> None:
    result, machine, writes, icr = _boot_recording_icr(
        monkeypatch, BootSpec(platform="kvm", cpus=2)
    )
    assert result.result == "ok"
    sipi = APIC_DM_STARTUP | machine.kernel.real_mode_header.trampoline_start >> 12
    assert icr == [(0xC500, 1, True), (0x8500, 1, True), (sipi, 1, True), (sipi, 1, True)]
    assert APIC_ICR2 not in [reg for reg, _v in writes]


def test_init_deassert_is_ignored_and_the_second_sipi_is_dropped() -> None:
    result = run_boot(BootSpec(platform="bare-metal", cpus=4))
    for cpu in (1, 2, 3):
        kinds = [e.kind for e in result.trace if e.cpu == cpu and e.kind in
                 ("init", "init-deassert-ignored", "sipi", "sipi-dropped")]
        # the first SIPI starts the AP; the second finds it running, not in wait-for-SIPI
        assert kinds == ["init", "init-deassert-ignored", "sipi", "sipi-dropped"]
        dropped = [e.detail for e in result.trace if e.cpu == cpu and e.kind == "sipi-dropped"]
        assert dropped == ["state running"]
        assert sum(1 for e in result.trace if e.cpu == cpu and e.kind == "ap-start") == 1


def test_sipi_without_init_to_a_cpu_not_waiting_for_sipi_is_dropped() -> None:
    # mailbox firmware on bare metal: the APs spin in the firmware loop, not in wait-for-SIPI
    machine = build_machine(BootSpec(platform="bare-metal", cpus=2, firmware="tdvf"))
    assert machine.cpus[1].state == "firmware"
    machine.board.bus.send_ipi(0, 1, APIC_DM_STARTUP, 0x99, level=False, asserted=True)
    machine.engine.run()
    kinds = [e.kind for e in machine.recorder.trace if e.cpu == 1]
    assert kinds == ["sipi-dropped"]
    assert machine.cpus[1].state == "firmware"


@pytest.mark.parametrize("x2apic", ["0", "1"])
def test_init_sipi_to_an_absent_apic_reports_a_delivery_error(x2apic: str) -> None:
    machine = build_machine(BootSpec(platform="bare-metal", cpus=2, params={"x2apic": x2apic}))
    kernel = machine.kernel
    hook = kernel.wakeup_secondary_cpu_via_init
    assert hook is not None
    proc = machine.engine.process(
        hook(kernel, 0x50, kernel.real_mode_header.trampoline_start, 9), "kick"
    )
    machine.engine.run()
    assert proc.result == 4  # ESR "send accept error": nobody took the IPI
    assert [m for _t, _l, m in kernel.log if "APIC" in m][-1] == "smpboot: APIC delivery error (4)"
    # it stops after the first STARTUP that was not accepted
    assert [e.detail.split()[0] for e in machine.recorder.trace if e.kind == "ipi"] == [
        "mode=0x500", "mode=0x500", "mode=0x600"
    ]


# -- delays (reference 5.1-5.3) -------------------------------------------------------------


def test_modern_bare_metal_kick_costs_at_least_40_us() -> None:
    result = run_boot(BootSpec(platform="bare-metal", cpus=3))
    kicks = _kicks(result)
    assert len(kicks) == 2
    assert all(40 * US <= k < 1 * MS for k in kicks), kicks


def test_legacy_cpu_kick_costs_about_11_ms() -> None:
    result = run_boot(BootSpec(platform="bare-metal", cpus=3, params={"legacy_cpu": "1"}))
    assert result.result == "ok"
    kicks = _kicks(result)
    assert len(kicks) == 2
    # 10 ms INIT assert..de-assert + 2 x (300 + 200) us, plus ICR busy waits
    assert all(11 * MS <= k <= 11_500 * US for k in kicks), kicks
    sent = [e.t_ns for e in result.trace if e.kind == "ipi" and e.detail.endswith("dest=0x1")]
    assert sent[1] - sent[0] >= 10 * MS
    assert sent[3] - sent[2] >= 500 * US


def test_cpu_init_udelay_on_the_command_line_wins() -> None:
    fast = run_boot(BootSpec(platform="bare-metal", cpus=2, params={"legacy_cpu": "1"},
                             config={"cpu_init_udelay": "0"}))
    assert all(k < 1 * MS for k in _kicks(fast)), _kicks(fast)
    slow = run_boot(BootSpec(platform="bare-metal", cpus=2, config={"cpu_init_udelay": "500"}))
    (kick,) = _kicks(slow)
    assert kick >= 500 * US + 2 * (300 + 200) * US
    sent = [e.t_ns for e in slow.trace if e.kind == "ipi"]
    assert 500 * US <= sent[1] - sent[0] < 1 * MS


def test_every_icr_write_is_a_vm_exit_on_kvm() -> None:
    cpus = 5
    result = run_boot(BootSpec(platform="kvm", cpus=cpus))
    assert result.result == "ok"
    aps = cpus - 1
    assert result.counters["icr_writes"] == 4 * aps
    assert result.counters["vm_exits"] == 4 * aps
    assert result.counters["ipis"] == 4 * aps
    bare = run_boot(BootSpec(platform="bare-metal", cpus=cpus))
    assert bare.counters["icr_writes"] == 4 * aps
    assert bare.counters["vm_exits"] == 0


# -- TDX ------------------------------------------------------------------------------------


def test_init_sipi_on_tdx_fails_every_ap_after_10_s() -> None:
    machine = build_machine(BootSpec(platform="tdx", method="init-sipi", cpus=3))
    result = machine.boot()
    assert result.result == "cpu-failed"
    assert result.method == "init-sipi"
    assert [c.state for c in result.cpus] == ["boot-cpu", "failed", "failed"]
    fails = [(t, m) for t, _lvl, m in machine.kernel.log if m.endswith("failed to report alive state")]
    assert [m for _t, m in fails] == ["CPU1 failed to report alive state",
                                      "CPU2 failed to report alive state"]
    assert fails[0][0] >= 10 * SEC and fails[1][0] - fails[0][0] >= 10 * SEC
    assert any(r.startswith("INIT/SIPI is not available on tdx") for r in result.reasons)
    assert sum(1 for e in result.trace if e.kind == "ipi-dropped") == 8
    assert not any(e.kind == "ap-start" for e in result.trace)
    assert "smp: Brought up 1 node, 1 CPU" in _messages(result)


def test_init_sipi_method_removes_the_wakeup_entry_from_the_madt() -> None:
    machine = build_machine(BootSpec(platform="tdx", method="init-sipi", cpus=2))
    assert not any(s.type == 0x10 for s in machine.madt.subtables)
    default = build_machine(BootSpec(platform="tdx", cpus=2))
    assert any(s.type == 0x10 for s in default.madt.subtables)


def test_bare_metal_112_threads_matches_its_documented_calibration() -> None:
    """kapic/platforms/builtin.py: 0.72 ms + a 40 us kick = 0.76 ms per CPU in parallel mode."""
    result = run_boot(BootSpec(platform="bare-metal", cpus=112))
    assert result.result == "ok"
    assert all(k <= 60 * US for k in _kicks(result)), max(_kicks(result))
    per_cpu = result.sim_time_ns / 111
    assert 0.70 * MS <= per_cpu <= 0.82 * MS, per_cpu
