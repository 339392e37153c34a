"""What the long fuzz runs found in code outside the MADT reader, as strict xfails: each turns
into a failure (remove its marker) once the code is fixed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from kapic.acpi import MpWakeup, build_madt, describe_madt

from .strategies import Command, check_command


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "a MADT whose MP wakeup mailbox lies outside the 52-bit physical address space makes the "
    "built-in acpi-mailbox plugin raise ValueError (kapic/hw/memory.py _check_range), which is "
    "blamed on the plugin: exit 4 instead of an input error (exit 1)"))
@pytest.mark.parametrize(("platform", "mailbox"), [("tdx", 2**64 - 1), ("bare-metal", 1 << 52),
                                                   ("tdx", (1 << 52) - 8)])
def test_mailbox_outside_the_physical_address_space(platform: str, mailbox: int) -> None:
    table = build_madt(describe_madt(cpus=2, wakeup=MpWakeup(1, mailbox, 0)))
    command = Command(("boot", "--platform", platform, "--madt", "{file}"), table)
    with tempfile.TemporaryDirectory() as directory:
        run = check_command(command, Path(directory))
    assert run.status == 1
