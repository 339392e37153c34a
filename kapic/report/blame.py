"""``kapic compare --blame``: the slowest CPUs first, as ``systemd-analyze blame`` lists units."""

from __future__ import annotations

from collections.abc import Sequence

from kapic.report.stats import run_label
from kapic.report.units import format_ns
from kapic.result import BootResult, CpuResult

__all__ = ["blame_order", "render_blame"]


def blame_order(result: BootResult) -> list[CpuResult]:
    """The APs slowest first: those that never reported alive, then by kick-to-alive, descending.

    Ties keep CPU order. The boot CPU and CPUs that were never attempted are left out.
    """
    aps = [c for c in result.cpus if c.state not in ("boot-cpu", "not-attempted", "disabled")]
    return sorted(
        aps,
        key=lambda c: (c.kick_to_alive_ns is not None, -(c.kick_to_alive_ns or 0), c.cpu),
    )


def _when(cpu: CpuResult) -> str:
    return "never" if cpu.kick_to_alive_ns is None else format_ns(cpu.kick_to_alive_ns)


def _line(cpu: CpuResult, width: int) -> str:
    when = _when(cpu)
    what = f"CPU {cpu.cpu} (APIC ID {cpu.apic_id})"
    if cpu.kick_to_alive_ns is None:
        what += f" {cpu.state}" + (f": {cpu.error}" if cpu.error else "")
    return f"{when.rjust(width)} {what}"


def render_blame(results: Sequence[BootResult]) -> str:
    """One block per run: its label, then one line per AP, slowest kick-to-alive first."""
    blocks = []
    for result in results:
        order = blame_order(result)
        if result.result == "not-applicable":
            lines = [f"  (not possible: {result.reasons[0] if result.reasons else 'no reason given'})"]
        elif not order:
            lines = ["  (no AP was kicked)"]
        else:
            width = max(len(_when(c)) for c in order) + 2
            lines = [_line(c, width) for c in order]
        blocks.append("\n".join([f"{run_label(result)}:", *lines]))
    return "\n\n".join(blocks) + "\n"
