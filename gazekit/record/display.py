"""The OpenCV window (``opencv-python``'s Qt HighGUI): full screen or a fixed size, drawn 1:1.

The canvas is shown unscaled, so a canvas pixel is a screen pixel and the canvas' top-left corner on
screen comes from ``cv2.getWindowImageRect``. The mouse pointer, in screen px, is what the mouse
gaze source samples.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import cv2
import numpy as np

from gazekit.errors import GazekitError

WINDOW = "gazekit record"


def screen_size_px() -> tuple[int, int] | None:
    """Resolution of the X display [px] (``xdpyinfo``-free: asks Tk, then xrandr); None when unknown."""
    try:
        import tkinter

        root = tkinter.Tk()
        size = (int(root.winfo_screenwidth()), int(root.winfo_screenheight()))
        root.destroy()
        return size
    except Exception:  # noqa: BLE001 - no Tk or no display: try xrandr
        pass
    if shutil.which("xrandr"):
        out = subprocess.run(["xrandr", "--current"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if "current" in line:  # "Screen 0: minimum 8 x 8, current 1920 x 1080, maximum ..."
                w, h = line.split("current", 1)[1].split(",")[0].split("x")
                return int(w), int(h)
    return None


class CvDisplay:
    """An OpenCV window of ``size_px`` (W, H) or full screen (``size_px=None``)."""

    def __init__(self, size_px: tuple[int, int] | None, screen_px: tuple[int, int], position_px=(0, 0)):
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise GazekitError(None, "DISPLAY", "expected a graphical session (DISPLAY is not set; use Xvfb for tests)")
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            raise GazekitError(
                None, "opencv", f"expected an OpenCV build with windows (opencv-python, not -headless): {exc.err}"
            ) from None
        self.fullscreen = size_px is None
        self.canvas_wh = tuple(screen_px) if self.fullscreen else tuple(size_px)
        self._pointer: tuple[int, int] | None = None
        self._handler = None
        self._open = True
        cv2.setMouseCallback(WINDOW, self._on_mouse)
        if self.fullscreen:
            cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        self.show(np.zeros((self.canvas_wh[1], self.canvas_wh[0], 3), np.uint8))
        if not self.fullscreen:
            cv2.moveWindow(WINDOW, *position_px)
        for _ in range(5):  # let the window appear and settle before asking where it is
            cv2.waitKey(20)
        self._origin = self._read_origin()

    def _read_origin(self) -> tuple[float, float]:
        x, y, _, _ = cv2.getWindowImageRect(WINDOW)
        return float(max(x, 0)), float(max(y, 0))

    def origin_px(self) -> tuple[float, float]:
        return self._origin

    def _on_mouse(self, event: int, x: int, y: int, flags: int, _param) -> None:
        self._pointer = (x, y)
        if self._handler is not None:
            self._handler(event, x, y, flags)

    def pointer(self) -> tuple[float, float] | None:
        """The mouse pointer in screen px (None until it has been over the window)."""
        if self._pointer is None:
            return None
        return self._origin[0] + self._pointer[0] + 0.5, self._origin[1] + self._pointer[1] + 0.5

    def set_mouse_handler(self, handler) -> None:
        self._handler = handler

    def show(self, frame: np.ndarray) -> None:
        cv2.imshow(WINDOW, frame)

    def wait_key(self, ms: int) -> int:
        key = cv2.waitKeyEx(max(1, ms))
        if self._open and cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
            self._open = False
        elif self._open:
            self._origin = self._read_origin()
        return key if key == -1 or key > 0xFF00 or key >= 0x1000000 else key & 0xFF

    def is_open(self) -> bool:
        return self._open

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(WINDOW)
            cv2.waitKey(1)
            self._open = False
