"""End-to-end alignment of gaze and labels, one test per training format (DESIGN.md section 3, issue 26).

Each test builds ASYMMETRIC phantoms (a small elliptic blob off both symmetry axes, at a different place in
every slice, two slices of every volume empty; slices of 40 rows x 32 columns, 6 slices), makes gaze the way a
user does (``gazekit simulate`` on the label maps -> ``gazekit convert SESSION`` -> ``gazekit render-heatmaps
--stimuli``, the steps of examples/acdc/simulate_training_gaze.py, or ``gazekit record`` with its replay source),
loads it through what ``hgdtgl train`` runs (:func:`hgdtgl.engine.prepare_data`) and checks

(a) every labelled training item that the store has a map for gets it: the expected set is computed from the
    store's manifest by the id rules written out here (nnU-Net ``case_0000`` -> ``case``), not by hgdtgl;
(b) at least 90 % of each item's heat lies on its label dilated by 4 px (:func:`share_on_label`), counted
    against what the simulated reader itself put there: share >= 0.9 x the share of its planned fixation time
    on that region (:func:`planned_shares`; 0.83-1.0 here, below 1 where the reader model looks at the image
    centre first: its 2D images and each volume's first slice); recorded gaze: share >= 0.9. The same heat
    on the label turned by 180 degrees gets < 0.2 (the phantoms are asymmetric enough to see a wrong join).
    ``pytest -s`` prints the shares (lines SHARE ...); what they were before the display-geometry fix is in
    test_nnunet_gaze_joins_every_storage_on_its_label.

DICOM: hgdtgl has no DICOM training format (``hgdtgl.data.formats.detect_format``: ssl4mis, images, nifti,
npz), so there is nothing to join a DICOM store to; gazekit's DICOM display geometry is tested in
tests/test_stimuli.py.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from scipy import ndimage

import gazekit.cli
import hgdtgl.cli
from gazekit import ids
from hgdtgl.config import TrainConfig
from hgdtgl.data.batches import BatchMaker, DeviceData, stream_indices
from hgdtgl.data.formats import TrainData, load_train
from hgdtgl.data.gaze import join_gaze
from hgdtgl.engine import prepare_data
from hgdtgl.mixing import gaze_masks, mix, mix_heat, random_box_masks

D, H, W = 6, 40, 32  # slices, rows, columns of every phantom volume (display geometry)
SIZE = 32  # training grid
SPACING = (1.0, 1.2, 2.5)  # column, row, slice [mm]
MIN_SHARE = 0.9
DISK4 = np.hypot(*np.mgrid[-4:5, -4:5]) <= 4  # the 4-px dilation


# ---------------------------------------------------------------- phantoms


def phantom(seed: int) -> np.ndarray:
    """[D, H, W] uint8 label volume: per slice one elliptic blob (radii 4 rows x 3 columns) at a random place
    off every symmetry axis of the slice and of the square training grid (centre lines and diagonals: a
    flipped, transposed or turned map misses most of it); two slices empty."""
    rng = np.random.default_rng(seed)
    lab = np.zeros((D, H, W), np.uint8)
    empty = set(rng.choice(D, 2, replace=False).tolist())
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    c = (SIZE - 1) / 2
    for k in range(D):
        if k in empty:
            continue
        while True:
            cy, cx = rng.uniform(5, H - 5), rng.uniform(4, W - 4)
            r, q = cy * SIZE / H - 0.5, cx * SIZE / W - 0.5  # on the training grid
            if min(abs(r - c), abs(q - c)) >= 5 and min(abs(r - q), abs(r + q - 2 * c)) >= 6:
                break
        lab[k] = ((yy - cy) / 4) ** 2 + ((xx - cx) / 3) ** 2 <= 1
    return lab


def phantom_image(lab: np.ndarray) -> np.ndarray:
    """Grey values: 120-130 on the blob, 20-30 elsewhere (a ramp along the rows)."""
    ramp = np.linspace(0, 10, lab.shape[-2], dtype=np.float32)[:, None]
    return (20 + 100 * lab.astype(np.float32) + ramp).astype(np.float32)


# Stored NIfTI arrays of a display volume v [slice, row, col] (rows toward posterior, columns toward the
# patient's left, slices toward superior), built by hand (not with gazekit.ids): (array, affine to RAS+ mm).
def store_lps(v):  # i -> L, j -> P, k -> S (what gazekit.stimuli.write_nifti writes)
    sx, sy, sz = SPACING
    return v.transpose(2, 1, 0), np.diag([-sx, -sy, sz, 1.0])


def store_ras(v):  # i -> R, j -> A, k -> S (nibabel's default, nnU-Net's usual)
    sx, sy, sz = SPACING
    return v[:, ::-1, ::-1].transpose(2, 1, 0), np.diag([sx, sy, sz, 1.0])


def store_inferior_first(v):  # i -> L, j -> P, k -> I (negative slice step)
    sx, sy, sz = SPACING
    return v[::-1].transpose(2, 1, 0), np.diag([-sx, -sy, -sz, 1.0])


def store_sagittal(v):  # i -> A, j -> S, k -> L: the slice axis is the middle one
    sx, sy, sz = SPACING
    affine = np.array([[0, 0, -sx, 0], [sy, 0, 0, 0], [0, sz, 0, 0], [0, 0, 0, 1.0]])
    return v[:, ::-1, :].transpose(1, 0, 2), affine


STORAGES = {"lps": store_lps, "ras": store_ras, "infirst": store_inferior_first, "sagittal": store_sagittal}


def make_nnunet(root: Path, storages: dict[str, callable], seed: int = 0) -> dict[str, np.ndarray]:
    """An nnU-Net folder (imagesTr/<case>_0000.nii.gz, labelsTr/<case>.nii.gz, dataset.json), one case per
    storage; returns each case's display label volume."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    labels = {}
    for i, (case, how) in enumerate(storages.items()):
        lab = phantom(seed + i)
        img, affine = how(phantom_image(lab))
        stored_lab, _ = how(lab)
        nib.save(nib.Nifti1Image(np.ascontiguousarray(img), affine), root / "imagesTr" / f"{case}_0000.nii.gz")
        nib.save(nib.Nifti1Image(np.ascontiguousarray(stored_lab), affine), root / "labelsTr" / f"{case}.nii.gz")
        labels[case] = lab
    (root / "dataset.json").write_text(
        json.dumps({"channel_names": {"0": "MR"}, "labels": {"background": 0, "blob": 1}, "file_ending": ".nii.gz"})
    )
    return labels


# ---------------------------------------------------------------- the user's commands


def run_cli(group, *args) -> str:
    r = CliRunner().invoke(group, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def gaze_store(work: Path, labels: list[Path], stimuli: Path, images: Path | None = None) -> Path:
    """simulate -> convert -> render-heatmaps, as examples/acdc/simulate_training_gaze.py runs them."""
    sim = ["simulate", *labels, "-o", work / "session", "--seed", 0] + (["--images", images] if images else [])
    run_cli(gazekit.cli.main, *sim)
    run_cli(gazekit.cli.main, "convert", work / "session", "-o", work / "fixations.parquet")
    run_cli(
        gazekit.cli.main, "render-heatmaps", work / "fixations.parquet", "-o", work / "store", "--stimuli", stimuli,
        "--sigma-frac", 0.05, "--scales", "1,2",
    )  # fmt: skip
    return work / "store"


def config(data, out, store=None, **kw) -> TrainConfig:
    return TrainConfig(data=str(data), out=str(out), gaze_dir=None if store is None else str(store), size=SIZE, **kw)


# ---------------------------------------------------------------- the checks


def training_id(sid: str, nnunet: bool) -> str:
    """The id rule of DESIGN.md section 3, written out: an nnU-Net image ``case_0000`` belongs to ``case``."""
    return re.sub(r"_\d{4}$", "", sid) if nnunet else sid


def store_keys(store: Path, nnunet: bool) -> set[tuple[str, int | None]]:
    """(training id, slice) of every map in the store."""
    m = pd.read_parquet(store / "manifest.parquet")
    m = m[m["file"].notna()]
    return {
        (training_id(sid, nnunet), None if pd.isna(sl) else int(sl))
        for sid, sl in zip(m["stimulus_id"], m["slice_index"], strict=True)
    }


def dilated(label: np.ndarray) -> np.ndarray:
    return ndimage.binary_dilation(np.asarray(label) > 0, DISK4)


def share_on_label(heat: np.ndarray, label: np.ndarray) -> float:
    """Share of a heatmap's mass on the label (foreground) dilated by 4 px."""
    heat = np.asarray(heat, np.float64)
    return float(heat[dilated(label)].sum() / heat.sum())


def planned_shares(session: Path, labels: dict, nnunet: bool) -> dict:
    """Per item, the share of the simulated reader's PLANNED fixation time (simulated_fixations.parquet, image
    px of the display geometry) on the label dilated by 4 px: what a perfectly aligned heatmap can reach. It is
    below 1 where the reader model looks elsewhere on purpose: its first fixation of a 2D image (or of a volume's
    first slice) is near the image centre, and 5 % of its fixations are off target."""
    t = pd.read_parquet(session / "simulated_fixations.parquet")
    out = {}
    for (sid, sl), g in t.groupby([t["stimulus_id"], t["slice_index"].fillna(-1)]):
        key = (training_id(sid, nnunet), None if sl < 0 else int(sl))
        on = dilated(labels[key])[g["y_px"].astype(int), g["x_px"].astype(int)]
        out[key] = float(g["duration_ms"][on].sum() / g["duration_ms"].sum())
    return out


def check_join(data: TrainData, work: Path, labels: dict, nnunet: bool = False, before=None) -> dict:
    """(a) and (b) of the module docstring for the store and session under ``work``; ``labels``: the display
    label of every training item (key -> [H, W]). (b) is asserted as: share >= 90 % of the share the reader's
    planned fixations have (:func:`planned_shares`, 0.83-1.0 here). Returns the shares, the planned ones, the
    mean share on the label turned by 180 degrees (a control that the phantom is asymmetric enough) and, given
    ``before(key)`` (the label a mis-oriented loader paired the heat with; None: none), the mean share on it."""
    store = work / "store"
    expected = store_keys(store, nnunet) & set(data.keys)
    assert expected == {k for k, v in labels.items() if v.any()}  # the reader saw every labelled slice, only them
    got = {data.keys[i] for i in np.flatnonzero(data.has_gaze)}
    assert got == expected, f"{len(got & expected)} of {len(expected)} joined; extra {got - expected}"
    simulated = (work / "session" / "simulated_fixations.parquet").is_file()
    planned = planned_shares(work / "session", labels, nnunet) if simulated else dict.fromkeys(expected, 1.0)
    shares, turned, wrong = {}, [], []
    for i in np.flatnonzero(data.has_gaze):
        shares[data.keys[i]] = share_on_label(data.heat[i], data.labels[i])
        turned.append(share_on_label(data.heat[i], np.rot90(data.labels[i], 2)))
        other = None if before is None else before(data.keys[i])
        if other is not None:
            wrong.append(share_on_label(data.heat[i], other))
    low = {k: (round(s, 3), round(planned[k], 3)) for k, s in shares.items() if s < MIN_SHARE * planned[k]}
    assert not low, f"heat off the label (share, planned share): {low}"
    assert min(planned.values()) >= 0.8  # the reader looked mostly at the labels
    assert np.mean(turned) < 0.2  # the phantoms are asymmetric enough to see a wrong join
    return {"shares": shares, "planned": planned, "turned": float(np.mean(turned)), "before": wrong}


def volume_labels(volumes: dict[str, np.ndarray]) -> dict:
    return {(case, k): v[k] for case, v in volumes.items() for k in range(len(v))}


def report(name: str, result: dict, keys=None) -> None:
    keys = list(result["shares"]) if keys is None else keys
    s = np.array([result["shares"][k] for k in keys])
    p = np.array([result["planned"][k] for k in keys])
    before = f"; old loader's label {np.mean(result['before']):.3f}" if result["before"] else ""
    print(f"\nSHARE {name}: {len(s)} items, heat on label+4px min {s.min():.3f} mean {s.mean():.3f}; planned "
          f"min {p.min():.3f} mean {p.mean():.3f}; label turned 180 deg {result['turned']:.3f}{before}")  # fmt: skip


# ---------------------------------------------------------------- the datasets with their gaze


@dataclass
class Dataset:
    """A training dataset (``data``), the work folder with its session/ fixations.parquet store/ (``work``),
    the display label of every training item (``labels``: key -> [H, W]) and whether ids are nnU-Net's."""

    data: Path
    work: Path
    labels: dict
    nnunet: bool = False
    volumes: dict | None = None

    @property
    def store(self) -> Path:
        return self.work / "store"


@pytest.fixture(scope="module")
def nnunet(tmp_path_factory) -> Dataset:
    """Four cases, one per storage, with simulated gaze shown on imagesTr (ids case_0000)."""
    work = tmp_path_factory.mktemp("nnunet")
    data = work / "Dataset001"
    volumes = make_nnunet(data, STORAGES)
    gaze_store(work, sorted((data / "labelsTr").glob("*.nii.gz")), data / "imagesTr", data / "imagesTr")
    return Dataset(data, work, volume_labels(volumes), True, volumes)


def make_ssl4mis(root: Path, cases: list[str], seed: int = 10) -> dict[str, np.ndarray]:
    """data/slices/<case>_slice_K.h5 + train_slices.list, data/<case>.h5 volumes (image/label [D, H, W])."""
    (root / "data" / "slices").mkdir(parents=True)
    volumes, lines = {}, []
    for i, case in enumerate(cases):
        lab = phantom(seed + i)
        img = phantom_image(lab) / 140.0
        with h5py.File(root / "data" / f"{case}.h5", "w") as f:
            f["image"], f["label"] = img, lab
        for k in range(D):
            with h5py.File(root / "data" / "slices" / f"{case}_slice_{k + 1}.h5", "w") as f:
                f["image"], f["label"] = img[k], lab[k]
            lines.append(f"{case}_slice_{k + 1}")
        volumes[case] = lab
    (root / "train_slices.list").write_text("\n".join(lines) + "\n")
    return volumes


@pytest.fixture(scope="module")
def ssl4mis(tmp_path_factory) -> Dataset:
    """Two patients (three volumes); gaze simulated on the volumes data/<case>.h5 (examples/acdc)."""
    work = tmp_path_factory.mktemp("ssl4mis")
    cases = ["patient001_frame01", "patient001_frame12", "patient002_frame01"]
    volumes = make_ssl4mis(work / "acdc", cases)
    gaze_store(work, [work / "acdc" / "data" / f"{c}.h5" for c in cases], work / "acdc" / "data")
    return Dataset(work / "acdc", work, volume_labels(volumes))


def make_images(root: Path, n: int = 5, seed: int = 20) -> dict[str, np.ndarray]:
    """images/<name>.png (grey) + masks/<name>.png (0/255), H x W, one phantom slice each (none empty)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    labels = {}
    for i in range(n):
        vol = phantom(seed + i)
        lab = vol[int(np.flatnonzero(vol.reshape(D, -1).any(1))[0])]
        cv2.imwrite(str(root / "images" / f"img{i}.png"), np.clip(phantom_image(lab), 0, 255).astype(np.uint8))
        cv2.imwrite(str(root / "masks" / f"img{i}.png"), lab * 255)
        labels[(f"img{i}", None)] = lab
    return labels


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Dataset:
    """Five 2D images; gaze simulated on masks/ shown as images/ (python -m experiments gaze)."""
    work = tmp_path_factory.mktemp("images")
    labels = make_images(work / "kv")
    gaze_store(work, [work / "kv" / "masks"], work / "kv" / "images", work / "kv" / "images")
    return Dataset(work / "kv", work, labels)


# ---------------------------------------------------------------- one test per training format


def old_label(root: Path, case: str, k: int) -> np.ndarray | None:
    """Slice k of a case as hgdtgl loaded it before it used the display geometry: the stored label array
    sliced along its last axis, resized to the training grid (None where that axis is shorter)."""
    stored = np.asarray(nib.load(root / "labelsTr" / f"{case}.nii.gz").dataobj)
    if k >= stored.shape[2]:
        return None
    return cv2.resize(np.ascontiguousarray(stored[:, :, k]), (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)


def test_nifti_storages_read_back_as_the_display_phantom(nnunet):
    for case, lab in nnunet.volumes.items():
        nii = nib.load(nnunet.data / "labelsTr" / f"{case}.nii.gz")
        display, _ = ids.nifti_to_display(np.asarray(nii.dataobj), nii.affine)
        assert np.array_equal(display, lab), case


def test_nnunet_gaze_joins_every_storage_on_its_label(nnunet, tmp_path):
    # Before hgdtgl loaded NIfTI in the display geometry (commit 6f605fe, measured on these phantoms): this store
    # (ids case_0000) joined 0 of the 16 labelled slices, silently; a store keyed by the case (simulated on
    # labelsTr without --images) joined 16 of them to the stored array's slices along its last axis (50 items:
    # sagittal has 32), with mean heat on the dilated label LPS 0.033, RAS 0.065, inferior-first 0.497 (two of
    # its slices happen to overlap their mirror), sagittal 0.103 (the "old loader's label" printed below).
    assert set(pd.read_parquet(nnunet.store / "manifest.parquet")["stimulus_id"]) == {
        f"{c}_0000" for c in nnunet.volumes
    }
    train, _ = prepare_data(config(nnunet.data, tmp_path, nnunet.store, labeled=2))
    for case in nnunet.volumes:  # one storage at a time, for the share on the label the old loader paired
        result = check_join(
            train,
            nnunet.work,
            nnunet.labels,
            nnunet=True,
            before=lambda key, case=case: old_label(nnunet.data, *key) if key[0] == case else None,
        )
        report(f"nifti {case}", result, [k for k in result["shares"] if k[0] == case])


def test_ssl4mis_gaze_on_volumes_joins_the_training_slices(ssl4mis, tmp_path):
    train, _ = prepare_data(config(ssl4mis.data, tmp_path, ssl4mis.store, labeled=1))
    report("ssl4mis", check_join(train, ssl4mis.work, ssl4mis.labels))


def test_images_gaze_joins_every_image_on_its_mask(images, tmp_path):
    train, _ = prepare_data(config(images.data, tmp_path, images.store, labeled=2))
    report("images", check_join(train, images.work, images.labels))


def test_a_store_rendered_on_a_square_grid_joins_its_scale_of_the_training_size(images, tmp_path):
    """``render-heatmaps --size 64`` (README's Kvasir rows: the store on the training grid): the join reads the
    store's scale 2 (32 x 32) as it is, stretched over the 40 x 32 images as the training images are."""
    work = tmp_path / "work"
    shutil.copytree(images.work / "session", work / "session")
    run_cli(
        gazekit.cli.main, "render-heatmaps", images.work / "fixations.parquet", "-o", work / "store",
        "--stimuli", images.data / "images", "--sigma-frac", 0.05, "--scales", "1,2", "--size", 64,
    )  # fmt: skip
    train, _ = prepare_data(config(images.data, tmp_path / "run", work / "store", labeled=2))
    report("images --size 64", check_join(train, work, images.labels))


@pytest.mark.parametrize("name", ["nnunet", "ssl4mis", "images"])
def test_packed_dataset_keeps_the_joined_heat(name, request, tmp_path):
    ds: Dataset = request.getfixturevalue(name)
    joined, _ = prepare_data(config(ds.data, tmp_path / "a", ds.store, labeled=1))
    npz = tmp_path / "packed.npz"
    run_cli(hgdtgl.cli.main, "pack", ds.data, "--gaze-dir", ds.store, "--size", SIZE, "-o", npz)
    packed, _ = prepare_data(config(npz, tmp_path / "b", labeled=1))
    assert packed.keys == joined.keys and np.array_equal(packed.labels, joined.labels)
    assert np.array_equal(packed.has_gaze, joined.has_gaze)
    j, p = joined.heat.astype(np.float32), packed.heat.astype(np.float32)
    peak = j.reshape(len(j), -1).max(axis=1)[:, None, None]
    # packed as uint8 steps of each map's peak and renormalised: within one step of the peak
    assert (np.abs(p - j) <= peak / 255 + 1e-3).all()
    report(f"{name} packed", check_join(packed, ds.work, ds.labels, ds.nnunet))


# ---------------------------------------------------------------- gaze recorded with gazekit record


class ScriptedWindow:
    """A stand-in for gazekit.record.display.TkDisplay: keys at scripted times (ms since the recording began)."""

    def __init__(self, size, script):
        self.canvas_wh, self.script, self.open, self.t0 = size, list(script), True, None

    def origin_px(self):
        return (100.0, 50.0)

    def set_mouse_handler(self, handler):  # called once the session clock runs
        self.t0 = time.monotonic()

    def show(self, frame):
        pass

    def wait_key(self, ms):
        time.sleep(ms / 1000)
        now = (time.monotonic() - self.t0) * 1000
        if self.script and self.script[0][0] <= now:
            return self.script.pop(0)[1]
        return -1

    def is_open(self):
        return self.open

    def close(self):
        self.open = False


def test_recorded_session_on_a_nifti_volume_joins_on_its_label(tmp_path, monkeypatch):
    """``gazekit record imagesTr/rec_0000.nii.gz --source replay``: the reader starts on the middle slice, pages
    down twice, up five times (3, 4, 5, 2, 1, 0), and looks at the blob of every labelled slice in the middle
    150 ms of its 350 ms (the replayed gaze is invalid around the page turns and on empty slices)."""
    import gazekit.record.display
    from gazekit import tables

    data = tmp_path / "Dataset002"
    volumes = make_nnunet(data, {"rec": store_ras, "other": store_sagittal}, seed=30)
    lab = volumes["rec"]
    dwell, order = 350.0, [3, 4, 5, 2, 1, 0]
    keys = [ord("j"), ord("j"), ord("k"), ord("k"), ord("k"), ord("k"), ord("k")]
    times = [dwell, 2 * dwell, 3 * dwell, 3 * dwell + 5, 3 * dwell + 10, 4 * dwell, 5 * dwell]
    script = [*zip(times, keys, strict=True), (6 * dwell, ord("q"))]
    # the image fits the 640 x 480 canvas at (100, 50) on screen, centred: screen = x0 + scale * image px
    scale = min(640 / W, 480 / H)
    x0, y0 = 100 + (640 - W * scale) / 2, 50 + (480 - H * scale) / 2
    t = np.arange(0, 6 * dwell + 200, 4.0)
    xs, ys, valid = np.zeros_like(t), np.zeros_like(t), np.zeros(len(t), bool)
    for i, k in enumerate(order):
        if not lab[k].any():
            continue
        r, c = np.nonzero(lab[k])
        on = (t >= i * dwell + 100) & (t < (i + 1) * dwell - 100)
        xs[on], ys[on], valid[on] = x0 + scale * (c.mean() + 0.5), y0 + scale * (r.mean() + 0.5), True
    replay = tmp_path / "replay.parquet"
    samples = {"t_ms": t, "x_screen_px": xs, "y_screen_px": ys, "valid": valid, "pupil": 3.0, "eye": "left"}
    tables.write_table("samples", pd.DataFrame(samples), replay)
    monkeypatch.setattr(gazekit.record.display, "TkDisplay", lambda size: ScriptedWindow(size, script))
    run_cli(
        gazekit.cli.main, "record", data / "imagesTr" / "rec_0000.nii.gz", "-o", tmp_path / "session",
        "--source", "replay", "--replay-file", replay, "--window", "640x480", "--screen-px", "1280x1024",
        "--screen-mm", "340x270", "--no-overlay",
    )  # fmt: skip
    events = pd.read_parquet(tmp_path / "session" / "viewer_events.parquet")
    shown = events["t_ms"].diff().shift(-1) > 100  # the two slices paged through are shown for a few ms
    assert events.loc[shown, "slice_index"].astype(int).tolist() == order
    run_cli(gazekit.cli.main, "convert", tmp_path / "session", "-o", tmp_path / "fixations.parquet")
    run_cli(
        gazekit.cli.main, "render-heatmaps", tmp_path / "fixations.parquet", "-o", tmp_path / "store",
        "--stimuli", data / "imagesTr", "--sigma-frac", 0.05,
    )  # fmt: skip
    train = join_gaze(load_train(data, SIZE), str(tmp_path / "store"))
    labels = {key: v for key, v in volume_labels(volumes).items() if key[0] == "rec"}
    report("nifti recorded", check_join(train, tmp_path, labels, nnunet=True))


# ---------------------------------------------------------------- augmentation and GazeMix


def test_augmented_and_gazemixed_batches_keep_heat_on_the_label(nnunet, tmp_path):
    """hgdtgl's batches (hgdtgl.data.batches: one random affine per sample warps image, label and heat) and
    GazeMix (hgdtgl.mixing, as HGDTGL.losses mixes labeled pairs) on the joined NIfTI items."""
    cfg = config(nnunet.data, tmp_path, nnunet.store, labeled=2, batch_size=16, labeled_bs=8).resolved()
    train, _ = prepare_data(cfg)
    result = check_join(train, nnunet.work, nnunet.labels, nnunet=True)
    pool = np.flatnonzero(train.has_gaze)
    maker = BatchMaker(cfg, DeviceData(train, torch.device("cpu")), pool, np.flatnonzero(~train.has_gaze))
    warped, mixed = [], []
    for it in range(4):
        batch, g = maker(it)
        idx = stream_indices(pool, maker.lbs, it, cfg.seed, 0)  # the items BatchMaker drew, in its order
        planned = np.array([result["planned"][train.keys[i]] for i in idx])
        for j in range(len(idx)):
            warped.append(share_on_label(batch.l_heat[j].numpy(), batch.l_lab[j].numpy()) / planned[j])
        ha, hb, ya, yb = batch.l_heat[0::2], batch.l_heat[1::2], batch.l_lab[0::2], batch.l_lab[1::2]
        boxes = random_box_masks(len(ha), SIZE, g, torch.device("cpu"))
        m = gaze_masks(ha, batch.l_gaze[0::2], boxes, cfg.gazemix_quantile, cfg.gazemix_dilation_px)
        heat, lab = mix_heat(ha, hb, m), mix(ya.float(), yb.float(), m).long()
        for j in range(len(ha)):
            mixed.append(share_on_label(heat[j].numpy(), lab[j].numpy()) / min(planned[2 * j], planned[2 * j + 1]))
    assert min(warped) >= MIN_SHARE and min(mixed) >= MIN_SHARE, (np.round(warped, 3), np.round(mixed, 3))
    print(f"\nSHARE augmented: {len(warped)} items, share / planned min {min(warped):.3f}; GazeMix {len(mixed)} "
          f"pairs, min {min(mixed):.3f}")  # fmt: skip


# ---------------------------------------------------------------- refusals


def train_cli(data: Path, store: Path, out: Path):
    args = ["train", "--data", data, "--gaze-dir", store, "--out", out, "--size", SIZE, "--labeled", 1]
    return CliRunner().invoke(hgdtgl.cli.main, [str(a) for a in args + ["--iterations", 2, "--device", "cpu"]])


def one_line_error(r) -> str:
    """The error as a terminal shows it: one line (tqdm's bars, cleared with carriage returns, leave none)."""
    lines = [line.rsplit("\r", 1)[-1] for line in r.output.split("\n")]
    lines = [line for line in lines if line.strip()]
    assert r.exit_code != 0 and len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


@pytest.fixture(scope="module")
def transposed_store(nnunet, tmp_path_factory) -> Path:
    """The store rendered from the same fixations on a copy of imagesTr whose ras_0000 was saved with its
    in-plane axes swapped (same array, the affine's first two columns exchanged): displayed as 6 x 32 x 40."""
    work = tmp_path_factory.mktemp("transposed")
    other = work / "imagesTr"
    shutil.copytree(nnunet.data / "imagesTr", other)
    nii = nib.load(other / "ras_0000.nii.gz")
    nib.save(nib.Nifti1Image(np.asarray(nii.dataobj), nii.affine[:, [1, 0, 2, 3]]), other / "ras_0000.nii.gz")
    run_cli(
        gazekit.cli.main, "render-heatmaps", nnunet.work / "fixations.parquet", "-o", work / "store",
        "--stimuli", other, "--sigma-frac", 0.05,
    )  # fmt: skip
    return work / "store"


def test_train_refuses_a_store_rendered_on_another_geometry(nnunet, transposed_store, tmp_path):
    line = one_line_error(train_cli(nnunet.data, transposed_store, tmp_path / "run"))
    assert "'ras_0000'" in line and "6x40x32 LPS" in line and "6x32x40 LPS" in line
    assert not (tmp_path / "run" / "checkpoint_latest.pt").exists()


def test_a_packed_dataset_keeps_its_geometry_for_a_later_join(nnunet, transposed_store, tmp_path):
    # before the fix the pack held no geometry and this store joined all 16 slices, ras_0000 transposed
    run_cli(hgdtgl.cli.main, "pack", nnunet.data, "--size", SIZE, "-o", tmp_path / "p.npz")
    line = one_line_error(train_cli(tmp_path / "p.npz", transposed_store, tmp_path / "run"))
    assert "'ras_0000'" in line and "6x40x32 LPS" in line and "6x32x40 LPS" in line


def test_train_refuses_a_store_whose_geometry_column_differs(ssl4mis, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(ssl4mis.store, store)
    m = pd.read_parquet(store / "manifest.parquet")
    assert set(m["geometry"]) == {f"{D}x{H}x{W}"}  # an HDF5 volume: shape, no orientation
    m.loc[m["stimulus_id"] == "patient002_frame01", "geometry"] = f"{D}x{W}x{H}"
    m.to_parquet(store / "manifest.parquet")
    line = one_line_error(train_cli(ssl4mis.data, store, tmp_path / "run"))
    assert "'patient002_frame01'" in line and f"?x{H}x{W}" in line and f"{D}x{W}x{H}" in line


def test_ids_that_match_nothing_are_an_error_for_training_and_a_warning_for_pack(nnunet, images, tmp_path):
    line = one_line_error(train_cli(images.data, nnunet.store, tmp_path / "run"))
    assert "none matched" in line and "'infirst_0000'" in line and "'img0'" in line
    r = CliRunner().invoke(
        hgdtgl.cli.main, ["pack", str(images.data), "--gaze-dir", str(nnunet.store), "-o", str(tmp_path / "p.npz")]
    )
    assert r.exit_code == 0, r.output
    assert "warning:" in r.stderr and "none matched" in r.stderr and "'img0'" in r.stderr
    assert json.loads(str(np.load(tmp_path / "p.npz")["meta"]))["n_with_gaze"] == 0


# ---------------------------------------------------------------- predict writes the input's geometry back


@pytest.mark.parametrize("case", ["ras", "sagittal"])
def test_predict_writes_the_mask_in_the_input_array_order(nnunet, tmp_path, monkeypatch, case):
    """A perfect model stand-in: ``predict_case`` returns the display-geometry label (the phantom image
    thresholded); the written file must equal the stored label exactly, with the input's shape and affine."""
    import hgdtgl.predict

    def perfect(model, image, size, device):  # image [slice, C, row, col] in the display geometry
        return (image[:, 0] > 0.5).astype(np.uint8)

    monkeypatch.setattr(hgdtgl.predict, "predict_case", perfect)
    src = nnunet.data / "imagesTr" / f"{case}_0000.nii.gz"
    spec = {"model": {"in_channels": 1, "size": SIZE, "num_classes": 2}}
    (out,) = hgdtgl.predict.predict(spec, None, src, tmp_path / "pred.nii.gz", None, torch.device("cpu"))
    written, image = nib.load(out), nib.load(src)
    stored = np.asarray(nib.load(nnunet.data / "labelsTr" / f"{case}.nii.gz").dataobj)
    assert written.shape == image.shape == stored.shape
    assert np.array_equal(written.affine, image.affine)
    assert np.array_equal(np.asarray(written.dataobj), stored)


def test_nnunet_gaze_keyed_by_the_case_joins_too(nnunet, tmp_path):
    """Gaze simulated on labelsTr alone (ids ``case``, the label files shown) joins the same items."""
    labels = sorted((nnunet.data / "labelsTr").glob("*.nii.gz"))
    gaze_store(tmp_path, labels, nnunet.data / "labelsTr")
    assert set(pd.read_parquet(tmp_path / "store" / "manifest.parquet")["stimulus_id"]) == set(nnunet.volumes)
    train, _ = prepare_data(config(nnunet.data, tmp_path / "run", tmp_path / "store", labeled=2))
    report("nifti keyed by case", check_join(train, tmp_path, nnunet.labels, nnunet=True))


def test_nifti_heatmap_volumes_lie_on_the_label_in_world_coordinates(nnunet, tmp_path):
    """``render-heatmaps --nifti``: each heatmap volume, resampled voxel by voxel onto its label file's grid
    through the two affines (both are permutations and flips of the same grid), lies on that label."""
    run_cli(
        gazekit.cli.main, "render-heatmaps", nnunet.work / "fixations.parquet", "-o", tmp_path / "store",
        "--stimuli", nnunet.data / "imagesTr", "--sigma-frac", 0.05, "--nifti",
    )  # fmt: skip
    planned = planned_shares(nnunet.work / "session", nnunet.labels, True)
    for case, lab in nnunet.volumes.items():
        heat_nii = nib.load(tmp_path / "store" / "heatmaps" / f"{case}_0000.nii.gz")
        lab_nii = nib.load(nnunet.data / "labelsTr" / f"{case}.nii.gz")
        idx = np.indices(lab_nii.shape).reshape(3, -1)
        to_heat = np.linalg.inv(heat_nii.affine) @ lab_nii.affine
        hidx = np.rint(to_heat[:3, :3] @ idx + to_heat[:3, 3:]).astype(int)
        heat = np.asarray(heat_nii.dataobj)[tuple(hidx)].reshape(lab_nii.shape)
        display, _ = ids.nifti_to_display(heat, lab_nii.affine)  # the label's display: the phantom
        for k in np.flatnonzero(lab.reshape(D, -1).any(axis=1)):
            assert share_on_label(display[k], lab[k]) >= MIN_SHARE * planned[(case, k)], (case, k)
