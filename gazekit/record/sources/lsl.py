"""Any Lab Streaming Layer gaze stream (Tobii Pro Lab, Pupil Capture, EyeLink and others publish one).

Needs the optional extra ``lsl`` (``pylsl``, which bundles liblsl). Time stamps of the sender are
mapped to this computer's LSL clock with ``time_correction()`` (refreshed every few seconds), then to the
session clock through the measured offset between ``pylsl.local_clock()`` and ``time.monotonic()``.
The inlet reconnects by itself when the stream comes back (``recover=True``).
"""

from __future__ import annotations

import math
import time

from gazekit.errors import GazekitError
from gazekit.record.clock import Clock, clock_offset_s
from gazekit.record.sources.base import Sample


def _pylsl():
    try:
        import pylsl
    except (ImportError, RuntimeError) as exc:  # RuntimeError: liblsl missing for this platform
        raise GazekitError(None, "--source lsl", f"needs pylsl: pip install 'gazekit-hgdtgl[lsl]' ({exc})") from None
    return pylsl


class LslSource:
    """Reads x, y (and optionally pupil) channels of the first stream matching ``stream`` (name or type).

    ``channels`` are indices or channel labels for x, y[, pupil]; ``units`` "px" (screen pixels) or
    "norm" (0..1 of the screen, origin top-left) scaled by ``screen_px``.
    """

    manufacturer = "Lab Streaming Layer"
    eye = "both"

    def __init__(
        self,
        stream: str = "Gaze",
        channels: tuple[str, ...] = ("0", "1"),
        units: str = "px",
        screen_px: tuple[int, int] = (1920, 1080),
        resolve_timeout_s: float = 10.0,
        correction_every_s: float = 5.0,
    ):
        if units not in ("px", "norm"):
            raise GazekitError(None, "--lsl-units", f"expected px or norm, got {units!r}")
        if len(channels) not in (2, 3):
            raise GazekitError(None, "--lsl-channels", f"expected X,Y or X,Y,PUPIL, got {','.join(channels)!r}")
        self.stream = stream
        self.channels = channels
        self.units = units
        self.screen_px = screen_px
        self.resolve_timeout_s = resolve_timeout_s
        self.correction_every_s = correction_every_s
        self.model = stream
        self.sampling_hz = math.nan
        self._inlet = None

    def start(self, clock: Clock) -> None:
        pylsl = _pylsl()
        found = pylsl.resolve_byprop("name", self.stream, 1, self.resolve_timeout_s / 2) or pylsl.resolve_byprop(
            "type", self.stream, 1, self.resolve_timeout_s / 2
        )
        if not found:
            raise GazekitError(
                None, "--lsl-stream", f"no LSL stream named or typed {self.stream!r} within {self.resolve_timeout_s} s"
            )
        info = found[0]
        self._inlet = pylsl.StreamInlet(info, max_buflen=60, recover=True)
        self._inlet.open_stream(self.resolve_timeout_s)
        full = self._inlet.info()
        self.model = f"{full.name()} ({full.type()}, {full.source_id() or 'no source id'})"
        self.sampling_hz = float(full.nominal_srate()) or math.nan
        self._idx = [self._channel_index(full, c) for c in self.channels]
        self._clock = clock
        self._lsl_to_mono_s = clock_offset_s(pylsl.local_clock)
        self._correction_s = self._inlet.time_correction(timeout=self.resolve_timeout_s)
        self._corrected_at = time.monotonic()

    def _channel_index(self, info, channel: str) -> int:
        if channel.isdigit():
            idx = int(channel)
        else:
            labels = []
            ch = info.desc().child("channels").child("channel")
            while not ch.empty():
                labels.append(ch.child_value("label"))
                ch = ch.next_sibling()
            if channel not in labels:
                raise GazekitError(None, "--lsl-channels", f"expected a channel of {labels}, got {channel!r}")
            idx = labels.index(channel)
        if idx >= info.channel_count():
            raise GazekitError(None, "--lsl-channels", f"stream has {info.channel_count()} channels, got index {idx}")
        return idx

    def poll(self) -> list[Sample]:
        if time.monotonic() - self._corrected_at > self.correction_every_s:
            from pylsl.util import LostError, TimeoutError

            try:
                self._correction_s = self._inlet.time_correction(timeout=0.05)
            except (LostError, TimeoutError):  # stream gone for now: keep the last correction
                pass
            self._corrected_at = time.monotonic()
        chunk, stamps = self._inlet.pull_chunk(timeout=0.0)
        out: list[Sample] = []
        sx, sy = self.screen_px if self.units == "norm" else (1, 1)
        for values, ts in zip(chunk, stamps, strict=True):
            t_ms = self._clock.to_ms(ts + self._correction_s + self._lsl_to_mono_s)
            x, y = float(values[self._idx[0]]) * sx, float(values[self._idx[1]]) * sy
            pupil = float(values[self._idx[2]]) if len(self._idx) == 3 else math.nan
            valid = math.isfinite(x) and math.isfinite(y)
            out.append((t_ms, x if valid else math.nan, y if valid else math.nan, valid, pupil, self.eye))
        return out

    def stop(self) -> None:
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None
