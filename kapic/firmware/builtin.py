"""The built-in firmware model (``sipi-wait``) as a plugin."""

from __future__ import annotations

from kapic.firmware.model import FirmwareModel, SipiWaitFirmware
from kapic.markers import hookimpl

__all__ = ["PLUGIN"]


class _Plugin:
    @hookimpl
    def kapic_firmware_models(self) -> list[FirmwareModel]:
        return [SipiWaitFirmware()]


PLUGIN = _Plugin()
