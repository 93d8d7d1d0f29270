"""The student weights committed under results/<dataset>/models/ load as they are (weights_only), describe
themselves, stay small (fp16, student only) and segment an image through `hgdtgl predict`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hgdtgl.checkpoints import load_checkpoint, model_from_checkpoint
from hgdtgl.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(ROOT.glob("results/*/models/*.pt"))


def test_committed_models_stay_within_the_size_budget():
    """Every seed's student is committed (fp16, student only, ~1 MB at the cpu protocol's width): at most 4 MiB a
    file and 120 MiB in all, counted as the bytes of results/*/models/*.pt in the work tree."""
    sizes = [p.stat().st_size for p in MODELS]
    assert all(s <= 4 * 2**20 for s in sizes), dict(zip(MODELS, sizes, strict=True))
    assert sum(sizes) <= 120 * 2**20


@pytest.mark.parametrize("path", MODELS, ids=[f"{p.parent.parent.name}/{p.stem}" for p in MODELS])
def test_committed_model_loads_and_predicts(path, tmp_path):
    import cv2

    ckpt = load_checkpoint(path)
    assert ckpt["exported"] and ckpt["teacher"] is None and "optimizer" not in ckpt
    assert all(v.dtype == torch.float16 for v in ckpt["student"].values() if v.is_floating_point())
    model = model_from_checkpoint(ckpt, source=path)
    spec = ckpt["model"]
    assert sum(p.numel() for p in model.parameters()) > 0 and ckpt["config"]["method"] in path.stem
    channels = int(spec["in_channels"])
    img = (np.random.default_rng(0).random((60, 70, channels)) * 255).astype(np.uint8)
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "x.png"), img if channels == 3 else img[..., 0])
    r = CliRunner().invoke(
        main, ["predict", str(path), str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--device", "cpu"]
    )
    assert r.exit_code == 0, r.output
    mask = cv2.imread(str(tmp_path / "out" / "x.png"), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (60, 70)
    assert set(np.unique(mask)) <= ({0, 255} if spec["num_classes"] == 2 else set(range(spec["num_classes"])))
