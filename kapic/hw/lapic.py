"""The local APIC of one simulated CPU: ICR, ICR2, ESR and IPI sending.

Register offsets and ICR bits are those of arch/x86/include/asm/apicdef.h; the xAPIC write
order (ICR2 first, then ICR low, which sends) is ``native_apic_icr_write()``
(arch/x86/kernel/apic/apic.c); in x2APIC mode the ICR is one 64-bit MSR write with no busy
bit (arch/x86/include/asm/apic.h ``native_x2apic_icr_write``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from kapic.hw.apicbus import ApicBus

__all__ = [
    "APIC_DM_INIT",
    "APIC_DM_STARTUP",
    "APIC_ESR",
    "APIC_ICR",
    "APIC_ICR2",
    "APIC_ICR_BUSY",
    "APIC_INT_ASSERT",
    "APIC_INT_LEVELTRIG",
    "APIC_LVR",
    "LapicDevice",
]

#: register offsets and ICR bits under the kernel's names (arch/x86/include/asm/apicdef.h)
APIC_LVR: Final = 0x30
APIC_ESR: Final = 0x280
APIC_ICR: Final = 0x300
APIC_ICR2: Final = 0x310
APIC_ICR_BUSY: Final = 0x01000
APIC_DEST_LOGICAL: Final = 0x00800
APIC_INT_ASSERT: Final = 0x04000
APIC_INT_LEVELTRIG: Final = 0x08000
APIC_DM_FIXED: Final = 0x00000
APIC_DM_NMI: Final = 0x00400
APIC_DM_INIT: Final = 0x00500
APIC_DM_STARTUP: Final = 0x00600
_DM_MASK: Final = 0x00700
#: ESR "send accept error": no APIC accepted the IPI (P6-family xAPIC)
APIC_ESR_SENDACC: Final = 0x04


class LapicDevice:
    """The local APIC device of one CPU (not the MADT entry that describes it); writes return
    the time they cost the writing CPU (a VM exit)."""

    def __init__(self, bus: ApicBus, cpu: int, apic_id: int) -> None:
        self.bus = bus
        self.cpu = cpu
        self.apic_id = apic_id
        self.icr2 = 0
        self.icr_low = 0
        self.busy_until = 0
        self.esr = 0
        self.esr_pending = 0
        #: integrated APIC with maxlvt > 3 (every x86-64 CPU)
        self.maxlvt = 6

    def read(self, reg: int) -> int:
        """``apic_read(reg)`` (xAPIC MMIO; in x2APIC mode the same registers as MSRs)."""
        if reg == APIC_ICR:
            busy = APIC_ICR_BUSY if self.bus.now < self.busy_until else 0
            return (self.icr_low & ~APIC_ICR_BUSY) | busy
        if reg == APIC_ICR2:
            return self.icr2
        if reg == APIC_ESR:
            return self.esr
        if reg == APIC_LVR:
            return 0x14 | (self.maxlvt << 16)
        return 0

    def write(self, reg: int, value: int) -> int:
        """``apic_write(reg, value)``; returns the cost in ns for the writer."""
        if reg == APIC_ESR:
            # A write latches the errors gathered since the last write (SDM 10.5.3).
            self.esr, self.esr_pending = self.esr_pending, 0
            return 0
        if reg == APIC_ICR2:
            self.icr2 = value & 0xFFFFFFFF
            return 0
        if reg == APIC_ICR:
            self.icr_low = value & 0xFFFFFFFF
            return self._send(self.icr_low, self.icr2 >> 24)
        return 0

    def icr_write(self, low: int, dest: int, *, x2apic: bool) -> int:
        """``apic_icr_write(low, id)``: one MSR write (x2APIC) or ICR2 then ICR (xAPIC)."""
        if x2apic:
            self.icr2 = (dest & 0xFFFFFFFF) << 24
            self.icr_low = low & 0xFFFFFFFF
            return self._send(self.icr_low, dest)
        cost = self.write(APIC_ICR2, (dest & 0xFF) << 24)
        return cost + self.write(APIC_ICR, low)

    def _send(self, low: int, dest: int) -> int:
        bus = self.bus
        platform = bus.platform
        bus.recorder.count("icr_writes")
        cost = 0
        if platform.hypervisor != "none":
            bus.recorder.count("vm_exits")
            cost = platform.param("vm_exit_ns")
        else:
            self.busy_until = bus.now + platform.param("icr_busy_ns")
        bus.recorder.count("ipis")
        level = bool(low & APIC_INT_LEVELTRIG)
        asserted = bool(low & APIC_INT_ASSERT)
        mode = low & _DM_MASK
        if not bus.send_ipi(self.cpu, dest, mode, low & 0xFF, level=level, asserted=asserted):
            self.esr_pending |= APIC_ESR_SENDACC
        return cost
