"""kapic's pytest kit, tested the way pytest tests plugins: with ``pytester``.

Each test writes a test module a plugin author would write, runs pytest on it in-process
(kapic's fixtures come from its ``pytest11`` entry point, as for any user), and checks the
outcome, including that a wrong expectation fails.
"""

from __future__ import annotations

import pytest

PLUGIN = '''
from collections.abc import Generator
from typing import Any

from kapic import Kernel, hookimpl


class Marker:
    """Records that native_smp_prepare_cpus ran, through a new-style wrapper."""

    seen: list[int] = []

    @hookimpl(wrapper=True)
    def kapic_smp_prepare_cpus(self, kernel: Kernel) -> Generator[None, None, None]:
        self.seen.append(kernel.num_possible_cpus())
        return (yield)
'''


def test_the_fixtures_boot_a_machine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        from kapic.testing import assert_all_online, assert_woken_by

        def test_tdx(kapic_boot):
            result = kapic_boot(platform="tdx", cpus=4)
            assert_all_online(result)
            assert_woken_by(result, "acpi_wakeup_cpu")

        def test_machine_is_not_booted_yet(kapic_machine):
            machine = kapic_machine(platform="kvm", cpus=2)
            assert machine.kernel.cpus == []
            assert machine.boot().result == "ok"
    ''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_the_hookrecorder_records_calls_arguments_and_results(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(plugin_under_test=PLUGIN)
    pytester.makepyfile('''
        from plugin_under_test import Marker

        def test_recorded(kapic_host, kapic_hookrecorder, kapic_boot):
            kapic_host.register(Marker(), "marker")
            result = kapic_boot(platform="tdx", cpus=4)
            assert result.result == "ok"
            (call,) = kapic_hookrecorder.assert_called("kapic_smp_prepare_cpus", times=1)
            assert call.kernel.platform.name == "tdx"
            assert call.plugins[0] == "marker"  # the wrapper runs first
            assert Marker.seen == [4]
            platforms = kapic_hookrecorder.getcall("kapic_platforms")
            assert "tdx" in [p.name for result in platforms.result for p in result]
            drivers = kapic_hookrecorder.getcalls("kapic_register_apic_drivers")
            assert len(drivers) == 1 and drivers[0].exception is None

        def test_a_raising_hook_is_recorded_with_its_exception(kapic_host, kapic_hookrecorder,
                                                               kapic_boot):
            from kapic import Kernel, hookimpl

            class Raising:
                @hookimpl
                def kapic_smp_prepare_cpus(self, kernel: Kernel) -> None:
                    raise ValueError("boom")

            kapic_host.register(Raising(), "raising")
            result = kapic_boot(cpus=2)
            assert result.result == "plugin-error"
            call = kapic_hookrecorder.getcall("kapic_smp_prepare_cpus")
            assert isinstance(call.exception, ValueError)
    ''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_wrong_expectation_fails_with_the_calls_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        def test_expects_two_calls(kapic_hookrecorder, kapic_boot):
            kapic_boot(cpus=2)
            kapic_hookrecorder.assert_called("kapic_smp_prepare_cpus", times=2)

        def test_expects_a_hook_never_called(kapic_hookrecorder):
            kapic_hookrecorder.assert_called("kapic_madt_handlers")
    ''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*kapic_smp_prepare_cpus was called 1 time(s), expected 2; calls recorded: "
        "kapic_register_apic_drivers, kapic_smp_prepare_cpus*",
        "*kapic_madt_handlers was not called; calls recorded: none*",
    ])


def test_recording_stops_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import pytest

        from kapic.testing import HookRecorder

        def test_finish(kapic_host, kapic_boot):
            recorder = HookRecorder(kapic_host)
            kapic_boot(cpus=2)
            recorder.finish_recording()
            kapic_boot(cpus=2)
            assert len(recorder.getcalls("kapic_smp_prepare_cpus")) == 1
            with pytest.raises(AttributeError, match="has no argument 'colour'"):
                recorder.getcall("kapic_smp_prepare_cpus").colour
    ''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
