"""Write a realistic synthetic Tobii Pro Lab "Data export" (and return its ground-truth fixations).

The layout follows Pro Lab 24.x (101 columns, 300 Hz, one row per sample, the I-VT filter's event type
and index on each row, Mouse and Event rows mixed in, calibration first, then image stimuli shown
centred and scaled, with their geometry columns), or the older un-bracketed header style.

    python examples/make_tobii_export.py OUT.tsv [--rows 20000] [--participants 2] [--images 4]

Used by ``make demo``, the tests and ``benchmarks/convert.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SCREEN_W, SCREEN_H = 1920, 1080
RATE_HZ = 300.0
# (original width, height, integer display scale): presented size is exact, so mapping back is exact
IMAGE_SIZES = ((640, 480, 1.5), (1024, 768, 1.0), (600, 400, 2.0), (512, 512, 1.75))

# bracketed name -> un-bracketed (older Pro Lab) name
COLUMNS = {
    "Recording timestamp [ms]": "Recording timestamp",
    "Computer timestamp [ms]": "Computer timestamp",
    "Sensor": "Sensor",
    "Project name": "Project name",
    "Export date": "Export date",
    "Participant name": "Participant name",
    "Recording name": "Recording name",
    "Recording date": "Recording date",
    "Recording date UTC": "Recording date UTC",
    "Recording start time": "Recording start time",
    "Recording start time UTC": "Recording start time UTC",
    "Recording duration [ms]": "Recording duration",
    "Timeline name": "Timeline name",
    "Recording Fixation filter name": "Recording Fixation filter name",
    "Recording software version": "Recording software version",
    "Recording resolution height [px]": "Recording resolution height",
    "Recording resolution width [px]": "Recording resolution width",
    "Recording monitor latency [ms]": "Recording monitor latency",
    **{
        f"Average {k} {m} [{u}]": f"Average {k} {m} ({u})"
        for k in ("calibration", "validation")
        for u in ("mm", "°", "px")
        for m in ("accuracy", "precision SD", "precision RMS")
    },
    "Eyetracker timestamp [μs]": "Eyetracker timestamp",
    "Event": "Event",
    "Event value": "Event value",
    "Gaze point X [DACS px]": "Gaze point X",
    "Gaze point Y [DACS px]": "Gaze point Y",
    "Gaze point left X [DACS px]": "Gaze point left X",
    "Gaze point left Y [DACS px]": "Gaze point left Y",
    "Gaze point right X [DACS px]": "Gaze point right X",
    "Gaze point right Y [DACS px]": "Gaze point right Y",
    **{f"Gaze direction {e} {a} [DACS norm]": f"Gaze direction {e} {a}" for e in ("left", "right") for a in "XYZ"},
    "Pupil diameter left [mm]": "Pupil diameter left",
    "Pupil diameter right [mm]": "Pupil diameter right",
    "Pupil diameter filtered [mm]": "Pupil diameter filtered",
    "Eye openness left [mm]": "Eye openness left",
    "Eye openness right [mm]": "Eye openness right",
    "Eye openness filtered [mm]": "Eye openness filtered",
    "Validity left": "Validity left",
    "Validity right": "Validity right",
    **{f"Eye position {e} {a} [DACS mm]": f"Eye position {e} {a} (DACSmm)" for e in ("left", "right") for a in "XYZ"},
    **{f"Gaze point {e} {a} [DACS mm]": f"Gaze point {e} {a} (DACSmm)" for e in ("left", "right") for a in "XY"},
    "Gaze point X [MCS norm]": "Gaze point X (MCSnorm)",
    "Gaze point Y [MCS norm]": "Gaze point Y (MCSnorm)",
    **{f"Gaze point {e} {a} [MCS norm]": f"Gaze point {e} {a} (MCSnorm)" for e in ("left", "right") for a in "XY"},
    "Presented Stimulus name": "Presented Stimulus name",
    "Presented Media name": "Presented Media name",
    "Presented Media width [px]": "Presented Media width",
    "Presented Media height [px]": "Presented Media height",
    "Presented Media position X [DACS px]": "Presented Media position X (DACSpx)",
    "Presented Media position Y [DACS px]": "Presented Media position Y (DACSpx)",
    "Original Media width [px]": "Original Media width",
    "Original Media height [px]": "Original Media height",
    "Eye movement type": "Eye movement type",
    "Eye movement event duration [ms]": "Gaze event duration",
    "Eye movement type index": "Eye movement type index",
    "Fixation point X [DACS px]": "Fixation point X",
    "Fixation point Y [DACS px]": "Fixation point Y",
    "Fixation point X [MCS norm]": "Fixation point X (MCSnorm)",
    "Fixation point Y [MCS norm]": "Fixation point Y (MCSnorm)",
    "Ungrouped": "Ungrouped",
    "Client area position X [px]": "Client area position X",
    "Client area position Y [px]": "Client area position Y",
    "Viewport position X [px]": "Viewport position X",
    "Viewport position Y [px]": "Viewport position Y",
    "Viewport width [px]": "Viewport width",
    "Viewport height [px]": "Viewport height",
    "Full page width [px]": "Full page width",
    "Full page height [px]": "Full page height",
    "Mouse position X [DACS px]": "Mouse position X",
    "Mouse position Y [DACS px]": "Mouse position Y",
}


def _events(rng: np.random.Generator, n_rows: int, n_images: int) -> pd.DataFrame:
    """Alternating fixation / saccade (and some lost-eye) events covering ``n_rows`` samples."""
    rows, kinds = [], []
    total = 0
    while total < n_rows:
        for kind, lo, hi in (("Fixation", 30, 180), ("Saccade", 6, 18)):
            n = int(rng.integers(lo, hi))
            rows.append(n)
            kinds.append(kind)
            total += n
        if rng.random() < 0.05:
            rows.append(int(rng.integers(20, 60)))
            kinds.append("EyesNotFound")
            total += rows[-1]
    ev = pd.DataFrame({"kind": kinds, "rows": rows})
    ev["first_row"] = np.concatenate([[0], np.cumsum(ev["rows"].to_numpy())[:-1]])
    ev = ev[ev["first_row"] < n_rows].reset_index(drop=True)
    ev["index"] = ev.groupby("kind").cumcount() + 1
    # sections: calibration for the first 10 % of events, then the images in equal shares (change at saccades)
    n = len(ev)
    section = np.minimum((np.arange(n) - n // 10) * n_images // max(1, n - n // 10), n_images - 1) + 1
    section[: n // 10] = 0
    section = np.maximum.accumulate(np.where(ev["kind"].to_numpy() == "Saccade", section, 0))
    ev["section"] = section
    return ev


def write_prolab_export(
    path: str | Path,
    *,
    n_rows: int = 20_000,
    participants: tuple[str, ...] = ("Reader A",),
    n_images: int = 4,
    bracketed: bool = True,
    time_unit: str = "ms",
    decimal: str = ",",
    sep: str = "\t",
    bom: bool = False,
    crlf: bool = False,
    trailing_sep: bool = False,
    mouse_every: int = 40,
    seed: int = 0,
    chunk_rows: int = 250_000,
) -> pd.DataFrame:
    """Write a Pro Lab export with ``n_rows`` eye-tracker rows per participant; return the true fixations.

    ``time_unit`` "ms" or "μs"/"µs"/"us" (bracketed header; the un-bracketed style is always µs).
    The returned table has one row per fixation: participant, recording, index, t_start_ms, duration_ms,
    screen_x_px/screen_y_px (fixation point), media (name or ""), x_px/y_px (image px, NaN without
    media), on_image, image_width_px/image_height_px.
    """
    path = Path(path)
    names = list(COLUMNS) if bracketed else list(COLUMNS.values())
    if bracketed and time_unit != "ms":
        names[0] = f"Recording timestamp [{time_unit}]"
    eol = "\r\n" if crlf else "\n"
    truths = []
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        fh.write(sep.join(names) + (sep if trailing_sep else "") + eol)
        for p_i, participant in enumerate(participants):
            rng = np.random.default_rng(seed + p_i)
            recording = f"Recording{p_i + 1}"
            ev = _events(rng, n_rows, n_images)
            truth, table = _recording(rng, ev, n_rows, participant, recording, n_images, mouse_every)
            truths.append(truth)
            if not bracketed or time_unit != "ms":
                table["Recording timestamp [ms]"] = table["Recording timestamp [ms]"] * 1000  # µs
            for start in range(0, len(table), chunk_rows):
                _write_chunk(fh, table.iloc[start : start + chunk_rows], sep, decimal, eol, trailing_sep)
    return pd.concat(truths, ignore_index=True)


def _recording(rng, ev, n_rows, participant, recording, n_images, mouse_every):
    """One recording as a DataFrame of typed values (NaN/None = empty) in bracketed column names."""
    period_ms = 1000.0 / RATE_HZ
    sizes = [IMAGE_SIZES[i % len(IMAGE_SIZES)] for i in range(n_images)]
    media = [""] + [f"stim_{i + 1:02d}.jpg" for i in range(n_images)]
    geo = [(np.nan,) * 6] + [
        (w, h, w * s, h * s, (SCREEN_W - w * s) / 2, (SCREEN_H - h * s) / 2) for w, h, s in sizes
    ]  # original w, h, presented w, h, x0, y0
    geo = np.array(geo, dtype=float)
    # fixation centres: on the image (with some off it) for image sections, anywhere for calibration
    sec = ev["section"].to_numpy()
    gw, gh, pw, ph, x0, y0 = (geo[sec, k] for k in range(6))
    fx = np.where(sec > 0, x0 + rng.uniform(-0.1, 1.1, len(ev)) * pw, rng.uniform(100, SCREEN_W - 100, len(ev)))
    fy = np.where(sec > 0, y0 + rng.uniform(-0.1, 1.1, len(ev)) * ph, rng.uniform(100, SCREEN_H - 100, len(ev)))
    fx, fy = np.round(fx), np.round(fy)
    row_event = np.repeat(np.arange(len(ev)), ev["rows"].to_numpy())[:n_rows]
    t_ms = np.round(203 + np.arange(n_rows) * period_ms)
    kind = ev["kind"].to_numpy()[row_event]
    is_fix = kind == "Fixation"
    lost = kind == "EyesNotFound"
    # vendor duration: first to last sample of the event plus one sample period
    first_t = t_ms[np.searchsorted(row_event, np.arange(len(ev)))]
    last_t = t_ms[np.searchsorted(row_event, np.arange(len(ev)), side="right") - 1]
    dur = np.round(last_t - first_t + period_ms)
    e = row_event
    gx = np.where(lost, np.nan, fx[e] + rng.normal(0, 8, n_rows))
    gy = np.where(lost, np.nan, fy[e] + rng.normal(0, 8, n_rows))
    s = sec[e]
    on_media = (fx[e] >= x0[e]) & (fx[e] < x0[e] + pw[e]) & (fy[e] >= y0[e]) & (fy[e] < y0[e] + ph[e])
    pupil_l = np.where(lost, np.nan, np.round(3 + 0.3 * np.sin(t_ms / 3000) + rng.normal(0, 0.02, n_rows), 3))
    pupil_r = np.where(lost, np.nan, np.round(pupil_l + 0.1, 3))
    cols = {
        "Recording timestamp [ms]": t_ms,
        "Computer timestamp [ms]": t_ms + 5_657_211,
        "Sensor": np.full(n_rows, "Eye Tracker", object),
        "Eyetracker timestamp [μs]": np.round(6_223_715_132 + t_ms * 1000),
        "Gaze point X [DACS px]": np.round(gx),
        "Gaze point Y [DACS px]": np.round(gy),
        "Gaze point left X [DACS px]": np.round(gx - 3),
        "Gaze point left Y [DACS px]": np.round(gy),
        "Gaze point right X [DACS px]": np.round(gx + 3),
        "Gaze point right Y [DACS px]": np.round(gy),
        "Pupil diameter left [mm]": pupil_l,
        "Pupil diameter right [mm]": pupil_r,
        "Pupil diameter filtered [mm]": np.round((pupil_l + pupil_r) / 2, 3),
        "Validity left": np.where(lost, "Invalid", "Valid").astype(object),
        "Validity right": np.where(lost, "Invalid", "Valid").astype(object),
        "Eye position left Z [DACS mm]": np.where(lost, np.nan, np.round(650 + rng.normal(0, 2, n_rows), 1)),
        "Gaze point X [MCS norm]": np.where(on_media, np.round((gx - x0[e]) / pw[e], 4), np.nan),
        "Gaze point Y [MCS norm]": np.where(on_media, np.round((gy - y0[e]) / ph[e], 4), np.nan),
        "Presented Stimulus name": np.array(["Eyetracker Calibration"] + [m[:-4] for m in media[1:]], object)[s],
        "Presented Media name": np.array(media, object)[s],
        "Presented Media width [px]": geo[s, 2],
        "Presented Media height [px]": geo[s, 3],
        "Presented Media position X [DACS px]": geo[s, 4],
        "Presented Media position Y [DACS px]": geo[s, 5],
        "Original Media width [px]": geo[s, 0],
        "Original Media height [px]": geo[s, 1],
        "Eye movement type": kind.astype(object),
        "Eye movement event duration [ms]": dur[e],
        "Eye movement type index": ev["index"].to_numpy()[e].astype(float),
        "Fixation point X [DACS px]": np.where(is_fix, fx[e], np.nan),
        "Fixation point Y [DACS px]": np.where(is_fix, fy[e], np.nan),
        "Fixation point X [MCS norm]": np.where(is_fix & on_media, np.round((fx[e] - x0[e]) / pw[e], 4), np.nan),
        "Fixation point Y [MCS norm]": np.where(is_fix & on_media, np.round((fy[e] - y0[e]) / ph[e], 4), np.nan),
    }
    table = pd.DataFrame(cols)
    constants = {
        "Project name": "Synthetic reading study",
        "Export date": "06.05.2025",
        "Participant name": participant,
        "Recording name": recording,
        "Recording date": "06.05.2025",
        "Recording start time": "14:39:57.651",
        "Recording duration [ms]": float(t_ms[-1]),
        "Timeline name": "Timeline1",
        "Recording Fixation filter name": "Tobii I-VT (Fixation)",
        "Recording software version": "24.21.435",
        "Recording resolution height [px]": float(SCREEN_H),
        "Recording resolution width [px]": float(SCREEN_W),
        "Recording monitor latency [ms]": 10.0,
        "Average calibration accuracy [mm]": 1.2,
        "Average calibration accuracy [°]": 0.11,
    }
    for k, v in constants.items():
        table[k] = v
    # Mouse rows (same timestamp as the sample before) and one Event row per stimulus change
    extra = []
    mouse_at = np.arange(mouse_every, n_rows, mouse_every) if mouse_every else np.array([], int)
    mouse = pd.DataFrame({"Recording timestamp [ms]": t_ms[mouse_at], "Sensor": "Mouse", "_after": mouse_at})
    mouse["Mouse position X [DACS px]"] = rng.integers(0, SCREEN_W, len(mouse)).astype(float)
    mouse["Mouse position Y [DACS px]"] = rng.integers(0, SCREEN_H, len(mouse)).astype(float)
    extra.append(mouse)
    change = np.flatnonzero(np.diff(np.concatenate([[-1], s])) != 0)
    events = pd.DataFrame(
        {
            "Recording timestamp [ms]": t_ms[change],
            "Event": np.where(s[change] > 0, "ImageStimulusStart", "Eye tracker Calibration start"),
            "Event value": np.array(media, object)[s[change]],
            "_after": change - 0.5,
        }
    )
    extra.append(events)
    for k in ("Participant name", "Recording name"):
        for x in extra:
            x[k] = table[k].iloc[0]
    table["_after"] = np.arange(n_rows, dtype=float)
    table = pd.concat([table, *extra], ignore_index=True).sort_values("_after", kind="stable")
    table = table.drop(columns="_after").reset_index(drop=True)

    fixes = ev[ev["kind"] == "Fixation"]
    i = fixes.index.to_numpy()
    sx, sy = fx[i], fy[i]
    w, h, pww, phh, xx0, yy0 = (geo[sec[i], k] for k in range(6))
    x_img = (sx - xx0) * w / pww
    y_img = (sy - yy0) * h / phh
    truth = pd.DataFrame(
        {
            "participant": participant,
            "recording": recording,
            "index": fixes["index"].to_numpy(),
            "t_start_ms": first_t[i],
            "duration_ms": dur[i],
            "screen_x_px": sx,
            "screen_y_px": sy,
            "media": np.array(media, object)[sec[i]],
            "x_px": x_img,
            "y_px": y_img,
            "on_image": (x_img >= 0) & (x_img < w) & (y_img >= 0) & (y_img < h),
            "image_width_px": w,
            "image_height_px": h,
        }
    )
    return truth, table


def _write_chunk(fh, table: pd.DataFrame, sep: str, decimal: str, eol: str, trailing_sep: bool) -> None:
    n = len(table)
    empty = pa.nulls(n, pa.string())
    arrays = []
    for name in COLUMNS:
        if name not in table:
            arrays.append(empty)
            continue
        col = table[name]
        if col.dtype.kind == "f":
            v = col.to_numpy()
            whole = np.isfinite(v) & (v == np.round(v))
            arr = pa.array(np.where(whole, v, np.nan), mask=~whole).cast(pa.int64()).cast(pa.string())
            frac = pc.cast(pa.array(v, mask=~np.isfinite(v) | whole), pa.string())
            if decimal != ".":
                frac = pc.replace_substring(frac, ".", decimal)
            arrays.append(pc.coalesce(arr, frac))
        else:
            vals = col.to_numpy(object)
            arrays.append(pa.array(vals, type=pa.string(), mask=pd.isna(vals) | (vals == "")))
    lines = pc.binary_join_element_wise(*[pc.fill_null(a, "") for a in arrays], sep)
    text = eol.join(lines.to_pylist()) + eol
    if trailing_sep:
        text = text.replace(eol, sep + eol)
    fh.write(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path)
    ap.add_argument("--rows", type=int, default=20_000, help="eye-tracker rows per participant (300 Hz)")
    ap.add_argument("--participants", type=int, default=2)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    truth = write_prolab_export(
        args.output,
        n_rows=args.rows,
        participants=tuple(f"Reader {chr(65 + i)}" for i in range(args.participants)),
        n_images=args.images,
        seed=args.seed,
    )
    print(f"{args.output}: {len(truth)} fixations, {args.participants} participant(s), {args.images} image(s)")


if __name__ == "__main__":
    main()
