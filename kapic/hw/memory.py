"""Simulated physical memory with the kernel's access primitives.

Models the accessors of include/asm-generic/rwonce.h (``READ_ONCE``/``WRITE_ONCE``) and
include/asm-generic/barrier.h (``smp_store_release``, ``smp_load_acquire``, ``smp_wmb``,
``smp_mb``), and ``memremap()`` (kernel/iomem.c) as a typed window on physical memory.

Memory is sparse (4 KiB pages allocated on first write; unwritten memory reads as zero) and
little endian. Every read made by a simulated process is reported to the engine so spin loops
can be compressed (see :mod:`kapic.sim.engine`); every write that becomes visible wakes the
loops that read it.

*Relaxed visibility* (off by default; x86 is TSO) follows the Linux kernel memory model rather
than x86: a plain or ``WRITE_ONCE`` store enters the writing CPU's store buffer and becomes
visible to other CPUs after a seeded random delay, in any order, unless a release store or a
barrier drains the buffer first. A protocol that forgets its ordering (say, writes the mailbox
command with ``WRITE_ONCE`` before the APIC ID is visible) is caught: the other side reads a
stale field.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kapic.sim.engine import Engine, Wait

__all__ = ["CpuMemory", "IoMem", "PhysicalMemory", "Visibility"]

PAGE_SIZE = 4096
_PAGE_SHIFT = 12
#: the physical address space: 52 bits (MAXPHYADDR of x86-64)
PHYS_ADDR_LIMIT = 1 << 52


def _check_range(addr: int, size: int) -> None:
    if size < 0:
        raise ValueError(f"negative access size {size} at 0x{addr:x}")
    if addr < 0 or addr + size > PHYS_ADDR_LIMIT:
        raise ValueError(f"physical address 0x{addr:x} ({size} bytes) is outside the 52-bit "
                         "physical address space")


@dataclass(frozen=True, slots=True)
class Visibility:
    """How stores become visible to other CPUs."""

    relaxed: bool = False
    #: upper bound of the extra delay a buffered store takes to become visible, in ns
    max_delay_ns: int = 2_000


class PhysicalMemory:
    """Sparse byte-addressed physical memory shared by all CPUs of one machine."""

    def __init__(self, engine: Engine, *, visibility: Visibility | None = None, seed: int = 0):
        self.engine = engine
        self.visibility = visibility or Visibility()
        self.rng = random.Random(seed)
        self._pages: dict[int, bytearray] = {}

    # -- raw access (what other CPUs see) ---------------------------------------------------
    def read_bytes(self, addr: int, size: int) -> bytes:
        off = addr & (PAGE_SIZE - 1)
        if 0 <= addr and 0 <= size and off + size <= PAGE_SIZE and addr + size <= PHYS_ADDR_LIMIT:
            one = self._pages.get(addr >> _PAGE_SHIFT)  # the common case: within one page
            return bytes(one[off : off + size]) if one is not None else bytes(size)
        _check_range(addr, size)
        out = bytearray()
        while size:
            page, off = addr >> _PAGE_SHIFT, addr & (PAGE_SIZE - 1)
            n = min(size, PAGE_SIZE - off)
            data = self._pages.get(page)
            out += data[off : off + n] if data is not None else bytes(n)
            addr += n
            size -= n
        return bytes(out)

    def write_bytes(self, addr: int, data: bytes) -> None:
        start, total = addr, len(data)
        off = addr & (PAGE_SIZE - 1)
        if 0 <= addr and 0 < total and off + total <= PAGE_SIZE and addr + total <= PHYS_ADDR_LIMIT:
            buf = self._pages.get(addr >> _PAGE_SHIFT)  # the common case: within one page
            if buf is None:
                buf = self._pages[addr >> _PAGE_SHIFT] = bytearray(PAGE_SIZE)
            buf[off : off + total] = data
            self.engine.notify_write(start, total)
            return
        _check_range(addr, total)
        pos = 0
        while pos < total:
            page, off = addr >> _PAGE_SHIFT, addr & (PAGE_SIZE - 1)
            n = min(total - pos, PAGE_SIZE - off)
            buf = self._pages.get(page)
            if buf is None:
                buf = self._pages[page] = bytearray(PAGE_SIZE)
            buf[off : off + n] = data[pos : pos + n]
            addr += n
            pos += n
        self.engine.notify_write(start, total)

    def read(self, addr: int, size: int) -> int:
        off = addr & (PAGE_SIZE - 1)
        if 0 <= addr and 0 <= size and off + size <= PAGE_SIZE and addr + size <= PHYS_ADDR_LIMIT:
            one = self._pages.get(addr >> _PAGE_SHIFT)  # the common case: within one page
            return int.from_bytes(one[off : off + size], "little") if one is not None else 0
        return int.from_bytes(self.read_bytes(addr, size), "little")

    def write(self, addr: int, size: int, value: int) -> None:
        self.write_bytes(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def cpu_view(self, cpu: int) -> CpuMemory:
        return CpuMemory(self, cpu)


class CpuMemory:
    """One CPU's view of memory: its accessors, barriers and (relaxed mode) store buffer."""

    __slots__ = ("_buffer", "cpu", "phys")

    def __init__(self, phys: PhysicalMemory, cpu: int) -> None:
        self.phys = phys
        self.cpu = cpu
        #: the stores not yet visible (relaxed mode), oldest first; None: none ever buffered
        self._buffer: list[tuple[int, bytes]] | None = None

    # -- loads ------------------------------------------------------------------------------
    def _load(self, addr: int, size: int) -> int:
        if not self._buffer:
            value = self.phys.read(addr, size)
        else:
            data = bytearray(self.phys.read_bytes(addr, size))
            for baddr, bdata in self._buffer:  # store forwarding, oldest first
                lo, hi = max(addr, baddr), min(addr + size, baddr + len(bdata))
                if lo < hi:
                    data[lo - addr : hi - addr] = bdata[lo - baddr : hi - baddr]
            value = int.from_bytes(data, "little")
        self.phys.engine.record_read(addr, size, value)
        return value

    def read_once(self, addr: int, size: int) -> int:
        """``READ_ONCE()``."""
        return self._load(addr, size)

    def smp_load_acquire(self, addr: int, size: int) -> int:
        """``smp_load_acquire()``."""
        return self._load(addr, size)

    # -- stores -----------------------------------------------------------------------------
    def write_once(self, addr: int, size: int, value: int) -> None:
        """``WRITE_ONCE()`` (or a plain store): may become visible late in relaxed mode."""
        data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        vis = self.phys.visibility
        if not vis.relaxed:
            self.phys.write_bytes(addr, data)
            return
        entry = (addr, data)
        if self._buffer is None:
            self._buffer = []
        self._buffer.append(entry)
        delay = self.phys.rng.randrange(vis.max_delay_ns + 1)
        self.phys.engine.schedule(delay, self._drain_one, entry)

    def _drain_one(self, entry: tuple[int, bytes]) -> None:
        buffer = self._buffer or []
        for i, e in enumerate(buffer):
            if e is entry:
                del buffer[i]
                self.phys.write_bytes(*entry)
                return

    def smp_wmb(self) -> None:
        """``smp_wmb()``: earlier stores become visible before later ones (drain the buffer)."""
        buffer, self._buffer = self._buffer, None
        for addr, data in buffer or ():
            self.phys.write_bytes(addr, data)

    def smp_mb(self) -> None:
        """``smp_mb()``."""
        self.smp_wmb()

    def smp_store_release(self, addr: int, size: int, value: int) -> None:
        """``smp_store_release()``: every earlier store is visible first, then this one."""
        self.smp_wmb()
        self.phys.write(addr, size, value)

    def memremap(self, paddr: int, size: int) -> IoMem:
        """``memremap(paddr, size, MEMREMAP_WB)`` as seen from this CPU."""
        return IoMem(self, paddr, size)


class IoMem:
    """A mapped window of physical memory with typed little-endian accessors.

    Offsets are relative to the window; an access outside it raises ``IndexError``
    (the kernel would fault).
    """

    def __init__(self, mem: CpuMemory, paddr: int, size: int) -> None:
        self.mem = mem
        self.paddr = paddr
        self.size = size

    def _addr(self, off: int, n: int) -> int:
        if off < 0 or off + n > self.size:
            raise IndexError(f"access at +{off:#x} ({n} bytes) outside the {self.size}-byte map")
        return self.paddr + off

    def read_once(self, off: int, n: int) -> int:
        """``READ_ONCE()`` of ``n`` bytes at ``off`` (recorded, so a spin on it can park)."""
        return self.mem.read_once(self._addr(off, n), n)

    def write_once(self, off: int, n: int, value: int) -> None:
        """``WRITE_ONCE()`` (or a plain store): may become visible late in relaxed mode."""
        self.mem.write_once(self._addr(off, n), n, value)

    def store_release(self, off: int, n: int, value: int) -> None:
        """``smp_store_release()``: every earlier store of this CPU is visible first."""
        self.mem.smp_store_release(self._addr(off, n), n, value)

    def wait_write(self, off: int, n: int, timeout: int | None = None) -> Wait:
        """Yield this to sleep until ``n`` bytes at ``off`` are written (or ``timeout`` ns)."""
        return self.mem.phys.engine.wait_write(self._addr(off, n), n, timeout)

    def load_acquire(self, off: int, n: int) -> int:
        """``smp_load_acquire()`` of ``n`` bytes at ``off``."""
        return self.mem.smp_load_acquire(self._addr(off, n), n)
