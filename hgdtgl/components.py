"""Building blocks shared by the methods: EMA teacher, global (DDP-aware) reductions, CE+Dice,
the multi-scale KL gaze loss, and the masks of BCP copy-paste and GazeMix."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- reductions (single process or DDP)


def world_size() -> int:
    return torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1


def global_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over all DDP ranks, differentiable (identity in one process).

    Every loss is written as global_sum(numerator) / global_sum(count), so each rank computes the loss of the
    whole global batch; DDP's gradient averaging then equals the gradient of one process with that batch.
    """
    if world_size() == 1:
        return t
    import torch.distributed.nn.functional as dist_nn

    return dist_nn.all_reduce(t)


def global_count(t: torch.Tensor) -> torch.Tensor:
    """Sum over ranks of a count (no gradient)."""
    t = t.detach().float()
    if world_size() > 1:
        t = t.clone()
        torch.distributed.all_reduce(t)
    return t


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose batch statistics are taken over all DDP ranks (SyncBatchNorm for CPU/gloo, where
    torch's SyncBatchNorm refuses to run); in one process it equals nn.BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        n = global_count(torch.tensor(float(x.shape[0] * x.shape[2] * x.shape[3]), device=x.device))
        xf = x.float()
        mean = global_sum(xf.sum(dim=(0, 2, 3))) / n
        var = global_sum(((xf - mean[None, :, None, None]) ** 2).sum(dim=(0, 2, 3))) / n
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / max(float(n) - 1, 1.0))
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + self.eps)
        return (y * self.weight[None, :, None, None] + self.bias[None, :, None, None]).to(x.dtype)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every nn.BatchNorm2d by GlobalBatchNorm2d, keeping parameters and buffers."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, GlobalBatchNorm2d):
            new = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            convert_batchnorm(child)
    return module


# ---------------------------------------------------------------- EMA teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, step: int, decay: float = 0.99) -> float:
    """Mean-teacher update with the SSL4MIS warm-up ``alpha = min(1 - 1/(step+1), decay)``:
    parameters t <- alpha t + (1 - alpha) s; BatchNorm buffers are copied from the student. Returns alpha."""
    alpha = min(1.0 - 1.0 / (step + 1), decay)
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(alpha).add_(s.detach(), alpha=1.0 - alpha)
    for t, s in zip(teacher.buffers(), student.buffers(), strict=True):
        t.copy_(s)
    return alpha


def sigmoid_rampup(iteration: int, rampup_iterations: int) -> float:
    """SSL4MIS ramp-up exp(-5 (1 - t)^2), t = iteration / rampup_iterations clipped to [0, 1]."""
    if rampup_iterations <= 0:
        return 1.0
    t = min(max(iteration / rampup_iterations, 0.0), 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


# ---------------------------------------------------------------- segmentation losses


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


def gaze_kl(perception: dict[int, torch.Tensor], heat: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Sum over scales of KL(gaze || softmax(perception)), averaged over the images with ``valid`` gaze.

    ``perception[s]`` logits [B,H/s,W/s]; ``heat`` gaze densities [B,H,W] (each sums to 1 where valid).
    """
    pyramid = gaze_pyramid(heat.float(), sorted(perception))
    per_image = torch.zeros(heat.shape[0], device=heat.device)
    for s, logit in perception.items():
        g = pyramid[s].flatten(1)
        g = g / g.sum(dim=1, keepdim=True).clamp_min(1e-12)
        logp = logit.float().flatten(1).log_softmax(dim=1)
        per_image = per_image + (torch.xlogy(g, g) - g * logp).sum(dim=1)
    v = valid.float()
    return global_sum((per_image * v).sum()) / global_count(v.sum()).clamp_min(1.0)


def fused_perception(perception: dict[int, torch.Tensor], size: int) -> torch.Tensor:
    """Mean over scales of the perception densities up-sampled to [B,size,size] (each still sums to 1)."""
    maps = []
    for s, logit in perception.items():
        p = logit.float().flatten(1).softmax(dim=1).view_as(logit)
        maps.append(F.interpolate(p[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0] / s**2)
    return torch.stack(maps).mean(dim=0)


# ---------------------------------------------------------------- copy-paste masks


def random_box_masks(n: int, size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """BCP masks [n,size,size]: 1 inside a random box of 2/3 x 2/3 of the image, 0 elsewhere."""
    box = int(size * 2 / 3)
    xy = torch.randint(0, size - box + 1, (n, 2), generator=generator)
    masks = torch.zeros(n, size, size)
    for i, (x, y) in enumerate(xy.tolist()):
        masks[i, y : y + box, x : x + box] = 1.0
    return masks.to(device)


def gaze_masks(
    heat: torch.Tensor,
    valid: torch.Tensor,
    fallback: torch.Tensor,
    quantile: float = 0.8,
    dilation_px: int = 0,
    mode: str = "region",
    jitter: torch.Tensor | None = None,
) -> torch.Tensor:
    """GazeMix masks [B,H,W]: 1 where the reader looked. ``region``: heatmap >= its per-image ``quantile``,
    dilated by ``dilation_px`` (square); ``box``: the bounding box of that region, sides moved by ``jitter``
    [B,4] px (top, bottom, left, right). Images without gaze (``valid`` False) get their ``fallback`` mask
    (a BCP random box)."""
    b, h, w = heat.shape
    flat = heat.float().flatten(1)
    thr = torch.quantile(flat, quantile, dim=1)
    region = (heat >= thr[:, None, None]) & (heat > 0)
    if dilation_px > 0:
        k = 2 * dilation_px + 1
        region = F.max_pool2d(region[:, None].float(), k, stride=1, padding=dilation_px)[:, 0] > 0
    masks = region.float()
    if mode == "box":
        masks = torch.zeros_like(masks)
        jit = jitter.tolist() if jitter is not None else [[0, 0, 0, 0]] * b
        for i in range(b):
            rows = torch.nonzero(region[i].any(dim=1)).flatten()
            cols = torch.nonzero(region[i].any(dim=0)).flatten()
            if rows.numel() == 0:
                continue
            j = jit[i]
            y0, y1 = max(int(rows[0]) + j[0], 0), min(int(rows[-1]) + 1 + j[1], h)
            x0, x1 = max(int(cols[0]) + j[2], 0), min(int(cols[-1]) + 1 + j[3], w)
            masks[i, y0:y1, x0:x1] = 1.0
    elif mode != "region":
        raise ValueError(f"unknown GazeMix mode {mode!r}")
    missing = ~valid.bool() | (masks.flatten(1).sum(dim=1) == 0)
    return torch.where(missing[:, None, None], fallback.to(masks), masks)


def largest_component_per_class(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Pseudo-label maps [B,H,W] with each foreground class kept only in its largest 8-connected component
    (BCP's ``get_ACDC_masks(nms=1)``); the removed pixels become background."""
    from scipy import ndimage

    lab = labels.detach().cpu().numpy()
    out = np.zeros_like(lab)
    structure = np.ones((3, 3), bool)
    for i in range(lab.shape[0]):
        for k in range(1, num_classes):
            comps, n = ndimage.label(lab[i] == k, structure=structure)
            if n == 0:
                continue
            sizes = np.bincount(comps.ravel())[1:]
            out[i][comps == 1 + int(np.argmax(sizes))] = k
    return torch.from_numpy(out).to(labels.device)


def mix(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``a`` where mask is 1, ``b`` elsewhere; mask [B,H,W] broadcast over channels of 4-D inputs."""
    m = mask if a.dim() == 3 else mask[:, None]
    return a * m + b * (1 - m)


def mix_heat(ha: torch.Tensor, hb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mixed gaze density: ``ha`` inside the mask, ``hb`` outside, renormalised to sum 1 (0 if no mass)."""
    h = mix(ha, hb, mask)
    return h / h.flatten(1).sum(dim=1).clamp_min(1e-12)[:, None, None]
