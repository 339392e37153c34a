"""kapic: a simulated x86 Linux secondary-CPU bring-up (INIT/SIPI and the ACPI MADT mailbox).

This module is the public API: everything a plugin or a test needs is importable from here,
and docs/api.md lists every name with one line each.
"""

from kapic.acpi.builder import build_madt, describe_madt
from kapic.acpi.entry import MadtEntry
from kapic.acpi.kprint import print_madt_entry
from kapic.acpi.madt import Madt, finalize_madt
from kapic.acpi.processors import LocalApic, LocalX2Apic
from kapic.acpi.types import MadtTypes
from kapic.acpi.wakeup import MpWakeup
from kapic.acpi.walker import parse_madt
from kapic.api import BootSpec, build_machine, compare_plan, run_boot
from kapic.boundary import PluginFault, PluginRef
from kapic.errors import (
    ConfigError,
    ExitCode,
    InputError,
    KapicError,
    MadtError,
    PluginError,
)
from kapic.faults.model import Expect, Fault, FaultContext, FaultParam
from kapic.firmware.model import FirmwareEnv, FirmwareModel, FirmwareSession
from kapic.hw.board import Vmm
from kapic.hw.cpu import Cpu
from kapic.hw.hypervisor import HypervisorPolicy
from kapic.hw.lapic import (
    APIC_DM_INIT,
    APIC_DM_STARTUP,
    APIC_ESR,
    APIC_ICR,
    APIC_ICR2,
    APIC_ICR_BUSY,
    APIC_INT_ASSERT,
    APIC_INT_LEVELTRIG,
)
from kapic.hw.memory import IoMem
from kapic.kernel.acpi_boot import MadtHandler
from kapic.kernel.apic import Apic, ApicDriverRegistry, ApicState, WakeupHandler
from kapic.kernel.config import KernelConfig
from kapic.kernel.env import KernelEnv
from kapic.kernel.kernel import EINVAL, EIO, ENODEV, EOPNOTSUPP, Kernel, KernelCpu, RealModeHeader
from kapic.markers import hookimpl, hookspec
from kapic.methods import WakeupMethod
from kapic.platforms.model import DEFAULT_PARAMS, PARAM_DOCS, Platform
from kapic.plugin import PluginHost
from kapic.result import BootResult, CpuResult, Span, Spans, TraceEvent
from kapic.sim.engine import RELAX, SPIN, Wait
from kapic.sweeps import Grid, GridError, sweep
from kapic.versions import (
    ANNOUNCE_PR_INFO,
    APIC_INSTALL_DRIVER,
    APIC_UPDATE_CALLBACK,
    GATES,
    HAS_LAPIC_CPUS,
    HOTPLUG_PARALLEL,
    HOTPLUG_SPLIT_STARTUP,
    KICK_AP_MESSAGES,
    LAPIC_ADDR_OVR_HEX,
    LAPIC_BEFORE_X2APIC,
    LAPIC_HOTPLUG_GUEST_ONLY,
    LATEST,
    MADT_WAKEUP_C,
    MADT_WAKEUP_PRINTED,
    MP_WAKE,
    MP_WAKE_TIMEOUT,
    NAMED_RELEASES,
    PHYSFLAT_ONLY,
    RELEASES,
    TDX_HOTPLUG_DISABLED,
    TDX_TSC_RELIABLE,
    TOPO_NODES,
    TOPO_REJECT_HOTPLUG,
    TOPOLOGY_REWORK,
    Gate,
    KernelVersion,
    gate,
    parse_kernel_version,
)

__version__ = "0.3.2"


def udelay(usecs: int) -> int:
    """``udelay(usecs)``: yield the returned value from a kernel generator to busy-wait."""
    return usecs * 1000


def ndelay(nsecs: int) -> int:
    """``ndelay(nsecs)``: yield the returned value to busy-wait ``nsecs`` ns."""
    return nsecs


#: ``cpu_relax()``: ``yield cpu_relax`` ... spelled ``yield RELAX`` in a loop.
cpu_relax = RELAX

__all__ = [
    "ANNOUNCE_PR_INFO",
    "APIC_DM_INIT",
    "APIC_DM_STARTUP",
    "APIC_ESR",
    "APIC_ICR",
    "APIC_ICR2",
    "APIC_ICR_BUSY",
    "APIC_INSTALL_DRIVER",
    "APIC_INT_ASSERT",
    "APIC_INT_LEVELTRIG",
    "APIC_UPDATE_CALLBACK",
    "DEFAULT_PARAMS",
    "EINVAL",
    "EIO",
    "ENODEV",
    "EOPNOTSUPP",
    "GATES",
    "HAS_LAPIC_CPUS",
    "HOTPLUG_PARALLEL",
    "HOTPLUG_SPLIT_STARTUP",
    "KICK_AP_MESSAGES",
    "LAPIC_ADDR_OVR_HEX",
    "LAPIC_BEFORE_X2APIC",
    "LAPIC_HOTPLUG_GUEST_ONLY",
    "LATEST",
    "MADT_WAKEUP_C",
    "MADT_WAKEUP_PRINTED",
    "MP_WAKE",
    "MP_WAKE_TIMEOUT",
    "NAMED_RELEASES",
    "PARAM_DOCS",
    "PHYSFLAT_ONLY",
    "RELAX",
    "RELEASES",
    "SPIN",
    "TDX_HOTPLUG_DISABLED",
    "TDX_TSC_RELIABLE",
    "TOPOLOGY_REWORK",
    "TOPO_NODES",
    "TOPO_REJECT_HOTPLUG",
    "Apic",
    "ApicDriverRegistry",
    "ApicState",
    "BootResult",
    "BootSpec",
    "ConfigError",
    "Cpu",
    "CpuResult",
    "ExitCode",
    "Expect",
    "Fault",
    "FaultContext",
    "FaultParam",
    "FirmwareEnv",
    "FirmwareModel",
    "FirmwareSession",
    "Gate",
    "Grid",
    "GridError",
    "HypervisorPolicy",
    "InputError",
    "IoMem",
    "KapicError",
    "Kernel",
    "KernelConfig",
    "KernelCpu",
    "KernelEnv",
    "KernelVersion",
    "LocalApic",
    "LocalX2Apic",
    "Madt",
    "MadtEntry",
    "MadtError",
    "MadtHandler",
    "MadtTypes",
    "MpWakeup",
    "Platform",
    "PluginError",
    "PluginFault",
    "PluginHost",
    "PluginRef",
    "RealModeHeader",
    "Span",
    "Spans",
    "TraceEvent",
    "Vmm",
    "Wait",
    "WakeupHandler",
    "WakeupMethod",
    "__version__",
    "build_machine",
    "build_madt",
    "compare_plan",
    "cpu_relax",
    "describe_madt",
    "finalize_madt",
    "gate",
    "hookimpl",
    "hookspec",
    "ndelay",
    "parse_kernel_version",
    "parse_madt",
    "print_madt_entry",
    "run_boot",
    "sweep",
    "udelay",
]
