"""``kapic compare``: run every wakeup method on every platform it applies to, side by side.

The table (or ``--json``) goes to stdout; the progress bar and notes about written files to
stderr. Exit status: 0 when the comparison was made, including rows that show a method as not
possible, a CPU failure or a hang stopped by the watchdog (each is a result, shown as such);
1 when a run rejected its input (``invalid-input``) or the MADT file is missing; 4 when a
plugin broke a run (its row reads ``plugin-error``, the verdict leaves it out); a
:class:`~kapic.errors.KapicError` raised on the way gives its own status (2 for bad options).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kapic.cli.common import (
    add_machine_options,
    key_values,
    platform_params,
    watchdog_ns,
    whole_number,
)
from kapic.errors import ConfigError, ExitCode, InputError, MissingFirmwareError, PluginError

if TYPE_CHECKING:
    from kapic.api import BootSpec
    from kapic.result import BootResult

__all__ = ["DEFAULT_REPEAT", "add_parser", "run"]

#: runs per row: enough for a spread, and the default machine still answers in about 0.3 s
DEFAULT_REPEAT = 5


#: --jobs auto: the CPUs x runs from which starting a process per core pays off (each worker
#: imports kapic and its plugins again, about half a second; 2,048 CPUs x 16 runs is about
#: 2.4 s on one core)
AUTO_JOBS_WORK = 32_768


def _jobs(text: str) -> int | str:
    """``--jobs``: ``auto`` or a whole number."""
    return "auto" if text == "auto" else whole_number(text)


def auto_jobs(cpus: int, runs: int, cores: int | None) -> int:
    """How many processes ``--jobs auto`` starts: one per core (at most one per run) when the
    comparison is worth it, else 1 (a small one is done before the processes would start)."""
    if cpus * runs < AUTO_JOBS_WORK or not cores:
        return 1
    return max(1, min(cores, runs))


def add_parser(subparsers: Any) -> None:
    """Add the ``compare`` sub-parser to ``subparsers`` (from ``add_subparsers``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="compare the wakeup methods side by side",
        description="Run every wakeup method on every platform it applies to and show the "
        "runs side by side (default: 8 CPUs, upstream kernel).",
    )
    add_machine_options(p, many=True)
    p.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, metavar="N",
                   help="run each row under N seeds (--seed, --seed+1, ...) and show the "
                   f"median and the spread (default {DEFAULT_REPEAT})")
    p.add_argument("--jobs", type=_jobs, default="auto", metavar="N|auto",
                   help="run the boots on N local processes (the same results, sooner on a "
                   "machine with N cores); auto (the default): one per core for a comparison "
                   f"of at least {AUTO_JOBS_WORK:,} CPU-boots (CPUs x planned runs), else 1")
    p.add_argument("--same-platform", action="store_true",
                   help="compare methods only on platforms where several apply")
    p.add_argument("--blame", action="store_true", help="also list the slowest CPUs first")
    p.add_argument("--trace", metavar="FILE", help="write a Perfetto/Chrome trace (JSON)")
    p.add_argument("--plot", metavar="FILE", help="draw a timeline (.png or .svg)")
    p.set_defaults(func=run, json_errors=True)


def _render(results: list[BootResult], args: argparse.Namespace) -> None:
    from kapic.report import (
        group_rows,
        render_blame,
        render_compare,
        write_plot,
        write_trace,
    )
    from kapic.report.jsonout import text_pieces

    rows = group_rows(results)  # the pictures draw each row's median run and its spread
    if args.json:
        out = text_pieces(results, rows=rows)  # tens of MB at 65,536 CPUs: written without a copy
    else:
        out = [render_compare(results, rows=rows)]
        if args.blame:
            out += ["\nBlame (kick to alive, slowest first):\n\n",
                    render_blame([row.result for row in rows])]
    for piece in out:
        sys.stdout.write(piece)
    sys.stdout.flush()
    if args.trace is not None:
        write_trace(rows, args.trace)
        print(f"kapic: trace written to {args.trace} (open in ui.perfetto.dev)", file=sys.stderr)
    if args.plot is not None:
        write_plot(rows, args.plot)
        print(f"kapic: plot written to {args.plot}", file=sys.stderr)


def _check_writable(option: str, path: str) -> None:
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{option}: is a directory, not a file", source=path)
    if not target.parent.is_dir():
        raise InputError(f"{option}: directory {str(target.parent)!r} does not exist", source=path)


def _spool(stack: contextlib.ExitStack, source: str) -> str:
    """Standard input, a FIFO or a device saved to a file: every run of the comparison reads
    the MADT again, and such an input can be read only once."""
    from kapic.acpi.loader import read_input

    data = read_input(source)
    directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="kapic-"))
    path = Path(directory) / "spooled-madt"
    path.write_bytes(data)
    return str(path)


def _run_one(spec: Any, host: Any, label: str | None) -> BootResult:
    """One run of a row (``label`` None: no progress bar, for a worker process)."""
    from kapic.api import mark_unavailable, not_possible, plugin_error, run_boot
    from kapic.report import progress_bar

    bar = None if label is None else progress_bar(label=label)
    try:
        result = run_boot(spec, plugins=host, progress=bar, recording="spans")
    except MissingFirmwareError as exc:  # the platform's firmware plugin is not installed
        return not_possible(spec, f"cannot be set up: {exc}")
    except PluginError as exc:  # a plugin broke the run before it started: a row says so
        return plugin_error(spec, exc)
    finally:
        if bar is not None:
            bar.close()
    return result if result.result == "plugin-error" else mark_unavailable(result, host)


def _run_job(job: tuple[BootSpec, tuple[str, ...]]) -> BootResult:
    """One run in a worker process (a top-level function, so the pool can pickle it)."""
    from kapic.plugin import worker_host

    spec, blocked = job
    return _run_one(spec, worker_host(blocked), None)


def _ignore_sigint() -> None:
    """A worker leaves Ctrl-C to the parent, which stops the pool (no trace per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class WorkersUnavailable(Exception):
    """Worker processes cannot be started here (the message says why)."""


def _cores() -> int | None:
    """The cores this process may run on (its affinity, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def _run_parallel(rows: list[list[BootSpec]], blocked: tuple[str, ...],
                  jobs: int) -> list[BootResult]:
    """Every row's runs on ``jobs`` processes, in the order the serial loop gives them: each
    row's first run, then the others of the rows that were possible; as serially, a row ends
    at its first run that is not possible. Each boot is deterministic, so the results are the
    same. The first error a run raises stops the pool and is raised here, as is Ctrl-C."""
    from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait

    from kapic.report import progress_bar

    total = sum(len(specs) for specs in rows)
    workers = min(jobs, total)
    bar = progress_bar(label=f"compare, {workers} processes", unit="runs")
    done = 0

    def gather(futures: list[Future[BootResult]]) -> list[BootResult]:
        nonlocal done
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in finished:
                future.result()  # the first error, as soon as it is known
            done += len(finished)
            if bar is not None:
                bar(done, total)
        return [f.result() for f in futures]

    try:  # no semaphores or no fork here (a sandbox, some containers): say so, no traceback
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
        first_futures = [pool.submit(_run_job, (specs[0], blocked)) for specs in rows]
    except (OSError, NotImplementedError) as exc:
        if bar is not None:
            bar.close()
        raise WorkersUnavailable(f"{type(exc).__name__}: {exc}") from None
    try:
        firsts = gather(first_futures)
        possible = [first.result != "not-applicable" for first in firsts]
        total -= sum(len(specs) - 1 for specs, ok in zip(rows, possible, strict=True) if not ok)
        later = [[pool.submit(_run_job, (spec, blocked)) for spec in specs[1:]] if ok else []
                 for specs, ok in zip(rows, possible, strict=True)]
        rest = gather([f for futures in later for f in futures])
    except BaseException:
        # The queued runs are dropped; a running one finishes (its worker ignores Ctrl-C) and
        # the process exits after it. Killing the workers instead can leave the pool's
        # threads waiting forever at exit.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown()
    finally:
        if bar is not None:
            bar.close()
    results: list[BootResult] = []
    it = iter(rest)
    for first, futures in zip(firsts, later, strict=True):
        row = [first, *(next(it) for _ in futures)]
        for result in row:  # as serially: the row ends at its first run that is not possible
            results.append(result)
            if result.result == "not-applicable":
                break
    return results


def run(args: argparse.Namespace) -> int:
    """Run the comparison described by ``args``; return the exit status."""
    with contextlib.ExitStack() as stack:
        madt = args.madt
        if madt == "-" or (madt is not None and Path(madt).exists()
                           and not Path(madt).is_dir() and not Path(madt).is_file()):
            args.madt_name = "<stdin>" if madt == "-" else madt
            args.madt = _spool(stack, madt)
        return _compare(args)


def _compare(args: argparse.Namespace) -> int:
    from kapic.report import check_plot_path, require_matplotlib

    # Every check that can fail does so before the first simulation, not minutes later.
    for option, path in (("--trace", args.trace), ("--plot", args.plot)):
        if path is not None:
            _check_writable(option, path)
    if args.plot is not None:
        check_plot_path(args.plot)
        require_matplotlib()
    if args.madt is not None and not Path(args.madt).exists():
        raise InputError("no such file", source=args.madt)
    if args.madt is not None and Path(args.madt).is_dir():
        raise InputError("is a directory, not a table file", source=args.madt)

    config = key_values(args.config, "--config")
    params = platform_params(args)
    watchdog = watchdog_ns(args.watchdog)
    # Imported here so that `kapic --help` does not load the simulator and its plugins.
    from kapic.api import DEFAULT_CPUS, BootSpec, check_faults, compare_plan

    cpus: int | None = args.cpus
    if cpus is None and args.madt is None:
        cpus = DEFAULT_CPUS
    from kapic.plugin import AUTOLOAD_ENV, PluginHost

    if not 1 <= args.repeat <= 1000:
        raise ConfigError(f"--repeat {args.repeat}: must be between 1 and 1000")
    if args.jobs != "auto" and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: give at least 1 process")
    host = PluginHost.from_options(args.plugin_options)
    if args.firmware is not None:
        host.firmware(args.firmware)  # an unknown model is a usage error before any run
    check_faults(args.fault, host)  # so is an unknown fault or parameter, or one given twice
    table_cpus = 0
    if args.madt is not None:  # a bad table fails here, before any run
        from kapic.api import load_madt_noted

        madt, note = load_madt_noted(args.madt, host, args.table,
                                     name=getattr(args, "madt_name", None))
        from kapic.acpi.cpus import madt_cpu_entries

        table_cpus = sum(1 for e in madt_cpu_entries(madt) if e.enabled)
        if note and not args.json:
            print(f"kapic: note: {note}", file=sys.stderr)
    elif args.table is not None:
        raise ConfigError(f"--table {args.table} picks one MADT of --madt FILE: give --madt")
    plan = compare_plan(args.platform, args.method, plugins=host,
                        same_platform=args.same_platform, firmware=args.firmware)
    if not plan:
        raise ConfigError("nothing to compare: no wakeup method is installed (plugins blocked, "
                          f"or {AUTOLOAD_ENV} set?)")
    rows = [[BootSpec(
                platform=platform,
                kernel=args.kernel,
                method=method,
                cpus=cpus,
                madt=args.madt,
                table=args.table,
                config=config,
                params=params,
                seed=args.seed + repeat,
                watchdog_ns=watchdog,
                firmware=args.firmware,
                faults=tuple(args.fault),
            ) for repeat in range(args.repeat)] for method, platform in plan]
    jobs = args.jobs
    if jobs == "auto":
        work = cpus if cpus is not None else table_cpus
        jobs = auto_jobs(work, sum(len(specs) for specs in rows), _cores())
    results: list[BootResult] = []
    if jobs > 1:
        try:
            # -p options are all no:NAME (PluginHost.from_options checked them above)
            results = _run_parallel(rows, tuple(o[3:] for o in args.plugin_options), jobs)
        except WorkersUnavailable as exc:
            if args.jobs != "auto":
                raise ConfigError(f"--jobs {args.jobs}: worker processes cannot start here "
                                  f"({exc}); give --jobs 1") from None
            if not args.json:
                print(f"kapic: note: worker processes cannot start here ({exc}): running the "
                      "boots in this process", file=sys.stderr)
            jobs = 1
    if jobs == 1:
        for index, specs in enumerate(rows, start=1):
            for repeat, spec in enumerate(specs):
                label = f"[{index}/{len(plan)}] {spec.method} on {spec.platform}"
                if args.repeat > 1:
                    label += f", run {repeat + 1}/{args.repeat}"
                result = _run_one(spec, host, label)
                results.append(result)
                if result.result == "not-applicable":
                    break  # what the platform cannot do, no seed changes

    _render(results, args)
    broken = [r for r in results if r.result == "plugin-error"]
    by_reason: dict[str, list[BootResult]] = {}
    for r in broken:  # one line per fault, naming the runs it broke
        by_reason.setdefault(r.reasons[0] if r.reasons else "plugin error", []).append(r)
    for reason, runs in by_reason.items():
        names = ", ".join(dict.fromkeys(f"{r.method} on {r.platform}" for r in runs))
        print(f"kapic: error: {reason} (runs: {names})", file=sys.stderr)
        if args.debug and runs[0].plugin_error is not None:
            sys.stderr.write(str(runs[0].plugin_error.get("traceback", "")))
    if broken:
        return int(ExitCode.PLUGIN)
    failed = any(r.result == "invalid-input" for r in results)
    return int(ExitCode.FAILED if failed else ExitCode.OK)
