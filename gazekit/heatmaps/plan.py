"""From a fixation table to the maps of each stimulus, without touching a store: which fixations belong
to which image / slice in which grid (:func:`plan` -> :class:`Job`), with which sigma, and the rendered
pyramid of one job (:func:`render_job`, :func:`job_maps`, pure). Used by :mod:`gazekit.heatmaps.build`
(the eager store), by :class:`gazekit.store.HeatmapStore` (a lazy store renders on read,
:func:`lazy_jobs`) and by the QC report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit import ids, tables
from gazekit.errors import GazekitError
from gazekit.geometry import Screen
from gazekit.heatmaps import render
from gazekit.heatmaps.stimulus_index import StimulusInfo
from gazekit.tables import NO_SLICE

SIZE_HINT = (
    "give --stimuli IMAGE_FOLDER, or image_width_px/image_height_px columns in the table, or a 'stimuli' "
    "entry with width/height in the table's metadata"
)


@dataclass(frozen=True)
class SliceGaze:
    """The rendered fixations of one image/slice, in scale-1 grid px (after ``--size``)."""

    slice_index: int | None
    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    sigma_x: np.ndarray
    sigma_y: np.ndarray
    reader: np.ndarray
    total_duration_ms: float


@dataclass(frozen=True)
class Job:
    """Everything needed to render one stimulus' file of the store."""

    stimulus_id: str
    image_height: int
    image_width: int
    height: int
    width: int
    n_slices: int | None
    slices: tuple[SliceGaze, ...]
    affine: tuple[tuple[float, ...], ...] | None = None
    geometry: str = ""  # gazekit.ids.geometry_label of the image / volume the maps are rendered on


def table_digest(path: str | Path) -> str:
    """sha256 of the fixation table file (written into store.json)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def present_stimuli(
    fix: pd.DataFrame, present, file: str | Path | None = None, where: str = "--stimuli folder"
) -> tuple[pd.DataFrame, list[str]]:
    """The table without the stimuli that ``present`` (ids: a stimulus index, a store's ids) lacks, and the
    ids of those stimuli that had gaze (an on-image fixation), sorted. A folder holding only some of the
    images renders those; the caller says how many were skipped. None present at all is an error."""
    ids = set(fix["stimulus_id"]) - {""}
    missing = ids - set(present)
    if not missing:
        return fix, []
    if missing == ids:
        near = ", ".join(sorted(present)[:3]) or "nothing"
        named = ", ".join(sorted(ids)[:3])
        raise GazekitError(
            file, None, f"expected some of the table's stimuli ({named}, ...) in the {where} (it has {near}, ...)"
        )
    gaze = fix["on_image"].astype(bool) & fix["stimulus_id"].isin(missing)
    skipped = sorted(set(fix.loc[gaze, "stimulus_id"]))
    return fix[~fix["stimulus_id"].isin(missing)].reset_index(drop=True), skipped


def skipped_line(skipped: list[str], where: str, shown: int = 5) -> str:
    """``skipped 3 stimuli with gaze not in the --stimuli folder: a, b, c`` (a few named)."""
    more = f", ... ({len(skipped) - shown} more)" if len(skipped) > shown else ""
    n = len(skipped)
    noun = "stimulus" if n == 1 else "stimuli"
    return f"skipped {n} {noun} with gaze not in the {where}: {', '.join(skipped[:shown])}{more}"


def image_sizes(
    fix: pd.DataFrame, meta: dict, stimuli: dict[str, StimulusInfo] | None, file: str | Path | None = None
) -> dict[str, tuple[int, int, int | None]]:
    """{stimulus_id: (height, width, n_slices or None)} for every stimulus of the table (and of ``stimuli``)."""
    ids = sorted(set(fix["stimulus_id"]) - {""})
    out: dict[str, tuple[int, int, int | None]] = {}
    if stimuli is not None:
        for sid in ids:
            if sid not in stimuli:
                near = ", ".join(sorted(stimuli)[:3])
                raise GazekitError(
                    file, f"stimulus_id {sid!r}", f"expected a stimulus of the --stimuli folder (it has {near}, ...)"
                )
        return {sid: (s.height, s.width, s.n_slices) for sid, s in stimuli.items()}
    cols = {"image_height_px", "image_width_px"} <= set(fix.columns)
    first = fix.drop_duplicates("stimulus_id").set_index("stimulus_id") if cols else None
    meta_stimuli = meta.get("stimuli") or {}
    for sid in ids:
        h = w = None
        if first is not None and pd.notna(first.at[sid, "image_height_px"]):
            h, w = int(first.at[sid, "image_height_px"]), int(first.at[sid, "image_width_px"])
        elif sid in meta_stimuli:
            m = meta_stimuli[sid]
            shape = m.get("shape")
            h = m.get("height", shape[-2] if shape else None)
            w = m.get("width", shape[-1] if shape else None)
            n = m.get("n_slices", shape[0] if shape and len(shape) == 3 else None)
            if h is not None and w is not None:
                out[sid] = (int(h), int(w), None if n is None else int(n))
                continue
        if h is None or w is None:
            raise GazekitError(file, f"stimulus_id {sid!r}", f"expected an image size: {SIZE_HINT}")
        out[sid] = (h, w, None)
    return out


def _screen(session: dict) -> Screen | None:
    if isinstance(session.get("screen"), dict):
        s = session["screen"]
        return Screen(s["width_px"], s["height_px"], s["width_mm"], s["height_mm"], s["distance_mm"])
    if {"ScreenResolution", "ScreenSize", "ScreenDistance"} <= set(session):
        (wp, hp), (wm, hm) = session["ScreenResolution"], session["ScreenSize"]
        return Screen(int(wp), int(hp), 1000 * float(wm), 1000 * float(hm), 1000 * float(session["ScreenDistance"]))
    return None


def _sigmas(use: pd.DataFrame, idx: np.ndarray, cfg: render.RenderConfig, meta: dict, h: int, w: int, file):
    n = len(idx)
    if cfg.sigma.deg is None:
        return render.sigma_px_per_fixation(cfg.sigma, w, h, n)
    rows = use.iloc[idx]
    sessions = meta.get("sessions") or {}
    screens, scales = [], []
    for sid, stimulus in zip(rows["session_id"], rows["stimulus_id"], strict=True):
        sess = sessions.get(sid, {})
        scr = _screen(sess)
        if scr is None:
            raise GazekitError(
                file,
                f"session {sid!r}",
                "expected the screen geometry (ScreenResolution/ScreenSize/ScreenDistance) in the table's "
                "session metadata for --sigma-deg; or give --sigma-px or --sigma-frac",
            )
        ds = (sess.get("display_scales") or {}).get(stimulus, sess.get("display_scale", cfg.display_scale))
        if ds is None:
            raise GazekitError(
                file,
                f"session {sid!r}",
                "expected display_scale (screen px per image px) for --sigma-deg: "
                "give --display-scale, or --sigma-px / --sigma-frac",
            )
        screens.append(scr)
        scales.append(float(ds))
    return render.sigma_px_per_fixation(
        cfg.sigma, w, h, n, screens,
        rows["screen_x_px"].to_numpy(float, na_value=np.nan),
        rows["screen_y_px"].to_numpy(float, na_value=np.nan),
        np.asarray(scales),
    )  # fmt: skip


def plan(
    fix: pd.DataFrame,
    meta: dict,
    cfg: render.RenderConfig,
    stimuli: dict[str, StimulusInfo] | None = None,
    file: str | Path | None = None,
) -> list[Job]:
    """One job per stimulus (sorted by id), fixations converted to scale-1 grid px."""
    sizes = image_sizes(fix, meta, stimuli, file)
    use = fix[(fix["stimulus_id"] != "") & fix["on_image"].astype(bool)]
    use = use[np.isfinite(use["x_px"].to_numpy(float, na_value=np.nan))]
    use = use[np.isfinite(use["y_px"].to_numpy(float, na_value=np.nan))].reset_index(drop=True)
    slice_all = use["slice_index"].astype("Int64").to_numpy(np.int64, na_value=NO_SLICE)
    has_all = use["slice_index"].notna().to_numpy()
    reader_all = pd.factorize(use["reader_id"], sort=True)[0]
    x_all, y_all = use["x_px"].to_numpy(float), use["y_px"].to_numpy(float)
    dur_all = use["duration_ms"].to_numpy(float)
    where = use.groupby("stimulus_id", sort=True).indices
    jobs = []
    for sid in sorted(sizes):
        h, w, n_slices = sizes[sid]
        gh, gw = cfg.size if cfg.size is not None else (h, w)
        for s in cfg.scales:
            if s > gh or s > gw:
                raise GazekitError(None, f"--scales {s}", f"expected scales <= the map size {gh}x{gw} of {sid!r}")
        fy, fx = gh / h, gw / w
        idx = where.get(sid)
        slices = []
        if idx is not None:
            has, sl_of = has_all[idx], slice_all[idx]
            if n_slices is None and has.any():
                raise GazekitError(file, f"stimulus_id {sid!r}", "expected no slice_index for a 2D image")
            if n_slices is not None:
                if not has.all():
                    raise GazekitError(
                        file, f"stimulus_id {sid!r}", "expected a slice_index on every fixation of a volume"
                    )
                bad = (sl_of < 0) | (sl_of >= n_slices)
                if bad.any():
                    k = int(sl_of[bad][0])
                    raise GazekitError(file, f"stimulus_id {sid!r}, slice_index {k}", f"expected 0..{n_slices - 1}")
            for sl in np.unique(sl_of):
                rows_idx = idx[sl_of == sl]
                sx, sy = _sigmas(use, rows_idx, cfg, meta, h, w, file)
                dur = dur_all[rows_idx]
                weight = dur if cfg.weight == "duration" else np.ones(len(rows_idx))
                if not weight.sum() > 0:
                    raise GazekitError(file, f"stimulus_id {sid!r}", "expected fixations with duration_ms > 0")
                slices.append(
                    SliceGaze(
                        None if sl == NO_SLICE else int(sl),
                        x_all[rows_idx] * fx,
                        y_all[rows_idx] * fy,
                        weight,
                        np.asarray(sx) * fx,
                        np.asarray(sy) * fy,
                        reader_all[rows_idx],
                        float(dur.sum()),
                    )
                )
        info = stimuli.get(sid) if stimuli else None
        geometry = info.geometry if info else ids.geometry_label((h, w) if n_slices is None else (n_slices, h, w))
        jobs.append(Job(sid, h, w, gh, gw, n_slices, tuple(slices), info.affine if info else None, geometry))
    return jobs


def render_job(job: Job, cfg: render.RenderConfig) -> dict[int | None, dict[int, np.ndarray]]:
    """{slice_index: {scale: map}} of one stimulus (pure)."""
    out = {}
    for sg in job.slices:
        out[sg.slice_index] = render.pyramid(
            sg.x, sg.y, sg.weight, sg.sigma_x, sg.sigma_y, job.height, job.width, cfg.scales,
            cfg.norm, cfg.boundary, sg.reader, cfg.combine,
        )  # fmt: skip
    return out


def job_maps(job: Job, cfg: render.RenderConfig) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """One stimulus' maps as the store keeps them: ({scale: [n_slices, H//s, W//s]}, slice_index [n_slices])."""
    maps = render_job(job, cfg)
    order = list(maps)
    stacked = {s: np.stack([maps[k][s] for k in order]) for s in cfg.scales}
    return stacked, np.array([NO_SLICE if k is None else k for k in order])


def lazy_jobs(root: Path, params: dict, manifest: pd.DataFrame) -> list[Job]:
    """The jobs of a lazy store (``--lazy``): its fixation table (found through store.json, checked by
    sha256) planned with the image sizes of its manifest."""
    ref = params["lazy"]
    digest = params["fixation_table_sha256"]
    for path in (root / ref["table"], Path(ref["table_absolute"])):
        if path.is_file() and table_digest(path) == digest:
            break
    else:
        raise GazekitError(
            root, "store.json lazy",
            f"expected the fixation table {ref['table_absolute']} (sha256 {digest[:12]}...) this lazy store "
            "renders from: restore it, or render the store again",
        )  # fmt: skip
    fix, meta = tables.read_table("fixations", path)
    stimuli = manifest_stimuli(manifest)
    fix = fix[fix["stimulus_id"].isin(stimuli)].reset_index(drop=True)
    return plan(fix, meta, render.RenderConfig.from_params(params), stimuli, path)


def manifest_stimuli(manifest: pd.DataFrame) -> dict[str, StimulusInfo]:
    """The stimuli of a store's manifest with their image sizes (and slice counts), for :func:`plan`."""
    stimuli = {}
    for sid, rows in manifest.groupby("stimulus_id", sort=True):
        volume = rows["slice_index"].notna().any()
        h, w = (int(rows[c].iloc[0]) for c in ("image_height", "image_width"))
        stimuli[sid] = StimulusInfo(sid, h, w, len(rows) if volume else None, "", ())
    return stimuli
