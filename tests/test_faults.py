"""The fault catalogue: every scenario runs with its defaults on every kernel profile and
gives the outcome it documents; faults are seeded, recorded and replayable."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kapic import (
    NAMED_RELEASES,
    BootSpec,
    ConfigError,
    ExitCode,
    Expect,
    Fault,
    FaultContext,
    FaultParam,
    PluginError,
    PluginFault,
    PluginHost,
    build_machine,
    hookimpl,
    parse_kernel_version,
    run_boot,
)
from kapic.acpi import MadtEntry, finalize_madt
from kapic.cli import main
from kapic.errors import MadtError

HOST = PluginHost()
#: the seed and every named release: each side of every gate a fault's outcome depends on
KERNELS = ("seed", *(f"{r[0]}.{r[1]}" for r in NAMED_RELEASES))
CASES = [(f.name, kernel) for f in sorted(HOST.faults(), key=lambda f: f.name)
         for kernel in KERNELS]


@pytest.mark.parametrize(("name", "kernel"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_each_fault_gives_the_outcome_it_documents(name: str, kernel: str) -> None:
    fault = HOST.fault(name)
    expected = fault.expect_at(parse_kernel_version(kernel))
    spec = BootSpec(platform=fault.platform, kernel=kernel, cpus=4, faults=(name,))
    if expected.result == "invalid-input":
        with pytest.raises(MadtError):
            run_boot(spec, plugins=HOST)
        return
    result = run_boot(spec, plugins=HOST)
    if expected.result != "varies":
        assert result.result == expected.result, result.reasons
    assert result.spec is not None and result.spec["faults"] == [name]


def test_every_fault_documents_the_seed_and_every_release_and_a_reason() -> None:
    for fault in HOST.faults():  # kapic's own: a third party's may leave them out
        assert {"seed", "5.19"} <= set(fault.expected), fault.name
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
    assert listed["vcpu-never-runs"]["expected"]["5.19"]["result"] == "hung"
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


# -- found by a hypervisor engineer's review ---------------------------------------------------


def test_compare_survives_a_fault_that_replaces_the_wakeup_hook(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", "--json", "--platform", "tdx", "--fault", "double-wakeup",
                 "--repeat", "1"]) == ExitCode.OK
    rows = {r["asked"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["acpi-mailbox"]["method"] == "acpi_wakeup_cpu_twice() (asked for acpi-mailbox)"
    assert rows["acpi-mailbox"]["outcome"] == "hung"


def _fault_plugin(fault: object) -> PluginHost:
    class _Plugin:
        @hookimpl
        def kapic_faults(self) -> list[object]:
            return [fault]

    host = PluginHost()
    host.register(_Plugin(), "my-faults", distribution="kapic-my-faults")
    return host


def _policy_fault(hook: str, fn: object) -> Fault:
    def apply(ctx: FaultContext, p: object) -> None:
        ctx.hypervisor(lambda policy: setattr(policy, hook, fn))

    return Fault("x-" + hook, "hypervisor", "a broken hook", apply, (),
                 {"seed": Expect("plugin-error", "raises"),
                  "5.19": Expect("plugin-error", "raises")}, platform="kvm")


@pytest.mark.parametrize(("hook", "fn", "problem"), [
    ("extra_delay", lambda cpu: 1 // 0, "raised ZeroDivisionError"),
    ("extra_delay", lambda cpu: 1.5, "returned 1.5: expected a delay in ns"),
    ("extra_delay", lambda cpu: -3, "returned -3: expected a delay in ns"),
    ("copies", lambda src, dest, mode: "2", "returned '2': expected 0, 1 or 2 copies"),
    ("apic_id_seen", lambda cpu: "x", "returned 'x': expected an APIC ID"),
])
def test_a_broken_hypervisor_hook_is_blamed_on_its_fault(hook: str, fn: object,
                                                        problem: str) -> None:
    host = _fault_plugin(_policy_fault(hook, fn))
    platform = "tdx" if hook == "apic_id_seen" else "kvm"
    try:
        result = run_boot(BootSpec(platform=platform, cpus=3, faults=("x-" + hook,)),
                          plugins=host)
        error = result.plugin_error
        assert result.result == "plugin-error"
    except PluginFault as fault:  # asked while the firmware parks the APs: building fails
        error = fault.to_json()
    assert error is not None
    assert error["plugin"] == "my-faults"
    assert error["callable"] == f"fault 'x-{hook}' HypervisorPolicy.{hook}"
    assert problem in error["message"]


def test_two_faults_setting_the_same_hypervisor_answer_are_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="both set the hypervisor's extra_delay"):
        run_boot(BootSpec(platform="tdx", faults=("vcpu-never-runs", "vcpu-delay-random")),
                 plugins=HOST)


@pytest.mark.parametrize(("fault", "error"), [
    (Fault("x-layer", "nowhere", "?", lambda c, p: None), "layer 'nowhere' is not one of"),
    (Fault("x-kernel", "madt", "?", lambda c, p: None, expected={"mainline": Expect("ok", "")}),
     "expected outcome for 'mainline', which is no kernel kapic models"),
    (Fault("x-release", "madt", "?", lambda c, p: None, expected={"5.18": Expect("ok", "")}),
     "expected outcome for '5.18', which is no kernel kapic models"),
    (Fault("x-first", "madt", "?", lambda c, p: None, expected={"seed": Expect("ok", "")}),
     "no expected outcome for '5.19'"),
    (Fault("x-result", "madt", "?", lambda c, p: None,
           expected={"seed": Expect("okay", ""), "5.19": Expect("ok", "")}),
     "expected result 'okay' on seed is not one of"),
])
def test_a_badly_declared_fault_is_a_load_error(fault: Fault, error: str) -> None:
    with pytest.raises(PluginError, match=error) as info:
        _fault_plugin(fault)
    assert info.value.plugin == "my-faults"


def test_a_fault_parameter_is_checked_when_declared() -> None:
    with pytest.raises(ValueError, match="is not one of its choices"):
        FaultParam("kind", "zzz", "?", ("a", "b"))
    with pytest.raises(TypeError, match="must be an int, a float or a str"):
        FaultParam("on", True, "?")


@pytest.mark.parametrize(("text", "message"), [
    ("ipi-drop:p=2", "p=2: at most 1.0"),
    ("ipi-drop:p=nan", "p=nan: must be a finite number"),
    ("vcpu-delay:us=10,us=20", "us given twice"),
])
def test_fault_values_are_checked(text: str, message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--fault", text]) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_a_fault_setting_an_unknown_parameter_is_its_plugins_error() -> None:
    def apply(ctx: FaultContext, p: object) -> None:
        ctx.set_param("no_such_param_ns", 5)

    host = _fault_plugin(Fault("x-param", "hypervisor", "?", apply))
    with pytest.raises(PluginError, match="unknown platform parameter 'no_such_param_ns'") as info:
        run_boot(BootSpec(faults=("x-param",)), plugins=host)
    assert info.value.plugin == "my-faults"


def test_transform_bytes_must_return_bytes() -> None:
    def not_bytes(data: bytes) -> Any:
        return "not bytes"

    def apply(ctx: FaultContext, p: object) -> None:
        ctx.transform_bytes(not_bytes)

    host = _fault_plugin(Fault("x-bytes", "madt", "?", apply))
    with pytest.raises(PluginError, match="returned 'not bytes', expected bytes"):
        run_boot(BootSpec(faults=("x-bytes",)), plugins=host)


def test_the_boot_summary_and_the_compare_table_name_the_fault(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["boot", "--platform", "kvm", "--fault", "ap-never-ack"])
    assert capsys.readouterr().out.splitlines()[-1].endswith(
        "(kvm, Linux 7.2, init-sipi, fault ap-never-ack)")
    main(["compare", "--fault", "ipi-duplicate", "--repeat", "1"])
    assert "FAULT on every run: ipi-duplicate" in capsys.readouterr().out


def test_a_duplicate_enabled_apic_id_is_reported() -> None:
    result = run_boot(BootSpec(cpus=4, faults=("madt-duplicate-apic-id",)), plugins=HOST)
    assert result.result == "ok" and result.cpus_requested == 3
    assert any("lists APIC ID 0x0 for two enabled processors" in r for r in result.reasons)


def test_a_duplicate_of_an_x2apic_boot_cpu_becomes_an_x2apic_entry(tmp_path: Path) -> None:
    # found by bench/fuzz_madt.py: the boot CPU's ID 0x12c does not fit CPU1's 8-bit entry
    from kapic.acpi import build_madt, describe_madt

    table = tmp_path / "apic.bin"
    table.write_bytes(build_madt(describe_madt(apic_ids=[0x12C, 1, 2])))
    result = run_boot(BootSpec(madt=str(table), faults=("madt-duplicate-apic-id",)),
                      plugins=HOST)
    assert result.result == "ok" and result.cpus_requested == 2
    assert any("lists APIC ID 0x12c for two enabled processors" in r for r in result.reasons)


def test_the_plain_store_fault_does_nothing_without_a_mailbox() -> None:
    result = run_boot(BootSpec(platform="kvm", cpus=3, faults=("plugin-plain-store",)),
                      plugins=HOST)
    assert result.result == "ok"


def test_a_fault_sees_the_platform_being_booted() -> None:
    seen: list[str] = []

    def apply(ctx: FaultContext, p: object) -> None:
        seen.append(ctx.platform.name)

    run_boot(BootSpec(platform="kvm", cpus=2, faults=("x-platform",)),
             plugins=_fault_plugin(Fault("x-platform", "hypervisor", "?", apply)))
    assert seen == ["kvm"]


@pytest.mark.parametrize("kind", ["zero-length", "truncated", "bad-signature", "short-entry",
                                  "length-past-input", "tail-byte"])
def test_each_kind_of_corrupt_table_is_invalid_input_naming_offset_and_field(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["boot", "--fault", f"madt-corrupt:kind={kind}"]) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the MADT as fault 'madt-corrupt' left it: offset " in err and "field " in err


def test_a_table_without_the_boot_cpu_still_boots_and_5x_says_so() -> None:
    seed = run_boot(BootSpec(kernel="seed", cpus=4, faults=("madt-no-boot-cpu",)), plugins=HOST)
    assert seed.result == "ok" and seed.cpus_online == 4
    assert any(line.endswith("weird, boot CPU (#0) not listed by the BIOS") for line in seed.log)
    upstream = run_boot(BootSpec(cpus=4, faults=("madt-no-boot-cpu",)), plugins=HOST)
    assert upstream.result == "ok" and not any("weird" in line for line in upstream.log)


def test_the_docs_catalogue_is_the_catalogue() -> None:
    """docs/faults.md's table has one row per fault, with its defaults and its outcomes."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "faults.md").read_text()
    for fault in HOST.faults():
        params = ", ".join(f"`{p.name}={p.default}`" for p in fault.params) or "-"
        spans = [(k, e) for k, e in fault.expected_spans() if k != "seed"]
        releases = (spans[0][1].result if len(spans) == 1
                    else "; ".join(f"{k}: {e.result}" for k, e in spans))
        row = (f"| `{fault.name}` | {fault.layer} | {params} | {fault.summary} | "
               f"{fault.expected['seed'].result} | {releases} |")
        assert row in text, f"docs/faults.md has no row {row}"


@dataclasses.dataclass(frozen=True, slots=True)
class OemTag(MadtEntry):
    """Type 0x81, 10 bytes: a subtable type a plugin adds."""

    type: ClassVar[int] = 0x81
    NAME: ClassVar[str] = "OEM Tag"
    LAYOUT: ClassVar[tuple[tuple[str, str], ...]] = (("tag", "8s"),)

    tag: bytes = b"KAPIC\0\0\0"


def test_a_byte_fault_keeps_the_subtable_types_plugins_add() -> None:
    """The table a byte-changing fault leaves is decoded with the plugins' subtable types, as
    the table before it was (found by review: it fell back to the built-ins)."""
    def apply(ctx: FaultContext, p: object) -> None:
        ctx.transform_madt(lambda madt: finalize_madt(
            dataclasses.replace(madt, subtables=(*madt.subtables, OemTag()))))
        ctx.transform_bytes(lambda data: data)  # the same bytes, decoded again

    class _Plugin:
        @hookimpl
        def kapic_faults(self) -> list[object]:
            return [Fault("x-same-bytes", "madt", "the same bytes", apply, (),
                          Expect.on_every_kernel("ok", ""))]

        @hookimpl
        def kapic_madt_subtable_types(self) -> list[type[MadtEntry]]:
            return [OemTag]

    host = PluginHost()
    host.register(_Plugin(), "oem-tag")
    machine = build_machine(BootSpec(cpus=2, faults=("x-same-bytes",)), host)
    assert [type(s).__name__ for s in machine.madt.subtables][-1] == "OemTag"
