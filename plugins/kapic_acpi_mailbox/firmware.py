"""Firmware models of APs parked in the mailbox loop: TDVF (edk2) and td-shim.

TDVF follows tianocore/edk2 OvmfPkg/TdxDxe/X64/ApRunLoop.nasm (reference section 7.1): spin
while the 32-bit value at offset 0 is 0; act only if ApicId is the AP's own or broadcast;
Wakeup: read the 64-bit vector, zero 8 bytes at offset 0 (the acknowledgement), jump; Test:
zero 8 bytes, keep polling; Sleep: stop forever; anything else: ignored, never acknowledged.
td-shim follows confidential-containers/td-shim ap_loop.asm (section 7.2): ApicId first, only
the low 32 bits of the vector, no Test; the ``td-shim-noack`` revision jumps without clearing.

One poller object stands for all parked APs: the APs that are not addressed only read, so a
write to the mailbox is checked once and the addressed AP reacts ``fw_poll_ns`` later. A
slow or hostile VMM (``vcpu_delay_ns``) preempts the addressed vCPU after it has read the
mailbox and before it acknowledges; it cannot wake an AP on its own.
"""

from __future__ import annotations

import dataclasses

from kapic import Cpu, FirmwareEnv, FirmwareModel, FirmwareSession, Madt, MpWakeup, finalize_madt
from kapic_acpi_mailbox.mailbox import (
    ACPI_MP_WAKE_COMMAND_TEST,
    ACPI_MP_WAKE_COMMAND_WAKEUP,
    APIC_ID,
    APIC_ID_BROADCAST,
    APIC_ID_INVALID,
    COMMAND,
    TDVF_COMMAND_SLEEP,
    TDVF_MAILBOX,
    TDVF_RESET_VECTOR,
    WAKEUP_VECTOR,
)


def mailbox_address(madt: Madt) -> int | None:
    for entry in madt.subtables:
        if isinstance(entry, MpWakeup):
            return entry.mailbox_address
    return None


def reset_vector(madt: Madt) -> int | None:
    for entry in madt.subtables:
        if isinstance(entry, MpWakeup):
            return entry.reset_vector
    return None


class MailboxFirmware(FirmwareModel):
    """Common part: publish the structure, park the APs, poll the mailbox."""

    name = "tdvf"
    summary = "TDVF (edk2 OVMF for TDX): APs in ApRunLoop, mailbox v1 with reset vector"
    trust = ("firmware (TDVF's mailbox loop) and the VMM's APIC IDs: an AP learns its APIC ID "
             "from the VMM (TDVMCALL CPUID 0xB), so the VMM can delay a wakeup and can lie "
             "about APIC IDs, not change the vector")
    polls_mailbox = True
    vector_bits = 64
    apic_id_first = False
    acknowledges = True
    supports_test = True
    #: where the firmware puts the mailbox page when the MADT has no wakeup structure yet
    mailbox_base = TDVF_MAILBOX
    #: a fault variant: the firmware's mailbox is here, whatever the table it published says
    mailbox_at: int | None = None
    #: bytes the acknowledgement clears at offset 0 (TDVF: 8, Command to ApicId)
    ack_bytes = 8
    #: how long after reading a command the addressed AP acts on it
    ack_delay_ns = 0
    #: fault variants: no AP reacts to a command; another parked AP answers it
    ignores_commands = False
    wrong_cpu_answers = False

    def publish_madt(self, madt: Madt) -> Madt:
        """TDVF appends an MP Wakeup structure (version 1) to QEMU's MADT."""
        if mailbox_address(madt) is not None:
            return madt
        wake = MpWakeup(version=1, mailbox_address=self.mailbox_base,
                        reset_vector=TDVF_RESET_VECTOR)
        return finalize_madt(dataclasses.replace(madt, subtables=(*madt.subtables, wake)))

    def park(self, env: FirmwareEnv) -> MailboxPoller:
        base = self.mailbox_at or mailbox_address(env.madt) or self.mailbox_base
        poller = MailboxPoller(self, env, base, reset_vector(env.madt))
        for cpu in env.aps:
            cpu.state = "firmware"
            poller.park(cpu)
        mem = env.memory
        mem.write(base + COMMAND, 4, 0)
        mem.write(base + APIC_ID, 4, APIC_ID_INVALID)
        mem.write(base + WAKEUP_VECTOR, 8, 0)
        env.on_write(base, base + 16, poller.on_write)
        return poller


class TdShimFirmware(MailboxFirmware):
    name = "td-shim"
    summary = ("td-shim: ApicId checked first, 32-bit wakeup vector, a 16-byte version-0 "
               "wakeup entry (no reset vector), no Test command")
    trust = ("firmware (td-shim's AP loop) and the VMM's APIC IDs: an AP learns its APIC ID "
             "from the VMM (TDVMCALL CPUID 0xB), so the VMM can delay a wakeup and can lie "
             "about APIC IDs, not change the vector")
    vector_bits = 32
    apic_id_first = True
    supports_test = False

    def publish_madt(self, madt: Madt) -> Madt:
        """td-shim appends a 16-byte wakeup structure, mailbox version 0 (td-shim a0472a3,
        Sep 2023; version 1 in the same 16 bytes before), to the VMM's MADT: no reset
        vector, so a 6.11+ kernel disables offlining and zeroes the mailbox address."""
        if mailbox_address(madt) is not None:
            return madt
        wake = MpWakeup(version=0, mailbox_address=self.mailbox_base)
        return finalize_madt(dataclasses.replace(madt, subtables=(*madt.subtables, wake)))


class TdShimNoAckFirmware(TdShimFirmware):
    name = "td-shim-noack"
    summary = ("td-shim before 4e4f16b (22 Jun 2022, e.g. 0ee18ba): jumps to the vector "
               "WITHOUT clearing the command")
    acknowledges = False


class MailboxPoller(FirmwareSession):
    """The parked APs of one machine, polling the mailbox (one object stands for all)."""

    def __init__(self, model: MailboxFirmware, env: FirmwareEnv, base: int,
                 reset_vector: int | None) -> None:
        self.model = model
        self.env = env
        self.base = base
        self.reset_vector = reset_vector
        #: the parked APs by the APIC ID each believes it has (the VMM tells it, CPUID 0xB):
        #: two may believe the same one when the VMM lies
        self.parked: dict[int, list[Cpu]] = {}
        self.pending = False

    def park(self, cpu: Cpu) -> None:
        """``cpu`` polls the mailbox, as the APIC ID the hypervisor tells it it has."""
        self.parked.setdefault(self.env.apic_id_of(cpu), []).append(cpu)

    def _unpark(self, apic_id: int, cpu: Cpu) -> None:
        cpus = self.parked[apic_id]
        cpus.remove(cpu)
        if not cpus:
            del self.parked[apic_id]

    def on_write(self, addr: int, size: int) -> None:
        if not self.pending and self.parked:
            self.pending = True
            self.env.schedule(self.env.param("fw_poll_ns"), self.poll)

    def poll(self, _arg: object = None) -> None:
        self.pending = False
        if self.model.ignores_commands:
            return
        mem, base = self.env.memory, self.base
        if self.model.apic_id_first:
            targets = self._targets(mem.read(base + APIC_ID, 4))
            command = mem.read(base + COMMAND, 4) if targets else 0
        else:
            command = mem.read(base + COMMAND, 4)  # Command and Reserved compared as a dword
            targets = self._targets(mem.read(base + APIC_ID, 4)) if command else []
        if not command or not targets:
            return
        for apic_id, cpu in targets:
            self._act(apic_id, cpu, command)

    def _targets(self, apic_id: int) -> list[tuple[int, Cpu]]:
        """The parked APs the command is for, by the APIC ID each believes it has (every one
        that believes it: two vCPUs a lying VMM gave one APIC ID both answer)."""
        if apic_id == APIC_ID_BROADCAST:
            return [(i, c) for i, cpus in self.parked.items() for c in cpus]
        cpus = self.parked.get(apic_id, [])
        if cpus and self.model.wrong_cpu_answers:
            other = next(((i, c[0]) for i, c in self.parked.items() if i != apic_id), None)
            return [other] if other is not None else []
        return [(apic_id, cpu) for cpu in cpus]

    def _act(self, apic_id: int, cpu: Cpu, command: int) -> None:
        env = self.env
        delay = env.vcpu_delay(cpu)
        if delay is None:  # the hypervisor never runs this vCPU again
            return
        delay += self.model.ack_delay_ns
        if command == ACPI_MP_WAKE_COMMAND_WAKEUP:
            vector = env.memory.read(self.base + WAKEUP_VECTOR, self.model.vector_bits // 8)
            self._unpark(apic_id, cpu)
            env.schedule(delay, self._wake, (cpu, vector))
        elif command == ACPI_MP_WAKE_COMMAND_TEST and self.model.supports_test:
            env.schedule(delay, self._ack, cpu)
        elif command == TDVF_COMMAND_SLEEP and not self.model.apic_id_first:
            self._unpark(apic_id, cpu)
            cpu.state = "firmware"  # jmp $ forever

    def _ack(self, cpu: Cpu) -> None:
        if self.model.acknowledges:
            self.env.count("mailbox_handshakes")
            self.env.memory.write(self.base + COMMAND, self.model.ack_bytes, 0)
        self.env.trace(cpu, "fw-ack", f"APIC 0x{cpu.apic_id:x}")

    def _wake(self, arg: tuple[Cpu, int]) -> None:
        cpu, vector = arg
        self._ack(cpu)
        self.env.start_cpu(cpu, vector, "long")

    def reset_vector_entry(self, cpu: Cpu, vector: int) -> bool:
        """TDVF's relocated reset vector rebuilds the firmware's environment and re-enters
        the mailbox loop (AsmRelocateApResetVector); any other address is not firmware code."""
        # A reset vector of 0 means the firmware cannot take CPUs back (ACPI 6.6 ECR).
        if not vector or vector != self.reset_vector:
            self.env.trace(cpu, "ap-crash", f"jumped to reset vector 0x{vector:x}: not firmware")
            cpu.state = "crashed"
            return True  # the kernel believes the CPU went back to the firmware
        cpu.state = "firmware"
        self.park(cpu)
        return True
