"""The SSL4MIS 2D U-Net (16-32-64-128-256, encoder dropout 0.05-0.5, ConvTranspose up-sampling) with
optional MGP heads: a 1x1 convolution per decoder level giving a one-channel perception map (logits;
a spatial softmax turns it into a density over the image at that level's scale). A multi-head U-Net
(``heads`` > 0, the ``gazesup`` method) ends in one one-channel sigmoid head per gaze pseudo-mask level; its
prediction is the mean of the heads' foreground probabilities, given as two-class log-probabilities so that
evaluation and prediction treat it like any binary model."""

from __future__ import annotations

import torch
from torch import nn

DROPOUT = (0.05, 0.1, 0.2, 0.3, 0.5)


GROUPS = 8  # GroupNorm groups of --norm group


def norm_layer(kind: str, channels: int) -> nn.Module:
    """BatchNorm (SSL4MIS) or GroupNorm with 8 groups (batch-size independent, as MONAI's BasicUNet can use)."""
    return nn.GroupNorm(GROUPS, channels) if kind == "group" else nn.BatchNorm2d(channels)


class ConvBlock(nn.Sequential):
    """conv3x3-norm-LeakyReLU-Dropout-conv3x3-norm-LeakyReLU (SSL4MIS ConvBlock)."""

    def __init__(self, c_in: int, c_out: int, dropout_p: float, norm: str = "batch"):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            norm_layer(norm, c_out),
            nn.LeakyReLU(),
            nn.Dropout(dropout_p),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            norm_layer(norm, c_out),
            nn.LeakyReLU(),
        )


class UpBlock(nn.Module):
    """ConvTranspose 2x2 up-sampling of the deeper features, concatenation with the skip, ConvBlock."""

    def __init__(self, c_deep: int, c_skip: int, c_out: int, norm: str = "batch"):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_deep, c_skip, kernel_size=2, stride=2)
        self.conv = ConvBlock(2 * c_skip, c_out, 0.0, norm)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(deep)], dim=1))


def fuse_heads(head_logits: torch.Tensor) -> torch.Tensor:
    """[B,N,H,W] logits of N sigmoid heads -> [B,2,H,W] log-probabilities of (background, foreground) with the
    mean of the heads' foreground probabilities (softmax of them gives back 1 - p and p)."""
    p = torch.sigmoid(head_logits.float()).mean(dim=1).clamp(1e-6, 1 - 1e-6)
    return torch.stack([torch.log1p(-p), torch.log(p)], dim=1)


class UNet(nn.Module):
    """2D U-Net; ``forward(x)`` returns ``(logits [B,K,H,W], perception)`` where ``perception`` is None
    without MGP, else a dict {down-sampling factor s: logits [B, H/s, W/s]} for s in (8, 4, 2, 1).

    With ``heads`` = N > 0 the last convolution gives N one-channel heads (``num_classes`` must be 2):
    ``forward(x)`` returns their fused two-class log-probabilities (:func:`fuse_heads`) and None, and
    ``forward(x, heads=True)`` returns ``(head logits [B,N,H,W], last decoder features [B,C,H,W])`` for training."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        base_channels: int = 16,
        dropout: bool = True,
        mgp: bool = False,
        norm: str = "batch",
        heads: int = 0,
    ):
        super().__init__()
        if heads and num_classes != 2:
            raise ValueError(f"a multi-head (gaze level) U-Net is binary: num_classes 2, got {num_classes}")
        self.heads = heads
        ch = [base_channels * 2**i for i in range(5)]
        drop = DROPOUT if dropout else (0.0,) * 5
        self.inc = ConvBlock(in_channels, ch[0], drop[0], norm)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), ConvBlock(ch[i], ch[i + 1], drop[i + 1], norm)) for i in range(4)
        )
        self.ups = nn.ModuleList(UpBlock(ch[4 - i], ch[3 - i], ch[3 - i], norm) for i in range(4))
        self.out_conv = nn.Conv2d(ch[0], heads or num_classes, 3, padding=1)
        self.mgp = nn.ModuleList(nn.Conv2d(ch[3 - i], 1, 1) for i in range(4)) if mgp else None

    def forward(self, x: torch.Tensor, heads: bool = False) -> tuple[torch.Tensor, dict[int, torch.Tensor] | None]:
        feats = [self.inc(x)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        h = feats[-1]
        perception: dict[int, torch.Tensor] | None = {} if self.mgp is not None else None
        for i, up in enumerate(self.ups):
            h = up(h, feats[3 - i])
            if self.mgp is not None:
                perception[2 ** (3 - i)] = self.mgp[i](h)[:, 0]
        out = self.out_conv(h)
        if self.heads:
            return (out, h) if heads else (fuse_heads(out), perception)
        return out, perception


def build_model(spec: dict) -> UNet:
    """The network described by a checkpoint's ``model`` entry (in_channels, num_classes, base_channels,
    norm, dropout, mgp, heads)."""
    return UNet(
        int(spec["in_channels"]),
        int(spec["num_classes"]),
        int(spec["base_channels"]),
        bool(spec.get("dropout", True)),
        bool(spec.get("mgp", False)),
        str(spec.get("norm", "batch")),
        int(spec.get("heads", 0)),
    )
