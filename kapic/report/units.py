"""Human units for simulated durations: ``850 ns``, ``12.3 us``, ``1.25 ms``, ``2.00 s``."""

from __future__ import annotations

__all__ = ["format_ns", "time_unit"]

#: (divisor in ns, suffix), largest first
_UNITS = ((1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us"))


def time_unit(ns: int | float) -> tuple[int, str]:
    """The largest unit that ``ns`` is at least one of, as ``(ns per unit, suffix)``."""
    for divisor, suffix in _UNITS:
        if abs(ns) >= divisor:
            return divisor, suffix
    return 1, "ns"


def format_ns(ns: int | None) -> str:
    """Format a duration with three significant digits; ``None`` becomes ``-``."""
    if ns is None:
        return "-"
    divisor, suffix = time_unit(ns)
    if divisor == 1:
        return f"{ns} ns"
    value = ns / divisor
    # Three significant digits; a value that rounds up to 1000 stays in this unit
    # ("1000 us" reads better than a silent jump in precision).
    decimals = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{decimals}f} {suffix}"
