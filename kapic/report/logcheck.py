"""A real boot log beside kapic's: what to boot to reproduce it, and how the two differ.

``plan(log)`` reads the machine a log shows (kernel release, wakeup path, CPUs, SMT, x2APIC or
not, the IOAPIC, parallel or serial bring-up) as a :class:`~kapic.api.BootSpec`;
``compare_logs(log, result)`` sets the bring-up lines of both side by side and their timings.
Lines are compared as the kernel means them: the ``#N`` fields of ``announce_cpu`` as one list
(where a real log breaks it into continuation lines depends on what the APs print meanwhile),
and the BogoMIPS figure (a calibration kapic does not model) masked.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from kapic.api import BootSpec
from kapic.errors import InputError
from kapic.report.dmesg import DmesgLine, DmesgLog, parse_dmesg
from kapic.result import BootResult
from kapic.versions import HOTPLUG_PARALLEL, RELEASES, KernelVersion, parse_kernel_version

__all__ = ["Fit", "LogCheck", "compare_logs", "fit", "plan"]

_TOPO_THREADS: Final = re.compile(r"CPU topo: Max\. threads per core:\s+(\d+)")
_ALLOWING_OLD: Final = re.compile(r"smpboot: Allowing (\d+) CPUs, (\d+) hotplug CPUs")
_ALLOWING_NEW: Final = re.compile(r"CPU topo: Allowing (\d+) present CPUs plus (\d+) hotplug")
_IOAPIC: Final = re.compile(r"IOAPIC\[0\]: apic_id \d+, version (\d+), address 0x[0-9a-f]+, "
                            r"GSI (\d+)-(\d+)")
#: an AP that is the first of its die or package (QEMU -smp N as N sockets), 5.x-6.8
_OWN_PACKAGE: Final = re.compile(r"smpboot: CPU \d+ Converting physical \d+ to logical "
                                 r"(?:die|package) [1-9]")
_BOGOMIPS: Final = re.compile(r"\(\d+\.\d\d BogoMIPS\)")
_NODE: Final = re.compile(r"(\.\.\.\. node\s+#\d+, CPUs:)(.*)")
_FIELDS: Final = re.compile(r"\s*#\d+(?:\s+#\d+)*")
_HYPERVISOR: Final = ("Hypervisor detected:",)
#: x2APIC mode on: the routing names an x2apic driver, or the enable messages
_X2APIC_ON: Final = ("x2apic enabled", "x2apic: enabled by BIOS")
_STAMP: Final = re.compile(r"\[\s*(\d+\.\d+)\] ")


def plan(log: DmesgLog, *, kernel: str | None = None, madt: str | None = None,
         platform: str | None = None, cpus: int | None = None,
         source: str = "<log>") -> BootSpec:
    """The boot that should print ``log``'s bring-up lines.

    :raises InputError: the log names no release kapic models and ``kernel`` is not given.
    """
    texts = [line.text for line in log.lines]
    if kernel is None:
        if log.release is None:
            raise InputError("no 'Linux version' line: give the release with --kernel",
                             source=source)
        if log.release not in RELEASES:
            first, last = RELEASES[0], RELEASES[-1]
            raise InputError(
                f"Linux {log.version_text}: kapic models {first[0]}.{first[1]} to "
                f"{last[0]}.{last[1]}; give --kernel to compare it with one of those",
                source=source)
        # the stable sublevel too: it decides the gates stable branches got by backport
        kernel = parse_kernel_version(log.version_text or "").name
    if platform is None:
        if log.wakeup == "acpi-mailbox":
            platform = "tdx"
        elif any(t.startswith(_HYPERVISOR) and "KVM" in t for t in texts):
            platform = "kvm"
        else:
            platform = "bare-metal"
    params: dict[str, str] = {}
    whole = log.version_text is not None  # an excerpt may have left the x2APIC lines out
    x2apic = any(("APIC routing" in t and "x2apic" in t) or t.startswith(_X2APIC_ON)
                 for t in texts)
    if (whole or x2apic) and platform != "tdx":  # a TDX guest is always in x2APIC mode
        params["x2apic"] = "1" if x2apic else "0"
    threads = _first_int(_TOPO_THREADS, texts)
    if threads:
        params["threads_per_core"] = str(threads)
    if any(_OWN_PACKAGE.match(t) for t in texts):  # each AP a die or package of its own
        params["cores_per_package"] = "1"
    ioapic = next((m for t in texts if (m := _IOAPIC.match(t))), None)
    if ioapic:
        params["ioapic_version"] = ioapic[1]
        params["ioapic_pins"] = str(int(ioapic[3]) - int(ioapic[2]) + 1)
    config: dict[str, str] = {}
    if log.parallel is False and log.release is not None \
            and KernelVersion(log.release).has(HOTPLUG_PARALLEL) \
            and not any("Parallel CPU startup disabled by the platform" in t for t in texts):
        config["HOTPLUG_PARALLEL"] = "n"  # cpuhp.parallel=0
    if madt is None and cpus is None:
        cpus = _possible(texts) or log.cpus_up
        if cpus is None and log.announced:  # an excerpt: the highest CPU number announced
            cpus = max(cpu for cpu, _ in log.announced) + 1
        if cpus is None:
            raise InputError("no CPU count in the log (no 'Allowing' or 'Brought up' line): "
                             "give the table with --madt, or --cpus", source=source)
    return BootSpec(platform=platform, kernel=kernel, cpus=cpus, madt=madt, params=params,
                    config=config)


def _first_int(pattern: re.Pattern[str], texts: list[str]) -> int | None:
    for text in texts:
        if m := pattern.match(text):
            return int(m[1])
    return None


def _possible(texts: list[str]) -> int | None:
    for text in texts:
        if m := _ALLOWING_OLD.match(text):
            return int(m[1])
        if m := _ALLOWING_NEW.match(text):
            return int(m[1]) + int(m[2])
    return None


@dataclass
class LogCheck:
    """A real log against kapic's boot of the same machine."""

    spec: BootSpec
    real: list[str]
    kapic: list[str]
    diff: list[str] = field(default_factory=list)
    #: (what, real ns, kapic ns) for the total bring-up and the mean per AP
    timing: list[tuple[str, int | None, int | None]] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        """Whether the bring-up lines are the same."""
        return not self.diff

    def to_json(self) -> dict[str, object]:
        """The check as ``kapic dmesg --json`` prints it."""
        return {
            "agree": self.agree,
            "boot": self.spec.to_json(),
            "real": self.real,
            "kapic": self.kapic,
            "diff": self.diff,
            "timing": [{"what": w, "real_ns": r, "kapic_ns": k} for w, r, k in self.timing],
        }


#: lines the kernel prints with pr_debug (kapic too, hidden): a log shows them only with
#: dynamic debug on, so they are left out of the comparison
_DEBUG: Final = ("smpboot: Parallel CPU startup enabled", "ACPI: LAPIC (", "ACPI: X2APIC (",
                 "ACPI: IOAPIC (", "ACPI: MP Wakeup (")


def _normalise(lines: list[DmesgLine]) -> list[str]:
    """Bring-up lines as the kernel means them: announce fields joined, BogoMIPS masked,
    pr_debug lines left out."""
    out: list[str] = []
    in_list = False
    for line in lines:
        if line.text.startswith(_DEBUG):
            continue
        text = _BOGOMIPS.sub("(... BogoMIPS)", line.text)
        if m := _NODE.match(text):
            out.append(f"{m[1]} {' '.join(m[2].split())}".rstrip())
            in_list = True
        elif in_list and _FIELDS.fullmatch(text):
            out[-1] = f"{out[-1]} {' '.join(text.split())}"
        else:
            in_list = in_list and not text.startswith("smp: Brought up")
            out.append(text)
    return out


def _span_ns(lines: Sequence[DmesgLine]) -> int | None:
    start = next((x.t for x in lines if x.text.startswith("smp: Bringing up")), None)
    end = next((x.t for x in lines if x.text.startswith("smp: Brought up")), None)
    if start is None or end is None:
        return None
    return round((end - start) * 1e9)


def _kind(text: str) -> str:
    """Which kind of bring-up line ``text`` is: its first two words ("smp: Brought",
    "ACPI: INT_SRC_OVR", ".... node")."""
    return " ".join(text.split()[:2])


def _window(real: list[str], kapic: list[str]) -> list[str]:
    """An excerpt starts and ends where its poster cut it: kapic's lines from the excerpt's
    first line to its last, when kapic has both in that order."""
    if not real or real[0] not in kapic:
        return kapic
    start = kapic.index(real[0])
    ends = [n for n in range(start, len(kapic)) if kapic[n] == real[-1]]
    return kapic[start:ends[-1] + 1] if ends else kapic[start:]


def compare_logs(log: DmesgLog, spec: BootSpec, result: BootResult) -> LogCheck:
    """Set ``log``'s bring-up lines beside those of ``result`` (kapic's boot of ``spec``).

    An excerpt (a log without its "Linux version" line, as pasted into reports) is compared
    on the kinds of lines it shows; a whole log on every bring-up line."""
    ours = parse_dmesg("\n".join(result.log), source="kapic")
    real = _normalise(log.bringup_lines())
    kapic = _normalise(ours.bringup_lines())
    if log.version_text is None:
        kinds = {_kind(text) for text in real}
        kapic = [text for text in kapic if _kind(text) in kinds]
        kapic = _window(real, kapic)
    diff = list(difflib.unified_diff(real, kapic, "real", "kapic", lineterm="", n=1))
    real_total = _span_ns(log.lines)
    kapic_total = _span_ns(ours.lines)
    aps_real = (log.cpus_up or 1) - 1
    aps_kapic = result.cpus_online - 1
    per_ap_kapic = kapic_total // aps_kapic if kapic_total is not None and aps_kapic > 0 else None
    intervals = log.per_ap_ns() if log.parallel is False else None
    timing = [
        ("bring-up (smp: Bringing up -> Brought up)", real_total, kapic_total),
        ("per AP (bring-up / APs online)",
         real_total // aps_real if real_total is not None and aps_real > 0 else None,
         per_ap_kapic),
        # a serial log whose APs print while they come up shows one #N per line
        ("per AP (median between #N lines)",
         round(statistics.median(intervals)) if intervals else None, per_ap_kapic),
    ]
    return LogCheck(spec, real, kapic, diff, timing)


@dataclass(frozen=True)
class Fit:
    """Platform parameters that make kapic's boot take the log's time per AP."""

    #: every parameter the boot needs, the fitted one included (what ``--params`` takes)
    params: dict[str, str]
    #: the parameter that was fitted
    fitted: str
    target_ns: int
    kapic_ns: int
    #: the same timing row the fit aims at ("per AP ...")
    what: str

    @property
    def residual(self) -> float:
        """kapic's time per AP with the fitted parameters, relative to the log's."""
        return (self.kapic_ns - self.target_ns) / self.target_ns

    def toml(self, source: str, log: DmesgLog, spec: BootSpec) -> str:
        """The parameters as a TOML file for ``kapic boot --params``."""
        config = "".join(f" --config {k}={v}" for k, v in spec.config.items())
        machine = f"--madt {spec.madt}" if spec.madt else f"--cpus {spec.cpus}"
        head = [
            f"# kapic dmesg --fit {source}: Linux {log.version_text or spec.kernel}",
            f"# use: kapic boot --platform {spec.platform} --kernel {spec.kernel} {machine}"
            f"{config} --params THIS_FILE",
            f"# {self.what}: the log {self.target_ns / 1e6:.3f} ms, kapic "
            f"{self.kapic_ns / 1e6:.3f} ms with these ({self.residual:+.2%}); fitted: "
            f"{self.fitted}",
        ]
        return "\n".join(head + [f"{k} = {int(v)}" for k, v in sorted(self.params.items())]) + "\n"


def fit(log: DmesgLog, spec: BootSpec, run: Callable[[BootSpec], BootResult],
        *, rounds: int = 6) -> Fit | None:
    """Fit ``ap_alive_ns`` (serial bring-up: each AP's start-up is on the critical path) or
    ``bp_online_ns`` (parallel: the boot CPU's per-AP online work is) so that kapic's time per
    AP matches the log's; ``None`` when the log shows no time per AP. Secant steps on
    whole boots: kapic's time is close to linear in either parameter."""
    check = compare_logs(log, spec, run(spec))
    rows = {what: real for what, real, _ in check.timing if real}
    what = next((w for w in ("per AP (bring-up / APs online)", "per AP (median between #N lines)")
                 if rows.get(w)), None)
    if what is None:
        return None
    target = rows[what]
    name = "bp_online_ns" if log.parallel else "ap_alive_ns"
    platform_value = _platform_param(spec, name)

    def per_ap(value: int) -> int:
        trial = dataclasses.replace(spec, params={**spec.params, name: str(value)})
        timing = compare_logs(log, trial, run(trial)).timing
        return next(k for w, _, k in timing if w == what) or 0

    x0, y0 = platform_value, per_ap(platform_value)
    x1 = max(0, x0 + (target - y0))
    y1 = per_ap(x1)
    for _ in range(rounds):
        if y1 == target or abs(y1 - target) <= target // 1000 or y1 == y0:
            break
        x0, y0, x1 = x1, y1, max(0, round(x1 + (target - y1) * (x1 - x0) / (y1 - y0)))
        y1 = per_ap(x1)
    return Fit({**spec.params, name: str(x1)}, name, target, y1, what)



def _platform_param(spec: BootSpec, name: str) -> int:
    from kapic.platforms.builtin import BUILTIN_PLATFORMS

    if name in spec.params:
        return int(spec.params[name])
    platform = next((p for p in BUILTIN_PLATFORMS if p.name == spec.platform), None)
    if platform is None:
        from kapic.platforms.model import DEFAULT_PARAMS

        return DEFAULT_PARAMS[name]
    return platform.param(name)
