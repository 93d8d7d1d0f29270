"""The Tobii Pro SDK (``tobii_research``, optional extra ``tobii``), on its ``system_time_stamp`` clock.

Gaze arrives in the SDK's thread as dictionaries with the gaze point on the display area (0..1, origin
top-left) per eye; both eyes are averaged when both are valid, else the valid one is used. The SDK's
system clock [us] is mapped to the session clock with an offset measured at start
(``tobii_research.get_system_time_stamp()`` against ``time.monotonic()``).
"""

from __future__ import annotations

import collections
import math

from gazekit.errors import GazekitError
from gazekit.record.clock import Clock, clock_offset_s
from gazekit.record.sources.base import Sample


def _sdk():
    try:
        import tobii_research
    except ImportError as exc:
        raise GazekitError(
            None, "--source tobii", f"needs the Tobii Pro SDK: pip install 'gazekit-hgdtgl[tobii]' ({exc})"
        ) from None
    return tobii_research


class TobiiSource:
    """The first eye tracker found (or the one at ``address``); gaze mapped to ``screen_px``."""

    manufacturer = "Tobii"
    eye = "both"

    def __init__(self, screen_px: tuple[int, int], address: str | None = None):
        self.screen_px = screen_px
        self.address = address
        self.model = "unknown"
        self.sampling_hz = math.nan
        self._queue: collections.deque = collections.deque()
        self._tracker = None

    def start(self, clock: Clock) -> None:
        tr = _sdk()
        trackers = tr.find_all_eyetrackers()
        if self.address:
            trackers = [t for t in trackers if t.address == self.address]
        if not trackers:
            where = f"at {self.address}" if self.address else "connected"
            raise GazekitError(None, "--source tobii", f"expected a Tobii eye tracker {where}, found none")
        self._tracker = trackers[0]
        self.model = f"{self._tracker.model} (serial {self._tracker.serial_number})"
        self.sampling_hz = float(self._tracker.get_gaze_output_frequency())
        self._clock = clock
        self._tobii_to_mono_s = clock_offset_s(lambda: tr.get_system_time_stamp() / 1e6)
        self._tr = tr
        self._tracker.subscribe_to(tr.EYETRACKER_GAZE_DATA, self._on_gaze, as_dictionary=True)

    def _on_gaze(self, gaze: dict) -> None:  # SDK thread: only append (deque appends are thread-safe)
        self._queue.append(gaze)

    def to_sample(self, gaze: dict) -> Sample:
        """One SDK gaze dictionary as a sample on the session clock [ms] and screen [px]."""
        t_ms = self._clock.to_ms(gaze["system_time_stamp"] / 1e6 + self._tobii_to_mono_s)
        points, pupils = [], []
        for eye in ("left", "right"):
            if gaze[f"{eye}_gaze_point_validity"]:
                points.append(gaze[f"{eye}_gaze_point_on_display_area"])
            if gaze.get(f"{eye}_pupil_validity"):
                pupils.append(gaze[f"{eye}_pupil_diameter"])
        pupil = sum(pupils) / len(pupils) if pupils else math.nan
        if not points:
            return (t_ms, math.nan, math.nan, False, pupil, self.eye)
        x = sum(p[0] for p in points) / len(points) * self.screen_px[0]
        y = sum(p[1] for p in points) / len(points) * self.screen_px[1]
        return (t_ms, x, y, True, pupil, self.eye)

    def poll(self) -> list[Sample]:
        out = []
        while self._queue:
            out.append(self.to_sample(self._queue.popleft()))
        return out

    def stop(self) -> None:
        if self._tracker is not None:
            self._tracker.unsubscribe_from(self._tr.EYETRACKER_GAZE_DATA, self._on_gaze)
            self._tracker = None
