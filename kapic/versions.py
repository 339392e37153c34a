"""Kernel versions, and the gates: every bring-up behaviour that changed between releases.

A :class:`Gate` names one behaviour, the first release that has it (and, for a behaviour that
was later dropped, the first release without it), the commit that brought it and the kernel
file and function where it lives. Code asks a :class:`KernelVersion` whether a gate is open
(``kernel.version.has(HOTPLUG_PARALLEL)``), never compares version numbers itself.

``seed`` is not a release: it is the PATCHv7 21/30 posting (Dave Hansen's rewrite, 18 Mar
2022) on a 5.19 base, which was never merged. Its gates are 5.19's, except those marked
``in_seed``. docs/kernel-versions.md renders :data:`GATES`; a test keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from kapic.errors import ConfigError

__all__ = [
    "GATES",
    "LATEST",
    "NAMED_RELEASES",
    "RELEASES",
    "Gate",
    "KernelVersion",
    "gate",
    "kernel_label",
    "parse_kernel_version",
]

Release = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Gate:
    """One behaviour that changed between kernel releases.

    :param name: a short identifier, as code and docs name it.
    :param since: the first release that has the behaviour; ``None``: no release has it
        (it is in the seed posting only).
    :param commit: the commit (12-hex id and subject) or posting that brought it.
    :param source: the kernel file and function.
    :param summary: what the behaviour is, in a sentence.
    :param until: the first release that no longer has it, if one dropped it.
    :param in_seed: the seed posting's answer when it differs from its 5.19 base.
    :param backports: stable branches that got it, as release -> first sublevel
        (``{(6, 12): 77}``: 6.12.77 and later have it).
    :param dropped: stable branches that lost it with a backport, release -> first sublevel
        without it.
    """

    name: str
    since: Release | None
    commit: str
    source: str
    summary: str
    until: Release | None = None
    in_seed: bool | None = None
    backports: Mapping[Release, int] = field(default_factory=dict, hash=False, compare=False)
    dropped: Mapping[Release, int] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        def release(value: object) -> bool:
            return (isinstance(value, tuple) and len(value) == 2
                    and all(isinstance(n, int) and n >= 0 for n in value))

        for what, value in (("since", self.since), ("until", self.until)):
            if value is not None and not release(value):
                raise ValueError(f"gate {self.name!r}: {what}={value!r}: expected a release "
                                 "as (MAJOR, MINOR), e.g. (6, 8)")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError(f"gate {self.name!r}: until {self.until} is not after since "
                             f"{self.since}")
        for what, table in (("backports", self.backports), ("dropped", self.dropped)):
            for key, sub in table.items():
                if not release(key) or not isinstance(sub, int) or sub < 1:
                    raise ValueError(f"gate {self.name!r}: {what} {key!r}: {sub!r}: expected "
                                     "(MAJOR, MINOR) -> first stable sublevel")

    @property
    def first_release(self) -> str:
        """The first release with the behaviour, ``"6.5"`` (``"none"`` for a seed-only one)."""
        return _text(self.since) if self.since is not None else "none"

    def open_at(self, release: Release, sublevel: int = 0) -> bool:
        """Whether ``release`` (at stable ``sublevel``) has the behaviour."""
        first = self.backports.get(release)
        if first is not None and sublevel >= first:
            return True
        gone = self.dropped.get(release)
        if gone is not None and sublevel >= gone:
            return False
        if self.since is None or release < self.since:
            return False
        return self.until is None or release < self.until

    def span(self) -> str:
        """The releases that have it, e.g. ``"6.5+"``, ``"5.19 to 6.8"``, ``"seed only"``,
        ``"6.12+ (and 6.11.3+)"`` with stable backports."""
        if self.since is None:
            return "seed only" if self.in_seed else "none"
        first = _text(self.since)
        span = f"{first}+" if self.until is None else f"{first} to {_text(_previous(self.until))}"
        stable = ", ".join(f"{_text(r)}.{n}" for r, n in sorted(self.backports.items()))
        span = f"{span} (and {stable}+)" if stable else span
        gone = ", ".join(f"{_text(r)}.{n}" for r, n in sorted(self.dropped.items()))
        return f"{span} (not {gone}+)" if gone else span


def _text(release: Release) -> str:
    return f"{release[0]}.{release[1]}"


#: Every mainline release kapic can boot, oldest first: 5.19 merged the mailbox; Linux 6.19
#: was followed by 7.0.
RELEASES: Final[tuple[Release, ...]] = (
    (5, 19), *((6, minor) for minor in range(20)), *((7, minor) for minor in range(3)),
)
#: The releases the docs and tests name: what distributions and TDX hosts ship.
NAMED_RELEASES: Final[tuple[Release, ...]] = (
    (5, 19), (6, 1), (6, 6), (6, 8), (6, 11), (6, 12), (6, 16), (7, 2),
)
#: The newest release kapic models: what ``--kernel latest``, the default, boots.
LATEST: Final[Release] = RELEASES[-1]


def _previous(release: Release) -> Release:
    """The release before ``release`` (5.19 before 6.0, 6.19 before 7.0)."""
    if release in RELEASES:
        at = RELEASES.index(release)
        if at:
            return RELEASES[at - 1]
    return (release[0], release[1] - 1)


@dataclass(frozen=True, slots=True)
class KernelVersion:
    """A kernel kapic models: a mainline release (at a stable ``sublevel``, 0 for the release
    itself), or the seed posting on its 5.19 base."""

    release: Release
    seed: bool = False
    sublevel: int = 0

    @property
    def name(self) -> str:
        """``"seed"``, ``"MAJOR.MINOR"`` or ``"MAJOR.MINOR.SUBLEVEL"``, as ``--kernel`` takes
        it and reports show it."""
        if self.seed:
            return "seed"
        return _text(self.release) + (f".{self.sublevel}" if self.sublevel else "")

    @property
    def release_name(self) -> str:
        """The release as ``"MAJOR.MINOR"`` (the seed's base, ``"5.19"``, for the seed)."""
        return _text(self.release)

    @property
    def label(self) -> str:
        """A reader's description, e.g. ``"Linux 6.12"``."""
        if self.seed:
            return "Linux 5.19 + the seed patch (PATCHv7 21/30, never merged)"
        return f"Linux {self.name}"

    def has(self, which: Gate | str) -> bool:
        """Whether this kernel has the behaviour ``which`` (a :class:`Gate` or its name)."""
        g = gate(which) if isinstance(which, str) else which
        if self.seed and g.in_seed is not None:
            return g.in_seed
        return g.open_at(self.release, self.sublevel)

    def __str__(self) -> str:
        return self.name


# -- the gates, oldest first ---------------------------------------------------------------
# Releases come from merge records (tip-bot mails, pull requests, post-receive logs of
# torvalds/linux) and the release tarballs' sources; the Debian kernels booted under QEMU
# (tests/data/qemu) confirm the log lines at 6.1, 6.12 and 7.2.

LAPIC_ADDR_OVR_HEX = Gate(
    "lapic_addr_ovr_hex", (5, 18),
    "ACPI: Fix LAPIC_ADDR_OVR address print (%p -> 0x%llx), Mar 2022 (release UNCONFIRMED)",
    "drivers/acpi/tables.c: acpi_table_print_madt_entry()",
    "LAPIC_ADDR_OVR prints its address as 0x%llx instead of a hashed pointer",
)
MP_WAKE = Gate(
    "mp_wake", (5, 19),
    "f39642d0dbac x86/acpi/x86/boot: Add multiprocessor wake-up support",
    "arch/x86/kernel/acpi/boot.c: acpi_parse_mp_wake(), acpi_wakeup_cpu()",
    "the MADT type 0x10 entry installs acpi_wakeup_cpu as the wakeup_secondary_cpu_64 hook: "
    "apic_id and vector, smp_store_release of the command, then a spin until the firmware "
    "acknowledges (bounded only in the seed posting: mp_wake_timeout)",
)
MP_WAKE_TIMEOUT = Gate(
    "mp_wake_timeout", None,
    "PATCHv7 21/30 as re-sent by Dave Hansen, 18 Mar 2022 (dropped in review, never merged)",
    "arch/x86/kernel/acpi/boot.c: acpi_wakeup_cpu()",
    "acpi_wakeup_cpu gives up after 255 polls (-EIO, command withdrawn) and keeps a wakemap "
    "that refuses a second wakeup of one APIC ID",
    in_seed=True,
)
TDX_HOTPLUG_DISABLED = Gate(
    "tdx_hotplug_disabled", (5, 19),
    "bae1a962ac2c x86/topology: Disable CPU online/offline control for TDX guests; removed by "
    "66e48e491d1e cpu/hotplug, x86/acpi: Disable CPU offlining for ACPI MADT wakeup",
    "kernel/cpu.c: cpu_down_maps_locked() (CC_ATTR_HOTPLUG_DISABLED)",
    "a TDX guest cannot offline a CPU (-EOPNOTSUPP); from 6.11 only a version-0 mailbox "
    "disables offlining, on any platform",
    until=(6, 11),
)
HOTPLUG_SPLIT_STARTUP = Gate(
    "hotplug_split_startup", (6, 5),
    "x86/smpboot: Switch to hotplug core state synchronization (tip smp/core, v6.5 merge; "
    "commit id UNCONFIRMED)",
    "arch/x86/kernel/smpboot.c: native_kick_ap(); kernel/cpu.c: cpuhp_bp_sync_alive()",
    "do_boot_cpu only kicks; the hotplug core waits at most 10 s for the AP to report alive "
    "(1 ms busy poll, then usleep_range(1000, 2000)), 'CPU%u failed to report alive state'",
)
HOTPLUG_PARALLEL = Gate(
    "hotplug_parallel", (6, 5),
    "18415f33e2ac cpu/hotplug: Allow \"parallel\" bringup up to CPUHP_BP_KICK_AP_STATE; "
    "7e75178a0950 x86/smpboot: Support parallel startup of secondary CPUs",
    "kernel/cpu.c: cpuhp_bringup_cpus_parallel(), cpuhp_bringup_mask(); "
    "arch/x86/kernel/smpboot.c: arch_cpuhp_init_parallel_bringup()",
    "CONFIG_HOTPLUG_PARALLEL (default y on x86-64): cpuhp_bringup_mask runs twice, first every "
    "AP to the kick, then each to online; primary SMT threads go before their siblings; a CPU "
    "whose kick failed is rolled back and kicked again by the second pass",
)
ANNOUNCE_PR_INFO = Gate(
    "announce_pr_info", (6, 5),
    "0c7ffa32dbd6 x86/smpboot/64: Implement arch_cpuhp_init_parallel_bringup() and enable it",
    "arch/x86/kernel/smpboot.c: announce_cpu()",
    "'x86: Booting SMP configuration:' is a pr_info ('smpboot: ' prefix) and the boot CPU's "
    "padding goes before the first CPU announced (a static flag), not before CPU 1",
)
APIC_INSTALL_DRIVER = Gate(
    "apic_install_driver", (6, 6),
    "3af1e415e4d4 x86/apic: Provide common init infrastructure",
    "arch/x86/kernel/apic/init.c: apic_install_driver()",
    "a driver switch prints 'APIC: Switched APIC routing to: NAME' (before: 'Setting APIC "
    "routing to NAME.' at MADT time, 'Switched APIC routing to NAME.' at the final probe)",
)
APIC_UPDATE_CALLBACK = Gate(
    "apic_update_callback", (6, 6),
    "2744a7ce34a7 x86/apic: Replace acpi_wake_cpu_handler_update() and apic_set_eoi_cb(); "
    "bef4f379e953 x86/apic: Provide apic_update_callback()",
    "arch/x86/kernel/apic/init.c: apic_update_callback(), restore_override_callbacks()",
    "the wakeup hook is recorded as an override, set on the current driver and re-applied by "
    "apic_install_driver to a driver switched to later; before, acpi_wake_cpu_handler_update "
    "wrote it into every registered driver",
)
TDX_TSC_RELIABLE = Gate(
    "tdx_tsc_reliable", (6, 7),
    "9ee4318c157b x86/tdx: Mark TSC reliable (tip, Oct 2023; release by its merge date, "
    "UNCONFIRMED)",
    "arch/x86/coco/tdx/tdx.c: tdx_early_init()",
    "a TDX guest's TSC is marked reliable, so an AP that is the first of its package skips "
    "the 20 ms TSC synchronisation test",
)
HAS_LAPIC_CPUS = Gate(
    "has_lapic_cpus", (6, 7),
    "ec9aedb2aa1a x86/acpi: Ignore invalid x2APIC entries; d5a10b976ecb x86/acpi: Handle "
    "bogus MADT APIC tables gracefully",
    "arch/x86/kernel/acpi/boot.c: acpi_parse_x2apic()",
    "when the MADT has a valid, usable LAPIC processor entry, an x2APIC entry with an APIC ID "
    "below 0xff is ignored",
)
LAPIC_BEFORE_X2APIC = Gate(
    "lapic_before_x2apic", (6, 7),
    "ec9aedb2aa1a x86/acpi: Ignore invalid x2APIC entries; table order restored by "
    "0141978ae75b x86/acpi: Fix LAPIC/x2APIC parsing order",
    "arch/x86/kernel/acpi/boot.c: acpi_parse_madt_lapic_entries()",
    "every LAPIC entry is registered before any x2APIC entry (not in table order), so LAPIC "
    "CPUs take the lower CPU numbers",
    until=(6, 14),
)
TOPOLOGY_REWORK = Gate(
    "topology_rework", (6, 9),
    "7c0edad3643f x86/cpu/topology: Rework possible CPU management; 0e53e7b656cf x86/cpu/"
    "topology: Sanitize the APIC admission logic; 090610ba704a x86/cpu/topology: Use topology "
    "bitmaps for sizing",
    "arch/x86/kernel/cpu/topology.c: topology_init_possible_cpus(), topology_register_apic()",
    "the 'CPU topo:' lines (Max. logical packages ... 'Allowing N present CPUs plus M hotplug "
    "CPUs') replace 'smpboot: Allowing N CPUs, M hotplug CPUs' and 'smpboot: Max logical "
    "packages'; the NR_CPUS limit is one 'CPU topo: CPU limit of N reached' line; the boot CPU "
    "is registered before the MADT is read (no 'weird, boot CPU not listed' warning)",
)
KICK_AP_MESSAGES = Gate(
    "kick_ap_messages", (6, 9),
    "6055f6cf0d46 x86/smpboot: Make error message actually useful (release from the 6.8 and "
    "6.9 sources; the commit by its subject)",
    "arch/x86/kernel/smpboot.c: native_kick_ap()",
    "an AP whose APIC ID the driver cannot address is refused with 'CPU %u has invalid APIC "
    "ID %x. Aborting bringup' (before: 'native_kick_ap: bad cpu %d', before 6.5 "
    "'native_cpu_up: bad cpu %d')",
)
TOPO_REJECT_HOTPLUG = Gate(
    "topo_reject_hotplug", (6, 9),
    "f0551af02130 x86/topology: Ignore non-present APIC IDs in a present package; removed by "
    "adbf61cc47cb",
    "arch/x86/kernel/cpu/topology.c: topo_register_apic()",
    "on bare metal a disabled processor entry in a package that has a present CPU is "
    "rejected: 'Ignoring hot-pluggable APIC ID %x in present package.', 'Rejected CPUs N', "
    "no hotplug CPU (kapic models one package); a guest keeps it as a hotplug CPU",
    until=(7, 0),
    dropped=MappingProxyType({(6, 12): 77}),
)
PHYSFLAT_ONLY = Gate(
    "physflat_only", (6, 12),
    "838ba7733e4e x86/apic: Remove logical destination mode for 64-bit",
    "arch/x86/kernel/apic/apic_flat_64.c",
    "a 64-bit kernel has no logical 'flat' driver: 'physical flat' is the default, so an "
    "xAPIC machine with more than 8 possible CPUs switches nothing and prints nothing",
    backports=MappingProxyType({(6, 11): 3}),
)
MADT_WAKEUP_C = Gate(
    "madt_wakeup_c", (6, 11),
    "2b5e22afae07 x86/acpi: Extract ACPI MADT wakeup code into a separate file; 1ceebe2e4672 "
    "x86/acpi: Add support for CPU offlining for ACPI MADT wakeup method; db0936830a2f "
    "x86/acpi: Do not attempt to bring up secondary CPUs in the kexec case",
    "arch/x86/kernel/acpi/madt_wakeup.c: acpi_parse_mp_wake(), acpi_wakeup_cpu(), "
    "acpi_mp_cpu_die()",
    "CPU offlining through the reset vector of a version-1 entry and the Test command; a "
    "version-0 entry disables offlining and zeroes the mailbox address; 'No MADT mailbox' "
    "refuses a wakeup when it is 0",
)
MADT_WAKEUP_PRINTED = Gate(
    "madt_wakeup_printed", (6, 11),
    "16df35946120 ACPI: tables: Print MULTIPROC_WAKEUP when MADT is parsed",
    "drivers/acpi/tables.c: acpi_table_print_madt_entry()",
    "the type 0x10 entry is printed (pr_debug 'MP Wakeup (version[..], mailbox[..], "
    "reset[..])') instead of warned about as unsupported",
)
LAPIC_HOTPLUG_GUEST_ONLY = Gate(
    "lapic_hotplug_guest_only", (7, 0),
    "adbf61cc47cb x86/acpi/boot: Correct acpi_is_processor_usable() check again",
    "arch/x86/kernel/acpi/boot.c: acpi_is_processor_usable()",
    "a disabled processor entry without Online Capable, on firmware that does not support "
    "online capable, is a hotplug CPU only under a hypervisor; on bare metal it is ignored "
    "(and the topology code no longer rejects hotplug CPUs in a present package)",
    backports=MappingProxyType({(6, 12): 77}),
)
TOPO_NODES = Gate(
    "topo_nodes", (7, 0),
    "ae6730ff42b3 x86/topo: Add topology_num_nodes_per_package() (first tag UNCONFIRMED; "
    "absent from Debian's 6.12, present in its 7.2)",
    "arch/x86/kernel/cpu/topology.c: topology_init_possible_cpus()",
    "two more 'CPU topo:' lines: 'Max. logical nodes' and 'Num. nodes per package'",
)

#: Every gate, oldest first: what docs/kernel-versions.md and ``kapic kernels`` show.
GATES: Final[tuple[Gate, ...]] = (
    LAPIC_ADDR_OVR_HEX,
    MP_WAKE,
    MP_WAKE_TIMEOUT,
    TDX_HOTPLUG_DISABLED,
    HOTPLUG_SPLIT_STARTUP,
    HOTPLUG_PARALLEL,
    ANNOUNCE_PR_INFO,
    APIC_INSTALL_DRIVER,
    APIC_UPDATE_CALLBACK,
    TDX_TSC_RELIABLE,
    HAS_LAPIC_CPUS,
    LAPIC_BEFORE_X2APIC,
    TOPOLOGY_REWORK,
    KICK_AP_MESSAGES,
    TOPO_REJECT_HOTPLUG,
    MADT_WAKEUP_C,
    MADT_WAKEUP_PRINTED,
    PHYSFLAT_ONLY,
    LAPIC_HOTPLUG_GUEST_ONLY,
    TOPO_NODES,
)
_BY_NAME: Final[Mapping[str, Gate]] = MappingProxyType({g.name: g for g in GATES})


def gate(name: str) -> Gate:
    """The gate called ``name``; a :class:`~kapic.errors.ConfigError` names the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise ConfigError(f"unknown kernel gate {name!r} (known: {known})") from None


_VERSION: Final = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[+~-].*)?")


def _modelled() -> str:
    return ", ".join(_text(r) for r in NAMED_RELEASES)


def kernel_label(name: str) -> str:
    """How reports name a kernel a result names (``BootResult.kernel``): ``"Linux 6.12"``,
    ``"seed kernel"``."""
    return "seed kernel" if name == "seed" else f"Linux {name}"


def parse_kernel_version(text: str, *, bootable: bool = True) -> KernelVersion:
    """``"6.11"``, ``"v6.11.3"`` (a stable sublevel, which decides backported gates),
    ``"6.6-rc2"``, ``"seed"``, ``"latest"`` -> a version.

    With ``bootable`` (what ``--kernel`` of boot and compare wants) the release must be one
    kapic models, 5.19 to the latest; without it (``madt decode --kernel``, which only
    prints) any MAJOR.MINOR is taken.
    """
    key = text.strip().lower()
    if key == "seed":
        return KernelVersion((5, 19), seed=True)
    if key == "latest":
        return KernelVersion(LATEST)
    if key == "upstream":
        raise ConfigError(
            "kernel 'upstream': that profile is gone; name a release (6.11 is what it "
            f"modelled) or 'latest' ({_text(LATEST)})"
        )
    match = _VERSION.fullmatch(key)
    if match is None:
        raise ConfigError(f"kernel {text!r}: expected MAJOR.MINOR (e.g. 6.12), 'latest' or "
                          f"'seed'; modelled: seed, {_modelled()} and the releases between")
    release = (int(match.group(1)), int(match.group(2)))
    sublevel = int(match.group(3) or 0)
    if bootable and release not in RELEASES:
        first, last = _text(RELEASES[0]), _text(LATEST)
        raise ConfigError(f"kernel {text!r}: kapic models Linux {first} to {last} (named: "
                          f"{_modelled()}; any release between), and 'seed'")
    return KernelVersion(release, sublevel=sublevel)
