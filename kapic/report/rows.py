"""Rows of ``kapic compare``: the runs of one (method, platform, kernel) under several seeds,
with the median and the spread of each figure, and each AP's time split by cause.

Every AP's bring-up, from the start of its kick to the end of the boot CPU's online work for
it, splits into three parts that do not overlap:

* **wakeup**: from the kick to the AP's first instruction at the wakeup vector (INIT/SIPI's
  IPIs reaching it, the mailbox handshake and the firmware's jump): what the method costs;
* **start-up**: from its first instruction to reporting alive: the platform (trampoline,
  early ``start_secondary``, microcode), the same whatever woke the AP;
* **waiting**: from alive to online: the kernel's own work and waiting (alive polling, the
  online work, and in parallel mode the queue behind the APs before it).

A row's figure is the median over its runs of each run's median over APs; its spread is the
range (lowest to highest) over the runs. Two rows' figures differ only when the difference
exceeds its spread: when both rows ran under the same seeds, the per-seed differences all
have the same sign (the difference is systematic, however small); otherwise, when their
ranges do not overlap. A difference inside the run-to-run variation is not stated as a
result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from kapic.report.stats import nearest_rank
from kapic.report.units import format_ns
from kapic.result import BootResult, CpuResult, method_label, span_rows
from kapic.versions import kernel_label

__all__ = [
    "COST_PARTS",
    "PART_NAMES",
    "ApSplit",
    "CostSplit",
    "Row",
    "Spread",
    "ap_splits",
    "cost_split",
    "group_rows",
]

#: the parts of an AP's bring-up, in time order, with the words the verdict uses
COST_PARTS: Final = (
    ("wakeup", "wakeup (the method, from the kick to the AP's first instruction)"),
    ("startup", "AP start-up (the platform, to alive)"),
    ("waiting", "kernel waiting (alive polling, online work, the queue)"),
)


@dataclass(frozen=True, slots=True)
class Spread:
    """A figure over repeated runs: its median and its range; ``None`` when no run had one."""

    median: int | None
    low: int | None
    high: int | None
    runs: int = 0

    @classmethod
    def of(cls, values: Sequence[int | None]) -> Spread:
        """The median and range of the values that are not ``None``."""
        known = sorted(v for v in values if v is not None)
        if not known:
            return cls(None, None, None, 0)
        return cls(nearest_rank(known, 50), known[0], known[-1], len(known))

    @property
    def width(self) -> int:
        """High minus low (0 for one run)."""
        return 0 if self.low is None or self.high is None else self.high - self.low

    def differs_from(self, other: Spread) -> bool:
        """Whether the two ranges do not overlap (the difference exceeds the spread)."""
        if None in (self.low, self.high, other.low, other.high):
            return False
        assert self.low is not None and self.high is not None
        assert other.low is not None and other.high is not None
        return self.high < other.low or other.high < self.low

    def format(self) -> str:
        """``906 us`` or ``906 us ±9.00 us`` (half the range), ``-`` when unknown."""
        text = format_ns(self.median)
        if self.median is not None and self.width:
            text += f" ±{format_ns(self.width // 2)}"
        return text


@dataclass(frozen=True, slots=True)
class CostSplit:
    """One run's per-AP medians: the whole bring-up of an AP and its three parts."""

    per_cpu: int | None
    wakeup: int | None
    startup: int | None
    waiting: int | None
    #: APs for which all three parts are known (kicked, alive and brought online)
    aps: int


#: the parts of an AP's bring-up, in time order: key of :meth:`Row.spread` -> slice name
PART_NAMES: Final = {"wakeup": "wakeup", "startup": "start-up", "waiting": "waiting"}


@dataclass(frozen=True, slots=True)
class ApSplit:
    """Where one AP's bring-up crossed from one part to the next, as far as it got.

    The cut :func:`cost_split` takes medians of: ``kick_ns`` is the start of the
    boot CPU's ``kick`` span, ``start_ns`` of the AP's ``ap-startup`` span, ``alive_ns`` the
    kick plus ``kick_to_alive_ns`` (for an AP the kernel gave up on, the end of its
    ``ap-startup``), ``done_ns`` the end of the boot CPU's ``online`` span for it.
    """

    cpu: int
    kick_ns: int
    start_ns: int | None
    alive_ns: int | None
    done_ns: int | None
    #: all three parts are known, so the AP counts in the row's medians
    complete: bool

    def parts(self) -> list[tuple[str, int, int]]:
        """``(part, start_ns, end_ns)`` of each part it got through, in time order."""
        marks = (self.kick_ns, self.start_ns, self.alive_ns, self.done_ns)
        out: list[tuple[str, int, int]] = []
        for part, begin, end in zip(PART_NAMES, marks, marks[1:], strict=False):
            if begin is None or end is None:
                break
            out.append((part, begin, end))
        return out

    @property
    def end_ns(self) -> int:
        """The last point it reached: online, alive, first instruction or only the kick."""
        parts = self.parts()
        return parts[-1][2] if parts else self.kick_ns


def _crossings(result: BootResult) -> Iterator[tuple[int, int, int | None, int | None, int | None,
                                                     bool]]:
    """``(cpu, kick, start, alive, done, complete)`` of every kicked AP of ``result``, in CPU
    order: the fields of :class:`ApSplit` (reports read them for every AP of a 65,536-CPU
    boot)."""
    kicks: dict[int, int] = {}
    startups: dict[int, tuple[int, int]] = {}
    onlined: dict[int, int] = {}
    # one pass, each span unpacked as the tuple it is; the last one of a kind counts
    for cpu, name, start_ns, end_ns, target in span_rows(result.spans):
        if name == "kick":
            if cpu == 0:
                kicks[target] = start_ns
        elif name == "online":
            if cpu == 0:
                onlined[target] = end_ns
        elif name == "ap-startup" and cpu == target:
            startups[target] = (start_ns, end_ns)
    for c in sorted(result.cpus, key=_cpu_number):
        kick = kicks.get(c.cpu)
        if kick is None or c.state == "boot-cpu":
            continue
        startup = startups.get(c.cpu)
        start = None if startup is None else startup[0]
        if c.kick_to_alive_ns is not None:
            alive: int | None = kick + c.kick_to_alive_ns
        else:
            alive = None if startup is None else startup[1]
        done = onlined.get(c.cpu) if alive is not None else None
        complete = start is not None and done is not None and c.kick_to_alive_ns is not None
        yield c.cpu, kick, start, alive, done, complete


def _cpu_number(cpu: CpuResult) -> int:
    return cpu.cpu


def ap_splits(result: BootResult) -> list[ApSplit]:
    """Every kicked AP of ``result``, in CPU order, split into its three parts."""
    return [ApSplit(*crossing) for crossing in _crossings(result)]


def cost_split(result: BootResult) -> CostSplit:
    """Split each AP's bring-up into wakeup, start-up and waiting, then take the medians over
    the APs that got through all three."""
    per_cpu: list[int] = []
    wakeup: list[int] = []
    startup: list[int] = []
    waiting: list[int] = []
    for _cpu, kick, start, alive, done, complete in _crossings(result):
        if not complete:
            continue
        assert start is not None and alive is not None and done is not None
        per_cpu.append(done - kick)
        wakeup.append(start - kick)
        startup.append(alive - start)
        waiting.append(done - alive)
    return CostSplit(nearest_rank(per_cpu, 50), nearest_rank(wakeup, 50),
                     nearest_rank(startup, 50), nearest_rank(waiting, 50), len(per_cpu))


def _key(result: BootResult) -> tuple[str, str, str]:
    asked = result.method_requested if result.method_requested != "auto" else result.method
    return asked, result.platform, result.kernel


@dataclass(frozen=True)
class Row:
    """The runs of one (asked method, platform, kernel), one per seed."""

    runs: tuple[BootResult, ...]

    @property
    def asked(self) -> str:
        """The method the row was asked for."""
        return _key(self.runs[0])[0]

    @property
    def platform(self) -> str:
        return self.runs[0].platform

    @property
    def kernel(self) -> str:
        return self.runs[0].kernel

    @property
    def result(self) -> BootResult:
        """The representative run: the one whose whole bring-up time is the median."""
        ordered = sorted(self.runs, key=lambda r: (r.sim_time_ns, r.seed))
        return ordered[(len(ordered) - 1) // 2]

    @property
    def outcome(self) -> str:
        """The result kind all runs share, else ``mixed`` with the counts."""
        kinds: dict[str, int] = {}
        for r in self.runs:
            kinds[r.result] = kinds.get(r.result, 0) + 1
        if len(kinds) == 1:
            return next(iter(kinds))
        return "mixed (" + ", ".join(f"{k} {n}/{len(self.runs)}" for k, n in kinds.items()) + ")"

    @property
    def method(self) -> str:
        """What woke the APs, with the method asked for when another ran."""
        return method_label(self.result)

    @property
    def ran_as_asked(self) -> bool:
        """Whether the method asked for is the one whose handler woke the APs in every run."""
        return all(not r.methods or set(r.methods) == {self.asked} for r in self.runs)

    @property
    def label(self) -> str:
        """``init-sipi on kvm (Linux 6.12)``."""
        return f"{self.method} on {self.platform} ({kernel_label(self.kernel)})"

    @property
    def mode(self) -> tuple[str, str]:
        """(``serial`` or ``parallel``, why); ``-`` for a row that was not possible or that a
        plugin stopped (its runs tried a mode, but no bring-up of that mode happened)."""
        if self.outcome in ("not-applicable", "plugin-error"):
            return "-", ""
        b = self.result.bringup
        return b.get("mode", "-"), b.get("reason", "")

    def values(self, part: str) -> list[int | None]:
        """One figure per run, in run (seed) order."""
        if part == "total":
            return [r.sim_time_ns if r.result == "ok" else None for r in self.runs]
        return [getattr(split, part) for split in self.splits]

    @cached_property
    def splits(self) -> tuple[CostSplit, ...]:
        """:func:`cost_split` of each run, in run order (computed once: the table, the
        verdict and the plot all read it)."""
        return tuple(cost_split(r) for r in self.runs)

    def differs(self, other: Row, part: str) -> bool:
        """Whether this row's figure differs from ``other``'s beyond run-to-run variation."""
        mine, theirs = self.values(part), other.values(part)
        seeds = [r.seed for r in self.runs]
        paired = seeds == [r.seed for r in other.runs] and len(seeds) > 1
        if paired and None not in mine and None not in theirs:
            diffs = [b - a for a, b in zip(mine, theirs, strict=True)]  # type: ignore[operator]
            return min(diffs) > 0 or max(diffs) < 0
        return self.spread(part).differs_from(other.spread(part))

    def spread(self, part: str) -> Spread:
        """``total``, ``per_cpu``, ``wakeup``, ``startup`` or ``waiting`` over the runs."""
        return Spread.of(self.values(part))


def group_rows(results: Sequence[BootResult]) -> list[Row]:
    """Consecutive runs of the same (asked method, platform, kernel) become one row."""
    rows: list[list[BootResult]] = []
    for result in results:
        if rows and _key(rows[-1][0]) == _key(result):
            rows[-1].append(result)
        else:
            rows.append([result])
    return [Row(tuple(runs)) for runs in rows]


def rows_of(results: Sequence[BootResult], rows: Sequence[Row] | None) -> Sequence[Row]:
    """:func:`group_rows` of ``results``, or ``rows`` when a caller grouped them already and
    they hold exactly the runs of ``results``, in order; a ``ValueError`` otherwise: rows of
    other runs would give a table and a verdict of runs the caller did not ask about."""
    if rows is None:
        return group_rows(results)
    runs = [run for row in rows for run in row.runs]
    if len(runs) != len(results) or any(a is not b for a, b in zip(runs, results, strict=True)):
        raise ValueError("rows must be group_rows(results): they hold other runs")
    return rows
