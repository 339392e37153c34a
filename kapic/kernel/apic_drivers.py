"""The built-in APIC drivers, registered in the kernel's link order (64-bit or 32-bit).

Models arch/x86/kernel/apic/Makefile order and each driver's ``acpi_madt_oem_check`` and
``probe``: apic_numachip.c (numachip1, numachip2), x2apic_uv_x.c, x2apic_phys.c,
x2apic_cluster.c, apic_flat_64.c (``apic_drivers(apic_physflat, apic_flat)``). The checks are
reduced to the inputs kapic models (reference section 3.3 marks the details approximate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kapic.kernel.apic import Apic, ApicDriverRegistry
from kapic.markers import hookimpl

if TYPE_CHECKING:
    from kapic.kernel.kernel import Kernel

__all__ = ["PLUGIN", "BuiltinApicDrivers"]


def _numachip_oem(prefix: str) -> object:
    def check(kernel: Kernel, oem_id: str, oem_table_id: str) -> bool:
        return oem_id.startswith(prefix)

    return check


def _uv_oem(kernel: Kernel, oem_id: str, oem_table_id: str) -> bool:
    return oem_id[:3] in ("SGI", "HPE") and oem_table_id.startswith("UV")


def _uv_probe(kernel: Kernel) -> bool:
    return kernel.uv_system


def _x2apic_phys_oem(kernel: Kernel, oem_id: str, oem_table_id: str) -> bool:
    return kernel.x2apic_mode and kernel.x2apic_phys


def _x2apic_phys_probe(kernel: Kernel) -> bool:
    return kernel.x2apic_mode and kernel.x2apic_phys


def _x2apic_cluster_oem(kernel: Kernel, oem_id: str, oem_table_id: str) -> bool:
    return kernel.x2apic_mode


def _x2apic_cluster_probe(kernel: Kernel) -> bool:
    return kernel.x2apic_mode


def _physflat_oem(kernel: Kernel, oem_id: str, oem_table_id: str) -> bool:
    return oem_id.startswith(("IBM", "EXA"))


def _physflat_probe(kernel: Kernel) -> bool:
    return kernel.apic_state.apic.name == "physical flat" or kernel.num_possible_cpus() > 8


def _always(*_args: object) -> bool:
    return True


def builtin_drivers() -> list[Apic]:
    """Fresh driver objects (each simulated kernel owns its own ``struct apic``s)."""
    return [
        Apic("NumaConnect system", probe=None, acpi_madt_oem_check=_numachip_oem("NUMASC")),  # type: ignore[arg-type]
        Apic("NumaConnect2 system", probe=None, acpi_madt_oem_check=_numachip_oem("NUMAS2")),  # type: ignore[arg-type]
        Apic("UV large system", probe=_uv_probe, acpi_madt_oem_check=_uv_oem),
        Apic("physical x2apic", probe=_x2apic_phys_probe, acpi_madt_oem_check=_x2apic_phys_oem),
        Apic("cluster x2apic", probe=_x2apic_cluster_probe, acpi_madt_oem_check=_x2apic_cluster_oem),
        Apic("physical flat", probe=_physflat_probe, acpi_madt_oem_check=_physflat_oem),
        Apic("flat", probe=_always, acpi_madt_oem_check=_always),
    ]


def _bigsmp_probe(kernel: Kernel) -> bool:
    return kernel.num_possible_cpus() > 8  # def_to_bigsmp


def builtin_drivers_32() -> list[Apic]:
    """32-bit link order: bigsmp_32.o, then probe_32.o's apic_default (which must be last)."""
    return [
        Apic("bigsmp", probe=_bigsmp_probe, acpi_madt_oem_check=None),
        Apic("default", probe=_always, acpi_madt_oem_check=_always),
    ]


class BuiltinApicDrivers:
    """Plugin object registering :func:`builtin_drivers` before any third-party driver."""

    @hookimpl(tryfirst=True)
    def kapic_register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        for driver in builtin_drivers() if registry.x86_64 else builtin_drivers_32():
            registry.apic_driver(driver, before=None)


PLUGIN = BuiltinApicDrivers()
