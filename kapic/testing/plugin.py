"""kapic's pytest plugin (entry point ``pytest11``): fixtures to test wakeup plugins.

* ``kapic_host``: a :class:`~kapic.plugin.PluginHost` with the installed plugins; register
  the plugin under test with ``kapic_host.register(obj, "name")``.
* ``kapic_machine(**spec)``: a :class:`~kapic.machine.Machine` from :class:`~kapic.api.BootSpec`
  fields, built with ``kapic_host`` (not booted: inspect the kernel, then ``.boot()``).
* ``kapic_boot(**spec)``: the :class:`~kapic.result.BootResult` of such a machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kapic.api import BootSpec, build_machine
from kapic.machine import Machine
from kapic.plugin import PluginHost
from kapic.result import BootResult

__all__ = ["kapic_boot", "kapic_host", "kapic_machine"]


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
