"""The recording loop: one clock for gaze and display, the optional calibration check, the viewer,
incremental writing, lost-stream handling and a clean close on ``q``, window close, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import math
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from gazekit.geometry import Screen
from gazekit.record import calibration
from gazekit.record.clock import Clock
from gazekit.record.sources.base import GazeSource
from gazekit.record.viewer import Controls, Viewer
from gazekit.record.writer import SessionWriter
from gazekit.stimuli import Stimulus


class Display(Protocol):
    """What the recorder needs from a window (the Tk window, or a scripted fake in tests)."""

    canvas_wh: tuple[int, int]

    def origin_px(self) -> tuple[float, float]: ...  # screen position of the canvas' top-left corner

    def show(self, frame: np.ndarray) -> None: ...

    def wait_key(self, ms: int) -> int: ...  # processes window events; -1 when no key

    def is_open(self) -> bool: ...

    def set_mouse_handler(self, handler) -> None: ...  # handler(event, x, y, flags) in canvas px

    def close(self) -> None: ...


@dataclass(frozen=True)
class RecordConfig:
    """How to record (``gazekit record`` options)."""

    session_dir: Path
    screen: Screen
    reader_id: str = "reader"
    data_root: Path | None = None  # stimulus sources are written relative to it
    anonymize_paths: bool = False  # folder names of stimulus sources hashed (gazekit.privacy)
    controls: Controls = Controls()
    overlay: bool = True
    validate: bool = False
    validation_points: int = 9
    target_ms: float = 1500.0  # each validation target is shown this long
    settle_ms: float = 500.0  # samples of the first part of each target are ignored (saccade)
    accuracy_limit_deg: float = 1.0
    lost_after_ms: float = 500.0  # no sample for this long = gaze stream lost
    flush_every_ms: float = 1000.0
    frame_ms: int = 5  # longest wait for window events per loop turn


class _Stop(Exception):
    """Raised by the SIGTERM handler to end the session cleanly."""


class Recorder:
    """Runs one session: ``Recorder(stimuli, source, display, cfg).run()`` returns the final session.json."""

    def __init__(self, stimuli: list[Stimulus], source: GazeSource, display: Display, cfg: RecordConfig):
        self.stimuli, self.source, self.display, self.cfg = stimuli, source, display, cfg
        self.gaps: list[dict] = []
        self.warnings: list[str] = []
        self.lost = False
        self._last_sample_ms = 0.0
        self.viewer: Viewer | None = None
        self._changed = False
        self._n_samples, self._t_first_ms, self._t_last_ms = 0, 0.0, 0.0

    # --- bookkeeping ------------------------------------------------------------------------------
    def _sidecar(self) -> dict:
        s = self.cfg.screen
        return {
            "session_id": self.cfg.session_dir.name,
            "reader_id": self.cfg.reader_id,
            "SamplingFrequency": self.source.sampling_hz if math.isfinite(self.source.sampling_hz) else 60.0,
            "ScreenResolution": [int(s.width_px), int(s.height_px)],
            "ScreenSize": [s.width_mm / 1000.0, s.height_mm / 1000.0],
            "ScreenDistance": s.distance_mm / 1000.0,
            "ScreenOrigin": ["top", "left"],
            "RecordedEye": self.source.eye,
            "Manufacturer": self.source.manufacturer,
            "ManufacturersModelName": self.source.model,
            "StartTime": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "stimuli": [st.session_entry(self.cfg.data_root, self.cfg.anonymize_paths) for st in self.stimuli],
            "viewer": {
                "canvas_px": list(self.display.canvas_wh),
                "controls": vars(self.cfg.controls),
            },
        }

    def log(self, text: str) -> None:
        """A line in ``record.log`` of the session folder and on stderr."""
        line = f"{self.clock.now_ms():10.1f} ms  {text}"
        with open(self.cfg.session_dir / "record.log", "a") as fh:
            fh.write(line + "\n")
        print(f"gazekit record: {text}", file=sys.stderr)

    def _poll(self) -> list:
        """Take the source's new samples, write them, and track a lost / resumed stream."""
        samples = self.source.poll()
        now = self.clock.now_ms()
        if samples:
            self.writer.add_samples(samples)
            if not self._n_samples:
                self._t_first_ms = samples[0][0]
            self._n_samples += len(samples)
            self._t_last_ms = samples[-1][0]
            self._last_sample_ms = now
            if self.lost:
                self.lost = False
                self.gaps[-1]["t_end_ms"] = samples[0][0]
                self.log(f"gaze stream back after {samples[0][0] - self.gaps[-1]['t_start_ms']:.0f} ms")
                self._changed = True
        elif not self.lost and now - self._last_sample_ms > self.cfg.lost_after_ms:
            self.lost = True
            last = self._t_last_ms if self._n_samples else self._last_sample_ms  # last sample's own time stamp
            self.gaps.append({"t_start_ms": last, "t_end_ms": None})
            self.log(f"gaze stream lost (no sample for {self.cfg.lost_after_ms:.0f} ms)")
            self._changed = True
        self.writer.maybe_flush()
        return samples

    def _blank_event(self) -> dict:
        return {"t_ms": self.clock.now_ms(), "stimulus_id": "", "slice_index": None, "x0_px": 0.0, "y0_px": 0.0,
                "scale": 1.0, "rotation_deg": 0, "flip_x": False, "flip_y": False, "window_center": None,
                "window_width": None}  # fmt: skip

    # --- phases -----------------------------------------------------------------------------------
    def _validation(self) -> dict:
        """Show the targets one by one; returns the validation summary (degrees)."""
        cfg, disp = self.cfg, self.display
        ox, oy = disp.origin_px()
        self.writer.add_event(self._blank_event())
        per_target = []
        for tx, ty in calibration.target_grid(disp.canvas_wh, cfg.validation_points):
            frame = np.zeros((disp.canvas_wh[1], disp.canvas_wh[0], 3), np.uint8)
            cv2.circle(frame, (round(tx), round(ty)), 14, (255, 255, 255), 2, cv2.LINE_AA)
            cv2.circle(frame, (round(tx), round(ty)), 3, (255, 255, 255), -1, cv2.LINE_AA)
            disp.show(frame)
            t_show = self.clock.now_ms()
            xs, ys = [], []
            while self.clock.now_ms() - t_show < cfg.target_ms:
                key = disp.wait_key(cfg.frame_ms)
                if key in (ord("q"), 27) or not disp.is_open():
                    raise _Stop
                for t_ms, x, y, valid, *_ in self._poll():
                    if valid and t_ms >= t_show + cfg.settle_ms:
                        xs.append(x)
                        ys.append(y)
            per_target.append(calibration.target_metrics(cfg.screen, (tx + ox, ty + oy), xs, ys))
        result = calibration.summarize(per_target, cfg.accuracy_limit_deg)
        acc = result["accuracy_deg"]
        self.log(f"validation: accuracy {acc if acc is None else round(acc, 2)} deg, limit {cfg.accuracy_limit_deg}")
        if not result["passed"]:
            self.warnings.append(
                f"calibration check: accuracy {'unknown' if acc is None else f'{acc:.2f} deg'} is worse than the "
                f"limit {cfg.accuracy_limit_deg} deg"
            )
            self.log("WARNING " + self.warnings[-1])
        return result

    def _on_mouse(self, event: int, x: int, y: int, flags: int, *_) -> None:
        if self.viewer is not None and self.viewer.on_mouse(event, x, y, flags):
            self._changed = True

    def _reading(self) -> None:
        disp = self.display
        self.viewer = Viewer(self.stimuli, disp.canvas_wh, disp.origin_px(), self.cfg.controls, self.cfg.overlay)
        self._changed = True
        while True:
            if self._changed:
                self._changed = False
                disp.show(self.viewer.render(self.lost))
                row = self.viewer.event_row(self.clock.now_ms())
                if not self._last_event or _display_key(row) != _display_key(self._last_event):
                    self.writer.add_event(row)
                    self._last_event = row
            key = disp.wait_key(self.cfg.frame_ms)
            if not disp.is_open():
                self.log("window closed")
                return
            self._poll()
            origin = disp.origin_px()
            if origin != self.viewer.origin_px:  # the window moved: the image moved on screen
                self.viewer.origin_px = origin
                self._changed = True
            if key == -1:
                continue
            action = self.viewer.on_key(key)
            if action == "quit":
                self.log("q pressed")
                return
            if action == "next":
                if not self.viewer.next_stimulus():
                    self.log("end of the worklist")
                    return
                self.log(f"stimulus {self.viewer.stimulus.stimulus_id}")
            if action is not None:
                self._changed = True

    def run(self) -> dict:
        """Record until the reader ends the session; returns session.json as written.

        The session folder is created only once the gaze source has started (a tracker that is not
        there leaves nothing behind). Whatever ends the session, the folder is closed and compacted;
        an unexpected error marks it ``"status": "aborted"`` and is raised again.
        """
        cfg = self.cfg
        self.clock = Clock()
        try:
            self.source.start(self.clock)
            self.writer = SessionWriter(cfg.session_dir, self._sidecar(), cfg.flush_every_ms)
        except BaseException:
            self.source.stop()
            self.display.close()
            raise
        self._last_event: dict | None = None
        previous = _install_sigterm()
        validation = None
        status = "complete"
        try:
            self.display.set_mouse_handler(self._on_mouse)
            self._last_sample_ms = self.clock.now_ms()
            self.log(f"recording from {self.source.manufacturer} {self.source.model}")
            if cfg.validate:
                validation = self._validation()
            self._reading()
        except (KeyboardInterrupt, _Stop):
            self.log("interrupted: closing the session")
        except BaseException as exc:
            status = "aborted"
            self.warnings.append(f"recording aborted by an error: {exc}")
            self.log("ERROR " + self.warnings[-1])
            raise
        finally:
            end_ms = self.clock.now_ms()
            self.writer.add_event({**self._blank_event(), "t_ms": end_ms})
            for gap in self.gaps:
                if gap["t_end_ms"] is None:
                    gap["t_end_ms"] = end_ms
            self.source.stop()
            self.display.close()
            signal.signal(signal.SIGTERM, previous)
            fields = {"duration_ms": end_ms, "gaze_gaps": self.gaps, "warnings": self.warnings}
            fields["SamplingFrequency"] = self._sampling_hz()
            if validation is not None:
                fields.update(
                    validation=validation,
                    AverageCalibrationError=validation["accuracy_deg"],
                    MaximalCalibrationError=validation["max_accuracy_deg"],
                )
            sidecar = self.writer.close(status=status, **fields)
        return sidecar

    def _sampling_hz(self) -> float:
        """The source's nominal rate, else the measured one (samples per second over the session)."""
        if math.isfinite(self.source.sampling_hz) and self.source.sampling_hz > 0:
            return float(self.source.sampling_hz)
        if self._n_samples > 1 and self._t_last_ms > self._t_first_ms:
            return 1000.0 * (self._n_samples - 1) / (self._t_last_ms - self._t_first_ms)
        return self.writer.sidecar["SamplingFrequency"]


def _display_key(row: dict) -> tuple:
    return tuple(v for k, v in row.items() if k != "t_ms")


def _install_sigterm():
    def stop(signum, frame):
        raise _Stop

    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        return signal.getsignal(signal.SIGTERM)
