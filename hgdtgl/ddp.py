"""Reductions over DDP ranks (identity in one process) and the BatchNorm whose statistics span all ranks:
every loss is written as global_sum(numerator) / global_sum(count), so a rank computes the loss of the global
batch and DDP's gradient averaging equals one process with that batch."""

from __future__ import annotations

import torch
from torch import nn


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
