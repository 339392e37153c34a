"""The loader: acpidump detection (stray NULs, UTF-16), per-table errors, ``--table N``,
``load_madt_choice``, and the CPU cap of ``kapic madt build``."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest

from kapic.acpi import MpWakeup, build_madt, describe_madt, load_madts, parse_madt
from kapic.acpi.acpidump import acpidump_tables, looks_like_acpidump
from kapic.acpi.builder import MAX_MADT_CPUS
from kapic.acpi.loader import load_madt_choice, read_madts
from kapic.cli import main
from kapic.errors import MadtError

Capsys = pytest.CaptureFixture[str]

ONE = build_madt(describe_madt(cpus=2))
TWO = build_madt(describe_madt(cpus=3, wakeup=MpWakeup(1, 0x7FFFD000, 0x7FFFE068)))


def _dump(*tables: tuple[str, int, bytes]) -> str:
    """acpidump's text for (signature, address, bytes) tables."""
    out = []
    for signature, address, data in tables:
        out.append(f"{signature} @ 0x{address:x}")
        for offset in range(0, len(data), 16):
            chunk = data[offset : offset + 16]
            text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
            out.append(f"  {offset:04x}: {''.join(f'{b:02x} ' for b in chunk).ljust(48)} {text}")
        out.append("")
    return "\n".join(out) + "\n"


DUMP = _dump(("APIC", 0x1000, ONE), ("FACP", 0x2000, b"\1" * 20), ("APIC", 0x3000, TWO))
#: the second MADT's hex lines broken: "zz" instead of a byte
_HEAD, _TAIL = DUMP.split("APIC @ 0x3000")
BROKEN_SECOND = _HEAD + "APIC @ 0x3000" + _TAIL.replace("  0010: ", "  0010: zz ", 1)


def _run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _write(tmp_path: Path, data: bytes | str, name: str = "dump.txt") -> str:
    path = tmp_path / name
    path.write_bytes(data.encode("latin-1") if isinstance(data, str) else data)
    return str(path)


# -- 4(a): an acpidump text with a stray NUL is still acpidump ---------------------------------


@pytest.mark.parametrize("where", ["before the heading", "inside the heading", "ascii column",
                                   "padding at the end", "blank line"])
def test_stray_nul_is_still_acpidump(where: str) -> None:
    text = DUMP.encode()
    if where == "before the heading":
        data = b"\0" + text
    elif where == "inside the heading":
        data = text.replace(b"APIC @ 0x1000", b"AP\0IC @ 0x1000")
    elif where == "ascii column":
        data = text.replace(b"  APIC", b"  AP\0C", 1)
    elif where == "padding at the end":
        data = text + b"\0" * 100
    else:
        data = text.replace(b"\n\n", b"\n\0\0\n", 1)
    assert looks_like_acpidump(data)
    tables = read_madts("-", io.BytesIO(data), name="dump")
    assert [t.data for t in tables] == [ONE, TWO]
    assert all(t.error is None for t in tables)


def test_nul_in_the_hex_bytes_is_an_error_naming_line_column_and_offset() -> None:
    data = DUMP.encode().replace(b"  0010: ", b"  0010: 4\0", 1)
    [bad, good] = read_madts("-", io.BytesIO(data), name="dump")
    assert good.error is None and good.data == TWO
    assert str(bad.error) == (
        "dump (APIC @ 0x1000): offset 16 (0x10): field acpidump: acpidump line 3, column 10: "
        f"a NUL byte in the offset or hex bytes (input offset {data.index(0)}, "
        f"0x{data.index(0):x})")


def test_utf16_dump_from_powershell_is_read() -> None:
    data = b"\xff\xfe" + DUMP.replace("\n", "\r\n").encode("utf-16-le")
    assert looks_like_acpidump(data)
    assert [t.data for t in read_madts("-", io.BytesIO(data))] == [ONE, TWO]


def test_nul_error_offset_in_utf16_text() -> None:
    text = DUMP.replace("  0010: ", "  0010: 4\0", 1)
    data = b"\xff\xfe" + text.encode("utf-16-le")
    [bad, _] = read_madts("-", io.BytesIO(data), name="dump")
    at = 2 + 2 * text.index("\0")
    assert str(bad.error).endswith(f"(input offset {at}, 0x{at:x})")
    heading = text.index("APIC @ 0x3000")
    assert read_madts("-", io.BytesIO(data))[1].input_offset == 2 + 2 * heading


def test_at_most_1024_apic_tables() -> None:
    start = time.perf_counter()
    many = ("APIC @ 0x0\n" * 6_000_000).encode()  # 63 MiB of headings: no million errors
    with pytest.raises(MadtError, match=r"acpidump line 1025: more than 1024 APIC tables$"):
        read_madts("-", io.BytesIO(many))
    assert time.perf_counter() - start < 3
    assert len(read_madts("-", io.BytesIO(_dump(*[("APIC", i, ONE) for i in range(1024)])
                                          .encode()))) == 1024


def test_utf8_dump_with_a_byte_order_mark_is_read() -> None:
    data = b"\xef\xbb\xbf" + DUMP.encode()
    assert [t.data for t in read_madts("-", io.BytesIO(data))] == [ONE, TWO]


def test_bom_text_that_does_not_decode_is_one_error() -> None:
    data = b"\xff\xfe" + DUMP.encode("utf-16-le") + b"\0"  # an odd byte count
    assert not looks_like_acpidump(data)  # so it is taken for a raw table: a signature error
    with pytest.raises(MadtError, match=re.escape(r"signature b'\xff\xfeA\x00' is not b'APIC'")):
        load_madts("-", io.BytesIO(data))
    with pytest.raises(MadtError, match="byte-order mark that does not decode"):
        acpidump_tables(data, "d")


def test_raw_table_with_a_heading_like_line_stays_raw() -> None:
    madt = describe_madt(cpus=1, oem_id="\nX @ 0", oem_table_id="x1\n     ")
    data = build_madt(madt)
    assert not looks_like_acpidump(data)
    [item] = read_madts("-", io.BytesIO(data))
    assert item.madt == madt and item.address is None


def test_raw_table_with_nul_bytes_is_raw() -> None:
    assert b"\0" in ONE and not looks_like_acpidump(ONE)


# -- 4(b): one bad table does not fail the others ----------------------------------------------


def test_read_madts_keeps_the_good_tables() -> None:
    tables = read_madts("-", io.BytesIO(BROKEN_SECOND.encode()), name="d.txt")
    assert [t.index for t in tables] == [1, 2]
    assert tables[0].madt == parse_madt(ONE) and tables[0].error is None
    assert tables[1].madt is None and tables[1].error is not None
    assert str(tables[1].error).startswith("d.txt (APIC @ 0x3000): offset 16 (0x10): field "
                                           "acpidump: acpidump line ")
    assert (tables[1].line, tables[1].address) == (DUMP.splitlines().index("APIC @ 0x3000") + 1,
                                                   0x3000)


def test_load_madts_reports_per_table_errors() -> None:
    with pytest.raises(MadtError, match=r"APIC @ 0x3000"):
        load_madts("-", io.BytesIO(BROKEN_SECOND.encode()))
    errors: list[MadtError] = []
    [(source, madt, size)] = load_madts("-", io.BytesIO(BROKEN_SECOND.encode()), name="d",
                                        errors=errors)
    assert (source, madt, size) == ("d (APIC @ 0x1000)", parse_madt(ONE), len(ONE))
    assert len(errors) == 1 and errors[0].source == "d (APIC @ 0x3000)"


def test_a_table_that_does_not_decode_is_per_table_too() -> None:
    bad = bytearray(TWO)
    bad[45] = 0  # zero-length first subtable
    text = _dump(("APIC", 0x1000, bytes(bad)), ("APIC", 0x3000, ONE))
    errors: list[MadtError] = []
    good = load_madts("-", io.BytesIO(text.encode()), errors=errors)
    assert [m for _, m, _ in good] == [parse_madt(ONE)]
    assert "invalid zero length" in str(errors[0]) and errors[0].offset == 45


def test_decode_shows_good_tables_and_one_error_line(tmp_path: Path, capsys: Capsys) -> None:
    path = _write(tmp_path, BROKEN_SECOND)
    code, out, err = _run(capsys, "madt", "decode", path)
    assert code == 1
    assert out.startswith(f"# {path} (APIC @ 0x1000)\n") and out.count("summary: ") == 1
    [line] = err.splitlines()
    assert line.startswith(f"kapic: error: {path} (APIC @ 0x3000): offset 16 (0x10): ")
    code, out, err = _run(capsys, "madt", "decode", "--json", path)
    docs = json.loads(out)
    assert code == 1 and len(docs) == 2 and docs[0]["summary"]["lapic"] == 2
    assert docs[1] == {"file": f"{path} (APIC @ 0x3000)", "file_size": None,
                       "error": line.removeprefix("kapic: error: ")}


def test_decode_strict_fails_only_the_table_with_a_bad_checksum(tmp_path: Path,
                                                                capsys: Capsys) -> None:
    bad = bytearray(ONE)
    bad[9] ^= 1
    path = _write(tmp_path, _dump(("APIC", 0x1000, bytes(bad)), ("APIC", 0x3000, TWO)))
    code, out, err = _run(capsys, "madt", "decode", "--strict", path)
    assert code == 1 and out.count("summary: ") == 1 and "0x3000" in out
    assert err.count("\n") == 1 and "field checksum" in err


# -- --table N ---------------------------------------------------------------------------------


def test_decode_table_n(tmp_path: Path, capsys: Capsys) -> None:
    path = _write(tmp_path, BROKEN_SECOND)
    code, out, err = _run(capsys, "madt", "decode", "--table", "1", path)
    assert (code, err) == (0, "") and out.count("summary: ") == 1
    assert out.startswith(f"# {path} (APIC @ 0x1000)\n")
    code, out, err = _run(capsys, "madt", "decode", "--table", "2", path)
    assert (code, out) == (1, "") and err.startswith(f"kapic: error: {path} (APIC @ 0x3000)")
    good = _write(tmp_path, DUMP, "good.txt")
    code, out, _ = _run(capsys, "madt", "decode", "--table", "2", "--json", good)
    assert code == 0 and json.loads(out)["summary"]["mp_wakeup"] == 1  # one object, not a list
    code, out, err = _run(capsys, "madt", "decode", "--table", "3", good)
    assert (code, out) == (1, "")
    assert err == f"kapic: error: {good}: field table: --table 3: the input holds 2 MADTs\n"
    raw = _write(tmp_path, ONE, "raw.bin")
    assert _run(capsys, "madt", "decode", "--table", "1", raw)[0] == 0
    assert _run(capsys, "madt", "decode", "--table", "2", raw)[2].endswith("holds 1 MADT\n")


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_decode_table_n_usage_errors(tmp_path: Path, capsys: Capsys, value: str) -> None:
    code, _, err = _run(capsys, "madt", "decode", "--table", value, _write(tmp_path, DUMP))
    assert code == 2 and "--table" in err


# -- load_madt_choice --------------------------------------------------------------------------


def test_load_madt_choice(tmp_path: Path) -> None:
    path = _write(tmp_path, DUMP)
    second = DUMP.splitlines().index("APIC @ 0x3000")
    offset = DUMP.index("APIC @ 0x3000")
    assert load_madt_choice(path) == (
        f"{path} (APIC @ 0x1000)", parse_madt(ONE),
        f"{path}: 2 MADTs, using the first (APIC @ 0x1000, line 1, offset 0); --table N picks "
        "another")
    assert load_madt_choice(path, 2) == (
        f"{path} (APIC @ 0x3000)", parse_madt(TWO),
        f"{path}: 2 MADTs, using the second (APIC @ 0x3000, line {second + 1}, offset {offset})")
    raw = _write(tmp_path, ONE, "raw.bin")
    assert load_madt_choice(raw) == (raw, parse_madt(ONE), "")
    assert load_madt_choice(raw, 1)[2] == f"{raw}: 1 MADT, using the first (raw table)"


def test_load_madt_choice_only_needs_the_chosen_table(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN_SECOND)
    assert load_madt_choice(path)[1] == parse_madt(ONE)
    with pytest.raises(MadtError, match=r"\(table 2 of 2; --table N picks another\)$") as info:
        load_madt_choice(path, 2)
    assert info.value.source == f"{path} (APIC @ 0x3000)"
    first_bad = _write(tmp_path, DUMP.replace("  0010: ", "  0010: zz ", 1), "first-bad.txt")
    with pytest.raises(MadtError, match=r"\(table 1 of 2; --table N picks one that decodes\)$"):
        load_madt_choice(first_bad)
    assert load_madt_choice(first_bad, 2)[1] == parse_madt(TWO)


@pytest.mark.parametrize("table", [0, -1, 3, True])
def test_load_madt_choice_bad_index(tmp_path: Path, table: int) -> None:
    with pytest.raises(MadtError) as info:
        load_madt_choice(_write(tmp_path, DUMP), table)
    assert info.value.field == "table" and "\n" not in str(info.value)


def test_load_madt_choice_stdin_and_types() -> None:
    source, madt, note = load_madt_choice("-", None, None, stdin=io.BytesIO(DUMP.encode()))
    assert source == "<stdin> (APIC @ 0x1000)" and madt == parse_madt(ONE)
    assert note.startswith("<stdin>: 2 MADTs, using the first")


def test_acpidump_tables_positions() -> None:
    tables = acpidump_tables(DUMP.encode(), "d")
    assert [(t.address, t.line, t.input_offset) for t in tables] == [
        (0x1000, 1, 0),
        (0x3000, DUMP.splitlines().index("APIC @ 0x3000") + 1, DUMP.index("APIC @ 0x3000"))]


# -- 4(c): the CPU cap of madt build -----------------------------------------------------------


@pytest.mark.parametrize("argv", [["--cpus", "2000000"], ["--cpus", str(10**9)],
                                  ["--cpus", "99999999999999999999999"],
                                  ["--cpus", str(MAX_MADT_CPUS + 1)], ["--cpus", "0"],
                                  ["--apic-ids", "0-4294967295"], ["--apic-ids", "0-70000"],
                                  ["--apic-ids", "4294967296"],
                                  ["--cpus", "2", "--disabled", "0-4294967295"]])
def test_build_refuses_more_cpus_than_kapic_models(tmp_path: Path, capsys: Capsys,
                                                   argv: list[str]) -> None:
    start = time.perf_counter()
    code, out, err = _run(capsys, "madt", "build", *argv, "-o", str(tmp_path / "t.bin"))
    assert time.perf_counter() - start < 2
    assert code == 2 and out == "" and not (tmp_path / "t.bin").exists()
    assert err.splitlines()[-1].startswith("kapic madt build: error: argument ")


def test_build_cap_is_inclusive() -> None:
    from kapic.cli.madt import _cpu_count  # the --cpus type: 65536 is fine, 65537 is not

    assert _cpu_count(str(MAX_MADT_CPUS)) == MAX_MADT_CPUS == 65536


@pytest.mark.parametrize("kwargs", [{"cpus": 10**9}, {"cpus": 10**23}, {"cpus": 0},
                                    {"cpus": -1}, {"apic_ids": range(2**32)},
                                    {"apic_ids": range(10**23)}, {"apic_ids": [1, 1]}])
def test_describe_madt_refuses_quickly(kwargs: dict[str, object]) -> None:
    start = time.perf_counter()
    with pytest.raises(MadtError) as info:
        describe_madt(**kwargs)  # type: ignore[arg-type]
    assert time.perf_counter() - start < 1 and len(str(info.value)) < 200


def test_nul_in_a_path_is_an_input_error(capsys: Capsys) -> None:
    code, out, err = _run(capsys, "madt", "decode", "a\0b")
    assert (code, out) == (1, "") and err.startswith("kapic: error: a\0b: ")


# -- --table N on kapic boot and kapic compare ---------------------------------------------------


def test_boot_takes_the_first_madt_and_says_so(tmp_path: Path, capsys: Capsys) -> None:
    code, out, err = _run(capsys, "boot", "--madt", _write(tmp_path, DUMP))
    assert code == 0
    assert "2/2 CPUs online" in out
    assert err.startswith("kapic: note: ") and "2 MADTs, using the first" in err
    assert "--table N picks another" in err


def test_boot_table_2_boots_the_second_madt(tmp_path: Path, capsys: Capsys) -> None:
    code, out, err = _run(capsys, "boot", "--platform", "tdx", "--madt", _write(tmp_path, DUMP),
                          "--table", "2", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["cpus_online"] == 3 and doc["spec"]["table"] == 2
    assert err == ""  # the note is for people; --json carries the spec


def test_boot_replays_the_table_it_took(tmp_path: Path, capsys: Capsys) -> None:
    path = _write(tmp_path, DUMP)
    code, out, _ = _run(capsys, "boot", "--platform", "tdx", "--madt", path, "--table", "2",
                        "--json")
    assert code == 0
    replay = _write(tmp_path, out, "boot.json")
    code, again, _ = _run(capsys, "boot", "--replay", replay, "--json")
    assert code == 0 and json.loads(again)["cpus_online"] == 3


def test_boot_a_broken_second_table_does_not_matter(tmp_path: Path, capsys: Capsys) -> None:
    path = _write(tmp_path, BROKEN_SECOND)
    code, _, _ = _run(capsys, "boot", "--madt", path)
    assert code == 0
    code, _, err = _run(capsys, "boot", "--madt", path, "--table", "2")
    assert code == 1
    assert err.count("\n") == 1 and "table 2 of 2" in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "status", "says"), [
    (("--table", "3"), 1, "the input holds 2 MADTs"),
    (("--table", "0"), 2, "tables are numbered from 1"),
    (("--table", "x"), 2, "not a number"),
])
def test_boot_bad_table_number(tmp_path: Path, capsys: Capsys, argv: tuple[str, ...],
                               status: int, says: str) -> None:
    code, _, err = _run(capsys, "boot", "--madt", _write(tmp_path, DUMP), *argv)
    assert code == status and says in err.splitlines()[-1]
    assert "Traceback" not in err


def test_table_without_madt_is_a_usage_error(capsys: Capsys) -> None:
    code, _, err = _run(capsys, "boot", "--table", "2")
    assert code == 2 and "give --madt" in err


def test_compare_table_2(tmp_path: Path, capsys: Capsys) -> None:
    code, out, err = _run(capsys, "compare", "--madt", _write(tmp_path, DUMP), "--table", "2",
                          "--repeat", "1", "--json")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert runs and all(r["cpus_requested"] == 3 for r in runs)


def test_compare_from_stdin_checks_the_chosen_table_first(tmp_path: Path,
                                                          capsys: Capsys,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(BROKEN_SECOND.encode())))
    code, _, err = _run(capsys, "compare", "--madt", "-", "--table", "2", "--repeat", "1")
    assert code == 1 and "table 2 of 2" in err and err.count("\n") == 1


def test_compare_says_which_table_it_takes(tmp_path: Path, capsys: Capsys) -> None:
    code, _, err = _run(capsys, "compare", "--madt", _write(tmp_path, DUMP), "--repeat", "1")
    assert code == 0
    assert err.count("kapic: note: ") == 1 and "2 MADTs, using the first" in err


def test_compare_bad_table_fails_before_any_run(tmp_path: Path, capsys: Capsys) -> None:
    code, out, err = _run(capsys, "compare", "--madt", _write(tmp_path, DUMP), "--table", "3")
    assert code == 1 and out == "" and "the input holds 2 MADTs" in err
    code, _, err = _run(capsys, "compare", "--table", "2")
    assert code == 2 and "give --madt" in err
