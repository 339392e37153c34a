"""Helpers for testing wakeup plugins with kapic (the pytest fixtures live in ``plugin``)."""

from kapic.testing.asserts import assert_all_online, assert_woken_by, log_lines_matching

__all__ = ["assert_all_online", "assert_woken_by", "log_lines_matching"]
