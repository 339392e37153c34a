"""kapic plugin: AMD SEV-SNP AP creation (``wakeup_cpu_via_vmgexit``), a third-party example.

Models arch/x86/coco/sev/core.c (arch/x86/kernel/sev.c before 6.9) as reference section 6
describes it: ``snp_set_wakeup_secondary_cpu`` (called from ``native_smp_prepare_cpus``)
installs ``wakeup_cpu_via_vmgexit`` as ``wakeup_secondary_cpu``, through
``apic_update_callback`` on 6.6+ and by a direct ``apic->wakeup_secondary_cpu =`` store on
5.x. The hook checks ``start_ip`` against ``trampoline_start``, allocates a fresh VMSA page
(``snp_alloc_vmsa_page``), fills the AP INIT state (CS from the SIPI vector, RIP from the low
12 bits) and asks the hypervisor to run it with one VMGEXIT (``vmgexit_ap_control``,
``SVM_VMGEXIT_AP_CREATE``). KVM's ``sev_snp_ap_creation`` (arch/x86/kvm/svm/sev.c) makes
the vCPU runnable and kicks it; it starts in real mode where a SIPI would have started it.

Written against ``from kapic import ...`` only. Not modelled: the switch of ``start_ip`` to
``sev_es_trampoline_start`` (kapic's ``real_mode_header`` has no such field, so the AP
enters at ``trampoline_start``), ``snp_set_vmsa`` (RMPADJUST or an SVSM call), secure TSC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any, Final

from kapic import (
    APIC_UPDATE_CALLBACK,
    DEFAULT_PARAMS,
    EINVAL,
    EOPNOTSUPP,
    FirmwareEnv,
    FirmwareModel,
    Kernel,
    Madt,
    MpWakeup,
    Platform,
    WakeupMethod,
    finalize_madt,
    hookimpl,
)

__all__ = [
    "PLUGIN",
    "SEV_SNP_PLATFORM",
    "SnpOvmfFirmware",
    "snp_set_wakeup_secondary_cpu",
    "wakeup_cpu_via_vmgexit",
]

PLUGIN_NAME: Final = "sev-snp"

# arch/x86/include/asm/sev-common.h: hypervisor features of the GHCB protocol (version 2).
GHCB_HV_FT_SNP: Final = 1 << 0
GHCB_HV_FT_SNP_AP_CREATION: Final = 1 << 1
# arch/x86/include/uapi/asm/svm.h: the AP Creation NAE event and its requests.
SVM_VMGEXIT_AP_CREATION: Final = 0x80000013
SVM_VMGEXIT_AP_CREATE: Final = 1
# AP INIT values of the VMSA (arch/x86/include/asm/sev.h, AMD APM vol. 2 "Initial state").
X86_CR4_MCE: Final = 1 << 6
EFER_SVME: Final = 1 << 12
AP_INIT_CR0_DEFAULT: Final = 0x60000010

#: The platform (illustrative). ``init_sipi=False``: an SNP guest starts APs only through AP
#: Creation (the hypervisor cannot load protected register state for a SIPI);
#: ``parallel_bringup=False``: ``sme_early_init`` clears ``x86_cpuinit.parallel_bringup``
#: (reference section 4.5). Every timing value is copied from kapic's built-in ``kvm``
#: platform, whose module docstring gives its source; none is an SEV-SNP measurement. A
#: VMGEXIT costs ``vm_exit_ns`` like a trapped ICR write, which understates the world switch
#: of an encrypted guest (the VMSA is saved and restored by hardware).
SEV_SNP_PLATFORM: Final = Platform(
    name="sev-snp",
    description="AMD SEV-SNP guest on KVM: no INIT/SIPI, the kernel creates each AP with a "
    "VMSA and one VMGEXIT (illustrative timings, copied from kvm)",
    hypervisor="kvm",
    firmware="snp-ovmf",
    init_sipi=False,
    parallel_bringup=False,
    # Every timing parameter left out falls back to kapic.DEFAULT_PARAMS (the KVM guest's).
    params={"vm_exit_ns": DEFAULT_PARAMS["vm_exit_ns"]},
)

#: ``sev_hv_features`` per platform: what the hypervisor answers to the GHCB HV features
#: request (``get_hv_features``). A test may preset ``kernel.state("sev-snp")["hv_features"]``.
HV_FEATURES: Final = {"sev-snp": GHCB_HV_FT_SNP | GHCB_HV_FT_SNP_AP_CREATION}


def cc_platform_has_sev_snp(kernel: Kernel) -> bool:
    """``cc_platform_has(CC_ATTR_GUEST_SEV_SNP)``: kapic platforms have no CC attributes,
    so the platform name decides."""
    return kernel.platform.name in HV_FEATURES


class SnpOvmfFirmware(FirmwareModel):
    """OVMF in an SNP guest: APs stay parked by the firmware; the kernel never needs them to
    wait for SIPI, since AP Creation replaces their whole register state (how OVMF parks
    them is not modelled)."""

    name = "snp-ovmf"
    summary = "OVMF for SEV-SNP: APs parked; the kernel replaces each AP's VMSA (AP Creation)"
    trust = "hypervisor runs the guest-built VMSA (it can delay or refuse, not alter it)"

    def park(self, env: FirmwareEnv) -> None:
        for cpu in env.aps:
            cpu.state = "firmware"


def snp_alloc_vmsa_page(kernel: Kernel, cpu: int) -> dict[str, int]:
    """A fresh VMSA (8 KiB allocated, the second 4 KiB used: RMP large-page erratum)."""
    kernel.count("snp_vmsa_pages")
    return {"cpu": cpu}


def vmgexit_ap_control(
    kernel: Kernel, event: int, vmsa: dict[str, int], apic_id: int
) -> Generator[Any, Any, int]:
    """One VMGEXIT (AP Creation NAE event): the boot CPU pays one hypervisor exit, and KVM's
    ``sev_snp_ap_creation`` makes the target vCPU runnable with the new VMSA."""
    cost = kernel.vmm.exit("SVM_VMGEXIT_AP_CREATION")
    kernel.trace("vmgexit", f"AP_CREATION request {event} APIC 0x{apic_id:x}")
    yield cost
    entry = vmsa["cs_base"] + vmsa["rip"]
    # The hypervisor kicks the vCPU; it runs when the host schedules it.
    if not kernel.vmm.start_vcpu(apic_id, entry, "real"):
        return -EINVAL
    return 0


def wakeup_cpu_via_vmgexit(
    kernel: Kernel, apic_id: int, start_ip: int, cpu: int
) -> Generator[Any, Any, int]:
    """Create the AP ``apic_id`` at ``start_ip`` with a new VMSA and one VMGEXIT."""
    st = kernel.state(PLUGIN_NAME)
    # The hypervisor SNP feature check happened earlier; only AP Creation is checked here.
    if not st.get("hv_features", 0) & GHCB_HV_FT_SNP_AP_CREATION:
        return -EOPNOTSUPP
    # A new trampoline would need a new protected-guest entry point: refuse anything else.
    if start_ip != kernel.real_mode_header.trampoline_start:
        if not st.get("warned_start_ip"):  # WARN_ONCE
            st["warned_start_ip"] = True
            kernel.printk(f"Unsupported SNP start_ip: {start_ip:x}", "warn")
        return -EINVAL
    kcpu = kernel.cpu_by_apicid(apic_id)
    if kcpu is None or kernel.hw_cpu(kcpu) is None:
        return -EINVAL  # 5.x: no present CPU matches the APIC ID
    sev_vmsa: dict[int, dict[str, int]] = st.setdefault("sev_vmsa", {})
    cur_vmsa = sev_vmsa.get(cpu)
    # A new VMSA every time: the current one may not be the kernel's, or its vCPU may run.
    vmsa = snp_alloc_vmsa_page(kernel, cpu)
    sipi_vector = start_ip >> 12
    vmsa.update(
        cs_base=sipi_vector << 12,
        cs_selector=sipi_vector << 8,
        rip=start_ip & 0xFFF,
        cr0=AP_INIT_CR0_DEFAULT,
        cr4=X86_CR4_MCE,  # of the boot CPU's CR4 only MCE is kept
        efer=EFER_SVME,
    )
    ret = yield from vmgexit_ap_control(kernel, SVM_VMGEXIT_AP_CREATE, vmsa, apic_id)
    if cur_vmsa is not None:
        st["vmsa_freed"] = st.get("vmsa_freed", 0) + 1
    sev_vmsa[cpu] = vmsa
    return ret


def snp_set_wakeup_secondary_cpu(kernel: Kernel) -> None:
    """Always use AP Creation under SNP: without hypervisor support no AP starts."""
    if not cc_platform_has_sev_snp(kernel):
        return
    kernel.state(PLUGIN_NAME).setdefault("hv_features", HV_FEATURES[kernel.platform.name])
    if kernel.version.has(APIC_UPDATE_CALLBACK):  # 6.6: d6f361ea7067
        kernel.apic_state.apic_update_callback("wakeup_secondary_cpu", wakeup_cpu_via_vmgexit)
    else:
        # 5.19-6.5 wrote the current driver directly; it runs after the final driver probe.
        kernel.apic.wakeup_secondary_cpu = wakeup_cpu_via_vmgexit


def _force_madt(madt: Madt, platform: Platform) -> Madt:
    """SNP is chosen by the CPU, not the MADT; drop a wakeup entry, whose
    ``wakeup_secondary_cpu_64`` hook ``do_boot_cpu()`` would prefer."""
    kept = tuple(s for s in madt.subtables if not isinstance(s, MpWakeup))
    if len(kept) == len(madt.subtables):
        return madt
    return finalize_madt(dataclasses.replace(madt, subtables=kept))


def _unavailable(platform: Platform, firmware: FirmwareModel) -> str | None:
    if platform.name in HV_FEATURES:
        return None
    return (
        f"SEV-SNP AP creation needs an SEV-SNP guest; {platform.name} is not one "
        "(the kernel installs wakeup_cpu_via_vmgexit only when SNP is active)"
    )


def _trust(platform: Platform) -> str:
    return "hypervisor AP creation (VMGEXIT); it can delay or refuse an AP, not alter its VMSA"


class _Plugin:
    @hookimpl
    def kapic_platforms(self) -> list[Platform]:
        return [SEV_SNP_PLATFORM]

    @hookimpl
    def kapic_firmware_models(self) -> list[FirmwareModel]:
        return [SnpOvmfFirmware()]

    @hookimpl
    def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
        snp_set_wakeup_secondary_cpu(kernel)

    @hookimpl
    def kapic_wakeup_methods(self) -> list[WakeupMethod]:
        return [
            WakeupMethod(
                name="sev-snp-vmgexit",
                handler_name="wakeup_cpu_via_vmgexit",
                summary="AMD SEV-SNP: a new VMSA per AP, started by a VMGEXIT AP Creation",
                trust=_trust,
                force_madt=_force_madt,
                unavailable=_unavailable,
            )
        ]


PLUGIN = _Plugin()
