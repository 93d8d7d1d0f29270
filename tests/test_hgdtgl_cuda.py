"""CUDA paths (AMP bf16/fp16, channels-last, torch.compile, GPU inference); skipped without a GPU.

Self-contained: synthetic data only, so it runs on a bare GPU machine without ../shared/data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hgdtgl.checkpoints import load_checkpoint, model_from_checkpoint
from hgdtgl.config import TrainConfig
from hgdtgl.data.formats import load_cases
from hgdtgl.engine import train
from hgdtgl.evaluate import predict_case
from tests.hgdtgl_testdata import blob, make_images, make_store

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    import cv2

    root = tmp_path_factory.mktemp("cuda")
    data = make_images(root / "kv", n=24)
    maps = {}
    for i in range(22):
        m = cv2.imread(str(data / "masks" / f"img{i:02d}.jpg"), cv2.IMREAD_GRAYSCALE) > 127
        maps[(f"img{i:02d}", None)] = blob(m.astype(np.uint8), 4.0).astype(np.float32)
    (data / "val.list").write_text("img22\nimg23\n")
    return data, make_store(root / "store", maps, scales=(1, 2))


def cfg(data, store, out, **kw):
    base = dict(
        data=str(data),
        gaze_dir=str(store),
        out=str(out),
        method="hgdtgl",
        labeled=6,
        iterations=40,
        pretrain_iterations=10,
        batch_size=8,
        labeled_bs=4,
        size=64,
        base_channels=8,
        val_every=20,
        device="cuda",
        lr=0.03,
        rampup_iterations=20,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_channels_last_training_learns(images, tmp_path, amp):
    data, store = images
    out = train(cfg(data, store, tmp_path / amp, amp=amp, channels_last=True))
    m = pd.read_csv(out / "metrics.csv")
    assert np.isfinite(m["loss_total"]).all() and m["loss_mix"].iloc[-1] < m["loss_mix"].iloc[0]
    assert m["gpu_mem_max_mib"].iloc[-1] > 0
    scaler = load_checkpoint(out / "checkpoint_latest.pt")["scaler"]
    assert (scaler != {}) == (amp == "fp16")


def test_cuda_fp32_matches_cpu(images, tmp_path):
    data, store = images
    opts = dict(iterations=3, val_every=3, pretrain_iterations=1, dropout=False, amp="none", channels_last=False)
    gpu = train(cfg(data, store, tmp_path / "gpu", **opts))
    cpu = train(cfg(data, store, tmp_path / "cpu", device="cpu", **opts))
    a, b = pd.read_csv(gpu / "metrics.csv"), pd.read_csv(cpu / "metrics.csv")
    assert a["loss_total"].item() == pytest.approx(b["loss_total"].item(), rel=1e-2)
    wa = load_checkpoint(gpu / "checkpoint_latest.pt")["student"]
    wb = load_checkpoint(cpu / "checkpoint_latest.pt")["student"]
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa if wa[k].is_floating_point()) < 1e-2
    model = model_from_checkpoint(load_checkpoint(gpu / "checkpoint_latest.pt"))
    case = load_cases(data, "val")[0]
    p_gpu = predict_case(model.cuda(), case.image, 64, torch.device("cuda"))
    p_cpu = predict_case(model.cpu(), case.image, 64, torch.device("cpu"))
    assert (p_gpu == p_cpu).mean() > 0.99


def test_torch_compile_path(images, tmp_path):
    data, store = images
    out = train(cfg(data, store, tmp_path / "c", iterations=4, val_every=4, pretrain_iterations=2, compile=True))
    assert np.isfinite(pd.read_csv(out / "metrics.csv")["loss_total"]).all()
