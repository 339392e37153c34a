"""``kapic.report.dmesg``: real boot logs (QEMU corpus, third-party excerpts) and bad input."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from kapic.errors import InputError
from kapic.report.dmesg import DmesgLine, DmesgLog, parse_dmesg

REPO = Path(__file__).resolve().parents[2]
QEMU = REPO / "tests" / "data" / "qemu"
EXCERPTS = REPO.parent / "shared" / "data" / "dmesg"
QEMU_LOGS = sorted(QEMU.glob("*.log"))
EXCERPT_FILES = sorted(EXCERPTS.glob("*.txt"))
#: excerpts that show no line kapic models (Xen's own log, ACPI table list, x2APIC entries, TDX markers)
NO_BRINGUP = {
    "qemu-guest-acpi-tables.nixpkgs-119790.txt",
    "real-hw-bogus-x2apic.dasharo-issues-1094.txt",
    "real-hw-x2apic-disabled.open-cas-linux-524.txt",
    "tdx-guest-detected.lines.txt",
}
FLASHBOTS = "tdx-guest-smp-bringup.flashbots-yocto-manifests-25.txt"
INTEL_TDX_5 = "tdx-guest-smp-bringup.intel-tdx-linux-5.txt"
#: 48 random bytes (no NUL): mostly not UTF-8
RANDOM_BYTES = (b"\xddk\x97\xabn~\xef8\xef\xa4\xd5|{\xbaz\x04]\xf7\xc3\x93\xa2\xed\xfb\x9f\xfa\xd0\x08e"
                b"\xd2A\xed\xc5I\xef\xa8)?\x1d\x01:R>v\xe2\x85W0 ")


def _parse(path: Path) -> DmesgLog:
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    return parse_dmesg(path.read_bytes(), source=path.name)


def _nproc(stem: str) -> int | None:
    """What /proc/cpuinfo counted in that boot, from the corpus manifest (if it says)."""
    try:
        boots = json.loads((QEMU / "manifest.json").read_text())["boots"]
        return int(boots[stem]["sysfs"]["nproc_cpuinfo"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@pytest.mark.parametrize("path", QEMU_LOGS, ids=[p.name for p in QEMU_LOGS])
def test_every_qemu_log(path: Path) -> None:
    log = _parse(path)
    assert log.version_text is not None and log.release is not None
    assert log.version_text.startswith(f"{log.release[0]}.{log.release[1]}.")
    assert log.wakeup == "init-sipi"  # no MADT wakeup structure under plain QEMU
    assert log.cpus_up is not None
    numbers = [cpu for cpu, _ in log.announced]
    assert sorted(numbers) == list(range(1, log.cpus_up))  # every AP announced once, all came up
    assert all(t is not None for _, t in log.announced)
    if (nproc := _nproc(path.stem)) is not None:
        assert log.cpus_up == nproc
    cmdline = next(line.text for line in log.lines if line.text.startswith("Command line:"))
    assert log.parallel == (log.release >= (6, 5) and "cpuhp.parallel=0" not in cmdline)
    texts = [line.text for line in log.bringup_lines()]
    assert any(text.startswith("smp: Brought up") for text in texts)
    assert any(text.startswith(".... node  #0, CPUs:") for text in texts)
    assert not any(text.startswith("calibrate_delay_direct") for text in texts)


def test_sid_q35_smt8() -> None:
    log = _parse(QEMU / "sid-q35-smt8.log")
    assert log.version_text == "7.2.13+deb14-amd64"
    assert (log.release, log.cpus_up, log.parallel, log.wakeup) == ((7, 2), 8, True, "init-sipi")
    assert [cpu for cpu, _ in log.announced] == [2, 4, 6, 1, 3, 5, 7]  # primary threads first
    assert log.lines[0].t == 0.0 and log.lines[0].text.startswith("Linux version 7.2.13")
    node = next(line for line in log.lines if line.text.startswith(".... node"))
    assert node.text == ".... node  #0, CPUs:      #2 #4 #6"  # inner spaces kept, CR dropped
    assert node.t is not None and 0 < node.t < log.lines[-1].t  # type: ignore[operator]
    per_ap = log.per_ap_ns()
    # one interval, shared among the 3 primaries announced on the first line
    assert per_ap is not None and len(per_ap) == 3 and len(set(per_ap)) == 1 and per_ap[0] > 0


@pytest.mark.parametrize("path", [p for p in QEMU_LOGS if p.name.startswith("bookworm-")],
                         ids=lambda p: p.name)
def test_bookworm_is_61_and_serial(path: Path) -> None:
    log = _parse(path)
    assert (log.release, log.parallel) == ((6, 1), False)
    assert any(line.text == "x86: Booting SMP configuration:" for line in log.bringup_lines())
    if log.cpus_up is not None and log.cpus_up > 2:
        # serial: the APs' own messages split the #N list, where they land varies by run
        per_ap = log.per_ap_ns()
        assert per_ap is not None and 1 <= len(per_ap) <= log.cpus_up - 2 and min(per_ap) > 0


@pytest.mark.parametrize("path", EXCERPT_FILES, ids=[p.name for p in EXCERPT_FILES])
def test_every_excerpt(path: Path) -> None:
    if path.name in NO_BRINGUP:
        with pytest.raises(InputError, match="no CPU bring-up lines") as info:
            _parse(path)
        assert path.name in str(info.value) and "\n" not in str(info.value)
        return
    try:
        log = _parse(path)
    except InputError as exc:  # a new excerpt may show nothing kapic models
        assert "no CPU bring-up lines" in str(exc)
        return
    assert log.bringup_lines() and log.wakeup in ("init-sipi", "acpi-mailbox")
    assert not any(line.text.startswith("#") or line.text == "..." for line in log.lines)


def test_flashbots_tdx_serial_bringup() -> None:
    log = _parse(EXCERPTS / FLASHBOTS)
    assert [cpu for cpu, _ in log.announced] == list(range(1, 9))
    assert log.announced[0][1] == pytest.approx(0.306267)
    assert log.announced[-1][1] == pytest.approx(0.431304)
    assert log.parallel is False  # "disabled by the platform"; the excerpt has no version line
    assert log.release is None and log.cpus_up is None
    assert log.per_ap_ns() == [20049000, 17995000, 16999000, 17000000, 17996000, 17008000, 17990000]
    # the APs' own lines, stamped 0.248156, are neither announce nor bring-up lines
    assert not any(line.text.startswith("smpboot: CPU 1 Converting") for line in log.bringup_lines())


def test_intel_tdx_linux_5() -> None:
    log = _parse(EXCERPTS / INTEL_TDX_5)
    assert (log.parallel, log.cpus_up, log.wakeup) == (False, 4, "acpi-mailbox")
    assert [cpu for cpu, _ in log.announced] == [1, 2, 3]
    assert log.per_ap_ns() is None  # one announce line: nothing to time
    assert log.lines[-1].text == "smpboot: Total of 4 processors activated (23200.00 BogoMIPS)"


def test_tdx_madt_excerpt_shows_the_mailbox() -> None:
    log = _parse(EXCERPTS / "tdx-guest-madt-parse.intel-tdx-tools-524.txt")
    assert log.wakeup == "acpi-mailbox"  # the type 0x10 entry
    assert log.bringup_lines()[-1].text == "smpboot: Allowing 4 CPUs, 0 hotplug CPUs"


def test_no_timestamps() -> None:
    log = parse_dmesg(
        "Linux version 6.6.0-rc2 (gcc) #1 SMP\n"
        "Command line: console=ttyS0\n"
        "smp: Bringing up secondary CPUs ...\n"
        "smpboot: x86: Booting SMP configuration:\n"
        ".... node  #0, CPUs:      #1\n"
        "calibrate_delay_direct() failed to get a good estimate for loops_per_jiffy.\n"
        " #2   \n"
        "smp: Brought up 1 node, 3 CPUs\n",
        source="dmesg-t.txt",
    )
    assert all(line.t is None for line in log.lines)
    assert log.announced == ((1, None), (2, None))
    assert log.per_ap_ns() is None
    assert (log.release, log.cpus_up, log.parallel, log.wakeup) == ((6, 6), 3, True, "init-sipi")
    assert [line.text for line in log.bringup_lines()][-2:] == [" #2", "smp: Brought up 1 node, 3 CPUs"]


def test_prefixes_and_options() -> None:
    log = parse_dmesg(
        "<5>[    0.000000] Linux version 6.12.1 (gcc) #1 SMP\r\n"
        "<6>[    0.000000] [    T0] Command line: quiet cpuhp.parallel=off\r\n"
        "<6>[    0.300000] [    T1]  #9\r\n"  # before any node line: not an announce line
        "<6>[    0.310000] [    T1] x86: Booting SMP configuration:\r\n"
        "<6>[    0.320000] [    T1] .... node  #0, CPUs:        #1  #2\r\n"
        "<6>[    0.330000] [    T1] .... node  #1, CPUs:   #10 #11\r\n"
        "<6>[    0.400000] [    T1] smp: Brought up 2 nodes, 5 CPUs\r\n"
        "<6>[    0.500000] [    T1]  #12\r\n",  # after "Brought up": not one either
    )
    assert log.lines[0] == DmesgLine(0.0, "Linux version 6.12.1 (gcc) #1 SMP")
    assert [cpu for cpu, _ in log.announced] == [1, 2, 10, 11]
    assert (log.cpus_up, log.parallel) == (5, False)
    assert log.per_ap_ns() == [5000000, 5000000]  # 10 ms after a line of two #N: 5 ms each
    assert len(log.bringup_lines()) == 4


@pytest.mark.parametrize(("lines", "parallel", "wakeup"), [
    (["smp: Bringing up secondary CPUs ..."], None, "init-sipi"),
    (["smpboot: Parallel CPU startup enabled: 0x80000000"], True, "init-sipi"),
    (["Linux version 6.4.16", "smp: Brought up 1 node, 2 CPUs"], False, "init-sipi"),
    (["Linux version 6.8.0", "Kernel command line: cpuhp.parallel=0", "smp: Brought up"], False, "init-sipi"),
    (["ACPI: MP Wakeup (version[1], mailbox[0x7fffe000], reset[0x0])", "smp: X"], None, "acpi-mailbox"),
    (["APIC: wakeup_secondary_cpu_64() replaced with acpi_wakeup_cpu()"], None, "acpi-mailbox"),
    (["Linux version 5.15.0", "ACPI: Found unsupported MADT entry (type = 0x10)"], False, "init-sipi"),
    (["CPU3 failed to report alive state"], None, "init-sipi"),
])
def test_parallel_and_wakeup(lines: list[str], parallel: bool | None, wakeup: str) -> None:
    log = parse_dmesg("\n".join(lines))
    assert (log.parallel, log.wakeup) == (parallel, wakeup)


def test_a_few_bad_bytes_are_tolerated() -> None:
    log = parse_dmesg(b"[    0.1] smp: Brought up 1 node, 2 CPUs\n[    0.2] serial noise \xff\n" + b"x" * 100)
    assert log.cpus_up == 2 and log.lines[1].text == "serial noise \ufffd"


@pytest.mark.parametrize(("data", "what"), [
    (b"[    0.000000] smp: Brought up 1 node, 2 CPUs\n\x00\x00\x00\x00", "NUL"),
    ("smp: Brought up 1 node, 2 CPUs\x00", "NUL"),
    (RANDOM_BYTES, "not UTF-8"),
    (RANDOM_BYTES * 20 + b"\nsmp: Brought up 1 node, 2 CPUs\n", "not UTF-8"),
])
def test_binary_input_is_refused(data: str | bytes, what: str) -> None:
    with pytest.raises(InputError, match=re.escape(what)) as info:
        parse_dmesg(data, source="vmcore.bin")
    assert str(info.value).startswith("vmcore.bin: binary data") and "\n" not in str(info.value)
    assert info.value.source == "vmcore.bin"


@pytest.mark.parametrize("text", [
    "", "\n\n", "[    0.000000] Linux version 6.1.0\n[    0.1] Memory: 1024K available\n",
    "# a comment\n...\n",
])
def test_no_bringup_lines_is_refused(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_dmesg(text, source="boot.txt")
    assert str(info.value) == "boot.txt: no CPU bring-up lines (smp: ..., x86: Booting SMP ...)"


def test_log_is_frozen() -> None:
    log = parse_dmesg("smp: Brought up 1 node, 1 CPU")
    assert log.cpus_up == 1 and log.announced == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        log.cpus_up = 2  # type: ignore[misc]
