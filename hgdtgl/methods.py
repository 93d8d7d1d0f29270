"""The training methods over one shared step: each method turns a batch into named, weighted loss terms.

- ``supervised``: CE+Dice on the labeled images.
- ``mt``: mean teacher (SSL4MIS): supervised + ramped MSE consistency with the EMA teacher on unlabeled images.
- ``bcp``: bidirectional copy-paste (BCP): labeled-only mixed pre-training, then mixed CE+Dice with teacher
  pseudo-labels (weight 0.5) in the unlabeled parts; ``--gazemix`` pastes gaze regions instead of random boxes.
- ``hgdtgl``: BCP + supervised term + ramped consistency on the mixed images + the gaze loss on MGP maps,
  with GazeMix on by default (``--no-gazemix``, ``--no-mgp`` and ``--gaze-loss-weight`` give the ablations).
  The gaze loss's recipe switches (``--gaze-loss-stage``, ``--gaze-loss-ramp``, ``--gaze-loss-reduce``,
  ``--gaze-loss-images``) act in :meth:`Method.gaze_term`.
- ``gazesup``: GazeMedSeg (MICCAI 2024) gaze-supervised training, no mask read: pseudo-masks at ``--gaze-levels``
  thresholds of every heatmap, one sigmoid head each (BCE), their cross-level consistency (weight 3); the
  prediction is the mean of the heads' probabilities. Images without gaze are left out.
- ``gazepseudo``: masks on the labeled images, the main-level gaze pseudo-mask on the unlabeled images with gaze
  (CE+Dice on both, no teacher): the plain baseline that spends gaze where HG-DTGL does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from hgdtgl.data.batches import Batch
from hgdtgl.losses import (
    bce_levels,
    ce_dice_loss,
    consistency_loss,
    gaze_kl,
    gaze_pseudo_masks,
    level_consistency,
    propagate,
    sigmoid_rampup,
)
from hgdtgl.mixing import gaze_masks, largest_component_per_class, mix, mix_heat, random_box_masks
from hgdtgl.recipes import RECIPES, Recipe

if TYPE_CHECKING:
    from hgdtgl.config import TrainConfig


class Method:
    """Base: ``losses`` returns {name: weighted scalar}; the engine sums and back-propagates them. ``recipe``
    (hgdtgl.recipes, torch-free) says what a method needs, so nothing outside this module branches on a method's
    name; a class adds only its losses and, where they differ, the images it trains on."""

    recipe: ClassVar[Recipe]

    @classmethod
    def train_pools(cls, labeled: np.ndarray, has_gaze: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
        """(indices of the labeled pool, of the unlabeled pool, a line saying what was left out or '')."""
        return np.flatnonzero(labeled), np.flatnonzero(~labeled), ""

    def __init__(self, cfg: TrainConfig, rank: int = 0, world: int = 1):
        self.cfg, self.rank, self.world = cfg, rank, world

    def shard(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of a tensor drawn for the global batch."""
        n = t.shape[0] // self.world
        return t[self.rank * n : (self.rank + 1) * n]

    def losses(
        self, it: int, student: nn.Module, teacher: nn.Module | None, b: Batch, g: torch.Generator
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def gaze_term(
        self,
        it: int,
        perception: dict | None,
        heat: torch.Tensor,
        valid: torch.Tensor,
        unlabeled: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The weighted gaze loss and its recipe switches: ``gaze_loss_stage`` self (a constant 0 during the
        labeled-only pre-training), ``gaze_loss_ramp`` (times the consistency ramp, normalised to 1),
        ``gaze_loss_reduce`` (sum or mean over scales), ``gaze_loss_images`` unlabeled (only the rows that
        ``unlabeled`` marks: unlabeled or mixed images; None = none of them)."""
        cfg = self.cfg
        if perception is None or cfg.gaze_loss_weight <= 0:
            return {}
        if cfg.gaze_loss_stage == "self" and it < cfg.pretrain:
            return {"gaze": torch.zeros((), device=heat.device)}
        if cfg.gaze_loss_images == "unlabeled":
            valid = valid & unlabeled if unlabeled is not None else torch.zeros_like(valid)
        scales = {s: p for s, p in perception.items() if s in cfg.gaze_scales}
        term = cfg.gaze_loss_weight * gaze_kl(scales, heat, valid, cfg.gaze_loss_reduce)
        if cfg.gaze_loss_ramp:
            term = term * sigmoid_rampup(it - cfg.pretrain, cfg.rampup_iterations)
        return {"gaze": term}

    def ramp(self, it: int) -> float:
        return self.cfg.consistency * sigmoid_rampup(it - self.cfg.pretrain, self.cfg.rampup_iterations)


class Supervised(Method):
    recipe = RECIPES["supervised"]

    def losses(self, it, student, teacher, b, g):
        logits, perception = student(b.l_img)
        ce, dice = ce_dice_loss(logits, b.l_lab)
        return {"sup": 0.5 * (ce + dice), **self.gaze_term(it, perception, b.l_heat, b.l_gaze)}


class MeanTeacher(Method):
    recipe = RECIPES["mt"]

    def losses(self, it, student, teacher, b, g):
        nl = b.l_img.shape[0]
        logits, perception = student(torch.cat([b.l_img, b.u_img]))
        ce, dice = ce_dice_loss(logits[:nl], b.l_lab)
        with torch.no_grad():
            t_prob = teacher(b.u_img + b.noise)[0].float().softmax(dim=1)
        ones = torch.ones(b.u_img.shape[0], *b.u_img.shape[2:], device=b.u_img.device)
        terms = {"sup": 0.5 * (ce + dice), "cons": self.ramp(it) * consistency_loss(logits[nl:], t_prob, ones)}
        heat, valid = torch.cat([b.l_heat, b.u_heat]), torch.cat([b.l_gaze, b.u_gaze])
        unlabeled = torch.arange(len(valid), device=valid.device) >= nl
        return {**terms, **self.gaze_term(it, perception, heat, valid, unlabeled)}


class CopyPaste(Method):
    """BCP: random-box (or GazeMix) bidirectional copy-paste after a labeled-only pre-training."""

    recipe = RECIPES["bcp"]
    extra_terms = False  # hgdtgl: + supervised term on the unmixed labeled images + consistency

    def masks(self, heat: torch.Tensor, valid: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Paste masks for this rank's pairs; random quantities are drawn for the global batch, then sharded."""
        n_local, size = heat.shape[0], heat.shape[-1]
        boxes = self.shard(random_box_masks(n_local * self.world, size, g, heat.device))
        if not self.cfg.uses_gazemix:
            return boxes
        step = size // 10
        jitter = self.shard(torch.randint(-step, step + 1, (n_local * self.world, 4), generator=g))
        return gaze_masks(
            heat,
            valid,
            boxes,
            self.cfg.gazemix_quantile,
            self.cfg.gazemix_dilation_px,
            self.cfg.gazemix_mode,
            jitter,
        )

    def losses(self, it, student, teacher, b, g):
        la, lb = b.l_img[0::2], b.l_img[1::2]
        ya, yb = b.l_lab[0::2], b.l_lab[1::2]
        ha, hb = b.l_heat[0::2], b.l_heat[1::2]
        va, vb = b.l_gaze[0::2], b.l_gaze[1::2]
        if it < self.cfg.pretrain:  # labeled-only mixing: a pasted into b
            m = self.masks(ha, va, g)
            logits, perception = student(mix(la, lb, m))
            ce, dice = ce_dice_loss(logits, mix(ya.float(), yb.float(), m).long())
            return {"mix": ce + dice, **self.gaze_term(it, perception, mix_heat(ha, hb, m), va & vb)}

        ua, ub = b.u_img[0::2], b.u_img[1::2]
        hua, hub = b.u_heat[0::2], b.u_heat[1::2]
        vua, vub = b.u_gaze[0::2], b.u_gaze[1::2]
        with torch.no_grad():
            t_prob = teacher(b.u_img)[0].float().softmax(dim=1)
        pa, pb = t_prob[0::2], t_prob[1::2]
        pseudo = t_prob.argmax(dim=1)
        if self.cfg.pseudo_lcc:
            pseudo = largest_component_per_class(pseudo, t_prob.shape[1])
        qa, qb = pseudo[0::2].float(), pseudo[1::2].float()
        m1 = self.masks(ha, va, g)  # labeled a (its gaze region) pasted into unlabeled a
        m2 = self.masks(hub, vub, g)  # unlabeled b (its gaze region) pasted into labeled b
        x1, x2 = mix(la, ua, m1), mix(ub, lb, m2)
        y1 = mix(ya.float(), qa, m1).long()
        y2 = mix(qb, yb.float(), m2).long()
        w = self.cfg.unlabeled_weight
        w1, w2 = m1 + (1 - m1) * w, m2 * w + (1 - m2)
        heat = torch.cat([mix_heat(ha, hua, m1), mix_heat(hub, hb, m2)])
        valid = torch.cat([va & vua, vub & vb])
        nl = b.l_img.shape[0] if self.extra_terms else 0
        inputs = [b.l_img] if self.extra_terms else []
        logits, perception = student(torch.cat([*inputs, x1, x2]))
        ce, dice = ce_dice_loss(logits[nl:], torch.cat([y1, y2]), torch.cat([w1, w2]))
        terms = {"mix": ce + dice}
        if self.extra_terms:
            ce_l, dice_l = ce_dice_loss(logits[:nl], b.l_lab)
            terms["sup"] = 0.5 * (ce_l + dice_l)
            # consistency in the unlabeled parts of the mixed images, against the mixed teacher probabilities
            target = torch.cat([mix(torch.zeros_like(pa), pa, m1), mix(pb, torch.zeros_like(pb), m2)])
            cons_w = torch.cat([1 - m1, m2])
            terms["cons"] = self.ramp(it) * consistency_loss(logits[nl:], target, cons_w)
            heat = torch.cat([b.l_heat, heat])
            valid = torch.cat([b.l_gaze, valid])
        mixed = torch.arange(len(valid), device=valid.device) >= nl  # the mixed images hold unlabeled parts
        return {**terms, **self.gaze_term(it, perception, heat, valid, mixed)}


class HGDTGL(CopyPaste):
    recipe = RECIPES["hgdtgl"]
    extra_terms = True


def _unwrap(m: nn.Module) -> nn.Module:
    m = getattr(m, "module", m)
    return getattr(m, "_orig_mod", m)


class GazeSup(Method):
    """GazeMedSeg's gaze-supervised training (trainers/gaze_sup.py) on the shared step: every batch image has
    gaze; level k's pseudo-mask is the heatmap (scaled to maximum 1) >= the k-th threshold; head k learns it with
    BCE; ``gaze_consistency`` x their cross-level consistency (mode ``prop``: the heads on GazeMedSeg's propagated
    features against the other levels, ``pure``: the heads themselves). GazeMedSeg trains one U-Net per level;
    here the levels are heads of one U-Net."""

    recipe = RECIPES["gazesup"]  # GazeMedSeg's cosine schedule (to 1e-4); one head per level

    @classmethod
    def train_pools(cls, labeled, has_gaze):
        pool = np.flatnonzero(has_gaze)
        skipped = len(has_gaze) - len(pool)
        msg = f"gazesup: trains on the {len(pool)} images with gaze (no mask read); {skipped} without gaze skipped"
        return pool, np.empty(0, np.int64), msg

    def losses(self, it, student, teacher, b, g):
        head_logits, feat = student(b.l_img, heads=True)
        masks = gaze_pseudo_masks(b.l_heat, self.cfg.gaze_thresholds)
        terms = {"bce": bce_levels(head_logits, masks)}
        if self.cfg.gaze_consistency > 0 and head_logits.shape[1] > 1:
            compare = _unwrap(student).out_conv(propagate(feat)) if self.cfg.gaze_consistency_mode == "prop" else None
            terms["cons"] = self.cfg.gaze_consistency * level_consistency(head_logits, compare)
        return terms


class GazePseudo(Method):
    """Masks on the labeled images, the main-level gaze pseudo-mask on the unlabeled images with gaze; CE+Dice on
    both (each weighted as the supervised term), no teacher."""

    recipe = RECIPES["gazepseudo"]

    @classmethod
    def train_pools(cls, labeled, has_gaze):
        unl = np.flatnonzero(~labeled & has_gaze)
        skipped = int((~labeled).sum()) - len(unl)
        msg = f"gazepseudo: pseudo-masks on the {len(unl)} unlabeled images with gaze; {skipped} without gaze skipped"
        return np.flatnonzero(labeled), unl, msg

    def losses(self, it, student, teacher, b, g):
        nl = b.l_img.shape[0]
        logits, _ = student(torch.cat([b.l_img, b.u_img]))
        ce, dice = ce_dice_loss(logits[:nl], b.l_lab)
        pseudo = gaze_pseudo_masks(b.u_heat, self.cfg.gaze_thresholds[:1])[:, 0].long()
        ce_u, dice_u = ce_dice_loss(logits[nl:], pseudo)
        return {"sup": 0.5 * (ce + dice), "gaze_pseudo": 0.5 * (ce_u + dice_u)}


METHOD_CLASSES = {c.recipe.name: c for c in (Supervised, MeanTeacher, CopyPaste, HGDTGL, GazeSup, GazePseudo)}


def method_class(name: str) -> type[Method]:
    return METHOD_CLASSES[name]


def make_method(cfg: TrainConfig, rank: int = 0, world: int = 1) -> Method:
    return METHOD_CLASSES[cfg.method](cfg, rank, world)
