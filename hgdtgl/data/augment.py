"""Whole-batch augmentation on the training device: per sample, SSL4MIS's choice of rot90+flip (p 0.5) or a
rotation in +-rot_deg (p 0.25), then a scaling; one affine per sample applied by grid_sample to the image
(bilinear), the label (nearest) and the gaze density (bilinear, made a density again by
:func:`hgdtgl.data.density.as_density`), so all three stay aligned."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hgdtgl.data.density import as_density


def random_affines(
    n: int, generator: torch.Generator, rot_deg: float, scale_range: tuple[float, float]
) -> torch.Tensor:
    """[n,2,3] affine matrices (output -> input, normalised coordinates) drawn from ``generator`` (CPU)."""
    u = torch.rand(n, 6, generator=generator, dtype=torch.float64)
    k = torch.randint(0, 4, (n,), generator=generator)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    for i in range(n):
        if u[i, 0] > 0.5:  # rot90 k times + optional flip
            angle = k[i].item() * math.pi / 2
            flip = -1.0 if u[i, 1] > 0.5 else 1.0
        elif u[i, 2] > 0.5:  # rotation +-rot_deg
            angle = math.radians((2 * u[i, 3].item() - 1) * rot_deg)
            flip = 1.0
        else:
            angle, flip = 0.0, 1.0
        s = scale_range[0] + (scale_range[1] - scale_range[0]) * u[i, 4].item()
        c, si = math.cos(angle), math.sin(angle)
        rot = torch.tensor([[c, -si], [si, c]], dtype=torch.float64)
        theta[i, :, :2] = rot @ torch.diag(torch.tensor([flip, 1.0], dtype=torch.float64)) / s
    # exact zeros / ones for rot90 so pixel centres map onto pixel centres
    return torch.where(theta.abs() < 1e-12, torch.zeros_like(theta), theta).float()


def apply_affines(
    theta: torch.Tensor, image: torch.Tensor, label: torch.Tensor | None = None, heat: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Warp image [B,C,H,W] (bilinear), label [B,H,W] (nearest) and heat [B,H,W] (bilinear, then
    :func:`~hgdtgl.data.density.as_density`: each map sums to 1 unless empty; any input scale, e.g. the
    training set's mean-1 storage) with the same per-sample affines."""
    theta = theta.to(image.device)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    out_img = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out_lab = out_heat = None
    if label is not None:
        out_lab = F.grid_sample(label[:, None].float(), grid, mode="nearest", align_corners=False)[:, 0].round().long()
    if heat is not None:
        h = F.grid_sample(heat[:, None].float(), grid, mode="bilinear", align_corners=False)[:, 0]
        out_heat = as_density(h)  # part of the map left the frame; bilinear resampling does not keep mass
    return out_img, out_lab, out_heat
