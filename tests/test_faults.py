"""The fault catalogue: every scenario runs with its defaults on every kernel profile and
gives the outcome it documents; faults are seeded, recorded and replayable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kapic import BootSpec, ConfigError, ExitCode, PluginHost, run_boot
from kapic.cli import main
from kapic.errors import MadtError

HOST = PluginHost()
CASES = [(f.name, profile) for f in sorted(HOST.faults(), key=lambda f: f.name)
         for profile in ("seed", "upstream")]


@pytest.mark.parametrize(("name", "profile"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_each_fault_gives_the_outcome_it_documents(name: str, profile: str) -> None:
    fault = HOST.fault(name)
    expected = fault.expected[profile]
    spec = BootSpec(platform=fault.platform, kernel=profile, cpus=4, faults=(name,))
    if expected.result == "invalid-input":
        with pytest.raises(MadtError):
            run_boot(spec, plugins=HOST)
        return
    result = run_boot(spec, plugins=HOST)
    if expected.result != "varies":
        assert result.result == expected.result, result.reasons
    assert result.spec is not None and result.spec["faults"] == [name]


def test_every_fault_documents_both_profiles_and_a_reason() -> None:
    for fault in HOST.faults():
        assert set(fault.expected) == {"seed", "upstream"}, fault.name
        assert fault.layer in ("firmware", "hypervisor", "kernel", "madt"), fault.name
        for expect in fault.expected.values():
            assert expect.result in ("ok", "cpu-failed", "hung", "invalid-input",
                                     "plugin-error", "varies")
            assert expect.result == "ok" or expect.why, fault.name


def test_the_catalogue_has_the_issues_scenarios() -> None:
    names = {f.name for f in HOST.faults()}
    assert {"ap-never-ack", "ap-late-ack", "ap-ack-wrong-cpu", "ap-ack-2-bytes",
            "fw-ignore-command", "fw-32bit-vector", "vcpu-delay", "vcpu-delay-random",
            "vmm-late-wake", "vmm-wrong-apicid", "ipi-drop", "ipi-duplicate",
            "vcpu-never-runs", "plugin-plain-store", "double-wakeup", "mailbox-zero",
            "mailbox-unaligned"} <= names


def test_a_plain_store_is_caught_by_relaxed_memory_in_some_seeds() -> None:
    outcomes = [run_boot(BootSpec(platform="tdx", cpus=8, seed=seed, faults=(
        "plugin-plain-store",), watchdog_ns=2_000_000_000), plugins=HOST).result
                for seed in range(12)]
    assert "ok" in outcomes and set(outcomes) - {"ok"}  # some seeds catch it, some do not


def test_a_fault_is_seeded_and_deterministic() -> None:
    spec = BootSpec(platform="tdx", kernel="seed", cpus=8, faults=("vcpu-delay-random:max_us=40",))
    a, b = run_boot(spec, plugins=HOST), run_boot(spec, plugins=HOST)
    a.wall_seconds = b.wall_seconds = 0.0
    assert a.to_json() == b.to_json()
    other = run_boot(BootSpec(platform="tdx", kernel="seed", cpus=8, seed=1,
                              faults=("vcpu-delay-random:max_us=40",)), plugins=HOST)
    assert [c.state for c in other.cpus] != [c.state for c in a.cpus] or (
        other.sim_time_ns != a.sim_time_ns)


def test_parameters_change_the_outcome() -> None:
    quick = run_boot(BootSpec(platform="tdx", kernel="seed", cpus=4,
                              faults=("ap-late-ack:us=10",)), plugins=HOST)
    slow = run_boot(BootSpec(platform="tdx", kernel="seed", cpus=4,
                             faults=("ap-late-ack:us=50",)), plugins=HOST)
    assert (quick.result, slow.result) == ("ok", "cpu-failed")  # the 255 polls last ~25 us


@pytest.mark.parametrize(("fault", "message"), [
    ("no-such-fault", "unknown fault 'no-such-fault'"),
    ("vcpu-delay:ms=3", "--fault vcpu-delay: unknown parameter 'ms' (its parameters: us)"),
    ("vcpu-delay:us=soon", "--fault vcpu-delay: us='soon' is not an integer"),
    ("vcpu-delay:us", "expected NAME[:KEY=VALUE,...]"),
    ("madt-corrupt:kind=melted", "kind='melted' (kinds: zero-length"),
])
def test_a_bad_fault_is_a_usage_error(fault: str, message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--fault", fault]) == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert main(["compare", "--fault", fault]) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_faults_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faults", "--json"]) == ExitCode.OK
    doc = json.loads(capsys.readouterr().out)
    listed = {f["name"]: f for f in doc["faults"]}
    assert set(listed) == {f.name for f in HOST.faults()}
    assert listed["vcpu-delay"]["params"] == [
        {"name": "us", "default": 100, "help": "how late, in microseconds"}]
    assert listed["vcpu-never-runs"]["expected"]["upstream"]["result"] == "hung"
    assert listed["ap-never-ack"]["plugin"] == "acpi-mailbox"
    assert main(["faults"]) == ExitCode.OK
    assert "vmm-late-wake:margin_us=5  [hypervisor, on tdx, acpi-mailbox]" in (
        capsys.readouterr().out)


def test_compare_runs_every_row_under_the_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--json", "--kernel", "seed", "--fault", "vcpu-delay",
                 "--repeat", "1"]) == ExitCode.OK
    rows = {(r["asked"], r["platform"]): r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["acpi-mailbox", "tdx"]["outcome"] == "cpu-failed"  # the poll times out
    assert rows["init-sipi", "kvm"]["outcome"] == "ok"  # INIT/SIPI waits 10 s for a vCPU


def test_a_faulty_boot_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--json", "--platform", "tdx", "--kernel", "seed", "--seed", "3",
                 "--fault", "vcpu-delay-random:max_us=40"]) in (ExitCode.OK, ExitCode.FAILED)
    first = capsys.readouterr().out
    (tmp_path / "boot.json").write_text(first)
    main(["boot", "--json", "--replay", str(tmp_path / "boot.json")])
    again = capsys.readouterr().out
    a, b = json.loads(first), json.loads(again)
    a.pop("wall_seconds")
    b.pop("wall_seconds")
    assert a == b


def test_a_fault_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="--fault vcpu-delay given twice"):
        run_boot(BootSpec(faults=("vcpu-delay", "vcpu-delay:us=3")), plugins=HOST)
