"""Kernel configuration: the Kconfig options and command-line switches kapic models.

Models the options of arch/x86/Kconfig and kernel/Kconfig that change secondary-CPU
bring-up: ``CONFIG_X86_64``, ``CONFIG_SMP``, ``CONFIG_NR_CPUS``, ``CONFIG_HOTPLUG_PARALLEL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from kapic.errors import ConfigError
from kapic.versions import HOTPLUG_PARALLEL, KernelVersion

__all__ = ["KernelConfig"]

_BOOL = {"y": True, "n": False, "yes": True, "no": False, "1": True, "0": False}


@dataclass(frozen=True, slots=True)
class KernelConfig:
    """The Kconfig options kapic models, with the kernel's defaults."""

    X86_64: bool = True
    SMP: bool = True
    NR_CPUS: int = 8192
    #: None: the kernel's default (y from 6.5 on; the option does not exist before)
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

    def check(self, version: KernelVersion) -> KernelConfig:
        """Resolve version defaults; reject options the kernel ``version`` does not have."""
        has = version.has(HOTPLUG_PARALLEL)
        if self.HOTPLUG_PARALLEL is None:
            return replace(self, HOTPLUG_PARALLEL=has)
        if self.HOTPLUG_PARALLEL and not has:
            raise ConfigError(
                f"--config HOTPLUG_PARALLEL=y: {version.label} has no parallel bring-up "
                f"(CONFIG_HOTPLUG_PARALLEL arrived in {HOTPLUG_PARALLEL.first_release})"
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

