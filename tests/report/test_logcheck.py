"""``kapic dmesg``: real boot logs against kapic's boot of the same machine.

tests/data/qemu holds Debian's 6.1, 6.12 and 7.2 kernels booted under QEMU with their own
MADTs (tests/data/qemu/make_corpus.py made them); ../shared/data/dmesg has excerpts from
reports. Each log's bring-up lines agree with kapic's, or docs/kernel-versions.md lists the
difference and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kapic.cli import main

ROOT = Path(__file__).resolve().parents[2]
QEMU = ROOT / "tests" / "data" / "qemu"
SHARED = ROOT.parent / "shared" / "data" / "dmesg"
DOC = ROOT / "docs" / "kernel-versions.md"
LOGS = sorted(QEMU.glob("*.log"))

#: log -> the line kapic prints differently, as kapic dmesg shows it (docs say why)
KNOWN: dict[str, str] = {}


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["dmesg", "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("log", LOGS, ids=lambda p: p.name)
def test_each_real_log_agrees_or_its_difference_is_documented(
        log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    madt = log.with_name(log.stem + "-APIC.bin")
    code, doc = _check(capsys, str(log), "--madt", str(madt))
    if log.name in KNOWN:
        diff = doc["diff"]
        assert code == 1 and isinstance(diff, list) and KNOWN[log.name] in diff, diff
        assert log.name in DOC.read_text(), f"docs/kernel-versions.md does not explain {log.name}"
    else:
        assert code == 0 and doc["agree"], "\n".join(doc["diff"])  # type: ignore[arg-type]
    assert doc["boot"]["kernel"] in ("6.1", "6.12.117", "7.2.13")  # type: ignore[index]


def test_the_corpus_covers_three_releases_and_the_machine_shapes() -> None:
    names = {p.name for p in LOGS}
    if not names:
        pytest.skip("no tests/data/qemu")
    assert {n.split("-")[0] for n in names} == {"bookworm", "trixie", "sid"}
    assert any("smt8" in n for n in names) and any("hotplug" in n for n in names)
    assert any("-pc-" in n for n in names) and any("-q35-" in n for n in names)


@pytest.mark.parametrize(("name", "argv"), [
    ("tdx-guest-smp-bringup.intel-tdx-linux-5.txt", ["--kernel", "6.6"]),
    ("tdx-guest-smp-bringup.flashbots-yocto-manifests-25.txt",
     ["--kernel", "6.8", "--platform", "tdx"]),
])
def test_shared_tdx_excerpts_agree(name: str, argv: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = SHARED / name
    if not path.is_file():
        pytest.skip("../shared is absent")
    code, doc = _check(capsys, str(path), *argv)
    assert code == 0, doc["diff"]
    assert doc["boot"]["platform"] == "tdx"  # type: ignore[index]


def test_the_flashbots_excerpt_shows_its_per_ap_time(capsys: pytest.CaptureFixture[str]) -> None:
    path = SHARED / "tdx-guest-smp-bringup.flashbots-yocto-manifests-25.txt"
    if not path.is_file():
        pytest.skip("../shared is absent")
    _, doc = _check(capsys, str(path), "--kernel", "6.8", "--platform", "tdx")
    timing = {t["what"]: t for t in doc["timing"]}  # type: ignore[attr-defined]
    per_ap = timing["per AP (median between #N lines)"]["real_ns"]
    assert 15_000_000 < per_ap < 20_000_000  # about 17.9 ms per AP


@pytest.mark.parametrize(("data", "error"), [
    (b"\x00\x01\x02binary", "binary data (NUL bytes), not a dmesg log"),
    (b"hello\nworld\n", "no CPU bring-up lines"),
    (b"[    0.0] Linux version 4.19.0 x\n[    0.1] smp: Bringing up secondary CPUs ...\n",
     "Linux 4.19.0: kapic models 5.19 to 7.2; give --kernel"),
    (b"[    0.1] smp: Bringing up secondary CPUs ...\n", "no 'Linux version' line"),
])
def test_bad_input_is_one_line_and_exit_1(data: bytes, error: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(data)
    assert main(["dmesg", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and error in err[0] and str(path) in err[0]


def test_a_log_without_a_table_is_booted_from_its_cpu_count(
        capsys: pytest.CaptureFixture[str]) -> None:
    log = QEMU / "sid-q35-smp4.log"
    if not log.is_file():
        pytest.skip("no tests/data/qemu")
    code, doc = _check(capsys, str(log))
    assert doc["boot"]["cpus"] == 4  # type: ignore[index]
    assert code == 0, doc["diff"]
