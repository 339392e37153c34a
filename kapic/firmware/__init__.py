"""Firmware models (``sipi-wait`` built in; plugins add TDVF, td-shim, ...)."""

from kapic.firmware.model import FirmwareEnv, FirmwareModel, FirmwareSession, SipiWaitFirmware

__all__ = ["FirmwareEnv", "FirmwareModel", "FirmwareSession", "SipiWaitFirmware"]
