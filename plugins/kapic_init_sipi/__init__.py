"""kapic plugin: the INIT/SIPI/SIPI wakeup (``wakeup_secondary_cpu_via_init``).

Models arch/x86/kernel/smpboot.c ``wakeup_secondary_cpu_via_init()`` and
arch/x86/kernel/apic/ipi.c ``safe_apic_wait_icr_idle()`` (reference section 5.1). It is the
kernel's built-in fallback, used by ``do_boot_cpu()`` when no APIC driver sets a wakeup
hook. Written against kapic's public API only, exactly as a third-party plugin would be.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

from kapic import (
    APIC_DM_INIT,
    APIC_DM_STARTUP,
    APIC_ESR,
    APIC_ICR,
    APIC_ICR_BUSY,
    APIC_INT_ASSERT,
    APIC_INT_LEVELTRIG,
    FirmwareModel,
    Kernel,
    Madt,
    MpWakeup,
    Platform,
    WakeupMethod,
    finalize_madt,
    hookimpl,
    udelay,
)

__all__ = ["PLUGIN", "safe_apic_wait_icr_idle", "wakeup_secondary_cpu_via_init"]


def safe_apic_wait_icr_idle(kernel: Kernel) -> Generator[Any, Any, int]:
    """Poll the xAPIC ICR busy bit, at most 1000 x udelay(100); at once in x2APIC mode."""
    if kernel.x2apic_mode:
        return 0
    timeout = 0
    while True:
        send_status = kernel.apic_read(APIC_ICR) & APIC_ICR_BUSY
        if not send_status:
            break
        yield udelay(100)
        timeout += 1
        if timeout >= 1000:
            break
    return send_status


def wakeup_secondary_cpu_via_init(
    kernel: Kernel, phys_apicid: int, start_eip: int, cpu: int
) -> Generator[Any, Any, int]:
    """INIT assert, INIT de-assert, then two STARTUP IPIs with the trampoline's page."""
    maxlvt = kernel.lapic_get_maxlvt()
    # Be paranoid about clearing APIC errors (Pentium erratum 3AP).
    if maxlvt > 3:
        yield from kernel.apic_write(APIC_ESR, 0)
    kernel.apic_read(APIC_ESR)

    yield from kernel.apic_icr_write(APIC_INT_LEVELTRIG | APIC_INT_ASSERT | APIC_DM_INIT, phys_apicid)
    send_status = yield from safe_apic_wait_icr_idle(kernel)
    init_udelay = kernel.init_udelay
    if init_udelay:
        yield udelay(init_udelay)
    yield from kernel.apic_icr_write(APIC_INT_LEVELTRIG | APIC_DM_INIT, phys_apicid)
    send_status = yield from safe_apic_wait_icr_idle(kernel)

    accept_status = 0
    for _start in range(2):  # num_starts = 2 on an integrated APIC
        if maxlvt > 3:
            yield from kernel.apic_write(APIC_ESR, 0)
        kernel.apic_read(APIC_ESR)
        yield from kernel.apic_icr_write(APIC_DM_STARTUP | (start_eip >> 12), phys_apicid)
        # Give the other CPU some time to accept the IPI.
        yield udelay(10 if init_udelay == 0 else 300)
        send_status = yield from safe_apic_wait_icr_idle(kernel)
        # Give the other CPU some time to accept the IPI.
        yield udelay(10 if init_udelay == 0 else 200)
        if maxlvt > 3:
            yield from kernel.apic_write(APIC_ESR, 0)
        accept_status = kernel.apic_read(APIC_ESR) & 0xEF
        if send_status or accept_status:
            break

    if send_status:
        kernel.printk("smpboot: APIC never delivered???", "err")
    if accept_status:
        kernel.printk(f"smpboot: APIC delivery error ({accept_status:x})", "err")
    return send_status | accept_status


def _force_madt(madt: Madt, platform: Platform) -> Madt:
    """The kernel uses INIT/SIPI when the MADT has no wakeup entry: drop any."""
    kept = tuple(s for s in madt.subtables if not isinstance(s, MpWakeup))
    if len(kept) == len(madt.subtables):
        return madt
    return finalize_madt(dataclasses.replace(madt, subtables=kept))


def _unavailable(platform: Platform, firmware: FirmwareModel) -> str | None:
    """From what the platform declares: INIT and STARTUP IPIs reach its (v)CPUs, or not."""
    if platform.init_sipi:
        return None
    cpus = "CPUs" if platform.hypervisor == "none" else f"vCPUs ({platform.hypervisor} guest)"
    return (
        f"INIT/SIPI is not available on {platform.name}: the platform does not deliver INIT "
        f"and STARTUP IPIs to its {cpus}, so its APs stay parked in {firmware.name}"
    )


def _trust(platform: Platform) -> str:
    if platform.hypervisor == "none":
        return "local APIC hardware (no hypervisor)"
    return f"hypervisor INIT/SIPI emulation ({platform.hypervisor})"


class _Plugin:
    @hookimpl
    def kapic_wakeup_methods(self) -> list[WakeupMethod]:
        return [
            WakeupMethod(
                name="init-sipi",
                handler_name="wakeup_secondary_cpu_via_init",
                summary="INIT, INIT de-assert, STARTUP x2 through the local APIC's ICR",
                trust=_trust,
                force_madt=_force_madt,
                unavailable=_unavailable,
                fallback_handler=wakeup_secondary_cpu_via_init,
            )
        ]


PLUGIN = _Plugin()
