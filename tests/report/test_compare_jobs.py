"""``kapic compare --jobs N``: the same comparison, its boots on N processes."""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import pytest

import kapic.cli.compare as compare_cli
from kapic.cli import main
from kapic.cli.compare import AUTO_JOBS_WORK, auto_jobs
from kapic.errors import PluginError


def _compare(capsys: pytest.CaptureFixture[str], *argv: str, plugins: tuple[str, ...] = ()) -> Any:
    assert main([*plugins, "compare", "--json", "--cpus", "4", *argv]) == 0

    def strip(obj: Any) -> Any:  # wall-clock time is the one thing that may differ
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if "wall" not in k}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return strip(json.loads(capsys.readouterr().out))


def test_jobs_give_the_serial_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    serial = _compare(capsys, "--repeat", "3")
    parallel = _compare(capsys, "--repeat", "3", "--jobs", "3")
    assert parallel == serial
    # the row that is not possible (INIT/SIPI on tdx) ran once, as serially; the others 3 times
    runs = [(r["method"], r["platform"]) for r in serial["runs"]]
    assert runs.count(("init-sipi", "tdx")) == 1
    assert runs.count(("acpi-mailbox", "tdx")) == 3


def test_jobs_keep_the_plugin_options(capsys: pytest.CaptureFixture[str]) -> None:
    blocked = ("-p", "no:acpi-mailbox")
    serial = _compare(capsys, "--repeat", "1", plugins=blocked)
    parallel = _compare(capsys, "--repeat", "1", "--jobs", "2", plugins=blocked)
    assert parallel == serial
    assert "acpi-mailbox" not in {r["method"] for r in parallel["runs"]}


def test_no_jobs_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--jobs", "0"]) == 2
    assert "--jobs 0: give at least 1 process" in capsys.readouterr().err
    assert main(["compare", "--jobs", "many"]) == 2
    assert "not a number: 'many'" in capsys.readouterr().err


def test_jobs_auto_starts_a_process_per_core_only_for_a_big_comparison() -> None:
    assert AUTO_JOBS_WORK == 32_768
    assert auto_jobs(8, 16, 8) == 1  # the default comparison: done before workers would start
    assert auto_jobs(2047, 16, 8) == 1
    assert auto_jobs(2048, 16, 8) == 8
    assert auto_jobs(8192, 16, 2) == 2
    assert auto_jobs(65536, 4, 16) == 4  # no more processes than runs
    assert auto_jobs(65536, 4, None) == 1  # the number of cores is unknown


def test_jobs_auto_is_the_default_and_gives_the_same_comparison(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _compare(capsys, "--repeat", "2", "--jobs", "1")
    # a small comparison made to count as big: auto starts workers, with the same result
    monkeypatch.setattr("kapic.cli.compare.AUTO_JOBS_WORK", 1)
    monkeypatch.setattr("kapic.cli.compare._cores", lambda: 2)
    started: list[int] = []
    real = compare_cli._run_parallel

    def spy(rows: Any, blocked: Any, jobs: int) -> Any:
        started.append(jobs)
        return real(rows, blocked, jobs)

    monkeypatch.setattr(compare_cli, "_run_parallel", spy)
    assert _compare(capsys, "--repeat", "2") == serial
    assert started == [2]


needs_fork = pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                                reason="the workers must inherit the test's patch (fork)")


@needs_fork
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_plugin_error_in_a_worker_is_one_line(
        jobs: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import kapic.api

    def broken(result: object, host: object = None) -> object:
        raise PluginError("WakeupMethod 'x' unavailable: raised KeyError", plugin="third-party")

    monkeypatch.setattr(kapic.api, "mark_unavailable", broken)  # runs in the worker
    assert main(["compare", "--cpus", "2", "--repeat", "1", "--platform", "kvm",
                 "--jobs", jobs]) == 4
    err = capsys.readouterr().err
    assert err == ("kapic: error: plugin 'third-party': WakeupMethod 'x' unavailable: raised "
                   "KeyError\n")


@needs_fork
def test_a_row_ends_at_its_first_run_that_is_not_possible(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import kapic.cli.compare as compare

    run_one = compare._run_one

    def seed_one_not_possible(spec: Any, host: Any, label: str | None) -> Any:
        result = run_one(spec, host, label)
        if spec.seed == 1:  # stands for an outcome that depends on the seed
            result.result = "not-applicable"
        return result

    monkeypatch.setattr(compare, "_run_one", seed_one_not_possible)
    runs = [[(r["seed"], r["result"]) for r in
             _compare(capsys, "--repeat", "3", "--platform", "kvm", "--jobs", jobs)["runs"]]
            for jobs in ("1", "2")]
    assert runs[0] == runs[1] == [(0, "ok"), (1, "not-applicable")]


def test_where_workers_cannot_start_auto_runs_here_and_a_number_is_one_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _compare(capsys, "--repeat", "2", "--jobs", "1")

    def no_semaphores(*args: Any, **kwargs: Any) -> None:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor.__init__", no_semaphores)
    monkeypatch.setattr("kapic.cli.compare.AUTO_JOBS_WORK", 1)
    monkeypatch.setattr("kapic.cli.compare._cores", lambda: 2)
    assert _compare(capsys, "--repeat", "2") == serial  # auto: the boots ran here
    assert main(["compare", "--cpus", "4", "--jobs", "2"]) == 2
    err = capsys.readouterr().err
    assert "--jobs 2: worker processes cannot start here (OSError: [Errno 38] Function not " \
           "implemented); give --jobs 1" in err
    assert "Traceback" not in err
