"""Heatmap rendering (pure numpy): weighted Gaussians evaluated exactly at pixel centres, at every scale.

Conventions (DESIGN.md section 3): continuous image coordinates, origin at the top-left corner of the
top-left pixel, so pixel (r, c) has its centre at (x, y) = (c + 0.5, r + 0.5).

Heatmap of one image = sum_i w_i * N(x_i, y_i, sigma_x_i, sigma_y_i) evaluated at pixel centres, where
N is a unit-mass 2-D Gaussian (axis-aligned; isotropic unless ``--sigma-frac`` on a non-square image)
and w_i the fixation's duration (or 1). Nothing is rounded: fixation positions stay continuous.

Separable low-rank form: with A[i, r] = exp(-(yc_r - y_i)^2 / 2 sy_i^2) and B[i, c] = exp(-(xc_c -
x_i)^2 / 2 sx_i^2), the map is G = A^T diag(w') B, one float32 GEMM. The exponentials cost
fixations x (H + W); the GEMM is H x W x fixations multiply-adds done by BLAS (no per-pixel exp).

Pyramid: scale s gives a floor(H/s) x floor(W/s) map whose pixel (R, C) covers the s x s block of full
resolution pixels a U-Net's max-pooling puts there, i.e. [sC, sC + s) x [sR, sR + s); the map is the
same Gaussian sum evaluated at those blocks' centres (s(C + 1/2), s(R + 1/2)) in full-size coordinates.
That is exactly rendering at the coarse size with positions and sigmas divided by s (so when s divides
H and W it equals rendering the image resized to H/s x W/s), and each scale is normalised on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gazekit.errors import GazekitError

NORMS = ("sum", "max", "minmax")
WEIGHTS = ("duration", "count")
COMBINES = ("mean", "pool")
BOUNDARIES = ("zero", "reflect")
DTYPES = ("uint16", "float32")


@dataclass(frozen=True)
class Sigma:
    """The Gaussian's standard deviation: exactly one of degrees of visual angle, image px, or a fraction
    of the image size (``frac`` x width along x and ``frac`` x height along y, as GazeMedSeg's canvas)."""

    deg: float | None = None
    px: float | None = None
    frac: float | None = None

    def __post_init__(self) -> None:
        given = [(k, v) for k, v in (("deg", self.deg), ("px", self.px), ("frac", self.frac)) if v is not None]
        if len(given) != 1:
            raise GazekitError(None, "sigma", "expected exactly one of --sigma-deg, --sigma-px, --sigma-frac")
        name, value = given[0]
        if not (np.isfinite(value) and value > 0):
            raise GazekitError(None, f"--sigma-{name}", f"expected a number > 0, got {value}")

    @property
    def unit(self) -> str:
        return "deg" if self.deg is not None else "px" if self.px is not None else "frac"

    @property
    def value(self) -> float:
        return float(next(v for v in (self.deg, self.px, self.frac) if v is not None))


@dataclass(frozen=True)
class RenderConfig:
    """How fixations become heatmaps (the parameters written into ``store.json``).

    ``scales``: down-sampling factors of the pyramid; ``size``: (height, width) of the scale-1 grid
    (None = the image's own size); ``combine``: several readers of one image -> ``mean`` of their
    normalised maps, or ``pool`` all fixations into one map; ``boundary``: ``zero`` (mass leaving the
    image is lost) or ``reflect`` (mirrored at the image edges, as scipy's gaussian_filter does);
    ``display_scale``: screen px per image px for ``sigma.deg`` when the session metadata lacks it;
    ``dtype``: how the store keeps the maps (``uint16``: quantised per map, see :mod:`gazekit.store`).
    """

    sigma: Sigma = Sigma(deg=1.0)
    weight: str = "duration"
    norm: str = "sum"
    combine: str = "mean"
    boundary: str = "zero"
    scales: tuple[int, ...] = (1,)
    size: tuple[int, int] | None = None
    display_scale: float | None = None
    dtype: str = "uint16"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("--dtype", self.dtype, DTYPES),
            ("--weight", self.weight, WEIGHTS),
            ("--norm", self.norm, NORMS),
            ("--combine", self.combine, COMBINES),
            ("--boundary", self.boundary, BOUNDARIES),
        ):
            if value not in allowed:
                raise GazekitError(None, name, f"expected one of {'/'.join(allowed)}, got {value!r}")
        if not self.scales or any(int(s) != s or s < 1 for s in self.scales):
            raise GazekitError(None, "--scales", f"expected positive integers, got {list(self.scales)}")
        if len(set(self.scales)) != len(self.scales):
            raise GazekitError(None, "--scales", f"expected distinct scales, got {list(self.scales)}")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise GazekitError(None, "--size", f"expected H or HxW with positive integers, got {self.size}")
        if self.display_scale is not None and not self.display_scale > 0:
            raise GazekitError(None, "--display-scale", f"expected a number > 0, got {self.display_scale}")

    def params(self) -> dict:
        """JSON-ready description (store.json)."""
        return {
            "sigma": {"unit": self.sigma.unit, "value": self.sigma.value},
            "sigma_deg": self.sigma.deg,
            "sigma_px": self.sigma.px,
            "sigma_frac": self.sigma.frac,
            "weight": self.weight,
            "norm": self.norm,
            "combine": self.combine,
            "boundary": self.boundary,
            "scales": [int(s) for s in self.scales],
            "size": None if self.size is None else [int(v) for v in self.size],
            "display_scale": self.display_scale,
            "dtype": self.dtype,
        }

    @classmethod
    def from_params(cls, params: dict) -> RenderConfig:
        """The inverse of :meth:`params` (a store.json)."""
        sigma = Sigma(**{params["sigma"]["unit"]: float(params["sigma"]["value"])})
        size = params.get("size")
        return cls(
            sigma, params["weight"], params["norm"], params.get("combine", "mean"), params.get("boundary", "zero"),
            tuple(int(s) for s in params["scales"]), None if size is None else (int(size[0]), int(size[1])),
            params.get("display_scale"), params.get("dtype", "float32"),
        )  # fmt: skip


def grid_shape(height: int, width: int, scale: int) -> tuple[int, int]:
    """Map size at down-sampling factor ``scale``: (floor(H/s), floor(W/s)), as max-pooling gives."""
    if scale > height or scale > width:
        raise GazekitError(None, f"scale {scale}", f"expected a scale <= the image size {height}x{width} px")
    return height // scale, width // scale


def gaussian_rows(
    centre_px: np.ndarray, sigma_px: np.ndarray, n: int, scale: int = 1, extent_px: float | None = None
) -> np.ndarray:
    """1-D Gaussians exp(-(p_k - c_i)^2 / (2 sigma_i^2)) at p_k = scale * (k + 1/2), k < n; float32 [N, n].

    ``extent_px`` (the image's length in full-size px) adds the mirror images about 0 and the far
    edge (boundary ``reflect``); None leaves the Gaussian unmirrored.
    """
    c = np.asarray(centre_px, np.float32)[:, None]
    inv = (np.float32(0.5) / np.square(np.asarray(sigma_px, np.float32)))[:, None]
    p = (np.float32(scale) * (np.arange(n, dtype=np.float32) + np.float32(0.5)))[None, :]
    out = np.exp(-np.square(p - c) * inv)
    if extent_px is not None:
        e = np.float32(extent_px)
        out += np.exp(-np.square(p + c) * inv)
        out += np.exp(-np.square(p - (2 * e - c)) * inv)
    return out


def render(
    x_px: np.ndarray,
    y_px: np.ndarray,
    weights: np.ndarray,
    sigma_x_px: np.ndarray,
    sigma_y_px: np.ndarray,
    height: int,
    width: int,
    scale: int = 1,
    boundary: str = "zero",
) -> np.ndarray:
    """Unnormalised heatmap sum_i w_i N_i at the centres of the scale-``scale`` grid; float32 [H//s, W//s].

    Positions and sigmas are in full-size image px; each Gaussian has unit mass (1 / (2 pi sx sy)).
    """
    h, w = grid_shape(height, width, scale)
    sx = np.asarray(sigma_x_px, np.float64)
    sy = np.asarray(sigma_y_px, np.float64)
    mass = (np.asarray(weights, np.float64) / (2 * np.pi * sx * sy) * scale * scale).astype(np.float32)
    reflect = boundary == "reflect"
    a = gaussian_rows(y_px, sy, h, scale, height if reflect else None)
    b = gaussian_rows(x_px, sx, w, scale, width if reflect else None)
    return (a * mass[:, None]).T @ b


def normalise(heatmap: np.ndarray, norm: str, where: str = "heatmap") -> np.ndarray:
    """``sum``: divide by the total (a density); ``max``: by the maximum; ``minmax``: to [0, 1]."""
    lo, hi = float(heatmap.min()), float(heatmap.max())
    if not hi > 0:
        raise GazekitError(
            None, where, "expected a non-zero heatmap: the Gaussians underflow between pixel centres (sigma too small)"
        )
    if norm == "sum":
        return heatmap / np.float32(heatmap.sum(dtype=np.float64))
    if norm == "max":
        return heatmap / np.float32(hi)
    if hi == lo:
        raise GazekitError(None, where, "expected a heatmap that is not constant for --norm minmax")
    return (heatmap - np.float32(lo)) / np.float32(hi - lo)


def pyramid(
    x_px: np.ndarray,
    y_px: np.ndarray,
    weights: np.ndarray,
    sigma_x_px: np.ndarray,
    sigma_y_px: np.ndarray,
    height: int,
    width: int,
    scales: Sequence[int],
    norm: str = "sum",
    boundary: str = "zero",
    groups: np.ndarray | None = None,
    combine: str = "mean",
) -> dict[int, np.ndarray]:
    """Normalised heatmaps of one image at every scale: {s: float32 [H//s, W//s]}.

    ``groups`` (one code per fixation, e.g. the reader) with ``combine="mean"`` gives the mean of the
    groups' normalised maps; None or ``combine="pool"`` renders all fixations as one map.
    """
    x, y, wt = (np.asarray(v, np.float64) for v in (x_px, y_px, weights))
    sx = np.broadcast_to(np.asarray(sigma_x_px, np.float64), x.shape)
    sy = np.broadcast_to(np.asarray(sigma_y_px, np.float64), x.shape)
    if groups is None or combine == "pool":
        parts = [np.arange(len(x))]
    else:
        codes = np.asarray(groups)
        parts = [np.flatnonzero(codes == g) for g in np.unique(codes)]
    out: dict[int, np.ndarray] = {}
    for s in scales:
        acc = None
        for idx in parts:
            m = render(x[idx], y[idx], wt[idx], sx[idx], sy[idx], height, width, int(s), boundary)
            m = normalise(m, norm, f"scale {s}")
            acc = m if acc is None else acc + m
        out[int(s)] = acc if len(parts) == 1 else acc / np.float32(len(parts))
    return out


def sigma_px_per_fixation(
    sigma: Sigma,
    width: int,
    height: int,
    n: int,
    screens: Sequence | None = None,
    screen_x_px: np.ndarray | None = None,
    screen_y_px: np.ndarray | None = None,
    display_scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sigma of each of ``n`` fixations in image px, (sigma_x, sigma_y).

    ``deg``: converted with each fixation's ``screens[i]`` (a :class:`gazekit.geometry.Screen`) at its
    screen position (the local size of a degree there; screen centre when the position is unknown),
    then divided by ``display_scale[i]`` (screen px per image px).
    """
    if sigma.px is not None:
        return np.full(n, sigma.px), np.full(n, sigma.px)
    if sigma.frac is not None:
        return np.full(n, sigma.frac * width), np.full(n, sigma.frac * height)
    half = sigma.deg / 2
    sx = np.empty(n)
    sy = np.empty(n)
    for i in range(n):
        scr = screens[i]
        px = screen_x_px[i] if screen_x_px is not None and np.isfinite(screen_x_px[i]) else scr.width_px / 2
        py = screen_y_px[i] if screen_y_px is not None and np.isfinite(screen_y_px[i]) else scr.height_px / 2
        ax, ay = scr.px_to_deg(px, py)
        x0, y0 = scr.deg_to_px(ax - half, ay - half)
        x1, y1 = scr.deg_to_px(ax + half, ay + half)
        local = 0.5 * (float(x1 - x0) + float(y1 - y0))
        sx[i] = sy[i] = local / float(display_scale[i])
    return sx, sy
