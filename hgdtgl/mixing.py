"""Copy-paste masks and mixing: BCP's random boxes, GazeMix's gaze regions, mixing of images / labels /
densities with one mask, and BCP's largest-connected-component filter of pseudo-labels."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hgdtgl.data.density import as_density


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
    """Mixed gaze density: ``ha`` inside the mask, ``hb`` outside, made a density again (:func:`as_density`:
    the pasted parts hold any mass from 0 to 2; a map with none stays zeros)."""
    return as_density(mix(ha, hb, mask))
