"""SMP bring-up core: hook choice, start_ip, kernel messages, NR_CPUS, parallel bring-up."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from kapic import (
    EIO,
    Apic,
    ApicDriverRegistry,
    BootResult,
    BootSpec,
    Kernel,
    MadtHandler,
    PluginHost,
    Wait,
    WakeupHandler,
    build_machine,
    build_madt,
    describe_madt,
    finalize_madt,
    hookimpl,
    run_boot,
)
from kapic.acpi.interrupts import InterruptOverride, IoApic

SEC = 1_000_000_000
#: one thread per core: parallel bring-up then takes the CPUs in order (no primaries first)
ONE_THREAD = {"threads_per_core": "1"}
Calls = list[tuple[str, int, int, int]]


def _messages(result: BootResult) -> list[str]:
    return [line.split("] ", 1)[1] for line in result.log]


def _start_ap(kernel: Kernel, apicid: int, start_ip: int, mode: str) -> None:
    """What a trusted test "firmware" does: start the AP at start_ip."""
    kernel.board.start_cpu(kernel.board.by_apic_id[apicid], start_ip, mode)


def _recording_hooks(calls: Calls) -> tuple[WakeupHandler, WakeupHandler]:
    def test_wakeup_64(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                       ) -> Generator[Any, Any, int]:
        calls.append(("64", apicid, start_ip, cpu))
        _start_ap(kernel, apicid, start_ip, "long")
        yield 1_000
        return 0

    def test_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                    ) -> Generator[Any, Any, int]:
        calls.append(("32", apicid, start_ip, cpu))
        _start_ap(kernel, apicid, start_ip, "real")
        yield 1_000
        return 0

    return test_wakeup_64, test_wakeup


class _DriverPlugin:
    """A test-only APIC driver that wins the probe and carries the given hooks.

    It is linked first (``before=`` the first built-in driver) so that it wins the final
    probe whether the machine runs in xAPIC or x2APIC mode."""

    def __init__(self, hook64: WakeupHandler | None = None, hook: WakeupHandler | None = None):
        self.hook64 = hook64
        self.hook = hook

    @hookimpl
    def kapic_register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        registry.apic_driver(
            Apic(
                "test apic",
                probe=lambda kernel: True,
                wakeup_secondary_cpu=self.hook,
                wakeup_secondary_cpu_64=self.hook64,
                plugin="test-driver",
            ),
            before="NumaConnect system",
        )


def _boot_with(plugin: object, **spec: Any) -> tuple[BootResult, Kernel]:
    host = PluginHost()
    host.register(plugin, "test-driver")
    machine = build_machine(BootSpec(**spec), host)
    return machine.boot(), machine.kernel


# -- hook choice and start_ip (reference 4.1, 4.2) ------------------------------------------


@pytest.mark.parametrize("kernel", ["seed", "6.11"])
def test_wakeup_secondary_cpu_64_wins_and_gets_trampoline_start64(kernel: str) -> None:
    calls: Calls = []
    hook64, hook = _recording_hooks(calls)
    result, k = _boot_with(_DriverPlugin(hook64, hook), platform="bare-metal", kernel=kernel, cpus=4,
                           params=ONE_THREAD)
    assert result.result == "ok", result.reasons
    start64 = k.real_mode_header.trampoline_start64
    assert calls == [("64", apic, start64, apic) for apic in (1, 2, 3)]
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"test_wakeup_64"}
    assert result.counters["icr_writes"] == 0
    assert all(e.detail.endswith("(long mode)") for e in result.trace if e.kind == "ap-start")


def test_wakeup_secondary_cpu_beats_init_sipi_with_a_page_aligned_start_ip() -> None:
    calls: Calls = []
    _hook64, hook = _recording_hooks(calls)
    result, k = _boot_with(_DriverPlugin(None, hook), platform="bare-metal", cpus=4,
                           params=ONE_THREAD)
    assert result.result == "ok", result.reasons
    assert [c[0] for c in calls] == ["32"] * 3
    start_ips = {c[2] for c in calls}
    assert start_ips == {k.real_mode_header.trampoline_start}
    (start_ip,) = start_ips
    assert start_ip % 4096 == 0 and start_ip < 1 << 20
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"test_wakeup"}
    assert result.counters["icr_writes"] == 0


def test_init_sipi_is_the_fallback_with_vector_start_ip_page() -> None:
    result, k = _boot_with(_DriverPlugin(None, None), platform="bare-metal", cpus=4,
                           params=ONE_THREAD)
    assert result.result == "ok", result.reasons
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"wakeup_secondary_cpu_via_init"}
    start_ip = k.real_mode_header.trampoline_start
    assert start_ip % 4096 == 0 and start_ip < 1 << 20
    sipis = [e for e in result.trace if e.kind == "sipi"]
    assert [e.cpu for e in sipis] == [1, 2, 3]
    assert {e.detail for e in sipis} == {f"vector 0x{start_ip >> 12:x}"}
    kicks = [e.detail for e in result.trace if e.kind == "kick"]
    assert all(f"start_ip=0x{start_ip:x}" in d for d in kicks)


class _MadtHookPlugin:
    """Installs a hook from a MADT subtable handler (type 4, LAPIC NMI), as the mailbox
    plugin does from type 0x10."""

    def __init__(self, hook: WakeupHandler) -> None:
        self.hook = hook

    def handler(self, kernel: Kernel, entry: Any, end: int) -> int:
        kernel.apic_state.apic_update_callback("wakeup_secondary_cpu", self.hook)
        return 0

    @hookimpl
    def kapic_madt_handlers(self) -> list[MadtHandler]:
        return [MadtHandler(4, self.handler, max_entries=1, plugin="test-madt")]


def test_madt_handler_plugin_installs_a_hook_that_do_boot_cpu_uses() -> None:
    calls: Calls = []
    _hook64, hook = _recording_hooks(calls)
    host = PluginHost()
    host.register(_MadtHookPlugin(hook), "test-madt")
    result = run_boot(BootSpec(platform="bare-metal", cpus=3, params=ONE_THREAD), plugins=host)
    assert result.result == "ok", result.reasons
    assert [(c[0], c[1]) for c in calls] == [("32", 1), ("32", 2)]
    assert "APIC: wakeup_secondary_cpu() replaced with test_wakeup()" in _messages(result)


# -- messages (reference 4.3-4.6) -----------------------------------------------------------


@pytest.mark.parametrize("kernel", ["seed", "6.8", "6.9", "6.11"])
def test_bring_up_summary_messages(kernel: str) -> None:
    result = run_boot(BootSpec(platform="bare-metal", kernel=kernel, cpus=4))
    msgs = _messages(result)
    assert result.result == "ok"
    start = msgs.index("smp: Bringing up secondary CPUs ...")
    done = msgs.index("smp: Brought up 1 node, 4 CPUs")
    assert start < done
    # native_smp_cpus_done's "Max logical packages" until the 6.9 topology rework
    packages = ["smpboot: Max logical packages: 1"] if kernel in ("seed", "6.8") else []
    assert msgs[done + 1:done + 3] == [
        *packages, "smpboot: Total of 4 processors activated (23200.00 BogoMIPS)"][:2]
    booting = "x86: Booting SMP configuration:" if kernel == "seed" else (
        "smpboot: x86: Booting SMP configuration:"  # pr_info from 6.5
    )
    assert booting in msgs[start:done]


def test_announce_line_matches_the_real_tdx_log_for_4_cpus() -> None:
    result = run_boot(BootSpec(platform="tdx", cpus=4))
    assert ".... node  #0, CPUs:      #1 #2 #3" in _messages(result)


def test_announce_line_pads_to_two_digit_cpu_numbers() -> None:
    result = run_boot(BootSpec(platform="tdx", cpus=16))
    expected = ".... node  #0, CPUs:        #1" + "".join(
        f"{'' if n >= 10 else ' '} #{n}" for n in range(2, 16)
    )
    assert expected in _messages(result)
    assert expected.endswith("  #9 #10 #11 #12 #13 #14 #15")


def _failing_hook(fail_apicid: int, rc: int) -> WakeupHandler:
    def test_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                    ) -> Generator[Any, Any, int]:
        yield 1_000
        if apicid == fail_apicid:
            return rc
        _start_ap(kernel, apicid, start_ip, "real")
        return 0

    return test_wakeup


@pytest.mark.parametrize("kernel", ["seed", "6.11"])
def test_do_boot_cpu_failure_message_and_count(kernel: str) -> None:
    result, _k = _boot_with(
        _DriverPlugin(None, _failing_hook(2, -EIO)), platform="bare-metal", kernel=kernel, cpus=4
    )
    msgs = _messages(result)
    assert "smpboot: do_boot_cpu failed(-5) to wakeup CPU#2" in msgs
    assert "smp: Brought up 1 node, 3 CPUs" in msgs
    assert result.result == "cpu-failed"
    assert [c.state for c in result.cpus] == ["boot-cpu", "online", "failed", "online"]


def _silent_hook(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                 ) -> Generator[Any, Any, int]:
    yield 1_000
    return 0  # claims success, never starts the AP


def test_upstream_ap_that_never_reports_alive() -> None:
    host = PluginHost()
    host.register(_DriverPlugin(None, _silent_hook), "test-driver")
    machine = build_machine(BootSpec(platform="bare-metal", cpus=2), host)
    result = machine.boot()
    assert result.result == "cpu-failed"
    (t_ns,) = [t for t, _lvl, m in machine.kernel.log if m == "CPU1 failed to report alive state"]
    assert 10 * SEC <= t_ns < 10 * SEC + 1_000_000
    assert "smp: Brought up 1 node, 1 CPU" in _messages(result)
    assert result.cpus[1].state == "failed"


def test_seed_ap_that_never_reports_alive_fails_do_boot_cpu_with_minus_one() -> None:
    host = PluginHost()
    host.register(_DriverPlugin(None, _silent_hook), "test-driver")
    machine = build_machine(BootSpec(platform="bare-metal", kernel="seed", cpus=2), host)
    result = machine.boot()
    failed = [(t, m) for t, _lvl, m in machine.kernel.log if "do_boot_cpu failed" in m]
    # 5.x do_boot_cpu: boot_error = -1 when the 10 s wait for a sign of life expires
    assert len(failed) == 1
    assert failed[0][1].endswith("do_boot_cpu failed(-1) to wakeup CPU#1")
    assert failed[0][0] >= 10 * SEC
    assert result.result == "cpu-failed"


# -- NR_CPUS, disabled entries --------------------------------------------------------------


def test_nr_cpus_limits_the_cpus_brought_up() -> None:
    # 5.19 (seed) warns once per ignored processor, its number counting up.
    result = run_boot(BootSpec(platform="bare-metal", kernel="seed", cpus=8, config={"NR_CPUS": "4"}))
    assert result.result == "ok"
    assert result.cpus_online == 4
    assert len(result.cpus) == 4
    msgs = _messages(result)
    limit = [m for m in msgs if m.startswith("APIC: NR_CPUS/possible_cpus limit of 4 reached.")]
    assert [m.split("Processor ", 1)[1] for m in limit] == [
        f"{i}/0x{i:x} ignored." for i in range(4, 8)
    ]
    assert "smp: Brought up 1 node, 4 CPUs" in msgs
    # 6.9+ (Linux 6.11) says it once.
    msgs = _messages(run_boot(BootSpec(platform="bare-metal", cpus=8, config={"NR_CPUS": "4"})))
    assert [m for m in msgs if "limit" in m] == [
        "CPU topo: CPU limit of 4 reached. Ignoring further CPUs"
    ]
    assert "smp: Brought up 1 node, 4 CPUs" in msgs


def _write_madt(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_disabled_madt_entries_are_not_brought_up(tmp_path: Path) -> None:
    madt = describe_madt(cpus=6, disabled=[2, 4])
    path = _write_madt(tmp_path, "disabled.bin", build_madt(madt))
    # a guest: disabled entries are hotplug CPUs on every release
    result = run_boot(BootSpec(platform="kvm", madt=path))
    assert result.result == "ok", result.reasons
    states = {c.apic_id: c.state for c in result.cpus}
    assert states == {0: "boot-cpu", 1: "online", 2: "disabled", 3: "online", 4: "disabled",
                      5: "online"}
    kicked = [e.detail for e in result.trace if e.kind == "kick"]
    assert not any("apicid=0x2," in d or "apicid=0x4," in d for d in kicked)
    assert len(kicked) == 3
    msgs = _messages(result)
    assert "CPU topo: Allowing 4 present CPUs plus 2 hotplug CPUs" in msgs
    old = _messages(run_boot(BootSpec(platform="bare-metal", madt=path, kernel="6.8")))
    assert "smpboot: Allowing 6 CPUs, 2 hotplug CPUs" in old
    # bare metal: 6.9-6.19 reject them (a present package), 7.0 ignores them
    mid = _messages(run_boot(BootSpec(platform="bare-metal", madt=path, kernel="6.12")))
    assert [m for m in mid if "hot" in m or "Rejected" in m] == [
        "CPU topo: Ignoring hot-pluggable APIC ID 2 in present package.",
        "CPU topo: Allowing 4 present CPUs plus 0 hotplug CPUs", "CPU topo: Rejected CPUs 2"]
    new = _messages(run_boot(BootSpec(platform="bare-metal", madt=path)))
    assert [m for m in new if "hotplug" in m or "Rejected" in m] == [
        "CPU topo: Allowing 4 present CPUs plus 0 hotplug CPUs"]
    assert "smp: Brought up 1 node, 4 CPUs" in msgs


def test_disabled_entries_without_online_capable_are_ignored_on_acpi_63(tmp_path: Path) -> None:
    # MADT revision 5 (ACPI 6.3+): a disabled entry must set Online Capable to be usable
    madt = describe_madt(cpus=4, disabled=[2, 3], online_capable=[3], revision=5)
    path = _write_madt(tmp_path, "oc.bin", build_madt(madt))
    result = run_boot(BootSpec(platform="bare-metal", madt=path))
    assert [(c.apic_id, c.state) for c in result.cpus] == [
        (0, "boot-cpu"), (1, "online"), (3, "disabled")
    ]
    assert "CPU topo: Allowing 2 present CPUs plus 1 hotplug CPUs" in _messages(result)


# -- serial vs parallel (reference 4.5) -----------------------------------------------------


def test_parallel_bring_up_is_faster_on_bare_metal() -> None:
    par = run_boot(BootSpec(platform="bare-metal", cpus=8, config={"HOTPLUG_PARALLEL": "y"}))
    ser = run_boot(BootSpec(platform="bare-metal", cpus=8, config={"HOTPLUG_PARALLEL": "n"}))
    assert par.result == ser.result == "ok"
    assert par.sim_time_ns < ser.sim_time_ns / 2
    # parallel, 2 threads per core: the primary threads' mask (APIC IDs 2, 4, 6) is kicked,
    # then brought online, then the siblings' (cpuhp_bringup_cpus_parallel)
    steps = [(e.kind, int(e.detail.split("apicid=")[1].split(",")[0], 16) if e.kind == "kick"
              else par.cpus[e.cpu].apic_id)
             for e in par.trace if e.kind in ("kick", "cpu-online")]
    assert steps == [("kick", 2), ("kick", 4), ("kick", 6), ("cpu-online", 2),
                     ("cpu-online", 4), ("cpu-online", 6), ("kick", 1), ("kick", 3),
                     ("kick", 5), ("kick", 7), ("cpu-online", 1), ("cpu-online", 3),
                     ("cpu-online", 5), ("cpu-online", 7)]
    one = run_boot(BootSpec(platform="bare-metal", cpus=8, params=ONE_THREAD))
    kinds = [e.kind for e in one.trace if e.kind in ("kick", "cpu-online")]
    assert kinds == ["kick"] * 7 + ["cpu-online"] * 7
    kinds = [e.kind for e in ser.trace if e.kind in ("kick", "cpu-online")]
    assert kinds == ["kick", "cpu-online"] * 7


def test_tdx_disables_parallel_bring_up_with_the_kernel_message() -> None:
    tdx = run_boot(BootSpec(platform="tdx", cpus=4))
    assert "smpboot: Parallel CPU startup disabled by the platform" in _messages(tdx)
    kinds = [e.kind for e in tdx.trace if e.kind in ("kick", "cpu-online")]
    assert kinds == ["kick", "cpu-online"] * 3
    bare = run_boot(BootSpec(platform="bare-metal", cpus=4))
    assert not any("Parallel CPU startup" in m for m in _messages(bare))


def test_seed_kernel_is_always_serial() -> None:
    seed = run_boot(BootSpec(platform="bare-metal", kernel="seed", cpus=4))
    kinds = [e.kind for e in seed.trace if e.kind in ("kick", "cpu-online")]
    assert kinds == ["kick", "cpu-online"] * 3


def test_upstream_sees_a_slow_ap_on_its_2_ms_sleep_boundary_seed_at_once() -> None:
    """6.5+ cpuhp_bp_sync_alive polls for 1 ms, then sleeps usleep_range(1000, 2000);
    5.19's do_boot_cpu loops on schedule() and sees the AP at once."""
    for kernel, aligned in (("6.11", True), ("seed", False)):
        result = run_boot(BootSpec(platform="bare-metal", kernel=kernel, cpus=3,
                                   config={"HOTPLUG_PARALLEL": "n"}))
        waits = [s for s in result.spans if s.name == "alive-wait"]
        alive = {s.target: s.end_ns for s in result.spans if s.name == "ap-startup"}
        assert len(waits) == 2
        for w in waits:
            assert alive[w.target] - w.start_ns > 1_000_000  # 3.45 ms AP start-up
            if aligned:
                assert (w.end_ns - w.start_ns - 1_000_000) % 2_000_000 == 0
                assert 0 <= w.end_ns - alive[w.target] < 2_000_000
            else:
                assert w.end_ns == alive[w.target]


def test_smp_n_brings_up_no_ap_and_installs_no_mailbox() -> None:
    result = run_boot(BootSpec(platform="tdx", cpus=3, config={"SMP": "n"}))
    msgs = _messages(result)
    assert result.cpus_online == 1
    assert not any(e.kind == "kick" for e in result.trace)
    # acpi_lapic && acpi_ioapic decides, not CONFIG_SMP: the IOAPIC entry was parsed
    assert "ACPI: Using ACPI (MADT) for SMP configuration information" in msgs
    assert not any("replaced with acpi_wakeup_cpu" in m for m in msgs)


def test_a_madt_without_an_ioapic_is_used_for_the_lapics_only(tmp_path: Path) -> None:
    """acpi_process_madt: no IOAPIC entry, no acpi_ioapic: the LAPIC line, no IOAPIC[] line."""
    madt = describe_madt(cpus=2)
    madt = finalize_madt(dataclasses.replace(madt, subtables=tuple(
        s for s in madt.subtables if not isinstance(s, (IoApic, InterruptOverride)))))
    result = run_boot(BootSpec(platform="kvm", madt=_write_madt(tmp_path, "noio.bin",
                                                                     build_madt(madt))))
    msgs = _messages(result)
    assert "ACPI: Using ACPI for processor (LAPIC) configuration information" in msgs
    assert not any(m.startswith("IOAPIC[") for m in msgs)


@pytest.mark.parametrize("kernel", ["seed", "6.11"])
def test_32_bit_kernel_never_uses_the_mailbox(kernel: str) -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel=kernel, cpus=2,
                                     config={"X86_64": "n"}))
    result = machine.boot()
    assert all(d.wakeup_secondary_cpu_64 is None for d in machine.kernel.registry.drivers)
    assert result.cpus[1].wakeup_handler == "wakeup_secondary_cpu_via_init"
    assert result.result == "cpu-failed"


# -- watchdog and hang attribution ----------------------------------------------------------


def test_tdx_init_sipi_with_four_cpus_fails_rather_than_hangs() -> None:
    """Serial bring-up may spend 10 s per AP: 3 x 10 s is a failed boot, not a hung one."""
    result = run_boot(BootSpec(platform="tdx", method="init-sipi", cpus=4))
    assert result.result == "cpu-failed", result.reasons
    msgs = _messages(result)
    assert [m for m in msgs if m.endswith("failed to report alive state")] == [
        f"CPU{n} failed to report alive state" for n in (1, 2, 3)
    ]
    assert "smp: Brought up 1 node, 1 CPU" in msgs


def _stuck_on_apic3(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                    ) -> Generator[Any, Any, int]:
    if apicid == 3:
        yield Wait(kernel.engine.signal("never"))  # a wakeup that never returns
    fallback = kernel.wakeup_secondary_cpu_via_init
    assert fallback is not None
    return (yield from fallback(kernel, apicid, start_ip, cpu))


def test_hang_in_a_parallel_kick_names_the_cpu_being_woken() -> None:
    result, _k = _boot_with(_DriverPlugin(None, _stuck_on_apic3), platform="bare-metal", cpus=5)
    assert result.result == "hung"
    assert any("while waking CPU3 (APIC 0x3) with _stuck_on_apic3()" in r for r in result.reasons)
    assert result.cpus[3].state == "hung"
    assert result.cpus[1].state != "hung" and result.cpus[2].state != "hung"


def test_an_online_cpus_completions_read_as_they_ended() -> None:
    # kapic drops a CPU's bring-up completions once it is online (memory); a plugin that
    # reads them afterwards, or waits on one, sees them fired with the times they fired at.
    seen: list[tuple[int, bool, bool, object, object]] = []

    def serialised(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                   ) -> Generator[Any, Any, int]:
        if cpu > 1:
            prev = kernel.cpus[cpu - 1]
            seen.append((cpu - 1, prev.online.fired, prev.should_online.fired,
                         prev.alive.value, prev.online.value))
            yield Wait(prev.online)  # returns at once: the previous CPU is online
        fallback = kernel.wakeup_secondary_cpu_via_init
        assert fallback is not None
        return (yield from fallback(kernel, apicid, start_ip, cpu))

    result, kernel = _boot_with(_DriverPlugin(hook=serialised), cpus=4, kernel="6.1")
    assert result.result == "ok", result.reasons
    kcpus = kernel.cpus
    assert seen == [(n, True, True, kcpus[n].alive_ns, kcpus[n].online_ns) for n in (1, 2)]
