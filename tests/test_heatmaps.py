"""Heatmap rendering: exact Gaussians at pixel centres, pyramids, normalisation, sigma units."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from gazekit.errors import GazekitError
from gazekit.geometry import Screen
from gazekit.heatmaps import render

SCALES = (1, 2, 4, 8, 16)


def _moments(m: np.ndarray, scale: int) -> tuple[float, float, float, float, float]:
    """Centroid and second central moments of a map, in full-size px (coarse centre = s (k + 1/2))."""
    m = m.astype(np.float64) / m.sum(dtype=np.float64)
    ys = scale * (np.arange(m.shape[0]) + 0.5)
    xs = scale * (np.arange(m.shape[1]) + 0.5)
    py, px = m.sum(axis=1), m.sum(axis=0)
    cy, cx = float(py @ ys), float(px @ xs)
    vy, vx = float(py @ (ys - cy) ** 2), float(px @ (xs - cx) ** 2)
    cov = float(((ys - cy)[:, None] * (xs - cx)[None, :] * m).sum())
    return cx, cy, vx, vy, cov


@settings(max_examples=15, deadline=None)
@given(
    sigma=st.floats(16.0, 30.0),
    fx=st.floats(0.0, 1.0),
    fy=st.floats(0.0, 1.0),
)
def test_single_fixation_centroid_and_second_moments_at_every_scale(sigma, fx, fy):
    h, w = 520, 490  # not divisible by 16: coarse grids cover [0, s*floor(W/s))
    x = 6.5 * sigma + fx * (w - 16 - 13 * sigma)
    y = 6.5 * sigma + fy * (h - 16 - 13 * sigma)
    maps = render.pyramid([x], [y], [250.0], sigma, sigma, h, w, SCALES)
    for s in SCALES:
        m = maps[s]
        assert m.shape == (h // s, w // s) and m.dtype == np.float32
        cx, cy, vx, vy, cov = _moments(m, s)
        assert abs(cx - x) < 1e-3 and abs(cy - y) < 1e-3, s
        assert abs(np.sqrt(vx) - sigma) < 1e-3 and abs(np.sqrt(vy) - sigma) < 1e-3, s
        assert abs(cov) < 1e-3, s


def test_sum_max_minmax_normalisations():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 90, 12), rng.uniform(0, 70, 12)
    d = rng.uniform(100, 600, 12)
    for s, m in render.pyramid(x, y, d, 8.0, 8.0, 70, 90, (1, 2, 3, 5), norm="sum").items():
        assert m.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-5), s
    for s, m in render.pyramid(x, y, d, 8.0, 8.0, 70, 90, (1, 3), norm="max").items():
        assert m.max() == pytest.approx(1.0) and m.min() > 0, s
    for s, m in render.pyramid(x, y, d, 8.0, 8.0, 70, 90, (1, 3), norm="minmax").items():
        assert m.max() == pytest.approx(1.0) and m.min() == pytest.approx(0.0), s


def test_coarse_scales_equal_brute_force_evaluation_at_block_centres():
    # independent formula: full 2-D Gaussians, float64, evaluated at s (C + 1/2), s (R + 1/2)
    rng = np.random.default_rng(2)
    h, w = 101, 77
    x, y = rng.uniform(0, w, 9), rng.uniform(0, h, 9)
    d = rng.uniform(50, 900, 9)
    sig = rng.uniform(3, 12, 9)
    maps = render.pyramid(x, y, d, sig, sig, h, w, (1, 2, 3, 4, 5, 7))
    for s, m in maps.items():
        yc = s * (np.arange(h // s) + 0.5)
        xc = s * (np.arange(w // s) + 0.5)
        ref = np.zeros((h // s, w // s))
        for xi, yi, di, si in zip(x, y, d, sig, strict=True):
            ref += di / (2 * np.pi * si**2) * np.exp(-((xc[None] - xi) ** 2 + (yc[:, None] - yi) ** 2) / (2 * si**2))
        np.testing.assert_allclose(m, ref / ref.sum(), rtol=2e-5, atol=1e-9, err_msg=f"scale {s}")


def test_scale_equals_rendering_at_that_size_when_it_divides():
    rng = np.random.default_rng(3)
    h, w, s = 96, 128, 4
    x, y, d = rng.uniform(0, w, 7), rng.uniform(0, h, 7), rng.uniform(100, 300, 7)
    coarse = render.pyramid(x, y, d, 6.0, 6.0, h, w, (s,))[s]
    direct = render.pyramid(x / s, y / s, d, 6.0 / s, 6.0 / s, h // s, w // s, (1,))[1]
    np.testing.assert_allclose(coarse, direct, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(("boundary", "mode"), [("zero", "constant"), ("reflect", "reflect")])
def test_matches_scipy_gaussian_filter_for_impulses_at_pixel_centres(boundary, mode):
    # reference library: impulses at integer pixels blurred by scipy (large truncate = exact Gaussian)
    rng = np.random.default_rng(4)
    h, w, sigma = 60, 80, 7.0
    r, c = rng.integers(0, h, 10), rng.integers(0, w, 10)
    d = rng.uniform(100, 500, 10)
    canvas = np.zeros((h, w))
    np.add.at(canvas, (r, c), d)
    ref = ndimage.gaussian_filter(canvas, sigma, mode=mode, truncate=12.0)
    ours = render.pyramid(c + 0.5, r + 0.5, d, sigma, sigma, h, w, (1,), boundary=boundary)[1]
    np.testing.assert_allclose(ours, ref / ref.sum(), rtol=1e-4, atol=1e-9)


def test_readers_combined_by_mean_of_normalised_maps():
    x = np.array([10.0, 12.0, 40.0])
    y = np.array([10.0, 30.0, 20.0])
    d = np.array([100.0, 200.0, 900.0])
    readers = np.array([0, 0, 1])
    both = render.pyramid(x, y, d, 5.0, 5.0, 40, 50, (1, 2), groups=readers)
    a = render.pyramid(x[:2], y[:2], d[:2], 5.0, 5.0, 40, 50, (1, 2))
    b = render.pyramid(x[2:], y[2:], d[2:], 5.0, 5.0, 40, 50, (1, 2))
    for s in (1, 2):
        np.testing.assert_allclose(both[s], (a[s] + b[s]) / 2, rtol=1e-6)
    pooled = render.pyramid(x, y, d, 5.0, 5.0, 40, 50, (1,), groups=readers, combine="pool")[1]
    np.testing.assert_allclose(pooled, render.pyramid(x, y, d, 5.0, 5.0, 40, 50, (1,))[1])


def test_duration_weighting_by_hand():
    # two far-apart fixations, 300 ms and 100 ms: the mass splits 3:1 between the image halves
    m = render.pyramid([20.0, 80.0], [30.0, 30.0], [300.0, 100.0], 4.0, 4.0, 60, 100, (1,))[1]
    assert m[:, :50].sum() == pytest.approx(0.75, abs=1e-6)
    c = render.pyramid([20.0, 80.0], [30.0, 30.0], [1.0, 1.0], 4.0, 4.0, 60, 100, (1,))[1]
    assert c[:, :50].sum() == pytest.approx(0.5, abs=1e-6)


def test_sigma_frac_is_fraction_of_width_and_height():
    h, w = 300, 600
    sx, sy = render.sigma_px_per_fixation(render.Sigma(frac=0.05), w, h, 1)
    assert (sx[0], sy[0]) == (30.0, 15.0)
    m = render.pyramid([300.0], [150.0], [1.0], sx, sy, h, w, (1,))[1]
    _, _, vx, vy, _ = _moments(m, 1)
    assert np.sqrt(vx) == pytest.approx(30.0, abs=1e-3) and np.sqrt(vy) == pytest.approx(15.0, abs=1e-3)


def test_sigma_deg_uses_local_geometry_and_display_scale():
    screen = Screen(1920, 1080, 531.0, 299.0, 650.0)
    pitch = (531.0 / 1920 + 299.0 / 1080) / 2
    centre_px = 2 * 650.0 * np.tan(np.radians(0.5)) / pitch  # 1 deg at the screen centre, in screen px
    sx, sy = render.sigma_px_per_fixation(
        render.Sigma(deg=1.0), 500, 400, 2, [screen, screen], np.array([960.0, 1900.0]),
        np.array([540.0, 540.0]), np.array([2.0, 2.0]),
    )  # fmt: skip
    assert sx[0] == pytest.approx(centre_px / 2, rel=1e-4) and sy[0] == sx[0]
    # far from the centre a degree spans more px along x (tan grows), ~cos^-2 of the eccentricity
    ecc = np.arctan((1900 - 960) * 531.0 / 1920 / 650.0)
    x_span = 650.0 * (np.tan(ecc + np.radians(0.5)) - np.tan(ecc - np.radians(0.5))) / (531.0 / 1920)
    y_span = 2 * 650.0 * np.tan(np.radians(0.5)) / (299.0 / 1080)
    assert sx[1] == pytest.approx((x_span + y_span) / 2 / 2, rel=1e-6)


def test_bad_parameters_raise_one_line_errors():
    with pytest.raises(GazekitError, match="sigma-px.*> 0"):
        render.Sigma(px=0.0)
    with pytest.raises(GazekitError, match="exactly one"):
        render.Sigma(px=1.0, deg=1.0)
    with pytest.raises(GazekitError, match="scale 64"):
        render.pyramid([5.0], [5.0], [1.0], 2.0, 2.0, 40, 50, (1, 64))
    with pytest.raises(GazekitError, match="underflow"):
        render.pyramid([0.5], [0.5], [1.0], 0.05, 0.05, 64, 64, (16,))
    with pytest.raises(GazekitError, match="--norm"):
        render.RenderConfig(norm="softmax")
