"""Every position change of ``gazekit convert``, in one place: normalised -> screen px, and screen px ->
image px.

The one screen -> image rule is :meth:`gazekit.geometry.ViewState.screen_to_image` (image origin at the
top-left corner of the top-left pixel, ``scale`` screen px per image px, then rotation and flips);
:func:`through_views` applies it to the rows shown through each view. Where the view comes from:

- ``--image-rect`` or the export's own media geometry (:func:`map_to_images`);
- a viewer-event log, one view per display state (:func:`map_fixations`, majority rule of
  :func:`assign_states`).

Positions normalised to the screen become screen px (:func:`to_screen_px`); positions normalised to the
image become image px (times the image size, inside :func:`map_to_images`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gazekit import tables
from gazekit.errors import GazekitError
from gazekit.geometry import Screen, ViewState
from gazekit.readers.base import Recording

if TYPE_CHECKING:
    import pandas as pd

    from gazekit.session import Shapes

# Columns a reader may add for the mapping step; dropped from the final table.
GEOMETRY = ("x_norm", "y_norm", "media_x0_px", "media_y0_px", "media_width_px", "media_height_px")


def to_screen_px(rec: Recording, screen: Screen | None, path: Path) -> Recording:
    """Recording with normalised positions turned into screen px (GazekitError if the resolution is unknown).

    Its tables may be DataFrames or :data:`gazekit.tables.Columns`."""
    pairs = (("fixations", "screen_x_norm", "screen_y_norm", "screen_x_px", "screen_y_px"),)
    pairs += (("samples", "x_norm", "y_norm", "x_screen_px", "y_screen_px"),)
    out = dataclasses.replace(rec, screen=screen)
    for attr, xn, yn, xp, yp in pairs:
        df = getattr(rec, attr)
        if df is None or xn not in df:  # a DataFrame's columns, or the keys of Columns
            continue
        if screen is None:
            if rec.fixations is None:  # samples only: detection needs degrees, so the whole geometry
                raise GazekitError(
                    path,
                    None,
                    "positions are normalised and fixations must be detected: give --screen-px WxH, --screen-mm WxH "
                    "and --distance-mm D (or a session.json with ScreenResolution, ScreenSize, ScreenDistance)",
                )
            raise GazekitError(
                path, None, "positions are normalised: give --screen-px WxH (or a session.json with ScreenResolution)"
            )
        df = df.copy()
        df[xp] = np.asarray(df.pop(xn), dtype=float) * screen.width_px
        df[yp] = np.asarray(df.pop(yn), dtype=float) * screen.height_px
        setattr(out, attr, df)
    return out


def through_views(
    sx: np.ndarray, sy: np.ndarray, views: Iterable[tuple[ViewState, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image px ``(x, y, on_image)`` of screen px ``(sx, sy)``, each row index set through its view.

    Rows no view covers get NaN positions and ``on_image`` false; ``on_image`` needs finite positions.
    """
    n = len(sx)
    x, y, on = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool)
    for view, rows in views:
        x[rows], y[rows], on[rows] = view.screen_to_image(sx[rows], sy[rows])
    return x, y, on & np.isfinite(x) & np.isfinite(y)


def map_to_images(
    fix: tables.Columns,
    image_rect: tuple[float, float, float, float] | None = None,
    image_size: tuple[int, int] | None = None,
    path: Path | None = None,
) -> tables.Columns:
    """Image coordinates ``x_px, y_px`` [image px] and ``on_image`` for each fixation, first source that applies:

    1. ``image_rect`` = (x0, y0, width, height) [screen px] (``--image-rect``): screen position
       (``screen_x_px/screen_y_px``) through a :class:`ViewState` at the rect;
    2. the export's own geometry: ``media_x0_px, media_y0_px`` (screen position of the media),
       ``media_width_px`` (its size on screen) and ``image_width_px/image_height_px`` (original size);
    3. normalised media coordinates ``x_norm, y_norm`` times the image size;
    4. image px the reader gave (``x_px, y_px``), checked against the image size when known.
    Otherwise ``x_px``/``y_px`` stay empty and ``on_image`` is false. ``image_size`` = (width, height)
    [image px] of the stimulus when the source does not say it.
    """
    fix = dict(fix)
    n = tables.n_rows(fix)

    def col(name: str) -> np.ndarray:
        return np.array(fix[name], dtype=float) if name in fix else np.full(n, np.nan)

    width, height = col("image_width_px"), col("image_height_px")
    if image_size:
        no_size = ~(np.isfinite(width) & np.isfinite(height))
        width = np.where(no_size, image_size[0], width)
        height = np.where(no_size, image_size[1], height)
    x, y = col("x_px"), col("y_px")
    on = np.zeros(n, bool)
    done = np.zeros(n, bool)
    sx, sy = col("screen_x_px"), col("screen_y_px")
    views: list[tuple[ViewState, np.ndarray]] = []
    if image_rect:
        x0, y0, w, h = image_rect
        width = np.where(np.isfinite(width), width, w)
        height = np.where(np.isfinite(height), height, h)
        for (wi, hi), rows in _groups(width, height):
            scale = w / wi
            if abs(h - hi * scale) > 1.0:
                raise GazekitError(
                    path,
                    "--image-rect",
                    f"expected a rect with the image's aspect ratio ({wi:g}x{hi:g} px), got {w:g}x{h:g}",
                )
            views.append((ViewState(int(wi), int(hi), x0_px=x0, y0_px=y0, scale=scale), rows))
        done[:] = True
    mx0, my0, mw = col("media_x0_px"), col("media_y0_px"), col("media_width_px")
    geo = ~done & np.isfinite(mx0) & np.isfinite(my0) & np.isfinite(mw) & (mw > 0)
    geo &= np.isfinite(width) & (width > 0) & np.isfinite(height) & (height > 0)
    for (a, b, c, wi, hi), rows in _groups(mx0, my0, mw, width, height, where=geo):
        views.append((ViewState(int(wi), int(hi), x0_px=a, y0_px=b, scale=c / wi), rows))
    done |= geo
    if views:
        viewed = np.concatenate([rows for _, rows in views])
        vx, vy, von = through_views(sx, sy, views)
        x[viewed], y[viewed], on[viewed] = vx[viewed], vy[viewed], von[viewed]
    nx, ny = col("x_norm"), col("y_norm")
    norm = ~done & np.isfinite(nx) & np.isfinite(ny)
    if (norm & ~np.isfinite(width)).any():
        raise GazekitError(
            path, None, "coordinates are normalised to the image but its size is unknown: give --image-size W,H"
        )
    x[norm], y[norm] = nx[norm] * width[norm], ny[norm] * height[norm]
    on[norm] = (nx[norm] >= 0) & (nx[norm] < 1) & (ny[norm] >= 0) & (ny[norm] < 1)
    done |= norm
    given = ~done
    unsized = ~(np.isfinite(width) & np.isfinite(height))
    on[given] = (
        (x[given] >= 0) & (y[given] >= 0) & (unsized[given] | ((x[given] < width[given]) & (y[given] < height[given])))
    )
    finite = np.isfinite(x) & np.isfinite(y)
    fix["x_px"], fix["y_px"] = np.where(finite, x, np.nan), np.where(finite, y, np.nan)
    fix["on_image"] = on & finite
    for name, values in (("image_width_px", width), ("image_height_px", height)):
        bad = np.isfinite(values) & ((values <= 0) | (values > np.iinfo(np.int32).max) | (values != np.round(values)))
        if bad.any():  # say where in the input (session, time), not which output column
            i = int(np.flatnonzero(bad)[0])
            raise GazekitError(
                path,
                f"session {fix['session_id'][i] if 'session_id' in fix else ''!r}, fixation at "
                f"{fix['t_start_ms'][i]:g} ms",
                f"expected an image {name.split('_')[1]} of 1..{np.iinfo(np.int32).max} whole px, got {values[i]:g}",
            )
        if np.isfinite(values).any():  # whole px, NaN where unknown (an integer column of the table)
            fix[name] = np.where(np.isfinite(values), values, np.nan)
    return {name: values for name, values in fix.items() if name not in GEOMETRY}


def _groups(*arrays: np.ndarray, where: np.ndarray | None = None):
    """(key values, row indices) for each distinct combination of the float ``arrays`` on the rows in ``where``
    (NaN a value like the others), in order of first appearance."""
    rows = np.flatnonzero(np.ones(len(arrays[0]), bool) if where is None else where)
    if not len(rows):
        return
    values = np.column_stack([a[rows] for a in arrays]).astype(float)
    bits = np.where(np.isnan(values), np.nan, values + 0.0).view(np.int64)  # one NaN, and -0.0 as 0.0
    _, first, group = np.unique(bits, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(group.reshape(-1), kind="stable")
    bounds = np.searchsorted(group.reshape(-1)[order], np.arange(len(first) + 1))
    for g in np.argsort(first):
        idx = order[bounds[g] : bounds[g + 1]]
        yield tuple(values[idx[0]].tolist()), rows[idx]


def assign_states(t_start_ms: np.ndarray, duration_ms: np.ndarray, event_t_ms: np.ndarray) -> np.ndarray:
    """Index of the display state each fixation belongs to (majority of its duration; -1 = before the log).

    State ``j`` covers ``[event_t_ms[j], event_t_ms[j + 1])``, the last one without end.
    """
    t0 = np.asarray(t_start_ms, float)
    t1 = t0 + np.asarray(duration_ms, float)
    ev = np.asarray(event_t_ms, float)
    first = np.searchsorted(ev, t0, side="right") - 1
    last = np.searchsorted(ev, t1, side="left") - 1
    state = first.copy()
    for f in np.flatnonzero(last > first):
        js = np.arange(first[f], last[f] + 1)
        starts = np.maximum(ev[np.maximum(js, 0)], t0[f])
        starts[js < 0] = t0[f]
        ends = np.minimum(np.append(ev[js[1:]], np.inf), t1[f])
        cover = ends - starts
        cover[js < 0] = -1.0  # time before the log never wins over a shown state
        state[f] = js[int(np.argmax(cover))]
    return state


def map_fixations(
    fix: pd.DataFrame, events: pd.DataFrame, shapes: Shapes, file: str | Path | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Map fixations (``t_start_ms, duration_ms, screen_x_px, screen_y_px``) through a viewer log.

    Returns the table with ``stimulus_id, slice_index, x_px, y_px, on_image, image_width_px,
    image_height_px`` set, and warnings. Raises GazekitError when the log names an unknown stimulus or
    a slice out of range, or when gaze and log do not overlap in time.
    """
    import pandas as pd

    from gazekit.session import check_events

    check_events(events, shapes, file)
    fix = fix.copy()
    warnings: list[str] = []
    ev_t = events["t_ms"].to_numpy(float)
    t0 = fix["t_start_ms"].to_numpy(float)
    t1 = t0 + fix["duration_ms"].to_numpy(float)
    if len(fix) and len(events):
        end = ev_t[-1] if len(events) > 1 else np.inf
        overlap = (t1 > ev_t[0]) & (t0 < end)
        if not overlap.any():
            raise GazekitError(
                file,
                "t_ms",
                f"expected viewer events overlapping the gaze: gaze {t0.min():.0f}..{t1.max():.0f} ms, viewer events "
                f"{ev_t[0]:.0f}..{ev_t[-1]:.0f} ms; check --clock-offset-ms",
            )
    elif len(fix):
        raise GazekitError(file, None, "expected at least one viewer event")
    state = assign_states(t0, fix["duration_ms"].to_numpy(float), ev_t) if len(events) else np.full(len(fix), -1)
    n_before = int((state < 0).sum())
    if n_before:
        warnings.append(f"{n_before} fixation(s) start before the first viewer event: no stimulus assigned")
    n = len(fix)
    sid = np.full(n, "", dtype=object)
    slice_index = pd.array([pd.NA] * n, dtype="Int64")
    width = pd.array([pd.NA] * n, dtype="Int64")
    height = pd.array([pd.NA] * n, dtype="Int64")
    views: list[tuple[ViewState, np.ndarray]] = []
    for j in np.unique(state[state >= 0]):
        ev = events.iloc[int(j)]
        if pd.isna(ev["stimulus_id"]) or ev["stimulus_id"] == "":
            continue
        rows = np.flatnonzero(state == j)
        _, h, w = shapes[ev["stimulus_id"]]
        view = ViewState(
            int(w), int(h), float(ev["x0_px"]), float(ev["y0_px"]), float(ev["scale"]), int(ev["rotation_deg"]),
            bool(ev["flip_x"]), bool(ev["flip_y"]),
        )  # fmt: skip
        views.append((view, rows))
        sid[rows] = ev["stimulus_id"]
        if not pd.isna(ev["slice_index"]):
            slice_index[rows] = int(ev["slice_index"])
        width[rows], height[rows] = int(w), int(h)
    x, y, on = through_views(fix["screen_x_px"].to_numpy(float), fix["screen_y_px"].to_numpy(float), views)
    fix["stimulus_id"] = sid
    fix["slice_index"] = slice_index
    fix["x_px"], fix["y_px"], fix["on_image"] = x, y, on
    fix["image_width_px"], fix["image_height_px"] = width, height
    return fix, warnings
