"""I-DT fixation detection (Salvucci & Goldberg 2000); conventions in :mod:`gazekit.convert.fixations`.

scipy's running max / min filters are imported when I-DT runs, not with the module: a command that uses
vendor fixations or I-VT (``gazekit convert`` of a Tobii export) does not import scipy.
"""

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
    run_streams,
)
from gazekit.geometry import Screen

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class IDTParams:
    """I-DT (Salvucci & Goldberg 2000): dispersion ``(max x - min x) + (max y - min y)`` in degrees."""

    dispersion_threshold_deg: float = 1.0
    min_duration_ms: float = 100.0
    gap_fill_max_ms: float = 0.0  # off by default (plain I-DT); same meaning as in I-VT
    eye: str = "average"


def idt(samples: pd.DataFrame, screen: Screen, params: IDTParams = IDTParams()) -> pd.DataFrame:
    """Dispersion-threshold fixations (Salvucci & Goldberg 2000); conventions: :mod:`gazekit.convert.fixations`.

    A window of samples covering ``min_duration_ms`` whose dispersion [deg] is ``<=
    dispersion_threshold_deg`` starts a fixation; it grows sample by sample while the dispersion stays
    ``<=`` the threshold (and no invalid sample or time break is met); the next window starts at the
    first sample left out. Windows that fail move on by one sample.
    """
    check_positive(params.dispersion_threshold_deg, "dispersion_threshold_deg")
    check_positive(params.min_duration_ms, "min_duration_ms")
    return run_streams(samples, screen, params.eye, lambda s: _idt_stream(s, screen, params))


def _idt_stream(s: Stream, screen: Screen, p: IDTParams) -> pd.DataFrame:
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    n = len(s.t)
    dt = dt_ms(s.t) if n > 1 else 1.0
    k = max(2, int(np.ceil(p.min_duration_ms / dt - 1e-9)))
    if n < k:
        return empty_table(FIXATION_COLUMNS)
    x = gap_fill(s.t, s.x, p.gap_fill_max_ms)
    y = gap_fill(s.t, s.y, p.gap_fill_max_ms)
    xd, yd = screen.px_to_deg(x, y)
    # barrier[i]: sample i cannot be inside a window that also holds sample i-1 (invalid or time break)
    bad = ~(np.isfinite(xd) & np.isfinite(yd))
    broken = ~connected(s.t, dt, p.gap_fill_max_ms)
    broken[0] = False
    # a window [s, s+k) is usable when it has no invalid sample and no break after its first sample
    cbad = np.concatenate([[0], np.cumsum(bad)])
    cbrk = np.concatenate([[0], np.cumsum(broken)])
    starts = np.arange(n - k + 1)
    clean = (cbad[starts + k] - cbad[starts] == 0) & (cbrk[starts + k] - cbrk[starts + 1] == 0)
    x0, y0 = np.where(bad, 0.0, xd), np.where(bad, 0.0, yd)
    c = k // 2  # scipy's window of size k centred at i covers [i - k//2, i - k//2 + k)
    disp = (
        maximum_filter1d(x0, k)[starts + c]
        - minimum_filter1d(x0, k)[starts + c]
        + maximum_filter1d(y0, k)[starts + c]
        - minimum_filter1d(y0, k)[starts + c]
    )
    ok_starts = np.flatnonzero(clean & (disp <= p.dispersion_threshold_deg))
    stop = bad | broken  # extension stops before such a sample
    firsts, lasts = [], []
    pos = 0
    while True:
        j = np.searchsorted(ok_starts, pos)
        if j == len(ok_starts):
            break
        a = int(ok_starts[j])
        end = _extend(xd, yd, stop, a, a + k, p.dispersion_threshold_deg)
        firsts.append(a)
        lasts.append(end - 1)
        pos = end
    first = np.asarray(firsts, dtype=np.int64)
    last = np.asarray(lasts, dtype=np.int64)
    return fixation_table(s, x, y, first, last, dt)


def _extend(xd, yd, stop, a: int, e: int, threshold: float) -> int:
    """First index >= e where adding the sample to window [a, e) would break the dispersion (or a stop)."""
    n = len(xd)
    mxx, mnx, mxy, mny = xd[a:e].max(), xd[a:e].min(), yd[a:e].max(), yd[a:e].min()
    chunk = 64
    while e < n:
        b = min(n, e + chunk)
        cx_max = np.maximum(np.maximum.accumulate(xd[e:b]), mxx)
        cx_min = np.minimum(np.minimum.accumulate(xd[e:b]), mnx)
        cy_max = np.maximum(np.maximum.accumulate(yd[e:b]), mxy)
        cy_min = np.minimum(np.minimum.accumulate(yd[e:b]), mny)
        fails = stop[e:b] | ~((cx_max - cx_min) + (cy_max - cy_min) <= threshold)
        if fails.any():
            return e + int(np.argmax(fails))
        mxx, mnx, mxy, mny = cx_max[-1], cx_min[-1], cy_max[-1], cy_min[-1]
        e = b
        chunk *= 2
    return n
