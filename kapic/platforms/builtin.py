"""The built-in platforms: ``bare-metal``, ``kvm`` and ``tdx``, as a plugin.

Calibration: every default is a published figure or derived from one, and
docs/calibration.md (written by bench/calibrate.py) sets kapic's figures beside the sources'.

* ``bare-metal`` is the 2 x 28-core, 112-thread Skylake of Thomas Gleixner's parallel
  bring-up cover letter (LKML, 15 Apr 2023): prepare 0.352 ms per AP and online 0.229 ms
  (parallel phases), a secondary thread alive after 1.213 ms, a primary after another
  10.271 ms (microcode), and the kernel's 20 ms TSC test for the first CPU of socket 1.
* A TDX guest (QEMU, 4 vCPUs, one package, mailbox wakeup, serial) brought 3 APs up in about
  4.05 ms: ../shared/data/dmesg/tdx-guest-smp-bringup.intel-tdx-linux-5.txt. ``tdx`` uses
  ``ap_alive_ns + ap_online_ns + bp_online_ns`` = 1.35 ms per CPU. No published KVM figure was
  found: ``kvm`` shares the guest costs (not calibrated; docs/calibration.md says so).
* INIT/SIPI delays are the kernel's (reference section 5); IPI latency and VM exit costs are
  typical values (about 1 us for a trapped ICR write on a modern host), not measurements.
* ``relax_ns``: PAUSE is about 140 cycles on Skylake and later, plus a cache-line transfer:
  100 ns per poll, so the seed kernel's 255 polls give up after about 25 us.
"""

from __future__ import annotations

from kapic.markers import hookimpl
from kapic.platforms.model import DEFAULT_PARAMS, Platform

__all__ = ["BUILTIN_PLATFORMS", "PLUGIN"]

_COMMON = {
    key: DEFAULT_PARAMS[key]
    for key in ("relax_ns", "fw_poll_ns", "vcpu_delay_ns", "jitter_ppm", "legacy_cpu", "x2apic",
                "bogomips_x100")
}

#: KVM and TDX guests share their timing; they differ in their rules and firmware
_GUEST = dict(DEFAULT_PARAMS)

BUILTIN_PLATFORMS = (
    Platform(
        name="bare-metal",
        description="physical x86 server (112-thread Skylake calibration), firmware parks APs "
        "in wait-for-SIPI",
        hypervisor="none",
        firmware="sipi-wait",
        init_sipi=True,
        parallel_bringup=True,
        params={
            **_COMMON,
            "ipi_latency_ns": 500,
            "icr_busy_ns": 300,
            "vm_exit_ns": 0,
            # calibrated on the 2 x 28 x 2 Skylake of the parallel bring-up cover letter:
            # docs/calibration.md (bench/calibrate.py)
            "threads_per_core": 2,
            "cores_per_package": 28,
            "bp_prepare_ns": 351_500,
            "ap_alive_ns": 1_213_000,
            "ucode_load_ns": 10_271_000,
            "ap_online_ns": 120_000,
            "bp_online_ns": 109_000,
            "irq_remap": 1,  # a server's IOMMU remaps interrupts in x2APIC mode
            "msi_ext_dest_id": 0,
        },
    ),
    Platform(
        name="kvm",
        description="KVM guest: the hypervisor emulates INIT/SIPI, every ICR write is a VM exit",
        hypervisor="kvm",
        firmware="sipi-wait",
        init_sipi=True,
        parallel_bringup=True,
        params=_GUEST,
    ),
    Platform(
        name="tdx",
        description="Intel TDX guest: untrusted VMM, no INIT/SIPI, APs parked in TDVF's mailbox "
        "loop",
        hypervisor="tdx",
        firmware="tdvf",
        init_sipi=False,
        parallel_bringup=False,
        params=_GUEST,
    ),
)


class BuiltinPlatforms:
    """The plugin object providing :data:`BUILTIN_PLATFORMS`."""

    @hookimpl
    def kapic_platforms(self) -> list[Platform]:
        return list(BUILTIN_PLATFORMS)


PLUGIN = BuiltinPlatforms()
