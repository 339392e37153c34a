"""Wakeup methods as the command line names them (``--method``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kapic.kernel.apic import WakeupHandler

if TYPE_CHECKING:
    from kapic.acpi import Madt
    from kapic.firmware.model import FirmwareModel
    from kapic.platforms.model import Platform

__all__ = ["WakeupHandler", "WakeupMethod"]


@dataclass(frozen=True, slots=True)
class WakeupMethod:
    """A named way to start APs.

    :param name: the ``--method`` name (``init-sipi``, ``acpi-mailbox``).
    :param handler_name: the kernel function that wakes a CPU (``acpi_wakeup_cpu``).
    :param summary: one line for ``kapic plugins`` and reports.
    :param trust: what the guest must trust for it to work on a platform.
    :param force_madt: make a MADT select this method the way the kernel would (add or remove
        the entry that installs it); the MADT is the kernel's only input for that choice.
    :param unavailable: why the method cannot work on a platform with a given firmware model,
        or None when it can.
    :param fallback_handler: the kernel's built-in INIT/SIPI path (``do_boot_cpu()``'s last
        resort); at most one installed method has one.
    :param override: replace another plugin's method of the same name on purpose.
    """

    name: str
    handler_name: str
    summary: str
    trust: Callable[[Platform], str]
    force_madt: Callable[[Madt, Platform], Madt]
    unavailable: Callable[[Platform, FirmwareModel], str | None]
    fallback_handler: WakeupHandler | None = None
    override: bool = False
