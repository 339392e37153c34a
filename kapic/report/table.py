"""The ``kapic compare`` table: one row per run, then a verdict computed from the runs."""

from __future__ import annotations

import re
from collections.abc import Sequence

from kapic.report.stats import run_stats
from kapic.report.units import format_ns
from kapic.report.verdict import verdict_lines
from kapic.result import BootResult

__all__ = [
    "HEADER",
    "format_table",
    "render_compare",
    "render_table",
    "short_trust",
    "table_row",
]

HEADER = (
    "METHOD",
    "PLATFORM",
    "KERNEL",
    "CPUS",
    "TOTAL",
    "ALIVE MED",
    "ALIVE P99",
    "ALIVE MAX",
    "IPIS",
    "HV EXITS",
    "MAILBOX",
    "TRUST",
    "FAILURES",
)
#: columns holding numbers, aligned right
_NUMERIC = frozenset(range(3, 11))
_LEGEND = (
    "CPUS online/requested; TOTAL simulated bring-up time; ALIVE kick-to-alive per AP "
    "(median, p99, max; nearest rank); HV EXITS hypervisor exits; MAILBOX mailbox handshakes."
)


def _failures(result: BootResult) -> str:
    if result.result == "ok":
        return "-"
    if result.result == "not-applicable":
        return "not possible"
    if result.result == "plugin-error":
        return "plugin-error"
    down = result.cpus_requested - result.cpus_online
    return f"{result.result} ({down} CPU{'s' if down != 1 else ''} not online)"


def short_trust(item: str) -> str:
    """The head of a trust statement, before any parenthesis or semicolon: the table shows
    ``firmware only`` and the verdict the whole sentence."""
    return re.split(r"\s*[(;]", item, maxsplit=1)[0].strip() or item


def table_row(result: BootResult) -> tuple[str, ...]:
    """The cells of one run's row, in :data:`HEADER` order."""
    trust = "; ".join(dict.fromkeys(short_trust(t) for t in result.trust)) or "-"
    if result.result in ("not-applicable", "plugin-error"):
        dashes = ("-",) * len(_NUMERIC)
        return (result.method, result.platform, result.kernel, *dashes, trust, _failures(result))
    s = run_stats(result)
    return (
        result.method,
        result.platform,
        result.kernel,
        f"{s.cpus_online}/{s.cpus_requested}",
        format_ns(s.sim_time_ns),
        format_ns(s.kick_to_alive_median_ns),
        format_ns(s.kick_to_alive_p99_ns),
        format_ns(s.kick_to_alive_max_ns),
        str(s.counters["ipis"]),
        str(s.counters["vm_exits"]),
        str(s.counters["mailbox_handshakes"]),
        trust,
        _failures(result),
    )


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: frozenset[int] = frozenset()
) -> str:
    """Align ``rows`` under ``header`` with two spaces between columns, a rule under the header.

    Columns in ``numeric`` are right-aligned; the last column is never padded.
    """
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def render_table(results: Sequence[BootResult]) -> str:
    """The table alone, with its one-line legend."""
    table = format_table(HEADER, [table_row(r) for r in results], _NUMERIC)
    return f"{table}\n\n{_LEGEND}"


def render_compare(results: Sequence[BootResult]) -> str:
    """The table followed by the verdict lines, as ``kapic compare`` prints it."""
    verdict = "\n".join(f"* {line}" for line in verdict_lines(results))
    return f"{render_table(results)}\n\nVerdict:\n{verdict}\n" if verdict else render_table(results) + "\n"
