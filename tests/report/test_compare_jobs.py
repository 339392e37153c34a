"""``kapic compare --jobs N``: the same comparison, its boots on N processes."""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import pytest

from kapic.cli import main
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
