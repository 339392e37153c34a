"""kapic beside an equivalent SimPy model and a plain heapq loop: wall time, events per AP,
events and CPUs per second and peak RSS per CPU, for serialised and parallel bring-up.

SimPy is a benchmark-only dependency (``pip install -e '.[bench]'``). Run::

    python bench/bench_simpy.py [--cpus 64,1024,8192,65536] [--runs 2] [--json]
                                [--cases mailbox,init-sipi] [--modes serial,parallel]

For each number of CPUs, each bring-up mode and each case, the three implementations run in
turn, ``--runs`` times, each in a fresh process (interpreter start-up, imports and teardown
count, as for a user); the table shows the medians. One line per run goes to stderr.

* cases: ``mailbox/tdx`` is ``kapic boot --platform tdx --param irq_remap=1`` (the ACPI MADT
  wakeup mailbox, TDVF's poller; interrupt remapping makes every APIC ID usable), and
  ``init-sipi/bare-metal`` is ``--platform bare-metal`` (INIT, INIT de-assert, STARTUP x2).
* modes: ``serial`` adds ``--config HOTPLUG_PARALLEL=n``; ``parallel`` is the default
  ``latest`` kernel. Every kapic run's JSON must name the bring-up asked for (``bringup``),
  be ``ok`` with every CPU online, or the bench stops. kapic's tdx platform disables parallel
  bring-up (``x86_cpuinit.parallel_bringup``): that pair is not run, and the bench checks with
  a small boot that kapic still says so (and stops if not: the case must then be enabled).
* impls: ``kapic`` runs ``kapic boot --json --cpus N --config NR_CPUS=N``; ``simpy`` runs
  :class:`SimPyBoot`, the same protocol as SimPy processes (the boot CPU, one process per AP
  once woken, TDVF's mailbox poller; IPIs delivered by timeouts with a callback, as kapic's
  APIC bus schedules them), with the same waits in the same order and kapic's mean costs (no
  jitter); ``heapq`` runs :class:`HeapBoot`, the floor: a loop of ``heappush``/``heappop`` of
  ``(time, seq, callback)`` whose callbacks do nothing but the protocol's next step, one heap
  entry for each event SimPy processes (so both report the same events per AP).

Columns of the table:

* ``case``, ``mode``, ``cpus``, ``impl``: what ran;
* ``wall s``: the child process's wall time, start to exit;
* ``events/AP``: events processed over the APs (cpus - 1): kapic's engine events (the JSON's
  ``events``), SimPy's processed events (every event it scheduled: its event ids), heapq's pops;
* ``events/s``: those events over ``wall s``; ``CPUs/s``: cpus over ``wall s``;
* ``RSS B/CPU``: the child's peak resident set over cpus, in bytes (``VmHWM``: Linux's
  ``ru_maxrss`` would include the parent's peak, see :func:`peak_rss_kib`);
* ``kapic/SimPy``, ``kapic/heapq``: kapic's wall time over the others' (on kapic's row).

A second table checks that the models are the same boot: the simulated time at which the
boot CPU leaves ``smp_init`` (kapic's ``sim_time_ns``) beside SimPy's and heapq's, and SimPy's
difference from kapic in percent (kapic's seeded jitter averages out: a few tenths of a
percent are expected). ``--json`` prints ``{"rows", "sim_time", "not_run"}`` instead.

The models assume what kapic's ``latest`` kernel and the two platforms do: x2APIC mode (no
ICR busy polls), ``init_udelay`` 0, no VM exit on bare metal, the split start-up's alive wait
(1 ms busy, then 2 ms sleeps), the TSC warp test of 20 ms for the first AP of each package
but not on TDX (reliable from 6.7). Costs and topology come from kapic's platform
parameters, read once by the parent; the assumptions are checked there. What the models
leave out changes no simulated time: kapic's jitter (means instead), its error handling (the
10 s alive timeouts, rollbacks, APIC ID checks), the firmware poll that TDVF's own
acknowledgement triggers (it finds nothing to do), the spin's memory-watch mechanics (the
boot CPU waits for the acknowledgement, then for its next ``cpu_relax()`` read), and the
log, trace and JSON. With ``--param jitter_ppm=0`` kapic ends on the models' nanosecond.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import time
from collections.abc import Callable, Generator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    import simpy

MSEC: Final = 1_000_000
#: arch/x86/kernel/tsc_sync.c: the warp test of the first CPU of a package
TSC_WARP_TEST_NS: Final = 20 * MSEC
#: cpuhp_bp_sync_alive(): busy-polls 1 ms, then sleeps woken at their 2 ms hard expiry
ALIVE_BUSY_NS: Final = MSEC
ALIVE_SLEEP_NS: Final = 2 * MSEC
#: wakeup_secondary_cpu_via_init() with init_udelay 0: udelay(10) twice after each STARTUP
SIPI_UDELAY_NS: Final = 10_000
NUM_STARTS: Final = 2
#: ACPI_MP_WAKE_COMMAND_WAKEUP
MAILBOX_WAKEUP: Final = 1

MAILBOX: Final = "mailbox"
INIT_SIPI: Final = "init-sipi"
SERIAL: Final = "serial"
PARALLEL: Final = "parallel"
MODES: Final = (SERIAL, PARALLEL)
MODE_ARGS: Final = {SERIAL: ("--config", "HOTPLUG_PARALLEL=n"), PARALLEL: ()}
IMPLS: Final = ("kapic", "simpy", "heapq")
KICK: Final = "kick"
BRINGUP: Final = "bringup"
#: the IPIs of one INIT/SIPI kick, and the AP's states they move
INIT, INIT_DEASSERT, STARTUP = "init", "init-deassert", "startup"
PARKED, WAIT_FOR_SIPI, RUNNING = "parked", "wait-for-sipi", "running"

def peak_rss_kib() -> int:
    """This process's own peak RSS in KiB: the VmHWM of its address space. Not ``ru_maxrss``:
    Linux carries the parent's high-water mark over fork and exec, so every child would report
    at least the parent's peak (and this parent's grows with kapic's 65,536-CPU JSON)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def kapic_child() -> str:
    """The kapic child: runs the CLI, then prints its peak RSS (KiB) as its last stderr line."""
    import inspect

    return (inspect.getsource(peak_rss_kib)
            + "import sys\n"
            "from kapic.cli import main\n"
            "code = main(sys.argv[1:])\n"
            "sys.stdout.flush()\n"
            "print(peak_rss_kib(), file=sys.stderr)\n"
            "sys.exit(code)\n")


class Case(NamedTuple):
    """A wakeup method on its platform, as kapic boots it."""

    name: str
    platform: str
    wakeup: str
    params: tuple[tuple[str, str], ...]
    #: the bring-up modes kapic runs on this platform (the others are checked and reported)
    modes: tuple[str, ...]

    def kapic_args(self) -> list[str]:
        args = ["--platform", self.platform]
        for key, value in self.params:
            args += ["--param", f"{key}={value}"]
        return args


CASES: Final = (
    Case("mailbox/tdx", "tdx", MAILBOX, (("irq_remap", "1"),), (SERIAL,)),
    Case("init-sipi/bare-metal", "bare-metal", INIT_SIPI, (), (SERIAL, PARALLEL)),
)


class Costs(NamedTuple):
    """The mean costs (ns) and topology both models use: kapic's platform parameters."""

    wakeup: str
    relax_ns: int
    fw_poll_ns: int
    vcpu_delay_ns: int
    ipi_latency_ns: int
    bp_prepare_ns: int
    ap_alive_ns: int
    ucode_load_ns: int
    ap_online_ns: int
    bp_online_ns: int
    threads_per_core: int
    cores_per_package: int
    tsc_reliable: bool

    def primary(self, apic_id: int) -> bool:
        """The first SMT thread of its core (it loads the microcode; parallel: kicked first)."""
        return apic_id % max(1, self.threads_per_core) == 0

    def package(self, apic_id: int) -> int:
        """kapic numbers APIC IDs contiguously: cores x threads of them per package."""
        if not self.cores_per_package:
            return 0
        return apic_id // (self.cores_per_package * max(1, self.threads_per_core))


_COST_PARAMS: Final = ("relax_ns", "fw_poll_ns", "vcpu_delay_ns", "ipi_latency_ns",
                       "bp_prepare_ns", "ap_alive_ns", "ucode_load_ns", "ap_online_ns",
                       "bp_online_ns", "threads_per_core", "cores_per_package")


def costs_for(case: Case) -> Costs:
    """The case's platform parameters as kapic resolves them; stops on a parameter that
    would take the models off the paths they implement."""
    from kapic import PluginHost

    platform = PluginHost().platform(case.platform).with_params(dict(case.params))
    unmodelled = {
        "x2apic": platform.param("x2apic") != 1,  # xAPIC: ICR busy polls
        "legacy_cpu": platform.param("legacy_cpu") != 0,  # init_udelay 10 ms
        "hypervisor": case.wakeup == INIT_SIPI and platform.hypervisor != "none",  # VM exits
    }
    if any(unmodelled.values()):
        raise SystemExit(f"{case.name}: the models do not cover "
                         f"{', '.join(k for k, v in unmodelled.items() if v)}")
    return Costs(
        wakeup=case.wakeup,
        **{name: platform.param(name) for name in _COST_PARAMS},
        # check_tsc_sync_source(): tsc=reliable, or a TDX guest from 6.7
        tsc_reliable=bool(platform.param("tsc_reliable")) or platform.hypervisor == "tdx",
    )


# -- the protocol both models follow ---------------------------------------------------------
def bringup_order(cpus: int, mode: str, costs: Costs) -> list[tuple[str, int]]:
    """The boot CPU's work, AP by AP (APIC ID = logical CPU number, as kapic's ``--cpus``):
    serial, kick then bring up each; parallel (``cpuhp_bringup_cpus_parallel``), per mask
    (primary threads first with SMT, then the rest) kick every AP, then bring each up."""
    aps = range(1, cpus)
    if mode == SERIAL:
        return [(op, apic) for apic in aps for op in (KICK, BRINGUP)]
    if costs.threads_per_core > 1:
        masks = [[a for a in aps if costs.primary(a)], [a for a in aps if not costs.primary(a)]]
    else:
        masks = [list(aps)]
    return [(op, apic) for mask in masks for op in (KICK, BRINGUP) for apic in mask]


def alive_wait_end(start: int, now: int) -> int:
    """When ``wait_for_alive`` lets the boot CPU go on, having waited from ``start`` for an AP
    alive at ``now``: at once within the 1 ms busy poll, else at the next 2 ms sleep's end."""
    if now - start <= ALIVE_BUSY_NS:
        return now
    sleeps = -(-(now - start - ALIVE_BUSY_NS) // ALIVE_SLEEP_NS)
    return max(now, start + ALIVE_BUSY_NS + sleeps * ALIVE_SLEEP_NS)


class TscSync:
    """``check_tsc_sync_source``: the first AP of each package but the boot CPU's runs the
    warp test, unless the TSC is reliable."""

    def __init__(self, costs: Costs) -> None:
        self.costs = costs
        self.packages = {costs.package(0)}

    def warp_test_ns(self, apic_id: int) -> int:
        package = self.costs.package(apic_id)
        if package in self.packages:
            return 0
        self.packages.add(package)
        return 0 if self.costs.tsc_reliable else TSC_WARP_TEST_NS


# -- the SimPy model ------------------------------------------------------------------------
class SimPyAp:
    """One AP: its three completions, and where it is (parked, waiting for SIPI, running)."""

    __slots__ = ("alive", "apic_id", "online", "should_online", "state")

    def __init__(self, env: simpy.Environment, apic_id: int) -> None:
        self.apic_id = apic_id
        self.state = PARKED
        self.alive = env.event()
        self.should_online = env.event()
        self.online = env.event()


class SimPyBoot:
    """kapic's bring-up as SimPy processes: the boot CPU (:meth:`bsp`), one :meth:`ap` per
    woken AP and, for the mailbox, the firmware's :meth:`poller` standing for every parked AP."""

    def __init__(self, env: simpy.Environment, costs: Costs, mode: str, cpus: int) -> None:
        self.env = env
        self.costs = costs
        self.aps = {apic: SimPyAp(env, apic) for apic in range(1, cpus)}
        self.order = bringup_order(cpus, mode, costs)
        self.tsc = TscSync(costs)
        self.end_ns = -1
        # the mailbox: what the boot CPU wrote, and its two sides' completions
        self.command = 0
        self.mailbox_apic_id = -1
        self.written = env.event()
        self.acked = env.event()

    def run(self) -> int:
        """Boot; the time the boot CPU left ``smp_init``."""
        self.env.process(self.bsp())
        if self.costs.wakeup == MAILBOX:
            self.env.process(self.poller())
        self.env.run()
        return self.end_ns

    def bsp(self) -> Generator[simpy.Event, Any, None]:
        for op, apic_id in self.order:
            ap = self.aps[apic_id]
            if op == KICK:
                yield from self.kick(ap)
            else:
                yield from self.bringup(ap)
        self.end_ns = int(self.env.now)

    def kick(self, ap: SimPyAp) -> Generator[simpy.Event, Any, None]:
        """``cpuhp_prepare`` then ``do_boot_cpu``'s wakeup."""
        if self.costs.bp_prepare_ns:
            yield self.env.timeout(self.costs.bp_prepare_ns)
        if self.costs.wakeup == MAILBOX:
            yield from self.acpi_wakeup_cpu(ap)
        else:
            yield from self.wakeup_secondary_cpu_via_init(ap)

    def acpi_wakeup_cpu(self, ap: SimPyAp) -> Generator[simpy.Event, Any, None]:
        """Write APIC ID and command; spin until the firmware clears the command (seen on the
        first ``cpu_relax()`` read after it)."""
        self.mailbox_apic_id = ap.apic_id
        self.command = MAILBOX_WAKEUP
        self.acked = self.env.event()
        self.written.succeed()
        start = self.env.now
        yield self.acked
        relax = self.costs.relax_ns
        yield self.env.timeout(relax - int(self.env.now - start) % relax)

    def poller(self) -> Generator[simpy.Event, Any, None]:
        """TDVF's parked APs: each mailbox write is read ``fw_poll_ns`` later; the addressed
        AP acknowledges and jumps to the vector (after ``vcpu_delay_ns``)."""
        parked = set(self.aps)
        while parked:
            yield self.written
            yield self.env.timeout(self.costs.fw_poll_ns)
            self.written = self.env.event()
            apic_id = self.mailbox_apic_id
            if self.command != MAILBOX_WAKEUP or apic_id not in parked:
                continue
            parked.discard(apic_id)
            if self.costs.vcpu_delay_ns:
                yield self.env.timeout(self.costs.vcpu_delay_ns)
            self.command = 0
            self.acked.succeed()
            self.start_ap(self.aps[apic_id])

    def wakeup_secondary_cpu_via_init(self, ap: SimPyAp) -> Generator[simpy.Event, Any, None]:
        """INIT, INIT de-assert, then two STARTUPs each followed by udelay(10) twice."""
        self.send_ipi(ap, INIT)
        self.send_ipi(ap, INIT_DEASSERT)
        for _ in range(NUM_STARTS):
            self.send_ipi(ap, STARTUP)
            yield self.env.timeout(SIPI_UDELAY_NS)
            yield self.env.timeout(SIPI_UDELAY_NS)

    def send_ipi(self, ap: SimPyAp, kind: str) -> None:
        """The IPI reaches the AP ``ipi_latency_ns`` later (kapic's APIC bus)."""
        self.env.timeout(self.costs.ipi_latency_ns).callbacks.append(partial(self.deliver, ap, kind))

    def deliver(self, ap: SimPyAp, kind: str, _event: simpy.Event) -> None:
        if kind == INIT:
            ap.state = WAIT_FOR_SIPI
        elif kind == STARTUP and ap.state == WAIT_FOR_SIPI:  # the second one is dropped
            ap.state = RUNNING
            self.start_ap(ap)

    def start_ap(self, ap: SimPyAp) -> None:
        self.env.process(self.ap(ap))

    def ap(self, ap: SimPyAp) -> Generator[simpy.Event, Any, None]:
        """``start_secondary``: alive (microcode on a primary thread), then online once
        released."""
        yield self.env.timeout(self.costs.ap_alive_ns)
        if self.costs.ucode_load_ns and self.costs.primary(ap.apic_id):
            yield self.env.timeout(self.costs.ucode_load_ns)
        ap.alive.succeed()
        yield ap.should_online
        yield self.env.timeout(self.costs.ap_online_ns)
        ap.online.succeed()

    def bringup(self, ap: SimPyAp) -> Generator[simpy.Event, Any, None]:
        """``cpuhp_bringup_ap``: wait alive, TSC check, release, wait online, finish."""
        start = int(self.env.now)
        yield ap.alive
        now = int(self.env.now)
        end = alive_wait_end(start, now)
        if end > now:
            yield self.env.timeout(end - now)
        warp = self.tsc.warp_test_ns(ap.apic_id)
        if warp:
            yield self.env.timeout(warp)
        ap.should_online.succeed()
        yield ap.online
        yield self.env.timeout(self.costs.bp_online_ns)


def simpy_boot(costs: Costs, mode: str, cpus: int, *, count_steps: bool = False
               ) -> tuple[int, int]:
    """Run the SimPy model: (simulated end in ns, events SimPy processed).

    The run ends when the queue is empty, so every event scheduled was processed: the count
    is the environment's event id counter, which costs nothing per event. ``count_steps``
    counts ``Environment.step`` calls instead (a subclass: about a third slower, so the
    bench does not; a test checks that both counts agree)."""
    import simpy

    class CountingEnvironment(simpy.Environment):
        """Counts the events it processes."""

        def __init__(self) -> None:
            super().__init__()
            self.steps = 0

        def step(self) -> None:
            super().step()
            self.steps += 1

    env = CountingEnvironment() if count_steps else simpy.Environment()
    end = SimPyBoot(env, costs, mode, cpus).run()
    if isinstance(env, CountingEnvironment):
        return end, env.steps
    return end, next(env._eid)


# -- the heapq floor ------------------------------------------------------------------------
class HeapAp:
    """One AP's state machine; each method is one event of :meth:`SimPyBoot.ap`."""

    __slots__ = ("alive", "apic_id", "boot", "state")

    def __init__(self, boot: HeapBoot, apic_id: int) -> None:
        self.boot = boot
        self.apic_id = apic_id
        self.state = PARKED
        self.alive = False

    def start(self) -> None:  # the process starts
        self.boot.at(self.boot.costs.ap_alive_ns, self.alive_timeout)

    def alive_timeout(self) -> None:
        costs = self.boot.costs
        if costs.ucode_load_ns and costs.primary(self.apic_id):
            self.boot.at(costs.ucode_load_ns, self.report_alive)
        else:
            self.report_alive()

    def report_alive(self) -> None:
        self.boot.at(0, self.alive_event)

    def alive_event(self) -> None:
        self.alive = True
        if self.boot.waiting_alive is self:
            self.boot.waiting_alive = None
            self.boot.alive_seen()

    def should_online(self) -> None:
        self.boot.at(self.boot.costs.ap_online_ns, self.online_timeout)

    def online_timeout(self) -> None:
        self.boot.at(0, self.boot.online_seen)  # the online event (the boot CPU waits on it)
        self.boot.at(0, self.boot.nothing)  # the process ends

    def init_ipi(self) -> None:
        self.state = WAIT_FOR_SIPI

    def startup_ipi(self) -> None:
        if self.state == WAIT_FOR_SIPI:
            self.state = RUNNING
            self.boot.at(0, self.start)


class HeapBoot:
    """The floor: the SimPy model's events, one heap entry each, on a bare heapq loop; the
    boot CPU, the poller and the APs as state machines whose methods are the callbacks."""

    def __init__(self, costs: Costs, mode: str, cpus: int) -> None:
        self.costs = costs
        self.heap: list[tuple[int, int, Callable[[], None]]] = []
        self.seq = 0
        self.now = 0
        self.events = 0
        self.aps = {apic: HeapAp(self, apic) for apic in range(1, cpus)}
        self.order = bringup_order(cpus, mode, costs)
        self.next_op = 0
        self.tsc = TscSync(costs)
        self.end_ns = -1
        self.current = self.aps.get(1)
        self.waiting_alive: HeapAp | None = None
        self.started = 0
        self.sipis = 0
        self.parked = set(self.aps)
        self.command = 0
        self.mailbox_apic_id = -1

    def at(self, delay: int, callback: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (self.now + delay, self.seq, callback))

    def run(self) -> int:
        """Boot; the time the boot CPU left ``smp_init``."""
        self.at(0, self.bsp_next)  # the boot CPU's process starts
        if self.costs.wakeup == MAILBOX:
            self.at(0, self.nothing)  # the poller's process starts (and waits)
        heap, pop, events = self.heap, heapq.heappop, 0
        while heap:
            self.now, _seq, callback = pop(heap)
            events += 1
            callback()
        self.events = events
        return self.end_ns

    def nothing(self) -> None:
        """An event no one waits for (a process's start or end)."""

    def bsp_next(self) -> None:
        if self.next_op == len(self.order):
            self.end_ns = self.now
            self.at(0, self.nothing)  # the boot CPU's process ends
            return
        op, apic_id = self.order[self.next_op]
        self.next_op += 1
        self.current = ap = self.aps[apic_id]
        if op == BRINGUP:
            self.started = self.now
            if ap.alive:
                self.alive_seen()
            else:
                self.waiting_alive = ap
        elif self.costs.bp_prepare_ns:
            self.at(self.costs.bp_prepare_ns, self.wakeup)
        else:
            self.wakeup()

    def wakeup(self) -> None:
        self.started = self.now
        if self.costs.wakeup == MAILBOX:
            assert self.current is not None
            self.mailbox_apic_id = self.current.apic_id
            self.command = MAILBOX_WAKEUP
            self.at(0, self.mailbox_written)
        else:
            self.sipis = 0
            ap, latency = self.current, self.costs.ipi_latency_ns
            assert ap is not None
            self.at(latency, ap.init_ipi)
            self.at(latency, self.nothing)  # INIT de-assert: ignored
            self.send_startup()

    # the mailbox: the poller's events, then the boot CPU's next read
    def mailbox_written(self) -> None:
        self.at(self.costs.fw_poll_ns, self.mailbox_poll)

    def mailbox_poll(self) -> None:
        if self.command != MAILBOX_WAKEUP or self.mailbox_apic_id not in self.parked:
            return
        self.parked.discard(self.mailbox_apic_id)
        if self.costs.vcpu_delay_ns:
            self.at(self.costs.vcpu_delay_ns, self.mailbox_ack)
        else:
            self.mailbox_ack()

    def mailbox_ack(self) -> None:
        self.command = 0
        self.at(0, self.mailbox_acked)
        self.at(0, self.aps[self.mailbox_apic_id].start)
        if not self.parked:
            self.at(0, self.nothing)  # the poller's process ends

    def mailbox_acked(self) -> None:
        relax = self.costs.relax_ns
        self.at(relax - (self.now - self.started) % relax, self.bsp_next)

    # INIT/SIPI: two STARTUPs, each followed by udelay(10) twice
    def send_startup(self) -> None:
        assert self.current is not None
        self.at(self.costs.ipi_latency_ns, self.current.startup_ipi)
        self.at(SIPI_UDELAY_NS, self.sipi_udelay)

    def sipi_udelay(self) -> None:
        self.at(SIPI_UDELAY_NS, self.sipi_udelayed)

    def sipi_udelayed(self) -> None:
        self.sipis += 1
        if self.sipis < NUM_STARTS:
            self.send_startup()
        else:
            self.bsp_next()

    # cpuhp_bringup_ap
    def alive_seen(self) -> None:
        end = alive_wait_end(self.started, self.now)
        if end > self.now:
            self.at(end - self.now, self.tsc_check)
        else:
            self.tsc_check()

    def tsc_check(self) -> None:
        assert self.current is not None
        warp = self.tsc.warp_test_ns(self.current.apic_id)
        if warp:
            self.at(warp, self.release)
        else:
            self.release()

    def release(self) -> None:
        assert self.current is not None
        self.at(0, self.current.should_online)

    def online_seen(self) -> None:
        self.at(self.costs.bp_online_ns, self.bsp_next)


def heapq_boot(costs: Costs, mode: str, cpus: int) -> tuple[int, int]:
    """Run the heapq floor: (simulated end in ns, events popped)."""
    boot = HeapBoot(costs, mode, cpus)
    end = boot.run()
    return end, boot.events


# -- running and measuring ------------------------------------------------------------------
class Run(NamedTuple):
    """One child process: wall seconds, peak RSS (KiB), events, simulated end (ns)."""

    wall_s: float
    rss_kib: int
    events: int
    sim_end_ns: int


def _child(argv: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in KiB (the child's last stderr line), stdout of a child."""
    import subprocess  # the parent's (a model's child process imports only what it runs)

    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    if not lines or not lines[-1].isdigit():
        raise SystemExit(f"child {argv[:4]}... failed ({done.returncode}):\n{done.stderr}")
    return wall, int(lines[-1]), done.stdout


def kapic_argv(case: Case, mode: str, cpus: int) -> list[str]:
    return ["boot", "--json", "--cpus", str(cpus), "--config", f"NR_CPUS={cpus}",
            *case.kapic_args(), *MODE_ARGS[mode]]


def kapic_run(case: Case, mode: str, cpus: int) -> tuple[Run, dict[str, Any]]:
    """One ``kapic boot --json`` in a fresh process; stops unless it is the boot asked for."""
    wall, rss, out = _child(["-c", kapic_child(), *kapic_argv(case, mode, cpus)])
    doc: dict[str, Any] = json.loads(out)
    bringup = doc.get("bringup") or {}
    problems = []
    if bringup.get("mode") != mode:
        problems.append(f"bring-up {bringup.get('mode')!r}, not {mode!r} "
                        f"({bringup.get('reason')})")
    if doc["result"] != "ok" or doc["cpus_online"] != doc["cpus_requested"] or \
            doc["cpus_requested"] != cpus:
        problems.append(f"result {doc['result']}, {doc['cpus_online']} of "
                        f"{doc['cpus_requested']} CPUs online, {cpus} asked for")
    if problems:
        raise SystemExit(f"kapic {' '.join(kapic_argv(case, mode, cpus))}: {'; '.join(problems)}")
    return Run(wall, rss, int(doc["events"]), int(doc["sim_time_ns"])), doc


def model_run(impl: str, costs: Costs, mode: str, cpus: int) -> Run:
    """One model in a fresh process (this script with ``--child``)."""
    # imported, not run as a script: a script is compiled afresh each time, a module once
    start = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
             "from bench_simpy import main; main()")
    wall, rss, out = _child(["-c", start, "--child", impl, "--mode", mode, "--cpus", str(cpus),
                             "--costs", json.dumps(costs._asdict())])
    doc = json.loads(out)
    return Run(wall, rss, int(doc["events"]), int(doc["sim_end_ns"]))


def check_not_run(case: Case, mode: str) -> str:
    """Why kapic does not run ``case`` in ``mode`` (its JSON's reason); stops if it now does."""
    _wall, _rss, out = _child(["-c", kapic_child(), *kapic_argv(case, mode, 8)])
    doc = json.loads(out)
    ran = doc["bringup"]["mode"]
    if ran == mode:
        raise SystemExit(f"kapic now boots {case.name} with {mode} bring-up: add {mode!r} to "
                         "its modes in CASES (and check the models against it)")
    return f"kapic ran {ran}: {doc['bringup']['reason']}"


class Row(NamedTuple):
    """One line of the table (medians over the runs)."""

    case: str
    mode: str
    cpus: int
    impl: str
    wall_s: float
    events_per_ap: float
    events_per_s: float
    cpus_per_s: float
    rss_bytes_per_cpu: float
    sim_end_ns: int
    kapic_over_simpy: float | None
    kapic_over_heapq: float | None


class SimTime(NamedTuple):
    """The simulated end of one boot in the three implementations."""

    case: str
    mode: str
    cpus: int
    kapic_ns: int
    simpy_ns: int
    heapq_ns: int

    @property
    def diff_pct(self) -> float:
        """SimPy's end against kapic's, in percent."""
        return (self.simpy_ns - self.kapic_ns) * 100 / self.kapic_ns


def measure(case: Case, mode: str, cpus: int, costs: Costs, runs: int,
            progress: Callable[[str, Run], None]) -> dict[str, list[Run]]:
    """``runs`` rounds of kapic, SimPy, heapq, alternating."""
    done: dict[str, list[Run]] = {impl: [] for impl in IMPLS}
    for _ in range(runs):
        for impl in IMPLS:
            run = (kapic_run(case, mode, cpus)[0] if impl == "kapic"
                   else model_run(impl, costs, mode, cpus))
            done[impl].append(run)
            progress(impl, run)
    return done


def summarise(case: Case, mode: str, cpus: int,
              runs: dict[str, list[Run]]) -> tuple[list[Row], SimTime]:
    """The table's rows for one case, mode and size, and its simulated end times."""
    import statistics

    walls = {impl: statistics.median(r.wall_s for r in rs) for impl, rs in runs.items()}
    rows = []
    for impl, rs in runs.items():
        wall, events = walls[impl], rs[0].events
        is_kapic = impl == "kapic"
        rows.append(Row(
            case=case.name, mode=mode, cpus=cpus, impl=impl, wall_s=wall,
            events_per_ap=events / max(1, cpus - 1), events_per_s=events / wall,
            cpus_per_s=cpus / wall,
            rss_bytes_per_cpu=statistics.median(r.rss_kib for r in rs) * 1024 / cpus,
            sim_end_ns=rs[0].sim_end_ns,
            kapic_over_simpy=walls["kapic"] / walls["simpy"] if is_kapic else None,
            kapic_over_heapq=walls["kapic"] / walls["heapq"] if is_kapic else None,
        ))
    sim = SimTime(case.name, mode, cpus, runs["kapic"][0].sim_end_ns,
                  runs["simpy"][0].sim_end_ns, runs["heapq"][0].sim_end_ns)
    return rows, sim


# -- output ---------------------------------------------------------------------------------
TABLE_HEADER: Final = ("case", "mode", "cpus", "impl", "wall s", "events/AP", "events/s",
                       "CPUs/s", "RSS B/CPU", "kapic/SimPy", "kapic/heapq")
SIM_HEADER: Final = ("case", "mode", "cpus", "kapic ns", "SimPy ns", "diff %", "heapq ns")
_WIDTHS: Final = (20, 8, 6, 5, 8, 9, 10, 9, 9, 11, 11)
_SIM_WIDTHS: Final = (20, 8, 6, 14, 14, 8, 14)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """Names left-aligned (case, mode; impl in the main table), numbers right-aligned."""
    left = {0, 1, 3} if len(widths) == len(_WIDTHS) else {0, 1}
    return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                     for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(rows: Sequence[Row], sims: Sequence[SimTime],
                 not_run: Sequence[tuple[str, str, str]]) -> str:
    lines = [_line(TABLE_HEADER, _WIDTHS)]
    for r in rows:
        lines.append(_line((r.case, r.mode, str(r.cpus), r.impl, f"{r.wall_s:.3f}",
                            f"{r.events_per_ap:.2f}", f"{r.events_per_s:.0f}",
                            f"{r.cpus_per_s:.0f}", f"{r.rss_bytes_per_cpu:.0f}",
                            _ratio(r.kapic_over_simpy), _ratio(r.kapic_over_heapq)), _WIDTHS))
    lines += ["", "simulated end time (the boot CPU leaves smp_init)", _line(SIM_HEADER, _SIM_WIDTHS)]
    for s in sims:
        lines.append(_line((s.case, s.mode, str(s.cpus), str(s.kapic_ns), str(s.simpy_ns),
                            f"{s.diff_pct:+.3f}", str(s.heapq_ns)), _SIM_WIDTHS))
    for case, mode, why in not_run:
        lines.append(f"not run: {case} {mode}: {why}")
    return "\n".join(lines)


def format_json(rows: Sequence[Row], sims: Sequence[SimTime],
                not_run: Sequence[tuple[str, str, str]]) -> str:
    return json.dumps({
        "rows": [r._asdict() for r in rows],
        "sim_time": [{**s._asdict(), "diff_pct": s.diff_pct} for s in sims],
        "not_run": [{"case": c, "mode": m, "reason": why} for c, m, why in not_run],
    }, indent=1)


# -- command line ---------------------------------------------------------------------------
def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in known:
            raise SystemExit(f"unknown {what} {name!r} (known: {', '.join(known)})")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cpus", default="64,1024,8192,65536",
                        help="comma-separated machine sizes (default %(default)s)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each (default 2)")
    parser.add_argument("--cases", default=",".join(c.wakeup for c in CASES),
                        help="mailbox, init-sipi (default both)")
    parser.add_argument("--modes", default=",".join(MODES), help="serial, parallel (default both)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    # the models' child processes
    parser.add_argument("--child", choices=("simpy", "heapq"), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--costs", help=argparse.SUPPRESS)
    return parser


def child_main(impl: str, mode: str, cpus: int, costs_json: str) -> None:
    """Run one model; its result on stdout, its peak RSS (KiB) last on stderr."""
    costs = Costs(**json.loads(costs_json))
    end, events = (simpy_boot if impl == "simpy" else heapq_boot)(costs, mode, cpus)
    print(json.dumps({"sim_end_ns": end, "events": events}), flush=True)
    print(peak_rss_kib(), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.child:
        child_main(args.child, args.mode, int(args.cpus), args.costs)
        return
    sizes = [int(n) for n in args.cpus.split(",")]
    wakeups = _names(args.cases, [c.wakeup for c in CASES], "case")
    modes = _names(args.modes, MODES, "mode")
    cases = [c for c in CASES if c.wakeup in wakeups]
    not_run = [(c.name, m, check_not_run(c, m)) for m in modes for c in cases if m not in c.modes]
    costs = {c.name: costs_for(c) for c in cases}
    plan = [(n, m, c) for n in sizes for m in modes for c in cases if m in c.modes]
    total, count = len(plan) * len(IMPLS) * args.runs, 0
    rows: list[Row] = []
    sims: list[SimTime] = []
    for cpus, mode, case in plan:
        def progress(impl: str, run: Run, case: Case = case, mode: str = mode,
                     cpus: int = cpus) -> None:
            nonlocal count
            count += 1
            print(f"[{count}/{total}] {case.name} {mode} {cpus} CPUs {impl}: {run.wall_s:.2f} s, "
                  f"{run.events} events, sim {run.sim_end_ns} ns", file=sys.stderr, flush=True)

        got = measure(case, mode, cpus, costs[case.name], args.runs, progress)
        new_rows, sim = summarise(case, mode, cpus, got)
        rows += new_rows
        sims.append(sim)
    print(format_json(rows, sims, not_run) if args.json else format_table(rows, sims, not_run))


if __name__ == "__main__":
    main()
