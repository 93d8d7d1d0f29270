"""Loss terms: CE + soft Dice (optionally weighted per pixel), the mean-teacher consistency with its sigmoid
ramp-up, and the multi-scale KL gaze loss on MGP perception maps. Every reduction spans the DDP global batch.

Heatmaps reach the gaze loss as densities over the training grid (each map sums to 1 where the image has gaze;
the one rule and where it applies: :mod:`hgdtgl.data.density`); ``gaze_pyramid`` sum-pools it to the decoder
levels, keeping the mass.

The gaze-supervised terms (GazeMedSeg, MICCAI 2024: ``gazesup`` / ``gazepseudo``): pseudo-masks thresholded from
each heatmap scaled to maximum 1, the per-level binary cross-entropy and the cross-level consistency."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hgdtgl.data.density import as_density
from hgdtgl.ddp import global_count, global_sum


def sigmoid_rampup(iteration: int, rampup_iterations: int) -> float:
    """SSL4MIS ramp-up exp(-5 (1 - t)^2), t = iteration / rampup_iterations clipped to [0, 1]."""
    if rampup_iterations <= 0:
        return 1.0
    t = min(max(iteration / rampup_iterations, 0.0), 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


def ce_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and SSL4MIS soft Dice (mean over all classes, smooth 1e-5) with an optional per-pixel
    weight map [B,H,W] (BCP's 1 on ground truth, 0.5 on pseudo-labels); reductions are over the global batch."""
    logits = logits.float()
    if weight is None:
        weight = torch.ones_like(target, dtype=torch.float32)
    ce = F.cross_entropy(logits, target.long(), reduction="none")
    ce_loss = global_sum((ce * weight).sum()) / global_count(torch.tensor(float(weight.numel()), device=ce.device))
    prob = logits.softmax(dim=1)
    onehot = F.one_hot(target.long(), logits.shape[1]).permute(0, 3, 1, 2).float()
    w = weight[:, None]
    inter = global_sum((prob * onehot * w).sum(dim=(0, 2, 3)))
    z = global_sum((prob * prob * w).sum(dim=(0, 2, 3)))
    y = global_sum((onehot * w).sum(dim=(0, 2, 3)))
    smooth = 1e-5
    dice_loss = (1.0 - (2 * inter + smooth) / (z + y + smooth)).mean()
    return ce_loss, dice_loss


def consistency_loss(student_logits: torch.Tensor, teacher_prob: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean squared error between student and teacher softmax over pixels with weight > 0 (SSL4MIS MT)."""
    diff = (student_logits.float().softmax(dim=1) - teacher_prob) ** 2
    num = global_sum((diff * weight[:, None]).sum())
    den = global_count(weight.sum() * student_logits.shape[1]).clamp_min(1.0)
    return num / den


def gaze_pyramid(heat: torch.Tensor, scales: list[int]) -> dict[int, torch.Tensor]:
    """Densities [B,H/s,W/s] of a full-resolution density [B,H,W] at each factor s (sum pooling: mass kept)."""
    return {s: heat if s == 1 else F.avg_pool2d(heat[:, None], s)[:, 0] * (s * s) for s in scales}


def gaze_kl(
    perception: dict[int, torch.Tensor], heat: torch.Tensor, valid: torch.Tensor, reduce: str = "sum"
) -> torch.Tensor:
    """Sum (``reduce="mean"``: mean) over scales of KL(gaze || softmax(perception)), averaged over the images with
    ``valid`` gaze.

    ``perception[s]`` logits [B,H/s,W/s]; ``heat`` gaze densities [B,H,W] (each sums to 1 where valid).
    """
    pyramid = gaze_pyramid(heat.float(), sorted(perception))
    per_image = torch.zeros(heat.shape[0], device=heat.device)
    for s, logit in perception.items():
        g = as_density(pyramid[s].flatten(1))  # only float rounding: sum pooling kept the mass (bit-identity)
        logp = logit.float().flatten(1).log_softmax(dim=1)
        per_image = per_image + (torch.xlogy(g, g) - g * logp).sum(dim=1)
    if reduce == "mean":
        per_image = per_image / len(perception)
    v = valid.float()
    return global_sum((per_image * v).sum()) / global_count(v.sum()).clamp_min(1.0)


def gaze_pseudo_masks(heat: torch.Tensor, thresholds: tuple[float, ...]) -> torch.Tensor:
    """Pseudo-masks [B,N,H,W] (0/1 float) of gaze maps [B,H,W]: each map scaled to maximum 1 (GazeMedSeg's
    min-max normalised heatmap; a density and its scaled copies give the same masks), level k where it is >=
    ``thresholds[k]``. A map without gaze (all zeros) gives empty masks."""
    h = heat.float()
    peak = h.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    scaled = h / peak
    return torch.stack([(scaled >= t) & (h > 0) for t in thresholds], dim=1).float()


def bce_levels(head_logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """GazeMedSeg's criterion summed over levels: per level the binary cross-entropy with logits, mean over the
    pixels and images (BCEWithLogitsMaskLoss without a mask)."""
    bce = F.binary_cross_entropy_with_logits(head_logits.float(), masks, reduction="none")
    return bce.mean(dim=(0, 2, 3)).sum()


def propagate(feat: torch.Tensor, kernel: int = 5, dilation: int = 2) -> torch.Tensor:
    """GazeMedSeg's feature propagation: each pixel's features replaced by the mean of its kernel x kernel
    neighbours (dilated, zero padding) weighted by softmax over neighbours of max(0, <f(p), f(q)>). Written as
    a loop over the offsets (no unfolded copy of the features)."""
    f = feat.float()
    h, w = f.shape[-2:]
    pad = dilation * (kernel // 2)
    padded = F.pad(f, (pad, pad, pad, pad))
    offsets = [(dy * dilation, dx * dilation) for dy in range(kernel) for dx in range(kernel)]
    corr = torch.stack([(f * padded[..., y : y + h, x : x + w]).sum(dim=1) for y, x in offsets], dim=1)
    weight = corr.clamp_min(0).softmax(dim=1)
    return sum(padded[..., y : y + h, x : x + w] * weight[:, i : i + 1] for i, (y, x) in enumerate(offsets))


def level_consistency(head_logits: torch.Tensor, compare_logits: torch.Tensor | None = None) -> torch.Tensor:
    """GazeMedSeg's cross-level consistency, summed over levels: level i's (background, foreground) probabilities
    against every other level's (detached) as 1 - mean dot product, averaged over the other levels. Their loss is
    minus the dot product (same gradient; this one is 0 when the levels agree with certainty). ``compare_logits``
    (mode ``prop``: the heads on propagated features) replace level i's own side when given."""
    p = torch.sigmoid(head_logits.float())
    q = torch.sigmoid(compare_logits.float()) if compare_logits is not None else p
    n = p.shape[1]
    if n < 2:
        return p.new_zeros(())
    total = p.new_zeros(())
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for j in others:
            agree = q[:, i] * p[:, j].detach() + (1 - q[:, i]) * (1 - p[:, j].detach())
            total = total + (1 - agree.mean()) / len(others)
    return total


def fused_perception(perception: dict[int, torch.Tensor], size: int) -> torch.Tensor:
    """Mean over scales of the perception densities up-sampled to [B,size,size] (each still sums to 1)."""
    maps = []
    for s, logit in perception.items():
        p = logit.float().flatten(1).softmax(dim=1).view_as(logit)
        maps.append(F.interpolate(p[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0] / s**2)
    return torch.stack(maps).mean(dim=0)
