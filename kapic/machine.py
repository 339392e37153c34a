"""A simulated machine: engine, memory, CPUs with local APICs, firmware, platform, kernel.

Everything one simulated boot touches lives in one :class:`Machine`; two machines in one
process share nothing. Hardware rules for IPIs follow reference section 5: an INIT resets
the target into wait-for-SIPI (level de-assert is ignored, as on every CPU since the
Pentium 4 and in KVM), a STARTUP IPI starts a CPU only while it waits for SIPI (else it is
dropped), and a TDX guest's INIT/SIPI never reaches a vCPU (KVM TDX has no INIT at runtime).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kapic.acpi.builder import build_madt
from kapic.hw.cpu import Cpu
from kapic.hw.lapic import APIC_DM_INIT, APIC_DM_STARTUP, LocalApic
from kapic.hw.memory import PhysicalMemory, Visibility
from kapic.kernel.acpi_boot import acpi_process_madt, madt_cpu_entries
from kapic.kernel.cpuhp import smp_init
from kapic.kernel.kernel import Kernel, KernelCpu
from kapic.kernel.smpboot import start_secondary
from kapic.result import BootResult, Span, TraceEvent
from kapic.sim.engine import Engine

if TYPE_CHECKING:
    from kapic.acpi import Madt
    from kapic.firmware import FirmwareModel
    from kapic.kernel.config import KernelConfig, KernelProfile
    from kapic.platforms.model import Platform
    from kapic.plugin import PluginHost

__all__ = ["DEFAULT_WATCHDOG_NS", "Machine"]

#: the simulated-time watchdog: well past the kernel's 10 s alive wait
DEFAULT_WATCHDOG_NS = 30_000_000_000


class Machine:
    """One simulated x86 machine ready to boot."""

    def __init__(
        self,
        *,
        madt: Madt,
        platform: Platform,
        firmware: FirmwareModel,
        profile: KernelProfile,
        config: KernelConfig,
        plugins: PluginHost,
        seed: int = 0,
        watchdog_ns: int = DEFAULT_WATCHDOG_NS,
        visibility: Visibility | None = None,
        method: str = "auto",
    ) -> None:
        self.engine = Engine()
        self.platform = platform
        self.firmware = firmware
        self.plugins = plugins
        self.seed = seed
        self.method = method
        self.watchdog_ns = watchdog_ns
        self.rng = random.Random(seed)
        self.memory = PhysicalMemory(self.engine, visibility=visibility, seed=seed)
        self.counters: Counter[str] = Counter(
            {"ipis": 0, "vm_exits": 0, "mailbox_handshakes": 0, "icr_writes": 0}
        )
        self.trace: list[TraceEvent] = []
        self.spans: list[Span] = []
        self.reasons: list[str] = []
        self.cpus: list[Cpu] = []
        #: firmware models' per-machine state
        self.firmware_state: dict[str, object] = {}
        self.hw_by_apicid: dict[int, int] = {}
        self.kcpu_by_apicid: dict[int, KernelCpu] = {}
        # The hardware is what the firmware's table describes: one CPU per enabled entry.
        for entry in madt_cpu_entries(madt):
            if entry.enabled and entry.apic_id not in self.hw_by_apicid:
                index = len(self.cpus)
                self.hw_by_apicid[entry.apic_id] = index
                cpu = Cpu(index, entry.apic_id, LocalApic(self, index, entry.apic_id),
                          self.memory.cpu_view(index))
                self.cpus.append(cpu)
        if not self.cpus:
            from kapic.errors import MadtError

            raise MadtError("no enabled processor entry: nothing to boot", source="MADT")
        self.cpus[0].state = "boot-cpu"
        self.x2apic_capable = bool(platform.param("x2apic")) or max(self.hw_by_apicid) >= 0xFF
        #: the table the firmware hands to the kernel
        self.madt = madt
        firmware.park(self)
        self.kernel = Kernel(self, profile, config)
        for wm in plugins.wakeup_methods():
            if wm.fallback_handler is not None:
                self.kernel.wakeup_secondary_cpu_via_init = wm.fallback_handler
        self._jitter_ppm = platform.param("jitter_ppm")
        self.bp_done: int | None = None
        self._hung_why: str | None = None
        self._wall = 0.0
        #: ``progress(done, total)`` called as each AP comes online or fails
        self.progress: Callable[[int, int], None] | None = None
        self._done_cpus = 0
        self._last_progress_ns = 0

    # -- services for hardware, firmware and kernel models ----------------------------------
    def progress_tick(self) -> None:
        """One more AP finished (online or failed)."""
        self._done_cpus += 1
        self._last_progress_ns = self.engine.now
        if self.progress is not None:
            total = sum(1 for k in self.kernel.cpus[1:] if k.present)
            self.progress(self._done_cpus, total)

    def jittered(self, param: str) -> int:
        """A timing parameter with the seeded per-call jitter of ``jitter_ppm``."""
        base = self.platform.param(param)
        if not self._jitter_ppm or not base:
            return base
        span = base * self._jitter_ppm // 1_000_000
        return base + self.rng.randint(-span, span)

    def add_kernel_cpu(self, apic_id: int, present: bool, hw_index: int | None) -> KernelCpu:
        e = self.engine
        n = len(self.kernel.cpus)
        kcpu = KernelCpu(n, apic_id, present, hw_index, e.signal(f"alive{n}"),
                         e.signal(f"should_online{n}"), e.signal(f"online{n}"))
        self.kernel.cpus.append(kcpu)
        if hw_index is not None:
            self.cpus[hw_index].logical = n
            self.kcpu_by_apicid[apic_id] = kcpu
        return kcpu

    def send_ipi(self, src: int, dest: int, mode: int, vector: int, *, level: bool,
                 asserted: bool) -> bool:
        """Deliver an IPI from CPU ``src``; False when no APIC accepts it."""
        index = self.hw_by_apicid.get(dest)
        self.trace.append(TraceEvent(self.engine.now, src, "ipi",
                                     f"mode=0x{mode:x} vector=0x{vector:x} dest=0x{dest:x}"))
        if index is None:
            return self.platform.hypervisor != "none"  # a VMM drops it silently
        if mode in (APIC_DM_INIT, APIC_DM_STARTUP) and not self.platform.init_sipi:
            self.trace.append(TraceEvent(self.engine.now, index, "ipi-dropped",
                                         f"{self.platform.name}: the VMM cannot deliver INIT/SIPI "
                                         "to a protected vCPU"))
            return True
        delay = self.platform.param("ipi_latency_ns")
        if self.platform.hypervisor != "none":
            delay += self.platform.param("vcpu_delay_ns")
        self.engine.schedule(delay, self._deliver, (index, mode, vector, level, asserted))
        return True

    def _deliver(self, arg: tuple[int, int, int, bool, bool]) -> None:
        index, mode, vector, level, asserted = arg
        cpu = self.cpus[index]
        now = self.engine.now
        if mode == APIC_DM_INIT:
            if level and not asserted:
                self.trace.append(TraceEvent(now, index, "init-deassert-ignored", ""))
                return
            if cpu.state == "boot-cpu":
                return
            if cpu.process is not None and cpu.process.alive:
                self.engine.kill(cpu.process)
            cpu.state = "wait-for-sipi"
            self.trace.append(TraceEvent(now, index, "init", "wait-for-SIPI"))
        elif mode == APIC_DM_STARTUP:
            if cpu.state != "wait-for-sipi":
                self.trace.append(TraceEvent(now, index, "sipi-dropped", f"state {cpu.state}"))
                return
            self.trace.append(TraceEvent(now, index, "sipi", f"vector 0x{vector:x}"))
            self.start_ap(cpu, vector << 12, "real")

    def start_ap(self, cpu: Cpu, entry: int, mode: str) -> None:
        """Start ``cpu`` executing at ``entry`` (``real`` after SIPI, ``long`` from firmware)."""
        cpu.state = "running"
        cpu.process = self.engine.process(
            start_secondary(self.kernel, cpu, entry, mode), f"CPU{cpu.index}",
            relax_ns=self.platform.param("relax_ns"),
        )

    # -- the boot ---------------------------------------------------------------------------
    def _bp_main(self) -> Any:
        kernel = self.kernel
        self.kernel.madt_bytes = bytearray(build_madt(self.madt))
        acpi_process_madt(kernel, self.madt, self.plugins.madt_handlers())
        kernel.apic_state.x86_64_probe_apic()
        self.plugins.smp_prepare_cpus(kernel)  # native_smp_prepare_cpus()
        yield from smp_init(kernel)
        self.bp_done = self.engine.now

    def offline(self, cpus: list[int]) -> list[int]:
        """After :meth:`boot`: take logical CPUs offline one by one; their return codes."""
        from kapic.kernel.hotplug import cpu_down

        codes: list[int] = []

        def run() -> Any:
            for cpu in cpus:
                codes.append((yield from cpu_down(self.kernel, cpu)))

        self.engine.process(run(), "CPU0-hotplug", relax_ns=self.platform.param("relax_ns"))
        self.engine.run(until=self.engine.now + self.watchdog_ns)
        return codes

    def boot(self, *, max_events: int | None = None) -> BootResult:
        """Run the boot to its end (or the watchdog) and return the result."""
        wall0 = time.perf_counter()
        if max_events is None:
            max_events = 5_000_000 + 2_000 * len(self.cpus)
        bp = self.engine.process(self._bp_main(), "CPU0", relax_ns=self.platform.param("relax_ns"))
        self.cpus[0].process = bp
        # The watchdog bites when no AP has come online or failed for watchdog_ns: a boot
        # that keeps failing CPUs after 10 s each still makes progress.
        deadline = self.watchdog_ns
        while True:
            self.engine.run(until=deadline, max_events=max_events)
            if self.bp_done is not None or self.engine.events >= max_events:
                break
            if self._last_progress_ns + self.watchdog_ns <= deadline or not self.engine._heap:
                break
            deadline = self._last_progress_ns + self.watchdog_ns
        hung_why = None
        if self.bp_done is None:
            self.engine.now = max(self.engine.now, self._last_progress_ns + self.watchdog_ns)
            if self.engine.events >= max_events:
                hung_why = (
                    f"stopped after {max_events} events: a spin loop that never settles "
                    "(its locals change every iteration)"
                )
            else:
                hung_why = (
                    f"the watchdog stopped the boot after {self.watchdog_ns / 1e9:g} s "
                    "without progress"
                )
        self._hung_why = hung_why
        self._wall = time.perf_counter() - wall0
        return self.result()

    def result(self) -> BootResult:
        """The :class:`BootResult` of the machine as it is now (after :meth:`boot`)."""
        from kapic.outcome import build_result

        return build_result(self, self._hung_why, self._wall)
