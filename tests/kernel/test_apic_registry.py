"""The APIC driver registry and the wakeup-hook override machinery (reference 3.1-3.6)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from kapic import (
    Apic,
    ApicDriverRegistry,
    BootSpec,
    Kernel,
    PluginError,
    PluginHost,
    build_machine,
    hookimpl,
)

#: xAPIC mode: the x2APIC drivers decline, so physical flat / flat / a third party can win
XAPIC = {"x2apic": "0"}

BUILTIN_ORDER = [
    "NumaConnect system",
    "NumaConnect2 system",
    "UV large system",
    "physical x2apic",
    "cluster x2apic",
    "physical flat",
    "flat",
]


def fake_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
    yield 0
    return 0


def other_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
    yield 0
    return 0


def _messages(kernel: Kernel) -> list[str]:
    return [m for _t, _lvl, m in kernel.log]


def test_builtin_drivers_are_in_link_order() -> None:
    machine = build_machine(BootSpec(platform="bare-metal", cpus=2, kernel="6.11"))
    assert [d.name for d in machine.kernel.registry.drivers] == BUILTIN_ORDER
    # 64-bit: apic = &apic_flat until something else is installed
    assert machine.kernel.apic_state.apic.name == "flat"
    # 6.12 removed the logical flat driver: &apic_physflat from the start
    latest = build_machine(BootSpec(platform="bare-metal", cpus=2))
    assert latest.kernel.apic_state.apic.name == "physical flat"
    assert "flat" not in [d.name for d in latest.kernel.apic_state.drivers]


def test_registering_a_driver_twice_is_a_plugin_error() -> None:
    registry = ApicDriverRegistry()
    registry.apic_driver(Apic("x", plugin="p"))
    with pytest.raises(PluginError, match="registered twice"):
        registry.apic_driver(Apic("x", plugin="p"))


# -- seed (5.19-6.5): acpi_wake_cpu_handler_update() over every driver ----------------------


def test_seed_handler_update_writes_every_registered_driver() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="seed", cpus=2))
    state = machine.kernel.apic_state
    state.acpi_wake_cpu_handler_update(fake_wakeup)
    assert all(d.wakeup_secondary_cpu_64 is fake_wakeup for d in machine.kernel.registry.drivers)
    assert state.override == {}


def test_seed_boot_installs_acpi_wakeup_cpu_in_every_driver() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="seed", cpus=2))
    result = machine.boot()
    assert result.result == "ok", result.reasons
    handlers = {d.name: d.wakeup_secondary_cpu_64 for d in machine.kernel.registry.drivers}
    assert set(handlers) == set(BUILTIN_ORDER)
    names = {h.__name__ if h is not None else None for h in handlers.values()}
    assert names == {"acpi_wakeup_cpu"}
    assert len({id(h) for h in handlers.values()}) == 1


# -- upstream (6.6+): apic_update_callback() + apic_install_driver() ------------------------


def test_upstream_update_callback_records_the_override_and_logs() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="6.11", cpus=2))
    kernel = machine.kernel
    state = kernel.apic_state
    flat = state.apic
    state.apic_update_callback("wakeup_secondary_cpu_64", fake_wakeup)
    assert state.override == {"wakeup_secondary_cpu_64": fake_wakeup}
    assert flat.wakeup_secondary_cpu_64 is fake_wakeup
    assert "APIC: wakeup_secondary_cpu_64() replaced with fake_wakeup()" in _messages(kernel)
    # drivers never installed are not touched (unlike 5.19's loop)
    assert kernel.registry.by_name("physical flat").wakeup_secondary_cpu_64 is None


def test_upstream_override_survives_a_driver_switch() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="6.11", cpus=2))
    kernel = machine.kernel
    state = kernel.apic_state
    state.apic_update_callback("wakeup_secondary_cpu_64", fake_wakeup)
    physflat = kernel.registry.by_name("physical flat")
    state.apic_install_driver(physflat)
    assert state.apic is physflat
    assert physflat.wakeup_secondary_cpu_64 is fake_wakeup
    assert "APIC: Switched APIC routing to: physical flat" in _messages(kernel)


def test_upstream_direct_assignment_is_lost_on_a_switch() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="6.11", cpus=2))
    kernel = machine.kernel
    state = kernel.apic_state
    state.apic_update_callback("wakeup_secondary_cpu_64", fake_wakeup)
    state.apic.wakeup_secondary_cpu = other_wakeup  # 5.x style: not recorded
    state.apic.wakeup_secondary_cpu_64 = other_wakeup  # overwrites the override on flat only
    physflat = kernel.registry.by_name("physical flat")
    state.apic_install_driver(physflat)
    assert physflat.wakeup_secondary_cpu is None
    # the recorded override, not the direct write, is what the new driver gets
    assert physflat.wakeup_secondary_cpu_64 is fake_wakeup
    assert "wakeup_secondary_cpu" not in state.override


def test_installing_the_current_driver_is_a_no_op() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="6.11", cpus=2))
    kernel = machine.kernel
    before = list(kernel.log)
    kernel.apic_state.apic_install_driver(kernel.apic_state.apic)
    assert kernel.log == before


def test_update_callback_rejects_non_wakeup_fields() -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel="6.11", cpus=2))
    with pytest.raises(ValueError):
        machine.kernel.apic_state.apic_update_callback("eoi", fake_wakeup)


# -- the real post-MADT driver switch in a full boot ---------------------------------------


@pytest.mark.parametrize("kernel", ["seed", "6.11"])
def test_mailbox_hook_survives_the_post_madt_switch_to_physflat(kernel: str) -> None:
    """Bare metal (xAPIC) with 16 CPUs and a mailbox firmware: the MADT (parsed while
    ``apic`` is flat) installs acpi_wakeup_cpu, then the final probe switches to physical
    flat (num_possible_cpus() > 8). Every AP must still be woken through the mailbox."""
    machine = build_machine(
        BootSpec(platform="bare-metal", kernel=kernel, cpus=16, firmware="tdvf", params=XAPIC)
    )
    result = machine.boot()
    assert result.result == "ok", result.reasons
    assert machine.kernel.apic_state.apic.name == "physical flat"
    assert result.cpus_online == 16
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"acpi_wakeup_cpu"}
    assert result.counters["icr_writes"] == 0
    assert result.counters["mailbox_handshakes"] == 15
    messages = [line.split("] ", 1)[1] for line in result.log]
    switch = (
        "APIC: Switched APIC routing to: physical flat"
        if kernel == "6.11"
        else "Switched APIC routing to physical flat."
    )
    assert switch in messages
    if kernel == "6.11":
        replaced = messages.index("APIC: wakeup_secondary_cpu_64() replaced with acpi_wakeup_cpu()")
        assert replaced < messages.index(switch)


@pytest.mark.parametrize("kernel", ["seed", "6.11"])
def test_tdx_16_cpus_all_woken_by_acpi_wakeup_cpu(kernel: str) -> None:
    machine = build_machine(BootSpec(platform="tdx", kernel=kernel, cpus=16))
    result = machine.boot()
    assert result.result == "ok", result.reasons
    # a guest without interrupt remapping ends in physical x2APIC mode: the hook installed at
    # MADT time (under cluster x2apic) survived the final probe's switch
    assert machine.kernel.apic_state.apic.name == "physical x2apic"
    assert machine.kernel.apic_state.apic.wakeup_secondary_cpu_64 is not None
    assert result.cpus_online == 16
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"acpi_wakeup_cpu"}


# -- third-party drivers ---------------------------------------------------------------------


class _TestApicPlugin:
    def __init__(self, probe: bool) -> None:
        self.probe = probe

    @hookimpl
    def kapic_register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        probe = self.probe
        registry.apic_driver(
            Apic("test apic", probe=lambda kernel: probe, plugin="test-apic")
        )


def test_third_party_driver_lands_before_physical_flat_and_wins_the_probe() -> None:
    host = PluginHost()
    host.register(_TestApicPlugin(probe=True), "test-apic")
    machine = build_machine(BootSpec(platform="bare-metal", cpus=4, params=XAPIC), host)
    names = [d.name for d in machine.kernel.registry.drivers]
    assert names == [*BUILTIN_ORDER[:5], "test apic", "physical flat", "flat"]
    result = machine.boot()
    assert result.result == "ok", result.reasons
    assert machine.kernel.apic_state.apic.name == "test apic"
    assert any(line.endswith("APIC: Switched APIC routing to: test apic") for line in result.log)
    # no wakeup hook in the driver: the INIT/SIPI fallback woke the APs
    assert {c.wakeup_handler for c in result.cpus[1:]} == {"wakeup_secondary_cpu_via_init"}


def test_third_party_driver_that_declines_the_probe_leaves_flat() -> None:
    host = PluginHost()
    host.register(_TestApicPlugin(probe=False), "test-apic")
    machine = build_machine(BootSpec(platform="bare-metal", cpus=4, params=XAPIC,
                                     kernel="6.11"), host)
    result = machine.boot()
    assert result.result == "ok"
    assert machine.kernel.apic_state.apic.name == "flat"
