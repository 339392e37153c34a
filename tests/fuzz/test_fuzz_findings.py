"""What the long fuzz runs found in code outside the MADT reader, kept as regression tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from kapic.acpi import MpWakeup, build_madt, describe_madt

from .strategies import Command, check_command


# Found by bench/fuzz_madt.py in every long run: the built-in acpi-mailbox plugin raised
# ValueError from the simulated memory and was blamed for it (exit 4).
@pytest.mark.parametrize(("platform", "mailbox"), [("tdx", 2**64 - 1), ("bare-metal", 1 << 52),
                                                   ("tdx", (1 << 52) - 8)])
def test_mailbox_outside_the_physical_address_space(platform: str, mailbox: int) -> None:
    table = build_madt(describe_madt(cpus=2, wakeup=MpWakeup(1, mailbox, 0)))
    command = Command(("boot", "--platform", platform, "--madt", "{file}"), table)
    with tempfile.TemporaryDirectory() as directory:
        run = check_command(command, Path(directory))
    assert run.status == 1
    assert "Multiprocessor Wakeup.mailbox_address" in run.err
    assert f"mailbox 0x{mailbox:x}" in run.err


def test_mailbox_on_the_last_page_still_boots() -> None:
    table = build_madt(describe_madt(cpus=2, wakeup=MpWakeup(1, (1 << 52) - 4096, 0)))
    command = Command(("boot", "--platform", "tdx", "--madt", "{file}"), table)
    with tempfile.TemporaryDirectory() as directory:
        run = check_command(command, Path(directory))
    assert run.status == 0, run.err
