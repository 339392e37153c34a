"""``kapic compare --json``: ``{"schema_version": 2, "rows": [...], "verdict": [...],
"runs": [...]}``.

Each row (one asked method, platform and kernel over its repeated runs) holds ``method`` (what
woke the APs, with the method asked for when another ran), ``asked``, ``ran_as_asked``,
``platform``, ``kernel``, ``outcome``, ``mode`` and ``mode_reason``, ``seeds``, and for
``total``, ``per_cpu``, ``wakeup``, ``startup`` and ``waiting`` the ``median``, ``low`` and
``high`` over the runs (ns, ``null`` when unknown). Each verdict statement holds ``kind``,
``text``, the ``rows`` it compares, the ``ratio``, the ``difference_ns`` and whether the
difference ``exceeds_spread`` (``null`` for statements that compare nothing).

Each run (every seed of every row, in order)
holds ``method`` (what woke the APs), ``method_requested``, ``methods`` (CPUs per method),
``bringup`` (``mode`` and ``reason``), ``platform``, ``kernel``, ``result``, ``seed``, ``cpus_requested``,
``cpus_online``, ``sim_time_ns``, ``kick_to_alive_ns`` (``median``, ``p99``, ``max``, ``count``;
nearest rank over the APs that reported alive, ``null`` when none did), ``counters`` (always
``ipis``, ``vm_exits``, ``mailbox_handshakes``, ``icr_writes``, plus any other the run kept),
``trust``, ``reasons``, ``config``, ``cpus`` (per CPU, as ``kapic boot --json``) and
``wall_seconds``; a ``plugin-error`` run also holds ``plugin_error`` (the plugin, its
distribution, the callable, the CPU, the time, the message and the traceback). Every value is a
function of the simulation's inputs except those under a key whose name contains ``wall``;
keys are emitted sorted so equal runs give equal bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from kapic.report import jsontext
from kapic.report.rows import Row, rows_of
from kapic.report.stats import run_stats
from kapic.report.verdict import row_statements
from kapic.result import BootResult

__all__ = ["SCHEMA_VERSION", "compare_json", "dumps", "row_json", "run_json"]

SCHEMA_VERSION: Final = 2


def run_json(result: BootResult) -> dict[str, Any]:
    """The JSON object of one run (what it takes of :meth:`BootResult.to_json`, made without
    the log, trace and spans it leaves out)."""
    stats = run_stats(result)
    out: dict[str, Any] = {
        "method": result.method,
        "method_requested": result.method_requested,
        "methods": dict(result.methods),
        "bringup": dict(result.bringup),
        "platform": result.platform,
        "kernel": result.kernel,
        "result": result.result,
        "seed": result.seed,
        "cpus_requested": stats.cpus_requested,
        "cpus_online": stats.cpus_online,
        "sim_time_ns": stats.sim_time_ns,
        "kick_to_alive_ns": {
            "median": stats.kick_to_alive_median_ns,
            "p99": stats.kick_to_alive_p99_ns,
            "max": stats.kick_to_alive_max_ns,
            "count": stats.alive_aps,
        },
        "counters": dict(stats.counters),
        "trust": list(result.trust),
        "reasons": list(result.reasons),
        "config": dict(result.config),
        "cpus": result.cpus_json(),
        "wall_seconds": result.wall_seconds,
    }
    if result.plugin_error is not None:
        out["plugin_error"] = dict(result.plugin_error)
    return out


def row_json(row: Row) -> dict[str, Any]:
    """The JSON object of one row."""
    mode, reason = row.mode if row.mode[0] != "-" else (None, None)
    out: dict[str, Any] = {
        "method": row.method,
        "asked": row.asked,
        "ran_as_asked": row.ran_as_asked,
        "platform": row.platform,
        "kernel": row.kernel,
        "outcome": row.outcome,
        "mode": mode,
        "mode_reason": reason,
        "seeds": [r.seed for r in row.runs],
    }
    for part in ("total", "per_cpu", "wakeup", "startup", "waiting"):
        spread = row.spread(part)
        out[part] = {"median": spread.median, "low": spread.low, "high": spread.high}
    return out


def compare_json(results: Sequence[BootResult], *,
                 rows: Sequence[Row] | None = None) -> dict[str, Any]:
    """The whole ``--json`` document. ``rows``: :func:`~kapic.report.rows.group_rows` of
    ``results`` when the caller has them already (each run's cost split is made once)."""
    rows = rows_of(results, rows)
    return {
        "schema_version": SCHEMA_VERSION,
        "rows": [row_json(row) for row in rows],
        "verdict": [s.to_json() for s in row_statements(rows)],
        "runs": [run_json(r) for r in results],
    }


def dumps(results: Sequence[BootResult]) -> str:
    """The document as indented text with sorted keys (the per-CPU lists of a large machine on
    one line each); config values JSON cannot hold become strings."""
    return "".join(text_pieces(results))


def text_pieces(results: Sequence[BootResult], *,
                rows: Sequence[Row] | None = None) -> list[str]:
    """The text of :func:`dumps` in pieces, to write one after the other without making the
    whole text one string (see :func:`kapic.report.jsontext.pieces`)."""
    return [*jsontext.pieces(compare_json(results, rows=rows), sort_keys=True, default=str),
            "\n"]
