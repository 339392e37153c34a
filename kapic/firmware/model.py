"""Firmware models: where an AP waits before the kernel wakes it.

A firmware model decides the state every AP is in when the kernel starts (waiting for SIPI,
or spinning in a mailbox loop), may amend the MADT it publishes (TDVF appends the
Multiprocessor Wakeup structure), and reacts to the mailbox. The simulated hardware calls
:meth:`FirmwareModel.park` once per machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kapic.acpi import Madt
    from kapic.machine import Machine

__all__ = ["FirmwareModel", "SipiWaitFirmware"]


class FirmwareModel:
    """Base class: APs left in wait-for-SIPI (what BIOS/UEFI does after its own INIT)."""

    name = "sipi-wait"
    summary = "APs halted in wait-for-SIPI, as BIOS/UEFI leave them"
    #: what the guest must trust in this firmware for the wakeup to work
    trust = "firmware AP park state"

    def publish_madt(self, madt: Madt) -> Madt:
        """The MADT this firmware hands to the OS (default: unchanged)."""
        return madt

    def reset_vector_entry(self, machine: Machine, cpu: int, vector: int) -> bool:
        """Logical CPU ``cpu`` jumped to ``vector`` to return to the firmware; True when the
        firmware took it back (its own reset vector), False otherwise (the CPU is lost)."""
        return False

    def park(self, machine: Machine) -> None:
        """Put every AP of ``machine`` in its waiting state."""
        for cpu in machine.cpus[1:]:
            cpu.state = "wait-for-sipi"


class SipiWaitFirmware(FirmwareModel):
    """The default firmware of bare metal and KVM guests."""
