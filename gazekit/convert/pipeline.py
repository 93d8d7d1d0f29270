"""Orchestration of ``gazekit convert``: read -> (detect) -> map to images -> one fixation table.

Per input file: read (:mod:`gazekit.readers`) -> screen, px and detection
(:mod:`gazekit.convert.detection`) -> viewer log, when there is one (:mod:`gazekit.convert.viewer_log`) ->
image coordinates (:mod:`gazekit.convert.coordinates`, see :func:`~gazekit.convert.coordinates.map_to_images`
for the internal columns); then this module fills the table's defaults and joins all inputs into one table
sorted by session then time.

The fixations go through these steps as :data:`gazekit.tables.Columns` (NumPy arrays): a Tobii export is
converted without importing pandas. Readers and detectors that build DataFrames are turned into columns as
they come in; a viewer-event log is applied on a DataFrame (:mod:`gazekit.convert.viewer_log`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gazekit import readers, tables
from gazekit.convert import detection
from gazekit.convert.coordinates import GEOMETRY, map_to_images
from gazekit.errors import GazekitError
from gazekit.privacy import anonymize_meta, anonymize_path
from gazekit.readers.base import ReadOptions, Recording
from gazekit.tables import Columns

if TYPE_CHECKING:
    import pandas as pd


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
    detect_params: tuple[tuple[str, object], ...] = ()  # detectors.IVTParams / IDTParams overrides
    screen: tuple[tuple[str, float], ...] = ()  # from --screen-px / --screen-mm / --distance-mm
    session_json: Path | None = None  # default: session.json next to each input
    viewer_events: Path | None = None  # a viewer-event log (CSV/Parquet) to map fixations through
    clock_offset_ms: float = 0.0  # added to the log's times (t_gaze = t_viewer + offset)
    stimuli: tuple[Path, ...] = ()  # stimulus files/folders giving the sizes the log refers to
    anonymize_paths: bool = False  # folder names in the metadata hashed (gazekit.privacy)


def finalize(fix: Columns, rec: Recording) -> Columns:
    """Fill defaults of the fixation table, sort by session then time, number fixations per session."""
    fix = dict(fix)
    n = tables.n_rows(fix)
    defaults = {
        "reader_id": "",
        "stimulus_id": "",
        "slice_index": np.nan,  # an integer column: NaN = none
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
        if col not in fix:
            fix[col] = np.full(n, value, dtype=object if isinstance(value, str) else None)
    sessions_reader = {s: m.get("reader_id", "") for s, m in rec.sessions.items()}
    reader_id = np.array(fix["reader_id"], dtype=object)
    blank = np.array([_text(v) == "" for v in reader_id.tolist()], dtype=bool)
    reader_id[blank] = [_text(sessions_reader.get(s)) for s in np.asarray(fix["session_id"])[blank].tolist()]
    fix["reader_id"] = reader_id
    fix["stimulus_id"] = np.array([_text(v) for v in np.asarray(fix["stimulus_id"]).tolist()], dtype=object)
    on = fix["on_image"]
    if on.dtype != bool:
        on = np.array([False if v is None or v != v else bool(v) for v in on.tolist()], dtype=bool)
    fix["on_image"] = on
    fix = by_session_and_time(fix)
    sid = fix["session_id"]
    new = np.r_[True, sid[1:] != sid[:-1]] if n else np.zeros(0, bool)
    fix["fixation_index"] = (np.arange(n) - np.maximum.accumulate(np.where(new, np.arange(n), 0))).astype(np.int32)
    return fix


def _text(value) -> str:
    """A text cell as str, "" where missing (None or NaN)."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def by_session_and_time(fix: Columns) -> Columns:
    """Rows sorted by session id, then start time (stable; missing values last)."""
    sid = np.asarray(fix["session_id"])
    names = sorted({v for v in sid.tolist() if v is not None})
    code = {v: i for i, v in enumerate(names)}
    session = np.array([code.get(v, len(names)) for v in sid.tolist()], dtype=np.int64)
    return tables.take(fix, np.lexsort((np.asarray(fix["t_start_ms"], dtype=float), session)))


def convert(
    inputs: list[Path], opts: ConvertOptions = ConvertOptions(), samples: list[pd.DataFrame] | None = None
) -> tuple[pd.DataFrame, dict]:
    """Convert eye-tracker files into one fixation table; returns (table, metadata for the Parquet file).

    When ``samples`` is a list, each file's raw samples (screen px) are appended to it.
    """
    fix, meta = convert_columns(inputs, opts, samples)
    return tables.to_frame(fix, "fixations"), meta


def convert_columns(
    inputs: list[Path], opts: ConvertOptions = ConvertOptions(), samples: list[pd.DataFrame] | None = None
) -> tuple[Columns, dict]:
    """:func:`convert` with the table as :data:`gazekit.tables.Columns` (what ``gazekit convert`` writes)."""
    parts: list[Columns] = []
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
    named: dict[Path, dict[str, list[str]]] = {}  # input -> its stimulus columns' values (no-stimulus hint)
    for path in map(Path, inputs):
        rec = readers.read_columns(path, opts.read)
        fix, rec, info = detection.process(
            rec, path, opts.detect, dict(opts.detect_params), dict(opts.screen), opts.session_json,
            opts.read.stimulus_pattern,
        )  # fmt: skip
        meta["detection"][str(path)], meta["screens"][str(path)] = info["detection"], info["screen"]
        meta["quality"].update(info["quality"])
        if samples is not None and rec.samples is not None:
            samples.append(rec.samples)
        scales: dict[str, float] = {}
        if opts.viewer_events is not None or rec.viewer_events is not None:  # the log supersedes export geometry
            from gazekit.convert import viewer_log

            mapped, rec = viewer_log.apply_log(
                tables.to_frame(fix), rec, path, opts.viewer_events, opts.clock_offset_ms, opts.stimuli
            )
            fix = {k: v for k, v in tables.columns_of(mapped).items() if k not in GEOMETRY}
            log = rec.viewer_events if opts.viewer_events is None else viewer_log.read_viewer_events(opts.viewer_events)
            scales = display_scales(log)
        for session in rec.sessions.values():  # geometry for --sigma-deg in render-heatmaps
            if info["screen"] and all(info["screen"].get(k) for k in ("width_mm", "height_mm", "distance_mm")):
                session.setdefault("screen", info["screen"])
            if scales:
                session.setdefault("display_scales", scales)
        fix = map_to_images(fix, opts.image_rect, opts.image_size, path)
        if opts.drop_unassigned:
            fix = tables.take(fix, np.flatnonzero([_text(v) != "" for v in np.asarray(fix["stimulus_id"]).tolist()]))
        for sid in rec.sessions:
            if sid in seen:
                raise GazekitError(
                    path, None, f"session {sid!r} is also in {seen[sid]}; each session must come from one file"
                )
            seen[sid] = str(path)
        parts.append(finalize(fix, rec))
        meta["inputs"].append({"path": str(path), "format": rec.source_format, "fixations": tables.n_rows(fix)})
        meta["sessions"].update(rec.sessions)
        meta["stimuli"].update(rec.stimuli)
        meta["warnings"].extend(rec.warnings)
        named[path] = rec.stimulus_columns
    filled = [p for p in parts if tables.n_rows(p)]
    fix = tables.concat(filled) if filled else tables.empty_columns("fixations")
    if not tables.n_rows(fix):
        why = " with a stimulus (--drop-unassigned)" if opts.drop_unassigned else ""
        raise GazekitError(", ".join(map(str, inputs)), None, f"expected at least one fixation{why}, found none")
    fix = by_session_and_time(fix)
    if not fix["on_image"].any():
        meta["warnings"].append(no_stimulus_hint(fix, named))
    if opts.anonymize_paths:
        for info in meta["stimuli"].values():  # session-folder stimuli: paths relative to the data root
            if isinstance(info, dict) and isinstance(info.get("source"), str):
                info["source"] = anonymize_path(info["source"], keep_name=info.get("kind") != "dicom")
        given = [*inputs, *opts.stimuli, opts.session_json, opts.viewer_events]
        meta = anonymize_meta(meta, [p for p in given if p is not None])
    return fix, meta


def no_stimulus_hint(fix: Columns, named: dict[Path, dict[str, list[str]]], shown: int = 5) -> str:
    """One line for a table where no fixation lands on a stimulus: what each input's stimulus columns hold
    (a few distinct values), so that a calibration-only export or a missing image size is seen at once."""
    parts = []
    for path, columns in list(named.items())[:3]:
        said = []
        for col, values in columns.items():
            more = f" and {len(values) - shown} more" if len(values) > shown else ""
            held = f"holds {', '.join(map(repr, values[:shown]))}{more}" if values else "is empty on every row"
            said.append(f"column {col!r} {held}")
        parts.append(f"in {path.name}, {' and '.join(said) if said else 'no column names the stimulus'}")
    ids = [s for s in dict.fromkeys(np.asarray(fix["stimulus_id"]).tolist()) if s]
    if ids:
        advice = (
            f"fixations name {len(ids)} stimulus id(s) ({', '.join(map(repr, ids[:shown]))}) but none has image "
            "coordinates: give the image size (--image-size W,H) or where it was shown (--image-rect x0,y0,w,h)"
        )
    else:
        advice = "no fixation names a stimulus: a calibration-only recording, or an export without its stimuli?"
    return f"no fixation lands on a stimulus image: {'; '.join(parts)} ({advice})"


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
    import pandas as pd

    if not parts:
        return tables.empty("samples")
    out = pd.concat(parts, ignore_index=True)
    keys = [k for k in ("session_id", "eye", "t_ms") if k in out.columns]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def summary(fix: pd.DataFrame | Columns) -> dict:
    """Sessions, stimuli, fixations, share on image and time span of a fixation table."""
    sid = np.asarray(fix["session_id"], dtype=object)
    t0 = np.asarray(fix["t_start_ms"], dtype=float)
    n = len(t0)
    span = 0.0
    if n:
        sessions, group = np.unique(sid.astype(str), return_inverse=True)  # sorted, as a groupby
        group = group.reshape(-1)
        end, start = np.full(len(sessions), -np.inf), np.full(len(sessions), np.inf)
        np.maximum.at(end, group, t0 + np.asarray(fix["duration_ms"], dtype=float))
        np.minimum.at(start, group, t0)
        span = float(np.sum(end - start))
    stimuli = {s for s in np.asarray(fix["stimulus_id"], dtype=object).tolist() if s != ""}
    return {
        "sessions": len(set(sid.tolist())),
        "stimuli": len(stimuli),
        "fixations": int(n),
        "on_image_share": float(np.mean(np.asarray(fix["on_image"], dtype=bool))) if n else 0.0,
        "time_span_s": float(span) / 1000.0,
    }


def format_summary(s: dict) -> str:
    return (
        f"{s['sessions']} session(s), {s['stimuli']} stimulus/stimuli, {s['fixations']} fixations, "
        f"{100 * s['on_image_share']:.1f} % on image, time span {s['time_span_s']:.1f} s (summed over sessions)"
    )
