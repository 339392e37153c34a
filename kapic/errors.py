"""kapic's error types and the command line's exit codes.

One base error, :class:`KapicError`; every error kapic raises on purpose is one of its
subclasses and carries enough context (file, offset, field, plugin) to be printed as a single
line by the command line, never as a traceback.
"""

from __future__ import annotations

import enum
from typing import Any, Final

__all__ = [
    "ConfigError",
    "ExitCode",
    "InputError",
    "KapicError",
    "MadtError",
    "MissingFirmwareError",
    "PluginError",
    "SimulationError",
]


class ExitCode(enum.IntEnum):
    """Exit status of the ``kapic`` command."""

    OK = 0
    #: A CPU failed to come up, or the input (a table, a file) was invalid.
    FAILED = 1
    #: The command line was wrong.
    USAGE = 2
    #: A plugin failed to load or misbehaved.
    PLUGIN = 4


class KapicError(Exception):
    """Base of every error kapic raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable whatever a subclass's __init__ takes, so an error raised in a worker
        # process (kapic compare --jobs, kapic sweep) reaches the parent whole.
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


def _restore_error(cls: type[KapicError], args: tuple[Any, ...],
                   state: dict[str, Any]) -> KapicError:
    """A pickled :class:`KapicError` (see ``KapicError.__reduce__``)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InputError(KapicError):
    """Bad input data: names the source, the byte offset and the field."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        offset: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message: Final = message
        self.source: Final = source
        self.offset: Final = offset
        self.field: Final = field
        super().__init__(self._render())

    def _render(self) -> str:
        where: list[str] = []
        if self.source is not None:
            where.append(self.source)
        if self.offset is not None:
            where.append(f"offset {self.offset} (0x{self.offset:x})")
        if self.field is not None:
            where.append(f"field {self.field}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class MadtError(InputError):
    """A MADT that cannot be decoded, or a description that cannot be built."""


class ConfigError(KapicError):
    """An unknown or malformed kernel configuration, platform or option value."""

    exit_code = ExitCode.USAGE


class MissingFirmwareError(ConfigError):
    """The firmware model a platform needs is not installed (its plugin blocked or absent)."""


class PluginError(KapicError):
    """A plugin failed to import, has a wrong hook signature, or raised inside a hook."""

    exit_code = ExitCode.PLUGIN

    def __init__(self, message: str, *, plugin: str, distribution: str | None = None) -> None:
        self.plugin: Final = plugin
        self.distribution: Final = distribution
        dist = f" (distribution {distribution})" if distribution else ""
        super().__init__(f"plugin {plugin!r}{dist}: {message}")

    def to_json(self) -> dict[str, Any]:
        """The ``plugin_error`` object of ``kapic boot --json`` (no callable, CPU or time:
        the plugin failed outside a boot's hook calls)."""
        return {"plugin": self.plugin, "distribution": self.distribution, "callable": None,
                "cpu": None, "time_ns": None, "message": str(self), "traceback": ""}


class SimulationError(KapicError):
    """The simulation itself was asked to do something impossible."""
