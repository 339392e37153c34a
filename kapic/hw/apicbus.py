"""The APIC bus: how an IPI written to one local APIC's ICR reaches (or misses) another CPU.

Hardware rules of reference section 5: an INIT resets the target into wait-for-SIPI (level
de-assert is ignored, as on every CPU since the Pentium 4 and in KVM), a STARTUP IPI starts a
CPU only while it waits for SIPI (else it is dropped), and a guest whose platform forbids
INIT/SIPI (TDX: KVM TDX has no INIT at runtime) never sees either. In a guest the VMM adds
``vcpu_delay_ns`` before the target vCPU runs; on bare metal an IPI to an APIC ID nobody has
is not accepted (the sender's ESR records it), while a VMM drops it silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from kapic.hw.lapic import APIC_DM_INIT, APIC_DM_STARTUP

if TYPE_CHECKING:
    from kapic.hw.cpu import Cpu
    from kapic.hw.hypervisor import HypervisorPolicy
    from kapic.platforms.model import Platform
    from kapic.sim.engine import Engine
    from kapic.sim.recorder import Recorder

__all__ = ["ApicBus"]


class ApicBus:
    """Delivers IPIs between the CPUs of one board."""

    def __init__(
        self,
        engine: Engine,
        recorder: Recorder,
        platform: Platform,
        start_cpu: Callable[[Cpu, int, str], None],
        hypervisor: HypervisorPolicy,
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        self.platform = platform
        self._start_cpu = start_cpu
        self._hypervisor = hypervisor
        self._cpus: Sequence[Cpu] = ()
        self._by_apic_id: Mapping[int, Cpu] = {}

    @property
    def now(self) -> int:
        """The simulated time."""
        return self.engine.now

    def attach(self, cpus: Sequence[Cpu], by_apic_id: Mapping[int, Cpu]) -> None:
        """The CPUs on the bus, and the board's map of them by APIC ID (shared, not copied:
        one entry per CPU is 36 bytes at 65,536 CPUs)."""
        self._cpus = cpus
        self._by_apic_id = by_apic_id

    def send_ipi(self, src: int, dest: int, mode: int, vector: int, *, level: bool,
                 asserted: bool) -> bool:
        """Deliver an IPI from CPU ``src``; False when no APIC accepts it."""
        target = self._by_apic_id.get(dest)
        index = None if target is None else target.index
        if self.recorder.tracing:
            self.recorder.event(src, "ipi", f"mode=0x{mode:x} vector=0x{vector:x} dest=0x{dest:x}")
        platform = self.platform
        if index is None:
            return platform.hypervisor != "none"  # a VMM drops it silently
        if mode in (APIC_DM_INIT, APIC_DM_STARTUP) and not platform.init_sipi:
            self.recorder.event(index, "ipi-dropped", f"{platform.name}: the VMM cannot deliver "
                                "INIT/SIPI to a protected vCPU")
            return True
        delay = platform.param("ipi_latency_ns")
        if platform.hypervisor != "none":
            vcpu = self._hypervisor.vcpu_delay(self._cpus[index])
            if vcpu is None:  # the VMM never runs the target: the IPI waits forever
                self.recorder.event(index, "vcpu-never-runs", "an IPI is never delivered")
                return True
            delay += vcpu
            copies = self._hypervisor.ipi_copies(src, dest, mode)
            if copies == 0:
                self.recorder.event(index, "ipi-dropped", "the VMM dropped it")
                return True
        else:
            copies = 1
        for _ in range(copies):
            self.engine.schedule(delay, self._deliver, (index, mode, vector, level, asserted))
        return True

    def _deliver(self, arg: tuple[int, int, int, bool, bool]) -> None:
        index, mode, vector, level, asserted = arg
        cpu = self._cpus[index]
        if mode == APIC_DM_INIT:
            if level and not asserted:
                self.recorder.event(index, "init-deassert-ignored")
                return
            if cpu.state == "boot-cpu":
                return
            if cpu.process is not None and cpu.process.alive:
                self.engine.kill(cpu.process)
            cpu.state = "wait-for-sipi"
            self.recorder.event(index, "init", "wait-for-SIPI")
        elif mode == APIC_DM_STARTUP:
            if cpu.state != "wait-for-sipi":
                self.recorder.event(index, "sipi-dropped", f"state {cpu.state}")
                return
            if self.recorder.tracing:
                self.recorder.event(index, "sipi", f"vector 0x{vector:x}")
            self._start_cpu(cpu, vector << 12, "real")
