"""hgdtgl train --val-fraction: a seeded, case-disjoint validation split held out of the training list, and
a run that validates on it; a clear warning when there is no validation at all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gazekit.errors import GazekitError
from hgdtgl.checkpoints import load_checkpoint, model_from_checkpoint
from hgdtgl.cli import main
from hgdtgl.config import TrainConfig
from hgdtgl.data.formats import TrainData, load_train
from hgdtgl.data.holdout import holdout_cases, holdout_mask, split_validation
from hgdtgl.engine import NO_VALIDATION, prepare_training
from hgdtgl.evaluate import evaluate_cases, mean_dice
from tests.hgdtgl_testdata import make_acdc, make_images

GROUPS = [f"p{g}" for g, n in enumerate([3, 2, 4, 1, 2, 3, 2, 1, 4, 2]) for _ in range(n)]  # 10 cases, 24 images


def test_holdout_is_seeded_and_disjoint_by_case():
    splits = {}
    for seed in range(6):
        held = holdout_mask(GROUPS, 0.3, seed)
        np.testing.assert_array_equal(held, holdout_mask(GROUPS, 0.3, seed))  # deterministic for a seed
        inside, outside = set(np.asarray(GROUPS)[held]), set(np.asarray(GROUPS)[~held])
        assert not inside & outside and inside | outside == set(GROUPS)  # every slice of a case on one side
        assert len(inside) == 3  # round(0.3 x 10) cases
        splits[seed] = tuple(sorted(inside))
    assert len(set(splits.values())) > 1  # the seed decides which
    with pytest.raises(GazekitError, match="leaves training"):
        holdout_mask(["a", "a", "b"], 0.9, 0)  # would hold out both cases


def test_holdout_cases_are_the_held_images_stacked_per_case():
    rng = np.random.default_rng(0)
    n = len(GROUPS)
    data = TrainData(
        rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8),
        rng.integers(0, 3, (n, 8, 8), dtype=np.uint8),
        [(g, i) for i, g in enumerate(GROUPS)],
        list(GROUPS),
        3,
        "ssl4mis",
        has_gaze=np.arange(n) % 2 == 0,
    )
    train, cases = split_validation(data, 0.3, 7, "DATA")
    held = holdout_mask(GROUPS, 0.3, 7)
    assert len(train.keys) == n - held.sum() and not set(train.groups) & {c.name for c in cases}
    np.testing.assert_array_equal(train.has_gaze, data.has_gaze[~held])
    for case in cases:
        idx = [i for i, g in enumerate(GROUPS) if g == case.name]
        np.testing.assert_allclose(case.image, data.images[idx].astype(np.float32) / 255.0)
        np.testing.assert_array_equal(case.label, data.labels[idx])


def test_image_folder_splits_by_image(tmp_path):
    root = make_images(tmp_path / "imgs", n=12)
    (root / "val.list").unlink()  # no validation split: all 12 images are the training list
    cfg = TrainConfig(data=str(root), out=str(tmp_path / "r"), method="supervised", size=32, val_fraction=0.25)
    data, labeled, held = prepare_training(cfg)
    names = [f"img{i:02d}" for i in range(12)]
    expected = [n for n, h in zip(names, holdout_mask(names, 0.25, cfg.seed), strict=True) if h]
    assert [c.name for c in held] == expected and len(expected) == 3
    assert [k for k, _ in data.keys] == [n for n in names if n not in expected] and labeled.all()
    assert all(c.image.shape == (1, 3, 32, 32) for c in held)  # one image per case, RGB, at the training size


def test_run_validates_on_the_held_out_cases(tmp_path):
    data = make_acdc(tmp_path / "acdc", patients=4, slices_per_patient=3)
    (data / "val.list").unlink()  # a dataset without a validation split
    base = ["train", "--data", str(data), "--method", "supervised", "--iterations", "6", "--val-every", "3",
            "--batch-size", "2", "--labeled-bs", "2", "--size", "32", "--base-channels", "4", "--device", "cpu",
            "--amp", "none", "--seed", "5"]  # fmt: skip
    r = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "none")])
    assert r.exit_code == 0, r.output
    assert NO_VALIDATION in r.stderr and "val_dice_mean" not in pd.read_csv(tmp_path / "none" / "metrics.csv")

    out = tmp_path / "held"
    r = CliRunner().invoke(main, [*base, "--val-fraction", "0.5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "no validation" not in r.stderr
    full = load_train(data, 32)
    patients = list(dict.fromkeys(full.groups))
    mask = holdout_mask(full.groups, 0.5, 5)
    expected = list(dict.fromkeys(np.asarray(full.groups)[mask]))
    assert len(expected) == 2 and (out / "val_holdout.list").read_text().split() == expected
    assert f"validation: 2 of {len(patients)} training patients/cases held out (--val-fraction 0.5, seed 5)" in r.stderr
    ckpt = load_checkpoint(out / "checkpoint_latest.pt")
    assert ckpt["data"]["n_train"] == 6 and ckpt["data"]["val_holdout"] == expected  # 2 patients x 3 slices left
    m = pd.read_csv(out / "metrics.csv")
    assert list(m["iteration"]) == [3, 6] and m["val_dice_mean"].notna().all()
    # the last validation is the Dice of the final weights on exactly those cases
    model = model_from_checkpoint(ckpt)
    table = evaluate_cases(model, holdout_cases(full, mask, "x"), ckpt["data"]["class_names"], 32, "cpu")
    assert m["val_dice_mean"].iloc[-1] == pytest.approx(mean_dice(table), abs=1e-6)


def test_a_method_without_masks_cannot_hold_out_unlabelled_images(tmp_path):
    root = make_images(tmp_path / "imgs", n=8)
    (root / "val.list").unlink()
    cfg = TrainConfig(data=str(root), out=str(tmp_path / "r"), method="gazesup", size=32, val_fraction=0.25)
    with pytest.raises(GazekitError, match="expected a method that reads masks/ .gazesup does not"):
        prepare_training(cfg)
