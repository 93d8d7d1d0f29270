"""ACDC template: volumes -> NIfTI + DICOM -> simulated reading sessions -> fixation tables -> per-slice check.

Usage (what CI runs on one volume):

    python examples/acdc/run_acdc.py --acdc ../shared/data/ACDC --volumes 2 -o acdc_out

Steps, each one command a user would type with their own data:

1. take the first ``--volumes`` validation volumes of the SSL4MIS ACDC release (``val.list``, HDF5
   ``image``/``label`` [D, H, W]) and write each as NIfTI (``nifti/images/<id>.nii.gz``,
   ``nifti/labels/<id>_gt.nii.gz``) and as DICOM series (``dicom/images/<id>/``, ``dicom/labels/<id>_gt/``)
   with synthetic, non-identifying metadata. The SSL4MIS files carry no voxel spacing: a synthetic
   1.5 x 1.5 x 10 mm spacing is written;
2. ``gazekit simulate nifti/labels/*.nii.gz --images nifti/images -o sessions/nifti`` (and the same on the
   DICOM folders);
3. ``gazekit convert sessions/nifti -o fixations_nifti.parquet`` (and DICOM);
4. checks: the NIfTI and DICOM volumes load in the HDF5 slice order; both fixation tables agree
   (slice, position, time); every detected fixation is matched to the planned one it overlaps most in
   time and must land on the planned volume and slice. A per-slice table is printed. Exit code 1 when a
   check fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from gazekit import session, stimuli, tables

SPACING_MM = (10.0, 1.5, 1.5)  # slice, row, column (synthetic: SSL4MIS dropped the real spacing)


def default_acdc() -> Path:
    shared = os.environ.get("GAZEKIT_SHARED_DATA")
    if shared:
        return Path(shared) / "ACDC"
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ACDC"


def gazekit(*args: str) -> None:
    """Run a gazekit command as a user types it (``python -m gazekit`` so no install is needed)."""
    cmd = [sys.executable, "-m", "gazekit", *args]
    print("$ gazekit " + " ".join(args), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"gazekit {' '.join(args)} failed:\n{done.stderr}")
    print(done.stdout.strip())


def export_volumes(acdc: Path, n: int, out: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Write the first ``n`` validation volumes as NIfTI and DICOM; returns (id, image, label)."""
    ids = [line.strip() for line in (acdc / "val.list").read_text().splitlines() if line.strip()][:n]
    vols = []
    for vid in ids:
        with h5py.File(acdc / "data" / f"{vid}.h5", "r") as fh:
            image, label = fh["image"][()], fh["label"][()]
        for sub in ("nifti/images", "nifti/labels", "dicom/images", "dicom/labels"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        stimuli.write_nifti(image, out / "nifti/images" / f"{vid}.nii.gz", SPACING_MM)
        stimuli.write_nifti(label.astype(np.uint8), out / "nifti/labels" / f"{vid}_gt.nii.gz", SPACING_MM)
        stimuli.write_dicom_series(image, out / "dicom/images" / vid, SPACING_MM, description="ACDC image")
        stimuli.write_dicom_series(label, out / "dicom/labels" / f"{vid}_gt", SPACING_MM, description="ACDC label")
        vols.append((vid, image, label))
    return vols


def check_slice_order(out: Path, vols) -> list[str]:
    """The NIfTI and DICOM copies load as the HDF5 arrays (same slice order)."""
    problems = []
    for vid, image, label in vols:
        nii = stimuli.load_one(out / "nifti/images" / f"{vid}.nii.gz")
        dcm = stimuli.load_one(out / "dicom/images" / vid)
        lab = stimuli.load_one(out / "dicom/labels" / f"{vid}_gt")
        quantum = (float(image.max()) - float(image.min())) / 65535
        if not np.array_equal(nii.data, image):
            problems.append(f"{vid}: NIfTI volume differs from the HDF5 volume")
        if np.abs(dcm.data - image).max() > quantum:
            problems.append(f"{vid}: DICOM volume differs from the HDF5 volume beyond 16-bit quantisation")
        if not np.array_equal(lab.data, label):
            problems.append(f"{vid}: DICOM label series differs from the HDF5 label")
    return problems


def per_slice(fix: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Match each detected fixation to the planned one it overlaps most in time; compare volume and slice."""
    t0, t1 = truth["t_start_ms"].to_numpy(), (truth["t_start_ms"] + truth["duration_ms"]).to_numpy()
    rows = []
    for f in fix[fix["stimulus_id"] != ""].itertuples():
        overlap = np.minimum(t1, f.t_start_ms + f.duration_ms) - np.maximum(t0, f.t_start_ms)
        j = int(np.argmax(overlap))
        matched = overlap[j] > 0
        rows.append(
            {
                "stimulus_id": truth["stimulus_id"].iloc[j] if matched else "",
                "planned_slice": int(truth["slice_index"].iloc[j]) if matched else -1,
                "slice_index": int(f.slice_index),
                "right_volume": bool(matched and f.stimulus_id == truth["stimulus_id"].iloc[j]),
                "right_slice": bool(matched and f.slice_index == truth["slice_index"].iloc[j]),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--acdc", type=Path, default=default_acdc(), help="SSL4MIS ACDC folder (val.list, data/)")
    ap.add_argument("--volumes", type=int, default=2, help="how many validation volumes")
    ap.add_argument("-o", "--output", type=Path, default=Path("acdc_out"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not (args.acdc / "val.list").exists():
        raise SystemExit(f"{args.acdc}: ACDC not found (set --acdc or GAZEKIT_SHARED_DATA)")
    out = args.output
    vols = export_volumes(args.acdc, args.volumes, out)
    problems = check_slice_order(out, vols)
    nifti_labels = [str(out / "nifti/labels" / f"{vid}_gt.nii.gz") for vid, _, _ in vols]
    dicom_labels = [str(out / "dicom/labels" / f"{vid}_gt") for vid, _, _ in vols]
    seed = str(args.seed)
    gazekit(
        "simulate",
        *nifti_labels,
        "--images",
        str(out / "nifti/images"),
        "-o",
        str(out / "sessions/nifti"),
        "--seed",
        seed,
    )
    gazekit(
        "simulate",
        *dicom_labels,
        "--images",
        str(out / "dicom/images"),
        "-o",
        str(out / "sessions/dicom"),
        "--seed",
        seed,
    )
    gazekit("convert", str(out / "sessions/nifti"), "-o", str(out / "fixations_nifti.parquet"))
    gazekit("convert", str(out / "sessions/dicom"), "-o", str(out / "fixations_dicom.parquet"))

    nifti, _ = tables.read_table("fixations", out / "fixations_nifti.parquet")
    dicom, _ = tables.read_table("fixations", out / "fixations_dicom.parquet")
    uid_to_id = {stimuli.load_one(out / "dicom/images" / vid).stimulus_id: vid for vid, _, _ in vols}
    dicom["stimulus_id"] = dicom["stimulus_id"].map(lambda s: uid_to_id.get(s, s))
    same = ["stimulus_id", "slice_index", "t_start_ms", "duration_ms", "x_px", "y_px", "on_image"]
    if not nifti[same].equals(dicom[same]):
        problems.append("the NIfTI and DICOM sessions gave different fixation tables")

    truth = session.read_session(out / "sessions/nifti").truth
    matched = per_slice(nifti, truth)
    labels = {vid: label for vid, _, label in vols}
    on = nifti[(nifti["stimulus_id"] != "") & nifti["on_image"]]
    has_structure = [labels[s][int(k)].any() for s, k in zip(on["stimulus_id"], on["slice_index"], strict=True)]
    table = (
        matched.groupby(["stimulus_id", "planned_slice"])
        .agg(detected=("right_slice", "size"), right_slice=("right_slice", "sum"))
        .reset_index()
    )
    table["planned"] = [
        int(((truth["stimulus_id"] == s) & (truth["slice_index"] == k)).sum())
        for s, k in zip(table["stimulus_id"], table["planned_slice"], strict=True)
    ]
    print("\nper-slice check (detected fixations matched in time to the planned ones):")
    print(table[["stimulus_id", "planned_slice", "planned", "detected", "right_slice"]].to_string(index=False))
    share = float(matched["right_slice"].mean()) if len(matched) else 0.0
    print(
        f"\n{len(matched)} fixations on volumes, {100 * share:.1f} % on the planned volume and slice, "
        f"{100 * float(np.mean(has_structure)):.1f} % of on-image fixations on a slice with a structure; "
        f"NIfTI and DICOM tables identical: {'no' if any('different' in p for p in problems) else 'yes'}"
    )
    if share < 0.95:
        problems.append(f"only {100 * share:.1f} % of fixations landed on the planned slice (expected >= 95 %)")
    for p in problems:
        print("FAILED:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
