"""The plugin host: built-in plugins, ``kapic`` entry points, blocking, a typed facade.

Like pytest: built-in plugins are registered from an explicit tuple, third-party ones come
from the ``kapic`` entry-point group (switched off by ``KAPIC_DISABLE_PLUGIN_AUTOLOAD``), and
any plugin can be blocked by name (``-p no:NAME``). pluggy cannot type-check hook calls, so
kapic's core calls the typed methods of :class:`PluginHost`, which call each implementation
separately so that an exception names the plugin that raised it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from kapic import hookspecs
from kapic.errors import ConfigError, PluginError

if TYPE_CHECKING:
    from kapic.firmware import FirmwareModel
    from kapic.kernel.acpi_boot import MadtHandler
    from kapic.kernel.apic import ApicDriverRegistry
    from kapic.kernel.kernel import Kernel
    from kapic.methods import WakeupMethod
    from kapic.platforms.model import Platform

__all__ = ["AUTOLOAD_ENV", "PluginHost", "PluginInfo"]

AUTOLOAD_ENV = "KAPIC_DISABLE_PLUGIN_AUTOLOAD"
T = TypeVar("T")

#: modules registered before any entry point, in this order (pytest's ``default_plugins``)
BUILTIN_MODULES = {
    "builtin-platforms": "kapic.platforms.builtin",
    "builtin-apic-drivers": "kapic.kernel.apic_drivers",
    "builtin-firmware": "kapic.firmware_builtin",
}


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin, for ``kapic plugins``."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


class PluginHost:
    """A pluggy manager with kapic's hooks, loaded and ready."""

    def __init__(self, *, blocked: Iterable[str] = (), autoload: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None, bool]] = {}
        for name in blocked:
            self.pm.set_blocked(name)
        for name, module_name in BUILTIN_MODULES.items():
            module = importlib.import_module(module_name)
            self._register(module.PLUGIN, name, None, None, True)
        if autoload is None:
            autoload = not os.environ.get(AUTOLOAD_ENV)
        if autoload:
            self._load_entry_points()

    @classmethod
    def from_options(cls, plugin_options: Sequence[str]) -> PluginHost:
        """From ``-p no:NAME`` options of the command line."""
        blocked = []
        for opt in plugin_options:
            if not opt.startswith("no:") or len(opt) <= 3:
                raise ConfigError(f"-p {opt}: expected no:NAME (loading by -p is not supported)")
            blocked.append(opt[3:])
        return cls(blocked=blocked)

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object by hand (tests, embedding applications)."""
        self._register(plugin, name, None, None, False)

    def _register(
        self, plugin: object, name: str, dist: str | None, version: str | None, builtin: bool
    ) -> None:
        if self.pm.is_blocked(name):
            return
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"invalid hook implementation: {exc}", plugin=name, distribution=dist) from None
        except ValueError as exc:
            raise PluginError(str(exc), plugin=name, distribution=dist) from None
        self._dists[name] = (dist, version, builtin)

    def _load_entry_points(self) -> None:
        eps = sorted(metadata.entry_points(group=hookspecs.PROJECT), key=lambda ep: ep.name)
        for ep in eps:
            if self.pm.is_blocked(ep.name) or self.pm.get_plugin(ep.name) is not None:
                continue
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"failed to import {ep.value}: {type(exc).__name__}: {exc}",
                    plugin=ep.name,
                    distribution=dist,
                ) from None
            self._register(plugin, ep.name, dist, version, False)

    # -- calling hooks, one implementation at a time -----------------------------------------
    def _call(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        hook = getattr(self.pm.hook, hook_name)
        results: list[tuple[str, Any]] = []
        for impl in reversed(hook.get_hookimpls()):  # tryfirst / registration order first
            args = {k: kwargs[k] for k in impl.argnames}
            try:
                result = impl.function(**args)
            except Exception as exc:
                name = impl.plugin_name
                dist = self._dists.get(name, (None, None, False))[0]
                raise PluginError(
                    f"hook {hook_name} raised {type(exc).__name__}: {exc}",
                    plugin=name,
                    distribution=dist,
                ) from None
            results.append((impl.plugin_name, result))
        return results

    def _collect(self, hook_name: str, check: Callable[[object], bool], what: str) -> list[Any]:
        out: list[Any] = []
        for plugin, result in self._call(hook_name):
            if result is None:
                continue
            items = list(result) if isinstance(result, list | tuple) else [result]
            for item in items:
                if not check(item):
                    raise PluginError(
                        f"hook {hook_name} returned {item!r}, expected {what}",
                        plugin=plugin,
                        distribution=self._dists.get(plugin, (None, None, False))[0],
                    )
                out.append(item)
        return out

    def platforms(self) -> list[Platform]:
        from kapic.platforms.model import Platform

        return self._collect("kapic_platforms", lambda x: isinstance(x, Platform), "a Platform")

    def firmware_models(self) -> list[FirmwareModel]:
        from kapic.firmware import FirmwareModel

        return self._collect(
            "kapic_firmware_models", lambda x: isinstance(x, FirmwareModel), "a FirmwareModel"
        )

    def wakeup_methods(self) -> list[WakeupMethod]:
        from kapic.methods import WakeupMethod

        return self._collect(
            "kapic_wakeup_methods", lambda x: isinstance(x, WakeupMethod), "a WakeupMethod"
        )

    def madt_handlers(self) -> list[MadtHandler]:
        from kapic.kernel.acpi_boot import MadtHandler

        return self._collect(
            "kapic_madt_handlers", lambda x: isinstance(x, MadtHandler), "a MadtHandler"
        )

    def register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        self._call("kapic_register_apic_drivers", registry=registry)

    def smp_prepare_cpus(self, kernel: Kernel) -> None:
        self._call("kapic_smp_prepare_cpus", kernel=kernel)

    # -- lookups ----------------------------------------------------------------------------
    def platform(self, name: str) -> Platform:
        return _named(self.platforms(), name, "platform")

    def firmware(self, name: str) -> FirmwareModel:
        return _named(self.firmware_models(), name, "firmware model")

    def method(self, name: str) -> WakeupMethod:
        return _named(self.wakeup_methods(), name, "wakeup method")

    def plugins(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked by name
                continue
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            dist, version, builtin = self._dists.get(name, (None, None, False))
            infos.append(PluginInfo(name, dist, version, hooks, builtin))
        return sorted(infos, key=lambda i: (not i.builtin, i.name))


def _named(items: Sequence[T], name: str, what: str) -> T:
    for item in items:
        if getattr(item, "name", None) == name:
            return item
    known = ", ".join(sorted(str(getattr(i, "name", "?")) for i in items)) or "none installed"
    raise ConfigError(f"unknown {what} {name!r} (known: {known})")
