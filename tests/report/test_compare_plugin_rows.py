"""A third-party method on its own platform: ``kapic compare`` names each row by the method
that actually woke the APs, marks a row whose asked method did not run, and leaves it out of
the verdict (the issue's ``parking-vm`` case, with the real simulator)."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from kapic import (
    EINVAL,
    FirmwareModel,
    Kernel,
    Platform,
    PluginHost,
    WakeupMethod,
    hookimpl,
)
from kapic.cli import main


def parking_wakeup_cpu(kernel: Kernel, apicid: int, start_ip: int, cpu: int
                       ) -> Generator[Any, Any, int]:
    """Ask the hypervisor to run the parked vCPU at start_ip (a paravirtual parking call)."""
    yield kernel.vmm.exit("parking")
    return 0 if kernel.vmm.start_vcpu(apicid, start_ip, "long") else -EINVAL


def _unavailable(platform: Platform, firmware: FirmwareModel) -> str | None:
    return None if platform.name == "parking-vm" else f"{platform.name} has no parking call"


class Parking:
    @hookimpl
    def kapic_platforms(self) -> list[Platform]:
        return [Platform(name="parking-vm", description="parks its vCPUs", hypervisor="kvm",
                         firmware="sipi-wait", init_sipi=False, parallel_bringup=True)]

    @hookimpl
    def kapic_wakeup_methods(self) -> list[WakeupMethod]:
        return [WakeupMethod(
            name="parking", handler_name="parking_wakeup_cpu", summary="a parking call",
            trust=lambda platform: "hypervisor parking call",
            force_madt=lambda madt, platform: madt, unavailable=_unavailable)]

    @hookimpl
    def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
        if kernel.platform.name == "parking-vm":  # the guest always uses the parking call
            kernel.apic_state.apic_update_callback("wakeup_secondary_cpu_64", parking_wakeup_cpu)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = PluginHost.__init__

    def init(self: PluginHost, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register(PLUGIN, "parking")

    monkeypatch.setattr(PluginHost, "__init__", init)
    yield


PLUGIN = Parking()


@pytest.mark.usefixtures("installed")
def test_rows_are_named_by_what_ran(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--json", "--platform", "parking-vm", "--cpus", "4"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["asked"]: r for r in doc["rows"]}
    assert rows["init-sipi"]["method"] == "parking (asked for init-sipi)"
    assert rows["init-sipi"]["ran_as_asked"] is False
    assert rows["parking"]["method"] == "parking" and rows["parking"]["ran_as_asked"]
    asked = [s for s in doc["verdict"] if s["kind"] == "not-as-asked"]
    assert [s["text"] for s in asked] == [
        "init-sipi was asked for on parking-vm, but parking woke the CPUs: the row is left out "
        "of the comparison."]
    compared = {label for s in doc["verdict"] if s["kind"] in ("wakeup", "total")
                for label in s["rows"]}
    assert not any("asked for" in label for label in compared)


@pytest.mark.usefixtures("installed")
def test_the_table_marks_the_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--platform", "parking-vm", "--cpus", "4", "--repeat", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("parking (asked for init-sipi)"))
    assert row.rstrip().endswith("another method ran")
    assert "IPIS" in lines[0]
