"""Why a wakeup hook installed while the MADT is parsed must survive the final APIC probe.

A demo plugin handles the MADT wakeup entry (type 0x10, the mailbox plugin blocked) and
installs a hook in one of three ways; on a 16-CPU bare-metal machine in xAPIC mode the final
probe then switches ``flat`` to ``physical flat``. Run: ``python docs/examples/override_demo.py``.
The hook is a stand-in that starts the AP directly at ``start_ip`` (no firmware involved).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

from kapic import (
    BootSpec,
    Kernel,
    MadtHandler,
    MpWakeup,
    PluginHost,
    build_madt,
    describe_madt,
    finalize_madt,
    hookimpl,
    run_boot,
)


def demo_wakeup_cpu(kernel: Kernel, apicid: int, start_ip: int, cpu: int) -> Generator[Any, Any, int]:
    kcpu = kernel.cpu_by_apicid(apicid)
    hw = None if kcpu is None else kernel.hw_cpu(kcpu)
    assert hw is not None
    yield 1_000
    kernel.board.start_cpu(hw, start_ip, "long")
    return 0


class InstallAtMadtTime:
    def __init__(self, how: str) -> None:
        self.how = how

    def parse_wake(self, kernel: Kernel, entry: Any, end: int) -> int:
        if self.how == "direct":  # apic->wakeup_secondary_cpu_64 = fn
            kernel.apic.wakeup_secondary_cpu_64 = demo_wakeup_cpu
        elif self.how == "acpi_wake_cpu_handler_update":  # 5.19 to 6.5 only
            kernel.apic_state.acpi_wake_cpu_handler_update(demo_wakeup_cpu)
        else:  # 6.6 on only
            kernel.apic_state.apic_update_callback("wakeup_secondary_cpu_64", demo_wakeup_cpu)
        return 0

    @hookimpl
    def kapic_madt_handlers(self) -> list[MadtHandler]:
        return [MadtHandler(0x10, self.parse_wake, max_entries=1)]


def main() -> None:
    wake = MpWakeup(version=1, mailbox_address=0x7FFFD000, reset_vector=0x7FFFE068)
    madt = describe_madt(cpus=16)
    madt = finalize_madt(dataclasses.replace(madt, subtables=(*madt.subtables, wake)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "apic.bin"
        path.write_bytes(build_madt(madt))
        for kernel in ("5.19", "6.6"):
            for how in ("direct", "acpi_wake_cpu_handler_update", "apic_update_callback"):
                host = PluginHost(blocked=["acpi-mailbox"])
                host.register(InstallAtMadtTime(how), "demo")
                spec = BootSpec(platform="bare-metal", kernel=kernel, madt=str(path),
                                params={"x2apic": "0"})
                result = run_boot(spec, plugins=host)
                used = sorted({c.wakeup_handler for c in result.cpus if c.wakeup_handler})
                print(f"{kernel:4} {how:28} -> {', '.join(used) or '-'} ({result.result})")


if __name__ == "__main__":
    main()
