"""A plugin's own MADT subtable type reaches the whole path: decode, the boot's handler,
the kernel log, ``kapic madt decode`` and ``kapic madt build --entry``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kapic import (
    BootSpec,
    Kernel,
    KernelVersion,
    MadtEntry,
    MadtHandler,
    PluginHost,
    build_madt,
    describe_madt,
    hookimpl,
    print_madt_entry,
    run_boot,
)
from kapic.cli import main


@dataclass(frozen=True, slots=True)
class OemParking(MadtEntry):
    """Type 0x80: an OEM parking-protocol entry (an example layout)."""

    type: ClassVar[int] = 0x80
    NAME: ClassVar[str] = "OEM Parking Protocol"
    LAYOUT: ClassVar[tuple[tuple[str, str], ...]] = (
        ("version", "B"), ("reserved", "B"), ("processor_uid", "I"), ("parking_address", "Q"),
    )

    processor_uid: int
    parking_address: int
    version: int = 1
    reserved: int = 0

    def kernel_lines(self, kernel: KernelVersion) -> list[str]:
        return [f"OEM_PARKING (uid[0x{self.processor_uid:02x}] "
                f"address[0x{self.parking_address:x}])"]


class ParkingPlugin:
    """Declares the type and parses it in the kernel, printing it as the kernel would."""

    def __init__(self) -> None:
        self.seen: list[MadtEntry] = []

    @hookimpl
    def kapic_madt_subtable_types(self) -> list[type[MadtEntry]]:
        return [OemParking]

    def parse_parking(self, kernel: Kernel, entry: Any, end: int) -> int:
        self.seen.append(entry)
        for line in print_madt_entry(entry, kernel.version):
            kernel.printk(line)
        return 0

    @hookimpl
    def kapic_madt_handlers(self) -> list[MadtHandler]:
        return [MadtHandler(OemParking.type, self.parse_parking)]


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "parking.bin"
    entries = [OemParking(processor_uid=n, parking_address=0x7FFF0000 + n * 0x1000)
               for n in range(2)]
    path.write_bytes(build_madt(describe_madt(cpus=2, entries=entries)))
    return path


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[ParkingPlugin]:
    """The plugin, registered in every PluginHost the command line makes."""
    plugin = ParkingPlugin()
    original = PluginHost.__init__

    def init(self: PluginHost, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register(plugin, "parking")

    monkeypatch.setattr(PluginHost, "__init__", init)
    yield plugin


def test_the_boot_hands_the_plugins_handler_typed_entries(table: Path) -> None:
    plugin = ParkingPlugin()
    host = PluginHost()
    host.register(plugin, "parking")
    result = run_boot(BootSpec(madt=str(table)), plugins=host)
    assert result.result == "ok"
    assert [type(e) for e in plugin.seen] == [OemParking, OemParking]
    assert [e.processor_uid for e in plugin.seen] == [0, 1]  # type: ignore[attr-defined]
    logged = [line.split("] ", 1)[1] for line in result.log if "OEM_PARKING" in line]
    assert logged == ["ACPI: OEM_PARKING (uid[0x00] address[0x7fff0000])",
                      "ACPI: OEM_PARKING (uid[0x01] address[0x7fff1000])"]


def test_without_the_plugin_the_entry_stays_raw_and_unsupported(table: Path,
                                                                capsys: pytest.CaptureFixture[str]
                                                                ) -> None:
    assert main(["madt", "decode", str(table)]) == 0
    assert "Found unsupported MADT entry (type = 0x80)" in capsys.readouterr().out


def test_madt_decode_and_build_know_the_plugins_type(
    table: Path, installed: ParkingPlugin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["madt", "decode", str(table)]) == 0
    assert "ACPI: OEM_PARKING (uid[0x01] address[0x7fff1000])" in capsys.readouterr().out
    assert main(["madt", "decode", "--json", str(table)]) == 0
    doc = json.loads(capsys.readouterr().out)
    tables = doc if isinstance(doc, list) else doc.get("tables", [doc])
    fields = [s["fields"] for s in tables[0]["subtables"] if s["type"] == 0x80]
    assert [f["parking_address"] for f in fields] == [0x7FFF0000, 0x7FFF1000]
    out = tmp_path / "built.bin"
    assert main(["madt", "build", "--cpus", "2", "--entry",
                 "0x80:processor_uid=0,parking_address=0x7fff0000", "--entry",
                 "0x80:processor_uid=1,parking_address=0x7fff1000", "-o", str(out)]) == 0
    assert out.read_bytes() == table.read_bytes()
