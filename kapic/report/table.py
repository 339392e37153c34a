"""The ``kapic compare`` table: one row per run, then a verdict computed from the runs."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from kapic.report.rows import Row, group_rows, rows_of
from kapic.report.stats import run_stats
from kapic.report.verdict import row_statements
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
    "MODE",
    "CPUS",
    "TOTAL",
    "PER CPU",
    "WAKEUP",
    "START-UP",
    "WAITING",
    "IPIS",
    "HV EXITS",
    "MAILBOX",
    "TRUST",
    "FAILURES",
)
#: columns holding numbers, aligned right
_NUMERIC = frozenset(range(4, 13))
_LEGEND = (
    "MODE serial or parallel bring-up; CPUS online/requested; TOTAL simulated bring-up time; "
    "PER CPU one AP from its kick to online, split into WAKEUP (the method: kick to the AP's "
    "first instruction), START-UP (the platform: to alive) and WAITING (the kernel: online "
    "work and queue); each the median over APs, then over runs (± half the range over runs); "
    "IPIS, HV EXITS (hypervisor exits) and MAILBOX (handshakes) of the median run."
)


def _failures(row: Row) -> str:
    outcome = row.outcome
    if outcome == "ok":
        return "-" if row.ran_as_asked else "another method ran"
    if outcome == "not-applicable":
        return "not possible"
    if outcome in ("plugin-error", "invalid-input") or outcome.startswith("mixed"):
        return outcome
    result = row.result
    down = result.cpus_requested - result.cpus_online
    return f"{outcome} ({down} CPU{'s' if down != 1 else ''} not online)"


def short_trust(item: str) -> str:
    """The head of a trust statement, before any parenthesis or semicolon: the table shows
    ``firmware only`` and the verdict the whole sentence."""
    return re.split(r"\s*[(;]", item, maxsplit=1)[0].strip() or item


def table_row(row: Row) -> tuple[str, ...]:
    """The cells of one row, in :data:`HEADER` order."""
    result = row.result
    trust = "; ".join(dict.fromkeys(short_trust(t) for t in result.trust)) or "-"
    if row.outcome in ("not-applicable", "plugin-error"):
        dashes = ("-",) * (len(_NUMERIC) + 1)
        return (row.method, row.platform, row.kernel, *dashes, trust, _failures(row))
    counters = run_stats(result).counters
    return (
        row.method,
        row.platform,
        row.kernel,
        row.mode[0],
        f"{result.cpus_online}/{result.cpus_requested}",
        *(row.spread(part).format()
          for part in ("total", "per_cpu", "wakeup", "startup", "waiting")),
        str(counters["ipis"]),
        str(counters["vm_exits"]),
        str(counters["mailbox_handshakes"]),
        trust,
        _failures(row),
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


def _modes(rows: Sequence[Row]) -> str:
    """Why each MODE: ``serial on tdx: the tdx platform disables ...``, one line per reason."""
    reasons: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        mode, why = row.mode
        if mode != "-" and why and row.platform not in reasons.get((mode, why), []):
            reasons.setdefault((mode, why), []).append(row.platform)
    return "\n".join(f"MODE {mode} on {', '.join(platforms)}: {why}."
                     for (mode, why), platforms in reasons.items())


def render_table(results: Sequence[BootResult]) -> str:
    """The table alone (one row per asked method, platform and kernel), why each row has its
    MODE, and the legend."""
    return _render_table(results, group_rows(results))


def _render_table(results: Sequence[BootResult], rows: Sequence[Row]) -> str:
    table = format_table(HEADER, [table_row(r) for r in rows], _NUMERIC)
    modes = _modes(rows)
    faults = list(dict.fromkeys(f for r in results for f in (r.spec or {}).get("faults", [])))
    if faults:
        modes = (modes + "\n" if modes else "") + (
            f"FAULT on every run: {', '.join(faults)} ('kapic faults' says what each does).")
    return f"{table}\n\n{modes + chr(10) * 2 if modes else ''}{textwrap.fill(_LEGEND, 100)}"


def render_compare(results: Sequence[BootResult], *, rows: Sequence[Row] | None = None) -> str:
    """The table followed by the verdict lines, as ``kapic compare`` prints it. ``rows``:
    :func:`~kapic.report.rows.group_rows` of ``results`` when the caller has them already
    (each AP of each run is split into its parts once, for the table and the verdict)."""
    rows = rows_of(results, rows)
    verdict = "\n".join(f"* {s.text}" for s in row_statements(rows))
    table = _render_table(results, rows)
    return f"{table}\n\nVerdict:\n{verdict}\n" if verdict else table + "\n"
