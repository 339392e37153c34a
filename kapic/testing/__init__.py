"""Helpers for testing wakeup plugins with kapic (the pytest fixtures live in ``plugin``)."""

from kapic.testing.asserts import assert_all_online, assert_woken_by, log_lines_matching
from kapic.testing.hookrecorder import HookCall, HookRecorder

__all__ = ["HookCall", "HookRecorder", "assert_all_online", "assert_woken_by", "log_lines_matching"]
