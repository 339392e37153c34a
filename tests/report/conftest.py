"""Synthetic :class:`BootResult` objects shaped like the simulator's, for the renderer tests."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import pytest

from kapic.report.rows import Row
from kapic.result import BootResult, CpuResult, Span

MakeRun = Callable[..., BootResult]


def build_run(
    method: str = "init-sipi",
    platform: str = "bare-metal",
    cpus: int = 8,
    *,
    kernel: str = "6.11",
    parallel: bool = True,
    kick_ns: int = 40_000,
    alive_ns: int = 3_450_000,
    alive_step_ns: int = 1_000,
    online_ns: int = 720_000,
    mailbox: bool = False,
    vm_exits_per_ap: int = 0,
    fail: Collection[int] = (),
    trust: Sequence[str] = ("hardware INIT/SIPI delivery",),
    reasons: Sequence[str] = (),
    wall_seconds: float = 0.25,
) -> BootResult:
    """A boot of ``cpus`` CPUs: AP ``i`` takes ``alive_ns + i * alive_step_ns`` to report alive.

    Parallel mode kicks every AP first, then waits for each; serial mode does one at a time.
    CPUs in ``fail`` never report alive.
    """
    spans: list[Span] = []
    results = [CpuResult(0, 0, "boot-cpu")]
    t = 0
    kicks: dict[int, int] = {}

    def kick(ap: int) -> None:
        nonlocal t
        kicks[ap] = t
        spans.append(Span(0, "kick", t, t + kick_ns, ap))
        if mailbox:
            spans.append(Span(0, "mailbox", t + kick_ns // 4, t + 3 * kick_ns // 4, ap))
        t += kick_ns

    def finish(ap: int) -> None:
        nonlocal t
        start = max(t, kicks[ap] + kick_ns)
        if ap in fail:
            spans.append(Span(0, "alive-wait", start, start + 10 * alive_ns, ap))
            t = start + 10 * alive_ns
            error = f"CPU{ap} failed to report alive state"
            results.append(CpuResult(ap, ap * 2, "failed", kick_start_ns=kicks[ap], error=error))
            return
        alive = kicks[ap] + kick_ns + alive_ns + ap * alive_step_ns
        spans.append(Span(ap, "ap-startup", kicks[ap] + kick_ns, alive, ap))
        spans.append(Span(0, "alive-wait", start, max(start, alive), ap))
        # the boot CPU takes each AP from alive to online in turn (cpuhp_bringup_mask)
        spans.append(Span(0, "online", max(start, alive), max(start, alive) + online_ns, ap))
        t = max(start, alive) + online_ns
        handler = "acpi_wakeup_cpu" if mailbox else "wakeup_secondary_cpu_via_init"
        results.append(CpuResult(ap, ap * 2, "online", handler, alive - kicks[ap], kicks[ap], t))

    aps = range(1, cpus)
    if parallel:
        for ap in aps:
            kick(ap)
        for ap in aps:
            finish(ap)
    else:
        for ap in aps:
            kick(ap)
            finish(ap)
    kicked = len(aps)
    counters = {
        "ipis": 0 if mailbox else 3 * kicked,
        "icr_writes": 0 if mailbox else 3 * kicked,
        "vm_exits": vm_exits_per_ap * kicked,
        "mailbox_handshakes": kicked if mailbox else 0,
    }
    return BootResult(
        result="cpu-failed" if fail else "ok",
        platform=platform,
        kernel=kernel,
        method=method,
        seed=0,
        cpus_requested=cpus,
        sim_time_ns=t,
        cpus=sorted(results, key=lambda c: c.cpu),
        log=[],
        spans=spans,
        counters=counters,
        trust=list(trust),
        reasons=list(reasons),
        config={"CONFIG_X86_MADT_WAKEUP": "y"},
        wall_seconds=wall_seconds,
        method_requested=method,
        methods={method: len(aps)},
        bringup={"mode": "parallel" if parallel else "serial",
                 "reason": "synthetic" if parallel else f"the {platform} platform is serial"},
    )


def not_applicable(method: str, platform: str, cpus: int = 8) -> BootResult:
    return BootResult(
        result="not-applicable",
        platform=platform,
        kernel="6.11",
        method=method,
        seed=0,
        cpus_requested=cpus,
        sim_time_ns=0,
        cpus=[CpuResult(0, 0, "boot-cpu")],
        log=[],
        reasons=["the TDX module drops INIT and SIPI: a TD guest cannot be woken this way"],
        method_requested=method,
    )


def sample(cpus: int = 8) -> list[BootResult]:
    """The default comparison: INIT/SIPI on bare metal and KVM, the mailbox on TDX, and
    INIT/SIPI on TDX as not possible."""
    return [
        build_run("init-sipi", "bare-metal", cpus),
        build_run(
            "init-sipi",
            "kvm",
            cpus,
            alive_ns=900_000,
            online_ns=450_000,
            vm_exits_per_ap=3,
            trust=("hypervisor INIT/SIPI emulation",),
        ),
        build_run(
            "acpi-mailbox",
            "tdx",
            cpus,
            parallel=False,
            kick_ns=8_000,
            alive_ns=600_000,
            online_ns=450_000,
            mailbox=True,
            trust=("firmware (TDVF) mailbox loop",),
        ),
        not_applicable("init-sipi", "tdx", cpus),
    ]


@pytest.fixture
def make_run() -> MakeRun:
    return build_run


@pytest.fixture
def runs() -> list[BootResult]:
    return sample()


def repeated(method: str = "init-sipi", platform: str = "kvm", n: int = 5, **kw: Any) -> Row:
    """A row of ``n`` runs under seeds 0..n-1, each AP's start-up 20 us longer per seed."""
    runs = []
    for seed in range(n):
        run = build_run(method, platform, alive_ns=900_000 + 20_000 * seed, **kw)
        run.seed = seed
        runs.append(run)
    return Row(tuple(runs))
