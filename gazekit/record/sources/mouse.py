"""The mouse pointer as gaze (demos, teaching, tests): one sample per poll at the pointer's position."""

from __future__ import annotations

import math
from collections.abc import Callable

from gazekit.record.clock import Clock
from gazekit.record.sources import Sample


class MouseSource:
    """Samples ``pointer()`` (screen px, or None before the pointer entered the window) at each poll.

    Polls come from the viewer loop, so the rate is the loop's (``sampling_hz`` nominal); a poll
    sooner than one sample period after the previous one gives nothing, which keeps the rate even.
    """

    manufacturer = "gazekit"
    model = "mouse pointer"
    eye = "both"

    def __init__(self, pointer: Callable[[], tuple[float, float] | None], sampling_hz: float = 60.0):
        self.pointer = pointer
        self.sampling_hz = sampling_hz
        self._clock: Clock | None = None
        self._next_ms = 0.0

    def start(self, clock: Clock) -> None:
        self._clock = clock
        self._next_ms = clock.now_ms()

    def poll(self) -> list[Sample]:
        t_ms = self._clock.now_ms()
        if t_ms < self._next_ms:
            return []
        period_ms = 1000.0 / self.sampling_hz
        self._next_ms = max(self._next_ms + period_ms, t_ms - period_ms)
        pos = self.pointer()
        if pos is None:
            return [(t_ms, math.nan, math.nan, False, math.nan, self.eye)]
        return [(t_ms, float(pos[0]), float(pos[1]), True, math.nan, self.eye)]

    def stop(self) -> None:
        pass
