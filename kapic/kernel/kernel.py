"""The simulated kernel instance: what kernel code (and wakeup plugins) can reach.

One :class:`Kernel` per simulated machine holds what the real kernel keeps in globals
(``apic``, ``__apicdrivers``, ``real_mode_header``, the CPU masks, the log buffer), so two
machines in one process share nothing. Accessors mirror the kernel's: ``apic_read``,
``apic_write`` and ``apic_icr_write`` (arch/x86/include/asm/apic.h), ``memremap``
(kernel/iomem.c), ``printk``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kapic.kernel.apic import ApicDriverRegistry, ApicState
from kapic.result import Span, TraceEvent

if TYPE_CHECKING:
    from kapic.hw.memory import IoMem
    from kapic.kernel.config import KernelConfig, KernelProfile
    from kapic.machine import Machine
    from kapic.methods import WakeupHandler
    from kapic.sim.engine import Signal

__all__ = ["Kernel", "KernelCpu", "RealModeHeader"]

#: errno values kernel code returns
EINVAL: Final = 22
EIO: Final = 5
ENODEV: Final = 19
EOPNOTSUPP: Final = 95


@dataclass(frozen=True, slots=True)
class RealModeHeader:
    """``real_mode_header``: where the trampoline was copied (arch/x86/realmode/init.c).

    The blob sits below 1 MiB, page aligned; ``trampoline_start`` is its real-mode entry
    (SIPI vector = start >> 12), ``trampoline_start64`` the 64-bit entry inside the same blob.
    """

    base: int = 0x98000
    trampoline_start: int = 0x99000
    trampoline_start64: int = 0x99070


@dataclass(slots=True)
class KernelCpu:
    """The kernel's view of one logical CPU (present / possible masks, sync state)."""

    cpu: int
    apic_id: int
    present: bool
    hw_index: int | None
    alive: Signal
    should_online: Signal
    online: Signal
    state: str = "not-attempted"
    expected_entry: int | None = None
    wakeup_handler: str | None = None
    kick_start_ns: int | None = None
    alive_ns: int | None = None
    online_ns: int | None = None
    error: str | None = None
    #: the boot CPU stopped waiting for this AP (failure); it may still show up later
    abandoned: bool = False


class Kernel:
    """One simulated Linux kernel running on the boot CPU of ``machine``."""

    def __init__(self, machine: Machine, profile: KernelProfile, config: KernelConfig) -> None:
        self.machine = machine
        self.engine = machine.engine
        self.platform = machine.platform
        self.profile = profile
        self.config = config
        #: (time, level, message); ``debug`` lines are kept but not in the default log
        self.log: list[tuple[int, str, str]] = []
        self.registry = ApicDriverRegistry(x86_64=config.X86_64)
        machine.plugins.register_apic_drivers(self.registry)
        self.apic_state = ApicState(self, self.registry)
        self.real_mode_header = RealModeHeader()
        bp = machine.cpus[0]
        self.mem = bp.mem
        self.bp = bp
        self.x2apic_mode = machine.x2apic_capable
        self.uv_system = False
        self.cpus: list[KernelCpu] = []
        self.possible_cpus = 0
        #: per-plugin state (a plugin's "static" variables live here, keyed by plugin name)
        self.plugin_state: dict[str, dict[str, Any]] = {}
        #: the wakeup method used when no APIC driver hook is set (INIT/SIPI)
        self.wakeup_secondary_cpu_via_init: WakeupHandler | None = None
        #: the MADT as the kernel sees it in memory (handlers may patch it, as 6.11 does)
        self.madt_bytes = bytearray()
        self.offlining_disabled = False
        self.smp_ops: dict[str, Any] = {}

    # -- kernel services --------------------------------------------------------------------
    @property
    def apic(self) -> Any:
        """The current ``struct apic`` (``apic``)."""
        return self.apic_state.apic

    def printk(self, message: str, level: str = "info") -> None:
        """Log a kernel message (``level``: ``debug``, ``info``, ``warn``, ``err``)."""
        self.log.append((self.engine.now, level, message))

    def trace(self, kind: str, detail: str = "", cpu: int = 0) -> None:
        self.machine.trace.append(TraceEvent(self.engine.now, cpu, kind, detail))

    def span(self, name: str, start_ns: int, target: int, cpu: int = 0) -> None:
        """Record a timeline slice ``[start_ns, now)`` (e.g. ``mailbox``) for ``target``."""
        self.machine.spans.append(Span(cpu, name, start_ns, self.engine.now, target))

    def state(self, plugin: str) -> dict[str, Any]:
        """Per-kernel state of ``plugin`` (what would be ``static`` variables in C)."""
        return self.plugin_state.setdefault(plugin, {})

    def memremap(self, paddr: int, size: int) -> IoMem:
        """``memremap(paddr, size, MEMREMAP_WB)`` on the boot CPU."""
        return self.mem.memremap(paddr, size)

    def num_possible_cpus(self) -> int:
        return self.possible_cpus

    @property
    def init_udelay(self) -> int:
        """``init_udelay`` as ``smp_quirk_init_udelay()`` leaves it (arch/x86/kernel/smpboot.c)."""
        if self.config.cpu_init_udelay is not None:
            return self.config.cpu_init_udelay
        if self.platform.hypervisor != "none" or not self.platform.param("legacy_cpu"):
            return 0
        return 10_000

    # -- local APIC of the boot CPU ---------------------------------------------------------
    def apic_read(self, reg: int) -> int:
        return self.bp.lapic.read(reg)

    def apic_write(self, reg: int, value: int) -> Generator[int, Any, None]:
        cost = self.bp.lapic.write(reg, value)
        if cost:
            yield cost

    def apic_icr_write(self, low: int, apicid: int) -> Generator[int, Any, None]:
        cost = self.bp.lapic.icr_write(low, apicid, x2apic=self.x2apic_mode)
        if cost:
            yield cost

    def lapic_get_maxlvt(self) -> int:
        return (self.apic_read(0x30) >> 16) & 0xFF

    # -- CPUs -------------------------------------------------------------------------------
    def cpu_by_apicid(self, apic_id: int) -> KernelCpu | None:
        return self.machine.kcpu_by_apicid.get(apic_id)
