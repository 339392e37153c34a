"""kapic's pytest plugin (entry point ``pytest11``): fixtures to test wakeup plugins.

* ``kapic_host``: a :class:`~kapic.plugin.PluginHost` with the installed plugins; register
  the plugin under test with ``kapic_host.register(obj, "name")``.
* ``kapic_machine(**spec)``: a :class:`~kapic.machine.Machine` from :class:`~kapic.api.BootSpec`
  fields, built with ``kapic_host`` (not booted: inspect the kernel, then ``.boot()``).
* ``kapic_boot(**spec)``: the :class:`~kapic.result.BootResult` of such a machine.
* ``kapic_hookrecorder``: a :class:`~kapic.testing.hookrecorder.HookRecorder` of
  ``kapic_host``: every hook call from then on, with its arguments and result
  (``getcalls(name)``, ``assert_called(name, times=)``). Registering a plugin with
  ``kapic_host.register`` collects platforms, methods and firmware models again, so those
  calls are recorded too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kapic.api import BootSpec, build_machine
from kapic.machine import Machine
from kapic.plugin import PluginHost
from kapic.result import BootResult
from kapic.testing.hookrecorder import HookRecorder

__all__ = ["kapic_boot", "kapic_hookrecorder", "kapic_host", "kapic_machine"]


@pytest.fixture
def kapic_host() -> PluginHost:
    """A fresh plugin host with the built-in and installed plugins."""
    return PluginHost()


@pytest.fixture
def kapic_machine(kapic_host: PluginHost) -> Callable[..., Machine]:
    """Factory: ``kapic_machine(platform="tdx", cpus=4, ...)`` -> an unbooted Machine."""

    def make(**spec: Any) -> Machine:
        return build_machine(BootSpec(**spec), kapic_host)

    return make


@pytest.fixture
def kapic_boot(kapic_machine: Callable[..., Machine]) -> Callable[..., BootResult]:
    """Factory: ``kapic_boot(platform="tdx", cpus=4, ...)`` -> the BootResult."""

    def boot(**spec: Any) -> BootResult:
        return kapic_machine(**spec).boot()

    return boot


@pytest.fixture
def kapic_hookrecorder(kapic_host: PluginHost) -> Iterator[HookRecorder]:
    """Every hook call of ``kapic_host`` from now on (pytester's ``HookRecorder`` shape)."""
    recorder = HookRecorder(kapic_host)
    yield recorder
    recorder.finish_recording()
