"""Screen geometry (pixels <-> degrees of visual angle) and the viewer state that maps screen to image.

Conventions (DESIGN.md section 3): screen and image coordinates are continuous pixels with the origin
at the top-left corner of the top-left pixel, x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Screen:
    """A display: resolution [px], physical size [mm], eye-to-screen distance [mm].

    The eye is assumed in front of the screen centre. ``origin`` is where (0, 0) is ("top-left").
    """

    width_px: int
    height_px: int
    width_mm: float
    height_mm: float
    distance_mm: float
    origin: str = "top-left"

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
