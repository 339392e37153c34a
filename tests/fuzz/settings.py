"""The bounded, deterministic hypothesis settings of the CI fuzz suite."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

#: Derandomized (CI runs the same inputs every time), no example database, no deadline: each
#: test is bounded by its number of examples; all of tests/fuzz/ takes a few seconds.
CI = settings(derandomize=True, database=None, deadline=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
