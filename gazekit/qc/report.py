"""``gazekit qc``: overlays (image + heatmap + numbered fixations), contact sheets, tables and index.html.

REPORT_DIR gets ``index.html``, ``sessions.csv``, ``stimuli.csv``, ``qc.json`` (summary), ``overlays/``
(one PNG per image/slice with gaze) and ``contact_sheet_NNN.png`` (64 overlays each). With ``--labels``,
``stimuli.csv`` adds gaze-vs-label agreement: share of fixations inside the target, Dice of the min-max
normalised heatmap thresholded at ``threshold``, and NSS / CC / KLD / SIM / AUC-Judd of the heatmap
against the target mask (see :mod:`gazekit.qc.metrics`).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from gazekit import store, tables
from gazekit.atomic import atomic_path, check_output
from gazekit.errors import GazekitError
from gazekit.heatmaps import plan, render
from gazekit.heatmaps.stimulus_index import index_stimuli, load_slice, pair_labels
from gazekit.qc import figures, metrics

# session colours (RGB) for fixation markers, cycling
PALETTE = ((255, 255, 255), (80, 220, 255), (255, 120, 200), (170, 255, 110), (255, 200, 60))
# what a report holds (qc.json first: the marker); an existing folder is replaced only if it holds no other file
QC_FILES = ("qc.json", "index.html", "sessions.csv", "stimuli.csv", "contact_sheet_*.png", "overlays/*.png")
METRICS = ("share_inside", "dice", "nss", "cc", "kld", "sim", "auc_judd")


@dataclass(frozen=True)
class QCConfig:
    """``threshold``: heatmap Dice threshold on the min-max normalised map; ``label_threshold``: target =
    label >= it (None: 128 for 8-bit masks whose maximum exceeds 127, else any label >= 1);
    ``sheet_tiles``: overlays per contact sheet; ``tile_px``: tile size."""

    threshold: float = 0.5
    label_threshold: float | None = None
    sheet_tiles: int = 64
    tile_px: int = 224
    label_pairs: tuple[tuple[str, str], ...] = ()  # (image id, label id) when the ids differ


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any 2-D or RGB image -> uint8 RGB (grey levels windowed to the 1st-99th percentile when not 8-bit)."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] >= 3:
        img = img[..., :3]
    if img.dtype != np.uint8:
        f = img.astype(np.float64)
        lo, hi = np.percentile(f, [1, 99])
        img = np.clip((f - lo) / (hi - lo if hi > lo else 1.0) * 255, 0, 255).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else np.ascontiguousarray(img)


def target_mask(label: np.ndarray, label_threshold: float | None) -> np.ndarray:
    """Binary target of a label map or mask (multi-channel masks use their maximum channel)."""
    lab = np.asarray(label)
    if lab.ndim == 3:
        lab = lab.max(axis=2)
    th = label_threshold if label_threshold is not None else (128 if lab.max() > 127 else 1)
    return lab >= th


def overlay(
    image: np.ndarray,
    heatmap: np.ndarray | None,
    x_px: np.ndarray,
    y_px: np.ndarray,
    duration_ms: np.ndarray,
    session: np.ndarray,
    target: np.ndarray | None = None,
) -> np.ndarray:
    """Image + heatmap (inferno, opacity growing with the map) + fixations numbered in order per session
    (circle area ~ duration, lines join consecutive fixations) + target outline (green); uint8 RGB.

    Images are drawn at 512-1024 px on the long side so numbers stay legible.
    """
    base = to_rgb8(image)
    h, w = base.shape[:2]
    f = 1.0 if 512 <= max(h, w) <= 1024 else (512 / max(h, w) if max(h, w) < 512 else 1024 / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    out = cv2.resize(base, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR).astype(np.float32)
    if heatmap is not None:
        hm = cv2.resize(np.asarray(heatmap, np.float32), size, interpolation=cv2.INTER_LINEAR)
        hm = hm / hm.max() if hm.max() > 0 else hm
        color = cv2.applyColorMap((hm * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1].astype(np.float32)
        alpha = 0.7 * np.sqrt(np.clip(hm, 0, 1))[..., None]
        out = out * (1 - alpha) + color * alpha
    out = np.clip(out, 0, 255).astype(np.uint8)
    if target is not None:
        t = cv2.resize(target.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(t, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (60, 255, 60), max(1, round(max(size) / 400)))
    px = np.asarray(x_px, float) * f
    py = np.asarray(y_px, float) * f
    unit = max(size) / 512
    font = 0.45 * unit
    for k, sess in enumerate(pd.unique(np.asarray(session))):
        idx = np.flatnonzero(np.asarray(session) == sess)
        col = PALETTE[k % len(PALETTE)]
        pts = np.stack([px[idx], py[idx]], axis=1)
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            cv2.line(out, _pt(a), _pt(b), col, max(1, round(unit)), cv2.LINE_AA)
        for n, i in enumerate(idx, start=1):
            r = max(3, round((3 + 0.35 * np.sqrt(max(duration_ms[i], 0.0))) * unit))
            c = _pt((px[i], py[i]))
            cv2.circle(out, c, r, (0, 0, 0), max(2, round(2 * unit)) + 1, cv2.LINE_AA)
            cv2.circle(out, c, r, col, max(1, round(unit)), cv2.LINE_AA)
            label = str(n)
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
            org = (c[0] - tw // 2, c[1] + th // 2)
            cv2.putText(
                out, label, org, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), max(2, round(3 * unit)), cv2.LINE_AA
            )
            cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, font, col, max(1, round(unit)), cv2.LINE_AA)
    return out


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def contact_sheet(tiles: list[tuple[str, np.ndarray]], tile_px: int = 224, cols: int = 8) -> np.ndarray:
    """Grid of overlays (letterboxed into tile_px squares) with their names underneath; uint8 RGB."""
    rows = (len(tiles) + cols - 1) // cols
    cap = 18
    sheet = np.full((rows * (tile_px + cap), cols * tile_px, 3), 24, np.uint8)
    for k, (name, img) in enumerate(tiles):
        r, c = divmod(k, cols)
        h, w = img.shape[:2]
        f = (tile_px - 4) / max(h, w)
        th, tw = max(1, round(h * f)), max(1, round(w * f))
        small = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
        y0 = r * (tile_px + cap) + (tile_px - th) // 2
        x0 = c * tile_px + (tile_px - tw) // 2
        sheet[y0 : y0 + th, x0 : x0 + tw] = small
        text = name if len(name) <= 30 else name[:27] + "..."
        cv2.putText(sheet, text, (c * tile_px + 4, r * (tile_px + cap) + tile_px + 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.36, (230, 230, 230), 1, cv2.LINE_AA)  # fmt: skip
    return sheet


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise GazekitError(path, None, "could not write the PNG")


def _name(sid: str, sl) -> str:
    return sid if sl is None or pd.isna(sl) else f"{sid}_slice{int(sl)}"


def build_report(
    table: str | Path,
    out: str | Path,
    cfg: render.RenderConfig,
    store_dir: str | Path | None = None,
    stimuli: str | Path | None = None,
    labels: str | Path | None = None,
    qc: QCConfig = QCConfig(),
    progress: bool | None = None,
) -> dict:
    """Write the QC report of fixation table ``table`` into ``out``; returns the summary (qc.json)."""
    out = check_output(out, "dir", QC_FILES)
    fix, meta = tables.read_table("fixations", table)
    if len(fix) == 0:
        raise GazekitError(table, None, "expected fixations, the table is empty")
    index = index_stimuli(stimuli) if stimuli is not None else None
    label_index = index_stimuli(labels, dataset="label") if labels is not None else None
    if label_index is not None:
        label_index = pair_labels(index, label_index, qc.label_pairs)
    st = store.open_store(store_dir) if store_dir is not None else None
    skipped: list[str] = []  # stimuli with gaze that a partial --stimuli folder / store lacks: not shown
    if index is not None:
        fix, skipped = plan.present_stimuli(fix, index, table)
    sizes = index
    if st is not None:
        fix, more = plan.present_stimuli(fix, set(st.manifest["stimulus_id"]), table, "store")
        skipped = sorted({*skipped, *more})
        sizes = index if index is not None else plan.manifest_stimuli(st.manifest)
    sigma = render.Sigma(px=1.0) if st is not None else cfg.sigma  # with a store, plan() only places fixations
    render_cfg = render.RenderConfig(
        sigma, cfg.weight, cfg.norm, cfg.combine, cfg.boundary, (1,), None, cfg.display_scale
    )
    jobs = {j.stimulus_id: j for j in plan.plan(fix, meta, render_cfg, sizes, table)}
    sessions = figures.session_figures(fix, meta)
    stim = figures.stimulus_figures(fix)
    rows = []
    with atomic_path(out, "dir", QC_FILES) as tmp:
        (tmp / "overlays").mkdir(parents=True)
        tiles: list[tuple[str, str]] = []
        bar = tqdm(total=len(stim), desc="qc", unit="image", disable=None if progress is None else not progress)
        for rec in stim.itertuples(index=False):
            sid, sl = rec.stimulus_id, None if pd.isna(rec.slice_index) else int(rec.slice_index)
            row = rec._asdict()
            job = jobs[sid]
            gaze = next((g for g in job.slices if g.slice_index == sl), None)
            bar.update()
            if gaze is None:
                rows.append(row)
                continue
            shape = (job.image_height, job.image_width)
            heat = _heatmap(st, sid, sl, shape) if st is not None else plan.render_job(job, render_cfg)[sl][1]
            sel = fix[(fix["stimulus_id"] == sid) & fix["on_image"].astype(bool)]
            sel = sel[sel["slice_index"].isna()] if sl is None else sel[sel["slice_index"] == sl]
            sel = sel[np.isfinite(sel["x_px"].to_numpy(float, na_value=np.nan))]
            sel = sel.sort_values(["session_id", "t_start_ms"], kind="stable")
            x, y = sel["x_px"].to_numpy(float), sel["y_px"].to_numpy(float)
            target = None
            if label_index is not None:
                if sid not in label_index:
                    raise GazekitError(
                        labels,
                        f"stimulus_id {sid!r}",
                        "expected a label map for every stimulus with gaze (same id; or same geometry as the "
                        "--stimuli series; or --label-pair IMAGE_ID=LABEL_ID)",
                    )
                target = target_mask(load_slice(label_index[sid], sl, "label"), qc.label_threshold)
                if target.shape != shape:
                    expected = f"expected a label map of {shape[0]}x{shape[1]} px, got {target.shape}"
                    raise GazekitError(label_index[sid].paths[0], f"stimulus_id {sid!r}", expected)
                row.update(_agreement(heat, x, y, target, qc.threshold))
            image = load_slice(index[sid], sl) if index is not None else np.full(shape, 128, np.uint8)
            picture = overlay(
                image, heat, x, y, sel["duration_ms"].to_numpy(float), sel["session_id"].to_numpy(), target
            )
            rel = f"overlays/{_name(sid, sl)}.png"
            _write_png(tmp / rel, picture)
            tiles.append((_name(sid, sl), rel))
            row["overlay"] = rel
            rows.append(row)
        bar.close()
        sheets = []
        for k in range(0, len(tiles), qc.sheet_tiles):
            part = tiles[k : k + qc.sheet_tiles]
            imgs = [(n, cv2.imread(str(tmp / rel))[..., ::-1]) for n, rel in part]
            rel = f"contact_sheet_{k // qc.sheet_tiles + 1:03d}.png"
            _write_png(tmp / rel, contact_sheet(imgs, qc.tile_px))
            sheets.append(rel)
        per_stim = pd.DataFrame(rows)
        sessions.to_csv(tmp / "sessions.csv", index=False)
        per_stim.to_csv(tmp / "stimuli.csv", index=False)
        summary = _summary(fix, per_stim, sessions, cfg, store_dir, qc, labels is not None)
        if skipped:
            summary["skipped_stimuli"] = skipped
        (tmp / "qc.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        (tmp / "index.html").write_text(_html(summary, sessions, per_stim, sheets))
    return summary


def _heatmap(st: store.HeatmapStore, sid: str, sl: int | None, shape: tuple[int, int]) -> np.ndarray:
    m = st.get(sid, sl, 1 if 1 in st.scales else min(st.scales)) if (sid, sl) in st else None
    if m is None:
        raise GazekitError(st.root, f"stimulus_id {sid!r}", "expected a heatmap in the store for every image with gaze")
    if m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return m


def _agreement(heat: np.ndarray, x: np.ndarray, y: np.ndarray, target: np.ndarray, threshold: float) -> dict:
    return {
        "target_px": int(target.sum()),
        "share_inside": metrics.share_inside(x, y, target),
        "dice": metrics.heatmap_dice(heat, target, threshold),
        "nss": metrics.nss(heat, target),
        "cc": metrics.cc(heat, target),
        "kld": metrics.kld(heat, target) if target.any() else float("nan"),
        "sim": metrics.sim(heat, target),
        "auc_judd": metrics.auc_judd(heat, target),
    }


def _summary(fix, per_stim, sessions, cfg, store_dir, qc, has_labels) -> dict:
    out = {
        "fixations": int(len(fix)),
        "sessions": int(fix["session_id"].nunique()),
        "stimuli_with_gaze": int(len(per_stim)),
        "share_on_image": float(fix["on_image"].mean()),
        "heatmaps": str(store_dir) if store_dir is not None else cfg.params(),
        "dice_threshold": qc.threshold,
    }
    if has_labels:
        out["mean"] = {
            k: float(np.nanmean(per_stim[k])) for k in METRICS if k in per_stim and per_stim[k].notna().any()
        }
    return out


def format_value(v: object) -> str:
    """A summary value for people: numbers to 4 significant digits (thousands separated from 1,000 on, never in
    e-notation), mappings as ``key value, ...`` (no JSON)."""
    if isinstance(v, dict):
        return ", ".join(f"{k} {format_value(x)}" for k, x in v.items() if x is not None) or "-"
    if isinstance(v, list | tuple):
        return ", ".join(format_value(x) for x in v)
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int | np.integer):
        return f"{v:,}"
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return ""
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def column_decimals(values: pd.Series) -> int | None:
    """One number format per table column: None for a text column, 3 decimals for a share (``share_*``, 0-1),
    0 when every value is a whole number, else 1 / 2 / 3 decimals for columns reaching >= 100 / >= 10 / below 10."""
    if values.dtype == bool or not pd.api.types.is_numeric_dtype(values):
        return None
    if str(values.name).startswith("share_"):
        return 3
    finite = values.to_numpy(float, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    if not len(finite) or np.all(finite == np.round(finite)):
        return 0
    top = float(np.abs(finite).max())
    return 1 if top >= 100 else 2 if top >= 10 else 3


def format_cell(v: object, decimals: int | None) -> str:
    """A table cell: numbers with the column's decimals and thousands separators (``13,240``, ``0.800``)."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return ""
    if decimals is None or isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return html.escape(str(v))
    return f"{float(v):,.{decimals}f}"


def _table(df: pd.DataFrame, link_col: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns if c != link_col)
    decimals = {c: column_decimals(df[c]) for c in df.columns}
    body = []
    for rec in df.to_dict("records"):
        cells = []
        for c, v in rec.items():
            if c == link_col:
                continue
            text = format_cell(v, decimals[c])
            if c == "stimulus_id" and link_col and isinstance(rec.get(link_col), str):
                text = f'<a href="{html.escape(rec[link_col])}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# what each figure of the report means (the legend of index.html; tests check every column has one)
LEGEND = {
    "fixations": "fixations in the table (all sessions, on and off the images)",
    "sessions": "recording sessions (one reader reading a series of images)",
    "stimuli_with_gaze": "images / slices with at least one fixation",
    "share_on_image": "share of fixations that land on the image shown (0-1)",
    "heatmaps": "how the heatmaps were made: the store used, or sigma, weighting and normalisation of the maps "
    "rendered for this report",
    "dice_threshold": "threshold on the min-max normalised heatmap for the heatmap Dice",
    "mean": "mean over images of each agreement metric (share_inside ... auc_judd)",
    "skipped_stimuli": "stimuli with gaze left out: not in the --stimuli folder or the store",
    "session_id": "the session",
    "reader_id": "pseudonymous reader",
    "n_fixations": "fixations (per image: those on it)",
    "n_stimuli": "images the session looked at",
    "share_no_stimulus": "share of fixations with no image on screen (calibration, blank screens)",
    "share_missing_position": "share of fixations without an image position (x_px / y_px)",
    "dwell_on_image_ms": "summed duration of the fixations on images [ms]",
    "mean_duration_ms": "mean fixation duration [ms]",
    "median_duration_ms": "median fixation duration [ms]",
    "share_short": "share of fixations shorter than 80 ms (a data-quality flag)",
    "time_span_s": "first fixation start to last fixation end [s]",
    "stimulus_id": "the image (link: its overlay)",
    "slice_index": "the slice of a volume (empty for a 2-D image)",
    "n_readers": "readers who looked at the image",
    "n_sessions": "sessions that looked at the image",
    "dwell_ms": "summed duration of the fixations on the image [ms]",
    "target_px": "pixels of the label target (--labels)",
    "share_inside": "share of the image's fixations inside the target (1 = all)",
    "dice": "Dice of the heatmap thresholded at dice_threshold against the target (0-1, 1 = same region)",
    "nss": "normalised scanpath saliency: mean z-scored heatmap value on the target (0 = chance, higher = better)",
    "cc": "Pearson correlation of heatmap and target (-1 to 1)",
    "kld": "Kullback-Leibler divergence KL(target || heatmap), both as densities (0 = same, lower = better)",
    "sim": "similarity: histogram intersection of the two maps as densities (0-1, 1 = same)",
    "auc_judd": "area under the ROC curve of the heatmap separating target from background pixels (0.5 = chance)",
}
OTHER_COLUMNS = "other session columns: the numeric quality entries of the session's metadata, as recorded"


def _legend(summary: dict, sessions: pd.DataFrame, per_stim: pd.DataFrame) -> str:
    shown = [*summary, *sessions.columns, *[c for c in per_stim.columns if c != "overlay"]]
    known = [k for k in dict.fromkeys(shown) if k in LEGEND]
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(LEGEND[k])}</dd>" for k in known)
    other = "" if all(k in LEGEND for k in shown) else f"<p>{html.escape(OTHER_COLUMNS)}.</p>"
    return f"<dl>{items}</dl>{other}"


def _html(summary: dict, sessions: pd.DataFrame, per_stim: pd.DataFrame, sheets: list[str]) -> str:
    facts = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(format_value(v))}</li>" for k, v in summary.items())
    imgs = "".join(f'<figure><img src="{html.escape(s)}" alt="{html.escape(s)}"><figcaption>{html.escape(s)}'
                   f"</figcaption></figure>" for s in sheets)  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gazekit QC report</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; background: #fafafa; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; }}
.scroll {{ max-width: 100%; overflow-x: auto; margin-bottom: 2em; }}
td {{ overflow-wrap: anywhere; max-width: 28em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
th {{ background: #eee; position: sticky; top: 0; }}
td:first-child {{ text-align: left; }}
img {{ max-width: 100%; border: 1px solid #999; }}
figure {{ margin: 0 0 1.5em 0; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 2px 12px; font-size: 13px; }}
dt {{ font-weight: bold; }}
dd {{ margin: 0; }}
</style></head><body>
<h1>gazekit QC report</h1>
<p>Overlays: image, heatmap (inferno), fixations numbered in viewing order per session (circle area ~ duration;
colour = session), target outline in green when labels are given.</p>
<ul>{facts}</ul>
<p>Every figure and column is explained in the <a href="#legend">legend</a> at the end.</p>
<h2>Contact sheets</h2>
{imgs}
<h2>Sessions</h2>
<div class="scroll">{_table(sessions)}</div>
<h2>Stimuli</h2>
<div class="scroll">{_table(per_stim, link_col="overlay" if "overlay" in per_stim else None)}</div>
<h2 id="legend">Legend: what the numbers mean</h2>
{_legend(summary, sessions, per_stim)}
</body></html>
"""
