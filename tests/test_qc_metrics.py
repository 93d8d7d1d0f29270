"""Saliency and agreement metrics against hand-computed small cases (MIT saliency benchmark formulas)."""

from __future__ import annotations

import numpy as np
import pytest

from gazekit.qc import metrics as m


def test_nss_by_hand():
    sal = np.array([[0.0, 1.0], [2.0, 3.0]])
    fix = np.array([[False, False], [False, True]])
    # mean 1.5, std (N-1) sqrt(5/3): (3 - 1.5) / sqrt(5/3)
    assert m.nss(sal, fix) == pytest.approx(1.5 / np.sqrt(5 / 3))
    assert np.isnan(m.nss(sal, np.zeros((2, 2), bool)))


def test_cc_by_hand():
    a = np.array([[1.0, 0.0], [0.0, 0.0]])
    b = np.array([[1.0, 2.0], [3.0, 4.0]])
    # centred: a (.75, -.25, -.25, -.25), b (-1.5, -.5, .5, 1.5): cov -1.5, ss 0.75 and 5
    assert m.cc(a, b) == pytest.approx(-1.5 / np.sqrt(0.75 * 5))
    assert m.cc(b, 2 * b + 1) == pytest.approx(1.0)


def test_kld_by_hand():
    sal = np.array([[1.0, 1.0]])
    ref = np.array([[1.0, 0.0]])
    # P = (.5, .5), Q = (1, 0): 1 * log(1 / .5) + 0
    assert m.kld(sal, ref) == pytest.approx(np.log(2.0))
    assert m.kld(ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_sim_by_hand():
    sal = np.array([[0.0, 1.0], [2.0, 3.0]])  # min-max (0, 1/3, 2/3, 1) / 2
    ref = np.array([[0.0, 0.0], [1.0, 1.0]])  # (0, 0, .5, .5)
    assert m.sim(sal, ref) == pytest.approx(0 + 0 + 1 / 3 + 1 / 2)


def test_auc_judd_by_hand():
    sal = np.array([[0.1, 0.4], [0.35, 0.8]])
    fix = np.array([[False, False], [True, True]])
    # thresholds .8 then .35: (fp, tp) = (0, 0), (0, .5), (.5, 1), (1, 1) -> 0.875
    assert m.auc_judd(sal, fix, jitter=False) == pytest.approx(0.875)
    assert m.auc_judd(sal, fix, jitter=True) == pytest.approx(0.875)  # tiny jitter keeps the order here
    assert m.auc_judd(sal, np.array([[False, True], [False, True]]), jitter=False) == pytest.approx(1.0)


def test_agreement_by_hand():
    target = np.zeros((4, 6), bool)
    target[1:3, 2:5] = True  # 6 px
    # points: inside (2.5, 1.2), inside (4.99, 2.9), outside (1.9, 1.5), off image (7, 1)
    assert m.share_inside([2.5, 4.99, 1.9, 7.0], [1.2, 2.9, 1.5, 1.0], target) == pytest.approx(0.5)
    heat = np.zeros((4, 6))
    heat[1:3, 3:6] = 1.0  # 6 px, 4 of them in the target
    assert m.heatmap_dice(heat, target, 0.5) == pytest.approx(2 * 4 / 12)
    heat[1, 2] = 0.5  # exactly at the threshold after min-max normalisation: counted (">= 0.5", README)
    assert m.heatmap_dice(heat, target, 0.5) == pytest.approx(2 * 5 / 13)
    assert m.heatmap_mask(np.full((2, 2), 3.0)).sum() == 0  # a flat map selects nothing
    assert m.iou(heat >= 0.5, target) == pytest.approx(5 / 8)  # 5 shared of 7 + 6 - 5 pixels
    assert m.dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    rows, cols = m.positives_at([0.0, 5.9], [3.99, 0.0], (4, 6)).nonzero()
    assert rows.tolist() == [0, 3] and cols.tolist() == [5, 0]
