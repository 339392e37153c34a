"""A parser for a Linux boot log as ``dmesg`` prints it: the lines kapic models, and the facts
they show (kernel release, CPUs brought up, parallel or serial bring-up, the wakeup method and
the ``#N`` CPU numbers ``announce_cpu()`` printed, with their timestamps).

Pure: no I/O, standard library only. It is what a ``kapic dmesg FILE`` command reads to set a
real log beside kapic's simulated one. Accepted input, line by line:

* ``[    0.812615] text`` (plain ``dmesg``), ``text`` (``dmesg -t``), with or without a
  leading ``<6>`` level (``dmesg -r``), a ``[    T0]`` caller field (CONFIG_PRINTK_CALLER)
  or a syslog ``Apr 18 12:12:38 host kernel:`` prefix, all of which are dropped;
* excerpts pasted into reports: lines starting with ``#`` (comments) and ``...`` lines
  (omissions) are skipped. The kernel never prints ``#`` in column 0: the ``#N`` lists are
  padded with at least one space.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from kapic.errors import InputError
from kapic.versions import HOTPLUG_PARALLEL, MP_WAKE, KernelVersion

__all__ = ["BRINGUP_PREFIXES", "DmesgLine", "DmesgLog", "parse_dmesg"]

#: Starts of the lines kapic models (MADT parse, APIC routing, SMP bring-up); the ``#N``
#: continuation lines of the announce list and "CPU<n> failed to report alive state" as well.
BRINGUP_PREFIXES: Final[tuple[str, ...]] = (
    "ACPI: LAPIC_NMI", "ACPI: X2APIC_NMI", "ACPI: INT_SRC_OVR", "ACPI: NMI_SRC",
    "ACPI: LAPIC_ADDR_OVR", "ACPI: Found unsupported MADT entry", "ACPI: MP Wakeup", "IOAPIC[",
    "ACPI: Using ACPI", "smpboot: Allowing", "CPU topo:", "APIC: Switched APIC routing",
    "Switched APIC routing", "Setting APIC routing", "APIC: wakeup_secondary_cpu",
    "ACPI: APIC: wakeup_secondary_cpu", "smp: ", "smpboot: x86: Booting SMP", "x86: Booting SMP",
    ".... node", "smpboot: Parallel CPU startup", "smpboot: Max logical packages",
    "smpboot: Total of", "smpboot: do_boot_cpu failed", "ACPI: ACPI wakeup of APIC ID",
    "No MADT mailbox", "APIC: CPU limit", "APIC: NR_CPUS", "weird, boot CPU",
)

_LEVEL: Final = re.compile(r"<\d{1,3}>")
_STAMP: Final = re.compile(r"\[\s*(\d+\.\d+)\] ?")
_CALLER: Final = re.compile(r"\[\s*[TC]\d+\] ?")
_SYSLOG: Final = re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: ")
_FAILED_ALIVE: Final = re.compile(r"CPU\d+ failed to report alive state")
_NODE: Final = re.compile(r"\.\.\.\. node\s+#\d+, CPUs:(.*)")
_CONTINUATION: Final = re.compile(r"\s*#\d+(?:\s+#\d+)*")
_CPU_NUMBER: Final = re.compile(r"#(\d+)")
_VERSION: Final = re.compile(r"Linux version (\S+)")
_RELEASE: Final = re.compile(r"(\d+)\.(\d+)")
_BROUGHT_UP: Final = re.compile(r"smp: Brought up \d+ nodes?, (\d+) CPUs?")
_CMDLINE: Final = re.compile(r"(?:Kernel )?[Cc]ommand line: (.*)")
_PARALLEL_ARG: Final = re.compile(r"(?:^|\s)cpuhp\.parallel=(\S*)")
#: the MADT wakeup structure (type 0x10), which 5.19+ kernels use for every AP
_WAKEUP_ENTRY: Final = "ACPI: Found unsupported MADT entry (type = 0x10)"
#: a TDX guest: no INIT/SIPI there, every AP is woken through the MADT mailbox
_TDX_GUEST: Final = ("tdx: Guest detected", "Memory Encryption Features active: Intel TDX",
                     "process: using TDX aware idle routine")
_PARALLEL_OFF: Final = "Parallel CPU startup disabled by the platform"
_PARALLEL_ON: Final = "Parallel CPU startup enabled"
#: share of replacement or control characters above which the input is binary, not a log
_JUNK_SHARE: Final = 0.05
_TEXT_CONTROLS: Final = frozenset("\t\n\r\f\x1b")


@dataclass(frozen=True, slots=True)
class DmesgLine:
    """One line of the log: ``t`` the timestamp in seconds (``None`` without one, as
    ``dmesg -t`` prints), ``text`` the message, verbatim but for trailing whitespace."""

    t: float | None
    text: str


@dataclass(frozen=True, slots=True)
class DmesgLog:
    """A parsed boot log and the bring-up facts it shows (``None``: the log does not say).

    :param lines: every line, in order (comments and ``...`` lines of excerpts dropped).
    :param version_text: what follows "Linux version", e.g. ``"7.2.13+deb14-amd64"``.
    :param release: ``(major, minor)`` of ``version_text``.
    :param cpus_up: M of "smp: Brought up N nodes, M CPUs".
    :param parallel: whether the APs were started in parallel (6.5+ unless the platform or
        ``cpuhp.parallel=0`` turned it off).
    :param wakeup: ``"acpi-mailbox"`` (MADT wakeup structure) or ``"init-sipi"``.
    :param announced: every ``#N`` of the announce list with the timestamp of its line.
    """

    lines: tuple[DmesgLine, ...]
    version_text: str | None
    release: tuple[int, int] | None
    cpus_up: int | None
    parallel: bool | None
    wakeup: str | None
    announced: tuple[tuple[int, float | None], ...]

    def bringup_lines(self) -> list[DmesgLine]:
        """The lines kapic models: :data:`BRINGUP_PREFIXES`, "CPU<n> failed to report alive
        state" and the ``#N`` continuation lines of the announce list."""
        announce = {index for index, _ in _announce_lines(self.lines)}
        return [line for index, line in enumerate(self.lines)
                if index in announce or _is_bringup(line.text)]

    def per_ap_ns(self) -> list[int] | None:
        """Nanoseconds between consecutive timestamped announce lines, or ``None`` with fewer
        than two such lines.

        A serial bring-up whose APs print something (calibration, topology) while they come
        up shows one ``#N`` per line, so each interval is one AP's bring-up; an interval after
        a line of several ``#N`` is shared among them. A parallel bring-up shows one line per
        batch (primary threads, then siblings), so its intervals are not per AP.
        """
        found = [(self.lines[index].t, len(cpus)) for index, cpus in _announce_lines(self.lines)]
        stamped = [(t, n) for t, n in found if t is not None]
        if len(stamped) < 2:
            return None
        # a line's timestamp is its first #N's: the interval to the next line covers every
        # AP announced on the earlier one
        return [round((later - earlier) * 1e9 / max(1, n))
                for (earlier, n), (later, _) in pairwise(stamped) for _ in range(max(1, n))]


def parse_dmesg(text: str | bytes, source: str = "<log>") -> DmesgLog:
    """Parse a boot log (``dmesg`` output, a serial console capture or an excerpt of one).

    :param source: how errors name the input (a file name).
    :raises InputError: the input is binary, or shows no CPU bring-up line at all.
    """
    lines = tuple(_lines(_decode(text, source)))
    if not any(_is_bringup(line.text) for line in lines):  # node lines are among them
        raise InputError("no CPU bring-up lines (smp: ..., x86: Booting SMP ...)", source=source)
    texts = [line.text for line in lines]
    version_text = _first(_VERSION, texts)
    release_match = _RELEASE.match(version_text) if version_text else None
    release = (int(release_match[1]), int(release_match[2])) if release_match else None
    brought_up = _first(_BROUGHT_UP, texts)
    announced = tuple((cpu, lines[index].t) for index, cpus in _announce_lines(lines) for cpu in cpus)
    return DmesgLog(
        lines=lines,
        version_text=version_text,
        release=release,
        cpus_up=int(brought_up) if brought_up is not None else None,
        parallel=_parallel(texts, release),
        wakeup=_wakeup(texts, release),
        announced=announced,
    )


def _decode(data: str | bytes, source: str) -> str:
    """The text of ``data``; binary input (a NUL, or over 5% undecodable or control
    characters) is an :class:`InputError`."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if "\x00" in text:
        raise InputError("binary data (NUL bytes), not a dmesg log", source=source)
    junk = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in _TEXT_CONTROLS))
    if junk > _JUNK_SHARE * len(text):
        raise InputError(f"binary data ({junk} of {len(text)} characters not UTF-8 text), "
                         "not a dmesg log", source=source)
    return text.removeprefix("\ufeff")


def _lines(text: str) -> Iterator[DmesgLine]:
    """Split ``text`` into :class:`DmesgLine` s, dropping the prefixes dmesg, printk and
    syslog add and the comment and omission lines of excerpts."""
    for raw in text.split("\n"):
        rest = raw.rstrip()
        if not rest or rest.startswith("#") or rest.strip() == "...":
            continue
        if level := _LEVEL.match(rest):
            rest = rest[level.end():]
        if syslog := _SYSLOG.match(rest):
            rest = rest[syslog.end():]
        t: float | None = None
        if stamp := _STAMP.match(rest):
            t, rest = float(stamp[1]), rest[stamp.end():]
        if caller := _CALLER.match(rest):
            rest = rest[caller.end():]
        yield DmesgLine(t, rest)


def _is_bringup(text: str) -> bool:
    """Whether ``text`` starts like a line kapic models (announce continuations aside)."""
    return text.startswith(BRINGUP_PREFIXES) or _FAILED_ALIVE.match(text) is not None


def _announce_lines(lines: Sequence[DmesgLine]) -> list[tuple[int, list[int]]]:
    """``(index, CPU numbers)`` of the announce lines: each ``.... node  #N, CPUs:`` line and
    the lines of only ``#N`` fields after it, up to "smp: Brought up"."""
    found: list[tuple[int, list[int]]] = []
    active = False
    for index, line in enumerate(lines):
        if node := _NODE.match(line.text):
            active = True
            found.append((index, [int(n) for n in _CPU_NUMBER.findall(node[1])]))
        elif active and _CONTINUATION.fullmatch(line.text):
            found.append((index, [int(n) for n in _CPU_NUMBER.findall(line.text)]))
        elif line.text.startswith("smp: Brought up"):
            active = False
    return found


def _first(pattern: re.Pattern[str], texts: Sequence[str]) -> str | None:
    """Group 1 of the first text ``pattern`` matches at its start."""
    for text in texts:
        if match := pattern.match(text):
            return match[1]
    return None


def _parallel(texts: Sequence[str], release: tuple[int, int] | None) -> bool | None:
    """Parallel bring-up: 6.5+, unless the platform or ``cpuhp.parallel=`` turned it off."""
    if any(_PARALLEL_OFF in text for text in texts):
        return False
    for text in texts:
        cmdline = _CMDLINE.match(text)
        arg = _PARALLEL_ARG.search(cmdline[1]) if cmdline else None
        if arg and (arg[1].lower() == "off" or arg[1][:1] in ("0", "n", "N", "f", "F")):
            return False  # kstrtobool's false values
    if release is not None:
        return KernelVersion(release).has(HOTPLUG_PARALLEL)
    return True if any(_PARALLEL_ON in text for text in texts) else None


def _wakeup(texts: Sequence[str], release: tuple[int, int] | None) -> str | None:
    """``"acpi-mailbox"`` when the log shows the MADT wakeup path (``acpi_wakeup_cpu``, the
    type 0x10 entry on a 5.19+ kernel, a TDX guest), else ``"init-sipi"``."""
    mailbox_kernel = release is None or KernelVersion(release).has(MP_WAKE)
    for text in texts:
        if (("replaced with" in text and "acpi_wakeup_cpu" in text) or "MP Wakeup (" in text
                or text.startswith(_TDX_GUEST)
                or (mailbox_kernel and text.startswith(_WAKEUP_ENTRY))):
            return "acpi-mailbox"
    return "init-sipi" if any(_is_bringup(text) for text in texts) else None
