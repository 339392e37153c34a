"""``kapic madt`` through ``kapic.cli.main``: output, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from kapic.cli import main

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MADT = DATA / "madt"
needs_shared = pytest.mark.skipif(not MADT.is_dir(), reason="shared MADT data not found")
Capsys = pytest.CaptureFixture[str]


def _pc() -> bytes:
    return (MADT / "qemu-2020-pc-APIC.bin").read_bytes()


def _run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["madt", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@needs_shared
def test_decode_text(capsys: Capsys) -> None:
    code, out, err = _run(capsys, "decode", str(MADT / "qemu-2020-pc-APIC.bin"))
    lines = out.splitlines()
    assert (code, err) == (0, "")
    assert lines[0] == "ACPI: LAPIC (acpi_id[0x00] lapic_id[0x00] enabled)"
    assert len(lines) == 9
    assert lines[-1] == ("summary: APIC v01 BOCHS  BXPCAPIC, 120 bytes; CPUs: 1 enabled / "
                         "1 possible, 1 IOAPIC(s), no MP wakeup mailbox")


@needs_shared
def test_decode_json_object(capsys: Capsys) -> None:
    path = MADT / "fwts-lenovo-tp-g2-APIC.bin"
    code, out, _ = _run(capsys, "decode", "--json", str(path))
    expected = json.loads((MADT / "fwts-lenovo-tp-g2-APIC.expected.json").read_text())
    expected["file"] = str(path)
    assert code == 0 and json.loads(out) == expected


@needs_shared
def test_bad_checksum_warns_or_fails(capsys: Capsys) -> None:
    path = str(MADT / "fwts-intel-crestline-APIC.badchecksum.bin")
    message = (f"{path}: offset 9 (0x9): field checksum: checksum byte 0xcb does not make the "
               "table sum to zero (sum mod 256 = 0xff)")
    code, out, err = _run(capsys, "decode", path)
    assert code == 0 and err == f"kapic: warning: {message}\n" and "LAPIC" in out
    code, out, err = _run(capsys, "decode", "--strict", path)
    assert (code, out, err) == (1, "", f"kapic: error: {message}\n")


@needs_shared
def test_acpidump_with_two_madts(capsys: Capsys) -> None:
    path = DATA / "acpidump" / "fwts-madt-two-apic-tables.txt"
    code, out, _ = _run(capsys, "decode", "--json", str(path))
    docs = json.loads(out)
    assert code == 0 and isinstance(docs, list) and len(docs) == 2
    for doc, name in zip(docs, ("fwts-intel-crestline-APIC", "fwts-phoenix-ptltd-APIC"),
                         strict=True):
        expected = json.loads((MADT / f"{name}.expected.json").read_text())
        assert doc["subtables"] == expected["subtables"] and doc["header"] == expected["header"]
    assert docs[1]["file"] == f"{path} (APIC @ 0xbf6dff70)"
    code, out, _ = _run(capsys, "decode", str(path))
    assert out.count("summary: ") == 2 and out.startswith(f"# {path} (APIC @ 0xbf6dfcc6)\n")


@needs_shared
def test_stdin(capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(_pc())))
    code, out, _ = _run(capsys, "decode", "--kernel", "seed", "-")
    assert code == 0 and out.count("INT_SRC_OVR") == 5


def _bad_cases(tmp: Path) -> list[tuple[str, bytes | None, str]]:
    pc = _pc()
    zero = bytearray(pc)
    zero[45] = 0
    over = bytearray(pc)
    over[115] = 7  # LAPIC NMI at 114 claims 7 bytes, 6 are left
    short = bytearray(pc)
    short[53] = 8  # I/O APIC (12 bytes) claims 8
    dump = (DATA / "acpidump" / "fwts-madt-one-apic-table.txt").read_text()
    return [
        ("truncated", pc[:20], "offset 16 (0x10): field oem_table_id: truncated: input ends "
         "after 20 bytes, inside the 36-byte ACPI table header"),
        ("signature", b"FACP" + pc[4:], "offset 0 (0x0): field signature: signature b'FACP' "
         "is not b'APIC' (not a MADT)"),
        ("beyond", pc[:100], "offset 4 (0x4): field length: header length 120 is beyond the "
         "end of the input (100 bytes)"),
        ("zero", bytes(zero), "offset 45 (0x2d): field subtable[0].length: invalid zero "
         "length of subtable type 0x00 (Processor Local APIC) at offset 44"),
        ("overrun", bytes(over), "offset 115 (0x73): field subtable[7].length: length 7 of "
         "subtable type 0x04 (Local APIC NMI) at offset 114 runs 1 byte(s) past the table "
         "end at 120"),
        ("short", bytes(short), "offset 53 (0x35): field subtable[1].length: length 8 of "
         "subtable type 0x01 (I/O APIC) at offset 52 is shorter than the 12 bytes its type "
         "needs"),
        ("empty", b"", "offset 0 (0x0): field signature: empty input (0 bytes); a MADT starts "
         "with a 36-byte ACPI header"),
        ("dump-hex", dump.replace("cc 49 4e", "zz 49 4e").encode(), "offset 0 (0x0): field "
         "acpidump: acpidump line 2: bad hex bytes '41 50 49 43 68 00 00 00 01 zz 49 4e 54 45 "
         "4c 20'"),
        ("dump-gap", dump.replace("  0010:", "  0020:").encode(), "offset 16 (0x10): field "
         "acpidump: acpidump line 3 starts at offset 0x20 but 16 bytes came before it"),
        ("dump-none", b"DSDT @ 0x1\n  0000: 44 53 44 54\n", "offset 0 (0x0): field signature: "
         "acpidump text holds no APIC table (tables found: DSDT)"),
        ("directory", None, "is a directory, not a table file"),
        ("missing", None, "No such file or directory"),
    ]


@needs_shared
@pytest.mark.parametrize("case", ["truncated", "signature", "beyond", "zero", "overrun", "short",
                                  "empty", "dump-hex", "dump-gap", "dump-none", "directory",
                                  "missing"])
def test_bad_input_is_one_error_line(case: str, tmp_path: Path, capsys: Capsys) -> None:
    name, data, message = next(c for c in _bad_cases(tmp_path) if c[0] == case)
    path = tmp_path / name
    if name == "directory":
        path.mkdir()
    elif data is not None:
        path.write_bytes(data)
    source = f"{path} (APIC @ 0xbf6dfcc6)" if name.startswith("dump-") and name != "dump-none" \
        else str(path)
    code, out, err = _run(capsys, "decode", str(path))
    assert (code, out) == (1, "")
    assert err == f"kapic: error: {source}: {message}\n"


@pytest.mark.parametrize(
    "argv",
    [["decode"], ["decode", "x", "--kernel", "banana"], ["build", "-o", "x"],
     ["build", "--cpus", "2"], ["build", "--cpus", "2", "--apic-ids", "0,1", "-o", "x"], []],
)
def test_usage_errors_exit_2(argv: list[str], capsys: Capsys) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and "error" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--reset-vector", "0x2000"], "an MP wakeup entry needs --mailbox ADDR"),
     (["--mailbox", "1", "--reset-vector", "2", "--wakeup-length", "16"],
      "--reset-vector needs a 24-byte wakeup entry")],
)
def test_build_option_conflicts(argv: list[str], message: str, tmp_path: Path,
                                capsys: Capsys) -> None:
    code, _, err = _run(capsys, "build", "--cpus", "2", *argv, "-o", str(tmp_path / "t"))
    assert (code, err) == (2, f"kapic: error: {message}\n")


@needs_shared
def test_build_reproduces_qemu(tmp_path: Path, capsys: Capsys) -> None:
    out_file = tmp_path / "APIC"
    code, out, _ = _run(capsys, "build", "--cpus", "1", "-o", str(out_file))
    assert code == 0 and out.startswith(f"wrote {out_file}: 120 bytes;")
    assert out_file.read_bytes() == (MADT / "qemu-7.2-q35-APIC.bin").read_bytes()
    code, _, _ = _run(capsys, "build", "--apic-ids", "0-2,4-6", "--disabled", "2,4-6",
                      "--oem-table-id", "BXPC", "-o", str(out_file))
    assert out_file.read_bytes() == (MADT / "qemu-7.2-q35-APIC.cphp.bin").read_bytes()


def test_build_wakeup_then_decode(tmp_path: Path, capsys: Capsys) -> None:
    out_file = str(tmp_path / "APIC")
    code, out, _ = _run(capsys, "build", "--cpus", "4", "--mailbox", "0x7fffd000",
                        "--reset-vector", "0x7fffe068", "-o", out_file, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["summary"]["mp_wakeup_mailbox_address"] == 0x7FFFD000
    assert doc["subtables"][-1]["fields"]["reset_vector"] == 0x7FFFE068
    code, out, _ = _run(capsys, "decode", out_file)
    assert "ACPI: MP Wakeup (version[1], mailbox[0x7fffd000], reset[0x7fffe068])" in out
    assert "MP wakeup mailbox 0x7fffd000 (version 1, 24 bytes, reset vector 0x7fffe068)" in out
    code, out, _ = _run(capsys, "decode", "--kernel", "6.10", "--order", "boot", out_file)
    assert out.splitlines()[-2] == "ACPI: Found unsupported MADT entry (type = 0x10)"
    code, out, _ = _run(capsys, "build", "--cpus", "1", "--wakeup-version", "1",
                        "--wakeup-length", "16", "--mailbox", "0x1000", "-o", out_file)
    assert "(version 1, 16 bytes, no reset vector)" in out
