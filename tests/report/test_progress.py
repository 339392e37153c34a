"""The stderr progress bar: only on a TTY, throttled."""

from __future__ import annotations

import io

from kapic.report.progress import ProgressBar, progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_when_not_a_tty() -> None:
    assert progress_bar(io.StringIO()) is None


def test_on_a_tty() -> None:
    bar = progress_bar(_Tty(), label="x")
    assert isinstance(bar, ProgressBar)
    assert bar.label == "x"


def test_throttled_but_always_draws_the_end() -> None:
    now = [0.0]
    out = _Tty()
    bar = ProgressBar(out, label="run", width=10, min_interval_s=0.1, clock=lambda: now[0])
    bar(1, 4)
    bar(2, 4)  # same instant: skipped
    now[0] = 0.05
    bar(3, 4)  # too soon: skipped
    bar(4, 4)  # finished: drawn
    frames = out.getvalue().split("\r\x1b[2K")[1:]
    assert frames == ["run [##........] 1/4 CPUs", "run [##########] 4/4 CPUs"]
    now[0] = 1.0
    bar(1, 4)
    assert out.getvalue().endswith("run [##........] 1/4 CPUs")
    bar.close()
    assert out.getvalue().endswith("\r\x1b[2K")


def test_close_without_drawing_writes_nothing() -> None:
    out = _Tty()
    bar = ProgressBar(out)
    bar.close()
    bar(0, 0)
    assert out.getvalue() == "\r\x1b[2K[" + "." * 30 + "] 0/0 CPUs"
