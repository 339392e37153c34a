"""Platform models: timing parameters and hypervisor rules of bare metal, KVM and TDX.

Every timing parameter is named, documented with its source and overridable
(``kapic boot --param NAME=VALUE``). Times are integer nanoseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from kapic.errors import ConfigError

__all__ = ["DEFAULT_PARAMS", "PARAM_DOCS", "Platform"]

Hypervisor = Literal["none", "kvm", "tdx"]

#: What each timing parameter means and where its default comes from.
PARAM_DOCS: Mapping[str, str] = {
    "ipi_latency_ns": "ICR write to the IPI reaching the target local APIC",
    "icr_busy_ns": "xAPIC ICR delivery-status (busy) time after a write; 0 when emulated",
    "vm_exit_ns": "cost of one VM exit (an ICR write trapped by the hypervisor), on the sender",
    "relax_ns": "one iteration of a kernel spin loop: READ_ONCE of a bouncing line + PAUSE",
    "fw_poll_ns": "one iteration of the firmware's mailbox polling loop on a parked AP",
    "vcpu_delay_ns": "extra time before the hypervisor runs the target vCPU (slow or hostile host)",
    "ap_alive_ns": "AP from its first instruction at the wakeup vector to reporting alive "
    "(trampoline, early start_secondary, microcode load)",
    "ap_online_ns": "AP from being released (SHOULD_ONLINE / callout) to set_cpu_online "
    "(cpu_init, ap_starting, TSC sync, delay calibration)",
    "bp_online_ns": "boot CPU's remaining hotplug work per CPU after the AP is online",
    "jitter_ppm": "seeded per-CPU jitter of ap_alive_ns, ap_online_ns and bp_online_ns, parts "
    "per million",
    "legacy_cpu": "1 for a pre-family-6 Intel / pre-0xF AMD CPU: init_udelay = 10 ms",
    "x2apic": "1: the local APIC runs in x2APIC mode (one MSR write per IPI, no busy bit), as on "
    "servers with interrupt remapping and in KVM/TDX guests; 0: xAPIC MMIO with the ICR busy bit "
    "(forced on when an APIC ID is 255 or more)",
    "bogomips_x100": "BogoMIPS of one CPU times 100 (only printed)",
    "ioapic_version": "the IOAPIC's version register, printed by mp_register_ioapic (0x20 on "
    "QEMU's and current Intel IOAPICs; 0x11 on old ones)",
    "ioapic_pins": "the IOAPIC's redirection entries: its GSIs run from the MADT's base to "
    "base + pins - 1",
    "irq_remap": "1: interrupt remapping supports x2APIC mode (an IOMMU with IR, as servers "
    "have); 0: none, as in most guests, so try_to_enable_x2apic switches to physical x2APIC "
    "mode and caps the usable APIC IDs",
    "msi_ext_dest_id": "1: the hypervisor offers 15-bit MSI destination IDs "
    "(KVM_FEATURE_MSI_EXT_DEST_ID): without interrupt remapping APIC IDs up to 32767 are "
    "usable instead of 255",
    "ucode_load_ns": "extra time a primary SMT thread (or a core without SMT) takes to report "
    "alive: the microcode update load_ucode_ap does on the first thread of each core, and its "
    "slower SIPI response",
    "bp_prepare_ns": "the control CPU's work per AP before the kick (the hotplug prepare "
    "states: smpcfd, threads, workqueues, ... and common_cpu_up)",
    "cores_per_package": "cores per package (socket); 0: every CPU in one package. The first "
    "CPU of each new package pays the TSC synchronisation test (20 ms) unless the TSC is "
    "reliable",
    "tsc_reliable": "1: the TSC is marked reliable (tsc=reliable; TDX guests from 6.7), so no "
    "TSC synchronisation test is run",
    "threads_per_core": "hardware threads per core (SMT): the APIC ID's low bits number the "
    "threads, and a primary thread's are 0 (parallel bring-up starts primaries first)",
}


#: What :meth:`Platform.param` falls back to when a platform does not set a parameter: the
#: values of the built-in ``kvm`` guest (see kapic.platforms.builtin for their sources), so a
#: third-party platform keeps working when kapic adds a parameter.
DEFAULT_PARAMS: Mapping[str, int] = {
    "relax_ns": 100,
    "fw_poll_ns": 100,
    "vcpu_delay_ns": 0,
    "jitter_ppm": 20_000,
    "legacy_cpu": 0,
    "x2apic": 1,
    "bogomips_x100": 580_000,
    "ioapic_version": 0x20,
    "ioapic_pins": 24,
    "threads_per_core": 1,
    "ucode_load_ns": 0,
    "bp_prepare_ns": 0,
    "cores_per_package": 0,
    "tsc_reliable": 0,
    "irq_remap": 0,
    "msi_ext_dest_id": 1,
    "ipi_latency_ns": 2_000,
    "icr_busy_ns": 0,
    "vm_exit_ns": 1_200,
    "ap_alive_ns": 900_000,
    "ap_online_ns": 300_000,
    "bp_online_ns": 150_000,
}


@dataclass(frozen=True, slots=True)
class Platform:
    """A simulated platform.

    :param name: command-line name (``bare-metal``, ``kvm``, ``tdx``).
    :param hypervisor: which hypervisor rules apply to IPIs and wakeups.
    :param firmware: name of the firmware model that parks the APs.
    :param init_sipi: whether the guest can start APs with INIT/SIPI at all.
    :param parallel_bringup: ``x86_cpuinit.parallel_bringup`` (TDX clears it).
    :param params: timing parameters, see :data:`PARAM_DOCS`; one a platform does not set
        falls back to :data:`DEFAULT_PARAMS`.
    :param override: replace another plugin's platform of the same name on purpose.
    """

    name: str
    description: str
    hypervisor: Hypervisor
    firmware: str
    init_sipi: bool
    parallel_bringup: bool
    params: Mapping[str, int] = field(default_factory=dict)
    #: True: replace another plugin's platform of the same name on purpose
    override: bool = False

    def param(self, name: str) -> int:
        """The timing parameter ``name``: the platform's value, else :data:`DEFAULT_PARAMS`'s;
        :class:`~kapic.errors.ConfigError` for a name kapic does not know."""
        try:
            return self.params[name]
        except KeyError:
            pass
        try:
            return DEFAULT_PARAMS[name]
        except KeyError:
            raise ConfigError(f"platform {self.name}: unknown parameter {name!r}") from None

    def with_params(self, overrides: Mapping[str, str | int]) -> Platform:
        """A copy with some timing parameters replaced (values are integers, ``_`` allowed)."""
        params = dict(self.params)
        for key, raw in overrides.items():
            if key not in PARAM_DOCS:
                known = ", ".join(sorted(PARAM_DOCS))
                raise ConfigError(f"unknown platform parameter {key!r} (known: {known})")
            try:
                value = int(str(raw).replace("_", ""), 0)
            except ValueError:
                raise ConfigError(f"--param {key}={raw}: not an integer") from None
            if value < 0:
                raise ConfigError(f"--param {key}={raw}: must not be negative")
            if key == "jitter_ppm" and value >= 1_000_000:
                raise ConfigError(f"--param {key}={raw}: must be below 1000000 (100 %)")
            params[key] = value
        return replace(self, params=params)
