"""Wakeup methods as the command line names them (``--method``)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from kapic.acpi import Madt
    from kapic.kernel.kernel import Kernel
    from kapic.platforms.model import Platform

__all__ = ["WakeupHandler", "WakeupMethod"]

#: ``int (*wakeup_secondary_cpu_64)(u32 apicid, unsigned long start_ip, unsigned int cpu)``:
#: a generator run on the boot CPU that returns 0 or a negative errno.
WakeupHandler: TypeAlias = Callable[["Kernel", int, int, int], Generator[Any, Any, int]]


@dataclass(frozen=True, slots=True)
class WakeupMethod:
    """A named way to start APs.

    :param name: the ``--method`` name (``init-sipi``, ``acpi-mailbox``).
    :param handler_name: the kernel function that wakes a CPU (``acpi_wakeup_cpu``).
    :param summary: one line for ``kapic plugins`` and reports.
    :param trust: what the guest must trust for it to work on a platform.
    :param force_madt: make a MADT select this method the way the kernel would (add or remove
        the entry that installs it); the MADT is the kernel's only input for that choice.
    :param unavailable: why the method cannot work on a platform, or None when it can.
    :param fallback: the kernel's built-in INIT/SIPI path (``do_boot_cpu()``'s last resort).
    """

    name: str
    handler_name: str
    summary: str
    trust: Callable[[Platform], str]
    force_madt: Callable[[Madt, Platform], Madt]
    unavailable: Callable[[Platform], str | None]
    fallback_handler: WakeupHandler | None = None
