"""The plugin boundary: every callable a plugin hands kapic is called here, knowing its owner.

A plugin hands kapic hook implementations, and through them more callables: MADT handlers,
wakeup handlers it installs in ``struct apic``, firmware models and their callbacks, the
predicates of a wakeup method. Each is called through :class:`PluginBoundary`, which knows
the plugin it came from. Two things stop a boot at once: the callable raises, or it gives
back something of the wrong type (a wakeup handler that is no generator, or returns a bool
or ``None`` instead of an int errno). Either becomes a :class:`PluginFault` naming the
plugin, its distribution, the hook or callable, the CPU and (filled in by whoever runs the
simulation) the simulated time.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from types import CodeType, ModuleType, TracebackType
from typing import Any, Final

from kapic.errors import PluginError
from kapic.sim.engine import RELAX, SPIN, SimulationAbort, Wait

__all__ = ["UNKNOWN_PLUGIN", "PluginBoundary", "PluginFault", "PluginRef", "errno_result"]


@dataclass(frozen=True, slots=True)
class PluginRef:
    """Who provided a callable: the plugin's registered name and its distribution."""

    name: str
    distribution: str | None = None

    def __str__(self) -> str:
        dist = f" (distribution {self.distribution})" if self.distribution else ""
        return f"plugin {self.name!r}{dist}"


#: the owner of a callable no registered plugin provided (a test calling kapic directly)
UNKNOWN_PLUGIN: Final = PluginRef("<unregistered>")


class PluginFault(PluginError, SimulationAbort):
    """A plugin's callable raised or returned the wrong type: the boot ends at once."""

    def __init__(self, owner: PluginRef, what: str, problem: str, *, cpu: int | None = None,
                 traceback_text: str = "") -> None:
        self.owner: Final = owner
        self.what: Final = what
        self.problem: Final = problem
        self.cpu: Final = cpu
        self.traceback_text: Final = traceback_text
        #: simulated time of the fault, set by whoever ran the simulation
        self.time_ns: int | None = None
        super().__init__(f"{what}: {problem}", plugin=owner.name, distribution=owner.distribution)

    def __str__(self) -> str:
        where = []
        if self.cpu is not None:
            where.append(f"CPU{self.cpu}")
        if self.time_ns is not None:
            where.append(f"at {self.time_ns / 1e6:.6f} ms simulated")
        at = f" ({', '.join(where)})" if where else ""
        return f"{self.owner}: {self.what}{at}: {self.problem}"

    def to_json(self) -> dict[str, Any]:
        """The ``plugin_error`` object of ``kapic boot --json``."""
        return {
            "plugin": self.owner.name,
            "distribution": self.owner.distribution,
            "callable": self.what,
            "cpu": self.cpu,
            "time_ns": self.time_ns,
            "message": self.problem,
            "traceback": self.traceback_text,
        }


def errno_result(value: object) -> str | None:
    """The check of a kernel callback's result: 0 or a negative errno, an ``int``."""
    if type(value) is int:
        return None
    if isinstance(value, bool):
        return f"returned {value!r}: expected 0 or a negative errno (an int; a bool is not one)"
    return f"returned {value!r}: expected 0 or a negative errno (an int)"


def _yield_ok(command: object) -> bool:
    if type(command) is int:
        return command >= 0
    return command is RELAX or command is SPIN or isinstance(command, Wait)


def _code_of(fn: object) -> CodeType | None:
    func: Any = getattr(fn, "__func__", fn)  # a bound method's function
    func = getattr(func, "func", func)  # functools.partial
    code = getattr(func, "__code__", None)
    if code is None:
        call = vars(type(func)).get("__call__")  # a callable object: its class's __call__
        code = getattr(call, "__code__", None)
    return code if isinstance(code, CodeType) else None


def _describe(exc: BaseException) -> str:
    return f"raised {type(exc).__name__}: {exc}"


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class PluginBoundary:
    """Owners of plugin callables, and the guarded ways to call them."""

    def __init__(self) -> None:
        self._codes: dict[CodeType, PluginRef] = {}
        self._homes: list[tuple[str, PluginRef]] = []

    # -- who owns what ------------------------------------------------------------------------
    def add_plugin(self, plugin: object, ref: PluginRef, functions: Iterable[object]) -> None:
        """A registered plugin: its hook implementations and its home module."""
        for fn in functions:
            self.claim(fn, ref)
        home = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        self._homes.append((home, ref))
        self._homes.sort(key=lambda h: -len(h[0]))

    def claim(self, fn: object, ref: PluginRef) -> None:
        """Record that ``fn`` (a function, bound method or callable object) is ``ref``'s."""
        code = _code_of(fn)
        if code is not None:
            self._codes.setdefault(code, ref)

    def owner_of(self, fn: object) -> PluginRef:
        """The plugin ``fn`` came from: claimed, or defined in a plugin's home package."""
        code = _code_of(fn)
        if code is not None and code in self._codes:
            return self._codes[code]
        module = getattr(getattr(fn, "__func__", fn), "__module__", None) or ""
        return self._home(module) or UNKNOWN_PLUGIN

    def caller(self) -> PluginRef | None:
        """The plugin whose code is running now (for a callable it installs in the kernel)."""
        frame = sys._getframe(1)
        while frame is not None:
            ref = self._codes.get(frame.f_code)
            if ref is not None:
                return ref
            frame = frame.f_back  # type: ignore[assignment]
        return None

    def adopt(self, fn: object) -> PluginRef:
        """Claim ``fn`` for the plugin installing it, unless its owner is known already."""
        code = _code_of(fn)
        if code is not None and code in self._codes:
            return self._codes[code]
        ref = self.caller()
        if ref is None:
            ref = self.owner_of(fn)
        if ref is not UNKNOWN_PLUGIN:
            self.claim(fn, ref)
        return ref

    def culprit(self, tb: TracebackType | None) -> PluginRef | None:
        """The plugin whose code is deepest in ``tb`` (the one that raised, or called what
        raised)."""
        return self.culprit_frame(tb)[0]

    def culprit_frame(self, tb: TracebackType | None) -> tuple[PluginRef | None, str | None]:
        """The plugin whose code is deepest in ``tb``, and the name of its function there."""
        found: PluginRef | None = None
        where: str | None = None
        while tb is not None:
            ref = self._codes.get(tb.tb_frame.f_code)
            if ref is None:
                module = tb.tb_frame.f_globals.get("__name__", "")
                ref = self._home(module)
            if ref is not None:
                found, where = ref, f"{tb.tb_frame.f_code.co_name}()"
            tb = tb.tb_next
        return found, where

    def _home(self, module: str) -> PluginRef | None:
        for home, ref in self._homes:
            if module == home or module.startswith(home + ".") or (
                home.count(".") == 0 and module.split(".")[0] == home
            ):
                return ref
        return None

    def format(self, exc: BaseException) -> str:
        """``exc``'s traceback as text (for --debug and the JSON)."""
        return _format(exc)

    # -- guarded calls ------------------------------------------------------------------------
    def fault(self, owner: PluginRef, what: str, exc: BaseException, *,
              cpu: int | None = None) -> PluginFault:
        """The fault of a callable that raised ``exc``."""
        return PluginFault(owner, what, _describe(exc), cpu=cpu, traceback_text=_format(exc))

    def call(self, what: str, fn: Callable[..., Any], *args: Any, owner: PluginRef | None = None,
             cpu: int | None = None, check: Callable[[object], str | None] | None = None) -> Any:
        """``fn(*args)``; a raise or a result ``check`` rejects becomes a :class:`PluginFault`."""
        try:
            result = fn(*args)
        except SimulationAbort:
            raise
        except (Exception, SystemExit) as exc:  # a plugin's sys.exit() is its fault too
            raise self.fault(owner or self.owner_of(fn), what, exc, cpu=cpu) from None
        if check is not None:
            problem = check(result)
            if problem is not None:
                raise PluginFault(owner or self.owner_of(fn), what, problem, cpu=cpu)
        return result

    def run(self, what: str, fn: Callable[..., Any], *args: Any, owner: PluginRef | None = None,
            cpu: int | None = None,
            check: Callable[[object], str | None] | None = None) -> Generator[Any, Any, Any]:
        """``yield from fn(*args)`` for a generator function a plugin provides (a wakeup
        handler): it must be one, yield only what the engine understands, and its return value
        must pass ``check``."""
        ref = owner or self.owner_of(fn)
        gen = self.call(what, fn, *args, owner=ref, cpu=cpu)
        if not isinstance(gen, Generator):
            raise PluginFault(ref, what, f"returned {gen!r} instead of a generator: it must be a "
                              "generator function (it yields delays and returns 0 or -errno)",
                              cpu=cpu)
        value: Any = None
        try:
            while True:
                try:
                    command = gen.send(value)
                except StopIteration as stop:
                    result = stop.value
                    break
                except SimulationAbort:
                    raise
                except (Exception, SystemExit) as exc:
                    raise self.fault(ref, what, exc, cpu=cpu) from None
                if not (type(command) is int and command >= 0) and not _yield_ok(command):
                    raise PluginFault(ref, what, f"yielded {command!r}: a kernel generator yields "
                                      "a delay in ns (an int >= 0), RELAX, SPIN or a Wait", cpu=cpu)
                value = yield command
        finally:
            gen.close()
        if check is not None:
            problem = check(result)
            if problem is not None:
                raise PluginFault(ref, what, problem, cpu=cpu)
        return result
