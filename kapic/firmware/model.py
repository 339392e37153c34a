"""Firmware models: where an AP waits before the kernel wakes it, and what it does then.

A :class:`FirmwareModel` is what a plugin provides (``kapic_firmware_models``): it may amend
the MADT the firmware publishes (TDVF appends the Multiprocessor Wakeup structure) and, once
per machine, parks the APs (:meth:`FirmwareModel.park`). It sees the machine only through a
:class:`FirmwareEnv`: memory, the clock, the APs, "start this CPU at this vector", counters
and the trace. What it keeps for one machine lives in the :class:`FirmwareSession` ``park``
returns, typed by the model itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kapic.sim.engine import SimulationAbort

if TYPE_CHECKING:
    from kapic.acpi import Madt
    from kapic.boundary import PluginBoundary, PluginRef
    from kapic.hw.board import Board
    from kapic.hw.cpu import Cpu
    from kapic.hw.memory import PhysicalMemory

__all__ = ["FirmwareEnv", "FirmwareModel", "FirmwareSession", "SipiWaitFirmware"]


class FirmwareEnv:
    """What a firmware model may touch on one machine.

    Every callback it schedules runs through the plugin boundary: if it raises, the boot ends
    with a ``plugin-error`` naming the firmware's plugin.
    """

    def __init__(self, board: Board, madt: Madt, boundary: PluginBoundary, owner: PluginRef,
                 model: str) -> None:
        self._board = board
        self._boundary = boundary
        self._owner = owner
        self._model = model
        #: the MADT this firmware published (the mailbox address is in it)
        self.madt = madt

    @property
    def now(self) -> int:
        """The simulated time in ns."""
        return self._board.engine.now

    @property
    def memory(self) -> PhysicalMemory:
        """Physical memory as every CPU sees it (firmware runs on the parked APs)."""
        return self._board.memory

    @property
    def aps(self) -> list[Cpu]:
        """The application processors, in the order of the firmware's table."""
        return self._board.cpus[1:]

    def param(self, name: str) -> int:
        """A timing parameter of the platform (``fw_poll_ns``, ``vcpu_delay_ns``, ...)."""
        return self._board.platform.param(name)

    def _label(self, fn: Callable[..., None]) -> str:
        return f"firmware {self._model!r} callback {getattr(fn, '__qualname__', fn)!r}"

    def schedule(self, delay: int, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``fn(arg)`` ``delay`` ns from now."""
        boundary, owner = self._boundary, self._owner

        def guarded(value: Any) -> None:
            try:
                fn(value)
            except SimulationAbort:
                raise
            except Exception as exc:
                raise boundary.fault(owner, self._label(fn), exc) from None

        self._board.engine.schedule(delay, guarded, arg)

    def on_write(self, lo: int, hi: int, fn: Callable[[int, int], None]) -> None:
        """Call ``fn(addr, size)`` after every visible write overlapping ``[lo, hi)``."""
        boundary, owner = self._boundary, self._owner

        def guarded(addr: int, size: int) -> None:
            try:
                fn(addr, size)
            except SimulationAbort:
                raise
            except Exception as exc:
                what = f"{self._label(fn)} (on a {size}-byte write to 0x{addr:x})"
                raise boundary.fault(owner, what, exc) from None

        self._board.engine.on_write(lo, hi, guarded)

    def vcpu_delay(self, cpu: Cpu) -> int | None:
        """ns until the hypervisor runs ``cpu`` once it has work to do (a parked AP that saw a
        command); None: the hypervisor never runs it."""
        return self._board.hypervisor.vcpu_delay(cpu)

    def apic_id_of(self, cpu: Cpu) -> int:
        """The APIC ID ``cpu`` believes it has: what the hypervisor answers to CPUID leaf 0xB
        (TDVF and td-shim ask with TDVMCALL); a lying hypervisor changes it."""
        return self._board.hypervisor.apic_id_of(cpu)

    def start_cpu(self, cpu: Cpu, vector: int, mode: str = "long") -> None:
        """``cpu`` leaves the firmware and jumps to ``vector``."""
        self._board.start_cpu(cpu, vector, mode)

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter of the boot's result (``mailbox_handshakes``, ...)."""
        self._board.recorder.count(name, n)

    @property
    def tracing(self) -> bool:
        """Whether the boot keeps every trace event (``--trace``, the API's default): skip
        formatting a costly detail when not."""
        return self._board.recorder.tracing

    def trace(self, cpu: Cpu, kind: str, detail: str = "") -> None:
        """A trace instant on ``cpu`` (by the logical number the kernel gave it)."""
        self._board.recorder.event(cpu.logical or 0, kind, detail)


class FirmwareSession:
    """The firmware of one machine after :meth:`FirmwareModel.park` (default: no services)."""

    def reset_vector_entry(self, cpu: Cpu, vector: int) -> bool:
        """``cpu`` jumped to ``vector`` to return to the firmware; True when the firmware took
        it back (its own reset vector) or the kernel cannot tell otherwise, False when nothing
        is there (the CPU halts in the kernel instead)."""
        return False


class FirmwareModel:
    """Base class: APs left in wait-for-SIPI (what BIOS/UEFI does after its own INIT)."""

    name = "sipi-wait"
    summary = "APs halted in wait-for-SIPI, as BIOS/UEFI leave them"
    #: what the guest must trust in this firmware for the wakeup to work
    trust = "firmware AP park state"
    #: whether parked APs poll an ACPI wakeup mailbox (the mailbox method needs one)
    polls_mailbox = False
    #: True: replace another plugin's firmware model of the same name on purpose
    override = False

    def publish_madt(self, madt: Madt) -> Madt:
        """The MADT this firmware hands to the OS (default: unchanged)."""
        return madt

    def park(self, env: FirmwareEnv) -> FirmwareSession | None:
        """Put every AP in its waiting state; return this machine's session (or None)."""
        for cpu in env.aps:
            cpu.state = "wait-for-sipi"
        return None


class SipiWaitFirmware(FirmwareModel):
    """The default firmware of bare metal and KVM guests."""
