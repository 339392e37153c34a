"""Record every hook call of a plugin host, in the shape of pytester's ``HookRecorder``.

Hooks are called through pluggy, so a recorder attached with pluggy's hook-call monitoring
sees each call: its name, its arguments and its result (or the exception it raised).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pluggy import HookImpl, Result

    from kapic.plugin import PluginHost

__all__ = ["HookCall", "HookRecorder"]


@dataclass
class HookCall:
    """One hook call: ``name``, the keyword arguments, and what came back.

    An argument is also an attribute: ``call.kernel`` is ``call.kwargs["kernel"]``.
    """

    name: str
    kwargs: dict[str, Any]
    #: the implementations' results (a list for a collecting hook); None while it runs
    result: Any = None
    #: the exception the call raised, if any
    exception: BaseException | None = None
    #: the plugins whose implementations ran, in call order
    plugins: list[str] = field(default_factory=list)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["kwargs"][key]
        except KeyError:
            raise AttributeError(f"hook call {self.name} has no argument {key!r}") from None


class HookRecorder:
    """Records the hook calls of ``host`` from now until :meth:`finish_recording`."""

    def __init__(self, host: PluginHost) -> None:
        self.calls: list[HookCall] = []
        self._running: list[HookCall] = []
        self._undo: Callable[[], None] | None = host.pm.add_hookcall_monitoring(
            self._before, self._after)

    def _before(self, hook_name: str, hook_impls: Sequence[HookImpl],
                kwargs: Mapping[str, Any]) -> None:
        call = HookCall(hook_name, dict(kwargs),
                        plugins=[impl.plugin_name for impl in reversed(hook_impls)])
        self.calls.append(call)
        self._running.append(call)

    def _after(self, outcome: Result[Any], hook_name: str, hook_impls: Sequence[HookImpl],
               kwargs: Mapping[str, Any]) -> None:
        call = self._running.pop()
        call.exception = outcome.exception
        if outcome.exception is None:
            call.result = outcome.get_result()

    def finish_recording(self) -> None:
        """Stop recording (the recorded calls stay)."""
        if self._undo is not None:
            self._undo()
            self._undo = None

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()

    def getcalls(self, names: str | Iterable[str]) -> list[HookCall]:
        """The calls of the hooks named (one name, names separated by spaces, or a list)."""
        wanted = set(names.split() if isinstance(names, str) else names)
        return [call for call in self.calls if call.name in wanted]

    def getcall(self, name: str) -> HookCall:
        """The one call of ``name``; fails when there were none or several."""
        calls = self.getcalls(name)
        assert len(calls) == 1, f"expected one call of {name}, got {len(calls)}: {self._names()}"
        return calls[0]

    def assert_called(self, name: str, times: int | None = None) -> list[HookCall]:
        """``name`` was called (exactly ``times`` times when given); returns the calls."""
        calls = self.getcalls(name)
        if times is None:
            assert calls, f"{name} was not called; calls recorded: {self._names()}"
        else:
            assert len(calls) == times, (
                f"{name} was called {len(calls)} time(s), expected {times}; "
                f"calls recorded: {self._names()}"
            )
        return calls

    def _names(self) -> str:
        return ", ".join(call.name for call in self.calls) or "none"
