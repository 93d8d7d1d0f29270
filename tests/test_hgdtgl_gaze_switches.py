"""The gaze loss's recipe switches (DESIGN.md section 4): --gaze-loss-stage, --gaze-loss-ramp, --gaze-loss-reduce,
--gaze-loss-images. Their defaults give the very tensors of the gaze loss as it was (weight x the sum over scales
of the KL, every image with gaze, every stage); each switch changes what it says and nothing else."""

from __future__ import annotations

import copy
import math

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner

from hgdtgl.cli import main
from hgdtgl.config import TrainConfig
from hgdtgl.data.batches import Batch
from hgdtgl.losses import gaze_kl
from hgdtgl.methods import make_method
from hgdtgl.models import build_model
from tests.hgdtgl_testdata import blob, make_images, make_store

SIZE, NL, NU = 32, 4, 4
PRE, RAMP = 10, 50  # pre-training iterations, ramp-up iterations


def config(method: str = "hgdtgl", **kw) -> TrainConfig:
    base = dict(data="d", out="o", method=method, iterations=100, pretrain_iterations=PRE, rampup_iterations=RAMP)
    base.update(batch_size=NL + NU, labeled_bs=NL, size=SIZE, mgp=True)
    base.update(kw)
    return TrainConfig(**base).resolved()


@pytest.fixture(scope="module")
def setup():
    """A student with MGP heads (no dropout: every forward of the same input gives the same maps), its teacher,
    and one batch whose images all have gaze (a blob on a disc) except the last unlabeled one."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    student = build_model({"in_channels": 1, "num_classes": 2, "base_channels": 4, "mgp": True, "dropout": False})
    teacher = copy.deepcopy(student)
    n = NL + NU
    labels = np.zeros((n, SIZE, SIZE), np.uint8)
    for i in range(n):
        cv2.circle(labels[i], (8 + 2 * i, 10 + i), 5 + i % 3, 1, -1)
    heat = torch.from_numpy(np.stack([blob(lab, 3.0) for lab in labels]).astype(np.float32))
    img = torch.from_numpy(labels).float()[:, None] * 0.6 + 0.2 * torch.rand(n, 1, SIZE, SIZE, generator=g)
    has = torch.ones(n, dtype=torch.bool)
    has[-1] = False
    heat[-1] = 0
    lab = torch.from_numpy(labels).long()
    batch = Batch(img[:NL], lab[:NL], heat[:NL], has[:NL], img[NL:], heat[NL:], has[NL:], torch.zeros(NU, 1, 1, 1))
    return student, teacher, batch


def losses(setup, cfg: TrainConfig, it: int) -> dict[str, torch.Tensor]:
    student, teacher, batch = setup
    student.train()
    with torch.no_grad():
        return make_method(cfg).losses(it, student, teacher, batch, torch.Generator().manual_seed(7))


def test_defaults_are_the_gaze_loss_as_it_was(setup):
    student, _, b = setup
    cfg = config("mt")
    assert (cfg.gaze_loss_stage, cfg.gaze_loss_ramp, cfg.gaze_loss_reduce, cfg.gaze_loss_images) == (
        "all",
        False,
        "sum",
        "all",
    )
    terms = losses(setup, cfg, 20)
    with torch.no_grad():
        _, perception = student(torch.cat([b.l_img, b.u_img]))
    heat, valid = torch.cat([b.l_heat, b.u_heat]), torch.cat([b.l_gaze, b.u_gaze])
    assert torch.equal(terms["gaze"], 0.1 * gaze_kl(perception, heat, valid))  # weight x sum over the 4 scales
    # naming the defaults changes no tensor, in either stage of hgdtgl
    explicit = dict(gaze_loss_stage="all", gaze_loss_ramp=False, gaze_loss_reduce="sum", gaze_loss_images="all")
    for it in (5, 20):
        a, e = losses(setup, config(), it), losses(setup, config(**explicit), it)
        assert a.keys() == e.keys() and all(torch.equal(a[k], e[k]) for k in a)


def test_stage_self_turns_the_gaze_loss_off_in_pre_training_only(setup):
    pre_default, pre_self = losses(setup, config(), 5), losses(setup, config(gaze_loss_stage="self"), 5)
    assert float(pre_default["gaze"]) > 0 and float(pre_self["gaze"]) == 0.0
    assert torch.equal(pre_default["mix"], pre_self["mix"])  # the rest of pre-training is unchanged
    self_default, self_self = losses(setup, config(), 20), losses(setup, config(gaze_loss_stage="self"), 20)
    assert all(torch.equal(self_default[k], self_self[k]) for k in self_default)


def test_ramp_follows_the_consistency_ramp(setup):
    ramp = config(gaze_loss_ramp=True)
    for it, factor in ((5, math.exp(-5)), (PRE, math.exp(-5)), (PRE + RAMP // 2, math.exp(-5 * 0.25)), (PRE + RAMP, 1)):
        d, r = losses(setup, config(), it), losses(setup, ramp, it)
        assert float(r["gaze"]) == pytest.approx(float(d["gaze"]) * factor, rel=1e-6)
        assert all(torch.equal(d[k], r[k]) for k in d if k != "gaze")
        if it >= PRE:  # the consistency term's own ramp, normalised by its weight, is the same factor
            assert make_method(ramp).ramp(it) / ramp.consistency == pytest.approx(factor)


@pytest.mark.parametrize("scales", [(1, 2, 4, 8), (1, 2)])
def test_reduce_mean_divides_by_the_number_of_scales(setup, scales):
    for it in (5, 20):
        s = losses(setup, config(gaze_scales=scales), it)
        m = losses(setup, config(gaze_scales=scales, gaze_loss_reduce="mean"), it)
        assert float(m["gaze"]) == pytest.approx(float(s["gaze"]) / len(scales), rel=1e-6)


def test_images_unlabeled_keeps_the_unlabeled_and_mixed_images(setup):
    student, _, b = setup
    cfg = config("mt", gaze_loss_images="unlabeled")
    terms = losses(setup, cfg, 20)
    with torch.no_grad():
        _, perception = student(torch.cat([b.l_img, b.u_img]))
    heat = torch.cat([b.l_heat, b.u_heat])
    valid = torch.cat([torch.zeros_like(b.l_gaze), b.u_gaze])  # the labeled images' gaze left out
    assert torch.equal(terms["gaze"], 0.1 * gaze_kl(perception, heat, valid))
    assert float(terms["gaze"]) != pytest.approx(float(losses(setup, config("mt"), 20)["gaze"]))
    # hgdtgl: no unlabeled image in pre-training; the mixed images only (not the plain labeled ones) after it
    assert float(losses(setup, config(gaze_loss_images="unlabeled"), 5)["gaze"]) == 0.0
    d, u = losses(setup, config(), 20), losses(setup, config(gaze_loss_images="unlabeled"), 20)
    assert float(u["gaze"]) > 0 and float(u["gaze"]) != pytest.approx(float(d["gaze"]))
    assert all(torch.equal(d[k], u[k]) for k in d if k != "gaze")


def test_switches_from_the_command_line(tmp_path):
    data = make_images(tmp_path / "kv")
    maps = {}
    for i in range(10):
        m = cv2.imread(str(data / "masks" / f"img{i:02d}.jpg"), cv2.IMREAD_GRAYSCALE) > 127
        maps[(f"img{i:02d}", None)] = blob(m.astype(np.uint8), 4.0).astype(np.float32)
    store = make_store(tmp_path / "store", maps, scales=(1, 2))
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--gaze-dir", str(store), "--method", "hgdtgl", "--labeled", "4"]
    args += ["--iterations", "4", "--pretrain-iterations", "4", "--batch-size", "4", "--labeled-bs", "2"]
    args += ["--size", "32", "--base-channels", "4", "--val-every", "2", "--device", "cpu", "--out", str(out)]
    args += ["--gaze-loss-stage", "self", "--gaze-loss-ramp", "--gaze-loss-reduce", "mean"]
    args += ["--gaze-loss-images", "unlabeled"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert (cfg["gaze_loss_stage"], cfg["gaze_loss_ramp"], cfg["gaze_loss_reduce"], cfg["gaze_loss_images"]) == (
        "self",
        True,
        "mean",
        "unlabeled",
    )
    m = pd.read_csv(out / "metrics.csv")
    assert (m.loc[m["stage"] == "pretrain", "loss_gaze"] == 0).all()
    assert (m.loc[m["stage"] == "train", "loss_gaze"] > 0).all()
    bad = CliRunner().invoke(main, [*args[:-2], "--gaze-loss-images", "labeled"])
    assert bad.exit_code != 0 and "labeled" in bad.output
    with pytest.raises(Exception, match="sum or mean"):
        config(gaze_loss_reduce="max")
