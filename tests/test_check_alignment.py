"""examples/check_alignment.py on a tiny images dataset (the asymmetric phantoms of tests/test_alignment.py with
simulated gaze): an aligned store scores near what the simulated reader planned, in hgdtgl's view and in
gazekit's; the same store flipped upside down (a misaligned join the geometry check cannot see: same shape)
scores far lower, near the 180-degree control."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import gazekit
from gazekit.store import write_index, write_npz
from tests.test_alignment import SIZE, gaze_store, make_images, planned_shares

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("check_alignment", ROOT / "examples" / "check_alignment.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Five phantom images (40 x 32) with gaze simulated on their masks; the store and a flipped copy of it."""
    work = tmp_path_factory.mktemp("check")
    labels = make_images(work / "data")
    gaze_store(work, [work / "data" / "masks"], work / "data" / "images", work / "data" / "images")
    store = gazekit.open_store(work / "store")
    flipped = work / "flipped"
    flipped.mkdir()
    for sid, _ in store.keys():  # every map at every scale turned upside down, the manifest as it was
        maps = {s: store.get(sid, None, s)[None, ::-1] for s in store.scales}
        write_npz(flipped / store.manifest.loc[store.manifest["stimulus_id"] == sid, "file"].iloc[0], maps, [-1])
    params = {k: v for k, v in store.params.items() if k not in ("format", "gazekit_version")}
    write_index(flipped, store.manifest, {**params, "dtype": "float32"})
    planned = planned_shares(work / "session", labels, nnunet=False)
    return work, planned


def test_aligned_store_scores_its_planned_share_and_a_flipped_one_does_not(check, dataset):
    work, planned = dataset
    data = str(work / "data")
    r = check.measure(data, "images", None, str(work / "store"), SIZE, 2, work / "session")
    assert r["n_items"] == r["n_with_gaze"] == 5
    plan = r["planned"]  # on the label dilated by 4 grid px scaled to the image (5 rows x 4 columns here) ...
    assert (plan >= np.array([planned[k] for k in r["keys"]]) - 1e-9).all()  # ... holds the 4-px disc's
    assert plan.min() >= 0.8  # the reader looked mostly at the labels
    assert (r["hgdtgl"] >= 0.9 * plan).all(), (r["hgdtgl"], plan)
    assert (r["gazekit"] >= 0.9 * plan).all(), (r["gazekit"], plan)
    assert np.abs(r["hgdtgl"] - r["gazekit"]).max() < 0.05  # the two views agree item by item
    assert r["rotated"].mean() < 0.2
    # the plan rendered with the store's sigma: what the aligned store holds, up to the measured fixations' noise
    assert np.abs(r["gazekit"] - r["planned_rendered"]).max() < 0.1, (r["gazekit"], r["planned_rendered"])
    bad = check.measure(data, "images", None, str(work / "flipped"), SIZE, 2, work / "session")
    assert bad["n_with_gaze"] == 5  # the join accepts it (same geometry) ...
    assert bad["hgdtgl"].mean() < 0.3 and bad["gazekit"].mean() < 0.3  # ... and the measure sees it
    assert bad["hgdtgl"].mean() < r["hgdtgl"].mean() - 0.5
    assert bad["gazekit"].mean() < bad["planned_rendered"].mean() - 0.5  # far below what an aligned store holds
    a, g, p, f, t = (float(np.mean(x)) for x in (r["hgdtgl"], r["gazekit"], plan, bad["hgdtgl"], r["rotated"]))
    print(
        f"\nSHARE check_alignment: aligned {a:.3f} (gazekit {g:.3f}, planned {p:.3f}), flipped {f:.3f}, turned {t:.3f}"
    )


def test_the_csv_row_of_a_dataset_is_replaced(check, dataset, tmp_path, monkeypatch):
    work, _ = dataset
    out = tmp_path / "alignment.csv"
    measure = check.measure  # on the phantom folder whatever the dataset's own folder, list and labeled set
    monkeypatch.setattr(check, "measure", lambda *a: measure(str(work / "data"), "images", None, a[3], SIZE, 2, *a[6:]))
    for store in ("flipped", "store"):  # the second run of a dataset replaces its row
        check.main(["--dataset", "scr", "--store", str(work / store), "--data", str(work / "data"), "--csv", str(out)])
    rows = list(csv.DictReader(open(out)))
    assert [r["dataset"] for r in rows] == ["scr"] and list(rows[0]) == check.COLUMNS
    assert rows[0]["store"].startswith("simulated; ") and str(work / "store") in rows[0]["store"]
    assert float(rows[0]["hgdtgl_share_mean"]) > 0.7 > float(rows[0]["rotated180_share_mean"])
    assert float(rows[0]["planned_share_mean"]) > 0.8  # the session next to the store, found by default


def test_store_description_names_the_grid(check, dataset):
    work, _ = dataset
    desc = check.store_description("kvasir", str(work / "store"))
    assert desc.startswith("real gaze") and desc.endswith("sigma-frac 0.05, image size")
