"""kapic-sevsnp's own tests, written with kapic's pytest kit (its ``pytest11`` entry point).

Run them with the distribution installed next to kapic, so that kapic finds the plugin by
its entry point as it finds any third-party plugin::

    pip install kapic ./kapic-sevsnp && pytest kapic-sevsnp/tests
"""

from __future__ import annotations

from collections.abc import Callable

from kapic import BootResult, PluginHost
from kapic.testing import HookRecorder, assert_all_online, assert_woken_by, log_lines_matching


def test_entry_point_is_found(kapic_host: PluginHost) -> None:
    info = {p.name: p for p in kapic_host.plugins()}["sev-snp"]
    assert info.distribution == "kapic-sevsnp"
    assert kapic_host.platform("sev-snp").firmware == "snp-ovmf"


def test_every_ap_is_created_by_one_vmgexit(kapic_boot: Callable[..., BootResult]) -> None:
    result = kapic_boot(platform="sev-snp", cpus=8)
    assert_all_online(result)
    assert_woken_by(result, "wakeup_cpu_via_vmgexit")
    assert result.counters["vm_exits"] == 7
    assert result.counters["snp_vmsa_pages"] == 7
    assert result.counters["ipis"] == 0


def test_the_hook_is_installed_in_native_smp_prepare_cpus(
    kapic_hookrecorder: HookRecorder, kapic_boot: Callable[..., BootResult]
) -> None:
    result = kapic_boot(platform="sev-snp", cpus=2)
    (call,) = kapic_hookrecorder.assert_called("kapic_smp_prepare_cpus", times=1)
    assert "sev-snp" in call.plugins
    assert log_lines_matching(
        result, r"^APIC: wakeup_secondary_cpu\(\) replaced with wakeup_cpu_via_vmgexit\(\)$"
    )


def test_other_platforms_keep_init_sipi(kapic_boot: Callable[..., BootResult]) -> None:
    result = kapic_boot(platform="kvm", cpus=4)
    assert_all_online(result)
    assert_woken_by(result, "wakeup_secondary_cpu_via_init")
