"""Fault scenarios: named, seeded, parameterised ways a firmware, a hypervisor, the kernel or
the MADT goes wrong, runnable from the command line (``--fault NAME[:k=v,...]``) and the API
(``BootSpec(faults=(...))``).

A :class:`Fault` is what a plugin provides (``kapic_faults``; kapic's own are in
:mod:`kapic.faults.builtin`, the mailbox firmware's in its plugin). When a machine is built,
each fault asked for is applied to a :class:`FaultContext`: it may set platform parameters,
change the MADT the kernel gets, replace the firmware model with a variant, set the
hypervisor's answers, switch memory to relaxed visibility or run code in the kernel at
``native_smp_prepare_cpus``. Every fault declares its expected outcome on the seed posting
and on each span of releases it behaves alike on, and the tests boot every fault on the seed
and on every named release and check it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kapic.errors import ConfigError
from kapic.versions import RELEASES, KernelVersion

if TYPE_CHECKING:
    from kapic.acpi.madt import Madt
    from kapic.firmware.model import FirmwareModel
    from kapic.hw.hypervisor import HypervisorPolicy
    from kapic.kernel.kernel import Kernel
    from kapic.platforms.model import Platform

__all__ = [
    "FIRST_RELEASE",
    "LAYERS",
    "OUTCOMES",
    "Expect",
    "Fault",
    "FaultContext",
    "FaultParam",
    "expected_key_problem",
    "parse_fault",
]

#: where a fault happens
LAYERS = ("firmware", "hypervisor", "kernel", "madt")
#: what a fault may do to a boot (``varies``: the seed decides)
OUTCOMES = ("ok", "cpu-failed", "hung", "invalid-input", "plugin-error", "varies")

ParamValue = int | float | str


@dataclass(frozen=True, slots=True)
class FaultParam:
    """A parameter of a fault: ``name=value`` after the fault's name; typed by its default."""

    name: str
    default: ParamValue
    help: str
    #: the values a text parameter may take (empty: any)
    choices: tuple[str, ...] = ()
    #: the largest value a number may take (None: no bound)
    maximum: float | None = None

    def __post_init__(self) -> None:
        if type(self.default) not in (int, float, str):
            raise TypeError(f"fault parameter {self.name}: the default must be an int, a float "
                            f"or a str, not {self.default!r}")
        if self.choices and self.default not in self.choices:
            raise ValueError(f"fault parameter {self.name}: the default {self.default!r} is not "
                             f"one of its choices {self.choices}")

    def parse(self, fault: str, text: str) -> ParamValue:
        """The value of ``text``, or ConfigError naming the fault and the parameter."""
        if self.choices and text not in self.choices:
            raise ConfigError(f"--fault {fault}: {self.name}={text!r} "
                              f"({self.name}s: {', '.join(self.choices)})")
        kind = type(self.default)
        try:
            value: ParamValue = kind(text.replace("_", "")) if kind is not str else text
        except ValueError:
            raise ConfigError(f"--fault {fault}: {self.name}={text!r} is not "
                              f"{'an integer' if kind is int else 'a number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"--fault {fault}: {self.name}={text}: must be a finite number")
        if isinstance(value, int | float) and value < 0:
            raise ConfigError(f"--fault {fault}: {self.name}={text}: must not be negative")
        if self.maximum is not None and isinstance(value, int | float) and value > self.maximum:
            raise ConfigError(f"--fault {fault}: {self.name}={text}: at most {self.maximum}")
        return value


@dataclass(frozen=True, slots=True)
class Expect:
    """What a fault does to a boot on one kernel: the result kind and why, in words."""

    result: str
    why: str

    @classmethod
    def on_every_profile(cls, result: str, why: str) -> dict[str, Expect]:
        """Deprecated (kapic 0.2's name): :meth:`on_every_kernel`."""
        return cls.on_every_kernel(result, why)

    @classmethod
    def on_every_kernel(cls, result: str, why: str) -> dict[str, Expect]:
        """The same outcome on the seed and every release: a ``Fault.expected`` mapping."""
        return {"seed": cls(result, why), FIRST_RELEASE: cls(result, why)}


#: the key of ``Fault.expected`` that covers every release up to the next key
FIRST_RELEASE = f"{RELEASES[0][0]}.{RELEASES[0][1]}"


@dataclass(frozen=True)
class Fault:
    """A named fault scenario.

    :param name: the ``--fault`` name (``ap-never-ack``).
    :param layer: ``firmware``, ``hypervisor``, ``kernel`` or ``madt``.
    :param summary: one line for ``kapic faults``.
    :param apply: ``apply(context, params)``: make the fault happen on the machine being built.
    :param params: its parameters, with defaults (``--fault NAME`` alone runs).
    :param expected: the outcome per kernel: ``"seed"``, and release names (``"5.19"``,
        ``"6.11"``), each covering the releases from it up to the next key; ``"5.19"`` is
        required. :meth:`expect_at` looks one up.
    :param platform: where ``kapic faults`` and the tests run it (a platform where it bites).
    :param override: replace another plugin's fault of the same name on purpose.
    """

    name: str
    layer: str
    summary: str
    apply: Callable[[FaultContext, Mapping[str, Any]], None]
    params: tuple[FaultParam, ...] = ()
    expected: Mapping[str, Expect] = field(default_factory=dict)
    platform: str = "tdx"
    override: bool = False

    def expect_at(self, version: KernelVersion) -> Expect:
        """The expected outcome on ``version``: its own key for the seed, else the key of the
        latest release at or before it (a stable sublevel takes its release's). A fault that
        declares no outcomes raises :class:`~kapic.errors.ConfigError`."""
        if not self.expected:
            raise ConfigError(f"fault {self.name!r} declares no expected outcome")
        if version.seed:
            return self.expected["seed"]
        keys = sorted(((_release(k), k) for k in self.expected if k != "seed"), reverse=True)
        for release, key in keys:
            if release <= version.release:
                return self.expected[key]
        raise KeyError(version.name)

    def expected_spans(self) -> list[tuple[str, Expect]]:
        """(``"seed"``, ``"5.19 to 6.10"``, ``"6.11+"``, ...) with the outcome of each."""
        keys = sorted((_release(k), k) for k in self.expected if k != "seed")
        out = [("seed", self.expected["seed"])] if "seed" in self.expected else []
        for n, (release, key) in enumerate(keys):
            if n + 1 < len(keys):
                last = RELEASES[RELEASES.index(keys[n + 1][0]) - 1]
                label = key if last == release else f"{key} to {last[0]}.{last[1]}"
            else:
                label = f"{key}+"
            out.append((label, self.expected[key]))
        return out

    def values(self, given: Mapping[str, str]) -> dict[str, ParamValue]:
        """Every parameter's value: the defaults, then ``given`` (checked)."""
        known = {p.name: p for p in self.params}
        for key in given:
            if key not in known:
                names = ", ".join(known) or "none"
                raise ConfigError(f"--fault {self.name}: unknown parameter {key!r} "
                                  f"(its parameters: {names})")
        return {p.name: p.parse(self.name, given[p.name]) if p.name in given else p.default
                for p in self.params}


def _release(key: str) -> tuple[int, int]:
    major, _, minor = key.partition(".")
    return int(major), int(minor)


def expected_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a key of ``Fault.expected`` (None when it can)."""
    if key == "seed":
        return None
    if key == "upstream":
        return ("expected outcome for 'upstream', a kapic 0.2 profile: key it '6.11' (what it "
                "modelled), with '5.19' for the releases before")
    try:
        release = _release(key)
    except ValueError:
        release = (-1, -1)
    if release not in RELEASES or key != f"{release[0]}.{release[1]}":
        return (f"expected outcome for {key!r}, which is no kernel kapic models (keys are "
                f"'seed' or a release MAJOR.MINOR, {FIRST_RELEASE} to "
                f"{RELEASES[-1][0]}.{RELEASES[-1][1]}; a stable sublevel has no key of its own)")
    return None


def parse_fault(text: str) -> tuple[str, dict[str, str]]:
    """``NAME[:k=v,...]`` as (name, raw parameters)."""
    name, _, rest = text.partition(":")
    params: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--fault {text}: expected NAME[:KEY=VALUE,...]")
        if key.strip() in params:
            raise ConfigError(f"--fault {text}: {key.strip()} given twice")
        params[key.strip()] = value.strip()
    if not name:
        raise ConfigError(f"--fault {text!r}: no fault name")
    return name, params


class FaultContext:
    """What a fault may change on the machine being built (collected, then applied by it)."""

    def __init__(self, seed: int, name: str, platform: Platform) -> None:
        #: seeded per boot and per fault: the same seed gives the same faulty boot
        self.rng = random.Random(f"fault:{name}:{seed}")
        #: the platform being booted (a fault may do nothing where it cannot bite)
        self.platform = platform
        self.params: dict[str, int] = {}
        self.madt_transforms: list[Callable[[Madt], Madt]] = []
        self.byte_transforms: list[Callable[[bytes], bytes]] = []
        self.firmware_variants: list[Callable[[FirmwareModel], FirmwareModel]] = []
        self.hypervisor_setups: list[Callable[[HypervisorPolicy], None]] = []
        self.kernel_hooks: list[Callable[[Kernel], None]] = []
        self.relaxed = False

    def set_param(self, name: str, value: int) -> None:
        """Set a platform timing parameter (as ``--param`` would; the fault's value wins over
        the user's ``--param`` of the same name)."""
        from kapic.platforms.model import PARAM_DOCS

        if name not in PARAM_DOCS:
            raise ValueError(f"set_param: unknown platform parameter {name!r}")
        if type(value) is not int or value < 0:
            raise ValueError(f"set_param({name!r}, {value!r}): expected an int of 0 or more")
        self.params[name] = value

    def transform_madt(self, fn: Callable[[Madt], Madt]) -> None:
        """Change the MADT the kernel gets (after the firmware published it)."""
        self.madt_transforms.append(fn)

    def transform_bytes(self, fn: Callable[[bytes], bytes]) -> None:
        """Change the table's bytes, which are then decoded again (a malformed table is
        rejected as bad input, naming the offset and field)."""
        self.byte_transforms.append(fn)

    def replace_firmware(self, fn: Callable[[FirmwareModel], FirmwareModel]) -> None:
        """Boot with a variant of the firmware model: ``fn(model) -> model``."""
        self.firmware_variants.append(fn)

    def hypervisor(self, fn: Callable[[HypervisorPolicy], None]) -> None:
        """Set the hypervisor's answers once the board exists: ``fn(policy)``."""
        self.hypervisor_setups.append(fn)

    def at_smp_prepare(self, fn: Callable[[Kernel], None]) -> None:
        """Run ``fn(kernel)`` in ``native_smp_prepare_cpus``, after the plugins' hooks."""
        self.kernel_hooks.append(fn)

    def relaxed_memory(self) -> None:
        """Plain stores become visible late and out of order (as ``--relaxed-memory``)."""
        self.relaxed = True
