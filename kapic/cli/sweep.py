"""``kapic sweep``: boot a grid of configurations, locally or on a dask cluster, into a file
that survives interruption; ``kapic sweep report FILE`` summarizes one."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from kapic.cli.common import print_json, whole_number
from kapic.errors import ConfigError

__all__ = ["add_parser"]

#: flag -> axis (each takes comma-separated values)
_AXIS_FLAGS = {"cpus": "cpus", "platform": "platform", "method": "method", "kernel": "kernel",
               "firmware": "firmware", "seeds": "seed"}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "sweep", help="boot a grid of configurations; 'sweep report FILE' summarizes one",
        description="Boot every point of a grid (from a TOML file or from the flags, which "
        "add to the file's axes) and stream one JSON line per run to -o FILE.jsonl. "
        "'kapic sweep report FILE.jsonl' summarizes a sweep file.")
    parser.add_argument("args", nargs="*", metavar="GRID.toml | report FILE.jsonl",
                        help="a grid file; or 'report' and a sweep file")
    axes = parser.add_argument_group("axes (comma-separated values; ranges like 0-99)")
    axes.add_argument("--cpus", metavar="N,N,...")
    axes.add_argument("--platform", metavar="P,P,...")
    axes.add_argument("--method", metavar="M,M,...")
    axes.add_argument("--kernel", metavar="V,V,...")
    axes.add_argument("--firmware", metavar="F,F,...")
    axes.add_argument("--seeds", metavar="S-S or S,S,...")
    axes.add_argument("--fault", action="append", default=[], metavar="NAME[:K=V,...]",
                      help="a value of the fault axis (repeatable; 'none' for no fault)")
    axes.add_argument("--param", action="append", default=[], metavar="KEY=V,V,...",
                      help="a platform parameter axis (repeatable)")
    axes.add_argument("--config", action="append", default=[], metavar="KEY=V,V,...",
                      help="a kernel configuration axis (repeatable)")
    axes.add_argument("--zip", action="append", default=[], metavar="AXIS,AXIS,...",
                      help="advance these axes together instead of crossing them")
    run = parser.add_argument_group("running")
    run.add_argument("-o", "--output", metavar="FILE.jsonl",
                     help="stream one line per run to this file (first line: the sweep)")
    run.add_argument("--resume", action="store_true",
                     help="continue the sweep in -o FILE: skip the runs it has")
    run.add_argument("--jobs", type=whole_number, default=None, metavar="N",
                     help="run N boots at a time in local processes")
    run.add_argument("--executor", metavar="dask://HOST:PORT",
                     help="run the boots on a dask.distributed cluster (kapic[dask])")
    report = parser.add_argument_group("report")
    report.add_argument("--by", metavar="AXIS,AXIS,...",
                        help="group by these axes (default: every axis but seed)")
    report.add_argument("--plot", metavar="FILE", help="draw METRIC against --x (kapic[plot])")
    report.add_argument("--metric", default="per-cpu", choices=("bringup", "per-cpu",
                                                                "kick-to-alive", "online"),
                        help="what --plot draws (default per-cpu; times of ok runs, or the "
                        "CPUs online of every run)")
    report.add_argument("--x", metavar="AXIS", help="the --plot x axis (default: the first "
                        "integer axis)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(func=run_command, json_errors=True)


def _grid(args: argparse.Namespace) -> Any:
    from kapic.sweeps.grid import Grid, GridError, parse_values

    axes: dict[str, Any] = {}
    zipped: list[tuple[str, ...]] = []
    source = "the command line"
    if args.args:
        path = args.args[0]
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GridError(f"{path}: cannot read the grid: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
        from_file = Grid.from_toml(text, path)
        axes.update(from_file.axes)
        zipped.extend(from_file.zip)
        source = path
    for flag, axis in _AXIS_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            axes[axis] = tuple(parse_values(axis, value))
    if args.fault:
        axes["fault"] = tuple("" if f == "none" else f for f in args.fault)
    for option, prefix in (("param", "param."), ("config", "config.")):
        for item in getattr(args, option):
            key, sep, values = item.partition("=")
            if not sep or not key:
                raise GridError(f"--{option} {item!r}: expected KEY=V,V,...")
            axes[prefix + key] = tuple(parse_values(prefix + key, values))
    for item in args.zip:
        zipped.append(tuple(n.strip() for n in item.split(",") if n.strip()))
    return Grid(axes, tuple(zipped), source)


@contextlib.contextmanager
def _executor(args: argparse.Namespace, runs: int) -> Iterator[Executor | None]:
    if args.executor and args.jobs:
        raise ConfigError("give --jobs or --executor, not both")
    if args.jobs:
        # no more processes than runs: each one starts and loads the plugins
        try:  # no semaphores or no fork here (a sandbox, some containers): one line
            pool = ProcessPoolExecutor(max_workers=max(1, min(args.jobs, runs)))
        except (OSError, NotImplementedError) as exc:
            raise ConfigError(f"--jobs {args.jobs}: worker processes cannot start here "
                              f"({type(exc).__name__}: {exc}); leave --jobs out") from None
        with pool:
            yield pool
        return
    if not args.executor:
        yield None
        return
    scheme, _, address = args.executor.partition("://")
    if scheme != "dask" or not address:
        raise ConfigError(f"--executor {args.executor}: expected dask://HOST:PORT")
    try:  # imported by name: dask.distributed is untyped, and optional
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise ConfigError(f"--executor {args.executor}: dask.distributed is not installed "
                          "(pip install 'kapic[dask]')") from None
    try:
        client = distributed.Client(f"tcp://{address}", timeout="5s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"--executor {args.executor}: cannot reach the dask scheduler at "
                          f"{address}: {exc}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()


class _Progress:
    """``sweep [####....] 120/1000 runs, 35.2/s, ETA 25 s`` on a terminal's stderr."""

    def __init__(self, total: int, stream: TextIO, clock: Callable[[], float] = time.monotonic):
        self.total, self.stream, self.clock = total, stream, clock
        self.start = clock()
        self.last = 0.0
        self.on = stream.isatty()

    def __call__(self, done: int) -> None:
        now = self.clock()
        if not self.on or (now - self.last < 0.1 and done < self.total):
            return
        self.last = now
        rate = done / (now - self.start) if now > self.start else 0.0
        eta = f", ETA {(self.total - done) / rate:.0f} s" if rate and done < self.total else ""
        filled = 30 * done // self.total if self.total else 30
        self.stream.write(f"\r\x1b[2Ksweep [{'#' * filled}{'.' * (30 - filled)}] "
                          f"{done}/{self.total} runs, {rate:.1f}/s{eta}")
        self.stream.flush()

    def close(self) -> None:
        if self.on:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def run_command(args: argparse.Namespace) -> int:
    if args.args and args.args[0] == "report":
        if len(args.args) != 2:
            raise ConfigError("usage: kapic sweep report FILE.jsonl [--by AXIS,...] [--json] "
                              "[--plot FILE]")
        return _report(args, args.args[1])
    if len(args.args) > 1:
        raise ConfigError(f"one grid file, not {len(args.args)}: {' '.join(args.args)}")
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from kapic.api import BootSpec
    from kapic.plugin import PluginHost
    from kapic.sweeps.results import ResultsFile, summarize
    from kapic.sweeps.run import check_grid, compact, sweep_lines

    grid = _grid(args)
    if args.resume and not args.output:
        raise ConfigError("--resume continues the sweep in -o FILE: give -o")
    blocked = [opt[3:] for opt in args.plugin_options if opt.startswith("no:")]
    host = PluginHost.from_options(args.plugin_options)
    base = BootSpec()
    check_grid(grid, host, base)
    platforms = {str(p): dict(host.platform(str(p)).params)
                 for p in grid.axes.get("platform", (base.platform,))}
    try:
        kapic_version = version("kapic")
    except PackageNotFoundError:  # a checkout on sys.path, not installed
        kapic_version = "unknown"
    header = {"kapic_sweep": 1, "kapic_version": kapic_version, "grid": grid.to_json(),
              "base": base.to_json(), "platforms": platforms}
    out = ResultsFile(Path(args.output), header, resume=args.resume) if args.output else None
    skip = out.done if out is not None else set()
    rows: list[dict[str, Any]] = []
    progress = _Progress(grid.size, sys.stderr)
    done = len(skip)
    try:
        with _executor(args, grid.size - len(skip)) as executor:
            for line, row in sweep_lines(grid, executor, base=base, skip=skip, plugins=host,
                                         blocked=blocked):
                done += 1
                progress(done)
                if out is not None:
                    out.write(line)
                rows.append(row)
    except KeyboardInterrupt:
        progress.close()
        where = f"; {done} of {grid.size} runs are in {args.output}, --resume continues" \
            if out is not None else ""
        print(f"kapic: sweep interrupted{where}", file=sys.stderr)
        return 130
    finally:
        if out is not None:
            out.close()
    progress.close()
    if args.output and args.resume:
        from kapic.sweeps.results import read_results

        rows = [compact(r) for r in read_results(args.output)[1]]
    by = _by(args, list(grid.axes))
    groups = summarize(rows, by)
    if args.json:
        print_json({"schema_version": 1, "runs": len(rows), "by": by,
                    "groups": [g.to_json(by) for g in groups]})
    else:
        _table(groups, by, sys.stdout)
        sys.stdout.flush()
        if args.output:
            print(f"kapic: {len(rows)} runs in {args.output}", file=sys.stderr)
    return 0


def _by(args: argparse.Namespace, axes: list[str]) -> list[str]:
    if args.by:
        by = [a.strip() for a in args.by.split(",") if a.strip()]
        unknown = [a for a in by if a not in axes]
        if unknown:
            raise ConfigError(f"--by {args.by}: {unknown[0]!r} is no axis of the sweep "
                              f"(axes: {', '.join(axes)})")
        return by
    return [a for a in axes if a != "seed"]


def _report(args: argparse.Namespace, path: str) -> int:
    from kapic.sweeps.results import read_results, summarize

    header, rows = read_results(path)
    axes = list(header.get("grid", {}).get("axes", {}))
    by = _by(args, axes)
    groups = summarize(rows, by)
    if args.json:
        print_json({"schema_version": 1, "file": path, "runs": len(rows), "by": by,
                    "groups": [g.to_json(by) for g in groups]})
        if args.plot:
            _plot(args, rows, axes, Path(args.plot))
        return 0
    _table(groups, by, sys.stdout)
    sys.stdout.flush()
    if args.plot:
        _plot(args, rows, axes, Path(args.plot))
    return 0


def _table(groups: list[Any], by: list[str], out: TextIO) -> None:
    from kapic.report.table import format_table
    from kapic.report.units import format_ns

    def stat(value: tuple[int, int] | None) -> str:
        if value is None:
            return "-"
        return f"{format_ns(value[0])} ±{format_ns(value[1])}" if value[1] else format_ns(value[0])

    header = [a.upper() for a in by] + ["RUNS", "ONLINE", "BRING-UP", "PER AP",
                                        "KICK TO ALIVE", "RESULTS"]
    body = [[("-" if k in ("", None) else str(k)) for k in g.key]
            + [str(g.runs), f"{g.online[0]}/{g.online[1]}" if g.online else "-",
               stat(g.stats["bringup"]), stat(g.stats["per-cpu"]),
               stat(g.stats["kick-to-alive"]),
               ", ".join(f"{n} {kind}" for kind, n in g.counts.items())]
            for g in groups]
    numeric = frozenset(range(len(by), len(by) + 5))
    out.write(format_table(header, body, numeric) + "\n")
    out.write("\nMedian over the runs of each group (± half the range); ONLINE: the median "
              "run's CPUs online; PER AP: bring-up / APs online; KICK TO ALIVE: the median AP "
              "of each run. Times of ok runs only.\n")


def _plot(args: argparse.Namespace, rows: list[dict[str, Any]], axes: list[str],
          path: Path) -> None:
    from kapic.sweeps.plot import plot_sweep

    x = args.x or next((a for a in axes if a in ("cpus",) or a.startswith("param.")), None)
    if x is None or x not in axes:
        raise ConfigError(f"--x {args.x}: name an axis of the sweep ({', '.join(axes)})")
    lines_by = [a for a in (_by(args, axes) if args.by else axes) if a not in (x, "seed")]
    plot_sweep(rows, x=x, lines_by=lines_by, metric=args.metric, path=path)
    print(f"kapic: plot written to {path}", file=sys.stderr)

