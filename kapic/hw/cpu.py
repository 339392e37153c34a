"""A simulated CPU: its local APIC, its view of memory, and what it is doing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from kapic.hw.lapic import LapicDevice
    from kapic.hw.memory import CpuMemory
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
    lapic: LapicDevice
    mem: CpuMemory
    state: CpuHwState = "reset"
    process: Process | None = None
    #: the logical CPU number the kernel gave it (None until enumerated)
    logical: int | None = None
