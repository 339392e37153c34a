"""The plain-language verdict under the compare table, computed from the rows themselves.

Nothing here knows which method "should" win: every statement is derived from the figures of
the rows (:mod:`kapic.report.rows`), and a difference is stated only when it exceeds the
run-to-run spread (:meth:`~kapic.report.rows.Row.differs`: rows under the same seeds are
compared seed by seed, others by their ranges); otherwise the statement says the two are the
same within run-to-run variation. Each statement is also data (the rows it
compares, the ratio, the difference, whether it exceeds the spread) for ``--json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Final

from kapic.report.rows import COST_PARTS, Row, group_rows
from kapic.report.stats import failure_reasons, relies_on_hypervisor
from kapic.report.units import format_ns
from kapic.result import BootResult

__all__ = ["Statement", "verdict_lines", "verdict_statements"]

#: at most this many rows are compared pairwise for their whole bring-up
MAX_PAIRED_ROWS: Final = 6
_PART_WORDS: Final = dict(COST_PARTS)


@dataclass(frozen=True, slots=True)
class Statement:
    """One sentence of the verdict, and what it rests on."""

    kind: str
    text: str
    rows: tuple[str, ...] = ()
    ratio: float | None = None
    difference_ns: int | None = None
    exceeds_spread: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "rows": list(self.rows),
                "ratio": self.ratio, "difference_ns": self.difference_ns,
                "exceeds_spread": self.exceeds_spread}


def _pair(kind: str, part: str, a: Row, b: Row, differs: str, same: str) -> Statement:
    """A comparison of two rows' figures: ``differs`` and ``same`` are format strings with
    {fast}, {slow}, {f}, {s}, {ratio}, {diff}."""
    rows = (a.label, b.label)
    sa, sb = a.spread(part), b.spread(part)
    assert sa.median is not None and sb.median is not None
    if not a.differs(b, part):
        text = same.format(fast=a, slow=b, f=sa.format(), s=sb.format())
        return Statement(kind, text, rows, None, None, False)
    (fast, f), (slow, s) = sorted(((a, sa), (b, sb)), key=lambda x: x[1].median or 0)
    assert f.median is not None and s.median is not None
    ratio = s.median / f.median if f.median else None
    diff = s.median - f.median
    shown = ("far" if not ratio else f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2f}x"
             if ratio >= 1.01 else f"{ratio:.4f}x")
    text = differs.format(fast=fast, slow=slow, f=f.format(), s=s.format(), ratio=shown,
                          diff=format_ns(diff))
    return Statement(kind, text, (fast.label, slow.label), ratio, diff, True)


def _wakeup(compared: Sequence[Row]) -> list[Statement]:
    methods = list(dict.fromkeys(r.asked for r in compared))
    if len(methods) < 2:
        return [Statement("wakeup", f"Only {methods[0]} brought every AP up as asked; there is no "
                          "other method to compare.")] if methods else []
    out = []
    pairs = [(a, b) for a, b in combinations(compared[:MAX_PAIRED_ROWS], 2) if a.asked != b.asked]
    for a, b in pairs:
        if a.spread("wakeup").median is None or b.spread("wakeup").median is None:
            continue
        out.append(_pair(
            "wakeup", "wakeup", a, b,
            "Wakeup per CPU: {fast.method} costs {f} on {fast.platform} against {s} for "
            "{slow.method} on {slow.platform}: {ratio} cheaper, {diff} less per CPU.",
            "Wakeup per CPU: {fast.method} on {fast.platform} ({f}) and {slow.method} on "
            "{slow.platform} ({s}) cost the same within run-to-run variation.",
        ))
    return out


def _why(fast: Row, slow: Row) -> str:
    """What the whole-bring-up difference of two rows comes from.

    Serial bring-up adds each AP's parts up, so the part that differs most per CPU is most of
    the difference. In parallel mode the start-ups overlap and the sum says little, so both
    parts are given; and when one row is serial and the other parallel, the mode is the cause.
    """
    (fast_mode, _), (slow_mode, slow_why) = fast.mode, slow.mode
    if fast_mode != slow_mode and slow_mode == "serial":
        return f"mostly because {slow.platform} brings its CPUs up one by one ({slow_why})"
    same_platform = fast.platform == slow.platform
    f_name, s_name = ((fast.method, slow.method) if same_platform
                      else (fast.platform, slow.platform))
    figures = {part: (fast.spread(part).median, slow.spread(part).median)
               for part, _ in COST_PARTS}
    if fast_mode == slow_mode == "serial":
        gaps = [(s - f, part) for part, (f, s) in figures.items()
                if f is not None and s is not None]
        if gaps:
            _gap, part = max(gaps)
            f, s = figures[part]
            return (f"mostly {_PART_WORDS[part]}: {format_ns(s)} per CPU with {s_name} "
                    f"against {format_ns(f)} with {f_name}")
    words = {"wakeup": "wakeup", "startup": "start-up", "waiting": "waiting"}
    parts = ", ".join(f"{words[part]} {format_ns(f)} against {format_ns(s)}"
                      for part, (f, s) in figures.items() if f is not None and s is not None)
    modes = f" ({fast_mode} against {slow_mode})" if not same_platform else ""
    return f"per CPU with {f_name} against {s_name}{modes}: {parts}"


def _totals(compared: Sequence[Row]) -> list[Statement]:
    out = []
    for a, b in combinations(compared[:MAX_PAIRED_ROWS], 2):
        if a.spread("total").median is None or b.spread("total").median is None:
            continue
        st = _pair("total", "total", a, b,
                   "Whole bring-up: {fast.label} takes {f} against {s} for {slow.label} "
                   "({ratio} faster, {diff} less)",
                   "Whole bring-up: {fast.label} ({f}) and {slow.label} ({s}) take the same "
                   "time within run-to-run variation.")
        if st.exceeds_spread:
            fast, slow = (a, b) if st.rows[0] == a.label else (b, a)
            st = Statement(st.kind, f"{st.text}; {_why(fast, slow)}.", st.rows, st.ratio,
                           st.difference_ns, True)
        out.append(st)
    return out


def _startup(compared: Sequence[Row]) -> list[Statement]:
    figures = [(r, r.spread("startup")) for r in compared]
    known = [f"{r.platform} {s.format()}" for r, s in figures if s.median is not None]
    if not known:
        return []
    return [Statement("startup", "AP start-up per CPU (the platform, not the method): "
                      f"{', '.join(dict.fromkeys(known))}.",
                      tuple(r.label for r, _ in figures))]


def _trust(rows: Sequence[Row]) -> list[Statement]:
    done = [r for r in rows if r.outcome == "ok" and r.ran_as_asked]
    out = []
    for needs, title in ((False, "Needs no help from the hypervisor"),
                         (True, "Relies on the hypervisor")):
        picked = [r for r in done if relies_on_hypervisor(r.result) is needs]
        if picked:
            items = "; ".join(
                f"{r.label} ({r.result.counters.get('vm_exits', 0)} hypervisor exits, "
                f"trusts {', '.join(r.result.trust) or 'nothing named'})" for r in picked)
            out.append(Statement("trust", f"{title}: {items}.", tuple(r.label for r in picked)))
    return out


def _problems(rows: Sequence[Row]) -> list[Statement]:
    out = []
    for r in rows:
        if r.outcome == "ok":
            if not r.ran_as_asked:
                ran = ", ".join(r.result.methods)
                out.append(Statement(
                    "not-as-asked", f"{r.asked} was asked for on {r.platform}, but {ran} woke "
                    "the CPUs: the row is left out of the comparison.", (r.label,)))
            continue
        what = {
            "not-applicable": "is not possible",
            "hung": "hung (stopped by the watchdog)",
            "invalid-input": "rejected its input",
            "plugin-error": "was stopped by a plugin's error (left out of the comparison)",
        }.get(r.outcome, f"brought {r.result.cpus_online} of {r.result.cpus_requested} CPUs "
                         f"online ({r.outcome})")
        why = "; ".join(failure_reasons(r.result)) or "no reason recorded"
        out.append(Statement("failure", f"{r.label} {what}: {why}.", (r.label,)))
    return out


def verdict_statements(results: Sequence[BootResult]) -> list[Statement]:
    """The verdict on the runs, grouped into rows: wakeup costs, whole bring-up, start-up,
    reliance on the hypervisor and failures, in that order."""
    return row_statements(group_rows(results))


def row_statements(rows: Sequence[Row]) -> list[Statement]:
    """:func:`verdict_statements` of rows already grouped (their cost splits are made once)."""
    if not rows:
        return []
    compared = [r for r in rows if r.outcome == "ok" and r.ran_as_asked]
    out: list[Statement] = []
    if not compared:
        out.append(Statement("note", "No run brought every AP up as asked, so there is no "
                             "speed to compare."))
    if compared and max(len(r.runs) for r in rows) == 1:
        out.append(Statement("note", "One run per row: no run-to-run spread was measured, so "
                             "every difference is stated (use --repeat)."))
    if len(compared) > MAX_PAIRED_ROWS:
        out.append(Statement("note", f"Only the first {MAX_PAIRED_ROWS} rows that brought every "
                             f"AP up are compared pair by pair ({len(compared)} did)."))
    out += [*_wakeup(compared), *_totals(compared), *_startup(compared), *_trust(rows),
            *_problems(rows)]
    return out


def verdict_lines(results: Sequence[BootResult]) -> list[str]:
    """The statements as sentences."""
    return [s.text for s in verdict_statements(results)]
