"""The torch-free rules of each training method: what it needs, what it allows, and the defaults that
:class:`~hgdtgl.config.TrainConfig` derives from it. One :class:`Recipe` per method in :data:`RECIPES`.

:mod:`hgdtgl.config` (reading and checking options), :mod:`hgdtgl.data` (the batch split, the teacher's input
noise) and :mod:`hgdtgl.engine` read the rules here; :mod:`hgdtgl.methods` attaches one recipe to each method
class, which adds only the losses (and which images it trains on). Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hgdtgl.config import TrainConfig


@dataclass(frozen=True)
class Recipe:
    """What a method needs, so that nothing outside :mod:`hgdtgl.methods` branches on a method's name."""

    name: str
    uses_teacher: bool = False  # an EMA teacher is kept
    uses_unlabeled: bool = False  # batches hold unlabeled images (batch_size - labeled_bs of them)
    copy_paste: bool = False  # BCP: labeled-only pre-training stage first, copy-paste pairs of labeled + unlabeled
    gaze_by_default: bool = False  # GazeMix and MGP on unless switched off
    allows_gazemix: bool = False
    allows_mgp: bool = False
    teacher_noise: bool = False  # the teacher sees the unlabeled images with Gaussian noise (mean teacher)
    lr_schedule: str = "poly"  # published default schedule (SSL4MIS poly; BCP constant)
    gaze_targets: bool = False  # trains on gaze pseudo-masks (gazesup, gazepseudo): needs gaze, binary datasets only
    reads_masks: bool = True  # False: no training mask is read (gazesup)
    head_per_gaze_level: bool = False  # one sigmoid head per gaze pseudo-mask level instead of the K-class output

    def heads(self, cfg: TrainConfig) -> int:
        """Sigmoid heads of the network (0: the usual K-class output)."""
        return cfg.gaze_levels if self.head_per_gaze_level else 0

    def batch_split(self, cfg: TrainConfig) -> tuple[int, int]:
        """(labeled, unlabeled) images in a global batch."""
        if not self.uses_unlabeled:
            return cfg.batch_size, 0
        return cfg.labeled_bs, cfg.batch_size - cfg.labeled_bs

    def config_problems(self, cfg: TrainConfig) -> list[tuple[str, str]]:
        """(field, what was expected) for every option this method cannot run with."""
        out = []
        if cfg.gazemix and not self.allows_gazemix:
            out.append(("gazemix", f"a copy-paste method (bcp or hgdtgl) for GazeMix, not {cfg.method}"))
        if cfg.mgp and not self.allows_mgp:
            out.append(("mgp", f"a semi-supervised method (mt, bcp, hgdtgl) for --mgp, not {cfg.method}"))
        if self.uses_unlabeled and not 0 < cfg.labeled_bs < cfg.batch_size:
            out.append(("labeled_bs", f"0 < labeled_bs < batch_size ({cfg.batch_size}), got {cfg.labeled_bs}"))
        if self.copy_paste and (cfg.labeled_bs % 2 or 2 * cfg.labeled_bs != cfg.batch_size):
            out.append(("labeled_bs", "an even labeled_bs = batch_size / 2 (copy-paste pairs labeled with unlabeled)"))
        return out


_COPY_PASTE = dict(uses_teacher=True, uses_unlabeled=True, copy_paste=True, allows_gazemix=True, allows_mgp=True)
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("supervised"),
        Recipe("mt", uses_teacher=True, uses_unlabeled=True, allows_mgp=True, teacher_noise=True),
        Recipe("bcp", **_COPY_PASTE, lr_schedule="constant"),
        Recipe("hgdtgl", **_COPY_PASTE, lr_schedule="constant", gaze_by_default=True),
        Recipe("gazesup", gaze_targets=True, reads_masks=False, lr_schedule="cosine", head_per_gaze_level=True),
        Recipe("gazepseudo", uses_unlabeled=True, gaze_targets=True),
    )
}
METHODS = tuple(RECIPES)  # the method names, in this order everywhere (CLI choices, docs)
