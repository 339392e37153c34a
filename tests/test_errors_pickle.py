"""kapic's errors survive pickling (a worker process of compare --jobs or sweep raises them)."""

from __future__ import annotations

import pickle

import pytest

from kapic.boundary import PluginFault, PluginRef
from kapic.errors import (
    ConfigError,
    InputError,
    KapicError,
    MadtError,
    MissingFirmwareError,
    PluginError,
)


def _fault() -> PluginFault:
    fault = PluginFault(PluginRef("sev-snp", "kapic-sevsnp"), "wakeup hook", "raised KeyError",
                        cpu=3, traceback_text="Traceback ...")
    fault.time_ns = 1_250_000
    return fault


@pytest.mark.parametrize("error", [
    PluginError("raised ValueError in kapic_platforms", plugin="p", distribution="d"),
    _fault(),
    InputError("truncated", source="apic.bin", offset=44, field="length"),
    MadtError("bad checksum", source="apic.bin", offset=9, field="checksum"),
    ConfigError("--jobs 0: give at least 1 process"),
    MissingFirmwareError("firmware 'tdvf' is not installed"),
], ids=lambda e: type(e).__name__)
def test_an_error_comes_back_whole(error: KapicError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error) and back.exit_code == error.exit_code
    assert back.__dict__ == error.__dict__
    if isinstance(error, PluginError):
        assert isinstance(back, PluginError)
        assert back.to_json() == error.to_json()
