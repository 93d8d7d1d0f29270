"""The viewer window: Tk (Python's standard ``tkinter``), full screen or a fixed size, drawn 1:1.

Why Tk and not an OpenCV window: the ``opencv-python`` Qt window zooms and pans the picture by itself on
the mouse wheel and on drags, with no way to turn that off or read it back, so what is on screen would
no longer be what ``viewer_events`` says; ``opencv-python-headless`` has no window at all. Tk shows our
frame pixel for pixel and hands every key, wheel and pointer event to the viewer. Frames are drawn with
OpenCV (:mod:`gazekit.record.viewer`) and shown as PPM data, so Pillow is not needed.

A canvas pixel is a screen pixel; the canvas' top-left corner on screen is ``winfo_rootx/rooty``. The
mouse pointer, in screen px, is what the mouse gaze source samples.
"""

from __future__ import annotations

import os
import time

import cv2
import numpy as np

from gazekit.errors import GazekitError

TITLE = "gazekit record"
WHEEL_NOTCH = 120 << 16  # OpenCV's packing of one wheel notch in a mouse event's flags


def _tk():
    if not os.environ.get("DISPLAY") and os.name == "posix" and not os.environ.get("WAYLAND_DISPLAY"):
        raise GazekitError(None, "DISPLAY", "expected a graphical session (DISPLAY is not set; use Xvfb for tests)")
    try:
        import tkinter
    except ImportError:
        raise GazekitError(
            None, "tkinter", "expected Python with Tk (Debian/Ubuntu: apt install python3-tk) to open the viewer"
        ) from None
    return tkinter


def screen_size_px() -> tuple[int, int]:
    """Resolution of the display the viewer opens on [px]."""
    tk = _tk()
    try:
        root = tk.Tk()
    except tk.TclError as exc:
        raise GazekitError(None, "DISPLAY", f"cannot open the display: {exc}") from None
    size = (int(root.winfo_screenwidth()), int(root.winfo_screenheight()))
    root.destroy()
    return size


class TkDisplay:
    """A window of ``size_px`` (W, H) at ``position_px``, or full screen (``size_px=None``)."""

    def __init__(self, size_px: tuple[int, int] | None, position_px: tuple[int, int] = (0, 0)):
        tk = _tk()
        try:
            self.root = tk.Tk()
        except tk.TclError as exc:
            raise GazekitError(None, "DISPLAY", f"cannot open the display: {exc}") from None
        self._tk = tk
        root = self.root
        root.title(TITLE)
        root.configure(background="black")
        root.resizable(False, False)
        self.fullscreen = size_px is None
        screen = (int(root.winfo_screenwidth()), int(root.winfo_screenheight()))
        self.canvas_wh = screen if self.fullscreen else (int(size_px[0]), int(size_px[1]))
        if self.fullscreen:
            root.geometry(f"{screen[0]}x{screen[1]}+0+0")
            root.attributes("-fullscreen", True)
        else:
            root.geometry(f"{self.canvas_wh[0]}x{self.canvas_wh[1]}+{position_px[0]}+{position_px[1]}")
        self.label = tk.Label(root, borderwidth=0, highlightthickness=0, background="black", cursor="crosshair")
        self.label.place(x=0, y=0, width=self.canvas_wh[0], height=self.canvas_wh[1])
        self._photo = None
        self._origin = (0.0, 0.0)
        self._keys: list[int] = []
        self._pointer: tuple[int, int] | None = None
        self._handler = None
        self._open = True
        root.protocol("WM_DELETE_WINDOW", self._on_close)
        root.bind("<Destroy>", lambda e: self._on_close() if e.widget is root else None)  # destroyed from outside
        root.bind("<Key>", self._on_key)
        for button, (down, up) in {1: (cv2.EVENT_LBUTTONDOWN, cv2.EVENT_LBUTTONUP),
                                   3: (cv2.EVENT_RBUTTONDOWN, cv2.EVENT_RBUTTONUP)}.items():  # fmt: skip
            root.bind(f"<ButtonPress-{button}>", lambda e, ev=down: self._mouse(ev, e, 0))
            root.bind(f"<ButtonRelease-{button}>", lambda e, ev=up: self._mouse(ev, e, 0))
        root.bind("<Motion>", lambda e: self._mouse(cv2.EVENT_MOUSEMOVE, e, 0))
        root.bind("<Button-4>", lambda e: self._mouse(cv2.EVENT_MOUSEWHEEL, e, WHEEL_NOTCH))  # X11 wheel away
        root.bind("<Button-5>", lambda e: self._mouse(cv2.EVENT_MOUSEWHEEL, e, -WHEEL_NOTCH))  # towards you
        root.bind(
            "<MouseWheel>", lambda e: self._mouse(cv2.EVENT_MOUSEWHEEL, e, WHEEL_NOTCH * (1 if e.delta > 0 else -1))
        )
        self.show(np.zeros((self.canvas_wh[1], self.canvas_wh[0], 3), np.uint8))
        root.update()
        root.focus_force()
        deadline = time.monotonic() + 2.0
        while not root.winfo_viewable() and time.monotonic() < deadline:  # wait until it is on screen
            root.update()
            time.sleep(0.01)
        self._origin = self._read_origin()

    # --- events -----------------------------------------------------------------------------------
    def _on_close(self) -> None:
        self._open = False

    def _on_key(self, event) -> None:
        # printable keys as their character code (q = 113, Escape = 27), others as X keysyms (Up = 65362)
        self._keys.append(ord(event.char) if len(event.char) == 1 else int(event.keysym_num))

    def _mouse(self, kind: int, event, flags: int) -> None:
        x, y = int(event.x_root - self._origin[0]), int(event.y_root - self._origin[1])
        self._pointer = (x, y)
        if self._handler is not None:
            self._handler(kind, x, y, flags)

    # --- what the recorder uses ----------------------------------------------------------------------
    def _read_origin(self) -> tuple[float, float]:
        return float(self.label.winfo_rootx()), float(self.label.winfo_rooty())

    def origin_px(self) -> tuple[float, float]:
        """Screen position of the canvas' top-left corner (as of the last event processing)."""
        return self._origin

    def pointer(self) -> tuple[float, float] | None:
        """The mouse pointer in screen px (the centre of the pixel it is on; None before it was seen)."""
        if self._pointer is None:
            return None
        ox, oy = self.origin_px()
        return ox + self._pointer[0] + 0.5, oy + self._pointer[1] + 0.5

    def set_mouse_handler(self, handler) -> None:
        self._handler = handler

    def show(self, frame: np.ndarray) -> None:
        """Show a BGR uint8 frame of the canvas size."""
        h, w = frame.shape[:2]
        ppm = b"P6 %d %d 255\n" % (w, h) + np.ascontiguousarray(frame[..., ::-1]).tobytes()
        self._photo = self._tk_photo(ppm)
        self.label.configure(image=self._photo)

    def _tk_photo(self, ppm: bytes):
        return self._tk.PhotoImage(master=self.root, data=ppm, format="PPM")

    def wait_key(self, ms: int) -> int:
        """Process window events for up to ``ms`` milliseconds; the first key pressed, or -1."""
        end = time.monotonic() + ms / 1000
        while self._open:
            try:
                self.root.update()
            except self._tk.TclError:  # the window was destroyed under us
                self._open = False
                break
            if not self._open:
                break
            self._origin = self._read_origin()
            if self._keys or time.monotonic() >= end:
                break
            time.sleep(0.001)
        return self._keys.pop(0) if self._keys else -1

    def is_open(self) -> bool:
        return self._open

    def close(self) -> None:
        try:
            self.root.destroy()
        except self._tk.TclError:  # already gone
            pass
        self._open = False
