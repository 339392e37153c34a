"""``struct apic``, the APIC driver registry and the wakeup-hook override machinery.

Models arch/x86/include/asm/apic.h (``struct apic``, ``apic_driver()``, ``__apicdrivers``),
arch/x86/kernel/apic/apic.c (``acpi_wake_cpu_handler_update``, 5.19-6.5),
arch/x86/kernel/apic/init.c (``apic_update_callback``, ``apic_install_driver``,
``restore_override_callbacks``, 6.6+) and arch/x86/kernel/apic/probe_64.c
(``default_acpi_madt_oem_check``, ``x86_64_probe_apic`` / ``default_setup_apic_routing``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from kapic.boundary import UNKNOWN_PLUGIN, PluginBoundary, PluginRef
from kapic.errors import ConfigError, PluginError
from kapic.versions import APIC_INSTALL_DRIVER, APIC_UPDATE_CALLBACK, PHYSFLAT_ONLY

if TYPE_CHECKING:
    from kapic.kernel.kernel import Kernel

__all__ = ["WAKEUP_FIELDS", "Apic", "ApicDriverRegistry", "ApicState", "WakeupHandler"]

#: ``int (*wakeup_secondary_cpu_64)(u32 apicid, unsigned long start_ip, unsigned int cpu)``:
#: a generator function run on the boot CPU, called as ``handler(kernel, apicid, start_ip,
#: cpu)``, that returns 0 or a negative errno.
WakeupHandler: TypeAlias = Callable[["Kernel", int, int, int], Generator[Any, Any, int]]

#: the overridable wakeup callbacks of ``struct apic`` / ``struct apic_override``
WAKEUP_FIELDS = ("wakeup_secondary_cpu", "wakeup_secondary_cpu_64")


@dataclass(eq=False)
class Apic:
    """``struct apic``: an APIC driver. Only the members that matter for AP wakeup."""

    name: str
    probe: Callable[[Kernel], bool] | None = None
    acpi_madt_oem_check: Callable[[Kernel, str, str], bool] | None = None
    wakeup_secondary_cpu: WakeupHandler | None = None
    wakeup_secondary_cpu_64: WakeupHandler | None = None
    #: the plugin that registered it (for messages)
    plugin: str = "kapic"

    def __repr__(self) -> str:
        return f"<struct apic {self.name!r}>"


@dataclass
class ApicDriverRegistry:
    """The ``.apicdrivers`` section of one simulated kernel, in link (= probe) order."""

    drivers: list[Apic] = field(default_factory=list)
    #: a 64-bit kernel (CONFIG_X86_64): decides which built-in drivers are linked in
    x86_64: bool = True
    #: through which the drivers' callbacks are called (it knows who registered each)
    boundary: PluginBoundary = field(default_factory=PluginBoundary, repr=False)
    owners: dict[str, PluginRef] = field(default_factory=dict, repr=False)

    def apic_driver(self, driver: Apic, *, before: str | None = "physical flat") -> None:
        """``apic_driver(sym)``: add ``driver``, before the driver named ``before`` if present."""
        owner = self.boundary.caller() or UNKNOWN_PLUGIN
        if owner is not UNKNOWN_PLUGIN:
            driver.plugin = owner.name
        if any(d.name == driver.name for d in self.drivers):
            raise PluginError(f"APIC driver {driver.name!r} registered twice",
                              plugin=owner.name, distribution=owner.distribution)
        self.owners[driver.name] = owner
        names = [d.name for d in self.drivers]
        if before is not None and before in names:
            self.drivers.insert(names.index(before), driver)
        else:
            self.drivers.append(driver)

    def by_name(self, name: str) -> Apic:
        """The registered driver called ``name``; ``KeyError`` when there is none."""
        for driver in self.drivers:
            if driver.name == name:
                return driver
        raise KeyError(name)


class ApicState:
    """The kernel's current ``apic`` pointer and ``__x86_apic_override`` (6.6+)."""

    def __init__(self, kernel: Kernel, registry: ApicDriverRegistry) -> None:
        self.kernel = kernel
        self.registry = registry
        #: ``apic``: the current driver (``&apic_flat`` on 64-bit until something is installed)
        # &apic_flat (&apic_physflat from 6.12, which removed the logical flat driver) /
        # &apic_default on 32-bit
        physflat = kernel.version.has(PHYSFLAT_ONLY)
        initial = ("physical flat" if physflat else "flat") if registry.x86_64 else "default"
        #: the drivers linked in: 6.12+ has no "flat"
        self.drivers = [d for d in registry.drivers
                        if not (physflat and registry.x86_64 and d.name == "flat")]
        if not registry.drivers:
            raise ConfigError("no APIC driver is linked in: every plugin registering APIC "
                              "drivers is blocked (builtin-apic-drivers?)")
        self.apic: Apic = registry.by_name(initial) if _has(registry, initial) else registry.drivers[0]
        #: ``__x86_apic_override``: callbacks recorded by apic_update_callback()
        self.override: dict[str, WakeupHandler] = {}

    # -- 5.19-6.5 ---------------------------------------------------------------------------
    def acpi_wake_cpu_handler_update(self, handler: WakeupHandler) -> None:
        """Write ``handler`` into ``wakeup_secondary_cpu_64`` of every registered driver.

        Only kernels before the apic_update_callback gate (6.6) have this function: calling
        it on a later one is the caller's error (commit 2744a7ce34a7 removed it)."""
        if self.kernel.version.has(APIC_UPDATE_CALLBACK):
            raise ConfigError(
                f"acpi_wake_cpu_handler_update() does not exist in {self.kernel.version.label}: "
                f"{APIC_UPDATE_CALLBACK.commit.split(';')[0]} replaced it in "
                f"{APIC_UPDATE_CALLBACK.first_release}; use apic_update_callback() there "
                "(ask kernel.version.has(APIC_UPDATE_CALLBACK))")
        self.kernel.boundary.adopt(handler)
        for drv in self.registry.drivers:
            drv.wakeup_secondary_cpu_64 = handler

    # -- 6.6+ ------------------------------------------------------------------------------
    def apic_update_callback(self, callback: str, fn: WakeupHandler, *, pr_fmt: str = "") -> None:
        """``apic_update_callback(cb, fn)``: record the override and apply it to ``apic``.

        The macro's ``pr_info`` expands in the caller's file, so its line carries the caller's
        ``pr_fmt`` prefix: ``"ACPI: "`` from arch/x86/kernel/acpi/boot.c (6.6 to 6.10), none
        from madt_wakeup.c. Kernels before the gate (6.6) have no such function: calling it
        there is the caller's error."""
        if not self.kernel.version.has(APIC_UPDATE_CALLBACK):
            raise ConfigError(
                f"apic_update_callback() does not exist in {self.kernel.version.label}: it "
                f"arrived in {APIC_UPDATE_CALLBACK.first_release}; use "
                "acpi_wake_cpu_handler_update() before (ask "
                "kernel.version.has(APIC_UPDATE_CALLBACK))")
        if callback not in WAKEUP_FIELDS:
            raise ValueError(f"{callback} is not an overridable wakeup callback")
        self.kernel.boundary.adopt(fn)
        self.override[callback] = fn
        setattr(self.apic, callback, fn)
        self.kernel.printk(
            f"{pr_fmt}APIC: {callback}() replaced with {getattr(fn, '__name__', fn)}()")

    def restore_override_callbacks(self) -> None:
        """``restore_override_callbacks()``: apply every recorded override to ``apic``."""
        for callback, fn in self.override.items():
            setattr(self.apic, callback, fn)

    def apic_install_driver(self, driver: Apic) -> None:
        """``apic_install_driver()`` (6.6+) / the 5.x assignment with its message."""
        if self.apic is driver:
            return
        self.apic = driver
        if self.kernel.version.has(APIC_UPDATE_CALLBACK):
            self.restore_override_callbacks()
        if self.kernel.version.has(APIC_INSTALL_DRIVER):
            self.kernel.printk(f"APIC: Switched APIC routing to: {driver.name}")
        else:
            self.kernel.printk(f"Switched APIC routing to {driver.name}.")

    # -- probe_64.c -------------------------------------------------------------------------
    def default_acpi_madt_oem_check(self, oem_id: str, oem_table_id: str) -> int:
        """``default_acpi_madt_oem_check()``: install the first driver whose
        ``acpi_madt_oem_check`` accepts the MADT's OEM IDs; 1 when one did, else 0."""
        for driver in self.drivers:
            check = driver.acpi_madt_oem_check
            if check is not None and self._call(driver, "acpi_madt_oem_check", check,
                                                 self.kernel, oem_id, oem_table_id):
                if self.apic is not driver:
                    if self.kernel.version.has(APIC_INSTALL_DRIVER):
                        self.apic_install_driver(driver)
                    else:
                        self.apic = driver
                        self.kernel.printk(f"Setting APIC routing to {driver.name}.")
                return 1
        return 0

    def try_to_enable_x2apic(self) -> None:
        """arch/x86/kernel/apic/apic.c ``try_to_enable_x2apic()`` (from
        ``enable_IR_x2apic``): in x2APIC mode without interrupt remapping (a guest, as the
        kernel needs ``x2apic_available``), use physical destination mode and cap the usable
        APIC IDs at 255, or 32767 when the hypervisor offers 15-bit MSI destination IDs
        (``virt_ext_dest_id``). The final probe then switches to "physical x2apic"."""
        kernel = self.kernel
        platform = kernel.platform
        if not kernel.x2apic_mode or platform.param("irq_remap"):
            return
        if platform.hypervisor == "none":
            return  # bare metal without IR: x2APIC is disabled (not modelled)
        kernel.x2apic_max_apicid = 32767 if platform.param("msi_ext_dest_id") else 255
        kernel.x2apic_phys = True

    def apic_id_valid(self, apic_id: int) -> bool:
        """``apic_id_valid()``: within the current driver's ``max_apic_id``."""
        cap = self.kernel.x2apic_max_apicid if self.kernel.x2apic_mode else 0xFE
        return cap is None or apic_id <= cap

    def x86_64_probe_apic(self) -> None:
        """Final probe (``x86_64_probe_apic``; 5.x ``default_setup_apic_routing``)."""
        for driver in self.drivers:
            if driver.probe is not None and self._call(driver, "probe", driver.probe, self.kernel):
                self.apic_install_driver(driver)
                return


    def _call(self, driver: Apic, member: str, fn: Callable[..., bool], *args: Any) -> bool:
        owner = self.registry.owners.get(driver.name)
        what = f"APIC driver {driver.name!r} {member}"
        return bool(self.registry.boundary.call(what, fn, *args, owner=owner))


def _has(registry: ApicDriverRegistry, name: str) -> bool:
    return any(d.name == name for d in registry.drivers)
