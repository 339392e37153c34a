"""kapic plugin: the ACPI MADT Multiprocessor Wakeup mailbox.

Provides the MADT type 0x10 handler ``acpi_parse_mp_wake`` (which installs
``acpi_wakeup_cpu`` through the APIC driver registry, per kernel version), the wakeup method
``acpi-mailbox`` and the firmware models ``tdvf``, ``td-shim`` and ``td-shim-noack``.
Written against kapic's public API only, exactly as a third-party plugin would be.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kapic import (
    MADT_WAKEUP_C,
    Fault,
    FirmwareModel,
    Kernel,
    Madt,
    MadtHandler,
    MpWakeup,
    Platform,
    WakeupMethod,
    finalize_madt,
    hookimpl,
)
from kapic_acpi_mailbox import boot_c, madt_wakeup
from kapic_acpi_mailbox.faults import MAILBOX_FAULTS
from kapic_acpi_mailbox.firmware import MailboxFirmware, TdShimFirmware, TdShimNoAckFirmware
from kapic_acpi_mailbox.mailbox import TDVF_MAILBOX, TDVF_RESET_VECTOR

__all__ = ["PLUGIN", "acpi_parse_mp_wake"]


def acpi_parse_mp_wake(kernel: Kernel, entry: Any, end: int) -> int:
    """The type 0x10 handler of the running kernel: madt_wakeup.c from 6.11, boot.c before."""
    if kernel.version.has(MADT_WAKEUP_C):
        return madt_wakeup.acpi_parse_mp_wake(kernel, entry, end)
    return boot_c.acpi_parse_mp_wake(kernel, entry, end)


def _force_madt(madt: Madt, platform: Platform) -> Madt:
    """The kernel uses the mailbox when the MADT has a wakeup entry: add one if missing."""
    if any(isinstance(s, MpWakeup) for s in madt.subtables):
        return madt
    wake = MpWakeup(version=1, mailbox_address=TDVF_MAILBOX, reset_vector=TDVF_RESET_VECTOR)
    return finalize_madt(dataclasses.replace(madt, subtables=(*madt.subtables, wake)))


def _unavailable(platform: Platform, firmware: FirmwareModel) -> str | None:
    if firmware.polls_mailbox:
        return None
    return (
        f"no firmware polls a wakeup mailbox on {platform.name} ({firmware.name}: APs wait "
        "for SIPI): a merged kernel would spin on the mailbox forever"
    )


def _trust(platform: Platform) -> str:
    return ("firmware and the VMM's APIC IDs (the mailbox loop asks the VMM for its APIC ID); "
            "the VMM can delay a wakeup and lie about APIC IDs, not steer the vector")


class _Plugin:
    @hookimpl
    def kapic_madt_handlers(self) -> list[MadtHandler]:
        return [MadtHandler(0x10, acpi_parse_mp_wake, max_entries=1)]

    @hookimpl
    def kapic_wakeup_methods(self) -> list[WakeupMethod]:
        return [
            WakeupMethod(
                name="acpi-mailbox",
                handler_name="acpi_wakeup_cpu",
                summary="ACPI 6.4 MADT Multiprocessor Wakeup mailbox (TDX guests)",
                trust=_trust,
                force_madt=_force_madt,
                unavailable=_unavailable,
            )
        ]

    @hookimpl
    def kapic_faults(self) -> list[Fault]:
        return list(MAILBOX_FAULTS)

    @hookimpl
    def kapic_firmware_models(self) -> list[FirmwareModel]:
        return [MailboxFirmware(), TdShimFirmware(), TdShimNoAckFirmware()]


PLUGIN = _Plugin()
