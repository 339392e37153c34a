"""Every run ends, classified, whatever the input: no traceback, no hang, no silent ``ok``.

Each case here was found by trying kapic as a hostile user or plugin would (the faults
issue's lists of tracebacks, hangs and silently wrong results).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from kapic import (
    RELAX,
    Apic,
    ApicDriverRegistry,
    BootSpec,
    ExitCode,
    FirmwareEnv,
    FirmwareModel,
    FirmwareSession,
    Kernel,
    LocalApic,
    LocalX2Apic,
    MadtError,
    MadtHandler,
    Platform,
    PluginError,
    PluginHost,
    build_machine,
    build_madt,
    describe_madt,
    finalize_madt,
    hookimpl,
    run_boot,
)
from kapic.cli import main


def _host(plugin: object, name: str) -> PluginHost:
    host = PluginHost()
    host.register(plugin, name)
    return host


class _Driver:
    """A driver that wins the probe and carries ``hook`` as wakeup_secondary_cpu."""

    def __init__(self, hook: Any) -> None:
        self.hook = hook

    @hookimpl
    def kapic_register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        registry.apic_driver(Apic("test apic", probe=lambda kernel: True,
                                  wakeup_secondary_cpu=self.hook), before="NumaConnect system")


# -- tracebacks -------------------------------------------------------------------------------


def test_a_platform_with_a_negative_parameter_is_a_load_error() -> None:
    class _Bad:
        @hookimpl
        def kapic_platforms(self) -> list[Platform]:
            return [Platform("neg", "negative relax", "kvm", "sipi-wait", True, True,
                             params={"relax_ns": -100})]

    with pytest.raises(PluginError, match=r"platform 'neg': parameter relax_ns = -100") as info:
        _host(_Bad(), "neg-platform")
    assert info.value.plugin == "neg-platform"


def test_a_callback_scheduled_straight_on_the_engine_is_still_blamed() -> None:
    def boom(_arg: object) -> None:
        raise RuntimeError("timer fired into nothing")

    def scheduling(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                   ) -> Generator[Any, Any, int]:
        kernel.engine.schedule(1_000, boom)  # not through FirmwareEnv: no guard on it
        yield 5_000
        return 0

    result = run_boot(BootSpec(cpus=2), plugins=_host(_Driver(scheduling), "scheduler"))
    assert result.result == "plugin-error"
    assert result.plugin_error is not None
    assert result.plugin_error["plugin"] == "scheduler"
    assert result.plugin_error["callable"] == "boom()"
    assert "timer fired into nothing" in result.plugin_error["message"]


def test_a_file_name_that_is_not_utf8_does_not_crash_the_output(tmp_path: Path) -> None:
    name = os.fsdecode(b"table\xff.bin")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    built = subprocess.run([sys.executable, "-m", "kapic", "madt", "build", "--cpus", "2",
                            "-o", name], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    decoded = subprocess.run([sys.executable, "-m", "kapic", "madt", "decode", name],
                             cwd=tmp_path, env=env, capture_output=True, text=True)
    assert decoded.returncode == 0, decoded.stderr
    assert "Traceback" not in built.stderr + decoded.stderr


# -- hangs ------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("argv", [["madt", "decode"], ["boot", "--madt"],
                                  ["compare", "--madt"]])
def test_a_fifo_with_no_writer_is_empty_input_not_a_hang(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    assert main([*argv, str(fifo)]) == ExitCode.FAILED
    assert time.monotonic() - start < 5
    assert f"{fifo}: offset 0 (0x0): field signature: empty input" in capsys.readouterr().err


def test_compare_names_a_device_it_reads_not_a_temporary_file(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "--madt", "/dev/null"]) == ExitCode.FAILED
    assert capsys.readouterr().err.startswith("kapic: error: /dev/null: offset 0")


def never_yields(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                 ) -> Generator[Any, Any, int]:
    while True:  # a tight loop that never gives the simulation back
        pass
    yield 0  # pragma: no cover (makes it a generator function)


def test_a_hook_that_never_yields_is_stopped_by_the_wall_clock_budget() -> None:
    spec = BootSpec(cpus=2, wall_budget_s=0.3)
    start = time.monotonic()
    result = run_boot(spec, plugins=_host(_Driver(never_yields), "spinner"))
    assert time.monotonic() - start < 5
    assert result.result == "plugin-error"
    assert result.plugin_error is not None
    assert result.plugin_error["plugin"] == "spinner"
    assert result.plugin_error["callable"] == "never_yields()"
    assert "more than 0.3 s of wall time" in result.plugin_error["message"]


def test_the_event_budget_counts_from_the_last_progress_not_per_cpu() -> None:
    def endless(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                ) -> Generator[Any, Any, int]:
        if apicid < 40:  # the first APs come up through INIT/SIPI, the 40th never settles
            fallback = kernel.wakeup_secondary_cpu_via_init
            assert fallback is not None
            return (yield from fallback(kernel, apicid, start_ip, cpu))
        while True:
            yield 1  # one event per ns: never settles

    machine = build_machine(BootSpec(cpus=64, kernel="seed"), _host(_Driver(endless), "endless"))
    result = machine.boot(max_events=50_000)
    assert result.result == "hung"
    assert result.cpus_online == 40
    assert any("stopped after 50000 events without progress" in r for r in result.reasons)
    assert machine.engine.events < machine.recorder.progress_events + 50_000 + 10


def test_a_hook_reporting_progress_forever_is_stopped_by_the_wall_clock_budget() -> None:
    # Each progress starts the event budget again; the wall-clock budget bounds the whole
    # boot, so even a hook that claims progress at every step ends.
    def liar(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
        while True:
            kernel.progressed()
            yield RELAX

    machine = build_machine(BootSpec(cpus=2, kernel="6.1", wall_budget_s=0.5),
                            _host(_Driver(liar), "liar"))
    start = time.monotonic()
    result = machine.boot(max_events=10_000)
    assert time.monotonic() - start < 10
    assert result.result == "hung"
    assert any("stopped after 0.5 s of wall time (--wall-budget)" in r for r in result.reasons)


@pytest.mark.parametrize("recording", ["summary", "spans"])
def test_a_span_with_a_float_time_is_a_plugin_error_at_every_recording_level(
        recording: str) -> None:
    def floaty(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
        kernel.span("mine", kernel.now / 1, cpu)  # type: ignore[arg-type]
        fallback = kernel.wakeup_secondary_cpu_via_init
        assert fallback is not None
        return (yield from fallback(kernel, apicid, start_ip, cpu))

    result = run_boot(BootSpec(cpus=2), plugins=_host(_Driver(floaty), "floaty"),
                      recording=recording)
    assert result.result == "plugin-error"
    assert result.plugin_error is not None and result.plugin_error["plugin"] == "floaty"
    assert "kernel.span('mine', start_ns=358305.0, target=1" in result.plugin_error["message"]


# -- silently wrong -----------------------------------------------------------------------------


def test_system_exit_in_a_hook_is_a_plugin_error(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    class _Exiting:
        @hookimpl
        def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
            raise SystemExit(0)

    result = run_boot(BootSpec(cpus=2), plugins=_host(_Exiting(), "exiter"))
    assert result.result == "plugin-error"
    assert "raised SystemExit: 0" in result.reasons[0]


def test_a_cpu_started_twice_fails_instead_of_ending_ok() -> None:
    def twice(kernel: Kernel, apicid: int, start_ip: int, cpu: int
              ) -> Generator[Any, Any, int]:
        kcpu = kernel.cpu_by_apicid(apicid)
        assert kcpu is not None
        hw = kernel.hw_cpu(kcpu)
        assert hw is not None
        kernel.board.start_cpu(hw, start_ip, "real")
        yield 2_000_000  # the AP is alive by now
        if apicid == 2:
            kernel.board.start_cpu(hw, start_ip, "real")  # a second wakeup of the same CPU
        return 0

    result = run_boot(BootSpec(cpus=3, kernel="seed"), plugins=_host(_Driver(twice), "twice"))
    assert result.result == "cpu-failed"
    assert result.cpus[2].state == "failed"
    assert "started again at 0x99000 (real mode) before it came alive" in (
        result.cpus[2].error or "")


@pytest.mark.parametrize("address", [-8, 1 << 52])
def test_a_write_outside_physical_memory_is_a_plugin_error(address: int) -> None:
    def wild(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
        kernel.mem.write_once(address, 8, 1)
        yield 0
        return 0

    result = run_boot(BootSpec(cpus=2), plugins=_host(_Driver(wild), "wild"))
    assert result.result == "plugin-error"
    assert "outside the 52-bit physical address space" in result.reasons[0]


def test_a_madt_handler_returning_a_string_is_a_plugin_error() -> None:
    class _Str:
        @hookimpl
        def kapic_madt_handlers(self) -> list[MadtHandler]:
            def handler(kernel: Kernel, entry: Any, end: int) -> Any:
                return "0"  # a string where the kernel returns an int

            return [MadtHandler(0x10, handler, max_entries=1)]

    result = run_boot(BootSpec(platform="tdx", cpus=2), plugins=_host(_Str(), "str-madt"))
    assert result.result == "plugin-error"
    assert "returned '0': expected 0 or a negative errno" in result.reasons[0]


def test_a_firmware_callback_raising_during_offline_is_a_plugin_error() -> None:
    class _Session(FirmwareSession):
        def reset_vector_entry(self, cpu: Any, vector: int) -> bool:
            raise RuntimeError("reset vector points nowhere")

    tdvf = PluginHost().firmware("tdvf")

    class _Fw(FirmwareModel):
        name = "offline-breaks"
        polls_mailbox = True

        def publish_madt(self, madt: Any) -> Any:
            return tdvf.publish_madt(madt)  # TDVF's table and its mailbox loop: a boot works

        def park(self, env: FirmwareEnv) -> FirmwareSession:
            tdvf.park(env)
            return _Session()

    class _Plugin:
        @hookimpl
        def kapic_firmware_models(self) -> list[FirmwareModel]:
            return [_Fw()]

    machine = build_machine(BootSpec(platform="tdx", firmware="offline-breaks", cpus=3),
                            _host(_Plugin(), "offline-fw"))
    assert machine.boot().result == "ok"
    machine.offline([2])
    result = machine.result()
    assert result.result == "plugin-error"
    assert "reset vector points nowhere" in result.reasons[0]


def test_offline_refused_by_the_kernel_is_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    # the seed (5.19) kernel on TDX cannot offline CPUs: -EOPNOTSUPP
    code = main(["boot", "--platform", "tdx", "--kernel", "seed", "--cpus", "3",
                 "--offline", "2"])
    out = capsys.readouterr().out
    assert code == ExitCode.FAILED
    assert "cpu_down(CPU2) = -95 (-EOPNOTSUPP): the kernel did not take it offline" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["compare", "--firmware", "nosuch"], "unknown firmware model 'nosuch'"),
    (["boot", "--watchdog", "1e-10"], "--watchdog 1e-10: must be between"),
    (["boot", "--seed", "-5"], "-5 is negative"),
    (["boot", "--wall-budget", "-1"], "--wall-budget -1.0: must be between"),
])
def test_bad_options_are_usage_errors(argv: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_a_table_without_enabled_processors_names_the_file_and_the_field(tmp_path: Path) -> None:
    madt = describe_madt(cpus=1)
    off = [dataclasses.replace(e, flags=0) if isinstance(e, LocalApic | LocalX2Apic) else e
           for e in madt.subtables]
    path = tmp_path / "none.bin"
    path.write_bytes(build_madt(finalize_madt(dataclasses.replace(madt, subtables=tuple(off)))))
    with pytest.raises(MadtError) as info:
        build_machine(BootSpec(madt=str(path)))
    assert str(path) in str(info.value)
    assert "Processor Local APIC / Processor Local x2APIC entries" in str(info.value)


def test_more_cpus_than_kapic_models_is_refused(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kapic.api.MAX_CPUS", 3)
    path = tmp_path / "big.bin"
    path.write_bytes(build_madt(describe_madt(cpus=4)))
    with pytest.raises(MadtError, match="4 enabled processors: kapic models at most 3 CPUs"):
        build_machine(BootSpec(madt=str(path)))


# -- reproducible from its JSON ---------------------------------------------------------------


def test_a_boot_replays_from_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["boot", "--json", "--platform", "tdx", "--kernel", "seed", "--cpus", "4",
            "--seed", "7", "--relaxed-memory", "--param", "vcpu_delay_ns=20000"]
    assert main(argv) == ExitCode.OK
    first = capsys.readouterr().out
    saved = tmp_path / "boot.json"
    saved.write_text(first)
    assert json.loads(first)["spec"]["relaxed_memory"] is True
    assert json.loads(first)["spec"]["params"] == {"vcpu_delay_ns": "20000"}
    assert main(["boot", "--json", "--replay", str(saved)]) == ExitCode.OK
    again = capsys.readouterr().out
    a, b = json.loads(first), json.loads(again)
    a.pop("wall_seconds")
    b.pop("wall_seconds")
    assert a == b


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not a 'kapic boot --json' output"),
    ('{"result": "ok"}', "no 'spec' object"),
    ('{"spec": {"platform": "tdx", "colour": 1}}', "field spec.colour: unknown key 'colour'"),
    ('{"spec": {"cpus": "8"}}', "field spec.cpus: '8' is not of the right type"),
])
def test_a_bad_replay_file_is_one_line(content: str, message: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["boot", "--replay", str(path)]) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_replay_refuses_other_machine_options(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--replay", str(tmp_path / "x.json"), "--cpus", "4"]) == ExitCode.USAGE
    assert "drop --cpus" in capsys.readouterr().err
