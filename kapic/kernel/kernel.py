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

from kapic.hw.board import Vmm
from kapic.kernel.apic import ApicState

if TYPE_CHECKING:
    from kapic.acpi.madt import Madt
    from kapic.boundary import PluginBoundary
    from kapic.hw.cpu import Cpu
    from kapic.hw.memory import IoMem
    from kapic.kernel.apic import ApicDriverRegistry, WakeupHandler
    from kapic.kernel.config import KernelConfig
    from kapic.kernel.env import KernelEnv
    from kapic.sim.engine import Engine, Signal
    from kapic.sim.recorder import LogLine
    from kapic.versions import KernelVersion

__all__ = ["Kernel", "KernelCpu", "RealModeHeader", "errno_name"]

#: errno values kernel code returns
EINVAL: Final = 22
EIO: Final = 5
ENODEV: Final = 19
EOPNOTSUPP: Final = 95
_ERRNO_NAMES: Final = {EINVAL: "EINVAL", EIO: "EIO", ENODEV: "ENODEV", EOPNOTSUPP: "EOPNOTSUPP"}


def errno_name(code: int) -> str:
    """``-95`` -> ``-EOPNOTSUPP`` (the errno values kernel code here returns)."""
    name = _ERRNO_NAMES.get(-code)
    return f"-{name}" if name else str(code)


@dataclass(frozen=True, slots=True)
class RealModeHeader:
    """``real_mode_header``: where the trampoline was copied (arch/x86/realmode/init.c).

    The blob sits below 1 MiB, page aligned; ``trampoline_start`` is its real-mode entry
    (SIPI vector = start >> 12), ``trampoline_start64`` the 64-bit entry inside the same blob.
    """

    base: int = 0x98000
    trampoline_start: int = 0x99000
    trampoline_start64: int = 0x99070
    #: the end of the blob (two pages: the header and data, then the trampoline's code)
    end: int = 0x9A000


@dataclass(slots=True)
class KernelCpu:
    """The kernel's view of one logical CPU (present / possible masks, sync state)."""

    cpu: int
    apic_id: int
    present: bool
    hw_index: int | None
    engine: Engine
    state: str = "not-attempted"
    expected_entry: int | None = None
    wakeup_handler: str | None = None
    kick_start_ns: int | None = None
    alive_ns: int | None = None
    online_ns: int | None = None
    error: str | None = None
    #: the boot CPU stopped waiting for this AP (failure); it may still show up later
    abandoned: bool = False
    #: how many times the AP started at a wakeup vector (more than once loses its state)
    starts: int = 0
    #: the bring-up's three completions, made when first used and dropped once the CPU is
    #: online (a 65,536-CPU boot keeps none of them)
    _sync: tuple[Signal, Signal, Signal] | None = None
    _done: bool = False

    def _signals(self) -> tuple[Signal, Signal, Signal]:
        sync = self._sync
        if sync is None:
            e = self.engine
            # the signals' names are constants: which CPU is this KernelCpu
            sync = (e.signal("alive"), e.signal("should_online"), e.signal("online"))
            if self._done:
                # Online: the completions were dropped. Their state is known, so they are
                # made again as they ended, fired with the times they fired at (a wait on
                # one returns at once); kept by whoever asked, not here.
                for signal, value in zip(sync, (self.alive_ns, None, self.online_ns),
                                         strict=True):
                    signal.fire(value)
                return sync
            self._sync = sync
        return sync

    @property
    def alive(self) -> Signal:
        """The AP reported alive (``cpuhp_ap_sync_alive``; ``cpu_callin_mask`` before 6.5);
        its value is the time it did."""
        return self._signals()[0]

    @property
    def should_online(self) -> Signal:
        """The boot CPU released the AP (``SYNC_STATE_SHOULD_ONLINE``; ``cpu_callout_mask``)."""
        return self._signals()[1]

    @property
    def online(self) -> Signal:
        """The AP set itself online (``set_cpu_online``); its value is the time it did."""
        return self._signals()[2]

    def bringup_done(self) -> None:
        """The CPU is online: nobody waits on its completions again (a CPU is brought up
        once); reading one after this gives it fired, as it ended."""
        self._sync = None
        self._done = True


class Kernel:
    """One simulated Linux kernel running on the boot CPU of a board.

    :param env: what the kernel may reach (board, clock, recorder, plugin boundary, firmware).
    :param version: the kernel release (or the seed posting) whose behaviour to model.
    :param registry: the APIC drivers linked in, in link order (plugins have registered theirs).
    """

    def __init__(self, env: KernelEnv, version: KernelVersion, config: KernelConfig,
                 registry: ApicDriverRegistry) -> None:
        self.env = env
        self.engine = env.engine
        self.board = env.board
        self.boundary: PluginBoundary = env.boundary
        self.platform = env.board.platform
        #: the kernel modelled: ask it ``version.has(gate)`` for a behaviour (kapic.versions)
        self.version = version
        self.config = config
        self.registry = registry
        self.apic_state = ApicState(self, registry)
        self.real_mode_header = RealModeHeader()
        self.bp = env.board.cpus[0]
        self.mem = self.bp.mem
        self.x2apic_mode = env.board.x2apic_capable
        #: the open pr_cont line: (its index in the log, fragments not yet joined)
        self._cont: tuple[int, list[str]] | None = None
        #: ``x2apic_phys``: the command line's, or set by try_to_enable_x2apic
        self.x2apic_phys = config.x2apic_phys
        #: ``x2apic_max_apicid``: the largest usable APIC ID in x2APIC mode (None: no cap)
        self.x2apic_max_apicid: int | None = None
        self.uv_system = False
        self.cpus: list[KernelCpu] = []
        self.kcpu_by_apicid: dict[int, KernelCpu] = {}
        self._present_aps: int | None = None
        self.possible_cpus = 0
        #: per-plugin state (a plugin's "static" variables live here, keyed by plugin name)
        self.plugin_state: dict[str, dict[str, Any]] = {}
        #: the wakeup method used when no APIC driver hook is set (INIT/SIPI)
        self.wakeup_secondary_cpu_via_init: WakeupHandler | None = None
        #: the MADT as parsed (``acpi_process_madt``), and as the kernel sees it in memory
        #: (handlers may patch the bytes, as 6.11 does)
        self.madt: Madt | None = None
        self.madt_bytes = bytearray()
        self.offlining_disabled = False
        self.smp_ops: dict[str, Any] = {}
        #: the MADT does not list the boot CPU (smp_sanity_check's "weird" case)
        self.bp_unlisted = False
        #: ("serial" or "parallel", why), decided by smp_init()
        self.bringup: tuple[str, str] | None = None
        #: the AP the boot CPU is waiting for, and for what (``report alive``, ...)
        self.bp_waits_for: tuple[KernelCpu, str] | None = None
        #: the hypervisor's services (VMGEXIT, TDVMCALL) for paravirtual wakeup methods
        self.vmm = Vmm(env.board)

    @property
    def profile(self) -> None:
        """Gone in kapic 0.3: raises, pointing at ``version``."""
        raise AttributeError(
            "kernel.profile is gone in kapic 0.3: ask kernel.version.has(GATE) (e.g. "
            "APIC_UPDATE_CALLBACK for 'upstream'); docs/plugin-guide.md, 'Migrating from 0.2'")

    # -- kernel services --------------------------------------------------------------------
    @property
    def now(self) -> int:
        """The simulated time in ns (``ktime_get()`` since boot)."""
        return self.engine.now

    @property
    def apic(self) -> Any:
        """The current ``struct apic`` (``apic``)."""
        return self.apic_state.apic

    @property
    def log(self) -> list[LogLine]:
        """The kernel log so far: (time, level, message)."""
        return self.env.recorder.log

    def printk(self, message: str, level: str = "info") -> None:
        """Log a kernel message (``level``: ``debug``, ``info``, ``warn``, ``err``)."""
        if self._cont is not None and level != "debug":
            self.flush_cont()  # a new record ends the line pr_cont was extending
        self.env.recorder.printk(message, level)

    def pr_cont(self, fragment: str) -> bool:
        """``pr_cont``: extend the last line if it is still open (no other message since
        :meth:`open_cont`); False when a new record must start. Fragments are joined when the
        line closes, so a line of 65,536 ``#N`` is built once."""
        if self._cont is None:
            return False
        self._cont[1].append(fragment)
        return True

    def open_cont(self) -> None:
        """The line just printed is the one :meth:`pr_cont` extends."""
        self._cont = (len(self.log) - 1, [])

    def flush_cont(self) -> None:
        """Write the pending ``pr_cont`` fragments into their line (before anyone reads the
        log)."""
        if self._cont is None:
            return
        at, parts = self._cont
        self._cont = None
        t, level, line = self.log[at]
        self.log[at] = (t, level, line + "".join(parts))

    @property
    def tracing(self) -> bool:
        """Whether the boot keeps every trace event (``--trace``, the API's default): skip
        formatting a costly detail when not."""
        return self.env.recorder.tracing

    def trace(self, kind: str, detail: str = "", cpu: int = 0) -> None:
        """A trace instant on logical CPU ``cpu``."""
        self.env.recorder.event(cpu, kind, detail)

    def span(self, name: str, start_ns: int, target: int, cpu: int = 0) -> None:
        """Record a timeline slice ``[start_ns, now)`` (e.g. ``mailbox``) for ``target``.

        ``start_ns``, ``target`` and ``cpu`` must be ints (a ``TypeError`` otherwise, whether
        or not the boot records spans: a plugin's mistake does not hide at one level)."""
        if not (type(start_ns) is int and type(target) is int and type(cpu) is int
                and type(name) is str):
            raise TypeError(f"kernel.span({name!r}, start_ns={start_ns!r}, target={target!r}, "
                            f"cpu={cpu!r}): the name is a str, the others ints")
        self.env.recorder.span(cpu, name, start_ns, target)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter of the boot's result (e.g. ``snp_vmsa_pages``)."""
        self.env.recorder.count(name, n)

    def state(self, plugin: str) -> dict[str, Any]:
        """Per-kernel state of ``plugin`` (what would be ``static`` variables in C)."""
        return self.plugin_state.setdefault(plugin, {})

    def memremap(self, paddr: int, size: int) -> IoMem:
        """``memremap(paddr, size, MEMREMAP_WB)`` on the boot CPU.

        The kernel maps what it is told; a window over RAM the kernel itself uses (the
        real-mode trampoline setup_real_mode copied below 1 MiB) is named in the result's
        reasons, as a real kernel would not notice the corruption."""
        rmh = self.real_mode_header
        if paddr < rmh.end and paddr + size > rmh.base:
            why = (f"memremap(0x{paddr:x}, {size}) overlaps the kernel's real-mode trampoline "
                   f"(0x{rmh.base:x}-0x{rmh.end - 1:x}, in RAM the firmware did not reserve): "
                   "the mailbox writes and the firmware's acknowledgement overwrite "
                   "real_mode_header; Linux does not check")
            self.trace("memremap-overlap", why)
            self.env.recorder.reason(why)
        return self.mem.memremap(paddr, size)

    def primary_thread(self, apic_id: int) -> bool:
        """Whether ``apic_id`` is the first SMT thread of its core."""
        return apic_id % max(1, self.platform.param("threads_per_core")) == 0

    def package_of(self, apic_id: int) -> int:
        """The package (socket) ``apic_id`` is in (kapic numbers APIC IDs contiguously)."""
        cores = self.platform.param("cores_per_package")
        if not cores:
            return 0
        return apic_id // (cores * max(1, self.platform.param("threads_per_core")))

    def num_possible_cpus(self) -> int:
        """``num_possible_cpus()``: CPUs the MADT made possible."""
        return self.possible_cpus

    def jittered(self, param: str) -> int:
        """A platform timing parameter with its seeded jitter (what a step of CPU work costs)."""
        return self.board.jittered(param)

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
        """``apic_read(reg)`` on the boot CPU's local APIC."""
        return self.bp.lapic.read(reg)

    def apic_write(self, reg: int, value: int) -> Generator[int, Any, None]:
        """``apic_write(reg, value)``: ``yield from`` it (a trapped write costs a VM exit)."""
        cost = self.bp.lapic.write(reg, value)
        if cost:
            yield cost

    def apic_icr_write(self, low: int, apicid: int) -> Generator[int, Any, None]:
        """``apic_icr_write(low, apicid)``: send an IPI; ``yield from`` it (ICR2 then ICR in
        xAPIC mode, one MSR write in x2APIC mode; a VM exit on a hypervisor platform)."""
        cost = self.bp.lapic.icr_write(low, apicid, x2apic=self.x2apic_mode)
        if cost:
            yield cost

    def lapic_get_maxlvt(self) -> int:
        """``lapic_get_maxlvt()``: the highest LVT entry, from the version register."""
        return (self.apic_read(0x30) >> 16) & 0xFF

    # -- CPUs -------------------------------------------------------------------------------
    def cpu_by_apicid(self, apic_id: int) -> KernelCpu | None:
        """The present logical CPU with ``apic_id``, or None."""
        return self.kcpu_by_apicid.get(apic_id)

    def hw_cpu(self, kcpu: KernelCpu) -> Cpu | None:
        """The hardware thread behind a logical CPU (None for a CPU that is not present)."""
        return None if kcpu.hw_index is None else self.board.cpus[kcpu.hw_index]

    def add_kernel_cpu(self, apic_id: int, present: bool, hw_index: int | None) -> KernelCpu:
        """Give the next logical CPU number to ``apic_id`` (``generic_processor_info``)."""
        e = self.engine
        n = len(self.cpus)
        kcpu = KernelCpu(n, apic_id, present, hw_index, e)
        self.cpus.append(kcpu)
        self._present_aps = None
        if hw_index is not None:
            self.board.cpus[hw_index].logical = n
            self.kcpu_by_apicid[apic_id] = kcpu
        return kcpu

    def progressed(self) -> None:
        """An AP moved on without finishing (kicked, alive): progress for the watchdog, as a
        parallel bring-up's kick phase of thousands of CPUs is."""
        self.env.recorder.progressed()

    def cpu_done(self) -> None:
        """One more AP came online or failed (progress, and the watchdog's clock)."""
        if self._present_aps is None:
            self._present_aps = sum(1 for k in self.cpus[1:] if k.present)
        self.env.recorder.cpu_done(self._present_aps)

    def jump_to_reset_vector(self, cpu: int, vector: int) -> bool:
        """Logical CPU ``cpu`` jumps to ``vector`` to return to the firmware; whether the
        firmware took it (``asm_acpi_mp_play_dead``)."""
        hw = self.hw_cpu(self.cpus[cpu])
        if hw is None:
            return False
        session = self.env.firmware
        return bool(self.boundary.call(
            "firmware reset_vector_entry", session.reset_vector_entry, hw, vector,
            owner=self.env.firmware_owner, cpu=cpu,
        ))
