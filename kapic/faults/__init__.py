"""Fault scenarios (see :mod:`kapic.faults.model`); kapic's own are in ``builtin``."""

from kapic.faults.model import Expect, Fault, FaultContext, FaultParam, parse_fault

__all__ = ["Expect", "Fault", "FaultContext", "FaultParam", "parse_fault"]
