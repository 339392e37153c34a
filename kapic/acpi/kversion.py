"""Kernel versions as (major, minor), and the version-dependent MADT print behaviour.

Profiles: "seed" is the v7 multiprocessor-wakeup patch as merged (5.19); "upstream" is the
6.11+ code (arch/x86/kernel/acpi/madt_wakeup.c, with the MULTIPROC_WAKEUP case of
drivers/acpi/tables.c ``acpi_table_print_madt_entry`` from PATCHv11 19/19).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final

from kapic.errors import ConfigError

__all__ = [
    "KERNEL_PROFILES",
    "LAPIC_ADDR_OVR_HEX",
    "MADT_WAKEUP_PARSED",
    "MADT_WAKEUP_PRINTED",
    "parse_kernel_version",
]

KERNEL_PROFILES: Final = MappingProxyType({"seed": (5, 19), "upstream": (6, 11)})
#: First kernel that parses the type 0x10 entry (``acpi_parse_mp_wake``).
MADT_WAKEUP_PARSED: Final = (5, 19)
#: First kernel whose ``acpi_table_print_madt_entry`` has a MULTIPROC_WAKEUP case.
MADT_WAKEUP_PRINTED: Final = (6, 11)
#: "ACPI: Fix LAPIC_ADDR_OVR address print" (%p -> 0x%llx), Mar 2022; release UNCONFIRMED.
LAPIC_ADDR_OVR_HEX: Final = (5, 18)

_VERSION: Final = re.compile(r"v?(\d+)\.(\d+)(?:[.+~-].*)?")


def parse_kernel_version(text: str) -> tuple[int, int]:
    """``"6.11"``, ``"v6.11.3"``, ``"6.6-rc2"`` -> (major, minor); also "seed", "upstream"."""
    key = text.strip().lower()
    if key in KERNEL_PROFILES:
        return KERNEL_PROFILES[key]
    match = _VERSION.fullmatch(key)
    if match is None:
        names = ", ".join(KERNEL_PROFILES)
        raise ConfigError(f"kernel version {text!r}: expected MAJOR.MINOR (e.g. 6.11) "
                          f"or a profile name ({names})")
    return int(match.group(1)), int(match.group(2))
