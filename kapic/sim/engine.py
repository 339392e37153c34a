"""Discrete-event engine on an integer-nanosecond clock (SimPy-style, state in one object).

A *process* is a generator. What it yields tells the engine when to resume it:

* an ``int`` ``n`` — resume ``n`` ns later (``udelay``/``ndelay``);
* :data:`RELAX` — one ``cpu_relax()`` iteration of a loop: resumed ``relax_ns`` later, always
  (a loop with a counter, in a local or anywhere else, runs every iteration);
* :data:`SPIN` — one ``cpu_relax()`` of a *declared* spin: a loop whose next iteration
  depends on nothing but the memory words it read (``while (READ_ONCE(x)) cpu_relax();``);
* a :class:`Wait` — resume when its :class:`Signal` fires or its timeout passes; the value
  sent back is ``True`` when the signal fired, ``False`` on timeout.

A declared spin costs O(1) events per change of the words it reads: every read through
:mod:`kapic.hw.memory` is recorded against the running process, and when three consecutive
iterations of the same loop (the same generator: a new call is a new loop) read the same
words with the same values, the loop is at a fixed point. The
engine then parks the process on those words and resumes it on the first iteration boundary
after one of them is written. The declaration is what makes this sound: kapic does not try
to prove that a loop's other state (locals, a dict, an object) stays the same, so a loop with
a bound must yield :data:`RELAX`, and costs one event per iteration.

An exception derived from :class:`SimulationAbort` (a plugin fault) is never caught here: it
ends :meth:`Engine.run` at once and reaches whoever runs the simulation. Any other exception
of a process ends that process and is recorded in :attr:`Engine.failures`.

The cost of a run follows the number of events, not simulated time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from typing import Any, Final, TypeAlias

__all__ = [
    "RELAX",
    "SPIN",
    "Engine",
    "Process",
    "ProcessGen",
    "Relax",
    "Signal",
    "SimulationAbort",
    "Spin",
    "Wait",
]


class Relax:
    """The yield value of ``cpu_relax()``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RELAX"


RELAX: Final = Relax()


class Spin:
    """The yield value of ``cpu_relax()`` in a declared spin (see the module docstring)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SPIN"


SPIN: Final = Spin()


class SimulationAbort(Exception):
    """Base of the exceptions that stop a simulation at once instead of ending one process."""

ProcessGen: TypeAlias = Generator[Any, Any, Any]


class Signal:
    """A level-triggered flag processes can wait on (a completion, a sync state)."""

    __slots__ = ("_engine", "_waiters", "fired", "name", "value")

    def __init__(self, engine: Engine, name: str = "") -> None:
        self._engine = engine
        #: the processes waiting, made on the first wait (most signals never have one)
        self._waiters: list[Process] | None = None
        self.fired = False
        self.name = name
        self.value: object = None

    def fire(self, value: object = None) -> None:
        if self.fired:
            return
        self.fired = True
        self.value = value
        waiters, self._waiters = self._waiters, None
        for proc in waiters or ():
            self._engine._wake_waiter(proc, True)


class Wait:
    """Yield to wait for ``signal`` at most ``timeout`` ns (``None``: forever)."""

    __slots__ = ("signal", "timeout")

    def __init__(self, signal: Signal, timeout: int | None = None) -> None:
        self.signal = signal
        self.timeout = timeout


class Process:
    """A running generator with its spin-loop bookkeeping."""

    __slots__ = (
        "_token",
        "alive",
        "error",
        "gen",
        "name",
        "on_exit",
        "reads",
        "relax_ns",
        "result",
        "spin_loop",
        "spin_reads",
        "spin_start",
        "wait_signal",
        "watching",
    )

    def __init__(self, gen: ProcessGen, name: str, relax_ns: int) -> None:
        self.gen = gen
        self.name = name
        self.relax_ns = relax_ns
        self.alive = True
        self.result: object = None
        self.error: BaseException | None = None
        self.reads: list[tuple[int, int, int]] = []
        self.spin_reads: list[tuple[int, int, int]] | None = None
        #: the generator of the spin seen last (a new call of a loop is a new spin)
        self.spin_loop: object = None
        self.spin_start = 0
        self.watching: tuple[int, ...] = ()
        self.wait_signal: Signal | None = None
        self._token = 0
        #: called once when the generator returns or raises (not when it is killed)
        self.on_exit: Callable[[Process], None] | None = None


def _exhausted() -> ProcessGen:
    """A generator that has already finished."""
    def nothing() -> ProcessGen:
        return
        yield  # a generator function

    gen = nothing()
    next(gen, None)
    return gen


def _innermost(gen: ProcessGen) -> object:
    """The generator that yielded, at the end of a ``yield from`` chain."""
    g: Any = gen
    while True:
        sub = getattr(g, "gi_yieldfrom", None)
        if sub is None:
            return g
        g = sub


class Engine:
    """The event loop: a heap of ``(time, seq, callback, arg)``."""

    def __init__(self) -> None:
        self.now = 0
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self._seq = 0
        self.events = 0
        self.current: Process | None = None
        #: address -> processes parked on a spin that read it
        self._watchers: dict[int, list[Process]] = {}
        self._stopped = False
        self.failures: list[tuple[str, BaseException]] = []
        #: (lo, hi, callback(addr, size)) called when bytes in [lo, hi) become visible
        self._write_hooks: list[tuple[int, int, Callable[[int, int], None]]] = []
        # one bound method each, so the loop can tell a process's resume by identity
        self._resume: Callable[[Any], None] = self._resume_token
        self._timeout: Callable[[Any], None] = self._wait_timeout
        #: what a finished process's ``gen`` becomes (one exhausted generator per engine)
        self._spent: ProcessGen = _exhausted()

    @property
    def pending(self) -> bool:
        """Whether any event is still scheduled."""
        return bool(self._heap)

    def wait_write(self, addr: int, size: int, timeout: int | None = None) -> Wait:
        """A :class:`Wait` that ends at the next visible write to ``[addr, addr + size)``.

        For a poll with a delay between reads (``while (READ_ONCE(x) && --t) udelay(1);``)
        that would otherwise cost one event per iteration: wait for the word to change,
        bounded by the loop's total time, then read it again.
        """
        sig = Signal(self, f"write@{addr:#x}")
        hook: tuple[int, int, Callable[[int, int], None]]

        def fire(_addr: int, _size: int) -> None:
            if hook in self._write_hooks:
                self._write_hooks.remove(hook)
            sig.fire()

        hook = (addr, addr + size, fire)
        self._write_hooks.append(hook)
        return Wait(sig, timeout)

    def on_write(self, lo: int, hi: int, callback: Callable[[int, int], None]) -> None:
        """Call ``callback(addr, size)`` after every visible write overlapping ``[lo, hi)``.

        For device and firmware models that react to memory (a mailbox poller standing for
        many parked CPUs at once) without being a process each.
        """
        self._write_hooks.append((lo, hi, callback))

    # -- scheduling -------------------------------------------------------------------------
    def schedule(self, delay: int, fn: Callable[[Any], None], arg: Any = None) -> None:
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        self._seq += 1
        heapq.heappush(self._heap, (self.now + delay, self._seq, fn, arg))

    def process(self, gen: ProcessGen, name: str, *, relax_ns: int = 100, delay: int = 0) -> Process:
        """Start ``gen`` as a process ``delay`` ns from now."""
        proc = Process(gen, name, relax_ns)
        self.schedule(delay, self._resume, (proc, proc._token, None))
        return proc

    def signal(self, name: str = "") -> Signal:
        return Signal(self, name)

    def stop(self) -> None:
        """Stop :meth:`run` after the current event."""
        self._stopped = True

    def run(self, until: int | None = None, max_events: int | None = None) -> None:
        """Run events in time order until none is left, :meth:`stop`, ``until`` ns, or
        ``max_events`` events in all have run."""
        heap = self._heap
        pop = heapq.heappop
        self._stopped = False
        limit = max_events if max_events is not None else -1
        resume, timeout, step = self._resume, self._timeout, self._step
        while heap and not self._stopped and self.events != limit:
            item = pop(heap)
            t, _seq, fn, arg = item
            if until is not None and t > until:
                heapq.heappush(heap, item)  # (time, seq) is unique: it goes back where it was
                self.now = until
                return
            if fn is resume:  # the common case, inlined: a process's next step
                proc = arg[0]
                if arg[1] != proc._token:
                    continue  # a stale wake-up (the process moved on): costs no time
                self.now = t
                self.events += 1
                if proc.alive:
                    step(proc, arg[2])
                continue
            if fn is timeout and arg[1] != arg[0]._token:
                continue
            self.now = t
            self.events += 1
            fn(arg)

    # -- processes --------------------------------------------------------------------------
    def _resume_token(self, arg: tuple[Process, int, object]) -> None:
        proc, token, value = arg
        if proc.alive and token == proc._token:
            self._step(proc, value)

    def _step(self, proc: Process, value: object) -> None:
        proc._token += 1
        if proc.reads:  # an empty list is nobody else's (a spin keeps only reads it saw)
            proc.reads = []
        self.current = proc
        try:
            command = proc.gen.send(value)
        except StopIteration as stop:
            proc.alive = False
            proc.result = stop.value
            proc.gen = self._spent  # a finished generator holds nothing worth keeping
            if proc.on_exit is not None:
                proc.on_exit(proc)
            return
        except SimulationAbort:
            proc.alive = False
            raise
        except Exception as exc:  # a misbehaving model: reported, the simulation goes on
            proc.alive = False
            proc.error = exc
            self.failures.append((proc.name, exc))
            if proc.on_exit is not None:
                proc.on_exit(proc)
            return
        finally:
            self.current = None
        if type(command) is int and command >= 0:  # the common case, inlined: a delay
            proc.spin_reads = None
            self._seq += 1
            heapq.heappush(self._heap, (self.now + command, self._seq, self._resume,
                                        (proc, proc._token, None)))
            return
        self._dispatch(proc, command)

    def _dispatch(self, proc: Process, command: object) -> None:
        token = proc._token
        if type(command) is int:
            proc.spin_reads = None
            self.schedule(command, self._resume, (proc, token, None))
        elif command is RELAX:
            proc.spin_reads = None
            self.schedule(proc.relax_ns, self._resume, (proc, token, None))
        elif command is SPIN:
            self._spin(proc, token)
        elif isinstance(command, Wait):
            proc.spin_reads = None
            sig = command.signal
            if sig.fired:
                self.schedule(0, self._resume, (proc, token, True))
                return
            proc.wait_signal = sig
            if sig._waiters is None:
                sig._waiters = [proc]
            else:
                sig._waiters.append(proc)
            if command.timeout is not None:
                self.schedule(command.timeout, self._timeout, (proc, token))
        else:
            exc = TypeError(f"process {proc.name} yielded {command!r}")
            proc.alive = False
            proc.error = exc
            self.failures.append((proc.name, exc))

    def _wait_timeout(self, arg: tuple[Process, int]) -> None:
        proc, token = arg
        if proc.alive and token == proc._token and proc.wait_signal is not None:
            sig = proc.wait_signal
            proc.wait_signal = None
            if sig._waiters is not None and proc in sig._waiters:
                sig._waiters.remove(proc)
            self._step(proc, False)

    def _wake_waiter(self, proc: Process, value: bool) -> None:
        proc.wait_signal = None
        self.schedule(0, self._resume, (proc, proc._token, value))

    def _spin(self, proc: Process, token: int) -> None:
        reads = proc.reads
        if reads and reads == proc.spin_reads:
            loop = _innermost(proc.gen)
            if loop is proc.spin_loop:
                # Fixed point: the same loop read the same words three times running.
                addrs = tuple(sorted({addr for addr, _size, _value in reads}))
                proc.watching = addrs
                for addr in addrs:
                    self._watchers.setdefault(addr, []).append(proc)
                return
            proc.spin_loop = loop
        else:
            if proc.spin_reads is None:
                proc.spin_start = self.now
            proc.spin_reads = reads if reads else None
            proc.spin_loop = None
        self.schedule(proc.relax_ns, self._resume, (proc, token, None))

    def notify_write(self, addr: int, size: int) -> None:
        """Called by memory when ``size`` bytes at ``addr`` become visible to other CPUs."""
        for lo, hi, callback in tuple(self._write_hooks):
            if addr < hi and lo < addr + size:
                callback(addr, size)
        if not self._watchers:
            return
        woken: list[Process] = []
        for a in range(addr, addr + size):
            procs = self._watchers.get(a)
            if procs:
                woken.extend(procs)
        for proc in dict.fromkeys(woken):
            self._unwatch(proc)
            elapsed = self.now - proc.spin_start
            period = proc.relax_ns
            delay = (-elapsed) % period if period else 0
            # The loop read the old value up to now; it sees the new one on its next read.
            proc.spin_loop = None
            proc.spin_reads = None
            self.schedule(delay, self._resume, (proc, proc._token, None))

    def _unwatch(self, proc: Process) -> None:
        for a in proc.watching:
            procs = self._watchers.get(a)
            if procs is not None:
                try:
                    procs.remove(proc)
                except ValueError:
                    pass
                if not procs:
                    del self._watchers[a]
        proc.watching = ()

    def record_read(self, addr: int, size: int, value: int) -> None:
        proc = self.current
        if proc is not None:
            proc.reads.append((addr, size, value))

    def kill(self, proc: Process) -> None:
        """End a process (its CPU was reset); any pending resume is dropped."""
        self._unwatch(proc)
        sig = proc.wait_signal
        if sig is not None and sig._waiters is not None and proc in sig._waiters:
            sig._waiters.remove(proc)
        proc.alive = False
        proc._token += 1
        proc.gen.close()
