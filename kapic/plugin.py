"""The plugin host: built-in plugins, ``kapic`` entry points, blocking, a typed facade.

Like pytest: built-in plugins are registered from an explicit tuple, third-party ones come
from the ``kapic`` entry-point group (switched off by ``KAPIC_DISABLE_PLUGIN_AUTOLOAD``), and
any plugin can be blocked by name (``-p no:NAME``). Like tox, kapic's core calls the typed
methods of :class:`PluginHost`, which call the hooks through pluggy (``pm.hook.kapic_*``):
wrappers, tracing and hook-call monitoring see every call. What the collecting hooks return
(platforms, methods, firmware models, MADT handlers) is computed once per host and checked:
a name given twice is an error naming both plugins, and every callable in it is recorded in
the host's :class:`~kapic.boundary.PluginBoundary` with the plugin it came from.

At load, an attribute ``kapic_*`` that is no hook is an error naming the plugin, its
distribution and the nearest hook name; an unmarked function whose name is a hook counts as
an implementation (as pytest treats ``pytest_*`` functions).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from kapic import hookspecs
from kapic.acpi.types import MadtTypes
from kapic.boundary import PluginBoundary, PluginRef
from kapic.errors import ConfigError, PluginError
from kapic.markers import PROJECT
from kapic.sim.engine import SimulationAbort

if TYPE_CHECKING:
    from kapic.faults.model import Fault
    from kapic.firmware.model import FirmwareModel
    from kapic.kernel.acpi_boot import MadtHandler
    from kapic.kernel.apic import ApicDriverRegistry
    from kapic.kernel.kernel import Kernel
    from kapic.methods import WakeupMethod
    from kapic.platforms.model import Platform

__all__ = ["AUTOLOAD_ENV", "HOOK_NAMES", "PluginHost", "PluginInfo", "worker_host"]

AUTOLOAD_ENV = "KAPIC_DISABLE_PLUGIN_AUTOLOAD"
T = TypeVar("T")

#: modules registered before any entry point, in this order (pytest's ``default_plugins``)
BUILTIN_MODULES = {
    "builtin-platforms": "kapic.platforms.builtin",
    "builtin-apic-drivers": "kapic.kernel.apic_drivers",
    "builtin-firmware": "kapic.firmware.builtin",
    "builtin-faults": "kapic.faults.builtin",
}

#: every hook a plugin may implement
HOOK_NAMES = frozenset(
    name for name, fn in vars(hookspecs).items()
    if name.startswith(PROJECT + "_") and callable(fn)
)


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin, for ``kapic plugins``."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


class _Manager(pluggy.PluginManager):
    """Accepts an unmarked ``kapic_*`` function whose name is a hook, as pytest does."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name in HOOK_NAMES and inspect.isroutine(getattr(plugin, name, None)):
            return pluggy.HookimplOpts(wrapper=False, hookwrapper=False, optionalhook=False,
                                       tryfirst=False, trylast=False, specname=None)
        return opts


class PluginHost:
    """A pluggy manager with kapic's hooks, loaded, checked and ready."""

    def __init__(self, *, blocked: Iterable[str] = (), autoload: bool | None = None) -> None:
        self.pm = _Manager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        #: owners of every callable the plugins hand over, and the guarded calls
        self.boundary = PluginBoundary()
        self._refs: dict[str, PluginRef] = {}
        self._versions: dict[str, str | None] = {}
        self._builtin: set[str] = set()
        self._cache: dict[str, Any] = {}
        self._owners: dict[int, PluginRef] = {}
        for name in blocked:
            self.pm.set_blocked(name)
        for name, module_name in BUILTIN_MODULES.items():
            module = importlib.import_module(module_name)
            self._register(module.PLUGIN, name, None, None, builtin=True)
        if autoload is None:
            autoload = not os.environ.get(AUTOLOAD_ENV)
        if autoload:
            self._load_entry_points()
        self._check()

    @classmethod
    def from_options(cls, plugin_options: Sequence[str]) -> PluginHost:
        """From ``-p no:NAME`` options of the command line."""
        blocked = []
        for opt in plugin_options:
            if not opt.startswith("no:") or len(opt) <= 3:
                raise ConfigError(f"-p {opt}: expected no:NAME (loading by -p is not supported)")
            blocked.append(opt[3:])
        return cls(blocked=blocked)

    def register(self, plugin: object, name: str, *, distribution: str | None = None) -> None:
        """Register a plugin object by hand (tests, embedding applications); checked at once.

        Registering the object already registered under ``name`` (a plugin under test that is
        also installed) does nothing. A plugin that fails the check is unregistered again, so
        the host stays as it was.
        """
        if self.pm.get_plugin(name) is plugin:
            return
        self._register(plugin, name, distribution, None, builtin=False)
        try:
            self._check()
        except PluginError:
            self.pm.unregister(plugin, name=name)
            self._refs.pop(name, None)
            self._check()
            raise

    # -- loading ------------------------------------------------------------------------------
    def _register(self, plugin: object, name: str, dist: str | None, version: str | None, *,
                  builtin: bool) -> None:
        if self.pm.is_blocked(name):
            return
        ref = PluginRef(name, dist)
        for attr in dir(plugin):
            if attr.startswith(PROJECT + "_") and attr not in HOOK_NAMES:
                near = difflib.get_close_matches(attr, sorted(HOOK_NAMES), n=1)
                hint = f"; did you mean {near[0]}?" if near else ""
                raise PluginError(f"{attr} is not a kapic hook{hint}", plugin=name,
                                  distribution=dist)
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            detail = " ".join(str(exc).split())  # pluggy's message spans lines: one line
            raise PluginError(f"invalid hook implementation: {detail}", plugin=name,
                              distribution=dist) from None
        except ValueError as exc:
            raise PluginError(str(exc), plugin=name, distribution=dist) from None
        impls = [impl.function for caller in self.pm.get_hookcallers(plugin) or ()
                 for impl in caller.get_hookimpls() if impl.plugin is plugin]
        self.boundary.add_plugin(plugin, ref, impls)
        self._refs[name] = ref
        self._versions[name] = version
        if builtin:
            self._builtin.add(name)

    def _load_entry_points(self) -> None:
        eps = sorted(metadata.entry_points(group=PROJECT), key=lambda ep: ep.name)
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
            self._register(plugin, ep.name, dist, version, builtin=False)

    def _check(self) -> None:
        """``check_pending()`` and the collected items, computed afresh."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or "?"
            ref = self.ref(name)
            raise PluginError(" ".join(str(exc).split()), plugin=ref.name,
                              distribution=ref.distribution) from None
        self._cache.clear()
        self._owners.clear()
        self.platforms()
        self.firmware_models()
        self.wakeup_methods()
        self.madt_handlers()
        self.madt_types()
        self.faults()

    # -- calling hooks ------------------------------------------------------------------------
    def ref(self, plugin_name: str) -> PluginRef:
        """The registered plugin ``plugin_name`` (with its distribution)."""
        return self._refs.get(plugin_name, PluginRef(plugin_name))

    def _hook(self, name: str, **kwargs: Any) -> Any:
        """``pm.hook.<name>(**kwargs)``; an exception names the plugin whose code raised."""
        caller = getattr(self.pm.hook, name)
        try:
            return caller(**kwargs)
        except SimulationAbort:
            raise
        except (Exception, SystemExit) as exc:
            owner = self.boundary.culprit(exc.__traceback__) or PluginRef("<unknown>")
            raise self.boundary.fault(owner, f"hook {name}", exc) from None

    def _attributed(self, name: str) -> list[tuple[PluginRef, Any]]:
        """Each plugin's result of a collecting hook, called once through pluggy."""
        results = self._hook(name)
        impls = [impl for impl in reversed(getattr(self.pm.hook, name).get_hookimpls())
                 if not (impl.wrapper or impl.hookwrapper)]
        if len(results) != len(impls):  # someone returned None: find who, through pluggy
            for impl in impls:
                others = [i.plugin for i in impls if i is not impl]
                alone = self.pm.subset_hook_caller(name, remove_plugins=others)()
                if not alone:
                    raise PluginError(f"hook {name} returned None, expected a list",
                                      plugin=impl.plugin_name,
                                      distribution=self.ref(impl.plugin_name).distribution)
            wrappers = [i.plugin_name for i in getattr(self.pm.hook, name).get_hookimpls()
                        if i.wrapper or i.hookwrapper]
            culprit = self.ref(wrappers[-1] if wrappers else impls[0].plugin_name)
            raise PluginError(f"a wrapper of hook {name} changed the number of results (one "
                              "list per implementation is expected; change items inside them)",
                              plugin=culprit.name, distribution=culprit.distribution)
        return [(self.ref(impl.plugin_name), result) for impl, result in zip(impls, results,
                                                                             strict=True)]

    def _collect(self, name: str, kind: type[T], what: str) -> list[tuple[PluginRef, T]]:
        out: list[tuple[PluginRef, T]] = []
        kind_name = kind.__name__
        for ref, result in self._attributed(name):
            if not isinstance(result, list | tuple):
                raise PluginError(f"hook {name} returned {result!r}, expected a list of {kind_name}s",
                                  plugin=ref.name, distribution=ref.distribution)
            for item in result:
                if not isinstance(item, kind):
                    raise PluginError(f"hook {name} returned {item!r}, expected {what}",
                                      plugin=ref.name, distribution=ref.distribution)
                out.append((ref, item))
        return out

    def _named(self, name: str, kind: type[T], what: str,
               claim: Callable[[T, PluginRef], None]) -> list[T]:
        """A collecting hook's items, unique by name (``override=True`` replaces on purpose)."""
        if name in self._cache:
            return list(self._cache[name])
        chosen: dict[str, tuple[PluginRef, T]] = {}
        for ref, item in self._collect(name, kind, f"a {kind.__name__}"):
            key = str(getattr(item, "name", ""))
            if key in chosen:
                old_ref, old = chosen[key]
                new_wins = bool(getattr(item, "override", False))
                old_wins = bool(getattr(old, "override", False))
                if new_wins == old_wins:
                    order = list(self._refs)
                    first, second = sorted((old_ref, ref), key=lambda r: order.index(r.name))
                    raise PluginError(
                        f"{what} {key!r} is provided by {first} and by {second}; names are "
                        "unique (set override=True on the one meant to replace the other)",
                        plugin=second.name, distribution=second.distribution)
                if old_wins:
                    continue
            chosen[key] = (ref, item)
        items = []
        for ref, item in chosen.values():
            self._owners[id(item)] = ref
            claim(item, ref)
            items.append(item)
        self._cache[name] = items
        return list(items)

    def owner(self, item: object) -> PluginRef:
        """The plugin that provided a platform, method or firmware model of this host."""
        return self._owners.get(id(item), PluginRef("<unknown>"))

    # -- the typed facade ---------------------------------------------------------------------
    def platforms(self) -> list[Platform]:
        """Every platform model, names unique (``kapic_platforms``); every timing parameter
        a known name and a non-negative int."""
        from kapic.platforms.model import PARAM_DOCS, Platform

        def check(platform: Platform, ref: PluginRef) -> None:
            for key, value in platform.params.items():
                problem = (f"unknown parameter {key!r}" if key not in PARAM_DOCS else
                           None if type(value) is int and value >= 0 else
                           f"parameter {key} = {value!r}: must be an int of 0 or more")
                if problem is not None:
                    raise PluginError(f"platform {platform.name!r}: {problem}", plugin=ref.name,
                                      distribution=ref.distribution)

        return self._named("kapic_platforms", Platform, "platform", check)

    def firmware_models(self) -> list[FirmwareModel]:
        """Every firmware model, names unique (``kapic_firmware_models``)."""
        from kapic.firmware.model import FirmwareModel

        def claim(model: FirmwareModel, ref: PluginRef) -> None:
            for member in ("publish_madt", "park"):
                self.boundary.claim(getattr(model, member), ref)

        return self._named("kapic_firmware_models", FirmwareModel, "firmware model", claim)

    def wakeup_methods(self) -> list[WakeupMethod]:
        """Every wakeup method, names unique (``kapic_wakeup_methods``)."""
        from kapic.methods import WakeupMethod

        def claim(method: WakeupMethod, ref: PluginRef) -> None:
            for fn in (method.trust, method.force_madt, method.unavailable,
                       method.fallback_handler):
                if fn is not None:
                    self.boundary.claim(fn, ref)

        methods = self._named("kapic_wakeup_methods", WakeupMethod, "wakeup method", claim)
        order = list(self._refs)
        fallbacks = sorted((m for m in methods if m.fallback_handler is not None),
                           key=lambda m: order.index(self.owner(m).name))
        if len(fallbacks) > 1:  # do_boot_cpu() has one wakeup_secondary_cpu_via_init
            del self._cache["kapic_wakeup_methods"]
            first, second = fallbacks[:2]
            ref = self.owner(second)
            raise PluginError(
                f"wakeup method {second.name!r} carries a fallback_handler, and so does "
                f"{first.name!r} of {self.owner(first)}: the kernel has one INIT/SIPI fallback",
                plugin=ref.name, distribution=ref.distribution)
        return methods

    def faults(self) -> list[Fault]:
        """Every fault scenario, names unique (``kapic_faults``)."""
        from kapic.faults.model import (
            FIRST_RELEASE,
            LAYERS,
            OUTCOMES,
            Fault,
            expected_key_problem,
        )

        def claim(fault: Fault, ref: PluginRef) -> None:
            problems = []
            if fault.layer not in LAYERS:
                problems.append(f"layer {fault.layer!r} is not one of {', '.join(LAYERS)}")
            problems += [p for p in map(expected_key_problem, fault.expected) if p]
            for key in ("seed", FIRST_RELEASE) if fault.expected else ():
                if key not in fault.expected:
                    problems.append(f"no expected outcome for {key!r} (give 'seed' and "
                                    f"'{FIRST_RELEASE}', the first release, at least)")
            for kernel, expect in fault.expected.items():
                if expect.result not in OUTCOMES:
                    problems.append(f"expected result {expect.result!r} on {kernel} is not one "
                                    f"of {', '.join(OUTCOMES)}")
            if problems:
                raise PluginError(f"fault {fault.name!r}: {problems[0]}", plugin=ref.name,
                                  distribution=ref.distribution)
            self.boundary.claim(fault.apply, ref)

        return self._named("kapic_faults", Fault, "fault", claim)

    def fault(self, name: str) -> Fault:
        """The fault scenario ``name``."""
        return _named(self.faults(), name, "fault")

    def madt_handlers(self) -> list[MadtHandler]:
        """Every MADT subtable handler, stamped with its plugin (``kapic_madt_handlers``)."""
        from kapic.kernel.acpi_boot import MadtHandler

        if "kapic_madt_handlers" not in self._cache:
            handlers = []
            for ref, handler in self._collect("kapic_madt_handlers", MadtHandler, "a MadtHandler"):
                self.boundary.claim(handler.handler, ref)
                handlers.append(dataclasses.replace(handler, plugin=ref.name))
            self._cache["kapic_madt_handlers"] = handlers
        return list(self._cache["kapic_madt_handlers"])

    def madt_types(self) -> MadtTypes:
        """The MADT subtable types kapic decodes: built-in ones and those plugins add."""
        from kapic.acpi.entry import MadtEntry

        if "kapic_madt_subtable_types" not in self._cache:
            types = MadtTypes.builtin()
            for ref, result in self._attributed("kapic_madt_subtable_types"):
                if not isinstance(result, list | tuple) or not all(
                    isinstance(c, type) and issubclass(c, MadtEntry) for c in result
                ):
                    raise PluginError(
                        f"hook kapic_madt_subtable_types returned {result!r}, expected a list of "
                        "MadtEntry subclasses", plugin=ref.name, distribution=ref.distribution)
                try:
                    types = types.with_types(*result)
                except Exception as exc:
                    raise PluginError(str(exc), plugin=ref.name,
                                      distribution=ref.distribution) from None
            self._cache["kapic_madt_subtable_types"] = types
        types_: MadtTypes = self._cache["kapic_madt_subtable_types"]
        return types_

    def register_apic_drivers(self, registry: ApicDriverRegistry) -> None:
        """``kapic_register_apic_drivers(registry)``."""
        self._hook("kapic_register_apic_drivers", registry=registry)

    def smp_prepare_cpus(self, kernel: Kernel) -> None:
        """``kapic_smp_prepare_cpus(kernel)``."""
        self._hook("kapic_smp_prepare_cpus", kernel=kernel)

    # -- lookups ------------------------------------------------------------------------------
    def platform(self, name: str) -> Platform:
        """The platform ``name``; :class:`ConfigError` listing the known ones otherwise."""
        return _named(self.platforms(), name, "platform")

    def firmware(self, name: str) -> FirmwareModel:
        """The firmware model ``name``."""
        return _named(self.firmware_models(), name, "firmware model")

    def method(self, name: str) -> WakeupMethod:
        """The wakeup method ``name``."""
        return _named(self.wakeup_methods(), name, "wakeup method")

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin, built-ins first."""
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked by name
                continue
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            ref = self.ref(name)
            infos.append(PluginInfo(name, ref.distribution, self._versions.get(name), hooks,
                                    name in self._builtin))
        return sorted(infos, key=lambda i: (not i.builtin, i.name))


def _named(items: Sequence[T], name: str, what: str) -> T:
    for item in items:
        if getattr(item, "name", None) == name:
            return item
    known = ", ".join(sorted(str(getattr(i, "name", "?")) for i in items)) or "none installed"
    raise ConfigError(f"unknown {what} {name!r} (known: {known})")


@functools.lru_cache(maxsize=4)
def worker_host(blocked: tuple[str, ...]) -> PluginHost:
    """The plugins of a worker process (``kapic compare --jobs``, ``kapic sweep``), loaded
    once per process and reused by its boots, as one command reuses one host: loading the
    entry points costs more than a small boot. ``blocked``: the ``-p no:NAME`` names."""
    return PluginHost(blocked=list(blocked))
