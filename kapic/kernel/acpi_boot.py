"""``acpi_process_madt()``: CPUs from the MADT, subtable handlers from plugins.

Models arch/x86/kernel/acpi/boot.c: ``acpi_parse_madt`` (OEM check), the LAPIC/x2APIC entry
parsers with ``acpi_is_processor_usable()`` and the rules of reference section 1.4,
``acpi_register_lapic`` / ``generic_processor_info`` (the NR_CPUS limit; 6.9+
``topology_register_apic``), arch/x86/kernel/apic/io_apic.c ``mp_register_ioapic`` (the
"IOAPIC[N]:" line), then ``acpi_table_parse_madt(type, handler, max)`` for the types plugins
handle (0x10 for the mailbox), and the closing "Using ACPI (MADT) ..." line; then the possible
CPUs: 5.x-6.8 arch/x86/kernel/smpboot.c ``prefill_possible_map`` ("smpboot: Allowing ..."),
6.9+ arch/x86/kernel/cpu/topology.c ``topology_init_possible_cpus`` (the "CPU topo:" lines).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kapic.acpi.cpus import madt_cpu_entries
from kapic.acpi.interrupts import IoApic
from kapic.acpi.kprint import madt_boot_lines
from kapic.acpi.madt import Madt
from kapic.boundary import errno_result
from kapic.versions import TOPO_NODES, TOPO_REJECT_HOTPLUG, TOPOLOGY_REWORK

if TYPE_CHECKING:
    from kapic.kernel.kernel import Kernel

__all__ = ["MadtHandler", "acpi_process_madt", "madt_cpu_entries"]

#: pr_debug lines of acpi_table_print_madt_entry (hidden in a default boot log)
_DEBUG = ("ACPI: LAPIC (", "ACPI: X2APIC (", "ACPI: IOAPIC (", "ACPI: MP Wakeup")
#: the processor entries' lines, printed while they are registered
_PROCESSORS = ("ACPI: LAPIC_ADDR_OVR", "ACPI: LAPIC (", "ACPI: X2APIC (")
#: the wakeup entry: its handler prints it (acpi_parse_mp_wake calls the print function)
_WAKEUP = ("ACPI: MP Wakeup", "ACPI: Found unsupported MADT entry (type = 0x10)")


@dataclass(frozen=True, slots=True)
class MadtHandler:
    """``acpi_table_parse_madt(type, handler, max_entries)`` as a plugin provides it.

    ``handler(kernel, entry, end)`` returns 0 or a negative errno; ``max_entries`` 0 means all.
    ``plugin`` is filled in by kapic with the name of the plugin that provided the handler.
    """

    type: int
    handler: Callable[[Kernel, Any, int], int]
    max_entries: int = 0
    plugin: str = ""


def acpi_process_madt(kernel: Kernel, madt: Madt, handlers: Sequence[MadtHandler]) -> int:
    """Parse ``madt`` into ``kernel``; returns the number of present CPUs."""
    version = kernel.version
    kernel.madt = madt
    kernel.apic_state.default_acpi_madt_oem_check(madt.header.oem_id, madt.header.oem_table_id)
    by_type: dict[int, list[Any]] = {}
    for entry in madt.subtables:
        by_type.setdefault(entry.type, []).append(entry)
    # the processor entries' lines are pr_debug: a boot log keeps none of them (and a large
    # table has one per CPU)
    lines = madt_boot_lines(madt, version, processors=False)
    # acpi_parse_madt_lapic_entries: the processor entries are printed and registered first
    # (so registration messages come before the NMI and IOAPIC lines)
    cut = next((n for n, line in enumerate(lines) if not line.startswith(_PROCESSORS)),
               len(lines))
    for line in lines[:cut]:
        kernel.printk(line, "debug" if line.startswith(_DEBUG) else "info")
    present = _register_cpus(kernel, madt)
    ioapics = iter(e for e in madt.subtables if isinstance(e, IoApic))
    nr_ioapics = 0
    for line in lines[cut:]:
        if line.startswith(_DEBUG):
            kernel.printk(line, "debug")
            if line.startswith("ACPI: IOAPIC ("):  # acpi_parse_ioapic -> mp_register_ioapic
                mp_register_ioapic(kernel, nr_ioapics, next(ioapics))
                nr_ioapics += 1
        elif not line.startswith(_WAKEUP):
            kernel.printk(line)
    # Handlers of the types plugins registered (0x10: acpi_parse_mp_wake), after LAPIC/IOAPIC.
    end = madt.header.length
    for h in sorted(handlers, key=lambda h: h.type):
        count = 0
        for entry in by_type.get(h.type, ()):
            if h.max_entries and count >= h.max_entries:
                break
            count += 1
            name = getattr(h.handler, "__name__", repr(h.handler))
            rc = kernel.boundary.call(f"MADT handler for type 0x{h.type:x} {name}()", h.handler,
                                      kernel, entry, end, check=errno_result)
            if rc:
                kernel.trace("madt-handler", f"type 0x{h.type:x} handler returned {rc}")
                break
    # acpi_lapic && acpi_ioapic: the IOAPIC entries parsed (there was at least one)
    if nr_ioapics:
        kernel.printk("ACPI: Using ACPI (MADT) for SMP configuration information")
    else:
        kernel.printk("ACPI: Using ACPI for processor (LAPIC) configuration information")
    hotplug = kernel.possible_cpus - present
    if kernel.version.has(TOPOLOGY_REWORK):
        topology_init_possible_cpus(kernel, present, hotplug)
    else:
        kernel.printk(f"smpboot: Allowing {kernel.possible_cpus} CPUs, {hotplug} hotplug CPUs")
    return present


def _register_cpus(kernel: Kernel, madt: Madt) -> int:
    """Register the processor entries (``acpi_register_lapic``; 6.9+
    ``topology_register_apic``); the number of present CPUs."""
    guest = kernel.platform.hypervisor != "none"
    entries = madt_cpu_entries(madt, kernel.version, guest=guest)
    hw = kernel.board.by_apic_id
    bp_apic = kernel.bp.apic_id
    ordered = sorted(entries, key=lambda e: e.apic_id != bp_apic)  # the boot CPU is CPU 0
    present = 0
    seen: set[int] = set()
    dropped = 0
    rejected = 0
    reject = not guest and kernel.version.has(TOPO_REJECT_HOTPLUG)
    if not any(e.apic_id == bp_apic and e.enabled for e in entries):
        # The boot CPU runs whatever the table says: it is CPU 0 all the same (5.x
        # smp_sanity_check sets it present; 6.9+ topology_register_boot_apic registers it
        # before the MADT is read).
        kernel.add_kernel_cpu(bp_apic, True, kernel.bp.index)
        present += 1
        seen.add(bp_apic)
        kernel.bp_unlisted = True
    for cpu in ordered:
        if cpu.apic_id in seen:
            if cpu.enabled:  # a placeholder may repeat an ID; an enabled CPU may not
                kernel.env.recorder.reason(
                    f"the MADT lists APIC ID 0x{cpu.apic_id:x} for two enabled processors: "
                    "the kernel registers it once, so one CPU fewer comes up")
            continue
        seen.add(cpu.apic_id)
        if len(kernel.cpus) >= kernel.config.NR_CPUS:
            if kernel.version.has(TOPOLOGY_REWORK):  # one line
                if not dropped:
                    kernel.printk(
                        f"CPU topo: CPU limit of {kernel.config.NR_CPUS} reached. "
                        "Ignoring further CPUs", "warn"
                    )
            else:  # 5.x generic_processor_info: thiscpu = max + disabled_cpus, counting up
                kernel.printk(
                    f"APIC: NR_CPUS/possible_cpus limit of {kernel.config.NR_CPUS} reached. "
                    f"Processor {kernel.config.NR_CPUS + dropped}/0x{cpu.apic_id:x} ignored.",
                    "warn",
                )
            dropped += 1
            continue
        if not cpu.enabled and reject:
            # topo_register_apic: a non-present APIC ID in a present package, on bare metal
            if not rejected:
                kernel.printk(f"CPU topo: Ignoring hot-pluggable APIC ID {cpu.apic_id:x} in "
                              "present package.")
            rejected += 1
            continue
        hw_cpu = hw.get(cpu.apic_id)
        index = None if hw_cpu is None else hw_cpu.index
        is_present = cpu.enabled and index is not None
        kernel.add_kernel_cpu(cpu.apic_id, is_present, index)
        present += is_present
    kernel.possible_cpus = len(kernel.cpus)
    if rejected:
        kernel.state("topology")["rejected"] = rejected
    return present

def mp_register_ioapic(kernel: Kernel, idx: int, entry: IoApic) -> None:
    """arch/x86/kernel/apic/io_apic.c ``mp_register_ioapic()``: the IOAPIC's line, with the
    version and the redirection entries read from the IOAPIC (platform parameters)."""
    pins = kernel.platform.param("ioapic_pins")
    version = kernel.platform.param("ioapic_version")
    end = entry.gsi_base + pins - 1
    kernel.printk(f"IOAPIC[{idx}]: apic_id {entry.ioapic_id}, version {version}, "
                  f"address 0x{entry.address:x}, GSI {entry.gsi_base}-{end}")


def topology_init_possible_cpus(kernel: Kernel, present: int, hotplug: int) -> None:
    """6.9+ ``topology_init_possible_cpus()``: the "CPU topo:" lines (one package; the
    threads per core are the platform's ``threads_per_core``)."""
    threads = max(1, kernel.platform.param("threads_per_core"))
    lines = [("Max. logical packages: ", 1)]
    if kernel.version.has(TOPO_NODES):
        lines += [("Max. logical nodes:    ", 1), ("Num. nodes per package:", 1)]
    lines += [("Max. logical dies:     ", 1), ("Max. dies per package: ", 1),
              ("Max. threads per core: ", threads),
              ("Num. cores per package:   ", -(-present // threads)),
              ("Num. threads per package: ", present)]
    for text, value in lines:
        kernel.printk(f"CPU topo: {text}{value:3d}")
    kernel.printk(f"CPU topo: Allowing {present} present CPUs plus {hotplug} hotplug CPUs")
    rejected = kernel.state("topology").get("rejected", 0)
    if rejected:
        kernel.printk(f"CPU topo: Rejected CPUs {rejected}")

