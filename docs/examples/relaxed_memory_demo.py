"""Relaxed visibility catches a missing release: a mailbox wakeup that writes the command
with WRITE_ONCE instead of smp_store_release, booted on tdx with and without
``relaxed_memory`` over twelve seeds. Run: ``python docs/examples/relaxed_memory_demo.py``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from kapic import SPIN, BootSpec, Kernel, MpWakeup, PluginHost, hookimpl, run_boot


def acpi_wakeup_cpu_no_release(
    kernel: Kernel, apicid: int, start_ip: int, cpu: int
) -> Generator[Any, Any, int]:
    assert kernel.madt is not None
    wake = next(s for s in kernel.madt.subtables if isinstance(s, MpWakeup))
    mailbox = kernel.memremap(wake.mailbox_address, 4096)
    mailbox.write_once(0x4, 4, apicid)  # APIC ID
    mailbox.write_once(0x8, 8, start_ip)  # wakeup vector
    mailbox.write_once(0x0, 2, 1)  # BUG: the command needs store_release
    while mailbox.read_once(0x0, 2):
        yield SPIN
    return 0


class BrokenMailbox:
    @hookimpl
    def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
        # Runs after acpi_parse_mp_wake installed acpi_wakeup_cpu: replace it.
        kernel.apic_state.apic_update_callback(
            "wakeup_secondary_cpu_64", acpi_wakeup_cpu_no_release
        )


def main() -> None:
    failures: list[str] = []
    for relaxed in (False, True):
        outcomes = []
        for seed in range(12):
            host = PluginHost()
            host.register(BrokenMailbox(), "broken-mailbox")
            spec = BootSpec(platform="tdx", cpus=8, seed=seed, relaxed_memory=relaxed,
                            watchdog_ns=2_000_000_000)
            result = run_boot(spec, plugins=host)
            outcomes.append(result.result)
            failures += [f"CPU{c.cpu}: {c.error}" for c in result.cpus
                         if c.error and "triple fault" in c.error]
        print(f"relaxed_memory={relaxed}: " + " ".join(outcomes))
    print(f"first failure: {failures[0]}")


if __name__ == "__main__":
    main()
