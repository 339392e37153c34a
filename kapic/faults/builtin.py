"""kapic's own fault scenarios: the hypervisor and the MADT (as a plugin).

The mailbox firmware's scenarios (an AP that never acknowledges, a firmware that ignores the
command, ...) come with the mailbox plugin, which owns that firmware.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kapic.acpi.madt import Madt, finalize_madt
from kapic.acpi.processors import LocalApic, LocalX2Apic
from kapic.faults.model import Expect, Fault, FaultContext, FaultParam
from kapic.hw.hypervisor import HypervisorPolicy
from kapic.markers import hookimpl

__all__ = ["BUILTIN_FAULTS", "PLUGIN"]

US = 1_000


def _vcpu_delay(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    ctx.set_param("vcpu_delay_ns", int(p["us"] * US))


def _vcpu_delay_random(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    top = int(p["max_us"] * US)

    def setup(policy: HypervisorPolicy) -> None:
        policy.extra_delay = lambda cpu: policy.rng.randint(0, top)

    ctx.hypervisor(setup)


def _wrong_apicid(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    liar, told = int(p["cpu"]), int(p["as"])

    def setup(policy: HypervisorPolicy) -> None:
        policy.apic_id_seen = lambda cpu: told if cpu.apic_id == liar else cpu.apic_id

    ctx.hypervisor(setup)


def _ipi_drop(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    chance = float(p["p"])

    def setup(policy: HypervisorPolicy) -> None:
        policy.copies = lambda src, dest, mode: 0 if policy.rng.random() < chance else 1

    ctx.hypervisor(setup)


def _ipi_duplicate(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    def setup(policy: HypervisorPolicy) -> None:
        policy.copies = lambda src, dest, mode: 2

    ctx.hypervisor(setup)


def _never_runs(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    victim = int(p["cpu"])

    def setup(policy: HypervisorPolicy) -> None:
        policy.extra_delay = lambda cpu: None if cpu.apic_id == victim else 0

    ctx.hypervisor(setup)


def _duplicate_apic_id(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    copy_of = int(p["cpu"])

    def transform(madt: Madt) -> Madt:
        cpus = [i for i, e in enumerate(madt.subtables) if isinstance(e, LocalApic | LocalX2Apic)]
        if len(cpus) <= copy_of:
            return madt
        entries = list(madt.subtables)
        first, target = entries[cpus[0]], entries[cpus[copy_of]]
        boot_id = (first.apic_id if isinstance(first, LocalApic)
                   else first.x2apic_id if isinstance(first, LocalX2Apic) else 0)
        if isinstance(target, LocalApic) and boot_id > 0xFF:
            # an ID a Processor Local APIC entry cannot hold: firmware lists it as x2APIC
            entries[cpus[copy_of]] = LocalX2Apic(x2apic_id=boot_id, flags=target.flags,
                                                 acpi_processor_uid=target.acpi_processor_uid)
        elif isinstance(target, LocalApic):
            entries[cpus[copy_of]] = dataclasses.replace(target, apic_id=boot_id)
        elif isinstance(target, LocalX2Apic):
            entries[cpus[copy_of]] = dataclasses.replace(target, x2apic_id=boot_id)
        return finalize_madt(dataclasses.replace(madt, subtables=tuple(entries)))

    ctx.transform_madt(transform)


def _no_boot_cpu(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    def transform(madt: Madt) -> Madt:
        first = next((i for i, e in enumerate(madt.subtables)
                      if isinstance(e, LocalApic | LocalX2Apic) and e.enabled), None)
        if first is None:
            return madt
        entries = madt.subtables[:first] + madt.subtables[first + 1:]
        return finalize_madt(dataclasses.replace(madt, subtables=entries))

    ctx.transform_madt(transform)


def _x2apic_placeholders(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    count = int(p["n"])

    def transform(madt: Madt) -> Madt:
        # Hotplug slots some firmware lists as disabled x2APIC entries with ID 0xFFFFFFFF.
        holes = tuple(LocalX2Apic(x2apic_id=0xFFFFFFFF, flags=0, acpi_processor_uid=0x1000 + i)
                      for i in range(count))
        return finalize_madt(dataclasses.replace(madt, subtables=(*madt.subtables, *holes)))

    ctx.transform_madt(transform)


def _madt_corrupt(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    kind = str(p["kind"])

    def corrupt(data: bytes) -> bytes:
        table = bytearray(data)
        if kind == "zero-length":
            table[45] = 0  # the first subtable's length byte
        elif kind == "truncated":
            table = table[: len(table) - 5]
        elif kind == "bad-signature":
            table[0:4] = b"APIX"
        elif kind == "length-past-input":  # the header claims more bytes than there are
            table[4:8] = (len(table) + 16).to_bytes(4, "little")
        elif kind == "tail-byte":  # one byte after the last entry, inside the table's length
            table += b"\x00"
            table[4:8] = len(table).to_bytes(4, "little")
        else:  # short-entry: the first Processor Local APIC entry claims 4 bytes, not 8
            table[45] = 4
        return bytes(table)

    ctx.transform_bytes(corrupt)


_ANY_OK = Expect.on_every_kernel("ok", "")

BUILTIN_FAULTS = (
    Fault("vcpu-delay", "hypervisor",
          "the VMM runs the target vCPU N us late (the parameter vcpu_delay_ns)",
          _vcpu_delay, (FaultParam("us", 100, "how late, in microseconds"),),
          {"seed": Expect("cpu-failed", "the 255 polls (about 25 us) end before the AP "
                          "acknowledges: -EIO, and the AP comes alive after the kernel gave "
                          "up on it (its late acknowledgement can clear the next CPU's command)"),
           "5.19": Expect("ok", "the kernel waits as long as it takes: slower, not "
                              "broken")}),
    Fault("vcpu-delay-random", "hypervisor",
          "each time the VMM runs a vCPU it waits a random 0 to N us first (seeded)",
          _vcpu_delay_random, (FaultParam("max_us", 1000, "the longest wait, in us"),),
          {"seed": Expect("cpu-failed", "a wait longer than the 255 polls times out (-EIO)"),
           "5.19": Expect("ok", "waits are only slower")}),
    Fault("vmm-wrong-apicid", "hypervisor",
          "the VMM answers CPUID 0xB on vCPU K with APIC ID J: K takes J's wakeups",
          _wrong_apicid, (FaultParam("cpu", 1, "the APIC ID of the vCPU lied to"),
                          FaultParam("as", 2, "the APIC ID it is told")),
          {"seed": Expect("cpu-failed", "no parked AP answers to APIC ID K: its wakeup times "
                          "out; then both vCPUs answer J's wakeup, and K runs kernel code nobody "
                          "waits for"),
           "5.19": Expect("hung", "no parked AP answers to APIC ID K: the kernel spins on "
                              "the mailbox forever")}),
    Fault("ipi-drop", "hypervisor", "the VMM drops each INIT/SIPI with probability P (seeded)",
          _ipi_drop, (FaultParam("p", 1.0, "the chance an IPI is dropped", maximum=1.0),),
          Expect.on_every_kernel("cpu-failed", "an AP that gets no STARTUP IPI never "
                                  "reports alive"), platform="kvm"),
    Fault("ipi-duplicate", "hypervisor", "the VMM delivers every INIT/SIPI twice",
          _ipi_duplicate, (), Expect.on_every_kernel("ok", "a STARTUP IPI to a running CPU "
                                                      "is ignored"), platform="kvm"),
    Fault("vcpu-never-runs", "hypervisor", "the VMM never runs the vCPU with APIC ID K",
          _never_runs, (FaultParam("cpu", 1, "the APIC ID of the starved vCPU"),),
          {"seed": Expect("cpu-failed", "its wakeup times out after 255 polls"),
           "5.19": Expect("hung", "the kernel spins on the mailbox forever: the untrusted "
                              "VMM can stall the boot (not steer it)")}),
    Fault("madt-duplicate-apic-id", "madt",
          "the Kth processor entry repeats the boot CPU's APIC ID",
          _duplicate_apic_id, (FaultParam("cpu", 1, "which entry (0 is the boot CPU)"),),
          Expect.on_every_kernel("ok", "the kernel registers the APIC ID once: one CPU "
                                  "fewer, and the result says why")),
    Fault("madt-no-boot-cpu", "madt",
          "the table the kernel reads leaves out the boot CPU's processor entry",
          _no_boot_cpu, (),
          {"seed": Expect("ok", "smp_sanity_check warns 'weird, boot CPU (#0) not listed by "
                          "the BIOS' and sets it present"),
           "5.19": Expect("ok", "the boot CPU was registered before the MADT was read "
                              "(6.9 topology rework): no message")}),
    Fault("madt-x2apic-placeholders", "madt",
          "N disabled x2APIC entries with APIC ID 0xFFFFFFFF (hotplug placeholders)",
          _x2apic_placeholders, (FaultParam("n", 4, "how many"),), _ANY_OK),
    Fault("madt-corrupt", "madt",
          "a malformed table: kind=zero-length, truncated, bad-signature, short-entry, "
          "length-past-input or tail-byte",
          _madt_corrupt, (FaultParam("kind", "zero-length", "what is broken",
                                     ("zero-length", "truncated", "bad-signature",
                                      "short-entry", "length-past-input", "tail-byte")),),
          Expect.on_every_kernel("invalid-input", "the table is rejected naming the offset "
                                  "and field")),
)


class _Plugin:
    @hookimpl
    def kapic_faults(self) -> list[Fault]:
        return list(BUILTIN_FAULTS)


PLUGIN = _Plugin()
