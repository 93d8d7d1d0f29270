"""Screen geometry (pixels <-> degrees of visual angle) and the viewer state that maps screen to image.

Conventions (DESIGN.md section 3): screen and image coordinates are continuous pixels with the origin
at the top-left corner of the top-left pixel, x to the right, y down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazekit.errors import GazekitError


@dataclass(frozen=True)
class Screen:
    """A display: resolution [px], physical size [mm], eye-to-screen distance [mm].

    The eye is assumed in front of the screen centre. ``origin`` is where (0, 0) is ("top-left").
    The physical size and distance may be NaN when unknown (see :attr:`complete`).
    """

    width_px: int
    height_px: int
    width_mm: float
    height_mm: float
    distance_mm: float
    origin: str = "top-left"

    @property
    def complete(self) -> bool:
        """True when physical size and distance are known, so px <-> degree conversion is possible."""
        values = (self.width_mm, self.height_mm, self.distance_mm)
        return self.width_px > 0 and self.height_px > 0 and all(np.isfinite(v) and v > 0 for v in values)

    @property
    def mm_per_px(self) -> tuple[float, float]:
        """Pixel pitch (x, y) [mm/px]."""
        return self.width_mm / self.width_px, self.height_mm / self.height_px

    def px_to_deg(self, x_px, y_px):
        """Screen px -> visual angle (x_deg, y_deg) from the screen centre, exact arctangent form.

        ``x_deg = atan((x_px - W/2) * mm_per_px_x / distance_mm)`` in degrees (likewise y).
        """
        mx, my = self.mm_per_px
        x = np.degrees(np.arctan2((np.asarray(x_px, float) - self.width_px / 2) * mx, self.distance_mm))
        y = np.degrees(np.arctan2((np.asarray(y_px, float) - self.height_px / 2) * my, self.distance_mm))
        return x, y

    def deg_to_px(self, x_deg, y_deg):
        """Inverse of :meth:`px_to_deg`: visual angle from the centre [deg] -> screen px."""
        mx, my = self.mm_per_px
        x = np.tan(np.radians(np.asarray(x_deg, float))) * self.distance_mm / mx + self.width_px / 2
        y = np.tan(np.radians(np.asarray(y_deg, float))) * self.distance_mm / my + self.height_px / 2
        return x, y

    def deg_per_px_at_centre(self) -> float:
        """Size of one screen pixel at the screen centre [deg/px] (mean of x and y)."""
        mx, my = self.mm_per_px
        return float(np.degrees(2 * np.arctan(0.5 * (mx + my) / 2 / self.distance_mm)))

    def sigma_deg_to_px(self, sigma_deg: float) -> float:
        """A visual angle around the screen centre [deg] as a length in screen px."""
        mx, my = self.mm_per_px
        return float(2 * self.distance_mm * np.tan(np.radians(sigma_deg) / 2) / ((mx + my) / 2))


@dataclass(frozen=True)
class ViewState:
    """How an image of ``width`` x ``height`` px is shown: flipped, rotated clockwise, scaled, placed.

    Forward order: flip (in image space), rotate clockwise by ``rotation_deg`` about the image, scale
    by ``scale`` screen px per image px, put the displayed image's top-left corner at ``(x0_px, y0_px)``.
    """

    width: int
    height: int
    x0_px: float = 0.0
    y0_px: float = 0.0
    scale: float = 1.0
    rotation_deg: int = 0
    flip_x: bool = False
    flip_y: bool = False

    def screen_to_image(self, sx, sy):
        """Screen px -> image px (x = column, y = row), continuous; returns (x, y, on_image)."""
        u = (np.asarray(sx, float) - self.x0_px) / self.scale
        v = (np.asarray(sy, float) - self.y0_px) / self.scale
        w, h = self.width, self.height
        rot = self.rotation_deg % 360
        if rot == 0:
            x, y = u, v
        elif rot == 90:
            x, y = v, h - u
        elif rot == 180:
            x, y = w - u, h - v
        elif rot == 270:
            x, y = w - v, u
        else:
            raise ValueError(f"rotation_deg must be 0, 90, 180 or 270, got {self.rotation_deg}")
        if self.flip_x:
            x = w - x
        if self.flip_y:
            y = h - y
        on = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        return x, y, on

    def image_to_screen(self, x, y):
        """Image px -> screen px (inverse of :meth:`screen_to_image`)."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        w, h = self.width, self.height
        if self.flip_x:
            x = w - x
        if self.flip_y:
            y = h - y
        rot = self.rotation_deg % 360
        if rot == 0:
            u, v = x, y
        elif rot == 90:
            u, v = h - y, x
        elif rot == 180:
            u, v = w - x, h - y
        elif rot == 270:
            u, v = y, w - x
        else:
            raise ValueError(f"rotation_deg must be 0, 90, 180 or 270, got {self.rotation_deg}")
        return u * self.scale + self.x0_px, v * self.scale + self.y0_px


# --- where a Screen comes from: CLI options, a session.json, the recording itself ------------------------

SCREEN_FIELDS = ("width_px", "height_px", "width_mm", "height_mm", "distance_mm")


def parse_pair(text: str, option: str) -> tuple[float, float]:
    """``"1920x1080"`` -> (1920.0, 1080.0); GazekitError naming ``option`` otherwise."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        a, b = (float(p) for p in parts)
    except ValueError:
        raise GazekitError(None, option, f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}") from None
    if not (a > 0 and b > 0 and np.isfinite(a) and np.isfinite(b)):
        raise GazekitError(None, option, f"expected two positive numbers, got {text!r}")
    return a, b


def screen_fields_from_cli(
    screen_px: str | None = None, screen_mm: str | None = None, distance_mm: float | None = None
) -> dict[str, float]:
    """Known Screen fields from ``--screen-px 1920x1080 --screen-mm 531x299 --distance-mm 650``."""
    out: dict[str, float] = {}
    if screen_px:
        out["width_px"], out["height_px"] = parse_pair(screen_px, "--screen-px")
    if screen_mm:
        out["width_mm"], out["height_mm"] = parse_pair(screen_mm, "--screen-mm")
    if distance_mm is not None:
        if not (np.isfinite(distance_mm) and distance_mm > 0):
            raise GazekitError(None, "--distance-mm", f"expected a positive number, got {distance_mm!r}")
        out["distance_mm"] = float(distance_mm)
    return out


def screen_fields_from_session_json(path: str | Path) -> dict[str, float]:
    """Known Screen fields from a BIDS-style sidecar: ScreenResolution [px], ScreenSize [m], ScreenDistance [m]."""
    path = Path(path)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GazekitError(path, None, "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GazekitError(path, None, f"expected JSON ({exc})") from None
    if not isinstance(info, dict):
        raise GazekitError(path, None, "expected a JSON object")
    out: dict[str, float] = {}
    for key, names, factor in (
        ("ScreenResolution", ("width_px", "height_px"), 1.0),
        ("ScreenSize", ("width_mm", "height_mm"), 1000.0),
    ):
        if key in info:
            value = info[key]
            ok = isinstance(value, list) and len(value) == 2 and all(_positive(v) for v in value)
            if not ok:
                raise GazekitError(
                    path, f"field {key!r}", f"expected [width, height] (positive numbers), got {value!r}"
                )
            out[names[0]], out[names[1]] = float(value[0]) * factor, float(value[1]) * factor
    if "ScreenDistance" in info:
        value = info["ScreenDistance"]
        if not _positive(value):
            raise GazekitError(path, "field 'ScreenDistance'", f"expected a positive number [m], got {value!r}")
        out["distance_mm"] = float(value) * 1000.0
    return out


def resolve_screen(*sources: dict[str, float] | None) -> Screen | None:
    """Combine partial Screen fields, earlier sources winning (e.g. CLI, session.json, file).

    None when the resolution is unknown; unknown physical size or distance stay NaN (then
    :attr:`Screen.complete` is false and no degree conversion is possible).
    """
    merged: dict[str, float] = {}
    for src in sources:
        for key, value in (src or {}).items():
            if key in SCREEN_FIELDS and key not in merged and value is not None and np.isfinite(value):
                merged[key] = float(value)
    if "width_px" not in merged or "height_px" not in merged:
        return None
    return Screen(
        int(round(merged["width_px"])),
        int(round(merged["height_px"])),
        merged.get("width_mm", np.nan),
        merged.get("height_mm", np.nan),
        merged.get("distance_mm", np.nan),
    )


def _positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value) and value > 0
