"""The board: physical memory, CPUs with their local APICs and the APIC bus of one machine.

It knows nothing of a kernel or a firmware: what runs on a CPU when it starts at an address
is the code installed there (:meth:`Board.install_code`), and the only thing hardware does
on its own is deliver IPIs by the platform's rules (:mod:`kapic.hw.apicbus`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from kapic.hw.apicbus import ApicBus
from kapic.hw.cpu import Cpu
from kapic.hw.hypervisor import HypervisorPolicy
from kapic.hw.memory import PhysicalMemory, Visibility
from kapic.sim.engine import ProcessGen

if TYPE_CHECKING:
    from kapic.platforms.model import Platform
    from kapic.sim.engine import Engine
    from kapic.sim.recorder import Recorder

__all__ = ["Board", "CpuCode", "Vmm"]

#: ``code(cpu, entry, mode)``: the process a CPU runs from ``entry`` (``real`` after a SIPI,
#: ``long`` when firmware jumps to a 64-bit vector)
CpuCode = Callable[[Cpu, int, str], ProcessGen]


class Board:
    """The hardware of one simulated machine: one CPU per APIC ID, the first one boots."""

    def __init__(
        self,
        engine: Engine,
        recorder: Recorder,
        platform: Platform,
        apic_ids: Sequence[int],
        *,
        seed: int = 0,
        visibility: Visibility | None = None,
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        self.platform = platform
        self.memory = PhysicalMemory(engine, visibility=visibility, seed=seed)
        self._rng = random.Random(seed)
        #: what the hypervisor decides (fault scenarios change it; its own seeded RNG)
        self.hypervisor = HypervisorPolicy(platform, random.Random(f"hypervisor:{seed}"))
        self._jitter_ppm = platform.param("jitter_ppm")
        self.bus = ApicBus(engine, recorder, platform, self.start_cpu, self.hypervisor)
        self.cpus: list[Cpu] = [
            Cpu(index, apic_id, _bus=self.bus, _memory=self.memory)
            for index, apic_id in enumerate(apic_ids)
        ]
        self.by_apic_id: dict[int, Cpu] = {cpu.apic_id: cpu for cpu in self.cpus}
        self.bus.attach(self.cpus, self.by_apic_id)
        self.cpus[0].state = "boot-cpu"
        #: x2APIC mode: the platform says so, or an APIC ID does not fit xAPIC's 8 bits
        self.x2apic_capable = bool(platform.param("x2apic")) or max(apic_ids) >= 0xFF
        self._code: CpuCode | None = None

    def install_code(self, code: CpuCode) -> None:
        """What every CPU runs when it is started (the kernel's trampoline)."""
        self._code = code

    def jittered(self, param: str) -> int:
        """A timing parameter with the seeded per-call jitter of ``jitter_ppm``."""
        base = self.platform.param(param)
        if not self._jitter_ppm or not base:
            return base
        span = base * self._jitter_ppm // 1_000_000
        # self._rng.randint(-span, span), without its three calls (it is drawn a few times
        # per AP): CPython's randrange draws k = n.bit_length() bits until one is below n
        n = 2 * span + 1
        if n <= 0:  # as randint says of a negative jitter or parameter
            raise ValueError(f"jitter of {param}: empty range ({-span}, {span})")
        k = n.bit_length()
        bits = self._rng.getrandbits(k)
        while bits >= n:
            bits = self._rng.getrandbits(k)
        return base - span + bits

    def start_cpu(self, cpu: Cpu, entry: int, mode: str) -> None:
        """Start ``cpu`` executing at ``entry`` (``real`` after SIPI, ``long`` from firmware)."""
        if self._code is None:
            cpu.state = "crashed"  # no code anywhere: nothing to run
            self.recorder.event(cpu.index, "ap-crash", f"started at 0x{entry:x}: no code there")
            return
        self.reset_cpu(cpu)  # a CPU runs one thing: a second start replaces the first
        cpu.state = "running"
        proc = cpu.process = self.engine.process(
            self._code(cpu, entry, mode), f"CPU{cpu.index}",
            relax_ns=self.platform.param("relax_ns"),
        )
        proc.on_exit = cpu.process_ended

    def reset_cpu(self, cpu: Cpu) -> None:
        """Stop whatever ``cpu`` runs (its process ends; pending wake-ups are dropped)."""
        if cpu.process is not None and cpu.process.alive:
            self.engine.kill(cpu.process)

    def vmm_start_vcpu(self, cpu: Cpu, entry: int, mode: str) -> None:
        """A hypervisor replaces ``cpu``'s state and runs it at ``entry`` once it schedules
        the vCPU (``vcpu_delay_ns`` later): SEV-SNP AP Creation, a VMM's own INIT."""

        def run(_arg: object) -> None:
            self.reset_cpu(cpu)
            self.start_cpu(cpu, entry, mode)

        delay = self.hypervisor.vcpu_delay(cpu)
        if delay is None:
            self.recorder.event(cpu.index, "vcpu-never-runs", f"start at 0x{entry:x} never runs")
            return
        self.engine.schedule(delay, run)


class Vmm:
    """What a guest can ask its hypervisor to do (VMGEXIT, TDVMCALL): the VMM side of a
    paravirtual wakeup. Every request is a VM exit on the calling CPU."""

    def __init__(self, board: Board) -> None:
        self._board = board

    def exit(self, reason: str = "") -> int:
        """Count one VM exit; returns its cost in ns, for the caller to ``yield``."""
        self._board.recorder.count("vm_exits")
        return self._board.platform.param("vm_exit_ns")

    def start_vcpu(self, apic_id: int, entry: int, mode: str = "real") -> bool:
        """Run the vCPU with ``apic_id`` at ``entry`` with fresh state, once the host
        schedules it; False when the guest has no such vCPU."""
        cpu = self._board.by_apic_id.get(apic_id)
        if cpu is None or cpu.state == "boot-cpu":
            return False
        self._board.vmm_start_vcpu(cpu, entry, mode)
        return True
