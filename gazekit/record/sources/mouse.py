"""The mouse pointer as gaze (demos, teaching, tests): one sample per poll at the pointer's position."""

from __future__ import annotations

import math
from collections.abc import Callable

from gazekit.record.clock import Clock
from gazekit.record.sources.base import Sample


class MouseSource:
    """Samples ``pointer()`` (screen px, or None before the pointer entered the window) on a regular grid.

    Polls come from the viewer loop; each poll gives the samples of every grid time (``sampling_hz``)
    since the previous poll, so a loop stall (a file flush, a slow frame) leaves no gap: grid times
    inside the stall get the position seen at the previous poll, the last one the current position.
    """

    manufacturer = "gazekit"
    model = "mouse pointer"
    eye = "both"

    def __init__(self, pointer: Callable[[], tuple[float, float] | None], sampling_hz: float = 60.0):
        self.pointer = pointer
        self.sampling_hz = sampling_hz
        self._clock: Clock | None = None
        self._next_ms = 0.0
        self._previous: tuple[float, float] | None = None

    def start(self, clock: Clock) -> None:
        self._clock = clock
        self._next_ms = clock.now_ms()

    def _sample(self, t_ms: float, pos: tuple[float, float] | None) -> Sample:
        if pos is None:
            return (t_ms, math.nan, math.nan, False, math.nan, self.eye)
        return (t_ms, float(pos[0]), float(pos[1]), True, math.nan, self.eye)

    def poll(self) -> list[Sample]:
        now_ms = self._clock.now_ms()
        period_ms = 1000.0 / self.sampling_hz
        n = int((now_ms - self._next_ms) // period_ms) + 1 if now_ms >= self._next_ms else 0
        if n == 0:
            return []
        pos = self.pointer()
        times = [self._next_ms + i * period_ms for i in range(n)]
        out = [self._sample(t, self._previous) for t in times[:-1]] + [self._sample(times[-1], pos)]
        self._next_ms = times[-1] + period_ms
        self._previous = pos
        return out

    def stop(self) -> None:
        pass
