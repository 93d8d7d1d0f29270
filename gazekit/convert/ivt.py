"""I-VT fixation detection with Tobii's default filter (Olsen 2012); conventions in :mod:`gazekit.convert.fixations`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gazekit.convert.fixations import (
    FIXATION_COLUMNS,
    Stream,
    check_positive,
    connected,
    dt_ms,
    empty_table,
    fixation_table,
    gap_fill,
    range_sums,
    run_streams,
)
from gazekit.geometry import Screen

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class IVTParams:
    """I-VT with Tobii's published default filter (Olsen 2012, "The Tobii I-VT Fixation Filter").

    Set ``gap_fill_max_ms=0`` (no gap fill-in), ``merge_max_gap_ms=0`` (no merging) and
    ``min_duration_ms=0`` (no discarding) for a plain Salvucci-Goldberg I-VT.
    """

    velocity_threshold_deg_s: float = 30.0  # a sample is a fixation sample when its velocity is below
    velocity_window_ms: float = 20.0  # velocity = angle between the window's end samples / their time span
    gap_fill_max_ms: float = 75.0  # interpolate lost-data gaps up to this span
    eye: str = "average"
    merge_max_gap_ms: float = 75.0  # merge neighbours at most this far apart in time ...
    merge_max_angle_deg: float = 0.5  # ... and at most this far apart in space
    min_duration_ms: float = 60.0  # discard shorter fixations (after merging)


def ivt(samples: pd.DataFrame, screen: Screen, params: IVTParams = IVTParams()) -> pd.DataFrame:
    """Velocity-threshold fixations (Tobii I-VT defaults); conventions: :mod:`gazekit.convert.fixations`.

    Steps: eye selection, gap fill-in (<= ``gap_fill_max_ms``), velocity over ``velocity_window_ms``
    [deg/s], samples below ``velocity_threshold_deg_s`` grouped into runs, neighbouring fixations merged
    (gap <= ``merge_max_gap_ms`` and <= ``merge_max_angle_deg`` apart, judged pairwise on the unmerged
    fixations), fixations shorter than ``min_duration_ms`` discarded.
    """
    check_positive(params.velocity_threshold_deg_s, "velocity_threshold_deg_s")
    check_positive(params.velocity_window_ms, "velocity_window_ms")
    return run_streams(samples, screen, params.eye, lambda s: _ivt_stream(s, screen, params))


def velocity_deg_s(t: np.ndarray, x_deg: np.ndarray, y_deg: np.ndarray, window_ms: float) -> np.ndarray:
    """Angular velocity [deg/s] of each sample over a centred window of ``window_ms``.

    The window spans ``h = max(1, round(window_ms / (2 dt)))`` samples on each side (clipped at the
    ends); velocity = distance between its end samples [deg] / their time difference [s]. NaN when an
    end sample is invalid. With ``h = 1`` this is pymovements' ``pos2vel(method="neighbors")``.
    """
    n = len(t)
    if n < 2:
        return np.full(n, np.nan)
    h = min(max(1, int(round(window_ms / (2 * dt_ms(t))))), n - 1)
    v = np.full(n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if n > 2 * h:  # interior: window [i - h, i + h] as slices (no gathers)
            dx, dy = x_deg[2 * h :] - x_deg[: -2 * h], y_deg[2 * h :] - y_deg[: -2 * h]
            v[h : n - h] = np.hypot(dx, dy) / ((t[2 * h :] - t[: -2 * h]) / 1000.0)
        edge = np.r_[0 : min(h, n), max(n - h, h) : n]  # windows clipped at the ends
        a, b = np.maximum(edge - h, 0), np.minimum(edge + h, n - 1)
        v[edge] = np.hypot(x_deg[b] - x_deg[a], y_deg[b] - y_deg[a]) / ((t[b] - t[a]) / 1000.0)
    v[~np.isfinite(v)] = np.nan
    return v


def _ivt_stream(s: Stream, screen: Screen, p: IVTParams) -> pd.DataFrame:
    if len(s.t) < 2:
        return empty_table(FIXATION_COLUMNS)
    dt = dt_ms(s.t)
    x = gap_fill(s.t, s.x, p.gap_fill_max_ms)
    y = gap_fill(s.t, s.y, p.gap_fill_max_ms)
    xd, yd = screen.px_to_deg(x, y)
    v = velocity_deg_s(s.t, xd, yd, p.velocity_window_ms)
    fix = (v < p.velocity_threshold_deg_s) & np.isfinite(xd) & np.isfinite(yd)  # NaN -> False
    join = fix & np.concatenate([[False], fix[:-1]]) & connected(s.t, dt, p.gap_fill_max_ms)
    first = np.flatnonzero(fix & ~join)
    nxt_join = np.concatenate([join[1:], [False]])
    last = np.flatnonzero(fix & ~nxt_join)
    if p.merge_max_gap_ms > 0 and len(first) > 1:
        first, last = _merge(s.t, xd, yd, first, last, dt, p)
    out = fixation_table(s, x, y, first, last, dt)
    return out[out["duration_ms"] >= p.min_duration_ms].reset_index(drop=True)


def _merge(t, xd, yd, first, last, dt, p: IVTParams) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive fixations <= merge_max_gap_ms and <= merge_max_angle_deg apart (pairwise test)."""
    sx, c = range_sums(xd, first, last)
    sy, _ = range_sums(yd, first, last)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / c, sy / c
    gap_ms = t[first[1:]] - (t[last[:-1]] + dt)
    angle = np.hypot(np.diff(mx), np.diff(my))
    merge = (gap_ms <= p.merge_max_gap_ms) & (angle <= p.merge_max_angle_deg)  # NaN angle -> no merge
    keep_start = np.concatenate([[True], ~merge])
    group_end = np.concatenate([~merge, [True]])
    return first[keep_start], last[group_end]
