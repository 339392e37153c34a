"""Kernel configuration (Kconfig options) and the ``seed`` / ``upstream`` profiles.

Models the options of arch/x86/Kconfig and kernel/Kconfig that change secondary-CPU
bring-up: ``CONFIG_X86_64``, ``CONFIG_SMP``, ``CONFIG_NR_CPUS``, ``CONFIG_HOTPLUG_PARALLEL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal

from kapic.errors import ConfigError

__all__ = ["PROFILES", "KernelConfig", "KernelProfile"]

ProfileName = Literal["seed", "upstream"]


@dataclass(frozen=True, slots=True)
class KernelProfile:
    """A kernel generation.

    ``seed`` is 5.19 with the seed patch (Dave Hansen's rewrite of PATCHv7 21/30):
    ``acpi_wake_cpu_handler_update()`` over every registered driver, ``acpi_wakeup_cpu`` with a
    255-poll timeout and a wakemap, do_boot_cpu() waiting for the AP itself.
    ``upstream`` is 6.11+: ``apic_update_callback()``/``apic_install_driver()``,
    madt_wakeup.c's unbounded ``acpi_wakeup_cpu``, split kick/alive start-up (6.5+).
    """

    name: ProfileName
    version: tuple[int, int]
    description: str

    @property
    def upstream(self) -> bool:
        """Whether this is the ``upstream`` profile (6.6+ override machinery)."""
        return self.name == "upstream"


PROFILES: Final[Mapping[str, KernelProfile]] = {
    "seed": KernelProfile("seed", (5, 19), "Linux 5.19 + the seed patch (PATCHv7 21/30 rewrite)"),
    "upstream": KernelProfile("upstream", (6, 11), "Linux 6.11+ (madt_wakeup.c, apic override)"),
}

_BOOL = {"y": True, "n": False, "yes": True, "no": False, "1": True, "0": False}


@dataclass(frozen=True, slots=True)
class KernelConfig:
    """The Kconfig options kapic models, with the kernel's defaults."""

    X86_64: bool = True
    SMP: bool = True
    NR_CPUS: int = 8192
    #: None: the profile's default (y from 6.5 on; the option does not exist in 5.19)
    HOTPLUG_PARALLEL: bool | None = None
    #: ``cpu_init_udelay=`` on the command line; None = not given
    cpu_init_udelay: int | None = None
    #: ``x2apic_phys`` on the command line
    x2apic_phys: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> KernelConfig:
        """Build from ``--config KEY=VALUE`` pairs (``CONFIG_`` prefix optional)."""
        config = cls()
        for raw_key, raw in options.items():
            key = raw_key.removeprefix("CONFIG_")
            if key in ("X86_64", "SMP", "HOTPLUG_PARALLEL", "x2apic_phys"):
                value = _BOOL.get(raw.lower())
                if value is None:
                    raise ConfigError(f"--config {raw_key}={raw}: expected y or n")
                config = replace(config, **{key: value})
            elif key in ("NR_CPUS", "cpu_init_udelay"):
                try:
                    number = int(raw, 0)
                except ValueError:
                    raise ConfigError(f"--config {raw_key}={raw}: expected an integer") from None
                if number < (2 if key == "NR_CPUS" else 0) or number > 1 << 20:
                    raise ConfigError(f"--config {raw_key}={raw}: out of range")
                config = replace(config, **{key: number})  # type: ignore[arg-type]
            else:
                known = "X86_64, SMP, NR_CPUS, HOTPLUG_PARALLEL, cpu_init_udelay, x2apic_phys"
                raise ConfigError(f"--config {raw_key}: unknown option (known: {known})")
        return config

    def check(self, profile: KernelProfile) -> KernelConfig:
        """Resolve profile defaults; reject options the profile's kernel does not have."""
        if self.HOTPLUG_PARALLEL is None:
            return replace(self, HOTPLUG_PARALLEL=profile.upstream)
        if self.HOTPLUG_PARALLEL and not profile.upstream:
            raise ConfigError(
                "--config HOTPLUG_PARALLEL=y: the seed profile is Linux 5.19, which has no "
                "parallel bring-up (CONFIG_HOTPLUG_PARALLEL arrived in 6.5)"
            )
        return self

    def as_dict(self) -> dict[str, object]:
        """The options by Kconfig name, as ``--json`` shows them under ``config``."""
        return {
            "X86_64": self.X86_64,
            "SMP": self.SMP,
            "NR_CPUS": self.NR_CPUS,
            "HOTPLUG_PARALLEL": self.HOTPLUG_PARALLEL,
            "cpu_init_udelay": self.cpu_init_udelay,
            "x2apic_phys": self.x2apic_phys,
        }


def get_profile(name: str) -> KernelProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown kernel profile {name!r} (known: seed, upstream)") from None
