"""Long-running fuzz target: MADT decode, the acpidump reader and the kapic command lines.

Run from a checkout: ``python bench/fuzz_madt.py --minutes 30``. It uses the hypothesis
strategies and property checks of tests/fuzz/strategies.py, in batches under fresh random
seeds until the time is up, over four targets:

* ``decode``: ``parse_madt`` on arbitrary bytes and mutated valid tables (decode or one
  ``MadtError`` line naming source, offset and field; decode -> build -> decode byte-exact);
* ``acpidump``: ``read_madts`` on printed, real and mutated acpidump text;
* ``madt-cli``: ``kapic madt decode`` / ``build`` with generated options;
* ``boot``: ``kapic boot`` / ``compare`` with generated ``--cpus/--param/--config/--seed/
  --watchdog/--madt ...`` and table files (exit status 0, 1, 2 or 4; no traceback).

A failure is recorded once per kind (exception type and place), with the smallest input that
showed it, and the run goes on. An input that runs longer than ``--hang-seconds`` counts as a
failure too, and so is one that ends but takes more than ``--slow-seconds`` of wall time.
At the end it prints one summary line (inputs tried per target, failures), then
each failure with its reproducer; ``--save DIR`` also writes them there. Exit status 0 when no
failure was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fuzz.strategies import (  # noqa: E402
    Command,
    PropertyFailed,
    boot_commands,
    check_command,
    check_dump,
    check_table,
    dump_inputs,
    madt_commands,
    table_inputs,
)
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TARGETS = ("decode", "acpidump", "madt-cli", "boot")


class Slow(Exception):
    """An input ended, but took longer than --slow-seconds of wall time."""


class Hang(BaseException):
    """An input ran longer than --hang-seconds of CPU time (a BaseException, so that no
    ``except Exception`` of the code under test takes it for the code's own error)."""


@dataclasses.dataclass
class Failure:
    """One kind of failure: where it happened, and the smallest input that showed it."""

    target: str
    kind: str
    message: str
    reproducer: str
    size: int
    count: int = 1
    trace: str = ""


@dataclasses.dataclass
class Stats:
    """Inputs tried and failures found so far."""

    tried: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(TARGETS, 0))
    failures: dict[tuple[str, str], Failure] = dataclasses.field(default_factory=dict)

    def record(self, target: str, exc: BaseException, reproducer: str) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        inner = exc.__cause__ if exc.__cause__ is not None else exc
        frames = traceback.extract_tb(inner.__traceback__) or frames
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                      if "/kapic/" in f.filename or "/plugins/" in f.filename),
                     f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?")
        kind = f"{type(inner).__name__} at {where}"
        if isinstance(exc, PropertyFailed) and exc.__cause__ is None:
            kind = exc.kind
        elif isinstance(exc, Slow):
            kind = f"slow: {str(exc).partition(' took ')[0]}"
        message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        known = self.failures.get((target, kind))
        if known is None:
            self.failures[(target, kind)] = Failure(
                target, kind, message, reproducer, len(reproducer),
                trace="".join(traceback.format_exception(inner))[-3000:])
            print(f"fuzz_madt: new failure in {target}: {kind}: {message}", file=sys.stderr,
                  flush=True)
            return
        known.count += 1
        if len(reproducer) < known.size:
            known.reproducer, known.size, known.message = reproducer, len(reproducer), message


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang("input ran longer than the --hang-seconds limit (CPU time)")


def _guarded(stats: Stats, target: str, limits: tuple[float, float], body: Callable[[], None],
             reproducer: Callable[[], str], what: Callable[[], str]) -> None:
    # A CPU-time timer: kapic's own wall-clock budget uses ITIMER_REAL (kapic/machine.py).
    hang_seconds, slow_seconds = limits
    stats.tried[target] += 1
    signal.setitimer(signal.ITIMER_VIRTUAL, hang_seconds)
    start = time.perf_counter()
    try:
        body()
        took = time.perf_counter() - start
        if took > slow_seconds:
            raise Slow(f"{what()} took {took:.1f} s (--slow-seconds {slow_seconds:g})")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # every escape is a finding
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        stats.record(target, exc, reproducer())
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)


def _what(target: str, value: Any) -> str:
    """What kind of input *value* is: the command and its option names, or the target."""
    if isinstance(value, Command):
        return " ".join(["kapic", *(a for a in value.argv[:2] if not a.startswith("-")),
                         *sorted({a for a in value.argv if a.startswith("--")})])
    return target


def _command_repr(command: Command) -> str:
    return json.dumps({"argv": list(command.argv), "file_hex": command.file_data.hex(),
                       "stdin_hex": command.stdin.hex()})


def _runner(target: str, stats: Stats, limits: tuple[float, float], workdir: Path,
            extreme: bool) -> Callable[[int, int], None]:
    """A function running *n* examples of *target* under seed *s*."""

    def make(strategy: st.SearchStrategy[Any], body: Callable[[Any], None],
             show: Callable[[Any], str]) -> Callable[[int, int], None]:
        def run(n: int, batch_seed: int) -> None:
            @seed(batch_seed)
            @settings(max_examples=n, deadline=None, database=None, derandomize=False,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(strategy)
            def test(value: Any) -> None:
                _guarded(stats, target, limits, lambda: body(value), lambda: show(value),
                         lambda: _what(target, value))

            test()

        return run

    if target == "decode":
        def decode(data: bytes) -> None:
            check_table(data)

        return make(table_inputs(), decode, lambda b: b.hex())
    if target == "acpidump":
        return make(dump_inputs(), check_dump, lambda d: d.data.hex())

    def cli(command: Command) -> None:
        check_command(command, workdir)

    if target == "madt-cli":
        return make(madt_commands(), cli, _command_repr)
    return make(boot_commands(extreme=extreme), cli, _command_repr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to run (default 5)")
    parser.add_argument("--seed", type=int, default=None,
                        help="first batch seed (default: random); batches count up from it")
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated subset of {','.join(TARGETS)}")
    parser.add_argument("--batch", type=int, default=50, help="examples per batch (default 50)")
    parser.add_argument("--hang-seconds", type=float, default=60.0,
                        help="an input running longer is a failure (default 60)")
    parser.add_argument("--slow-seconds", type=float, default=10.0,
                        help="an input taking more wall time is a failure (default 10)")
    parser.add_argument("--extreme", action="store_true",
                        help="boot with timing parameters up to 10**13 ns (long simulations)")
    parser.add_argument("--save", metavar="DIR", help="write each failure's reproducer there")
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown or not targets or args.minutes < 0 or args.batch < 1:
        parser.error(f"bad --targets/--minutes/--batch (unknown targets: {unknown})")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    stats = Stats()
    signal.signal(signal.SIGVTALRM, _alarm)
    start = time.monotonic()
    deadline = start + args.minutes * 60
    batches = 0
    with tempfile.TemporaryDirectory(prefix="kapic-fuzz-") as directory:
        limits = (args.hang_seconds, args.slow_seconds)
        runners = {t: _runner(t, stats, limits, Path(directory), args.extreme) for t in targets}
        try:
            while True:
                for target in targets:
                    if batches >= len(targets) and time.monotonic() >= deadline:
                        raise StopIteration
                    try:
                        runners[target](args.batch if args.minutes else 1, seed + batches)
                    except Exception as exc:  # hypothesis itself gave up (a health check...)
                        stats.record(target, exc, f"batch seed {seed + batches}")
                    batches += 1
                if not args.minutes:
                    break
        except (StopIteration, KeyboardInterrupt):
            pass
    elapsed = (time.monotonic() - start) / 60
    tried = sum(stats.tried.values())
    per = ", ".join(f"{t} {stats.tried[t]}" for t in targets)
    print(f"fuzz_madt: {tried} inputs in {elapsed:.2f} min (seed {seed}, {batches} batches: "
          f"{per}); {len(stats.failures)} failure kind(s), "
          f"{sum(f.count for f in stats.failures.values())} failing input(s)")
    for index, failure in enumerate(stats.failures.values(), start=1):
        print(f"\n[{index}] {failure.target}: {failure.kind} ({failure.count} input(s))\n"
              f"    {failure.message}\n    reproducer: {failure.reproducer[:2000]}")
        if args.save:
            out = Path(args.save)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"failure-{index}-{failure.target}.json").write_text(json.dumps(
                dataclasses.asdict(failure), indent=2) + "\n")
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
