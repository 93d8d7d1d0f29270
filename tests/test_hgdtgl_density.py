"""The one density rule (hgdtgl.data.density.as_density) and where mass changes: join, augmentation (crop) and
paste renormalise with it; sum pooling keeps the mass; every batch the trainer sees holds densities. Masses are
summed here in float64 with numpy, independently of the torch sums the code divides by."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from hgdtgl.config import TrainConfig
from hgdtgl.data.augment import apply_affines, random_affines
from hgdtgl.data.batches import BatchMaker, DeviceData
from hgdtgl.data.density import as_density
from hgdtgl.data.formats.base import TrainData
from hgdtgl.data.gaze import heatmap_at
from hgdtgl.losses import gaze_pyramid
from hgdtgl.mixing import mix, mix_heat, random_box_masks

REPO = Path(__file__).resolve().parents[1]


def mass(maps) -> np.ndarray:
    a = maps.numpy() if torch.is_tensor(maps) else maps
    return a.astype(np.float64).reshape(len(a), -1).sum(axis=1)


def blobs(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """n Gaussian densities [n,size,size] at random centres (some near the border), the last one empty."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    out = np.zeros((n, size, size), np.float32)
    for i in range(n - 1):
        cy, cx = rng.uniform(0, size, 2)
        out[i] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(1.5, size / 4) ** 2))
        out[i] /= out[i].sum()
    return torch.from_numpy(out)


def test_as_density_divides_each_map_by_its_mass_and_keeps_empty_maps_empty():
    maps = np.array([[[1.0, 3.0], [0.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]], [[2.0, 2.0], [2.0, 2.0]]], np.float32)
    want = np.array([[[0.125, 0.375], [0.0, 0.5]], [[0, 0], [0, 0]], [[0.25, 0.25], [0.25, 0.25]]], np.float32)
    got_np, got_t = as_density(maps), as_density(torch.from_numpy(maps))
    assert got_np.dtype == np.float32 and got_t.dtype == torch.float32
    assert np.array_equal(got_np, want) and np.array_equal(got_t.numpy(), want)
    flat = as_density(torch.from_numpy(maps).flatten(1))  # any trailing shape: [B,N] as the loss uses it
    assert torch.equal(flat, torch.from_numpy(want).flatten(1))


def test_join_makes_each_store_map_a_density():
    rng = np.random.default_rng(3)
    m = rng.random((40, 46)).astype(np.float32) ** 4 * 7.0  # a store map of another size and scale
    m[0, 0] = -1e-3  # bilinear resampling of a quantised store can dip below 0: clipped
    for size in (32, 40, 17):
        h = heatmap_at(m, size)
        assert h.shape == (size, size) and h.min() >= 0 and mass(h[None])[0] == pytest.approx(1.0, abs=1e-6)
    assert not heatmap_at(np.zeros((8, 8), np.float32), 16).any()


def test_augmentation_and_paste_renormalise_because_they_change_the_mass():
    size, n = 32, 12
    heat = blobs(n, size)
    g = torch.Generator().manual_seed(4)
    theta = random_affines(n, g, 30.0, (0.7, 1.3))  # strong rotation / scaling: mass leaves the frame
    stored = (heat * size * size).half().float()  # the training set's mean-1 float16 storage (TrainData.heat)
    _, _, warped = apply_affines(theta, torch.zeros(n, 1, size, size), None, stored)
    # the warp alone changes the mass (the frame crops it; bilinear does not conserve it): renormalising is needed
    grid = torch.nn.functional.affine_grid(theta, [n, 1, size, size], align_corners=False)
    raw = torch.nn.functional.grid_sample(stored[:, None], grid, align_corners=False)[:, 0] / (size * size)
    assert np.abs(mass(raw[:-1]) - 1).max() > 0.01
    have = mass(warped)
    assert np.allclose(have[:-1], 1.0, atol=1e-5) and have[-1] == 0  # a density each, the empty map stays empty

    masks = random_box_masks(n, size, g, torch.device("cpu"))
    ha, hb = warped, warped.roll(1, dims=0)
    assert np.abs(mass(mix(ha, hb, masks)) - 1).max() > 0.01  # pasted parts of two densities: any mass
    mixed = mass(mix_heat(ha, hb, masks))
    either = (mass(ha * masks) + mass(hb * (1 - masks))) > 0
    assert np.allclose(mixed[either], 1.0, atol=1e-5) and (mixed[~either] == 0).all()


def test_sum_pooling_keeps_the_mass_by_construction():
    heat = blobs(6, 64, seed=5)
    for s, level in gaze_pyramid(heat, [1, 2, 4, 8]).items():
        assert level.shape == (6, 64 // s, 64 // s)
        assert np.allclose(mass(level), mass(heat), atol=1e-6), s


def test_every_training_batch_holds_densities():
    """The trainer's batches (BatchMaker: gather, augment, shard): each image with gaze has unit mass, each image
    without gaze all zeros."""
    size, n = 32, 10
    heat = blobs(n, size, seed=6).numpy()
    has = mass(heat) > 0
    data = TrainData(
        np.random.default_rng(0).integers(0, 255, (n, 1, size, size), dtype=np.uint8),
        np.zeros((n, size, size), np.uint8),
        [(f"s{i}", None) for i in range(n)],
        [f"p{i}" for i in range(n)],
        2,
        "images",
        heat=(heat * size * size).astype(np.float16),
        has_gaze=has,
    )
    cfg = TrainConfig(data="d", out="o", method="hgdtgl", size=size, batch_size=8, labeled_bs=4).resolved()
    make = BatchMaker(cfg, DeviceData(data, torch.device("cpu")), np.arange(5), np.arange(5, n))
    for it in range(5):
        b, _ = make(it)
        for h, valid in ((b.l_heat, b.l_gaze), (b.u_heat, b.u_gaze)):
            m = mass(h)
            assert np.allclose(m[valid.numpy()], 1.0, atol=1e-5) and (m[~valid.numpy()] == 0).all()


def test_no_other_module_normalises_a_gaze_map():
    """One rule: the modules that handle gaze maps divide by a map's (clamped) sum only through as_density."""
    modules = ("data/gaze.py", "data/augment.py", "data/formats/packed.py", "mixing.py", "losses.py")
    for rel in modules:
        src = (REPO / "hgdtgl" / rel).read_text()
        assert "as_density(" in src, rel
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                right = ast.unparse(node.right)
                assert not (".sum(" in right and "1e-12" in right), f"{rel}: {ast.unparse(node)}"
                assert "total" not in right, f"{rel}: {ast.unparse(node)}"
