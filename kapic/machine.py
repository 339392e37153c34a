"""A simulated machine: assembled from a spec, then run.

:class:`Machine` builds the layers bottom up and wires them, and does nothing else: the
engine and recorder (:mod:`kapic.sim`), the board (:mod:`kapic.hw`), the firmware session
(:mod:`kapic.firmware`) and the kernel (:mod:`kapic.kernel`), each given only what it needs.
Two machines in one process share nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from kapic.acpi.builder import build_madt
from kapic.acpi.cpus import enabled_apic_ids
from kapic.boundary import UNKNOWN_PLUGIN, PluginFault, PluginRef
from kapic.errors import ConfigError, MadtError, SimulationError
from kapic.firmware.model import FirmwareEnv, FirmwareSession
from kapic.hw.board import Board
from kapic.hw.memory import PhysicalMemory, Visibility
from kapic.kernel.acpi_boot import acpi_process_madt
from kapic.kernel.apic import ApicDriverRegistry
from kapic.kernel.cpuhp import smp_init
from kapic.kernel.env import KernelEnv
from kapic.kernel.kernel import Kernel, errno_name
from kapic.kernel.smpboot import smp_sanity_check, start_secondary
from kapic.result import BootResult
from kapic.sim import collector
from kapic.sim.engine import Engine, SimulationAbort
from kapic.sim.recorder import Recorder

if TYPE_CHECKING:
    from kapic.acpi import Madt
    from kapic.faults.model import FaultContext
    from kapic.firmware.model import FirmwareModel
    from kapic.hw.cpu import Cpu
    from kapic.kernel.config import KernelConfig
    from kapic.platforms.model import Platform
    from kapic.plugin import PluginHost
    from kapic.sim.engine import ProcessGen
    from kapic.versions import KernelVersion

__all__ = ["DEFAULT_WATCHDOG_NS", "STALL_EVENTS", "Machine", "WallBudgetExceeded"]

#: the simulated-time watchdog: well past the kernel's 10 s alive wait
DEFAULT_WATCHDOG_NS = 30_000_000_000
#: the counters every result has, even at zero
COUNTERS = ("ipis", "vm_exits", "mailbox_handshakes", "icr_writes")
#: events without progress (an AP kicked, alive, online or failed) before a boot is stopped
#: as hung
STALL_EVENTS = 5_000_000
#: wall-clock seconds one boot may run before the code running is stopped (a plugin's loop
#: that never yields); None: no budget
DEFAULT_WALL_BUDGET_S: float | None = 600.0


class WallBudgetExceeded(SimulationAbort):
    """The boot's wall-clock budget ran out (raised by a timer signal wherever code runs)."""


@contextlib.contextmanager
def _wall_budget(seconds: float | None) -> Iterator[None]:
    """Interrupt the code running after ``seconds`` of wall time (main thread, POSIX only)."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return
    assert seconds is not None

    def expired(_signum: int, _frame: object) -> None:
        raise WallBudgetExceeded(f"wall-clock budget of {seconds:g} s exceeded")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Machine:
    """One simulated x86 machine ready to boot."""

    def __init__(
        self,
        *,
        madt: Madt,
        platform: Platform,
        firmware: FirmwareModel,
        version: KernelVersion,
        config: KernelConfig,
        plugins: PluginHost,
        seed: int = 0,
        watchdog_ns: int = DEFAULT_WATCHDOG_NS,
        visibility: Visibility | None = None,
        method: str = "auto",
        wall_budget_s: float | None = DEFAULT_WALL_BUDGET_S,
        recording: str = "full",
        firmware_owner: PluginRef | None = None,
        firmware_madt: Madt | None = None,
        fault_hooks: Sequence[tuple[PluginRef, str, FaultContext]] = (),
    ) -> None:
        self.platform = platform
        self.firmware = firmware
        self.plugins = plugins
        self.seed = seed
        self.method = method
        self.watchdog_ns = watchdog_ns
        self.wall_budget_s = wall_budget_s
        #: why --offline failed, CPU by CPU (the result is then cpu-failed)
        self.offline_errors: list[str] = []
        #: the spec the machine was built from (kapic.api.build_machine sets it), recorded in
        #: the result so the run can be replayed
        self.spec_json: dict[str, Any] | None = None
        #: which MADT of a multi-table input was taken ("" for one table), for the user
        self.madt_note = ""
        #: the table the firmware hands to the kernel
        self.madt = madt
        self.engine = Engine()
        self.recorder = Recorder(self.engine, COUNTERS, level=recording)
        # The hardware is what the firmware's table describes: one CPU per enabled entry.
        # (from the table the firmware published: a fault may hide a CPU from the kernel)
        hardware = firmware_madt or madt
        apic_ids = enabled_apic_ids(hardware)
        if not apic_ids:
            raise MadtError("no enabled processor entry: nothing to boot", source="MADT")
        self.board = Board(self.engine, self.recorder, platform, apic_ids, seed=seed,
                           visibility=visibility)
        boundary = plugins.boundary
        self._fault_hooks = list(fault_hooks)
        policy = self.board.hypervisor
        set_by: dict[str, str] = {}
        for fault_owner, name, ctx in self._fault_hooks:  # the hypervisor's (faulty) answers
            for setup in ctx.hypervisor_setups:
                before = {hook: getattr(policy, hook) for hook in _POLICY_CHECKS}
                boundary.call(f"fault {name!r} hypervisor", setup, policy, owner=fault_owner)
                for hook, check in _POLICY_CHECKS.items():
                    fn = getattr(policy, hook)
                    if fn is not before[hook] and fn is not None:  # this fault's: guard it
                        if hook in set_by and set_by[hook] != name:
                            raise ConfigError(f"--fault {set_by[hook]} and --fault {name} both "
                                              f"set the hypervisor's {hook}: give one of them")
                        set_by[hook] = name
                        setattr(policy, hook, _guarded(boundary, fault_owner,
                                                       f"fault {name!r} HypervisorPolicy.{hook}",
                                                       fn, check))
        owner = firmware_owner or plugins.owner(firmware)
        env = FirmwareEnv(self.board, firmware_madt or madt, boundary, owner, firmware.name)
        session = boundary.call(f"firmware {firmware.name!r} park", firmware.park, env,
                                owner=owner, check=_session_check)
        self.firmware_session: FirmwareSession = session or FirmwareSession()
        registry = ApicDriverRegistry(x86_64=config.X86_64, boundary=boundary)
        plugins.register_apic_drivers(registry)
        kernel_env = KernelEnv(self.engine, self.board, self.recorder, boundary,
                               self.firmware_session, owner)
        self.kernel = Kernel(kernel_env, version, config, registry)
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
        kernel.apic_state.try_to_enable_x2apic()  # apic_intr_mode_init -> enable_IR_x2apic
        kernel.apic_state.x86_64_probe_apic()
        smp_sanity_check(kernel)  # native_smp_prepare_cpus()
        self.plugins.smp_prepare_cpus(kernel)
        for fault_owner, name, ctx in self._fault_hooks:
            for hook in ctx.kernel_hooks:
                self.plugins.boundary.call(f"fault {name!r} kernel hook", hook, kernel,
                                           owner=fault_owner)
        yield from smp_init(kernel)
        self.bp_done = self.engine.now

    def _run(self, until: int, max_events: int | None = None) -> bool:
        """Run the engine; False when a plugin's fault (or the wall-clock budget) stopped it.

        The cyclic garbage collector is off meanwhile: the run makes millions of short-lived
        objects and no cycle that must be freed before it ends (1.5 s of 8 at 65,536 CPUs)."""
        with collector.paused():
            return self._run_events(until, max_events)

    def _run_events(self, until: int, max_events: int | None) -> bool:
        try:
            with _wall_budget(self.wall_budget_s):
                self.engine.run(until=until, max_events=max_events)
        except PluginFault as fault:
            fault.time_ns = self.engine.now
            self._fault = fault
            return False
        except WallBudgetExceeded as exc:
            self._fault = self._blame(exc, f"kept the CPU for more than {self.wall_budget_s:g} s "
                                      "of wall time without returning to the simulation (a loop "
                                      "that never yields?)")
            return False
        except (Exception, SystemExit) as exc:  # raised outside the boundary's guarded calls
            blamed = self._blame(exc, f"raised {type(exc).__name__}: {exc}")
            if blamed.owner is UNKNOWN_PLUGIN:
                raise SimulationError(f"internal error at {self.engine.now} ns: "
                                      f"{type(exc).__name__}: {exc}") from exc
            self._fault = blamed
            return False
        return True

    def _blame(self, exc: BaseException, problem: str) -> PluginFault:
        """A fault of the plugin whose code is deepest in ``exc``'s traceback."""
        boundary = self.plugins.boundary
        owner, where = boundary.culprit_frame(exc.__traceback__)
        fault = PluginFault(owner or UNKNOWN_PLUGIN, where or "a callback", problem,
                            traceback_text=boundary.format(exc))
        fault.time_ns = self.engine.now
        return fault

    def offline(self, cpus: list[int]) -> list[int]:
        """After :meth:`boot`: take logical CPUs offline one by one; their return codes. A CPU
        the kernel refused to offline is a reason of the result, which is then cpu-failed."""
        from kapic.kernel.hotplug import cpu_down

        codes: list[int] = []

        def run() -> Any:
            for cpu in cpus:
                codes.append((yield from cpu_down(self.kernel, cpu)))

        self.engine.process(run(), "CPU0-hotplug", relax_ns=self.platform.param("relax_ns"))
        self._run(self.engine.now + self.watchdog_ns)
        for cpu, code in zip(cpus, codes, strict=False):
            if code:
                self.offline_errors.append(f"cpu_down(CPU{cpu}) = {code} ({errno_name(code)}): "
                                           "the kernel did not take it offline")
        return codes

    def boot(self, *, max_events: int | None = None) -> BootResult:
        """Run the boot to its end (or the watchdog, or a plugin fault) and return the result.

        ``max_events``: how many events may pass without progress (an AP kicked, alive,
        online or failed) before the boot is stopped as hung (a loop that never settles);
        the default is :data:`STALL_EVENTS`. It starts again at each progress, so a boot's
        events may grow with its CPUs; the wall-clock budget bounds the whole boot.
        """
        wall0 = time.perf_counter()
        stall = STALL_EVENTS if max_events is None else max_events
        bp = self.engine.process(self._bp_main(), "CPU0", relax_ns=self.platform.param("relax_ns"))
        self.cpus[0].process = bp
        recorder = self.recorder
        # The watchdog bites when no AP has moved on (kicked, alive, online, failed) for
        # watchdog_ns: a boot that keeps failing CPUs after 10 s each, or a parallel
        # bring-up whose kick phase outlasts the watchdog, still makes progress. The event
        # budget counts the same way: events since the last progress. Each progress point
        # (at most a few per CPU) starts both again; --wall-budget bounds the whole boot, so
        # a plugin that reports progress forever still ends.
        deadline = self.watchdog_ns
        stalled = over_budget = False
        budget = self.wall_budget_s
        while True:
            limit = recorder.progress_events + stall
            if not self._run(deadline, limit) or self.bp_done is not None:
                break
            if budget is not None and time.perf_counter() - wall0 > budget:
                over_budget = True
                break
            if self.engine.events >= limit:
                if recorder.progress_events + stall > self.engine.events:
                    continue  # progress since the budget was set: a new budget
                stalled = True
                break
            if recorder.last_progress_ns + self.watchdog_ns <= deadline or not self.engine.pending:
                break
            deadline = recorder.last_progress_ns + self.watchdog_ns
        hung_why = None
        if self.bp_done is None and self._fault is None:
            if over_budget:
                hung_why = (
                    f"stopped after {budget:g} s of wall time (--wall-budget), at "
                    f"{self.engine.now / 1e9:g} s simulated: the boot kept reporting progress "
                    "but never finished"
                )
            elif stalled:
                # The clock stays where the loop was stopped: that is how far it got.
                hung_why = (
                    f"stopped after {stall} events without progress, at "
                    f"{self.engine.now / 1e9:g} s simulated: a loop that never settles (a spin "
                    "that yields RELAX where it could declare itself with SPIN, or one whose "
                    "words change every iteration)"
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
        with collector.paused():  # one CpuResult per CPU, no cycle among them
            return self.result()

    def result(self) -> BootResult:
        """The :class:`BootResult` of the machine as it is now (after :meth:`boot`)."""
        from kapic.classify import classify_boot

        return classify_boot(self, self._hung_why, self._fault, self._wall)


def _delay_check(value: object) -> str | None:
    if value is None or (type(value) is int and value >= 0):
        return None
    return f"returned {value!r}: expected a delay in ns (an int of 0 or more) or None"


def _copies_check(value: object) -> str | None:
    return None if value in (0, 1, 2) and type(value) is int else (
        f"returned {value!r}: expected 0, 1 or 2 copies")


def _apic_id_check(value: object) -> str | None:
    return None if type(value) is int and 0 <= value < 1 << 32 else (
        f"returned {value!r}: expected an APIC ID (an int)")


#: the hypervisor hooks a fault may set, and what each must return
_POLICY_CHECKS: dict[str, Callable[[object], str | None]] = {
    "extra_delay": _delay_check, "copies": _copies_check, "apic_id_seen": _apic_id_check,
}


def _guarded(boundary: Any, owner: PluginRef, what: str, fn: Callable[..., Any],
             check: Callable[[object], str | None]) -> Callable[..., Any]:
    """``fn`` called through the plugin boundary as ``owner``'s, its result checked."""

    def call(*args: Any) -> Any:
        return boundary.call(what, fn, *args, owner=owner, check=check)

    return call


def _session_check(value: object) -> str | None:
    if value is None or isinstance(value, FirmwareSession):
        return None
    return f"returned {value!r}: park() returns a FirmwareSession or None"
