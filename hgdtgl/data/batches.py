"""Training batches on the device: the training set as tensors, seeded index streams, and per-iteration
batches augmented as a whole (one affine per sample), drawn for the global batch and sharded over DDP ranks.
Every random draw of iteration ``it`` comes from a generator seeded by (seed, it), so a resumed run draws the
same batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from hgdtgl.data.augment import apply_affines, random_affines
from hgdtgl.data.formats.base import TrainData

if TYPE_CHECKING:
    from hgdtgl.config import TrainConfig


@dataclass
class Batch:
    """This rank's part of one training batch, augmented, on the training device.

    ``*_heat`` are gaze densities [B,S,S] (each sums to 1 where ``*_gaze`` is True); ``noise`` is the teacher's
    input noise for the unlabeled images (mean teacher)."""

    l_img: torch.Tensor
    l_lab: torch.Tensor
    l_heat: torch.Tensor
    l_gaze: torch.Tensor
    u_img: torch.Tensor
    u_heat: torch.Tensor
    u_gaze: torch.Tensor
    noise: torch.Tensor


def stream_indices(pool: np.ndarray, count: int, it: int, seed: int, stream: int) -> np.ndarray:
    """Items it*count .. it*count+count-1 of an endless stream of seeded permutations of ``pool``."""
    n = len(pool)
    out = np.empty(count, dtype=np.int64)
    perms: dict[int, np.ndarray] = {}
    for j, p in enumerate(range(it * count, it * count + count)):
        epoch, r = divmod(p, n)
        if epoch not in perms:
            g = torch.Generator().manual_seed(seed * 7919 + stream * 104729 + epoch)
            perms[epoch] = torch.randperm(n, generator=g).numpy()
        out[j] = pool[perms[epoch][r]]
    return out


class DeviceData:
    """The training set as tensors (on the GPU when it fits), gathered and augmented per batch."""

    def __init__(self, data: TrainData, device: torch.device):
        def put(a: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.ascontiguousarray(a))
            if device.type == "cuda":
                try:
                    return t.to(device)
                except torch.cuda.OutOfMemoryError:
                    return t.pin_memory()
            return t

        self.device = device
        self.images = put(data.images)
        self.uint8 = data.images.dtype == np.uint8
        self.labels = put(data.labels)
        heat = data.heat if data.heat is not None else np.zeros((len(data.labels), 1, 1), np.float16)
        self.heat = put(heat)
        self.has_gaze = put(data.has_gaze if data.has_gaze is not None else np.zeros(len(data.labels), bool))

    def gather(self, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        i = torch.from_numpy(idx).to(self.images.device)
        img = self.images[i].to(self.device, non_blocking=True).float()
        if self.uint8:
            img = img / 255.0
        lab = self.labels[i].to(self.device, non_blocking=True)
        heat = self.heat[i].to(self.device, non_blocking=True).float()
        if heat.shape[-1] != img.shape[-1]:
            heat = torch.zeros(img.shape[0], *img.shape[2:], device=self.device)
        return img, lab, heat, self.has_gaze[i].to(self.device)


class BatchMaker:
    """``make(it)`` -> (this rank's augmented Batch, the iteration's generator): indices from the seeded
    streams, affines and noise drawn for the global batch, then this rank's shard gathered and warped."""

    def __init__(
        self,
        cfg: TrainConfig,
        dev_data: DeviceData,
        lab_pool: np.ndarray,
        unl_pool: np.ndarray,
        rank: int = 0,
        world: int = 1,
        channels_last: bool = False,
    ):
        self.cfg, self.dev_data, self.lab_pool, self.unl_pool = cfg, dev_data, lab_pool, unl_pool
        self.rank, self.world, self.channels_last = rank, world, channels_last
        self.recipe = cfg.recipe
        self.lbs, self.ubs = self.recipe.batch_split(cfg)

    def __call__(self, it: int) -> tuple[Batch, torch.Generator]:
        cfg, lbs, ubs, rank, world = self.cfg, self.lbs, self.ubs, self.rank, self.world
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + it)
        l_idx = stream_indices(self.lab_pool, lbs, it, cfg.seed, 0)
        u_idx = stream_indices(self.unl_pool, ubs, it, cfg.seed, 1) if ubs else np.empty(0, np.int64)
        theta = random_affines(lbs + ubs, g, cfg.rot_deg, cfg.scale_range)
        channels = self.dev_data.images.shape[1]
        noise = (
            (torch.randn(ubs, channels, cfg.size, cfg.size, generator=g) * 0.1).clamp(-0.2, 0.2)
            if self.recipe.teacher_noise
            else torch.zeros(ubs, 1, 1, 1)
        )
        nl, nu = lbs // world, ubs // world
        l_sel, u_sel = slice(rank * nl, (rank + 1) * nl), slice(rank * nu, (rank + 1) * nu)
        idx = np.concatenate([l_idx[l_sel], u_idx[u_sel]])
        th = torch.cat([theta[:lbs][l_sel], theta[lbs:][u_sel]])
        img, lab, heat, has = self.dev_data.gather(idx)
        img, lab, heat = apply_affines(th, img, lab, heat)
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        noise = noise[u_sel].to(img.device)
        return Batch(img[:nl], lab[:nl], heat[:nl], has[:nl], img[nl:], heat[nl:], has[nl:], noise), g
