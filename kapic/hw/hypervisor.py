"""What the hypervisor decides for its vCPUs: when it runs one, whether an IPI arrives (and
how often), and what APIC ID a vCPU is told it has (TDVMCALL/CPUID leaf 0xB).

An honest hypervisor (the default) runs a vCPU ``vcpu_delay_ns`` after it was asked to,
delivers every IPI once and tells each vCPU its own APIC ID. Fault scenarios
(:mod:`kapic.faults`) change these answers; on bare metal only the IPI rules apply.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kapic.hw.cpu import Cpu
    from kapic.platforms.model import Platform

__all__ = ["HypervisorPolicy"]


class HypervisorPolicy:
    """The hypervisor's answers for one machine; fault scenarios set the hooks."""

    def __init__(self, platform: Platform, rng: random.Random) -> None:
        self._platform = platform
        #: seeded, for faults that draw (a random delay, a dropped IPI)
        self.rng = rng
        #: extra delay before a vCPU runs: ``extra(cpu) -> ns``, or None: the vCPU never runs
        self.extra_delay: Callable[[Cpu], int | None] | None = None
        #: how many copies of an IPI arrive: ``copies(src, dest_apic_id, mode) -> 0, 1 or 2``
        self.copies: Callable[[int, int, int], int] | None = None
        #: the APIC ID a vCPU is told it has: ``apic_id_seen(cpu) -> int``
        self.apic_id_seen: Callable[[Cpu], int] | None = None

    def vcpu_delay(self, cpu: Cpu) -> int | None:
        """ns until the hypervisor runs ``cpu`` after it was asked to; None: it never does."""
        base = self._platform.param("vcpu_delay_ns")
        if self.extra_delay is None:
            return base
        extra = self.extra_delay(cpu)
        return None if extra is None else base + extra

    def ipi_copies(self, src: int, dest: int, mode: int) -> int:
        """How many times an IPI to ``dest`` arrives (1 from an honest hypervisor)."""
        return 1 if self.copies is None else self.copies(src, dest, mode)

    def apic_id_of(self, cpu: Cpu) -> int:
        """The APIC ID ``cpu`` learns from the hypervisor (its own, unless it lies)."""
        return cpu.apic_id if self.apic_id_seen is None else self.apic_id_seen(cpu)
