"""The mailbox's fault scenarios: a firmware that mishandles the mailbox, a hypervisor that
times its wakeups against the seed kernel's poll, a kernel-side plugin that breaks the
protocol, and MADT wakeup entries that lie about the mailbox.

The firmware ones are variants of the mailbox firmware model (:mod:`.firmware`); the table
ones change only what the kernel is told, never what the firmware polls.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Generator, Mapping
from typing import Any

from kapic import (
    SPIN,
    Expect,
    Fault,
    FaultContext,
    FaultParam,
    FirmwareModel,
    HypervisorPolicy,
    Kernel,
    Madt,
    MpWakeup,
    finalize_madt,
)
from kapic_acpi_mailbox.firmware import MailboxFirmware
from kapic_acpi_mailbox.mailbox import (
    ACPI_MP_WAKE_COMMAND_WAKEUP,
    APIC_ID,
    COMMAND,
    MAILBOX_SIZE,
    WAKEUP_VECTOR,
)

__all__ = ["MAILBOX_FAULTS"]

US = 1_000
#: the seed kernel gives up after 255 polls of relax_ns (100 ns by default): about 25.4 us
SEED_POLL_NS = 255 * 100


def _variant(**changes: Any) -> Any:
    """A firmware fault: the same mailbox firmware with some behaviour changed."""

    def make(model: FirmwareModel) -> FirmwareModel:
        if not isinstance(model, MailboxFirmware):
            return model  # not a mailbox firmware: nothing of it to break
        changed = copy.copy(model)
        for name, value in changes.items():
            setattr(changed, name, value)
        return changed

    return make


def _firmware(**changes: Any) -> Any:
    def apply(ctx: FaultContext, p: Mapping[str, Any]) -> None:
        ctx.replace_firmware(_variant(**changes))

    return apply


def _late_ack(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    ctx.replace_firmware(_variant(ack_delay_ns=int(p["us"] * US)))


def _vmm_late_wake(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    def setup(policy: HypervisorPolicy) -> None:
        policy.extra_delay = lambda cpu: SEED_POLL_NS + int(p["margin_us"] * US)

    ctx.hypervisor(setup)


def _vector_above_4g(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    def move_trampoline(kernel: Kernel) -> None:
        rmh = kernel.real_mode_header
        kernel.real_mode_header = dataclasses.replace(
            rmh, trampoline_start64=rmh.trampoline_start64 + (1 << 32))

    ctx.at_smp_prepare(move_trampoline)
    ctx.replace_firmware(_variant(vector_bits=32))


def acpi_wakeup_cpu_plain_store(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                                ) -> Generator[Any, Any, int]:
    """A broken port of acpi_wakeup_cpu: the command first, with a plain store."""
    wake = next(s for s in (kernel.madt.subtables if kernel.madt else ())
                if isinstance(s, MpWakeup))
    mailbox = kernel.memremap(wake.mailbox_address, MAILBOX_SIZE)
    mailbox.write_once(COMMAND, 2, ACPI_MP_WAKE_COMMAND_WAKEUP)  # BUG: before the fields
    mailbox.write_once(APIC_ID, 4, apicid)
    mailbox.write_once(WAKEUP_VECTOR, 8, start_ip)
    while mailbox.read_once(COMMAND, 2):
        yield SPIN
    return 0


def _plain_store(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    def install(kernel: Kernel) -> None:
        if kernel.madt is None or not any(isinstance(s, MpWakeup) for s in kernel.madt.subtables):
            return  # no mailbox in the table: nothing to break
        kernel.apic_state.apic_update_callback("wakeup_secondary_cpu_64",
                                               acpi_wakeup_cpu_plain_store)

    ctx.relaxed_memory()
    ctx.at_smp_prepare(install)


def _double_wakeup(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    twice = int(p["cpu"])

    def install(kernel: Kernel) -> None:
        original = kernel.apic.wakeup_secondary_cpu_64
        if original is None:
            return

        def acpi_wakeup_cpu_twice(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                                  ) -> Generator[Any, Any, int]:
            ret: int = yield from original(kernel, apicid, start_ip, cpu)
            if ret == 0 and apicid == twice:
                ret = yield from original(kernel, apicid, start_ip, cpu)
            return ret

        kernel.apic.wakeup_secondary_cpu_64 = acpi_wakeup_cpu_twice

    ctx.at_smp_prepare(install)


def _mailbox_at(where: str) -> Any:
    def apply(ctx: FaultContext, p: Mapping[str, Any]) -> None:
        def transform(madt: Madt) -> Madt:
            def move(address: int) -> int:
                if where == "zero":
                    return 0
                return address + 0x800 if where == "unaligned" else TRAMPOLINE_PAGE

            entries = tuple(
                dataclasses.replace(e, mailbox_address=move(e.mailbox_address))
                if isinstance(e, MpWakeup) else e for e in madt.subtables)
            return finalize_madt(dataclasses.replace(madt, subtables=entries))

        ctx.transform_madt(transform)

    return apply


def _mailbox_in_ram(ctx: FaultContext, p: Mapping[str, Any]) -> None:
    """The firmware's mailbox page, and the table's address for it, at 0x98000."""
    _mailbox_at("trampoline")(ctx, p)
    ctx.replace_firmware(_variant(mailbox_at=TRAMPOLINE_PAGE))


#: below 1 MiB, where setup_real_mode puts the trampoline (kapic's RealModeHeader.base)
TRAMPOLINE_PAGE = 0x98000

_SEED_TIMES_OUT = Expect("cpu-failed", "no acknowledgement within the 255 polls: -EIO (an AP "
                         "that answers late can clear the next CPU's command, which then seems "
                         "to come up)")
_UPSTREAM_SPINS = Expect("hung", "the kernel spins on the mailbox forever (no timeout since "
                         "5.19 as merged)")

MAILBOX_FAULTS = (
    Fault("ap-never-ack", "firmware",
          "the woken AP jumps to the vector without clearing the command",
          _firmware(acknowledges=False), (),
          {"seed": Expect("cpu-failed", "-EIO after 255 polls, though the AP runs: it comes "
                          "alive after the kernel gave up on it (a later CPU may then seem to "
                          "come up: a stale acknowledgement clears its command)"),
           "5.19": _UPSTREAM_SPINS}),
    Fault("ap-late-ack", "firmware", "the addressed AP acts on the command N us late",
          _late_ack, (FaultParam("us", 100, "how late, in microseconds"),),
          {"seed": _SEED_TIMES_OUT,
           "5.19": Expect("ok", "the kernel waits as long as it takes")}),
    Fault("ap-ack-wrong-cpu", "firmware",
          "another parked AP answers the command and jumps to the vector",
          _firmware(wrong_cpu_answers=True), (),
          {"seed": Expect("cpu-failed", "the wrong AP starts unasked and crashes; the "
                          "addressed one never reports alive, and a wakeup nobody answers times "
                          "out"),
           "5.19": Expect("hung", "the wrong AP starts unasked and crashes, the addressed "
                              "one never reports alive, and the next wakeup, addressed to the AP "
                              "that answered, is answered by nobody: the kernel spins forever")}),
    Fault("ap-ack-2-bytes", "firmware",
          "the acknowledgement clears only Command (2 bytes), not the 8 bytes TDVF clears",
          _firmware(ack_bytes=2), (),
          Expect.on_every_kernel("ok", "the kernel polls the 2-byte Command and rewrites "
                                  "ApicId every time")),
    Fault("fw-ignore-command", "firmware", "no parked AP ever reacts to the mailbox",
          _firmware(ignores_commands=True), (),
          {"seed": _SEED_TIMES_OUT, "5.19": _UPSTREAM_SPINS}),
    Fault("fw-32bit-vector", "firmware",
          "the kernel's 64-bit trampoline sits above 4 GiB, and the firmware reads only the "
          "low 32 bits of the vector (as td-shim does)",
          _vector_above_4g, (),
          Expect.on_every_kernel("cpu-failed", "each AP jumps to the truncated address: "
                                  "triple fault")),
    Fault("vmm-late-wake", "hypervisor",
          "adversarial: the VMM runs each woken vCPU just after the seed kernel's 255 polls",
          _vmm_late_wake, (FaultParam("margin_us", 5, "how long after the polls end"),),
          {"seed": Expect("cpu-failed", "wakeups time out, then the APs run anyway: kernel "
                          "code nobody waits for; each late acknowledgement clears the next "
                          "CPU's command, so every other CPU seems to come up"),
           "5.19": Expect("ok", "no timeout to outwait: a VMM can delay a TD's boot, "
                              "not derail it")}),
    Fault("plugin-plain-store", "kernel",
          "a wakeup hook writes the command with a plain store before ApicId and the vector "
          "(relaxed memory on)",
          _plain_store, (),
          Expect.on_every_kernel("varies", "seed by seed: the firmware may read a stale "
                                  "ApicId or vector (a CPU fails or the boot hangs), or not")),
    Fault("double-wakeup", "kernel", "the kernel wakes the CPU with APIC ID K twice",
          _double_wakeup, (FaultParam("cpu", 1, "the APIC ID woken twice"),),
          {"seed": Expect("cpu-failed", "the wakemap refuses the second wakeup: -EINVAL"),
           "5.19": Expect("hung", "nobody answers the second command: the kernel spins "
                              "forever (the merged code has no wakemap)")}),
    Fault("mailbox-zero", "madt", "the MP Wakeup structure gives mailbox address 0",
          _mailbox_at("zero"), (),
          {"seed": _SEED_TIMES_OUT,
           "5.19": Expect("hung", "the kernel takes 0 as the mailbox: it writes the command "
                              "into physical page 0, which no firmware polls, and spins "
                              "forever"),
           "6.11": Expect("cpu-failed", "'No MADT mailbox: cannot bringup secondary "
                              "CPUs': -EOPNOTSUPP")}),
    Fault("mailbox-unaligned", "madt",
          "the MP Wakeup structure's mailbox address is off by 2 KiB (not 4 KiB aligned)",
          _mailbox_at("unaligned"), (),
          {"seed": _SEED_TIMES_OUT, "5.19": _UPSTREAM_SPINS}),
    Fault("mailbox-overlaps-ram", "madt",
          "the MP Wakeup structure puts the mailbox in RAM the kernel uses: the page at "
          "0x98000 where setup_real_mode copies the trampoline",
          _mailbox_in_ram, (),
          Expect.on_every_kernel("ok", "the kernel maps RAM it owns as the mailbox and boots; "
                                 "its writes and the firmware's acknowledgements overwrite "
                                 "real_mode_header, which nothing checks (kapic names the "
                                 "overlap in the reasons)")),
)
