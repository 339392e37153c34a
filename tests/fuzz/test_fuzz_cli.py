"""``kapic.cli.main`` with generated ``boot``/``compare``/``madt`` command lines and table files:
exit status 0, 1, 2 or 4, never an exception, never a traceback. CPU counts stay small."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings

from .settings import CI
from .strategies import Command, boot_commands, check_command, madt_commands


@settings(CI, max_examples=60)
@given(boot_commands())
def test_boot_command_lines(command: Command) -> None:
    with tempfile.TemporaryDirectory(prefix="kapic-fuzz-") as directory:
        check_command(command, Path(directory))


@settings(CI, max_examples=80)
@given(madt_commands())
def test_madt_command_lines(command: Command) -> None:
    with tempfile.TemporaryDirectory(prefix="kapic-fuzz-") as directory:
        check_command(command, Path(directory))
