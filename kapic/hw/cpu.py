"""A simulated CPU: its local APIC, its view of memory, and what it is doing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from kapic.hw.lapic import LapicDevice

if TYPE_CHECKING:
    from kapic.hw.apicbus import ApicBus
    from kapic.hw.memory import CpuMemory, PhysicalMemory
    from kapic.sim.engine import Process

__all__ = ["Cpu", "CpuHwState"]

#: ``boot-cpu`` runs the kernel; APs start ``wait-for-sipi`` or in a firmware loop
#: (``firmware``), then ``running`` kernel code, or ``crashed`` (triple fault).
CpuHwState = Literal["boot-cpu", "wait-for-sipi", "firmware", "running", "crashed", "reset"]


@dataclass(eq=False, slots=True)
class Cpu:
    """One hardware thread of the simulated machine."""

    index: int
    apic_id: int
    # keyword-only, so that the former Cpu(index, apic_id, lapic, mem) fails loudly
    _bus: ApicBus = field(repr=False, kw_only=True)
    _memory: PhysicalMemory = field(repr=False, kw_only=True)
    state: CpuHwState = "reset"
    process: Process | None = None
    #: the logical CPU number the kernel gave it (None until enumerated)
    logical: int | None = None

    # The local APIC device and the memory view are made when first used: an AP woken through
    # a mailbox never touches its own (a 65,536-CPU boot keeps 65,535 fewer of each).
    _lapic: LapicDevice | None = field(default=None, repr=False)
    _mem: CpuMemory | None = field(default=None, repr=False)

    @property
    def lapic(self) -> LapicDevice:
        """The CPU's local APIC device (registers, ICR)."""
        lapic = self._lapic
        if lapic is None:
            lapic = self._lapic = LapicDevice(self._bus, self.index, self.apic_id)
        return lapic

    @lapic.setter
    def lapic(self, lapic: LapicDevice) -> None:
        self._lapic = lapic

    @property
    def mem(self) -> CpuMemory:
        """The CPU's view of memory (its accessors, barriers and store buffer)."""
        mem = self._mem
        if mem is None:
            mem = self._mem = self._memory.cpu_view(self.index)
        return mem

    @mem.setter
    def mem(self, mem: CpuMemory) -> None:
        self._mem = mem

    def process_ended(self, proc: Process) -> None:
        """The code the CPU ran returned (or raised): forget its process, which holds nothing a
        result reads (a 65,536-CPU boot keeps no finished AP process)."""
        if self.process is proc:
            self.process = None
