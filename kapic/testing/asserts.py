"""Assertion helpers for boot results, with messages that show the kernel log."""

from __future__ import annotations

import re

from kapic.result import BootResult

__all__ = ["assert_all_online", "assert_woken_by", "log_lines_matching"]


def _tail(result: BootResult, n: int = 12) -> str:
    return "\n".join(result.log[-n:])


def assert_all_online(result: BootResult) -> None:
    """Every present CPU came online and the boot finished."""
    offline = [c for c in result.cpus if c.state not in ("online", "boot-cpu", "disabled")]
    assert result.result == "ok" and not offline, (
        f"boot {result.result}: {len(offline)} CPU(s) not online "
        f"({', '.join(f'CPU{c.cpu}={c.state}' for c in offline[:8])})\n"
        f"reasons: {result.reasons}\nlog tail:\n{_tail(result)}"
    )


def assert_woken_by(result: BootResult, handler: str) -> None:
    """Every AP that was kicked was kicked by the kernel function ``handler``."""
    others = {c.wakeup_handler for c in result.cpus if c.wakeup_handler not in (None, handler)}
    kicked = [c for c in result.cpus if c.wakeup_handler == handler]
    assert kicked and not others, (
        f"expected every AP woken by {handler}(), got {sorted(map(str, others)) or 'none'}"
    )


def log_lines_matching(result: BootResult, pattern: str) -> list[str]:
    """Kernel log lines (timestamps stripped) that match the regular expression."""
    rx = re.compile(pattern)
    lines = [line.split("] ", 1)[-1] for line in result.log]
    return [line for line in lines if rx.search(line)]
