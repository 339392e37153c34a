"""The plugin host: autoload switch, blocking, misbehaving plugins, a raising wakeup hook."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pytest

from kapic import (
    Apic,
    ApicDriverRegistry,
    BootSpec,
    ConfigError,
    Kernel,
    Platform,
    PluginError,
    PluginHost,
    hookimpl,
    run_boot,
)
from kapic.plugin import AUTOLOAD_ENV

BUILTINS = {"builtin-platforms", "builtin-apic-drivers", "builtin-firmware", "builtin-faults"}


# -- autoload and blocking ------------------------------------------------------------------


def test_entry_point_plugins_are_loaded_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    host = PluginHost()
    assert sorted(m.name for m in host.wakeup_methods()) == ["acpi-mailbox", "init-sipi"]
    infos = {i.name: i for i in host.plugins()}
    assert infos["init-sipi"].distribution == "kapic" and not infos["init-sipi"].builtin
    assert infos["builtin-platforms"].builtin


def test_autoload_env_disables_entry_point_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    host = PluginHost()
    assert {i.name for i in host.plugins()} == BUILTINS
    assert host.wakeup_methods() == []
    assert host.madt_handlers() == []
    with pytest.raises(ConfigError, match="unknown wakeup method 'init-sipi'"):
        host.method("init-sipi")
    with pytest.raises(ConfigError, match="firmware model 'tdvf', which no installed plugin"):
        run_boot(BootSpec(platform="tdx", cpus=2), plugins=host)
    # an explicit autoload=True still loads them
    assert len(PluginHost(autoload=True).wakeup_methods()) == 2


def test_without_any_wakeup_plugin_aps_fail_with_enodev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    result = run_boot(BootSpec(platform="bare-metal", cpus=2), plugins=PluginHost())
    assert result.result == "cpu-failed"
    assert any(line.endswith("do_boot_cpu failed(-19) to wakeup CPU#1") for line in result.log)


def test_blocked_plugin_makes_its_method_unknown() -> None:
    host = PluginHost(blocked=["acpi-mailbox"])
    assert [m.name for m in host.wakeup_methods()] == ["init-sipi"]
    with pytest.raises(ConfigError, match="unknown wakeup method 'acpi-mailbox'"):
        host.method("acpi-mailbox")
    with pytest.raises(ConfigError):
        run_boot(BootSpec(method="acpi-mailbox", cpus=2), plugins=host)
    assert run_boot(BootSpec(method="init-sipi", cpus=2), plugins=host).result == "ok"


def test_block_option_syntax() -> None:
    host = PluginHost.from_options(["no:acpi-mailbox"])
    assert host.pm.is_blocked("acpi-mailbox")
    with pytest.raises(ConfigError, match="expected no:NAME"):
        PluginHost.from_options(["acpi-mailbox"])


# -- misbehaving plugins --------------------------------------------------------------------


class _RaisingPlatforms:
    @hookimpl
    def kapic_platforms(self) -> list[Platform]:
        raise RuntimeError("no platforms today")


class _WrongSignature:
    @hookimpl
    def kapic_platforms(self, colour: str) -> list[Platform]:
        return []


class _WrongReturn:
    @hookimpl
    def kapic_platforms(self) -> list[object]:
        return ["bare-metal"]


def test_a_raising_hook_is_a_plugin_error_naming_the_plugin() -> None:
    host = PluginHost()
    with pytest.raises(PluginError) as info:
        host.register(_RaisingPlatforms(), "boom")  # collected (and checked) at once
    assert info.value.plugin == "boom"
    assert "plugin 'boom'" in str(info.value)
    assert "hook kapic_platforms: raised RuntimeError: no platforms today" in str(info.value)


def test_a_wrong_hook_signature_is_a_plugin_error() -> None:
    host = PluginHost()
    with pytest.raises(PluginError) as info:
        host.register(_WrongSignature(), "wrongsig")
    assert info.value.plugin == "wrongsig"
    assert "colour" in str(info.value)


def test_a_hook_returning_the_wrong_type_is_a_plugin_error() -> None:
    host = PluginHost()
    with pytest.raises(PluginError, match="expected a Platform") as info:
        host.register(_WrongReturn(), "wrongret")
    assert info.value.plugin == "wrongret"


@dataclass(frozen=True)
class _FakeDist:
    name: str
    version: str


class _FakeEntryPoint:
    def __init__(self, name: str, plugin: object = None, error: Exception | None = None) -> None:
        self.name = name
        self.value = f"fake_{name}:PLUGIN"
        self.dist = _FakeDist("kapic-fake-plugins", "9.9")
        self._plugin = plugin
        self._error = error

    def load(self) -> object:
        if self._error is not None:
            raise self._error
        return self._plugin


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: _FakeEntryPoint) -> None:
    def entry_points(group: str) -> list[_FakeEntryPoint]:
        assert group == "kapic"
        return list(eps)

    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_entry_point_with_a_wrong_signature_names_plugin_and_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_entry_points(monkeypatch, _FakeEntryPoint("wrongsig", _WrongSignature()))
    with pytest.raises(PluginError) as info:
        PluginHost()
    assert info.value.plugin == "wrongsig"
    assert info.value.distribution == "kapic-fake-plugins"


def test_entry_point_that_fails_to_import_is_a_plugin_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_entry_points(monkeypatch, _FakeEntryPoint("broken", error=ImportError("no module")))
    with pytest.raises(PluginError, match="failed to import fake_broken:PLUGIN") as info:
        PluginHost()
    assert info.value.plugin == "broken"


def test_blocked_entry_point_is_not_even_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    # loading it would raise PluginError (its import fails)
    _fake_entry_points(monkeypatch, _FakeEntryPoint("broken", error=ImportError("no module")))
    host = PluginHost(blocked=["broken"])
    assert host.pm.get_plugin("broken") is None
    assert host.pm.is_blocked("broken")


def test_blocked_plugin_is_not_listed_as_installed() -> None:
    host = PluginHost(blocked=["acpi-mailbox"])
    assert "acpi-mailbox" not in {i.name for i in host.plugins()}


# -- a wakeup handler raising mid-boot ------------------------------------------------------


def raising_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                   ) -> Generator[Any, Any, int]:
    if apicid == 2:
        raise RuntimeError("firmware on fire")
    fallback = kernel.wakeup_secondary_cpu_via_init
    assert fallback is not None
    return (yield from fallback(kernel, apicid, start_ip, cpu))


class _RaisingDriver:
    @hookimpl
    def kapic_register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        registry.apic_driver(
            Apic("raising apic", probe=lambda kernel: True, wakeup_secondary_cpu=raising_wakeup,
                 plugin="raising"),
            before="NumaConnect system",  # first in probe order: wins in any APIC mode
        )


@pytest.mark.parametrize(("kernel", "states"), [
    ("seed", ["boot-cpu", "online", "failed", "not-attempted"]),  # one CPU after the other
    ("6.11", ["boot-cpu", "kicked", "failed", "not-attempted"]),  # parallel: kick all first
])
def test_a_raising_wakeup_handler_ends_the_boot_at_once(kernel: str, states: list[str]) -> None:
    host = PluginHost()
    host.register(_RaisingDriver(), "raising")
    result = run_boot(BootSpec(platform="bare-metal", kernel=kernel, cpus=4,
                               params={"threads_per_core": "1"}), plugins=host)  # CPU1 first
    assert result.result == "plugin-error"
    assert [c.state for c in result.cpus] == states
    assert result.reasons == [
        "plugin 'raising': wakeup_secondary_cpu raising_wakeup() (CPU2, at "
        f"{result.sim_time_ns / 1e6:.6f} ms simulated): raised RuntimeError: firmware on fire"
    ]
    assert result.plugin_error is not None
    assert result.plugin_error["cpu"] == 2
    assert "firmware on fire" in result.plugin_error["traceback"]
