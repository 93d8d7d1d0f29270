"""Gaze-supervised methods (GazeMedSeg, MICCAI 2024): ``gazesup`` trains on gaze pseudo-masks only (no mask is
read), ``gazepseudo`` on masks + gaze pseudo-masks of the unlabeled images. Their loss terms are checked against
GazeMedSeg's formulas (utils/losses.py, models/multi_level.py) written out here the way that code writes them."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from gazekit.errors import GazekitError
from hgdtgl.checkpoints import load_checkpoint, model_from_checkpoint
from hgdtgl.config import TrainConfig
from hgdtgl.engine import train
from hgdtgl.losses import bce_levels, gaze_pseudo_masks, level_consistency, propagate
from hgdtgl.methods import GazePseudo, GazeSup
from hgdtgl.models import build_model
from tests.hgdtgl_testdata import blob, make_images, make_label_maps, make_store


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> tuple[Path, Path, Path]:
    """An images/ + masks/ folder (img00-img09 training, img10-11 validation), a copy without masks/, and a
    store with gaze on img00-img08 (img09 has none)."""
    root = tmp_path_factory.mktemp("gazesup")
    data = make_images(root / "kv")
    maps = {}
    for i in range(9):
        m = cv2.imread(str(data / "masks" / f"img{i:02d}.jpg"), cv2.IMREAD_GRAYSCALE) > 127
        maps[(f"img{i:02d}", None)] = blob(m.astype(np.uint8), 4.0).astype(np.float32)
    store = make_store(root / "store", maps, scales=(1, 2))
    nomask = root / "nomask"
    shutil.copytree(data, nomask)
    shutil.rmtree(nomask / "masks")
    return data, nomask, store


def tiny(data: Path, store: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        data=str(data),
        gaze_dir=str(store),
        out=str(out),
        method="gazesup",
        iterations=6,
        batch_size=4,
        labeled_bs=2,
        size=32,
        base_channels=4,
        val_every=3,
        device="cpu",
        lr=0.01,
    )
    base.update(kw)
    return TrainConfig(**base)


# ---------------------------------------------------------------- the terms against GazeMedSeg's formulas


def test_pseudo_masks_threshold_the_heatmap_scaled_to_maximum_one():
    row = torch.tensor([0.0, 0.2, 0.35, 0.5, 1.0])
    density = (row / row.sum()).expand(2, 5, 5).clone()  # a density (sums to 1 per row block), max 1 after scaling
    density[1] = 0  # an image without gaze: empty masks
    masks = gaze_pseudo_masks(density, (0.5, 0.3))
    assert masks.shape == (2, 2, 5, 5)
    assert masks[0, 0, 0].tolist() == [0, 0, 0, 1, 1]  # >= 0.5 of the maximum
    assert masks[0, 1, 0].tolist() == [0, 0, 1, 1, 1]  # >= 0.3
    assert masks[1].sum() == 0
    assert torch.equal(gaze_pseudo_masks(density * 7.0, (0.5, 0.3)), masks)  # any scale of the map: same masks
    assert TrainConfig(data="d", out="o").gaze_thresholds == (0.5, 0.3)  # GazeMedSeg's 2 Kvasir levels
    assert dataclasses.replace(TrainConfig(data="d", out="o"), gaze_levels=3).gaze_thresholds == (0.5, 0.3, 0.4)


def _gazemedseg_consistency(logits_l, compare_l=None):
    """utils/losses.py multi_level_consistency_loss / multi_level_propgation_consistency_loss, as written there."""
    prob_vec_l = [torch.cat([1 - torch.sigmoid(x), torch.sigmoid(x)], dim=1) for x in logits_l]
    side = [torch.cat([1 - torch.sigmoid(x), torch.sigmoid(x)], dim=1) for x in compare_l] if compare_l else prob_vec_l
    loss_l = []
    for i, prob in enumerate(side):
        comp = prob_vec_l[:i] + prob_vec_l[i + 1 :]
        loss = 0
        for c in comp:
            loss -= (prob * c.detach()).sum(1).mean() / len(comp)
        loss_l.append(loss)
    return torch.stack(loss_l)


def _gazemedseg_propagate(feat, kernel_size=5, dilation=2):
    """models/multi_level.py feature_propogate (unfold of the neighbours, SAME padding)."""
    b, c, h, w = feat.shape
    padding = (kernel_size + (dilation - 1) * (kernel_size - 1)) // 2
    nb = F.unfold(feat, kernel_size=kernel_size, padding=padding, dilation=dilation).reshape(b, c, -1, h, w)
    corr = torch.einsum("bchw,bcnhw->bhwn", feat, nb).clamp(min=0).softmax(dim=-1)
    return torch.einsum("bcnhw,bhwn->bchw", nb, corr)


@pytest.mark.parametrize("levels", [2, 3])
def test_level_consistency_has_gazemedsegs_gradient_and_is_theirs_plus_one_per_level(levels):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, levels, 6, 7, generator=g, requires_grad=True)
    ours = level_consistency(logits)
    theirs = _gazemedseg_consistency([logits[:, i : i + 1] for i in range(levels)]).sum()
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()) + levels, abs=1e-6)
    (grad_ours,) = torch.autograd.grad(ours, logits)
    (grad_theirs,) = torch.autograd.grad(theirs, logits)
    assert torch.allclose(grad_ours, grad_theirs, atol=1e-7)
    # prop mode: each level's propagated side against the other levels
    prop = torch.randn(3, levels, 6, 7, generator=g)
    theirs_prop = _gazemedseg_consistency(
        [logits[:, i : i + 1] for i in range(levels)], [p[:, None] for p in prop.unbind(1)]
    )
    assert float(level_consistency(logits, prop).detach()) == pytest.approx(
        float(theirs_prop.sum().detach()) + levels, abs=1e-6
    )
    assert float(level_consistency(logits[:, :1])) == 0.0  # one level: nothing to agree with


def test_feature_propagation_equals_the_unfold_version():
    feat = torch.randn(2, 5, 9, 11, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(propagate(feat), _gazemedseg_propagate(feat), atol=1e-5)


def test_bce_is_summed_over_levels_as_gazemedseg_sums_its_criterion():
    g = torch.Generator().manual_seed(2)
    logits, masks = torch.randn(2, 2, 4, 4, generator=g), (torch.rand(2, 2, 4, 4, generator=g) > 0.5).float()
    expected = sum(F.binary_cross_entropy_with_logits(logits[:, i], masks[:, i]) for i in range(2))
    assert float(bce_levels(logits, masks)) == pytest.approx(float(expected), rel=1e-6)


def test_prediction_is_the_mean_of_the_heads_probabilities():
    model = build_model(
        {"in_channels": 3, "num_classes": 2, "base_channels": 4, "mgp": False, "heads": 3, "dropout": False}
    )
    model.eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        heads, feat = model(x, heads=True)
        fused, perception = model(x)
    assert heads.shape == (2, 3, 32, 32) and feat.shape[1] == 4 and perception is None
    mean_p = torch.sigmoid(heads).mean(dim=1)
    prob = fused.softmax(dim=1)
    assert torch.allclose(prob[:, 1], mean_p, atol=1e-5) and torch.allclose(prob[:, 0], 1 - mean_p, atol=1e-5)
    assert torch.equal(fused.argmax(dim=1), (mean_p > 0.5).long())
    with pytest.raises(ValueError, match="binary"):
        build_model({"in_channels": 1, "num_classes": 4, "base_channels": 4, "heads": 2})


def test_training_pools():
    labeled = np.array([1, 1, 0, 0, 0, 0], bool)
    has = np.array([1, 0, 1, 0, 1, 1], bool)
    pool, unl, msg = GazeSup.train_pools(labeled, has)
    assert pool.tolist() == [0, 2, 4, 5] and len(unl) == 0 and "2 without gaze skipped" in msg
    lab, unl, msg = GazePseudo.train_pools(labeled, has)
    assert lab.tolist() == [0, 1] and unl.tolist() == [2, 4, 5] and "1 without gaze skipped" in msg


# ---------------------------------------------------------------- training


def test_gazesup_reads_no_mask(images, tmp_path, capfd):
    """Without masks/ it trains (no validation); with masks/ it trains the very same weights (no training mask
    is read) and validates on them; evaluate / export / predict take the multi-head checkpoint."""
    data, nomask, store = images
    out_a = train(tiny(nomask, store, tmp_path / "a"))
    err = capfd.readouterr().err
    assert "trains on the 9 images with gaze (no mask read); 1 without gaze skipped" in err
    assert "no validation" in err
    out_b = train(tiny(data, store, tmp_path / "b"))
    a, b = load_checkpoint(out_a / "checkpoint_latest.pt"), load_checkpoint(out_b / "checkpoint_latest.pt")
    assert a["model"]["heads"] == 2 and a["data"]["n_labeled"] == 0
    assert all(torch.equal(a["student"][k], b["student"][k]) for k in a["student"])
    ma, mb = pd.read_csv(out_a / "metrics.csv"), pd.read_csv(out_b / "metrics.csv")
    assert "val_dice_mean" not in ma.columns and mb["val_dice_mean"].notna().all()
    assert np.allclose(ma["loss_bce"], mb["loss_bce"]) and (ma["loss_cons"] > 0).all()
    # the validation Dice is the Dice of the mean-probability prediction of the best checkpoint
    model = model_from_checkpoint(load_checkpoint(out_b / "checkpoint_best.pt")).eval()
    best = mb.loc[mb["val_dice_mean"].idxmax()]
    dices = []
    for name in ("img10", "img11"):
        img = cv2.cvtColor(cv2.imread(str(data / "images" / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(cv2.resize(img, (32, 32), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1))
        with torch.no_grad():
            heads, _ = model(x[None].float() / 255, heads=True)
            p = F.interpolate(torch.sigmoid(heads).mean(dim=1, keepdim=True), size=img.shape[:2], mode="bilinear")
        pred = (p[0, 0] > 0.5).numpy()
        gt = cv2.imread(str(data / "masks" / f"{name}.jpg"), cv2.IMREAD_GRAYSCALE) >= 128
        dices.append(2 * (pred & gt).sum() / (pred.sum() + gt.sum()) if pred.sum() + gt.sum() else 1.0)
    # bilinear up-sampling of log-probabilities (evaluation) vs of probabilities (here): a pixel or two may differ
    assert best["val_dice_mean"] == pytest.approx(np.mean(dices), abs=0.02)


def test_gaze_methods_refuse_multiclass_data_and_need_gaze(tmp_path):
    data = make_label_maps(tmp_path / "lm")
    store = make_store(tmp_path / "store", {(f"c{i}", None): blob(np.ones((36, 36), np.uint8)) for i in range(8)})
    for method in ("gazesup", "gazepseudo"):
        with pytest.raises(GazekitError, match="binary dataset for method .*gaze says where a reader looked"):
            train(tiny(data, store, tmp_path / method, method=method, labeled=2))
    kv = make_images(tmp_path / "kv")
    with pytest.raises(GazekitError, match="heatmaps for the training images"):
        train(tiny(kv, None, tmp_path / "nogaze", gaze_dir=None))


def test_gazepseudo_trains_on_masks_and_gaze_pseudo_masks(images, tmp_path, capfd):
    data, _, store = images
    out = train(tiny(data, store, tmp_path / "p", method="gazepseudo", labeled=4))
    assert "pseudo-masks on the 5 unlabeled images with gaze; 1 without gaze skipped" in capfd.readouterr().err
    m = pd.read_csv(out / "metrics.csv")
    assert {"loss_sup", "loss_gaze_pseudo"} <= set(m.columns) and m["val_dice_mean"].notna().all()
    assert "heads" not in load_checkpoint(out / "checkpoint_best.pt")["model"]


def test_runner_trains_gazesup_without_masks_and_gazepseudo_at_the_budget():
    from experiments import runner, tables

    opts = {"data": "kv", "splits": "sp", "gaze_dir": "store", "gaze_scales": "1", "lr": 0.003, "precision": "none"}
    sup_plan = runner.plan_row("kvasir", "gazesup", "cpu-20", 0, budget=81, **opts)
    pseudo_plan = runner.plan_row("kvasir", "gazepseudo", "cpu-20", 0, budget=81, **opts)
    assert (sup_plan.name, pseudo_plan.name) == ("gazesup_l0_s0", "gazepseudo_l81_s0")
    sup, pseudo = runner.train_command(sup_plan), runner.train_command(pseudo_plan)
    assert sup[sup.index("--method") + 1] == "gazesup" and "--labeled" not in sup
    assert pseudo[pseudo.index("--method") + 1] == "gazepseudo" and pseudo[pseudo.index("--labeled") + 1] == "81"
    for cmd in (sup, pseudo):
        assert cmd[cmd.index("--gaze-dir") + 1] == "store" and "--gaze-scales" not in cmd
    assert {"gazesup", "gazepseudo"} <= set(tables.ROW_ORDER) <= set(tables.ROW_LABEL)


def test_resume_with_other_levels_is_refused_in_one_line(images, tmp_path):
    _, nomask, store = images
    cfg = tiny(nomask, store, tmp_path / "r", iterations=3)
    train(cfg)
    with pytest.raises(GazekitError, match=r"model\.heads.*3 as this run's data/options give, got 2"):
        train(dataclasses.replace(cfg, gaze_levels=3, iterations=6, resume=True))
