"""The session clock: milliseconds since the session started, on the process's monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """``now_ms()`` = ms since the session start; ``to_ms(t_s)`` maps a ``time.monotonic()`` time [s]."""

    def __init__(self, t0_s: float | None = None):
        self.t0_s = time.monotonic() if t0_s is None else t0_s

    def now_ms(self) -> float:
        return (time.monotonic() - self.t0_s) * 1000.0

    def to_ms(self, t_s: float) -> float:
        return (t_s - self.t0_s) * 1000.0


def clock_offset_s(other: Callable[[], float], n: int = 15) -> float:
    """Offset [s] to add to a reading of clock ``other`` (in seconds) to get ``time.monotonic()``.

    Reads both clocks ``n`` times back to back and keeps the pair with the shortest bracket, so the
    error is at most half a read (microseconds).
    """
    best = None
    for _ in range(n):
        a = time.monotonic()
        o = other()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, (a + b) / 2 - o)
    return best[1]
