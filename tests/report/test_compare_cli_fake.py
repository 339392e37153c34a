"""``kapic compare`` against a stand-in ``kapic.api`` built from synthetic runs.

The real simulator is exercised by test_compare_cli.py; this file pins the command's own
behaviour (arguments, exit statuses, outputs) without depending on it.
"""

from __future__ import annotations

import io
import json
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from kapic.acpi import build_madt, describe_madt
from kapic.acpi.loader import load_madt_choice
from kapic.cli import main
from kapic.report import render_blame, render_compare, validate_trace
from kapic.result import BootResult, ResultKind

from .conftest import build_run, not_applicable


@dataclass(frozen=True)
class FakeSpec:
    platform: str = "bare-metal"
    kernel: str = "6.11"
    method: str | None = None
    cpus: int | None = None
    madt: str | None = None
    table: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0
    watchdog_ns: int | None = None
    firmware: str | None = None
    faults: tuple[str, ...] = ()


PLAN = [
    ("init-sipi", "bare-metal"),
    ("init-sipi", "kvm"),
    ("acpi-mailbox", "tdx"),
    ("init-sipi", "tdx"),
]


@dataclass
class FakeApi:
    specs: list[FakeSpec] = field(default_factory=list)
    outcome: dict[tuple[str, str], ResultKind] = field(default_factory=dict)
    hosts: list[object] = field(default_factory=list)
    madt_bytes: list[bytes] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)

    def compare_plan(
        self,
        platforms: Sequence[str] | None,
        methods: Sequence[str] | None,
        plugins: object = None,
        same_platform: bool = False,
        firmware: str | None = None,
    ) -> list[tuple[str, str]]:
        self.hosts.append(plugins)
        return [
            (m, p)
            for m, p in PLAN
            if (platforms is None or p in platforms) and (methods is None or m in methods)
        ]

    def run_boot(
        self,
        spec: FakeSpec,
        *,
        plugins: object = None,
        progress: Callable[[int, int], None] | None = None,
        recording: str = "full",
    ) -> BootResult:
        self.recordings.append(recording)
        self.specs.append(spec)
        self.hosts.append(plugins)
        if spec.madt is not None:
            self.madt_bytes.append(Path(spec.madt).read_bytes())
        method, platform = spec.method or "init-sipi", spec.platform
        cpus = spec.cpus or 4
        if (method, platform) == ("init-sipi", "tdx"):
            return not_applicable(method, platform, cpus)
        run = build_run(method, platform, cpus, kernel=spec.kernel, mailbox=platform == "tdx")
        return replace(run, result=self.outcome.get((method, platform), run.result))


class FakeHost:
    """Stands in for kapic.plugin.PluginHost: records the blocked plugin names."""

    def __init__(self, blocked: Sequence[str]) -> None:
        self.blocked = list(blocked)

    @classmethod
    def from_options(cls, options: Sequence[str]) -> FakeHost:
        return cls([o.removeprefix("no:") for o in options])


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    module = types.ModuleType("kapic.api")
    module.BootSpec = FakeSpec  # type: ignore[attr-defined]
    module.compare_plan = fake.compare_plan  # type: ignore[attr-defined]
    module.run_boot = fake.run_boot  # type: ignore[attr-defined]
    module.mark_unavailable = lambda result, host: result  # type: ignore[attr-defined]
    module.not_possible = lambda spec, why: None  # type: ignore[attr-defined]
    module.plugin_error = lambda spec, error: None  # type: ignore[attr-defined]
    module.DEFAULT_CPUS = 8  # type: ignore[attr-defined]
    module.check_faults = lambda texts, host: {}  # type: ignore[attr-defined]
    module.load_madt_noted = (  # type: ignore[attr-defined]
        lambda path, host, table, name=None: load_madt_choice(path, table, name=name)[1:])
    monkeypatch.setitem(sys.modules, "kapic.api", module)
    plugin = types.ModuleType("kapic.plugin")
    plugin.PluginHost = FakeHost  # type: ignore[attr-defined]
    plugin.AUTOLOAD_ENV = "KAPIC_DISABLE_PLUGIN_AUTOLOAD"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kapic.plugin", plugin)
    # One run per row unless a test asks for more (test_repeat_runs_each_row_under_n_seeds).
    monkeypatch.setattr("kapic.cli.compare.DEFAULT_REPEAT", 1)
    return fake


def _expected(api: FakeApi) -> list[BootResult]:
    fresh = FakeApi(outcome=api.outcome)
    return [fresh.run_boot(spec) for spec in api.specs]


def test_defaults_run_the_whole_plan(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare"]) == 0
    assert [(s.method, s.platform) for s in api.specs] == PLAN
    assert set(api.recordings) == {"spans"}  # compare reads the spans, never the event trace
    assert {(s.cpus, s.kernel, s.madt, s.seed) for s in api.specs} == {(8, "latest", None, 0)}
    out, err = capsys.readouterr()
    assert out == render_compare(_expected(api))
    assert err == ""  # no progress bar when stderr is not a terminal


def test_options_reach_the_spec(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "compare",
        "--platform",
        "kvm",
        "--platform",
        "tdx",
        "--method",
        "init-sipi",
        "--kernel",
        "seed",
        "--watchdog",
        "2.5",
        "--cpus",
        "16",
        "--config",
        "CONFIG_A=y",
        "--param",
        "ipi_latency_ns=5=0",
        "--seed",
        "7",
    ]
    assert main(argv) == 0
    assert [(s.method, s.platform) for s in api.specs] == [
        ("init-sipi", "kvm"),
        ("init-sipi", "tdx"),
    ]
    spec = api.specs[0]
    assert (spec.kernel, spec.cpus, spec.seed) == ("seed", 16, 7)
    assert spec.watchdog_ns == 2_500_000_000
    assert dict(spec.config) == {"CONFIG_A": "y"} and dict(spec.params) == {"ipi_latency_ns": "5=0"}


def test_madt_replaces_the_cpu_count(api: FakeApi, tmp_path: Path) -> None:
    madt = tmp_path / "apic.bin"
    madt.write_bytes(build_madt(describe_madt(cpus=2)))  # read once before the runs
    assert main(["compare", "--madt", str(madt), "--method", "acpi-mailbox"]) == 0
    assert [(s.cpus, s.madt) for s in api.specs] == [(None, str(madt))]


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["--cpus", "4", "--madt", "x"], 2, "not allowed with"),
        (["--cpus", "many"], 2, "invalid int value"),
        (["--config", "NOEQUALS"], 2, "KEY=VALUE"),
        (["--param", "=1"], 2, "KEY=VALUE"),
        (["--watchdog", "0"], 2, "--watchdog"),
        (["--kernel", "other"], 2, "expected MAJOR.MINOR"),
        (["--plot", "out.pdf"], 2, ".png or .svg"),
        (["--madt", "/nonexistent/apic.bin"], 1, "no such file"),
    ],
)
def test_bad_input(
    api: FakeApi, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, message: str
) -> None:
    assert main(["compare", *argv]) == status
    out, err = capsys.readouterr()
    assert out == "" and message in err
    assert api.specs == []  # rejected before any simulation


@pytest.mark.parametrize(("outcome", "status"), [("cpu-failed", 0), ("hung", 0), ("invalid-input", 1)])
def test_exit_status(api: FakeApi, outcome: ResultKind, status: int) -> None:
    api.outcome[("init-sipi", "kvm")] = outcome
    assert main(["compare"]) == status


def test_json(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--json", "--blame"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 2
    assert [(r["method"], r["platform"], r["result"]) for r in doc["runs"]] == [
        (m, p, "not-applicable" if (m, p) == ("init-sipi", "tdx") else "ok") for m, p in PLAN
    ]


def test_blame(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--blame"]) == 0
    out = capsys.readouterr().out
    expected = _expected(api)
    assert out == render_compare(expected) + "\nBlame (kick to alive, slowest first):\n\n" + (
        render_blame(expected)
    )


def test_trace_and_plot_files(api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    trace, plot = tmp_path / "t.json", tmp_path / "p.png"
    assert main(["compare", "--trace", str(trace), "--plot", str(plot)]) == 0
    assert validate_trace(json.loads(trace.read_text(encoding="utf-8"))) == []
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    err = capsys.readouterr().err
    assert f"trace written to {trace}" in err and f"plot written to {plot}" in err


def test_blocked_plugins_reach_plan_and_runs(api: FakeApi) -> None:
    assert main(["-p", "no:acpi-mailbox", "compare", "--platform", "kvm"]) == 0
    assert len(api.hosts) == 1 + len(api.specs) == 2
    assert all(isinstance(h, FakeHost) and h.blocked == ["acpi-mailbox"] for h in api.hosts)


def test_madt_from_stdin_is_read_once_for_every_run(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from kapic import build_madt, describe_madt

    table = build_madt(describe_madt(cpus=2))  # decoded once up front, so a real table
    stdin = types.SimpleNamespace(buffer=io.BytesIO(table))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["compare", "--madt", "-"]) == 0
    assert api.madt_bytes == [table] * len(PLAN)
    assert all(s.cpus is None and s.madt is not None for s in api.specs)
    assert not any(Path(s.madt or "").exists() for s in api.specs)  # the spool is removed


def test_repeat_runs_each_row_under_n_seeds(api: FakeApi,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--repeat", "3", "--seed", "7", "--platform", "kvm"]) == 0
    assert [(s.method, s.platform, s.seed) for s in api.specs] == [
        ("init-sipi", "kvm", 7), ("init-sipi", "kvm", 8), ("init-sipi", "kvm", 9)]
    assert capsys.readouterr().out == render_compare(_expected(api))


def test_repeat_is_checked(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--repeat", "0"]) == 2
    assert "--repeat 0: must be between 1 and 1000" in capsys.readouterr().err
