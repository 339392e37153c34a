"""Running a grid: one boot per grid point, on any ``concurrent.futures`` executor.

``sweep(grid)`` yields one row per grid point as the boots finish: the point's ``kapic boot
--json`` object with ``index`` (the point's place in the grid) and ``point`` added. A boot
that ends badly is a row like any other (``cpu-failed``, ``hung``, ``plugin-error``); a grid
point kapic refuses (an unreadable table, say) is an ``invalid-input`` row, and one that makes
kapic itself fail an ``error`` row with the traceback: the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from pathlib import Path
from typing import Any

from kapic.api import BootSpec, check_faults, run_boot
from kapic.errors import ConfigError, InputError, KapicError, PluginError
from kapic.kernel.config import KernelConfig
from kapic.platforms.model import PARAM_DOCS
from kapic.plugin import PluginHost, worker_host
from kapic.sweeps.grid import Grid, GridError, Point
from kapic.versions import parse_kernel_version

__all__ = ["check_grid", "compact", "run_point", "run_point_line", "spec_of", "sweep",
           "sweep_lines"]


def spec_of(point: Mapping[str, Any], base: BootSpec) -> BootSpec:
    """The boot of one grid point: ``base`` with the point's values."""
    params = {k.removeprefix("param."): str(v) for k, v in point.items() if k.startswith("param.")}
    config = {k.removeprefix("config."): str(v) for k, v in point.items()
              if k.startswith("config.")}
    changes: dict[str, Any] = {"params": {**base.params, **params},
                               "config": {**base.config, **config}}
    for name in ("platform", "method", "kernel", "firmware", "madt"):
        if name in point:
            changes[name] = str(point[name])
    if "cpus" in point:
        changes["cpus"] = int(point["cpus"])
    if "seed" in point:
        changes["seed"] = int(point["seed"])
    if point.get("fault"):
        changes["faults"] = (*base.faults, str(point["fault"]))
    return dataclasses.replace(base, **changes)


def check_grid(grid: Grid, host: PluginHost, base: BootSpec) -> None:
    """Check every value of every axis before anything runs; a :class:`GridError` names the
    axis and the value."""
    def bad(name: str, value: object, why: str) -> GridError:
        return GridError(f"{grid.source}: axis {name}: {value!r}: {why}")

    for name, values in grid.axes.items():
        for value in values:
            try:
                if name == "platform":
                    host.platform(str(value))
                elif name == "method":
                    host.method(str(value))
                elif name == "firmware":
                    host.firmware(str(value))
                elif name == "kernel":
                    parse_kernel_version(str(value))
                elif name == "fault" and value:
                    check_faults([*base.faults, str(value)], host)
                elif name == "madt" and not Path(str(value)).is_file():
                    raise ConfigError("no such file")
                elif name.startswith("param."):
                    key = name.removeprefix("param.")
                    if key not in PARAM_DOCS:
                        raise ConfigError(f"no platform parameter {key!r} (known: "
                                          f"{', '.join(sorted(PARAM_DOCS))})")
                    if not isinstance(value, int) or value < 0:
                        raise ConfigError("not a non-negative integer")
                elif name.startswith("config."):
                    KernelConfig.from_options({name.removeprefix("config."): str(value)})
            except KapicError as exc:
                raise bad(name, value, str(exc)) from None
    if "cpus" in grid.axes and "madt" in grid.axes:
        raise GridError(f"{grid.source}: axes cpus and madt: a boot takes one or the other")


def run_point(job: tuple[int, Point, dict[str, Any], Sequence[str]],
              host: PluginHost | None = None) -> dict[str, Any]:
    """Boot one grid point (a top-level function, so any executor can run it): ``job`` is
    (index, point, the base spec as JSON, plugins blocked); the row it makes."""
    index, point, base_json, blocked = job
    row: dict[str, Any] = {"index": index, "point": dict(point)}
    try:
        spec = spec_of(point, BootSpec.from_json(base_json))
        result = run_boot(spec, plugins=host or worker_host(tuple(blocked)),
                          recording="summary")
        row.update(result.to_json())
    except KapicError as exc:
        kind = ("plugin-error" if isinstance(exc, PluginError)
                else "invalid-input" if isinstance(exc, InputError | ConfigError) else "error")
        row.update({"schema_version": 1, "result": kind, "error": str(exc),
                    "reasons": [str(exc)]})
        if isinstance(exc, PluginError):
            row["plugin_error"] = exc.to_json()
    except Exception as exc:
        row.update({"schema_version": 1, "result": "error",
                    "error": f"{type(exc).__name__}: {exc}",
                    "reasons": [f"kapic failed: {type(exc).__name__}: {exc}"],
                    "traceback": traceback.format_exc()})
    return row


#: what a sweep's summary reads of a row
_SUMMARY_KEYS = ("index", "point", "result", "sim_time_ns", "cpus_online", "cpus_requested")


def compact(row: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a row the summary needs (the APs' median kick-to-alive precomputed)."""
    out = {k: row[k] for k in _SUMMARY_KEYS if k in row}
    times = sorted(c["kick_to_alive_ns"] for c in row.get("cpus", [])
                   if c.get("kick_to_alive_ns") is not None)
    out["kick_to_alive_median_ns"] = times[len(times) // 2] if times else None
    return out


def run_point_line(job: tuple[int, Point, dict[str, Any], Sequence[str]],
                   host: PluginHost | None = None) -> tuple[str, dict[str, Any]]:
    """:func:`run_point`, with the row already as its JSON line: the worker that booted it
    encodes it, so the process writing the file does not (and a compact row for the
    summary)."""
    row = run_point(job, host)
    return json.dumps(row, separators=(",", ":")), compact(row)


def sweep_lines(grid: Grid, executor: Executor | None = None, *, base: BootSpec,
                skip: Collection[int] = (), plugins: PluginHost | None = None,
                blocked: Sequence[str] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """:func:`sweep` as the command runs it: (JSON line, compact row) per finished run."""
    yield from _run(grid, executor, run_point_line, base, skip, plugins, blocked)


def _run(grid: Grid, executor: Executor | None, work: Any, base: BootSpec,
         skip: Collection[int], plugins: PluginHost | None,
         blocked: Sequence[str]) -> Iterator[Any]:
    base_json = base.to_json()
    jobs = [(index, point, base_json, tuple(blocked))
            for index, point in enumerate(grid.points()) if index not in skip]
    if executor is None:
        host = plugins or PluginHost(blocked=list(blocked))
        for job in jobs:
            yield work(job, host)
        return
    # a few boots per job: one round trip to the worker per boot costs as much as a small boot
    size = max(1, min(_CHUNK, len(jobs) // 64))
    chunks = [jobs[n:n + size] for n in range(0, len(jobs), size)]
    futures: list[Future[list[Any]]] = [executor.submit(_chunk, work, c) for c in chunks]
    try:
        for future in as_completed(futures):
            yield from future.result()
    finally:
        for future in futures:
            future.cancel()


#: the most boots one executor job runs
_CHUNK = 8


def _chunk(work: Any, jobs: Sequence[tuple[int, Point, dict[str, Any], Sequence[str]]]) -> list[Any]:
    """Run a few grid points in one executor job."""
    return [work(job) for job in jobs]


def sweep(grid: Grid, executor: Executor | None = None, *, base: BootSpec | None = None,
          skip: Collection[int] = (), plugins: PluginHost | None = None,
          blocked: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """Boot every grid point (but the indices in ``skip``), yielding rows as they finish.

    Without ``executor`` the boots run here, one after the other (with ``plugins``, or the
    installed ones); with one, each is a job of ``executor``, which the sweep never shuts
    down. ``blocked`` names plugins the boots run without (``-p no:NAME``).
    """
    yield from _run(grid, executor, run_point, base or BootSpec(), skip, plugins, blocked)
