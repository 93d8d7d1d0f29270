"""The mean teacher: exponential moving average of the student's weights (SSL4MIS warm-up)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, step: int, decay: float = 0.99) -> float:
    """Mean-teacher update with the SSL4MIS warm-up ``alpha = min(1 - 1/(step+1), decay)``:
    parameters t <- alpha t + (1 - alpha) s; BatchNorm buffers are copied from the student. Returns alpha."""
    alpha = min(1.0 - 1.0 / (step + 1), decay)
    t_params, s_params = list(teacher.parameters()), [p.detach() for p in student.parameters()]
    if len(t_params) != len(s_params):
        raise ValueError("teacher and student differ in their parameters")
    torch._foreach_mul_(t_params, alpha)  # one fused kernel per step on CUDA, the same arithmetic as a loop
    torch._foreach_add_(t_params, s_params, alpha=1.0 - alpha)
    for t, s in zip(teacher.buffers(), student.buffers(), strict=True):
        t.copy_(s)
    return alpha
