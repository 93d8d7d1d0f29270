"""The viewer's state and rendering (pure: no window here): which stimulus and slice, window/level,
zoom and pan, the exact on-screen rectangle of the image, and the frame to show.

Keys: wheel / arrow up-down / j-k scroll slices, ``[`` ``]`` window width, ``,`` ``.`` level, ``+``/``-``
zoom, ``0`` reset, ``n`` next stimulus, ``q``/Esc end. Mouse: wheel scrolls, left-drag pans, right-drag
adjusts window (x) and level (y). Each group can be switched off (:class:`Controls`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gazekit.geometry import ViewState
from gazekit.stimuli import Stimulus

KEYS_NEXT_SLICE = {ord("j"), 65364, 65366}  # j, Down, Page Down (X keysyms, as Tk reports them)
KEYS_PREV_SLICE = {ord("k"), 65362, 65365}  # k, Up, Page Up
ZOOM_STEP = 1.25


@dataclass(frozen=True)
class Controls:
    """Which reader interactions are allowed (switch off for controlled studies)."""

    scroll: bool = True
    zoom: bool = True
    pan: bool = True
    window_level: bool = True


def default_window(stim: Stimulus) -> tuple[float, float]:
    """Window (centre, width) spanning the 1st..99th percentile of the grey values."""
    data = stim.data[:: max(1, stim.data.shape[0] // 8)] if stim.is_volume else stim.data
    lo, hi = np.percentile(data, [1, 99])
    return float(lo + hi) / 2, float(max(hi - lo, 1e-6))


def apply_window(slice_: np.ndarray, center: float, width: float) -> np.ndarray:
    """Grey values -> uint8 with the linear window [center - width/2, center + width/2]."""
    out = (slice_.astype(np.float32) - (center - width / 2)) * (255.0 / width)
    return np.clip(out, 0, 255).astype(np.uint8)


def render_image(img: np.ndarray, canvas_wh: tuple[int, int], x0_px: float, y0_px: float, scale: float) -> np.ndarray:
    """Place ``img`` (uint8, H x W or H x W x 3) on a black canvas: image px (x, y) -> canvas (x0 + s x, y0 + s y).

    Continuous coordinates with the origin at the pixel corner (DESIGN.md section 3), so the image's
    top-left corner lands exactly at (x0, y0) and its bottom-right at (x0 + s W, y0 + s H).
    """
    # OpenCV indexes pixel centres: X_idx + 0.5 = s (x_idx + 0.5) + x0.
    m = np.float64([[scale, 0, x0_px + 0.5 * scale - 0.5], [0, scale, y0_px + 0.5 * scale - 0.5]])
    interp = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    if interp == cv2.INTER_AREA:  # warpAffine has no area filter: pre-shrink, then place exactly
        h, w = img.shape[:2]
        small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        sx, sy = w * scale / small.shape[1], h * scale / small.shape[0]
        m = np.float64([[sx, 0, x0_px + 0.5 * sx - 0.5], [0, sy, y0_px + 0.5 * sy - 0.5]])
        img = small
    return cv2.warpAffine(img, m, canvas_wh, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class Viewer:
    """Reading state over a worklist of stimuli, on a canvas of ``canvas_wh`` px at ``origin_px`` on screen."""

    def __init__(
        self,
        stimuli: list[Stimulus],
        canvas_wh: tuple[int, int],
        origin_px: tuple[float, float] = (0.0, 0.0),
        controls: Controls = Controls(),
        overlay: bool = True,
    ):
        if not stimuli:
            raise ValueError("no stimuli to show")
        self.stimuli = stimuli
        self.canvas_wh = canvas_wh
        self.origin_px = origin_px
        self.controls = controls
        self.overlay = overlay
        self.index = -1
        self._drag: tuple[int, int, int] | None = None  # (button event, x, y)
        self.next_stimulus()

    @property
    def stimulus(self) -> Stimulus:
        return self.stimuli[self.index]

    def next_stimulus(self) -> bool:
        """Show the next stimulus of the worklist from its middle slice; False when there is none."""
        if self.index + 1 >= len(self.stimuli):
            return False
        self.index += 1
        stim = self.stimulus
        self.slice_index = stim.shape[0] // 2 if stim.is_volume else 0
        self.zoom = 1.0
        self.pan = (0.0, 0.0)
        grey = stim.is_volume or stim.data.ndim == 2
        self.window = (stim.window or default_window(stim)) if grey else None
        return True

    # --- geometry -------------------------------------------------------------------------------
    def scale(self) -> float:
        """Screen px per image px: fit to the canvas, times the zoom."""
        h, w = self.stimulus.shape[-2:]
        return min(self.canvas_wh[0] / w, self.canvas_wh[1] / h) * self.zoom

    def canvas_x0y0(self) -> tuple[float, float]:
        """Canvas position of the image's top-left corner (centred, plus pan)."""
        h, w = self.stimulus.shape[-2:]
        s = self.scale()
        return (self.canvas_wh[0] - w * s) / 2 + self.pan[0], (self.canvas_wh[1] - h * s) / 2 + self.pan[1]

    def view_state(self) -> ViewState:
        """Screen -> image mapping of what is shown now (screen px, not canvas px)."""
        h, w = self.stimulus.shape[-2:]
        cx, cy = self.canvas_x0y0()
        return ViewState(w, h, cx + self.origin_px[0], cy + self.origin_px[1], self.scale())

    def event_row(self, t_ms: float) -> dict:
        """The viewer-event row (VIEWER_EVENTS columns) describing the current display."""
        vs = self.view_state()
        stim = self.stimulus
        center, width = self.window if self.window else (None, None)
        return {
            "t_ms": t_ms,
            "stimulus_id": stim.stimulus_id,
            "slice_index": self.slice_index if stim.is_volume else None,
            "x0_px": vs.x0_px,
            "y0_px": vs.y0_px,
            "scale": vs.scale,
            "rotation_deg": 0,
            "flip_x": False,
            "flip_y": False,
            "window_center": center,
            "window_width": width,
        }

    # --- rendering ------------------------------------------------------------------------------
    def render(self, lost: bool = False) -> np.ndarray:
        """The frame to show (BGR uint8, canvas size): the image, the status line, a banner when gaze is lost."""
        stim = self.stimulus
        img = stim.slice(self.slice_index)
        img = apply_window(img, *self.window) if self.window else img
        cx, cy = self.canvas_x0y0()
        frame = render_image(img, self.canvas_wh, cx, cy, self.scale())
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame[..., ::-1].copy()
        if self.overlay:
            text = f"{stim.stimulus_id[-24:]}  {self.index + 1}/{len(self.stimuli)}"
            if stim.is_volume:
                text += f"  slice {self.slice_index + 1}/{stim.shape[0]}"
            if self.window:
                text += f"  W {self.window[1]:.4g} L {self.window[0]:.4g}"
            if self.zoom != 1.0:
                text += f"  zoom {self.zoom:.2f}"
            _text(frame, text, (8, self.canvas_wh[1] - 10), (200, 200, 200))
        if lost:
            cv2.rectangle(frame, (0, 0), (self.canvas_wh[0], 34), (0, 0, 170), -1)
            _text(
                frame, "GAZE LOST - waiting for the eye tracker, recording continues", (8, 23), (255, 255, 255), False
            )
        return frame

    # --- input ----------------------------------------------------------------------------------
    def on_key(self, key: int) -> str | None:
        """Apply a key; returns "quit", "next" (stimulus), "changed" (display changed) or None."""
        if key in (ord("q"), 27):
            return "quit"
        if key == ord("n"):
            return "next"
        before = self._snapshot()
        c = self.controls
        if c.scroll and key in KEYS_NEXT_SLICE:
            self.scroll(+1)
        elif c.scroll and key in KEYS_PREV_SLICE:
            self.scroll(-1)
        elif c.zoom and key in (ord("+"), ord("=")):
            self.zoom *= ZOOM_STEP
        elif c.zoom and key == ord("-"):
            self.zoom /= ZOOM_STEP
        elif key == ord("0") and (c.zoom or c.pan):
            self.zoom, self.pan = 1.0, (0.0, 0.0)
        elif c.window_level and self.window and key in (ord("["), ord("]"), ord(","), ord(".")):
            center, width = self.window
            step = width * 0.1
            if key in (ord("["), ord("]")):
                width = max(width + (step if key == ord("]") else -step), 1e-3)
            else:
                center += step if key == ord(".") else -step
            self.window = (center, width)
        return "changed" if self._snapshot() != before else None

    def scroll(self, step: int) -> None:
        if self.stimulus.is_volume:
            self.slice_index = int(np.clip(self.slice_index + step, 0, self.stimulus.shape[0] - 1))

    def on_mouse(self, event: int, x: int, y: int, flags: int) -> bool:
        """Apply a mouse event (OpenCV's event codes) at canvas (x, y); True when the display changed."""
        before = self._snapshot()
        c = self.controls
        if event == cv2.EVENT_MOUSEWHEEL and c.scroll:
            self.scroll(-1 if wheel_delta(flags) > 0 else +1)  # wheel towards you = next slice
        elif event == cv2.EVENT_LBUTTONDOWN and c.pan:
            self._drag = (cv2.EVENT_LBUTTONDOWN, x, y)
        elif event == cv2.EVENT_RBUTTONDOWN and c.window_level and self.window:
            self._drag = (cv2.EVENT_RBUTTONDOWN, x, y)
        elif event in (cv2.EVENT_LBUTTONUP, cv2.EVENT_RBUTTONUP):
            self._drag = None
        elif event == cv2.EVENT_MOUSEMOVE and self._drag is not None:
            kind, x_prev, y_prev = self._drag
            dx, dy = x - x_prev, y - y_prev
            if kind == cv2.EVENT_LBUTTONDOWN:
                self.pan = (self.pan[0] + dx, self.pan[1] + dy)
            else:
                center, width = self.window
                self.window = (center + dy * width / 256, max(width + dx * width / 256, 1e-3))
            self._drag = (kind, x, y)
        return self._snapshot() != before

    def _snapshot(self) -> tuple:
        return (self.index, self.slice_index, self.zoom, self.pan, self.window)


def wheel_delta(flags: int) -> int:
    """The wheel delta packed, as OpenCV does, in the high 16 bits of a wheel event's flags (+120 = one notch away)."""
    return flags >> 16


def _text(frame: np.ndarray, text: str, org: tuple[int, int], color: tuple[int, int, int], box: bool = True) -> None:
    """Text, on a black box unless ``box`` is False (readable over any image)."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    if box:
        cv2.rectangle(frame, (org[0] - 4, org[1] - h - 4), (org[0] + w + 4, org[1] + base + 2), (0, 0, 0), -1)
    cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
