"""The worked example of docs/plugin-guide.md: the kapic-sevsnp distribution, not installed.

The example is imported from docs/examples/kapic-sevsnp and registered by hand with
``PluginHost.register``, exactly as a plugin author tests a plugin before packaging it.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from kapic import EINVAL, BootResult, PluginHost
from kapic.machine import Machine
from kapic.testing import assert_all_online, assert_woken_by, log_lines_matching

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "kapic-sevsnp"


@pytest.fixture
def sevsnp(monkeypatch: pytest.MonkeyPatch, kapic_host: PluginHost) -> ModuleType:
    """The example's package, registered in ``kapic_host`` under its entry-point name."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    module = importlib.import_module("kapic_sevsnp")
    if "sev-snp" not in {p.name for p in kapic_host.plugins()}:  # unless pip-installed
        kapic_host.register(module.PLUGIN, "sev-snp")
    return module


def test_entry_point_names_the_plugin(sevsnp: ModuleType) -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["kapic"] == {"sev-snp": "kapic_sevsnp:PLUGIN"}
    assert (EXAMPLE / "kapic_sevsnp" / "py.typed").is_file()


@pytest.mark.usefixtures("sevsnp")
def test_eight_cpus_created_by_vmgexit(kapic_boot: Callable[..., BootResult]) -> None:
    result = kapic_boot(platform="sev-snp", cpus=8)
    assert_all_online(result)
    assert_woken_by(result, "wakeup_cpu_via_vmgexit")
    assert result.method == "sev-snp-vmgexit"
    # One VMGEXIT and one fresh VMSA per AP; no IPI at all.
    assert result.counters["vm_exits"] == 7
    assert result.counters["snp_vmsa_pages"] == 7
    assert result.counters["ipis"] == 0
    assert log_lines_matching(
        result, r"^APIC: wakeup_secondary_cpu\(\) replaced with wakeup_cpu_via_vmgexit\(\)$"
    )
    assert log_lines_matching(result, "Parallel CPU startup disabled by the platform")
    assert [e.kind for e in result.trace].count("vmgexit") == 7


@pytest.mark.usefixtures("sevsnp")
def test_seed_kernel_assigns_the_hook_directly(kapic_boot: Callable[..., BootResult]) -> None:
    result = kapic_boot(platform="sev-snp", cpus=4, kernel="seed")
    assert_all_online(result)
    assert_woken_by(result, "wakeup_cpu_via_vmgexit")
    assert not log_lines_matching(result, "replaced with")  # 5.x: apic->... = ..., no message


@pytest.mark.usefixtures("sevsnp")
def test_other_platforms_keep_init_sipi(kapic_boot: Callable[..., BootResult]) -> None:
    result = kapic_boot(platform="kvm", cpus=4)
    assert_all_online(result)
    assert_woken_by(result, "wakeup_secondary_cpu_via_init")
    assert "snp_vmsa_pages" not in result.counters


def test_start_ip_other_than_trampoline_start_is_refused(
    sevsnp: ModuleType, kapic_machine: Callable[..., Machine]
) -> None:
    kernel = kapic_machine(platform="sev-snp", cpus=2).kernel
    kernel.state("sev-snp")["hv_features"] = sevsnp.GHCB_HV_FT_SNP_AP_CREATION
    bad = kernel.real_mode_header.trampoline_start64
    for _ in range(2):
        with pytest.raises(StopIteration) as stop:
            next(sevsnp.wakeup_cpu_via_vmgexit(kernel, 1, bad, 1))
        assert stop.value.value == -EINVAL
    warnings = [m for _t, _level, m in kernel.log if "Unsupported SNP start_ip" in m]
    assert warnings == [f"Unsupported SNP start_ip: {bad:x}"]  # WARN_ONCE


def test_without_ap_creation_no_ap_starts(
    sevsnp: ModuleType, kapic_machine: Callable[..., Machine]
) -> None:
    machine = kapic_machine(platform="sev-snp", cpus=3)
    machine.kernel.state("sev-snp")["hv_features"] = sevsnp.GHCB_HV_FT_SNP
    result = machine.boot()
    assert result.result == "cpu-failed"
    assert log_lines_matching(result, r"do_boot_cpu failed\(-95\) to wakeup CPU#2")
    assert result.counters["vm_exits"] == 0


def test_the_examples_own_tests_pass(pytester: pytest.Pytester) -> None:
    """The example distribution's tests, run as its author runs them; the plugin is registered
    by hand instead of being pip-installed, so the entry-point test is left out here (the
    before-stop checklist runs it against a real install)."""
    pytester.syspathinsert(str(EXAMPLE))
    pytester.makeconftest('''
        import pytest

        import kapic_sevsnp
        from kapic import PluginHost

        @pytest.fixture
        def kapic_host() -> PluginHost:
            host = PluginHost()
            if "sev-snp" not in {p.name for p in host.plugins()}:
                host.register(kapic_sevsnp.PLUGIN, "sev-snp")
            return host
    ''')
    tests = (EXAMPLE / "tests" / "test_sevsnp.py").read_text()
    pytester.makepyfile(test_sevsnp=tests)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "not entry_point")
    result.assert_outcomes(passed=3, deselected=1)
