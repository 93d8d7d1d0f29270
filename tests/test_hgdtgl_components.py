"""EMA, gaze loss, GazeMix, losses and batch augmentation against values computed another way."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hgdtgl.data.augment import apply_affines, random_affines
from hgdtgl.ema import ema_update
from hgdtgl.losses import ce_dice_loss, fused_perception, gaze_kl, gaze_pyramid, sigmoid_rampup
from hgdtgl.mixing import gaze_masks, mix, mix_heat, random_box_masks
from hgdtgl.models import UNet


def _blob(size: int, cy: float, cx: float, sigma: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    g = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return g / g.sum()


def test_ema_update_is_exact_and_copies_batchnorm_buffers():
    torch.manual_seed(0)
    student, teacher = UNet(1, 3, 2), UNet(1, 3, 2)
    student(torch.randn(2, 1, 16, 16))  # BN running stats of the student move
    t0 = {k: v.clone() for k, v in teacher.state_dict().items()}
    s = student.state_dict()
    alpha = ema_update(teacher, student, step=5, decay=0.99)
    assert alpha == 1 - 1 / 6
    for name, _ in teacher.named_parameters():
        assert torch.allclose(teacher.state_dict()[name], alpha * t0[name] + (1 - alpha) * s[name], atol=1e-7, rtol=0)
    for name, _ in teacher.named_buffers():
        assert torch.equal(teacher.state_dict()[name], s[name])
    assert ema_update(teacher, student, step=0) == 0.0  # warm-up: the first update copies the student
    assert all(torch.equal(teacher.state_dict()[k], s[k]) for k in s)
    assert ema_update(teacher, student, step=10_000, decay=0.99) == 0.99


def test_sigmoid_rampup_matches_ssl4mis():
    assert sigmoid_rampup(0, 200) == math.exp(-5)
    assert sigmoid_rampup(100, 200) == math.exp(-5 * 0.25)
    assert sigmoid_rampup(500, 200) == 1.0


def test_gaze_loss_zero_when_perception_equals_gaze_and_kl_otherwise():
    size = 32
    heat = torch.stack([_blob(size, 10, 20, 4), _blob(size, 16, 16, 6)])
    heat = heat + 1e-4
    heat = heat / heat.sum(dim=(1, 2), keepdim=True)
    pyr = gaze_pyramid(heat, [1, 2, 4, 8])
    perfect = {s: torch.log(p) + 3.0 for s, p in pyr.items()}  # any constant shift: softmax is invariant
    valid = torch.tensor([True, True])
    assert float(gaze_kl(perfect, heat, valid)) < 1e-5
    # a flat perception: KL(g || uniform) = log(n) - H(g), summed over scales, averaged over images
    flat = {s: torch.zeros_like(p) for s, p in pyr.items()}
    expected = 0.0
    for i in range(2):
        for p in pyr.values():
            g = p[i].flatten().double().numpy()
            expected += (np.log(g.size) + np.sum(g * np.log(g))) / 2
    assert float(gaze_kl(flat, heat, valid)) == __import__("pytest").approx(expected, rel=1e-4)
    # images without gaze do not count
    only_first = float(gaze_kl(flat, heat, torch.tensor([True, False])))
    exp_first = sum(np.log(p[0].numel()) + float((p[0] * p[0].log()).sum()) for p in pyr.values())
    assert only_first == __import__("pytest").approx(exp_first, rel=1e-4)
    # the fused map of perfect perception is a density
    assert float(fused_perception(perfect, size).sum(dim=(1, 2)).sub(1).abs().max()) < 1e-5


@settings(max_examples=25, deadline=None)
@given(cy=st.floats(4, 28), cx=st.floats(4, 28), q=st.sampled_from([0.7, 0.8, 0.9]), dil=st.integers(0, 3))
def test_gazemix_masks_cover_the_high_gaze_region_and_mix_consistently(cy, cx, q, dil):
    size = 32
    ha, hb = _blob(size, cy, cx, 3)[None], _blob(size, 16, 16, 5)[None]
    fallback = torch.zeros(1, size, size)
    m = gaze_masks(ha, torch.tensor([True]), fallback, quantile=q, dilation_px=dil)
    thr = np.quantile(ha.numpy().ravel(), q)
    high = ha[0].numpy() >= thr
    assert m[0].numpy()[high].all()  # every high-gaze pixel is pasted
    # the mask is the high region dilated by `dil` (square): nothing farther away
    from scipy.ndimage import binary_dilation

    assert np.array_equal(m[0].numpy() > 0, binary_dilation(high, np.ones((2 * dil + 1,) * 2)) if dil else high)
    img_a, img_b = torch.rand(1, 3, size, size), torch.rand(1, 3, size, size)
    mixed = mix(img_a, img_b, m)
    inside = m[0] > 0
    assert torch.equal(mixed[0][:, inside], img_a[0][:, inside]) and torch.equal(
        mixed[0][:, ~inside], img_b[0][:, ~inside]
    )
    hm = mix_heat(ha, hb, m)
    raw = torch.where(inside, ha[0], hb[0])
    assert torch.allclose(hm[0], raw / raw.sum(), atol=1e-7)
    # box mode: the bounding box of the region (no jitter) contains it
    box = gaze_masks(ha, torch.tensor([True]), fallback, quantile=q, mode="box")
    ys, xs = np.nonzero(high)
    expected = np.zeros((size, size), bool)
    expected[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
    assert np.array_equal(box[0].numpy() > 0, expected)


def test_gazemix_falls_back_to_the_random_box_without_gaze():
    g = torch.Generator().manual_seed(0)
    boxes = random_box_masks(2, 30, g, torch.device("cpu"))
    assert torch.equal(boxes.sum(dim=(1, 2)), torch.tensor([400.0, 400.0]))  # 20 x 20 = (2/3 of 30)^2
    heat = torch.stack([_blob(30, 10, 10, 3), torch.zeros(30, 30)])
    m = gaze_masks(heat, torch.tensor([False, True]), boxes)
    assert torch.equal(m, boxes)  # no gaze / empty map -> the fallback box


def test_ce_dice_matches_hand_values():
    target = torch.tensor([[[0, 1], [1, 1]]])
    logits = torch.zeros(1, 2, 2, 2)  # uniform softmax 0.5/0.5
    ce, dice = ce_dice_loss(logits, target)
    assert float(ce) == __import__("pytest").approx(math.log(2))
    # class 0: inter 0.5, z = 4 * 0.25, y = 1 -> 1 - 1/2; class 1: inter 1.5, z 1, y 3 -> 1 - 3/4
    assert float(dice) == __import__("pytest").approx(((1 - 1.0 / 2.0) + (1 - 3.0 / 4.0)) / 2, abs=1e-5)
    w = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])  # only the top-left pixel (class 0) counts
    ce_w, _ = ce_dice_loss(logits, target, w)
    assert float(ce_w) == __import__("pytest").approx(math.log(2) / 4)


def test_rot90_affine_moves_image_label_and_heat_together_exactly():
    size = 16
    theta = torch.tensor([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]])  # a 90-degree rotation in normalised coordinates
    img = torch.rand(1, 2, size, size)
    lab = torch.randint(0, 4, (1, size, size))
    heat = _blob(size, 4, 10, 2)[None]
    out_img, out_lab, out_heat = apply_affines(theta, img, lab, heat)
    k = 1 if torch.allclose(out_img, torch.rot90(img, 1, (2, 3)), atol=1e-6) else -1
    assert torch.allclose(out_img, torch.rot90(img, k, (2, 3)), atol=1e-6)
    assert torch.equal(out_lab, torch.rot90(lab, k, (1, 2)))
    assert torch.allclose(out_heat, torch.rot90(heat, k, (1, 2)), atol=1e-7)


def test_random_affines_keep_labels_aligned_with_images_and_heat_a_density():
    size = 48
    g = torch.Generator().manual_seed(1)
    lab = torch.zeros(8, size, size, dtype=torch.long)
    lab[:, 12:36, 16:30] = 1
    lab[:, 20:28, 20:26] = 2
    img = lab[:, None].float()
    heat = torch.stack([_blob(size, 24, 22, 5)] * 8)
    theta = random_affines(8, g, 20.0, (0.9, 1.1))
    out_img, out_lab, out_heat = apply_affines(theta, img, lab, heat)
    agree = (out_img[:, 0].round().long() == out_lab).float().mean()
    assert agree > 0.97  # they differ only on boundary pixels where bilinear and nearest round differently
    assert torch.allclose(out_heat.sum(dim=(1, 2)), torch.ones(8), atol=1e-5)
    # the heat's centre of mass follows the label's centre of mass
    yy = torch.arange(size) + 0.5
    for i in range(8):
        cm_h = (out_heat[i].sum(1) * yy).sum()
        cm_l = ((out_lab[i] > 0).float().sum(1) * yy).sum() / (out_lab[i] > 0).sum()
        assert abs(float(cm_h - cm_l)) < 2.0


def test_store_scale_at_reads_the_store_grid_only_where_it_is_the_training_grid():
    from hgdtgl.data.gaze import store_scale_at

    square = {"size": [256, 256]}
    assert store_scale_at(square, [1, 2, 4], 128) == 2
    assert store_scale_at(square, [1, 2, 4], 64) == 4
    assert store_scale_at(square, [1, 2, 4], 256) == 1
    assert store_scale_at(square, [1, 2, 4], 32) == 1  # scale 8 not rendered: resize scale 1
    assert store_scale_at(square, [1, 2, 4], 100) == 1  # not a divisor
    assert store_scale_at({"size": [256, 128]}, [1, 2], 128) == 1  # not square
    assert store_scale_at({"size": None}, [1, 2], 128) == 1  # full-size maps of varying sizes
