"""The ACPI MADT mailbox plugin: kernel side (seed and upstream) and firmware models."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from kapic import (
    EINVAL,
    EIO,
    EOPNOTSUPP,
    BootResult,
    BootSpec,
    MpWakeup,
    PluginHost,
    build_machine,
    build_madt,
    describe_madt,
    parse_madt,
    run_boot,
)
from kapic.machine import Machine


def _tdvf_entry() -> MpWakeup:
    """The MP Wakeup structure kapic's TDVF model publishes (mailbox and reset vector)."""
    madt = PluginHost().firmware("tdvf").publish_madt(describe_madt(cpus=1))
    (entry,) = [s for s in madt.subtables if isinstance(s, MpWakeup)]
    return entry


TDVF_MAILBOX = _tdvf_entry().mailbox_address
TDVF_RESET_VECTOR = _tdvf_entry().reset_vector
US = 1_000
SEC = 1_000_000_000
SLOW_VCPU = {"vcpu_delay_ns": "100000"}  # 100 us: longer than 255 polls of 100 ns


def _messages(result: BootResult) -> list[str]:
    return [line.split("] ", 1)[1] for line in result.log]


def _write_madt(tmp_path: Path, wakeup: MpWakeup | None, cpus: int = 4) -> str:
    path = tmp_path / "madt.bin"
    path.write_bytes(build_madt(describe_madt(cpus=cpus, wakeup=wakeup)))
    return str(path)


def _run_on_bp(machine: Machine, gen: Generator[Any, Any, Any]) -> Any:
    proc = machine.engine.process(gen, "test-on-CPU0")
    machine.engine.run(until=machine.engine.now + SEC)
    assert not proc.alive, "still running after 1 s"
    return proc.result


def _mailbox(machine: Machine, off: int, size: int) -> int:
    return machine.memory.read(TDVF_MAILBOX + off, size)


# -- mailbox layout and handshake (reference 1.5, 1.6, 7.1) ---------------------------------


@pytest.mark.parametrize("kernel", ["seed", "6.11"])
def test_mailbox_fields_during_and_after_the_handshake(kernel: str) -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel=kernel, cpus=4))
    start64 = machine.kernel.real_mode_header.trampoline_start64
    at_command: list[tuple[int, int, int]] = []

    def on_write(addr: int, size: int) -> None:
        if addr == TDVF_MAILBOX and _mailbox(machine, 0, 2) == 1:
            at_command.append(
                (_mailbox(machine, 2, 2), _mailbox(machine, 4, 4), _mailbox(machine, 8, 8))
            )

    machine.engine.on_write(TDVF_MAILBOX, TDVF_MAILBOX + 16, on_write)
    result = machine.boot()
    assert result.result == "ok", result.reasons
    # when Wakeup becomes visible, APIC ID (+4) and vector (+8) are already in place
    assert at_command == [(0, apic, start64) for apic in (1, 2, 3)]
    # TDVF's ack stores 8 zero bytes at +0: Command, Reserved AND ApicId; the vector stays
    assert _mailbox(machine, 0, 8) == 0
    assert _mailbox(machine, 8, 8) == start64
    assert result.counters["mailbox_handshakes"] == 3
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"acpi_wakeup_cpu"}
    assert all(e.detail == f"entry 0x{start64:x} (long mode)"
               for e in result.trace if e.kind == "ap-start")


def test_tdvf_initialises_the_mailbox_before_the_kernel_runs() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=2))
    assert _mailbox(machine, 0, 4) == 0
    assert _mailbox(machine, 4, 4) == 0xFFFFFFFF
    assert _mailbox(machine, 8, 8) == 0
    assert all(cpu.state == "firmware" for cpu in machine.cpus[1:])


def _post(machine: Machine, apicid: int, command: int, vector: int = 0x99070) -> None:
    """The OS side of one mailbox command, then 50 us of waiting."""
    mb = machine.kernel.memremap(TDVF_MAILBOX, 0x1000)

    def os_side() -> Generator[Any, Any, None]:
        mb.write_once(4, 4, apicid)
        mb.write_once(8, 8, vector)
        mb.store_release(0, 2, command)
        yield 50 * US

    _run_on_bp(machine, os_side())


def test_firmware_ignores_a_command_for_another_apic_id() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=3))
    _post(machine, 0x77, 1)
    assert _mailbox(machine, 0, 2) == 1  # nobody acknowledged
    assert all(cpu.state == "firmware" for cpu in machine.cpus[1:])
    assert not any(e.kind in ("fw-ack", "ap-stray", "ap-start") for e in machine.recorder.trace)


def test_tdvf_answers_test_and_ignores_unknown_commands() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=2))
    _post(machine, 1, 2)  # ACPI 6.6 Test: ack, keep polling
    assert _mailbox(machine, 0, 8) == 0
    assert machine.cpus[1].state == "firmware"
    _post(machine, 1, 0x55)  # unknown: never acknowledged
    assert _mailbox(machine, 0, 2) == 0x55


def test_td_shim_does_not_know_the_test_command() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=2, firmware="td-shim"))
    _post(machine, 1, 2)
    assert _mailbox(machine, 0, 2) == 2


@pytest.mark.parametrize(
    ("firmware", "entry"),
    [("tdvf", 0x1_0009_9070), ("td-shim", 0x0009_9070)],
)
def test_td_shim_reads_only_the_low_32_bits_of_the_vector(firmware: str, entry: int) -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=2, firmware=firmware))
    _post(machine, 1, 1, vector=0x1_0009_9070)
    assert _mailbox(machine, 0, 2) == 0  # acknowledged
    strays = [e.detail for e in machine.recorder.trace if e.kind == "ap-stray"]
    # nobody asked this AP to start (the kernel did not boot): it reports where it jumped
    assert strays == [f"APIC 0x1 started at 0x{entry:x} unasked"]


# -- seed: 255 polls, -EIO, wakemap (reference 2.0, seed-patch.txt) -------------------------


def test_seed_slow_vcpu_times_out_with_eio_and_the_ap_wakes_later() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="seed", cpus=2, params=SLOW_VCPU))
    result = machine.boot()
    msgs = _messages(result)
    assert "ACPI: ACPI wakeup of APIC ID: 0x1 timed out" in msgs
    assert any(m.endswith(f"do_boot_cpu failed(-{EIO}) to wakeup CPU#1") for m in msgs)
    assert result.result == "cpu-failed"
    assert result.cpus[1].state == "failed"
    # 255 reads of Command, 254 cpu_relax() of relax_ns
    (mailbox,) = [s for s in result.spans if s.name == "mailbox"]
    assert mailbox.end_ns - mailbox.start_ns == 254 * 100
    late = [e for e in result.trace if e.kind == "ap-late-alive"]
    assert [e.cpu for e in late] == [1]
    assert late[0].t_ns > 100 * US
    # the timed-out wakeup was not recorded: the wakemap does not refuse a retry with -EINVAL
    hook = machine.kernel.apic.wakeup_secondary_cpu_64
    start64 = machine.kernel.real_mode_header.trampoline_start64
    assert _run_on_bp(machine, hook(machine.kernel, 1, start64, 1)) == -EIO


def test_seed_withdraws_the_command_on_timeout() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="seed", cpus=2, params=SLOW_VCPU))
    seen: list[tuple[int, int]] = []
    machine.engine.on_write(
        TDVF_MAILBOX, TDVF_MAILBOX + 2,
        lambda a, s: seen.append((machine.engine.now, _mailbox(machine, 0, 2))),
    )
    machine.boot()
    # Wakeup at 0, release-store of 0 by the kernel after 254 polls, then the late AP's ack
    assert seen[:2] == [(0, 1), (254 * 100, 0)]
    assert seen[2][0] >= 100 * US


def test_upstream_slow_vcpu_succeeds_later() -> None:
    fast = run_boot(BootSpec(platform="tdx", cpus=3, seed=4))
    slow = run_boot(BootSpec(platform="tdx", cpus=3, seed=4, params=SLOW_VCPU))
    assert slow.result == "ok", slow.reasons
    assert not any("timed out" in m for m in _messages(slow))
    for f, s in zip(fast.cpus[1:], slow.cpus[1:], strict=True):
        assert f.kick_to_alive_ns is not None and s.kick_to_alive_ns is not None
        assert s.kick_to_alive_ns >= f.kick_to_alive_ns + 90 * US
    spans = [s.end_ns - s.start_ns for s in slow.spans if s.name == "mailbox"]
    assert len(spans) == 2 and all(d >= 100 * US for d in spans)


def test_seed_wakemap_refuses_a_second_wakeup_of_the_same_apic_id() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="seed", cpus=2))
    assert machine.boot().result == "ok"
    kernel = machine.kernel
    hook = kernel.apic.wakeup_secondary_cpu_64
    assert hook is not None and hook.__name__ == "acpi_wakeup_cpu"
    before = machine.memory.read_bytes(TDVF_MAILBOX, 16)
    writes: list[int] = []
    machine.engine.on_write(TDVF_MAILBOX, TDVF_MAILBOX + 16, lambda a, s: writes.append(a))
    start64 = kernel.real_mode_header.trampoline_start64
    assert _run_on_bp(machine, hook(kernel, 1, start64, 1)) == -EINVAL
    assert [m for _t, _l, m in kernel.log if "already awake" in m] == [
        "ACPI: CPU already awake (APIC ID 1), skipping wakeup"
    ]
    assert writes == [] and machine.memory.read_bytes(TDVF_MAILBOX, 16) == before


# -- upstream: no mailbox, version 0, reset vector (reference 2.3) --------------------------


def test_upstream_mailbox_address_zero_fails_with_eopnotsupp(tmp_path: Path) -> None:
    path = _write_madt(
        tmp_path, MpWakeup(version=1, mailbox_address=0, reset_vector=TDVF_RESET_VECTOR)
    )
    result = run_boot(BootSpec(madt=path, platform="tdx"))
    msgs = _messages(result)
    assert msgs.count("No MADT mailbox: cannot bringup secondary CPUs. Booting with kexec?") == 1
    assert [m for m in msgs if "do_boot_cpu failed" in m] == [
        f"smpboot: do_boot_cpu failed(-{EOPNOTSUPP}) to wakeup CPU#{n}" for n in (1, 2, 3)
    ]
    assert result.result == "cpu-failed"
    assert result.cpus_online == 1
    assert result.counters["mailbox_handshakes"] == 0


def test_version_0_disables_offlining_and_hides_the_mailbox_from_kexec(tmp_path: Path) -> None:
    path = _write_madt(tmp_path, MpWakeup(version=0, mailbox_address=TDVF_MAILBOX))
    machine = build_machine(BootSpec(madt=path, platform="tdx"))
    original = build_madt(machine.madt)
    result = machine.boot()
    assert result.result == "ok", result.reasons  # the address was saved before zeroing
    kernel = machine.kernel
    assert kernel.offlining_disabled
    assert "cpu_die" not in kernel.smp_ops
    in_memory = bytes(kernel.madt_bytes)
    (entry,) = [s for s in machine.madt.subtables if isinstance(s, MpWakeup)]
    at = entry.offset + 8
    assert in_memory[at : at + 8] == bytes(8)
    assert original[at : at + 8] == TDVF_MAILBOX.to_bytes(8, "little")
    # nothing else changed, not even the checksum (the kernel does not fix it up)
    assert in_memory[:at] + in_memory[at + 8 :] == original[:at] + original[at + 8 :]
    reparsed = parse_madt(in_memory)
    (wake,) = [s for s in reparsed.subtables if isinstance(s, MpWakeup)]
    assert wake.mailbox_address == 0


def test_version_1_keeps_offlining_and_the_table(tmp_path: Path) -> None:
    path = _write_madt(
        tmp_path, MpWakeup(version=1, mailbox_address=TDVF_MAILBOX, reset_vector=TDVF_RESET_VECTOR)
    )
    machine = build_machine(BootSpec(madt=path, platform="tdx"))
    original = build_madt(machine.madt)
    assert machine.boot().result == "ok"
    assert not machine.kernel.offlining_disabled
    assert "cpu_die" in machine.kernel.smp_ops
    assert bytes(machine.kernel.madt_bytes) == original


def test_version_1_in_a_16_byte_entry_is_treated_as_version_0(tmp_path: Path) -> None:
    # old TDVF / td-shim: version 1 but no ResetVector field (length 16)
    path = _write_madt(tmp_path, MpWakeup(version=1, mailbox_address=TDVF_MAILBOX))
    machine = build_machine(BootSpec(madt=path, platform="tdx"))
    assert machine.boot().result == "ok"
    assert machine.kernel.offlining_disabled
    assert "cpu_die" not in machine.kernel.smp_ops


def test_upstream_has_no_wakemap_a_second_wakeup_spins_forever() -> None:
    machine = build_machine(BootSpec(platform="tdx", cpus=2))
    assert machine.boot().result == "ok"
    kernel = machine.kernel
    hook = kernel.apic.wakeup_secondary_cpu_64
    assert hook is not None
    proc = machine.engine.process(
        hook(kernel, 1, kernel.real_mode_header.trampoline_start64, 1), "again"
    )
    events = machine.engine.events
    machine.engine.run(until=machine.engine.now + 5 * SEC)
    assert proc.alive  # AP 1 left the firmware loop: nobody acknowledges
    assert _mailbox(machine, 0, 2) == 1 and _mailbox(machine, 4, 4) == 1
    assert machine.engine.events - events < 100  # parked, not polled 50 million times


# -- td-shim without acknowledgement (reference 7.2) ----------------------------------------


def test_td_shim_noack_hangs_the_upstream_kernel_in_acpi_wakeup_cpu() -> None:
    result = run_boot(BootSpec(platform="tdx", cpus=3, firmware="td-shim-noack"))
    assert result.result == "hung"
    assert result.cpus[1].state == "hung"
    assert result.cpus[2].state == "not-attempted"
    assert any("while waking CPU1 (APIC 0x1) with acpi_wakeup_cpu()" in line
               for line in result.log)
    assert any("CPU1 (APIC 0x1)" in r for r in result.reasons)
    assert result.events < 10_000  # the endless spin was parked, not simulated poll by poll


def test_td_shim_noack_makes_the_seed_kernel_return_eio() -> None:
    result = run_boot(BootSpec(platform="tdx", kernel="seed", cpus=3, firmware="td-shim-noack"))
    assert result.result == "cpu-failed"
    msgs = _messages(result)
    assert [m for m in msgs if "timed out" in m] == [
        "ACPI: ACPI wakeup of APIC ID: 0x1 timed out",
        "ACPI: ACPI wakeup of APIC ID: 0x2 timed out",
    ]
    assert sum(1 for m in msgs if m.endswith(f"do_boot_cpu failed(-{EIO}) to wakeup CPU#1")) == 1
    assert result.counters["mailbox_handshakes"] == 0
    # the firmware jumped anyway: the APs show up after the kernel gave up
    assert sorted(e.cpu for e in result.trace if e.kind == "ap-late-alive") == [1, 2]


@pytest.mark.parametrize(("kernel", "outcome"), [("6.11", "hung"), ("seed", "cpu-failed")])
def test_forcing_the_mailbox_where_no_firmware_polls_it(kernel: str, outcome: str) -> None:
    """Bare metal parks its APs in wait-for-SIPI: the mailbox is never acknowledged."""
    result = run_boot(BootSpec(platform="bare-metal", kernel=kernel, method="acpi-mailbox",
                               cpus=3))
    assert result.result == outcome
    assert result.method == "acpi-mailbox"
    assert result.reasons[0].startswith("no firmware polls a wakeup mailbox on bare-metal")
    assert result.cpus_online == 1
    assert not any(e.kind == "ap-start" for e in result.trace)


# -- message levels (pr_warn / pr_err) ------------------------------------------------------


def _levels(machine: Machine, needle: str) -> list[str]:
    return [lvl for _t, lvl, m in machine.kernel.log if needle in m]


def test_seed_timeout_is_a_warning() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="seed", cpus=2, params=SLOW_VCPU))
    machine.boot()
    assert _levels(machine, "timed out") == ["warn"]


def test_no_mailbox_is_a_warning(tmp_path: Path) -> None:
    path = _write_madt(tmp_path, MpWakeup(version=0, mailbox_address=0), cpus=2)
    machine = build_machine(BootSpec(madt=path, platform="tdx"))
    machine.boot()
    assert _levels(machine, "No MADT mailbox") == ["warn"]


def test_td_shim_publishes_a_16_byte_version_0_entry_so_6_11_disables_offlining() -> None:
    """td-shim mp.rs (a0472a3): version 0, 16 bytes, no reset vector. madt_wakeup.c then
    disables offlining and zeroes the mailbox address in the kernel's copy of the MADT."""
    machine = build_machine(BootSpec(platform="tdx", firmware="td-shim", cpus=4))
    result = machine.boot()
    assert result.result == "ok"
    wake = [s for s in machine.madt.subtables if isinstance(s, MpWakeup)]
    assert [(w.version, w.length) for w in wake] == [(0, 16)]
    kernel = machine.kernel
    assert kernel.offlining_disabled
    at = wake[0].offset + 8
    assert kernel.madt_bytes[at:at + 8] == bytes(8)
    tdvf = build_machine(BootSpec(platform="tdx", cpus=4))
    tdvf.boot()
    assert not tdvf.kernel.offlining_disabled  # version 1 with a reset vector
