"""Is the gaze that a results row trained on aligned with its labels? The measure of tests/test_alignment.py
(the share of an item's heat on its label dilated by 4 px) on a real dataset and its heatmap store.

    python examples/check_alignment.py --dataset kvasir --store runs/kvasir/store [--size 128]
    python examples/check_alignment.py --dataset acdc --store runs/acdc/store

1. hgdtgl's view: the training split loaded and joined exactly as ``hgdtgl train`` does for the dataset's
   result rows (the dataset's spec, experiments/specs/<dataset>.toml: format, training list, labeled patients;
   :func:`hgdtgl.engine.prepare_data`, which joins the store with :func:`hgdtgl.data.gaze.join_gaze`), at the
   training grid ``--size``: share of the joined heat on the label (foreground = any class > 0) dilated by a
   disc of 4 grid px.
2. gazekit's view, independent of hgdtgl's loader: ``gazekit.open_store(STORE).get(id, slice, 1)`` against the
   label read at its original size by the dataset's own id rules (images: ``masks/<id>.*`` read by
   :func:`gazekit.stimuli.load_image`, JPEG / 0-255 masks thresholded at 128; SSL4MIS: the ``label`` of
   ``data/slices/<id>_slice_<slice + 1>.h5``), dilated by the same region (an ellipse of 4 grid px scaled to
   the original rows / columns). A store rendered on a square grid (``render-heatmaps --size G``) is
   stretched over the image, as the join reads it.
3. A control: hgdtgl's heat on the label turned by 180 degrees (what a misaligned join scores; weak where the
   labels cover the image centre, e.g. a heart or lungs filling the frame), and on the label transposed (what a
   join that swapped rows and columns would score: a square image passes the geometry check either way).
4. Simulated gaze (``--session``, default the ``session`` folder next to the store when it holds
   ``simulated_fixations.parquet``): the share of the simulated reader's PLANNED fixation time on the same
   dilated label at the original size, the baseline of tests/test_alignment.py (what an aligned heatmap can
   reach), and the share of those fixations rendered with the store's ``--sigma-frac`` (:func:`planned_heat`:
   what an aligned store of the plan holds; the heat spreads beyond the label by sigma, which on small
   structures, e.g. ACDC's hearts, takes the share well below the planned one without any misalignment).

Both views must agree item by item when the join is aligned; a transposed or flipped join shows a large gap and
a share near the control. Items: every training item whose label has foreground ("labelled"; every training
image of these datasets has its mask on disk, hgdtgl hides those of the unlabeled ones); the shares are over the
labelled items with gaze. Prints the counts, the mean and 10th percentile of both shares and the control, and
writes (replaces) the dataset's row of ``--csv`` (default results/alignment.csv).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import h5py
import numpy as np

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # the experiments package, also when loaded by path
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from experiments.spec import DATASETS, load  # noqa: E402

GAZE = {"kvasir": "real gaze (GazeMedSeg, EyeLink)", "acdc": "simulated", "camus": "simulated", "scr": "simulated"}
COLUMNS = [
    "dataset",
    "store",
    "n_items",
    "n_with_gaze",
    "hgdtgl_share_mean",
    "hgdtgl_share_p10",
    "gazekit_share_mean",
    "gazekit_share_p10",
    "rotated180_share_mean",
    "transposed_share_mean",
    "planned_share_mean",
    "planned_rendered_share_mean",
]
RADIUS = 4  # dilation, training-grid px


def ellipse(ry: float, rx: float) -> np.ndarray:
    """uint8 structuring element: the pixels within an ellipse of radii ``ry`` rows, ``rx`` columns."""
    a, b = int(np.floor(ry)), int(np.floor(rx))
    yy, xx = np.mgrid[-a : a + 1, -b : b + 1]
    return ((yy / ry) ** 2 + (xx / rx) ** 2 <= 1).astype(np.uint8)


def share_on(heat: np.ndarray, label: np.ndarray, kernel: np.ndarray) -> float:
    """Share of ``heat``'s mass on the foreground of ``label`` dilated by ``kernel`` (nan for no mass)."""
    heat = np.clip(np.asarray(heat, np.float64), 0, None)
    total = heat.sum()
    region = cv2.dilate((np.asarray(label) > 0).astype(np.uint8), kernel) > 0
    return float(heat[region].sum() / total) if total > 0 else float("nan")


def config_args(dataset: str, data: str) -> dict:
    """--data / --format / --train-list of the dataset's result rows (experiments.runner.data_args) as TrainConfig
    fields."""
    splits = load(dataset).splits
    if data.endswith(".npz"):
        return {"data": data, "format": None, "train_list": None}
    if splits:
        return {"data": data, "format": "images", "train_list": f"{splits}/train.list"}
    return {"data": data, "format": "ssl4mis", "train_list": None}


def original_label(fmt: str, root: Path, sid: str, sl: int | None, masks: dict[str, Path]) -> np.ndarray:
    """The label of one training item at its original size, read by the dataset's id rules (module docstring)."""
    from gazekit.stimuli import load_image

    if fmt == "ssl4mis":  # gazekit.ids: slice file <volume>_slice_K.h5 is slice K - 1 of <volume>
        with h5py.File(root / "data" / "slices" / f"{sid}_slice_{sl + 1}.h5", "r") as f:
            return np.asarray(f["label"])
    path = masks[sid]
    mask = load_image(path).data
    mask = mask if mask.ndim == 2 else mask.max(axis=-1)
    if path.suffix.lower() in (".jpg", ".jpeg") or mask.max() > 50:  # binary 0/255 (or JPEG-noisy) masks
        return (mask >= 128).astype(np.uint8)
    return mask


def planned_fixations(session: Path | None) -> dict:
    """(stimulus id, slice or None) -> (rows, columns, durations) of a simulated session's planned fixations."""
    if session is None or not (session / "simulated_fixations.parquet").is_file():
        return {}
    import pandas as pd

    t = pd.read_parquet(session / "simulated_fixations.parquet")
    sl = t["slice_index"].astype("float64").fillna(-1).to_numpy()
    out = {}
    for (sid, k), g in t.groupby([t["stimulus_id"], sl]):
        out[(sid, None if k < 0 else int(k))] = (
            g["y_px"].to_numpy(),
            g["x_px"].to_numpy(),
            g["duration_ms"].to_numpy(),
        )
    return out


def planned_share(fix: tuple, label: np.ndarray, kernel: np.ndarray) -> float:
    """Share of the planned fixation time on the dilated label (fixations off the image count as off it)."""
    ys, xs, dur = fix
    region = cv2.dilate((np.asarray(label) > 0).astype(np.uint8), kernel) > 0
    r, c = np.floor(ys).astype(int), np.floor(xs).astype(int)
    inside = (r >= 0) & (r < region.shape[0]) & (c >= 0) & (c < region.shape[1])
    on = np.zeros(len(dur), bool)
    on[inside] = region[r[inside], c[inside]]
    return float(dur[on].sum() / dur.sum()) if dur.sum() > 0 else float("nan")


def planned_heat(fix: tuple, shape: tuple[int, int], frac: float) -> np.ndarray:
    """The planned fixations rendered as the store's ``--sigma-frac`` maps are (duration-weighted Gaussians of
    sigma ``frac`` x width along x and ``frac`` x height along y, mass off the image dropped): the heat a
    perfectly aligned store of the simulated reader's plan would hold, measurement noise aside."""
    ys, xs, dur = fix
    h, w = shape
    gy = np.exp(-(((np.arange(h) + 0.5)[None] - ys[:, None]) ** 2) / (2 * (frac * h) ** 2))
    gx = np.exp(-(((np.arange(w) + 0.5)[None] - xs[:, None]) ** 2) / (2 * (frac * w) ** 2))
    return (gy * dur[:, None]).T @ gx


def measure(
    data: str,
    fmt: str | None,
    train_list: str | None,
    store_dir: str,
    size: int,
    labeled: int,
    session: Path | None = None,
) -> dict:
    """Per labelled item with gaze: hgdtgl's share, gazekit's share, the 180-degree and transposed controls and,
    with a simulated ``session``, the planned share (module docstring)."""
    import gazekit
    from hgdtgl.config import TrainConfig
    from hgdtgl.engine import prepare_data

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(data, out, "hgdtgl", fmt, store_dir, train_list, labeled=labeled, size=size)
        train, in_labeled_set = prepare_data(cfg)
    store = gazekit.open_store(store_dir)
    root = Path(data)
    masks = {p.stem: p for p in (root / "masks").iterdir()} if train.format == "images" else {}
    disc = ellipse(RADIUS, RADIUS)
    labelled = np.array([lab.any() for lab in train.labels])
    items = np.flatnonzero(labelled & train.has_gaze)
    plan = planned_fixations(session)
    frac = store.params.get("sigma_frac")
    out = {k: [] for k in ("keys", "hgdtgl", "gazekit", "rotated", "transposed", "planned", "planned_rendered")}
    out["in_labeled_set"] = in_labeled_set[items]
    for i in items:
        sid, sl = train.keys[i]
        heat, lab = train.heat[i].astype(np.float32), train.labels[i]
        label = original_label(train.format, root, sid, sl, masks)
        m = store.get(sid, sl, 1)
        if m.shape != label.shape:  # a store on a square grid: stretched over the image, as the join reads it
            m = cv2.resize(m, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_LINEAR)
        kernel = ellipse(RADIUS * label.shape[0] / size, RADIUS * label.shape[1] / size)
        out["keys"].append((sid, sl))
        out["hgdtgl"].append(share_on(heat, lab, disc))
        out["gazekit"].append(share_on(m, label, kernel))
        out["rotated"].append(share_on(heat, np.rot90(lab, 2), disc))
        out["transposed"].append(share_on(heat, lab.T, disc))
        if (sid, sl) in plan:
            out["planned"].append(planned_share(plan[(sid, sl)], label, kernel))
            if frac:
                out["planned_rendered"].append(
                    share_on(planned_heat(plan[(sid, sl)], label.shape, frac), label, kernel)
                )
    for k in ("hgdtgl", "gazekit", "rotated", "transposed", "planned", "planned_rendered"):
        out[k] = np.array(out[k])
    out["n_items"], out["n_with_gaze"] = int(labelled.sum()), len(items)
    out["n_gaze_unlabelled"] = int((train.has_gaze & ~labelled).sum())
    return out


def store_description(dataset: str, store_dir: str) -> str:
    p = json.loads((Path(store_dir) / "store.json").read_text())
    grid = "x".join(map(str, p["size"])) + " grid" if p.get("size") else "image size"
    return f"{GAZE.get(dataset, 'gaze')}; {store_dir}; sigma-frac {p.get('sigma_frac')}, {grid}"


def summary_row(dataset: str, store: str, r: dict) -> dict:
    def stat(a, f):
        return f"{f(a):.3f}" if len(a) else ""

    return {
        "dataset": dataset,
        "store": store,
        "n_items": r["n_items"],
        "n_with_gaze": r["n_with_gaze"],
        "hgdtgl_share_mean": stat(r["hgdtgl"], np.mean),
        "hgdtgl_share_p10": stat(r["hgdtgl"], lambda a: np.percentile(a, 10)),
        "gazekit_share_mean": stat(r["gazekit"], np.mean),
        "gazekit_share_p10": stat(r["gazekit"], lambda a: np.percentile(a, 10)),
        "rotated180_share_mean": stat(r["rotated"], np.mean),
        "transposed_share_mean": stat(r["transposed"], np.mean),
        "planned_share_mean": stat(r["planned"], np.mean),
        "planned_rendered_share_mean": stat(r["planned_rendered"], np.mean),
    }


def write_row(path: Path, row: dict) -> None:
    """Replace (or append) the dataset's row of the CSV, rows kept in dataset order."""
    rows = list(csv.DictReader(open(path))) if path.is_file() else []
    rows = [r for r in rows if r["dataset"] != row["dataset"]] + [row]
    order = list(DATASETS)
    rows.sort(key=lambda r: order.index(r["dataset"]) if r["dataset"] in order else len(order))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=list(DATASETS))
    ap.add_argument("--store", required=True, help="the heatmap store the dataset's gaze rows trained with")
    ap.add_argument("--size", type=int, default=128, help="training grid (the cpu schedule: 128)")
    ap.add_argument("--shared-data", default=os.environ.get("GAZEKIT_SHARED_DATA", "../shared/data"))
    ap.add_argument("--data", help="the dataset folder (default: SHARED/<the dataset's folder>)")
    ap.add_argument("--session", help="the simulated session of the store (default: STORE/../session if any)")
    ap.add_argument("--csv", default="results/alignment.csv")
    a = ap.parse_args(argv)
    folder, labeled = load(a.dataset).folder, load(a.dataset).labeled
    fields = config_args(a.dataset, a.data or str(Path(a.shared_data) / folder))
    session = Path(a.session) if a.session else Path(a.store).parent / "session"
    r = measure(fields["data"], fields["format"], fields["train_list"], a.store, a.size, labeled, session)
    row = summary_row(a.dataset, store_description(a.dataset, a.store), r)
    gap = np.abs(r["hgdtgl"] - r["gazekit"])
    print(f"{a.dataset}: {r['n_with_gaze']} labelled items with gaze / {r['n_items']} labelled items "
          f"({r['n_gaze_unlabelled']} items with gaze and an empty label not counted); "
          f"{int(r['in_labeled_set'].sum())} of them in the rows' labeled set ({labeled} patients/images)")  # fmt: skip
    print(f"  share of heat on label + 4 px: hgdtgl (training grid {a.size}) mean {row['hgdtgl_share_mean']} "
          f"p10 {row['hgdtgl_share_p10']}; gazekit (original size) mean {row['gazekit_share_mean']} "
          f"p10 {row['gazekit_share_p10']}; |hgdtgl - gazekit| per item mean {gap.mean():.3f} max {gap.max():.3f}; "
          f"label turned 180 deg {row['rotated180_share_mean']}, transposed {r['transposed'].mean():.3f}")  # fmt: skip
    if len(r["planned"]) == len(r["hgdtgl"]):
        ok = int((r["hgdtgl"] >= 0.9 * r["planned"]).sum())
        print(f"  simulated reader's planned fixation time on label + 4 px ({session}): mean "
              f"{row['planned_share_mean']}; hgdtgl's share >= 0.9 x planned (tests/test_alignment.py's criterion) "
              f"on {ok} of {len(r['planned'])} items")  # fmt: skip
    if len(r["planned_rendered"]) == len(r["hgdtgl"]):
        gap = r["gazekit"] - r["planned_rendered"]
        print(f"  the plan rendered with the store's sigma (an aligned store's expected share): mean "
              f"{row['planned_rendered_share_mean']}; gazekit's share minus it per item: mean {gap.mean():+.3f}, "
              f"p10 {np.percentile(gap, 10):+.3f}")  # fmt: skip
    write_row(Path(a.csv), row)
    print(f"wrote {a.csv} ({a.dataset})")


if __name__ == "__main__":
    main()
