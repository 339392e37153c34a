"""Hostile plugins: each way a plugin can be wrong ends the boot at once, naming the culprit.

A raising MADT handler, hook, firmware callback or wakeup handler; a wakeup handler returning
a bool or None, being a plain function or yielding garbage; a misspelt hook; a duplicate
platform. Each gives result ``plugin-error`` (or a load-time :class:`PluginError`) naming the
plugin, its distribution, the callable, the CPU and the simulated time, and the command line
prints one line on stderr and exits 4, with the traceback only under ``--debug`` and in
``--json``. A ``wrapper=True`` hookimpl works, since hooks are called through pluggy.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import kapic_acpi_mailbox
import kapic_init_sipi
import pytest

from kapic import (
    RELAX,
    Apic,
    ApicDriverRegistry,
    BootResult,
    BootSpec,
    ExitCode,
    FirmwareEnv,
    FirmwareModel,
    FirmwareSession,
    Kernel,
    MadtHandler,
    Platform,
    PluginError,
    PluginFault,
    PluginHost,
    build_machine,
    hookimpl,
    run_boot,
)
from kapic.cli import main
from kapic.plugin import AUTOLOAD_ENV

# -- helpers ----------------------------------------------------------------------------------


def _host(plugin: object, name: str) -> PluginHost:
    host = PluginHost()
    host.register(plugin, name, distribution=f"kapic-{name}")
    return host


def _boot(plugin: object, name: str, **spec: Any) -> BootResult:
    return run_boot(BootSpec(**spec), plugins=_host(plugin, name))


def _assert_plugin_error(result: BootResult, plugin: str, callable_: str,
                         problem: str, cpu: int | None = None) -> None:
    assert result.result == "plugin-error", result.reasons
    error = result.plugin_error
    assert error is not None
    assert error["plugin"] == plugin
    assert error["distribution"] == f"kapic-{plugin}"
    assert callable_ in error["callable"]
    assert problem in error["message"]
    assert error["cpu"] == cpu
    assert error["time_ns"] == result.sim_time_ns
    assert result.reasons[0].startswith(f"plugin {plugin!r} (distribution kapic-{plugin}): ")
    # ended at once: not by the 30 s watchdog
    assert result.sim_time_ns < 1_000_000_000
    assert not any("watchdog" in r for r in result.reasons)


@dataclass(frozen=True)
class _Dist:
    name: str
    version: str


class _EntryPoint:
    def __init__(self, name: str, plugin: object, dist: str) -> None:
        self.name = name
        self.value = f"{dist}:PLUGIN"
        self.dist = _Dist(dist, "1.0")
        self._plugin = plugin

    def load(self) -> object:
        return self._plugin


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``install(plugin, name)``: the built-in wakeup plugins plus ``plugin`` as entry points,
    so that the command line finds it as it finds a third-party plugin."""
    eps = [
        _EntryPoint("init-sipi", kapic_init_sipi.PLUGIN, "kapic"),
        _EntryPoint("acpi-mailbox", kapic_acpi_mailbox.PLUGIN, "kapic"),
    ]

    def entry_points(group: str) -> list[_EntryPoint]:
        assert group == "kapic"
        return list(eps)

    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    def add(plugin: object, name: str) -> None:
        eps.append(_EntryPoint(name, plugin, f"kapic-{name}"))

    yield add


# -- MADT handlers ----------------------------------------------------------------------------


def raising_mp_wake(kernel: Kernel, entry: Any, end: int) -> int:
    raise RuntimeError("cannot parse the wakeup structure")


def bool_mp_wake(kernel: Kernel, entry: Any, end: int) -> int:
    return True  # the kernel returns 0 or -errno, not a bool


class _MadtPlugin:
    def __init__(self, handler: Any) -> None:
        self.handler = handler

    @hookimpl
    def kapic_madt_handlers(self) -> list[MadtHandler]:
        return [MadtHandler(0x10, self.handler, max_entries=1)]


def test_a_raising_madt_handler_ends_the_boot_naming_its_plugin() -> None:
    result = _boot(_MadtPlugin(raising_mp_wake), "bad-madt", platform="tdx", cpus=4)
    _assert_plugin_error(result, "bad-madt", "MADT handler for type 0x10 raising_mp_wake()",
                         "raised RuntimeError: cannot parse the wakeup structure")
    assert result.sim_time_ns == 0
    assert "RuntimeError" in result.plugin_error["traceback"]  # type: ignore[index]


def test_a_madt_handler_returning_a_bool_is_a_plugin_error() -> None:
    result = _boot(_MadtPlugin(bool_mp_wake), "bool-madt", platform="tdx", cpus=2)
    _assert_plugin_error(result, "bool-madt", "bool_mp_wake()", "a bool is not one")


def test_a_madt_handler_gets_its_plugin_stamped() -> None:
    host = _host(_MadtPlugin(bool_mp_wake), "stamped")
    assert {h.plugin for h in host.madt_handlers()} == {"acpi-mailbox", "stamped"}


# -- hooks ------------------------------------------------------------------------------------


class _RaisingPrepare:
    @hookimpl
    def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
        raise ValueError("no SNP here")


class _RaisingDrivers:
    @hookimpl
    def kapic_register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        raise KeyError("apic")


def test_a_raising_smp_prepare_cpus_hook_ends_the_boot() -> None:
    result = _boot(_RaisingPrepare(), "bad-prepare", platform="kvm", cpus=4)
    _assert_plugin_error(result, "bad-prepare", "hook kapic_smp_prepare_cpus",
                         "raised ValueError: no SNP here")
    assert [c.state for c in result.cpus[1:]] == ["not-attempted"] * 3


def test_a_raising_register_apic_drivers_hook_stops_the_machine_being_built() -> None:
    with pytest.raises(PluginFault) as info:
        build_machine(BootSpec(cpus=2), _host(_RaisingDrivers(), "bad-drivers"))
    assert info.value.plugin == "bad-drivers"
    assert info.value.distribution == "kapic-bad-drivers"
    assert "hook kapic_register_apic_drivers: raised KeyError: 'apic'" in str(info.value)


@pytest.mark.parametrize("hook", [
    "kapic_platforms", "kapic_firmware_models", "kapic_wakeup_methods", "kapic_madt_handlers",
    "kapic_madt_subtable_types",
])
def test_each_collecting_hook_that_raises_is_a_load_error_naming_the_plugin(hook: str) -> None:
    def boom(self: object) -> list[object]:
        raise RuntimeError(f"{hook} broke")

    plugin = type("Raising", (), {hook: hookimpl(boom)})()
    with pytest.raises(PluginError) as info:
        _host(plugin, "raiser")
    assert info.value.plugin == "raiser"
    assert info.value.distribution == "kapic-raiser"
    assert f"hook {hook}: raised RuntimeError: {hook} broke" in str(info.value)


def test_a_collecting_hook_returning_none_is_a_load_error_naming_the_plugin() -> None:
    class _ReturnsNone:
        @hookimpl
        def kapic_platforms(self) -> None:
            return None

    with pytest.raises(PluginError, match="returned None, expected a list") as info:
        _host(_ReturnsNone(), "none-platforms")
    assert info.value.plugin == "none-platforms"


# -- firmware ---------------------------------------------------------------------------------


class _FlakySession(FirmwareSession):
    def __init__(self, env: FirmwareEnv) -> None:
        self.env = env

    def fire(self, _arg: object) -> None:
        raise OSError("firmware timer on fire")


class _FlakyFirmware(FirmwareModel):
    name = "flaky"
    summary = "parks the APs, then its timer callback raises"

    def park(self, env: FirmwareEnv) -> FirmwareSession:
        for cpu in env.aps:
            cpu.state = "wait-for-sipi"
        session = _FlakySession(env)
        env.schedule(5_000, session.fire)
        return session


class _FirmwarePlugin:
    @hookimpl
    def kapic_firmware_models(self) -> list[FirmwareModel]:
        return [_FlakyFirmware()]


def test_a_firmware_callback_raising_in_a_scheduled_event_ends_the_boot() -> None:
    result = _boot(_FirmwarePlugin(), "flaky-fw", platform="kvm", firmware="flaky", cpus=4)
    _assert_plugin_error(result, "flaky-fw", "firmware 'flaky' callback",
                         "raised OSError: firmware timer on fire")
    assert result.sim_time_ns == 5_000


def test_a_firmware_park_returning_garbage_is_a_plugin_error() -> None:
    class _Garbage(FirmwareModel):
        name = "garbage"

        def park(self, env: FirmwareEnv) -> Any:
            return 42

    class _Plugin:
        @hookimpl
        def kapic_firmware_models(self) -> list[FirmwareModel]:
            return [_Garbage()]

    with pytest.raises(PluginFault, match=r"park.*returned 42") as info:
        build_machine(BootSpec(firmware="garbage", cpus=2), _host(_Plugin(), "garbage-fw"))
    assert info.value.plugin == "garbage-fw"


# -- wakeup handlers --------------------------------------------------------------------------


def bool_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                ) -> Generator[Any, Any, int]:
    yield 1_000
    return True  # a bool is an int to Python, not to the kernel


def none_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                ) -> Generator[Any, Any, int]:
    yield 1_000
    return None  # type: ignore[return-value]


def plain_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> int:
    return 0  # not a generator function


def garbage_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                   ) -> Generator[Any, Any, int]:
    yield "1 us"
    return 0


class _Driver:
    """A driver that wins the probe and carries ``hook`` as wakeup_secondary_cpu."""

    def __init__(self, hook: Any) -> None:
        self.hook = hook

    @hookimpl
    def kapic_register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        registry.apic_driver(Apic("hostile apic", probe=lambda kernel: True,
                                  wakeup_secondary_cpu=self.hook),
                             before="NumaConnect system")


@pytest.mark.parametrize(("hook", "problem"), [
    (bool_wakeup, "returned True: expected 0 or a negative errno (an int; a bool is not one)"),
    (none_wakeup, "returned None: expected 0 or a negative errno (an int)"),
    (plain_wakeup, "returned 0 instead of a generator: it must be a generator function"),
    (garbage_wakeup, "yielded '1 us': a kernel generator yields a delay in ns"),
], ids=["bool", "none", "plain-function", "yields-garbage"])
@pytest.mark.parametrize("kernel", ["seed", "6.11"])
def test_a_wrong_wakeup_handler_ends_the_boot_on_its_first_cpu(hook: Any, problem: str,
                                                               kernel: str) -> None:
    result = _boot(_Driver(hook), "hostile", platform="bare-metal", kernel=kernel, cpus=4,
                   params={"threads_per_core": "1"})  # CPU1 first
    _assert_plugin_error(result, "hostile", f"wakeup_secondary_cpu {hook.__name__}()", problem,
                         cpu=1)
    # the first CPU is the culprit's, said once; the others were never attempted
    assert [c.state for c in result.cpus] == ["boot-cpu", "failed", "not-attempted",
                                              "not-attempted"]
    assert len(result.reasons) == 1


def test_an_installed_wakeup_handler_is_owned_by_the_plugin_that_installed_it() -> None:
    # apic_update_callback() from a smp_prepare_cpus hook: the handler lives in this test
    # module, the boundary names the plugin whose hook installed it.
    class _Installer:
        @hookimpl
        def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
            kernel.apic_state.apic_update_callback("wakeup_secondary_cpu_64", none_wakeup)

    result = _boot(_Installer(), "installer", platform="tdx", cpus=2)
    _assert_plugin_error(result, "installer", "wakeup_secondary_cpu_64 none_wakeup()",
                         "returned None", cpu=1)


def test_the_guides_dict_counter_poll_still_gives_up() -> None:
    # A bounded poll whose counter lives in kernel.state(): RELAX runs every iteration, so
    # the poll gives up after its 255 reads although its locals never change.
    def counting_wakeup(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                        ) -> Generator[Any, Any, int]:
        st = kernel.state("dict-counter")
        mailbox = kernel.memremap(0x7FFFD000, 4096)
        mailbox.write_once(4, 4, apicid)
        mailbox.write_once(8, 8, start_ip)
        mailbox.store_release(0, 2, 1)
        st["tries"] = 255
        while mailbox.read_once(0, 2):
            st["tries"] -= 1
            if not st["tries"]:
                mailbox.store_release(0, 2, 0)
                return -5
            yield RELAX
        return 0

    class _Counting:
        @hookimpl
        def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
            kernel.apic_state.apic_update_callback("wakeup_secondary_cpu_64", counting_wakeup)

    result = _boot(_Counting(), "counting", platform="tdx", cpus=2,
                   params={"vcpu_delay_ns": "100000"})
    assert result.result == "cpu-failed"
    assert result.cpus[1].error == "do_boot_cpu failed(-5)"
    kick = next(s for s in result.spans if s.name == "kick")
    assert kick.end_ns - kick.start_ns == 254 * 100  # 255 reads, 100 ns apart


# -- loading ----------------------------------------------------------------------------------


class _Misspelt:
    @hookimpl
    def kapic_wakeup_method(self) -> list[object]:  # no s
        return []


class _MisspeltUnmarked:
    def kapic_plaforms(self) -> list[Platform]:
        return []


def test_a_misspelt_hook_is_a_load_error_with_the_nearest_hook(install: Any) -> None:
    install(_Misspelt(), "typo")
    with pytest.raises(PluginError) as info:
        PluginHost()
    assert info.value.plugin == "typo"
    assert info.value.distribution == "kapic-typo"
    assert "kapic_wakeup_method is not a kapic hook; did you mean kapic_wakeup_methods?" in str(
        info.value)


def test_a_misspelt_unmarked_hook_is_a_load_error_too() -> None:
    with pytest.raises(PluginError, match="did you mean kapic_platforms"):
        _host(_MisspeltUnmarked(), "typo")


def test_an_unmarked_hook_function_is_an_implementation() -> None:
    class _Unmarked:
        def kapic_platforms(self) -> list[Platform]:
            return [dataclasses.replace(PluginHost().platform("kvm"), name="kvm-unmarked")]

    assert _host(_Unmarked(), "unmarked").platform("kvm-unmarked").hypervisor == "kvm"


class _DuplicateTdx:
    def __init__(self, override: bool) -> None:
        self.override = override

    @hookimpl
    def kapic_platforms(self) -> list[Platform]:
        tdx = PluginHost().platform("tdx")
        return [dataclasses.replace(tdx, description="a second tdx", override=self.override)]


def test_a_duplicate_platform_name_is_a_load_error_naming_both_plugins() -> None:
    with pytest.raises(PluginError) as info:
        _host(_DuplicateTdx(override=False), "dup")
    message = str(info.value)
    assert "platform 'tdx' is provided by plugin 'builtin-platforms' and by plugin 'dup' " \
        "(distribution kapic-dup)" in message
    assert "override=True" in message


def test_a_duplicate_platform_with_override_replaces_the_other() -> None:
    host = _host(_DuplicateTdx(override=True), "dup")
    assert host.platform("tdx").description == "a second tdx"
    assert [p.name for p in host.platforms()].count("tdx") == 1


# -- pluggy's machinery works: wrappers, monitoring -------------------------------------------


class _SlowKvm:
    """A new-style wrapper: renames and slows down the built-in kvm platform."""

    @hookimpl(wrapper=True)
    def kapic_platforms(self) -> Generator[None, list[list[Platform]], list[list[Platform]]]:
        results = yield
        return [[dataclasses.replace(p, params={**p.params, "ap_alive_ns": 5_000_000})
                 if p.name == "kvm" else p for p in result] for result in results]


def test_a_wrapper_hookimpl_works() -> None:
    host = _host(_SlowKvm(), "slow-kvm")
    assert host.platform("kvm").param("ap_alive_ns") == 5_000_000
    result = run_boot(BootSpec(platform="kvm", cpus=2, params={"jitter_ppm": "0"}), plugins=host)
    assert result.result == "ok"
    assert result.cpus[1].kick_to_alive_ns is not None
    assert result.cpus[1].kick_to_alive_ns >= 5_000_000


def test_a_wrapper_sees_a_raising_hook_and_the_culprit_is_still_named() -> None:
    class _Watcher:
        seen: ClassVar[list[str]] = []

        @hookimpl(wrapper=True)
        def kapic_smp_prepare_cpus(self, kernel: Kernel) -> Generator[None, None, None]:
            try:
                yield
            except ValueError as exc:
                self.seen.append(str(exc))
                raise

    host = _host(_RaisingPrepare(), "bad-prepare")
    host.register(_Watcher(), "watcher")
    result = run_boot(BootSpec(cpus=2), plugins=host)
    assert _Watcher.seen == ["no SNP here"]
    assert result.plugin_error is not None and result.plugin_error["plugin"] == "bad-prepare"


def test_hook_call_monitoring_sees_every_call_and_collections_run_once() -> None:
    host = PluginHost()
    calls: list[str] = []
    host.pm.add_hookcall_monitoring(lambda name, impls, kwargs: calls.append(name),
                                    lambda outcome, name, impls, kwargs: None)
    for _ in range(3):
        run_boot(BootSpec(platform="tdx", cpus=2), plugins=host)
    assert calls.count("kapic_smp_prepare_cpus") == 3
    assert calls.count("kapic_register_apic_drivers") == 3
    assert calls.count("kapic_platforms") == 0  # collected once, when the host was loaded


# -- the command line -------------------------------------------------------------------------


def test_cli_names_the_plugin_in_one_line_and_exits_4(
    install: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    install(_RaisingPrepare(), "bad-prepare")
    assert main(["boot", "--platform", "tdx", "--cpus", "2"]) == ExitCode.PLUGIN
    out, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("kapic: error: plugin 'bad-prepare' (distribution kapic-bad-prepare): "
                          "hook kapic_smp_prepare_cpus (at 0.000000 ms simulated): raised "
                          "ValueError: no SNP here")
    assert "Traceback" not in out + err
    assert "plugin-error:" in out  # the summary line of the boot


def test_cli_debug_adds_the_traceback(install: Any, capsys: pytest.CaptureFixture[str]) -> None:
    install(_RaisingPrepare(), "bad-prepare")
    assert main(["--debug", "boot", "--platform", "tdx", "--cpus", "2"]) == ExitCode.PLUGIN
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert 'raise ValueError("no SNP here")' in err


def test_cli_json_carries_the_plugin_error(install: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    install(_RaisingPrepare(), "bad-prepare")
    assert main(["boot", "--json", "--cpus", "2"]) == ExitCode.PLUGIN
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["result"] == "plugin-error"
    assert doc["plugin_error"]["plugin"] == "bad-prepare"
    assert doc["plugin_error"]["distribution"] == "kapic-bad-prepare"
    assert "Traceback" in doc["plugin_error"]["traceback"]
    assert "Traceback" not in err


def test_cli_load_error_is_one_line(install: Any, capsys: pytest.CaptureFixture[str]) -> None:
    install(_Misspelt(), "typo")
    assert main(["boot"]) == ExitCode.PLUGIN
    err = capsys.readouterr().err
    assert err == ("kapic: error: plugin 'typo' (distribution kapic-typo): kapic_wakeup_method "
                   "is not a kapic hook; did you mean kapic_wakeup_methods?\n")


def test_cli_build_time_fault_in_json(install: Any, capsys: pytest.CaptureFixture[str]) -> None:
    install(_RaisingDrivers(), "bad-drivers")
    assert main(["boot", "--json", "--cpus", "2"]) == ExitCode.PLUGIN
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["result"] == "plugin-error"
    assert doc["plugin_error"]["plugin"] == "bad-drivers"
    assert err.count("\n") == 1


class _BrokenMethodPlugin:
    """A wakeup method whose handler (installed by a MADT-free smp_prepare_cpus hook on kvm)
    returns a bool."""

    @hookimpl
    def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
        if kernel.platform.name == "kvm":
            kernel.apic_state.apic_update_callback("wakeup_secondary_cpu", bool_wakeup)


def test_compare_shows_a_plugin_error_row_and_leaves_it_out_of_the_verdict(
    install: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    install(_BrokenMethodPlugin(), "broken-method")
    assert main(["compare", "--json", "--cpus", "2"]) == ExitCode.PLUGIN
    out, err = capsys.readouterr()
    doc = json.loads(out)
    (kvm,) = [r for r in doc["rows"] if r["platform"] == "kvm"]
    assert kvm["outcome"] == "plugin-error"
    assert kvm["method"] == "bool_wakeup() (asked for init-sipi)"  # what ran, and what was asked
    runs = [r for r in doc["runs"] if r["platform"] == "kvm"]
    assert {r["plugin_error"]["plugin"] for r in runs} == {"broken-method"}
    assert "broken-method" in err and err.count("\n") == 1
    assert main(["compare", "--cpus", "2"]) == ExitCode.PLUGIN
    text = capsys.readouterr().out
    compared = [line for line in text.splitlines()
                if line.startswith(("* Wakeup", "* Whole bring-up"))]
    assert compared and not any("on kvm" in line for line in compared)  # left out
    assert ("bool_wakeup() (asked for init-sipi) on kvm (Linux 7.2) was stopped by a plugin's "
            "error (left out of the comparison)") in text


def test_compare_says_a_fault_that_broke_every_run_once(
    install: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    install(_RaisingPrepare(), "bad-prepare")
    assert main(["compare", "--cpus", "2"]) == ExitCode.PLUGIN
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "hook kapic_smp_prepare_cpus" in err
    assert "(runs: acpi-mailbox on tdx, init-sipi on bare-metal, init-sipi on kvm" in err


def test_cli_load_error_in_json(install: Any, capsys: pytest.CaptureFixture[str]) -> None:
    install(_Misspelt(), "typo")
    assert main(["boot", "--json"]) == ExitCode.PLUGIN
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["result"] == "plugin-error"
    assert doc["plugin_error"]["plugin"] == "typo"
    assert err.count("\n") == 1


def test_a_wrong_hook_signature_is_one_line(install: Any,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    class _WrongArgs:
        @hookimpl
        def kapic_smp_prepare_cpus(self, kernel: Kernel, colour: str) -> None:
            pass

    install(_WrongArgs(), "wrong-args")
    assert main(["boot"]) == ExitCode.PLUGIN
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "plugin 'wrong-args' (distribution kapic-wrong-args)" in err and "colour" in err


def test_two_fallback_wakeup_methods_are_a_load_error() -> None:
    class _SecondFallback:
        @hookimpl
        def kapic_wakeup_methods(self) -> list[Any]:
            init_sipi = PluginHost().method("init-sipi")
            return [dataclasses.replace(init_sipi, name="init-sipi-again")]

    with pytest.raises(PluginError, match="the kernel has one INIT/SIPI fallback") as info:
        _host(_SecondFallback(), "second")
    assert info.value.plugin == "second"


# -- found by a plugin author's review ---------------------------------------------------------


def test_a_plugin_that_fails_its_check_leaves_the_host_as_it_was() -> None:
    host = PluginHost()
    with pytest.raises(PluginError):
        host.register(_DuplicateTdx(override=False), "dup")
    assert host.platform("tdx").description != "a second tdx"
    assert run_boot(BootSpec(platform="tdx", cpus=2), plugins=host).result == "ok"
    assert "dup" not in {p.name for p in host.plugins()}


def test_registering_an_installed_plugin_again_does_nothing() -> None:
    host = PluginHost()
    host.register(kapic_init_sipi.PLUGIN, "init-sipi")  # already there, from its entry point
    assert [m.name for m in host.wakeup_methods()].count("init-sipi") == 1


def test_a_wrapper_that_reshapes_a_collecting_hook_is_named() -> None:
    class _Flattening:
        @hookimpl(wrapper=True)
        def kapic_platforms(self) -> Generator[None, list[list[Platform]], list[Platform]]:
            results = yield
            return [p for result in results for p in result]

    with pytest.raises(PluginError, match="a wrapper of hook kapic_platforms changed") as info:
        _host(_Flattening(), "flattening")
    assert info.value.plugin == "flattening"


def test_a_firmware_write_callback_fault_names_the_address_written() -> None:
    class _Session(FirmwareSession):
        def on_write(self, addr: int, size: int) -> None:
            raise KeyError(addr)

    class _Watching(FirmwareModel):
        name = "watching"

        def park(self, env: FirmwareEnv) -> FirmwareSession:
            for cpu in env.aps:
                cpu.state = "wait-for-sipi"
            session = _Session()
            env.on_write(0x7FFF0000, 0x7FFF1000, session.on_write)
            return session

    class _Plugin:
        @hookimpl
        def kapic_firmware_models(self) -> list[FirmwareModel]:
            return [_Watching()]

        @hookimpl
        def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
            kernel.memremap(0x7FFF0000, 4096).write_once(0x18, 4, 1)

    result = _boot(_Plugin(), "watching-fw", firmware="watching", cpus=2)
    _assert_plugin_error(result, "watching-fw", "(on a 4-byte write to 0x7fff0018)", "KeyError")


def test_a_loop_stopped_by_the_event_limit_keeps_its_simulated_time() -> None:
    def endless(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                ) -> Generator[Any, Any, int]:
        while True:
            yield RELAX

    host = _host(_Driver(endless), "endless")
    result = build_machine(BootSpec(cpus=2), host).boot(max_events=10_000)
    assert result.result == "hung"
    assert result.sim_time_ns < 10_000 * 200  # where the loop was, not the 30 s watchdog
    assert any("stopped after 10000 events" in r for r in result.reasons)


@pytest.mark.parametrize("argv", [["compare", "--json"], ["plugins", "--json"]])
def test_json_commands_give_an_object_on_a_load_error(
    argv: list[str], install: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    install(_Misspelt(), "typo")
    assert main(argv) == ExitCode.PLUGIN
    doc = json.loads(capsys.readouterr().out)
    assert doc["result"] == "plugin-error"
    assert doc["plugin_error"]["plugin"] == "typo"
