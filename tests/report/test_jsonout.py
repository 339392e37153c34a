"""``--json``: the stable compare schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from kapic.report.jsonout import SCHEMA_VERSION, compare_json, dumps
from kapic.report.stats import run_stats
from kapic.result import BootResult

from .conftest import sample

RUN_KEYS = {
    "bringup",
    "method_requested",
    "methods",
    "method",
    "platform",
    "kernel",
    "result",
    "seed",
    "cpus_requested",
    "cpus_online",
    "sim_time_ns",
    "kick_to_alive_ns",
    "counters",
    "trust",
    "reasons",
    "config",
    "cpus",
    "wall_seconds",
}


def _keys(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf value with its path of keys and indexes."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _keys(value, f"{path}/{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _keys(value, f"{path}/{i}")
    else:
        yield path, obj


def test_schema(runs: list[BootResult]) -> None:
    doc = json.loads(dumps(runs))
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert [(r["method"], r["platform"]) for r in doc["runs"]] == [(r.method, r.platform) for r in runs]
    for obj, run in zip(doc["runs"], runs, strict=True):
        assert set(obj) == RUN_KEYS
        stats = run_stats(run)
        assert obj["kick_to_alive_ns"] == {
            "median": stats.kick_to_alive_median_ns,
            "p99": stats.kick_to_alive_p99_ns,
            "max": stats.kick_to_alive_max_ns,
            "count": stats.alive_aps,
        }
        assert obj["cpus_online"] == run.cpus_online
        assert obj["sim_time_ns"] == run.sim_time_ns
        assert set(obj["counters"]) >= {"ipis", "vm_exits", "mailbox_handshakes", "icr_writes"}
        assert obj["trust"] == run.trust and obj["reasons"] == run.reasons
        assert [c["cpu"] for c in obj["cpus"]] == [c.cpu for c in run.cpus]
        assert {"state", "apic_id", "kick_to_alive_ns", "online_ns"} <= set(obj["cpus"][0])


def test_only_wall_keys_change_with_wall_clock() -> None:
    a, b = sample(), sample()
    for run in b:
        run.wall_seconds = 99.5
    flat_a, flat_b = dict(_keys(compare_json(a))), dict(_keys(compare_json(b)))
    differing = {k for k in flat_a if flat_a[k] != flat_b[k]}
    assert differing and all("wall" in key.rsplit("/", 1)[-1] for key in differing)


def test_output_is_byte_stable(runs: list[BootResult]) -> None:
    assert dumps(runs) == dumps(sample())
    assert dumps(runs).endswith("}\n")


def test_empty_comparison() -> None:
    assert compare_json([]) == {"schema_version": 2, "rows": [], "verdict": [], "runs": []}


def test_rows_and_verdict_are_data(runs: list[BootResult]) -> None:
    doc = json.loads(dumps(runs))
    assert [(r["asked"], r["platform"]) for r in doc["rows"]] == [
        (r.method, r.platform) for r in runs]  # one run per row here
    row = doc["rows"][0]
    assert set(row) >= {"method", "asked", "ran_as_asked", "outcome", "mode", "mode_reason",
                        "seeds", "total", "per_cpu", "wakeup", "startup", "waiting"}
    assert set(row["wakeup"]) == {"median", "low", "high"}
    kinds = {s["kind"] for s in doc["verdict"]}
    assert {"wakeup", "total"} <= kinds
    for statement in doc["verdict"]:
        assert set(statement) == {"kind", "text", "rows", "ratio", "difference_ns",
                                  "exceeds_spread"}
