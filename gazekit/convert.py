"""Orchestration of ``gazekit convert``: read -> (detect) -> map to images -> one fixation table.

Readers return fixations with whatever positions their source knows (see :func:`map_to_images` for
the internal columns); this module turns them into image coordinates, fills the table's defaults and
joins all inputs into one table sorted by session then time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit import readers, tables, viewer
from gazekit import samples as gaze_samples
from gazekit.errors import GazekitError
from gazekit.geometry import ViewState
from gazekit.privacy import anonymize_meta, anonymize_path
from gazekit.readers import ReadOptions, Recording

# Columns a reader may add for the mapping step; dropped from the final table.
GEOMETRY = ("x_norm", "y_norm", "media_x0_px", "media_y0_px", "media_width_px", "media_height_px")


@dataclass(frozen=True)
class ConvertOptions:
    """Options of ``gazekit convert`` beyond the reader's.

    ``image_rect`` = (x0, y0, width, height) [screen px] where the image was shown; ``image_size`` =
    (width, height) [image px] of the stimulus when the source does not say it.
    """

    read: ReadOptions = ReadOptions()
    drop_unassigned: bool = False
    image_rect: tuple[float, float, float, float] | None = None
    image_size: tuple[int, int] | None = None
    detect: str | None = None  # vendor / ivt / idt; None: vendor events when the file has them, else ivt
    detect_params: tuple[tuple[str, object], ...] = ()  # events.IVTParams / IDTParams overrides
    screen: tuple[tuple[str, float], ...] = ()  # from --screen-px / --screen-mm / --distance-mm
    session_json: Path | None = None  # default: session.json next to each input
    viewer_events: Path | None = None  # a viewer-event log (CSV/Parquet) to map fixations through
    clock_offset_ms: float = 0.0  # added to the log's times (t_gaze = t_viewer + offset)
    stimuli: tuple[Path, ...] = ()  # stimulus files/folders giving the sizes the log refers to
    anonymize_paths: bool = False  # folder names in the metadata hashed (gazekit.privacy)


def map_to_images(fix: pd.DataFrame, opts: ConvertOptions, path: Path | None = None) -> pd.DataFrame:
    """Image coordinates ``x_px, y_px`` [image px] and ``on_image`` for each fixation, first source that applies:

    1. ``--image-rect``: screen position (``screen_x_px/screen_y_px``) through a :class:`ViewState` at the rect;
    2. the export's own geometry: ``media_x0_px, media_y0_px`` (screen position of the media),
       ``media_width_px`` (its size on screen) and ``image_width_px/image_height_px`` (original size);
    3. normalised media coordinates ``x_norm, y_norm`` times the image size;
    4. image px the reader gave (``x_px, y_px``), checked against the image size when known.
    Otherwise ``x_px``/``y_px`` stay empty and ``on_image`` is false.
    """
    fix = fix.copy()
    n = len(fix)

    def col(name: str) -> np.ndarray:
        return fix[name].to_numpy(dtype=float, na_value=np.nan, copy=True) if name in fix else np.full(n, np.nan)

    width, height = col("image_width_px"), col("image_height_px")
    if opts.image_size:
        no_size = ~(np.isfinite(width) & np.isfinite(height))
        width = np.where(no_size, opts.image_size[0], width)
        height = np.where(no_size, opts.image_size[1], height)
    x, y = col("x_px"), col("y_px")
    on = np.zeros(n, bool)
    done = np.zeros(n, bool)
    sx, sy = col("screen_x_px"), col("screen_y_px")
    if opts.image_rect:
        x0, y0, w, h = opts.image_rect
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
            view = ViewState(int(wi), int(hi), x0_px=x0, y0_px=y0, scale=scale)
            x[rows], y[rows], on[rows] = view.screen_to_image(sx[rows], sy[rows])
        done[:] = True
    mx0, my0, mw = col("media_x0_px"), col("media_y0_px"), col("media_width_px")
    geo = ~done & np.isfinite(mx0) & np.isfinite(my0) & np.isfinite(mw) & (mw > 0)
    geo &= np.isfinite(width) & (width > 0) & np.isfinite(height) & (height > 0)
    for (a, b, c, wi, hi), rows in _groups(mx0, my0, mw, width, height, where=geo):
        view = ViewState(int(wi), int(hi), x0_px=a, y0_px=b, scale=c / wi)
        x[rows], y[rows], on[rows] = view.screen_to_image(sx[rows], sy[rows])
    done |= geo
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
                f"session {fix.get('session_id', pd.Series([''] * n)).iloc[i]!r}, fixation at "
                f"{fix['t_start_ms'].iloc[i]:g} ms",
                f"expected an image {name.split('_')[1]} of 1..{np.iinfo(np.int32).max} whole px, got {values[i]:g}",
            )
        if np.isfinite(values).any():
            fix[name] = pd.array(np.where(np.isfinite(values), values, np.nan), dtype="Float64").astype("Int64")
    return fix.drop(columns=[c for c in GEOMETRY if c in fix])


def _groups(*arrays: np.ndarray, where: np.ndarray | None = None):
    """(key values, row indices) for each distinct combination of ``arrays`` on the rows in ``where``."""
    rows = np.flatnonzero(np.ones(len(arrays[0]), bool) if where is None else where)
    if not len(rows):
        return
    keys = pd.DataFrame({i: a[rows] for i, a in enumerate(arrays)})
    for key, idx in keys.groupby(list(keys.columns), sort=False, dropna=False).indices.items():
        yield (key if isinstance(key, tuple) else (key,)), rows[idx]


def finalize(fix: pd.DataFrame, rec: Recording) -> pd.DataFrame:
    """Fill defaults of the fixation table, sort by session then time, number fixations per session."""
    fix = fix.copy()
    defaults = {
        "reader_id": "",
        "stimulus_id": "",
        "slice_index": pd.NA,
        "x_px": np.nan,
        "y_px": np.nan,
        "screen_x_px": np.nan,
        "screen_y_px": np.nan,
        "on_image": False,
        "eye": "both",
        "pupil": np.nan,
        "source_format": rec.source_format,
        "detector": "vendor",
    }
    for col, value in defaults.items():
        if col not in fix.columns:
            fix[col] = value
    if "reader_id" in fix.columns:
        sessions_reader = {s: m.get("reader_id", "") for s, m in rec.sessions.items()}
        blank = fix["reader_id"].fillna("").eq("")
        fix.loc[blank, "reader_id"] = fix.loc[blank, "session_id"].map(sessions_reader).fillna("")
    fix["stimulus_id"] = fix["stimulus_id"].fillna("").astype(str)
    fix["on_image"] = fix["on_image"].fillna(False).astype(bool)
    fix = fix.sort_values(["session_id", "t_start_ms"], kind="stable").reset_index(drop=True)
    fix["fixation_index"] = fix.groupby("session_id", sort=False).cumcount().astype("int32")
    return fix


def convert(
    inputs: list[Path], opts: ConvertOptions = ConvertOptions(), samples: list[pd.DataFrame] | None = None
) -> tuple[pd.DataFrame, dict]:
    """Convert eye-tracker files into one fixation table; returns (table, metadata for the Parquet file).

    When ``samples`` is a list, each file's raw samples (screen px) are appended to it.
    """
    parts: list[pd.DataFrame] = []
    meta: dict = {
        "params": _params(opts),
        "inputs": [],
        "sessions": {},
        "stimuli": {},
        "warnings": [],
        "detection": {},
        "screens": {},
        "quality": {},
    }
    seen: dict[str, str] = {}
    for path in map(Path, inputs):
        rec = readers.read(path, opts.read)
        fix, rec, info = gaze_samples.process(
            rec, path, opts.detect, dict(opts.detect_params), dict(opts.screen), opts.session_json,
            opts.read.stimulus_pattern,
        )  # fmt: skip
        meta["detection"][str(path)], meta["screens"][str(path)] = info["detection"], info["screen"]
        meta["quality"].update(info["quality"])
        if samples is not None and rec.samples is not None:
            samples.append(rec.samples)
        scales: dict[str, float] = {}
        if opts.viewer_events is not None or rec.viewer_events is not None:  # the log supersedes export geometry
            fix, rec = viewer.apply_log(fix, rec, path, opts.viewer_events, opts.clock_offset_ms, opts.stimuli)
            fix = fix.drop(columns=[c for c in GEOMETRY if c in fix])
            log = rec.viewer_events if opts.viewer_events is None else viewer.read_viewer_events(opts.viewer_events)
            scales = display_scales(log)
        for session in rec.sessions.values():  # geometry for --sigma-deg in render-heatmaps
            if info["screen"] and all(info["screen"].get(k) for k in ("width_mm", "height_mm", "distance_mm")):
                session.setdefault("screen", info["screen"])
            if scales:
                session.setdefault("display_scales", scales)
        fix = map_to_images(fix, opts, path)
        if opts.drop_unassigned:
            fix = fix[fix["stimulus_id"].fillna("") != ""]
        for sid in rec.sessions:
            if sid in seen:
                raise GazekitError(
                    path, None, f"session {sid!r} is also in {seen[sid]}; each session must come from one file"
                )
            seen[sid] = str(path)
        parts.append(finalize(fix, rec))
        meta["inputs"].append({"path": str(path), "format": rec.source_format, "fixations": len(fix)})
        meta["sessions"].update(rec.sessions)
        meta["stimuli"].update(rec.stimuli)
        meta["warnings"].extend(rec.warnings)
    fix = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else tables.empty("fixations")
    )
    if not len(fix):
        why = " with a stimulus (--drop-unassigned)" if opts.drop_unassigned else ""
        raise GazekitError(", ".join(map(str, inputs)), None, f"expected at least one fixation{why}, found none")
    fix = fix.sort_values(["session_id", "t_start_ms"], kind="stable").reset_index(drop=True)
    if opts.anonymize_paths:
        for info in meta["stimuli"].values():  # session-folder stimuli: paths relative to the data root
            if isinstance(info, dict) and isinstance(info.get("source"), str):
                info["source"] = anonymize_path(info["source"], keep_name=info.get("kind") != "dicom")
        given = [*inputs, *opts.stimuli, opts.session_json, opts.viewer_events]
        meta = anonymize_meta(meta, [p for p in given if p is not None])
    return fix, meta


def display_scales(events: pd.DataFrame) -> dict[str, float]:
    """Screen px per image px of each stimulus that a viewer log shows at one zoom throughout.

    Stimuli shown at several zoom levels are left out (their heatmaps need ``--sigma-px``/``--display-scale``).
    """
    shown = events[events["stimulus_id"].astype(str) != ""]
    lo = shown.groupby("stimulus_id")["scale"].min()
    hi = shown.groupby("stimulus_id")["scale"].max()
    return {str(sid): float(lo[sid]) for sid in lo.index if np.isclose(lo[sid], hi[sid])}


def _params(opts: ConvertOptions) -> dict:
    params = asdict(opts)
    params.update(params.pop("read"))
    return params


def concat_samples(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Raw samples of several files as one samples table, sorted by session, eye, time."""
    if not parts:
        return tables.empty("samples")
    out = pd.concat(parts, ignore_index=True)
    keys = [k for k in ("session_id", "eye", "t_ms") if k in out.columns]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def summary(fix: pd.DataFrame) -> dict:
    """Sessions, stimuli, fixations, share on image and time span of a fixation table."""
    n = len(fix)
    end = fix["t_start_ms"] + fix["duration_ms"]
    per_session = end.groupby(fix["session_id"]).max() - fix["t_start_ms"].groupby(fix["session_id"]).min()
    span = float(per_session.sum()) if n else 0.0
    stimuli = fix.loc[fix["stimulus_id"] != "", "stimulus_id"].nunique()
    return {
        "sessions": int(fix["session_id"].nunique()),
        "stimuli": int(stimuli),
        "fixations": int(n),
        "on_image_share": float(fix["on_image"].mean()) if n else 0.0,
        "time_span_s": float(span) / 1000.0,
    }


def format_summary(s: dict) -> str:
    return (
        f"{s['sessions']} session(s), {s['stimuli']} stimulus/stimuli, {s['fixations']} fixations, "
        f"{100 * s['on_image_share']:.1f} % on image, time span {s['time_span_s']:.1f} s (summed over sessions)"
    )
