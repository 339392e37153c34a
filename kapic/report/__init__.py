"""Renderers of ``kapic compare``: statistics, table and verdict, blame, JSON, trace, plot.

Everything here takes :class:`~kapic.result.BootResult` objects and returns text or writes a
file; nothing runs a simulation. matplotlib is imported only by :func:`write_plot`.
"""

from kapic.report.blame import blame_order, render_blame
from kapic.report.jsonout import compare_json, dumps, run_json
from kapic.report.plot import check_plot_path, require_matplotlib, write_plot
from kapic.report.progress import ProgressBar, progress_bar
from kapic.report.rows import CostSplit, Row, Spread, cost_split, group_rows
from kapic.report.stats import RunStats, nearest_rank, run_stats
from kapic.report.table import render_compare, render_table, table_row
from kapic.report.trace import build_trace, validate_trace, write_trace
from kapic.report.units import format_ns
from kapic.report.verdict import Statement, verdict_lines, verdict_statements

__all__ = [
    "CostSplit",
    "ProgressBar",
    "Row",
    "RunStats",
    "Spread",
    "Statement",
    "blame_order",
    "build_trace",
    "check_plot_path",
    "compare_json",
    "cost_split",
    "dumps",
    "format_ns",
    "group_rows",
    "nearest_rank",
    "progress_bar",
    "render_blame",
    "render_compare",
    "render_table",
    "require_matplotlib",
    "run_json",
    "run_stats",
    "table_row",
    "validate_trace",
    "verdict_lines",
    "verdict_statements",
    "write_plot",
    "write_trace",
]
