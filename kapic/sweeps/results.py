"""A sweep's results file (JSONL) and the summary of it.

The first line describes the sweep: the grid, the base boot, the kapic version and the
platforms' parameters. Every other line is one finished run, written whole and flushed, so an
interrupted sweep loses nothing but the runs still going; ``--resume`` reads the file back,
checks it describes the same sweep, and skips what is done. A last line cut short (the process
killed while writing) is dropped when the sweep resumes.

``summarize(rows, by)`` groups the rows by the axes named and gives, per group, the median and
spread of the bring-up time and of the per-CPU kick-to-alive time, and the count of each
result class.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from kapic.errors import InputError
from kapic.sweeps.grid import Grid, GridError

__all__ = ["METRICS", "Group", "ResultsFile", "read_results", "summarize"]

FORMAT: Final = 1
RESULTS: Final = ("ok", "cpu-failed", "hung", "invalid-input", "plugin-error", "error")


class ResultsFile:
    """A sweep's JSONL file, open for appending runs."""

    def __init__(self, path: Path, header: dict[str, Any], *, resume: bool) -> None:
        self.path = path
        self.done: set[int] = set()
        if resume and path.exists():
            self.done = self._check_resume(header)
        elif resume:
            raise GridError(f"--resume {path}: no such file to resume")
        elif path.exists() and path.stat().st_size:
            raise GridError(f"{path} exists: give --resume to continue that sweep, or another "
                            "file")
        else:
            path.write_text(json.dumps(header, sort_keys=True) + "\n")
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def _check_resume(self, header: dict[str, Any]) -> set[int]:
        lines = self.path.read_text(encoding="utf-8").split("\n")
        try:
            first = json.loads(lines[0])
        except ValueError:
            raise InputError("not a kapic sweep file (its first line is not JSON)",
                             source=str(self.path)) from None
        if not isinstance(first, dict) or first.get("kapic_sweep") != FORMAT:
            raise InputError("not a kapic sweep file", source=str(self.path))
        if first.get("grid") != header["grid"]:
            theirs = Grid.from_json(first["grid"], str(self.path))
            ours = Grid.from_json(header["grid"], "the grid")
            raise GridError(f"--resume {self.path}: the file is another sweep: "
                            f"{theirs.describe_difference(ours)}")
        if first.get("base") != header["base"]:
            raise GridError(f"--resume {self.path}: the file's sweep has other boot options "
                            f"({_diff(first.get('base', {}), header['base'])})")
        done: set[int] = set()
        whole = [lines[0]]
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # the line being written when the process died
            if isinstance(row, dict) and isinstance(row.get("index"), int):
                done.add(row["index"])
                whole.append(line)
        self.path.write_text("\n".join(whole) + "\n")
        return done

    def write(self, line: str) -> None:
        """Append one finished run (its JSON line), whole, and flush it."""
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def _diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k} was {a.get(k)!r}, now {b.get(k)!r}" for k in keys)


def read_results(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A sweep file's header and rows (a cut-off last line is skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=path) from None
    except UnicodeDecodeError:
        raise InputError("not a kapic sweep file (not UTF-8 text)", source=path) from None
    lines = [line for line in text.split("\n") if line.strip()]
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("kapic_sweep") != FORMAT:
        raise InputError("not a kapic sweep file (no sweep header on its first line)",
                         source=path)
    rows = []
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "point" in row:
            rows.append(row)
    return header, rows


def _kick_to_alive_median(row: Mapping[str, Any]) -> int | None:
    if "kick_to_alive_median_ns" in row:  # a compact row
        value = row["kick_to_alive_median_ns"]
        return value if isinstance(value, int) else None
    times = sorted(c["kick_to_alive_ns"] for c in row.get("cpus", [])
                   if c.get("kick_to_alive_ns") is not None)
    return times[len(times) // 2] if times else None


def _per_cpu(row: Mapping[str, Any]) -> int | None:
    aps = row.get("cpus_online", 0) - 1
    return row["sim_time_ns"] // aps if aps > 0 and "sim_time_ns" in row else None


def _bringup(row: Mapping[str, Any]) -> int | None:
    value = row.get("sim_time_ns")
    return value if isinstance(value, int) else None


#: metric name -> (what it is, how to get it from a row)
METRICS: Final[Mapping[str, tuple[str, Callable[[Mapping[str, Any]], int | None]]]] = {
    "bringup": ("bring-up time", _bringup),
    "per-cpu": ("bring-up time per AP", _per_cpu),
    "kick-to-alive": ("kick to alive, median over the APs", _kick_to_alive_median),
}


@dataclass(frozen=True)
class Group:
    """The runs of one combination of the grouping axes."""

    key: tuple[Any, ...]
    runs: int
    counts: dict[str, int]
    #: the median run's CPUs online, and of how many
    online: tuple[int, int] | None
    #: metric -> (median, half the range) over the runs that have it, in ns
    stats: dict[str, tuple[int, int] | None]

    def to_json(self, by: Sequence[str]) -> dict[str, Any]:
        """The group as ``kapic sweep report --json`` shows it."""
        return {"group": dict(zip(by, self.key, strict=True)), "runs": self.runs,
                "results": self.counts,
                "cpus_online": ({"median": self.online[0], "of": self.online[1]}
                                if self.online else None),
                **{f"{m}_ns": {"median": s[0], "spread": s[1]} if s else None
                   for m, s in self.stats.items()}}


def summarize(rows: Iterable[Mapping[str, Any]], by: Sequence[str]) -> list[Group]:
    """The rows grouped by the axes ``by`` (in grid order of first appearance)."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r.get("index", 0)):
        key = tuple(row["point"].get(axis) for axis in by)
        groups.setdefault(key, []).append(row)
    out = []
    for key, members in groups.items():
        counts = {kind: sum(1 for r in members if r.get("result") == kind) for kind in RESULTS}
        stats: dict[str, tuple[int, int] | None] = {}
        for name, (_, get) in METRICS.items():
            values = [v for r in members if r.get("result") == "ok" and (v := get(r)) is not None]
            stats[name] = ((round(statistics.median(values)), (max(values) - min(values)) // 2)
                           if values else None)
        booted = sorted((r["cpus_online"], r["cpus_requested"]) for r in members
                        if isinstance(r.get("cpus_online"), int))
        online = booted[len(booted) // 2] if booted else None
        out.append(Group(key, len(members), {k: n for k, n in counts.items() if n}, online,
                         stats))
    return out
