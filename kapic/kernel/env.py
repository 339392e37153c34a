"""The kernel environment: everything the simulated kernel may reach, and nothing more.

The kernel runs on a board (memory, local APICs, the clock), writes what it observes to the
recorder, calls plugin code through the plugin boundary, and can hand a CPU back to the
firmware session that parked it. It never sees the machine that assembled these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kapic.boundary import PluginBoundary, PluginRef
    from kapic.firmware.model import FirmwareSession
    from kapic.hw.board import Board
    from kapic.sim.engine import Engine
    from kapic.sim.recorder import Recorder

__all__ = ["KernelEnv"]


@dataclass(frozen=True, slots=True)
class KernelEnv:
    """What one simulated kernel is given."""

    engine: Engine
    board: Board
    recorder: Recorder
    boundary: PluginBoundary
    #: the firmware that parked the APs (an offlined CPU may jump back into it)
    firmware: FirmwareSession
    #: the plugin that provided the firmware model
    firmware_owner: PluginRef
