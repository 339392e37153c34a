"""Every gate, at the releases on both sides of it: the behaviour it names changes there and
nowhere else; docs/kernel-versions.md shows the gates as the code has them."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from kapic import (
    GATES,
    LATEST,
    NAMED_RELEASES,
    RELEASES,
    BootResult,
    BootSpec,
    Gate,
    KernelVersion,
    MadtEntry,
    MpWakeup,
    build_machine,
    build_madt,
    describe_madt,
    finalize_madt,
    gate,
    parse_kernel_version,
    run_boot,
)
from kapic.acpi import madt_boot_lines, madt_entry_lines
from kapic.acpi.cpus import madt_cpu_entries
from kapic.acpi.processors import LocalApic, LocalApicAddressOverride, LocalX2Apic
from kapic.cli import main
from kapic.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _log(kernel: str, **spec: object) -> list[str]:
    result = run_boot(BootSpec(kernel=kernel, **spec))  # type: ignore[arg-type]
    return [line.split("] ", 1)[1] for line in result.log if "] " in line]


def _boot(kernel: str, **spec: object) -> BootResult:
    return run_boot(BootSpec(kernel=kernel, **spec))  # type: ignore[arg-type]


def _table(tmp_path: Path, *entries: MadtEntry) -> str:
    madt = describe_madt(cpus=1)
    madt = finalize_madt(dataclasses.replace(madt, subtables=(*entries, *madt.subtables[1:])))
    path = tmp_path / "apic.bin"
    path.write_bytes(build_madt(madt))
    return str(path)


def _printed(release: tuple[int, int], entry: MadtEntry) -> list[str]:
    madt = describe_madt(cpus=1)
    madt = finalize_madt(dataclasses.replace(madt, subtables=(*madt.subtables, entry)))
    return madt_entry_lines(madt, KernelVersion(release))


def _lapic_addr(release: tuple[int, int], tmp_path: Path) -> object:
    return _printed(release, LocalApicAddressOverride(0xFEE00000))[-1]


def _mp_wake_parsed(release: tuple[int, int], tmp_path: Path) -> object:
    madt = describe_madt(cpus=1, wakeup=MpWakeup(1, 0x7FFFD000, 0x7FFFE068))
    return any("0x10" in line or "MP Wakeup" in line
               for line in madt_boot_lines(madt, KernelVersion(release)))


def _tdx_offline(release: tuple[int, int], tmp_path: Path) -> object:
    machine = build_machine(BootSpec(kernel=_name(release), platform="tdx", cpus=4))
    machine.boot()
    machine.offline([2])
    return {c.cpu: c.state for c in machine.result().cpus}[2]


def _alive_wait(release: tuple[int, int], tmp_path: Path) -> object:
    """A slow AP is seen on the 2 ms sleep boundary from 6.5 (usleep_range), at once before."""
    result = _boot(_name(release), platform="tdx", cpus=2, params={"ap_alive_ns": "1500000"})
    wait = next(s for s in result.spans if s.name == "alive-wait")
    return wait.end_ns - wait.start_ns


def _mode(release: tuple[int, int], tmp_path: Path) -> object:
    return _boot(_name(release), platform="kvm", cpus=4).bringup["mode"]


def _booting_line(release: tuple[int, int], tmp_path: Path) -> object:
    return next(m for m in _log(_name(release), platform="kvm", cpus=2) if "Booting SMP" in m)


def _switched(release: tuple[int, int], tmp_path: Path) -> object:
    return next(m for m in _log(_name(release), platform="kvm", cpus=2) if "APIC routing" in m)


def _replaced(release: tuple[int, int], tmp_path: Path) -> object:
    log = _log(_name(release), platform="tdx", cpus=2)
    return [m.removeprefix("ACPI: ") for m in log if "wakeup_secondary_cpu_64" in m]


def _has_lapic(release: tuple[int, int], tmp_path: Path) -> object:
    # x2APIC 5 (below 0xff) beside the LAPIC entries: a CPU before 6.7, ignored from then
    path = _table(tmp_path, LocalApic(0, 0), LocalApic(1, 1), LocalX2Apic(5, 5))
    return _boot(_name(release), platform="kvm", madt=path).cpus_requested


def _lapic_first(release: tuple[int, int], tmp_path: Path) -> object:
    # an x2APIC CPU (0x100) listed before a LAPIC CPU: which one is CPU 1
    path = _table(tmp_path, LocalApic(0, 0), LocalX2Apic(0x100, 0x100), LocalApic(2, 2))
    result = _boot(_name(release), platform="kvm", madt=path)
    return next(c.apic_id for c in result.cpus if c.cpu == 1)


def _topology(release: tuple[int, int], tmp_path: Path) -> object:
    log = _log(_name(release), platform="kvm", cpus=2)
    return [m for m in log if "Allowing" in m or "logical packages" in m]


def _mailbox_zero(release: tuple[int, int], tmp_path: Path) -> object:
    return _boot(_name(release), platform="tdx", cpus=2, faults=("mailbox-zero",),
                 watchdog_ns=10**9).result


def _wakeup_printed(release: tuple[int, int], tmp_path: Path) -> object:
    return _printed(release, MpWakeup(1, 0x7FFFD000, 0x7FFFE068))[-1]


def _topo_nodes(release: tuple[int, int], tmp_path: Path) -> object:
    return sum("nodes" in m for m in _log(_name(release), platform="kvm", cpus=2))


def _hotplug_table(tmp_path: Path) -> str:
    madt = describe_madt(cpus=6, disabled=[2, 3, 4, 5])  # QEMU's -smp 2,maxcpus=6
    path = tmp_path / "hotplug.bin"
    path.write_bytes(build_madt(madt))
    return str(path)


def _rejected(release: tuple[int, int], tmp_path: Path) -> object:
    log = _log(_name(release), platform="bare-metal", madt=_hotplug_table(tmp_path))
    return [m for m in log if "Rejected" in m or "Ignoring hot-pluggable" in m]


def _physflat(release: tuple[int, int], tmp_path: Path) -> object:
    log = _log(_name(release), platform="bare-metal", cpus=16, params={"x2apic": "0"})
    return [m for m in log if "APIC routing" in m]


def _guest_only(release: tuple[int, int], tmp_path: Path) -> object:
    madt = describe_madt(cpus=6, disabled=[2, 3, 4, 5])
    return len(madt_cpu_entries(madt, KernelVersion(release), guest=False))


def _kick_message(release: tuple[int, int], tmp_path: Path) -> object:
    """x2APIC without interrupt remapping nor 15-bit MSI IDs: APIC ID 0x100 is refused."""
    log = _log(_name(release), platform="kvm", cpus=257, params={"msi_ext_dest_id": "0"})
    return sorted({m.replace("native_cpu_up", "native_kick_ap") for m in log if "256" in m})


def _tsc_sync(release: tuple[int, int], tmp_path: Path) -> object:
    """A TDX guest with a package per vCPU: the 20 ms TSC test per AP until 6.7."""
    result = _boot(_name(release), platform="tdx", cpus=3, params={"cores_per_package": "1"})
    return sum(1 for s in result.spans if s.name == "tsc-sync")


def _name(release: tuple[int, int]) -> str:
    return f"{release[0]}.{release[1]}"


#: gate -> what its behaviour looks like from outside, given a release
PROBES: dict[str, Callable[[tuple[int, int], Path], object]] = {
    "lapic_addr_ovr_hex": _lapic_addr,
    "mp_wake": _mp_wake_parsed,
    "tdx_hotplug_disabled": _tdx_offline,
    "hotplug_split_startup": _alive_wait,
    "hotplug_parallel": _mode,
    "announce_pr_info": _booting_line,
    "apic_install_driver": _switched,
    "apic_update_callback": _replaced,
    "has_lapic_cpus": _has_lapic,
    "lapic_before_x2apic": _lapic_first,
    "topology_rework": _topology,
    "madt_wakeup_c": _mailbox_zero,
    "madt_wakeup_printed": _wakeup_printed,
    "topo_nodes": _topo_nodes,
    "topo_reject_hotplug": _rejected,
    "physflat_only": _physflat,
    "lapic_hotplug_guest_only": _guest_only,
    "kick_ap_messages": _kick_message,
    "tdx_tsc_reliable": _tsc_sync,
}
#: the release before each (5.19 before 6.0, 6.19 before 7.0); print-only gates go below 5.19
EDGES = [(g, edge) for g in GATES if g.since is not None
         for edge in (g.since, g.until) if edge is not None]


def _before(release: tuple[int, int]) -> tuple[int, int]:
    if release in RELEASES and RELEASES.index(release):
        return RELEASES[RELEASES.index(release) - 1]
    return (release[0], release[1] - 1)


def test_every_gate_has_a_probe() -> None:
    assert set(PROBES) | {"mp_wake_timeout"} == {g.name for g in GATES}


@pytest.mark.parametrize(("g", "edge"), EDGES, ids=[f"{g.name}-{_name(e)}" for g, e in EDGES])
def test_the_behaviour_changes_at_the_gate(g: Gate, edge: tuple[int, int], tmp_path: Path) -> None:
    before, after = _before(edge), edge
    bootable = before in RELEASES or g.name in ("lapic_addr_ovr_hex", "mp_wake")
    if not bootable:
        pytest.skip(f"{_name(before)} is not modelled")
    probe = PROBES[g.name]
    assert probe(before, tmp_path) != probe(after, tmp_path)
    assert KernelVersion(before).has(g) != KernelVersion(after).has(g)


@pytest.mark.parametrize(("g", "edge"), EDGES, ids=[f"{g.name}-{_name(e)}" for g, e in EDGES])
def test_nothing_else_changes_the_behaviour(g: Gate, edge: tuple[int, int], tmp_path: Path) -> None:
    """Across any other edge the probe gives the same answer (one release each side)."""
    others = [r for r in NAMED_RELEASES if r not in (edge, _before(edge))]
    on_side = [r for r in others if KernelVersion(r).has(g) == KernelVersion(edge).has(g)]
    if len(on_side) < 2:
        pytest.skip("one named release on that side")
    probe = PROBES[g.name]
    assert probe(on_side[0], tmp_path) == probe(on_side[-1], tmp_path)


def test_the_seed_times_out_where_every_release_spins() -> None:
    assert _boot("seed", platform="tdx", cpus=4, faults=("vmm-late-wake",)).result == "cpu-failed"
    for release in NAMED_RELEASES:
        assert _boot(_name(release), platform="tdx", cpus=4,
                     faults=("vmm-late-wake",)).result == "ok"


def test_the_wrong_override_function_is_the_plugins_error() -> None:
    """The acpi-mailbox plugin picks by the gate; the demo in docs/plugin-guide.md shows a
    plugin that does not."""
    for kernel in ("6.5", "6.6"):
        assert _boot(kernel, platform="tdx", cpus=2).result == "ok"


def test_6_6_to_6_10_print_the_override_with_boot_c_prefix() -> None:
    line = "APIC: wakeup_secondary_cpu_64() replaced with acpi_wakeup_cpu()"
    assert [m for m in _log("6.8", platform="tdx", cpus=2) if "replaced" in m] == [f"ACPI: {line}"]
    assert [m for m in _log("6.11", platform="tdx", cpus=2) if "replaced" in m] == [line]
    assert not [m for m in _log("6.5", platform="tdx", cpus=2) if "replaced" in m]


@pytest.mark.parametrize("text", ["6.3", "6.19", "7.0", "v6.12.5", "6.12-rc3"])
def test_a_release_between_the_named_ones_boots(text: str) -> None:
    assert _boot(text, platform="kvm", cpus=2).result == "ok"


def test_gate_lookup_and_spans() -> None:
    assert gate("hotplug_parallel").span() == "6.5+"
    assert gate("lapic_before_x2apic").span() == "6.7 to 6.13"
    assert gate("tdx_hotplug_disabled").span() == "5.19 to 6.10"
    assert gate("mp_wake_timeout").span() == "seed only"
    assert parse_kernel_version("seed").has("mp_wake_timeout")
    assert not parse_kernel_version("5.19").has("mp_wake_timeout")
    assert parse_kernel_version("latest") == KernelVersion(LATEST)
    with pytest.raises(ConfigError, match=r"unknown kernel gate 'parallel' \(known: "):
        gate("parallel")


def test_the_docs_table_is_the_gates() -> None:
    text = (ROOT / "docs" / "kernel-versions.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \|.*$", text, flags=re.M)
    assert rows == [g.name for g in GATES]
    for g in GATES:
        row = f"| `{g.name}` | {g.span()} | {g.summary} | {g.source} | {g.commit} |"
        assert row in text, f"docs/kernel-versions.md: no row {row}"


def test_stable_backports_open_a_gate_at_their_sublevel() -> None:
    assert parse_kernel_version("6.12.77").has("lapic_hotplug_guest_only")
    assert not parse_kernel_version("6.12.76").has("lapic_hotplug_guest_only")
    assert not parse_kernel_version("6.12.77").has("topo_reject_hotplug")
    assert parse_kernel_version("6.12.76").has("topo_reject_hotplug")
    assert parse_kernel_version("6.11.3").has("physflat_only")
    assert not parse_kernel_version("6.11.2").has("physflat_only")
    assert parse_kernel_version("6.12.117+deb13-amd64").name == "6.12.117"
    assert gate("topo_reject_hotplug").span() == "6.9 to 6.19 (not 6.12.77+)"


def test_a_guest_without_interrupt_remapping_switches_to_physical_x2apic() -> None:
    """try_to_enable_x2apic: the GCP TDX log's "cluster x2apic" at MADT time, then
    "physical x2apic" at the final probe; APIC IDs capped at 255 without 15-bit MSI IDs."""
    log = _log("6.8", platform="tdx", cpus=4)
    assert [m for m in log if "APIC routing" in m] == [
        "APIC: Switched APIC routing to: cluster x2apic",
        "APIC: Switched APIC routing to: physical x2apic"]
    assert [m for m in _log("6.8", platform="bare-metal", cpus=4) if "APIC routing" in m] == [
        "APIC: Switched APIC routing to: cluster x2apic"]  # a server remaps interrupts
    result = _boot("7.2", platform="kvm", cpus=257, params={"msi_ext_dest_id": "0"})
    assert result.result == "cpu-failed" and result.cpus_online == 256
    assert "x2APIC without interrupt remapping" in result.reasons[0]
    assert _boot("7.2", platform="kvm", cpus=257).result == "ok"  # 15-bit IDs: up to 32767


def test_kernels_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kernels", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["latest"] == "7.2" and doc["releases"][0] == "5.19"
    assert [g["name"] for g in doc["gates"]] == [g.name for g in GATES]
    assert main(["kernels", "6.8", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["gates"]["apic_update_callback"] and not one["gates"]["topology_rework"]
    assert main(["kernels", "4.19"]) == 2
    assert "kapic models Linux 5.19 to 7.2" in capsys.readouterr().err


@pytest.mark.parametrize("kernel", ["seed", *(_name(r) for r in NAMED_RELEASES)])
@pytest.mark.parametrize("platform", ["bare-metal", "kvm", "tdx"])
def test_every_named_kernel_boots_on_every_builtin_platform(kernel: str, platform: str) -> None:
    result = _boot(kernel, platform=platform, cpus=8)
    assert result.result == "ok", result.reasons
    assert result.kernel == kernel and result.cpus_online == 8


def test_every_gate_is_exported_under_its_upper_case_name() -> None:
    import kapic

    for g in GATES:
        assert getattr(kapic, g.name.upper()) is g, g.name
        assert g.name.upper() in kapic.__all__


def test_a_gate_is_hashable_and_checked() -> None:
    assert len({*GATES}) == len(GATES) and hash(gate("physflat_only"))
    with pytest.raises(ValueError, match=r"since='6.8': expected a release as \(MAJOR, MINOR\)"):
        Gate("x", "6.8", "c", "s", "w")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"until \(6, 8\) is not after since \(6, 8\)"):
        Gate("x", (6, 8), "c", "s", "w", until=(6, 8))
    with pytest.raises(ValueError, match="backports"):
        Gate("x", (6, 8), "c", "s", "w", backports={(6, 1): 0})


def test_a_plugins_own_gate_works_by_object() -> None:
    mine = Gate("my_feature", (6, 10), "(mine)", "drivers/mine.c: mine()", "a change of mine")
    assert parse_kernel_version("6.10").has(mine) and not parse_kernel_version("6.9").has(mine)
    with pytest.raises(ConfigError, match="unknown kernel gate 'my_feature'"):
        parse_kernel_version("6.10").has("my_feature")  # by name: the built-in gates only


def test_a_0_2_plugin_gets_pointed_at_the_migration() -> None:
    from kapic import Expect, Fault, PluginError, PluginHost, hookimpl

    machine = build_machine(BootSpec(platform="kvm", cpus=2))
    with pytest.raises(AttributeError, match=r"kernel\.profile is gone in kapic 0\.3: ask "):
        machine.kernel.profile  # noqa: B018
    fault = Fault("x", "madt", "?", lambda c, p: None,
                  expected=Expect.on_every_profile("ok", "") | {"upstream": Expect("ok", "")})

    class _Plugin:
        @hookimpl
        def kapic_faults(self) -> list[Fault]:
            return [fault]

    host = PluginHost()
    with pytest.raises(PluginError, match=r"'upstream', a kapic 0\.2 profile: key it '6\.11'"):
        host.register(_Plugin(), "old")
        host.faults()
