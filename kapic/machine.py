"""A simulated machine: assembled from a spec, then run.

:class:`Machine` builds the layers bottom up and wires them, and does nothing else: the
engine and recorder (:mod:`kapic.sim`), the board (:mod:`kapic.hw`), the firmware session
(:mod:`kapic.firmware`) and the kernel (:mod:`kapic.kernel`), each given only what it needs.
Two machines in one process share nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kapic.acpi.builder import build_madt
from kapic.acpi.cpus import madt_cpu_entries
from kapic.boundary import PluginFault
from kapic.errors import MadtError
from kapic.firmware.model import FirmwareEnv, FirmwareSession
from kapic.hw.board import Board
from kapic.hw.memory import PhysicalMemory, Visibility
from kapic.kernel.acpi_boot import acpi_process_madt
from kapic.kernel.apic import ApicDriverRegistry
from kapic.kernel.cpuhp import smp_init
from kapic.kernel.env import KernelEnv
from kapic.kernel.kernel import Kernel
from kapic.kernel.smpboot import start_secondary
from kapic.result import BootResult
from kapic.sim.engine import Engine
from kapic.sim.recorder import Recorder

if TYPE_CHECKING:
    from kapic.acpi import Madt
    from kapic.firmware.model import FirmwareModel
    from kapic.hw.cpu import Cpu
    from kapic.kernel.config import KernelConfig, KernelProfile
    from kapic.platforms.model import Platform
    from kapic.plugin import PluginHost
    from kapic.sim.engine import ProcessGen

__all__ = ["DEFAULT_WATCHDOG_NS", "Machine"]

#: the simulated-time watchdog: well past the kernel's 10 s alive wait
DEFAULT_WATCHDOG_NS = 30_000_000_000
#: the counters every result has, even at zero
COUNTERS = ("ipis", "vm_exits", "mailbox_handshakes", "icr_writes")


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
        self.platform = platform
        self.firmware = firmware
        self.plugins = plugins
        self.seed = seed
        self.method = method
        self.watchdog_ns = watchdog_ns
        #: the table the firmware hands to the kernel
        self.madt = madt
        self.engine = Engine()
        self.recorder = Recorder(self.engine, COUNTERS)
        # The hardware is what the firmware's table describes: one CPU per enabled entry.
        apic_ids = list(dict.fromkeys(e.apic_id for e in madt_cpu_entries(madt) if e.enabled))
        if not apic_ids:
            raise MadtError("no enabled processor entry: nothing to boot", source="MADT")
        self.board = Board(self.engine, self.recorder, platform, apic_ids, seed=seed,
                           visibility=visibility)
        boundary = plugins.boundary
        owner = plugins.owner(firmware)
        env = FirmwareEnv(self.board, madt, boundary, owner, firmware.name)
        session = boundary.call(f"firmware {firmware.name!r} park", firmware.park, env,
                                owner=owner, check=_session_check)
        self.firmware_session: FirmwareSession = session or FirmwareSession()
        registry = ApicDriverRegistry(x86_64=config.X86_64, boundary=boundary)
        plugins.register_apic_drivers(registry)
        kernel_env = KernelEnv(self.engine, self.board, self.recorder, boundary,
                               self.firmware_session, owner)
        self.kernel = Kernel(kernel_env, profile, config, registry)
        self.board.install_code(self._trampoline)
        for wm in plugins.wakeup_methods():  # at most one has it (checked at load)
            if wm.fallback_handler is not None:
                self.kernel.wakeup_secondary_cpu_via_init = wm.fallback_handler
        self.bp_done: int | None = None
        self._hung_why: str | None = None
        self._fault: PluginFault | None = None
        self._wall = 0.0

    # -- what the layers are made of --------------------------------------------------------
    @property
    def memory(self) -> PhysicalMemory:
        """The board's physical memory."""
        return self.board.memory

    @property
    def cpus(self) -> list[Cpu]:
        """The board's CPUs (hardware threads, in table order; CPU 0 boots)."""
        return self.board.cpus

    @property
    def progress(self) -> Callable[[int, int], None] | None:
        """``progress(done, total)`` called as each AP comes online or fails."""
        return self.recorder.progress

    @progress.setter
    def progress(self, fn: Callable[[int, int], None] | None) -> None:
        self.recorder.progress = fn

    def _trampoline(self, cpu: Cpu, entry: int, mode: str) -> ProcessGen:
        return start_secondary(self.kernel, cpu, entry, mode)

    # -- the boot ---------------------------------------------------------------------------
    def _bp_main(self) -> Any:
        kernel = self.kernel
        kernel.madt_bytes = bytearray(build_madt(self.madt))
        acpi_process_madt(kernel, self.madt, self.plugins.madt_handlers())
        kernel.apic_state.x86_64_probe_apic()
        self.plugins.smp_prepare_cpus(kernel)  # native_smp_prepare_cpus()
        yield from smp_init(kernel)
        self.bp_done = self.engine.now

    def _run(self, until: int, max_events: int | None = None) -> bool:
        """Run the engine; False when a plugin fault stopped it."""
        try:
            self.engine.run(until=until, max_events=max_events)
        except PluginFault as fault:
            fault.time_ns = self.engine.now
            self._fault = fault
            return False
        return True

    def offline(self, cpus: list[int]) -> list[int]:
        """After :meth:`boot`: take logical CPUs offline one by one; their return codes."""
        from kapic.kernel.hotplug import cpu_down

        codes: list[int] = []

        def run() -> Any:
            for cpu in cpus:
                codes.append((yield from cpu_down(self.kernel, cpu)))

        self.engine.process(run(), "CPU0-hotplug", relax_ns=self.platform.param("relax_ns"))
        self._run(self.engine.now + self.watchdog_ns)
        return codes

    def boot(self, *, max_events: int | None = None) -> BootResult:
        """Run the boot to its end (or the watchdog, or a plugin fault) and return the result."""
        wall0 = time.perf_counter()
        if max_events is None:
            max_events = 5_000_000 + 2_000 * len(self.cpus)
        bp = self.engine.process(self._bp_main(), "CPU0", relax_ns=self.platform.param("relax_ns"))
        self.cpus[0].process = bp
        recorder = self.recorder
        # The watchdog bites when no AP has come online or failed for watchdog_ns: a boot
        # that keeps failing CPUs after 10 s each still makes progress.
        deadline = self.watchdog_ns
        while self._run(deadline, max_events):
            if self.bp_done is not None or self.engine.events >= max_events:
                break
            if recorder.last_progress_ns + self.watchdog_ns <= deadline or not self.engine.pending:
                break
            deadline = recorder.last_progress_ns + self.watchdog_ns
        hung_why = None
        if self.bp_done is None and self._fault is None:
            if self.engine.events >= max_events:
                # The clock stays where the loop was stopped: that is how far it got.
                hung_why = (
                    f"stopped after {max_events} events at {self.engine.now / 1e9:g} s simulated: "
                    "a loop that never settles (a spin that yields RELAX where it could "
                    "declare itself with SPIN, or one whose words change every iteration)"
                )
            else:
                self.engine.now = max(self.engine.now,
                                      recorder.last_progress_ns + self.watchdog_ns)
                hung_why = (
                    f"the watchdog stopped the boot after {self.watchdog_ns / 1e9:g} s "
                    "without progress"
                )
        self._hung_why = hung_why
        self._wall = time.perf_counter() - wall0
        return self.result()

    def result(self) -> BootResult:
        """The :class:`BootResult` of the machine as it is now (after :meth:`boot`)."""
        from kapic.classify import classify_boot

        return classify_boot(self, self._hung_why, self._fault, self._wall)


def _session_check(value: object) -> str | None:
    if value is None or isinstance(value, FirmwareSession):
        return None
    return f"returned {value!r}: park() returns a FirmwareSession or None"
