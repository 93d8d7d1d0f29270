"""Metrics against hand-computed cases, MONAI's DiceMetric and an independent numpy version of medpy's
hd95 / asd (distance transforms instead of the library's KD-tree)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from hgdtgl.evaluate import binary_metrics, case_metrics, summarise


def medpy_surface_distances(result, reference, spacing=None):
    """medpy.metric.binary.__surface_distances, written out with scipy distance transforms."""
    result, reference = np.atleast_1d(result.astype(bool)), np.atleast_1d(reference.astype(bool))
    fp = ndimage.generate_binary_structure(result.ndim, 1)
    result_border = result ^ ndimage.binary_erosion(result, structure=fp, iterations=1)
    reference_border = reference ^ ndimage.binary_erosion(reference, structure=fp, iterations=1)
    dt = ndimage.distance_transform_edt(~reference_border, sampling=spacing)
    return dt[result_border]


def medpy_hd95(result, reference, spacing=None):
    return np.percentile(
        np.hstack(
            (medpy_surface_distances(result, reference, spacing), medpy_surface_distances(reference, result, spacing))
        ),
        95,
    )


def medpy_asd(result, reference, spacing=None):
    return medpy_surface_distances(result, reference, spacing).mean()


def test_hand_computed_cases():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[2:6, 2:6] = True  # 16 px
    b[3:7, 2:6] = True  # shifted one row: overlap 12
    m = binary_metrics(a, b)
    assert m["dice"] == pytest.approx(24 / 32) and m["jaccard"] == pytest.approx(12 / 20)
    p, g = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    p[0, 0], g[3, 4] = True, True  # single pixels 5 px apart (3-4-5)
    m = binary_metrics(p, g)
    assert (m["dice"], m["hd95"], m["asd"], m["empty_pred"]) == (0.0, 5.0, 5.0, 0)
    m = binary_metrics(p, g, spacing=(2.0, 1.0))  # rows 2 mm apart: sqrt(36 + 16)
    assert m["hd95"] == pytest.approx(np.sqrt(52))
    empty = binary_metrics(np.zeros((8, 8)), g)
    assert empty == {"dice": 0.0, "jaccard": 0.0, "hd95": 0.0, "asd": 0.0, "empty_pred": 1}
    both = binary_metrics(np.zeros((8, 8)), np.zeros((8, 8)))
    assert both["dice"] == 1.0 and both["empty_pred"] == 1
    assert np.isnan(binary_metrics(p, np.zeros((8, 8)))["hd95"])


@pytest.mark.parametrize("seed", range(4))
def test_hd95_asd_match_medpy_definitions_2d_and_3d(seed):
    rng = np.random.default_rng(seed)
    for shape, spacing in (((40, 50), None), ((6, 30, 30), (5.0, 1.2, 0.8))):
        noise = ndimage.gaussian_filter(rng.random(shape), 2)
        gt = noise > np.quantile(noise, 0.7)
        pred = ndimage.binary_dilation(gt, iterations=1) ^ (rng.random(shape) > 0.97)
        m = binary_metrics(pred, gt, spacing)
        assert m["hd95"] == pytest.approx(medpy_hd95(pred, gt, spacing), rel=1e-9)
        assert m["asd"] == pytest.approx(medpy_asd(pred, gt, spacing), rel=1e-9)
        inter = (pred & gt).sum()
        assert m["jaccard"] == pytest.approx(inter / (pred | gt).sum())


def test_dice_matches_monai():
    from monai.metrics import DiceMetric

    rng = np.random.default_rng(3)
    pred = rng.integers(0, 4, (5, 12, 12))
    gt = np.where(rng.random((5, 12, 12)) > 0.3, pred, rng.integers(0, 4, (5, 12, 12)))
    rows = case_metrics("c", pred, gt, ["rv", "myo", "lv"])
    oh = lambda a: torch.nn.functional.one_hot(torch.from_numpy(a), 4).permute(3, 0, 1, 2)[None].float()  # noqa: E731
    monai = DiceMetric(include_background=False, reduction="none")(oh(pred), oh(gt)).numpy()[0]
    assert [r["dice"] for r in rows] == pytest.approx(list(monai), rel=1e-6)


def test_summary_rows():
    rows = [
        {"case": "a", "class": "x", "dice": 0.5, "jaccard": 0.3, "hd95": 2.0, "asd": 1.0, "empty_pred": 0},
        {"case": "b", "class": "x", "dice": 0.0, "jaccard": 0.0, "hd95": 0.0, "asd": 0.0, "empty_pred": 1},
    ]
    t = summarise(rows)
    assert list(t.columns) == ["case", "class", "dice", "jaccard", "hd95", "asd", "empty_pred"]
    mean = t[(t["case"] == "mean")].iloc[0]
    assert mean["dice"] == 0.25 and mean["hd95"] == 1.0 and mean["empty_pred"] == 1
    assert t[(t["case"] == "std")].iloc[0]["dice"] == 0.25
