"""The kapic plugin contract: every hook a plugin may implement.

Plugins are found through the ``kapic`` entry-point group (``[project.entry-points.kapic]``)
and register with :data:`hookimpl`. The built-in wakeup methods (``plugins/kapic_init_sipi``,
``plugins/kapic_acpi_mailbox``) use exactly these hooks and kapic's public API.

Hooks that return lists are collected from every plugin, once per
:class:`~kapic.plugin.PluginHost` (pluggy calls the most recently registered plugin first;
kapic sorts the results where order matters). They must return a list (an empty one when
there is nothing to add), never ``None``. Names of platforms, methods and firmware models are
unique across plugins: a second one of the same name is an error naming both plugins, unless
exactly one of them sets ``override=True`` (it then replaces the other).

Every callable a plugin hands over through these hooks is called through kapic's plugin
boundary: if it raises, or returns a value of the wrong type, the boot ends at once with the
result ``plugin-error`` naming the plugin, its distribution, the callable and the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kapic.markers import PROJECT, hookimpl, hookspec

if TYPE_CHECKING:
    from kapic.acpi.entry import MadtEntry
    from kapic.faults.model import Fault
    from kapic.firmware.model import FirmwareModel
    from kapic.kernel.acpi_boot import MadtHandler
    from kapic.kernel.apic import ApicDriverRegistry
    from kapic.kernel.kernel import Kernel
    from kapic.methods import WakeupMethod
    from kapic.platforms.model import Platform

__all__ = ["PROJECT", "hookimpl", "hookspec"]  # the markers, re-exported



# -------------------------------------------------------------------------------------------
# APIC driver registry (arch/x86/kernel/apic/*.c: apic_driver(), apic_drivers())
# -------------------------------------------------------------------------------------------


@hookspec
def kapic_register_apic_drivers(registry: ApicDriverRegistry) -> None:
    """Register APIC drivers (``struct apic``) in the simulated kernel's ``.apicdrivers``.

    :param registry: the kernel's driver registry; call ``registry.apic_driver(driver)``
        (optionally ``before="physical flat"``) for each driver, in link order.

    Return value is ignored. Called once per simulated kernel, before the MADT is parsed.
    The built-in drivers (numachip, uv, x2apic_phys, x2apic_cluster, physflat, flat) are
    registered first; a third-party driver lands before the flat drivers unless it says
    otherwise.

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------------------------
# ACPI (arch/x86/kernel/acpi/boot.c: acpi_process_madt, acpi_table_parse_madt)
# -------------------------------------------------------------------------------------------


@hookspec
def kapic_madt_handlers() -> list[MadtHandler]:
    """Provide handlers for MADT subtable types, as ``acpi_table_parse_madt(type, fn, max)``.

    :return: a list of :class:`kapic.MadtHandler` (subtable type, handler, max_entries).
        The handler is called as ``handler(kernel, entry, end)`` and returns 0 or a negative
        errno (an ``int``), like the kernel's handlers.

    Results of all plugins are collected. Handlers run in ``acpi_process_madt()`` after the
    LAPIC and IOAPIC entries, in ascending type order; the mailbox plugin installs
    ``acpi_wakeup_cpu`` from the type 0x10 entry exactly as the kernel does.

    .. versionadded:: 0.1
    """
    return []


@hookspec
def kapic_smp_prepare_cpus(kernel: Kernel) -> None:
    """Called once per boot in ``native_smp_prepare_cpus()``: after the MADT was parsed and
    the final APIC driver probed, before the first AP is kicked.

    :param kernel: the simulated kernel; a plugin may install a wakeup hook here, as SEV-SNP
        (``snp_set_wakeup_secondary_cpu``) and Hyper-V do, with
        ``kernel.apic_state.apic_update_callback(...)`` or by assigning ``kernel.apic``'s
        field directly (5.x style, lost on a later driver switch under ``upstream``).

    Return value is ignored.

    .. versionadded:: 0.1
    """


@hookspec
def kapic_madt_subtable_types() -> list[type[MadtEntry]]:
    """Declare MADT subtable types kapic should decode, print and build (OEM types 0x80-0xFF,
    types of a newer ACPI version), as :class:`kapic.MadtEntry` subclasses.

    :return: a list of classes with the class variables ``type``, ``NAME`` and ``LAYOUT``; a
        class may define ``kernel_lines(kernel)`` for what the kernel prints about it.

    Results of all plugins are collected. A type byte given twice (or one kapic already
    decodes) is an error naming the plugin. ``kapic madt decode``, ``kapic madt build
    --entry`` and the boot then know the type; a plugin parses it in the kernel with
    :func:`kapic_madt_handlers`.

    .. versionadded:: 0.2
    """
    return []


# -------------------------------------------------------------------------------------------
# Platforms and firmware
# -------------------------------------------------------------------------------------------


@hookspec
def kapic_platforms() -> list[Platform]:
    """Provide platform models (timing parameters, hypervisor rules).

    :return: a list of :class:`kapic.Platform`; names must be unique across plugins.

    Results of all plugins are collected when a machine is built.

    .. versionadded:: 0.1
    """
    return []


@hookspec
def kapic_firmware_models() -> list[FirmwareModel]:
    """Provide firmware models: where the APs wait before the kernel wakes them.

    :return: a list of :class:`kapic.FirmwareModel` (e.g. ``sipi-wait``, ``tdvf``).

    Results of all plugins are collected. A platform names its default firmware; a user can
    pick another with ``--firmware``.

    .. versionadded:: 0.1
    """
    return []


# -------------------------------------------------------------------------------------------
# Wakeup methods (what the command line offers as --method)
# -------------------------------------------------------------------------------------------


@hookspec
def kapic_wakeup_methods() -> list[WakeupMethod]:
    """Name wakeup methods for the command line (``--method``) and ``kapic compare``.

    :return: a list of :class:`kapic.WakeupMethod`: a name, the kernel function that does the
        wakeup, what it needs to be trusted, how to force it on a MADT, and where it applies.

    Results of all plugins are collected. At most one installed method may carry the kernel's
    built-in fallback (``fallback_handler``, INIT/SIPI's ``wakeup_secondary_cpu_via_init``),
    used by ``do_boot_cpu()`` when no APIC driver hook is set; a second one is a load error
    naming both plugins.

    .. versionadded:: 0.1
    """
    return []


# -------------------------------------------------------------------------------------------
# Fault scenarios (``--fault NAME[:k=v,...]``, ``kapic faults``)
# -------------------------------------------------------------------------------------------


@hookspec
def kapic_faults() -> list[Fault]:
    """Provide fault scenarios: a firmware, a hypervisor, the kernel or the MADT going wrong.

    :return: a list of :class:`kapic.Fault`: a name, its layer, typed parameters with
        defaults, ``apply(context, params)`` and the expected outcome per kernel profile.

    Results of all plugins are collected; names are unique across plugins (``override=True``
    replaces on purpose). ``apply`` runs through the plugin boundary when a machine is built
    with the fault, and what it registers on the :class:`kapic.FaultContext` runs later
    (hypervisor answers, kernel code at ``native_smp_prepare_cpus``), guarded the same way.

    .. versionadded:: 0.2
    """
    return []
