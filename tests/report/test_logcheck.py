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


#: every excerpt of ../shared/data/dmesg: the options its header's facts give, and the
#: outcome: "agree", the start of the error, or the first differing line (docs say why)
SHARED_LOGS = {
    "qemu-guest-acpi-tables.nixpkgs-119790.txt": ([], "error: no CPU bring-up lines"),
    "real-hw-bogus-x2apic.dasharo-issues-1094.txt": ([], "error: no CPU bring-up lines"),
    "real-hw-x2apic-disabled.open-cas-linux-524.txt": ([], "error: no CPU bring-up lines"),
    "tdx-guest-detected.lines.txt": ([], "error: no CPU bring-up lines"),
    "qemu-guest-madt.vrnetlab-141.txt":
        (["--kernel", "5.19", "--madt", "../shared/data/madt/qemu-2020-pc-APIC.bin"], "agree"),
    "tdx-guest-acpi-tables.intel-tdx-linux-1.txt": (["--kernel", "6.6", "--cpus", "4"], "agree"),
    "tdx-guest-gcp.canonical-tdx-312.txt": (["--kernel", "6.6", "--cpus", "4"], "agree"),
    "tdx-guest-smp-bringup.intel-tdx-linux-5.txt": (["--kernel", "6.6"], "agree"),
    "tdx-guest-smp-bringup.flashbots-yocto-manifests-25.txt":
        (["--kernel", "6.8", "--platform", "tdx"], "agree"),
    "real-hw-madt-parse.bumblebee-654.txt":
        (["--kernel", "5.19"], "-ACPI: LAPIC_NMI (acpi_id[0xff] high edge lint[0x1])"),
    "tdx-guest-madt-parse.intel-tdx-tools-524.txt":
        (["--kernel", "6.2"], "-ACPI: INT_SRC_OVR (bus 0 bus_irq 13 global_irq 13 high edge)"),
}


def test_every_shared_log_is_listed() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    assert {p.name for p in SHARED.glob("*.txt")} == set(SHARED_LOGS)


@pytest.mark.parametrize("name", sorted(SHARED_LOGS))
def test_each_shared_log_agrees_or_its_difference_is_documented(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = SHARED / name
    if not path.is_file():
        pytest.skip("../shared is absent")
    argv, outcome = SHARED_LOGS[name]
    argv = [a.replace("../shared", str(ROOT.parent / "shared")) for a in argv]
    code = main(["dmesg", "--json", str(path), *argv])
    out, err = capsys.readouterr()
    if outcome.startswith("error: "):
        assert code == 1 and outcome.removeprefix("error: ") in err
        return
    doc = json.loads(out)
    if outcome == "agree":
        assert code == 0, doc["diff"]
    else:
        assert code == 1 and outcome in doc["diff"]
    assert name in DOC.read_text(), f"docs/kernel-versions.md does not mention {name}"


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


def test_fit_writes_parameters_that_reproduce_the_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = QEMU / "sid-q35-smp4-serial.log"
    if not log.is_file():
        pytest.skip("no tests/data/qemu")
    madt = str(log.with_name(log.stem + "-APIC.bin"))
    toml = tmp_path / "fit.toml"
    code, doc = _check(capsys, str(log), "--madt", madt, "--fit", "-o", str(toml))
    assert code == 0
    fitted = doc["fit"]
    assert isinstance(fitted, dict) and fitted["fitted"] == "ap_alive_ns"  # a serial log
    assert abs(fitted["residual"]) < 0.01
    text = toml.read_text()
    assert text.startswith("# kapic dmesg --fit ") and "ap_alive_ns = " in text
    real = next(t for t in doc["timing"] if t["what"].startswith("bring-up"))  # type: ignore[attr-defined]
    assert main(["boot", "--json", "--platform", "bare-metal", "--kernel", "7.2.13", "--madt",
                 madt, "--config", "HOTPLUG_PARALLEL=n", "--params", str(toml)]) == 0
    boot = json.loads(capsys.readouterr().out)
    assert abs(boot["sim_time_ns"] - real["real_ns"]) < 0.01 * real["real_ns"]


def test_fit_of_a_parallel_log_fits_the_boot_cpus_online_work(
        capsys: pytest.CaptureFixture[str]) -> None:
    log = QEMU / "sid-q35-smp16.log"
    if not log.is_file():
        pytest.skip("no tests/data/qemu")
    code, doc = _check(capsys, str(log), "--madt", str(log.with_name(log.stem + "-APIC.bin")),
                       "--fit")
    fitted = doc["fit"]
    assert code == 0 and isinstance(fitted, dict) and fitted["fitted"] == "bp_online_ns"
    assert abs(fitted["residual"]) < 0.02


@pytest.mark.parametrize(("text", "error"), [
    ("ap_alive = 1\n", "'ap_alive' is no platform parameter (known: "),
    ("ap_alive_ns = 'x'\n", "ap_alive_ns = 'x': expected an integer"),
    ("ap_alive_ns = true\n", "ap_alive_ns = true: expected an integer"),
    ("[[[\n", "not a TOML file of parameters"),
])
def test_a_bad_params_file_is_one_line_and_exit_1(text: str, error: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    for command in (["boot"], ["compare", "--repeat", "1"]):
        assert main([*command, "--params", str(path)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and error in err[0] and str(path) in err[0]


def test_param_wins_over_the_params_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[params]\nap_alive_ns = 2_000_000\nvcpu_delay_ns = 5\n")
    assert main(["boot", "--json", "--platform", "kvm", "--cpus", "2", "--params", str(path),
                 "--param", "vcpu_delay_ns=7"]) == 0
    spec = json.loads(capsys.readouterr().out)["spec"]
    assert spec["params"] == {"ap_alive_ns": "2000000", "vcpu_delay_ns": "7"}
