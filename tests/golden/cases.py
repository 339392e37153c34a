"""The golden cases: command lines whose JSON output must not change unless on purpose.

``python -m tests.golden.cases record`` writes ``golden.json`` (one digest and a short
summary per case); ``python -m tests.golden.cases dump DIR`` writes every case's full output
to ``DIR`` so two commits can be compared with ``diff -r``. Wall-clock keys are dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1].parent / "shared"
GOLDEN = HERE / "golden.json"

PLATFORMS = ("bare-metal", "kvm", "tdx")
KERNELS = ("seed", "6.11")
FIRMWARE = ("sipi-wait", "tdvf", "td-shim", "td-shim-noack")
#: the real tables booted on each platform (a sample: every file would take too long)
REAL_TABLES = (
    "qemu-7.2-q35-APIC.bin",
    "qemu-7.2-q35-APIC.xapic.bin",
    "igvm-tooling-clh-16vcpu-APIC.bin",
    "fwts-dell-qa09-APIC.bin",
    "acpica-template-2021-acpi64.bin",
    "acpica-template-2026-acpi67.bin",
)

#: keys whose values are wall-clock measurements, not simulation results
WALL_KEYS = frozenset({"wall_seconds"})


def cases() -> list[tuple[str, list[str], bool]]:
    """(name, argv, needs ../shared)."""
    out: list[tuple[str, list[str], bool]] = []
    for platform in PLATFORMS:
        for kernel in KERNELS:
            for firmware in FIRMWARE:
                for cpus in (8, 64):
                    name = f"boot-{platform}-{kernel}-{firmware}-{cpus}"
                    argv = ["boot", "--json", "--platform", platform, "--kernel", kernel,
                            "--firmware", firmware, "--cpus", str(cpus)]
                    out.append((name, argv, False))
    for kernel in KERNELS:
        for cpus in (8, 64):
            out.append((f"compare-{kernel}-{cpus}",
                        ["compare", "--json", "--kernel", kernel, "--cpus", str(cpus)], False))
    out.append(("compare-seed-slow-vmm",
                ["compare", "--json", "--kernel", "seed", "--param", "vcpu_delay_ns=100000"], False))
    out.append(("boot-tdx-seed-slow-vmm",
                ["boot", "--json", "--platform", "tdx", "--kernel", "seed", "--param",
                 "vcpu_delay_ns=100000"], False))
    out.append(("boot-tdx-upstream-offline",
                ["boot", "--json", "--platform", "tdx", "--cpus", "4", "--offline", "2",
                 "--offline", "3"], False))
    out.append(("boot-kvm-relaxed", ["boot", "--json", "--platform", "kvm", "--relaxed-memory",
                                     "--seed", "3"], False))
    for table in REAL_TABLES:
        path = str(SHARED / "data" / "madt" / table)
        for platform in PLATFORMS:
            for kernel in KERNELS:
                out.append((f"madt-{table}-{platform}-{kernel}",
                            ["boot", "--json", "--madt", path, "--platform", platform,
                             "--kernel", kernel], True))
    return out


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in WALL_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def run_case(argv: list[str]) -> tuple[int, str]:
    """Exit status and canonical JSON output (with the shared directory's path made relative)."""
    from kapic.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = out.getvalue()
    try:
        data = _strip(json.loads(text)) if text.strip() else None
    except json.JSONDecodeError:
        data = text
    canon = json.dumps({"exit": code, "stdout": data}, indent=1, sort_keys=True)
    return code, canon.replace(str(SHARED), "<shared>")


def summary(canon: str) -> dict[str, Any]:
    data = json.loads(canon)
    out = data["stdout"]
    digest = hashlib.sha256(canon.encode()).hexdigest()
    if isinstance(out, dict) and "runs" in out:
        runs = [[r.get("method"), r.get("platform"), r.get("result"), r.get("sim_time_ns")]
                for r in out["runs"]]
        return {"exit": data["exit"], "sha256": digest, "runs": runs}
    if isinstance(out, dict):
        return {"exit": data["exit"], "sha256": digest, "result": out.get("result"),
                "sim_time_ns": out.get("sim_time_ns"), "cpus_online": out.get("cpus_online"),
                "events": out.get("events")}
    return {"exit": data["exit"], "sha256": digest}


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "record"
    results: dict[str, Any] = {}
    for name, case_argv, needs_shared in cases():
        if needs_shared and not SHARED.is_dir():
            continue
        _, canon = run_case(case_argv)
        if command == "dump":
            directory = Path(argv[1])
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"{name}.json").write_text(canon)
        results[name] = summary(canon)
    if command == "record":
        GOLDEN.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"{len(results)} cases", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
