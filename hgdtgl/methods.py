"""The training methods over one shared step: each method turns a batch into named, weighted loss terms.

- ``supervised``: CE+Dice on the labeled images.
- ``mt``: mean teacher (SSL4MIS): supervised + ramped MSE consistency with the EMA teacher on unlabeled images.
- ``bcp``: bidirectional copy-paste (BCP): labeled-only mixed pre-training, then mixed CE+Dice with teacher
  pseudo-labels (weight 0.5) in the unlabeled parts; ``--gazemix`` pastes gaze regions instead of random boxes.
- ``hgdtgl``: BCP + supervised term + ramped consistency on the mixed images + the gaze loss on MGP maps,
  with GazeMix on by default (``--no-gazemix``, ``--no-mgp`` and ``--gaze-loss-weight`` give the ablations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from hgdtgl.losses import ce_dice_loss, consistency_loss, gaze_kl, sigmoid_rampup
from hgdtgl.mixing import gaze_masks, largest_component_per_class, mix, mix_heat, random_box_masks

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


class Method:
    """Base: ``losses`` returns {name: weighted scalar}; the engine sums and back-propagates them. The class
    attributes say what a method needs, so nothing outside this module branches on a method's name."""

    uses_teacher = False  # an EMA teacher is kept
    uses_unlabeled = False  # batches hold unlabeled images (batch_size - labeled_bs of them)
    copy_paste = False  # BCP: labeled-only pre-training stage first, copy-paste pairs of labeled + unlabeled
    gaze_by_default = False  # GazeMix and MGP on unless switched off
    allows_gazemix = False
    allows_mgp = False
    teacher_noise = False  # the teacher sees the unlabeled images with Gaussian noise (mean teacher)
    lr_schedule = "poly"  # published default schedule (SSL4MIS poly; BCP constant)

    @classmethod
    def batch_split(cls, cfg: TrainConfig) -> tuple[int, int]:
        """(labeled, unlabeled) images in a global batch."""
        if not cls.uses_unlabeled:
            return cfg.batch_size, 0
        return cfg.labeled_bs, cfg.batch_size - cfg.labeled_bs

    @classmethod
    def config_problems(cls, cfg: TrainConfig) -> list[tuple[str, str]]:
        """(field, what was expected) for every option this method cannot run with."""
        out = []
        if cfg.gazemix and not cls.allows_gazemix:
            out.append(("gazemix", f"a copy-paste method (bcp or hgdtgl) for GazeMix, not {cfg.method}"))
        if cfg.mgp and not cls.allows_mgp:
            out.append(("mgp", f"a semi-supervised method (mt, bcp, hgdtgl) for --mgp, not {cfg.method}"))
        if cls.uses_unlabeled and not 0 < cfg.labeled_bs < cfg.batch_size:
            out.append(("labeled_bs", f"0 < labeled_bs < batch_size ({cfg.batch_size}), got {cfg.labeled_bs}"))
        if cls.copy_paste and (cfg.labeled_bs % 2 or 2 * cfg.labeled_bs != cfg.batch_size):
            out.append(("labeled_bs", "an even labeled_bs = batch_size / 2 (copy-paste pairs labeled with unlabeled)"))
        return out

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

    def gaze_term(self, perception: dict | None, heat: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
        if perception is None or self.cfg.gaze_loss_weight <= 0:
            return {}
        scales = {s: p for s, p in perception.items() if s in self.cfg.gaze_scales}
        return {"gaze": self.cfg.gaze_loss_weight * gaze_kl(scales, heat, valid)}

    def ramp(self, it: int) -> float:
        return self.cfg.consistency * sigmoid_rampup(it - self.cfg.pretrain, self.cfg.rampup_iterations)


class Supervised(Method):
    def losses(self, it, student, teacher, b, g):
        logits, perception = student(b.l_img)
        ce, dice = ce_dice_loss(logits, b.l_lab)
        return {"sup": 0.5 * (ce + dice), **self.gaze_term(perception, b.l_heat, b.l_gaze)}


class MeanTeacher(Method):
    uses_teacher = uses_unlabeled = True
    allows_mgp = teacher_noise = True

    def losses(self, it, student, teacher, b, g):
        nl = b.l_img.shape[0]
        logits, perception = student(torch.cat([b.l_img, b.u_img]))
        ce, dice = ce_dice_loss(logits[:nl], b.l_lab)
        with torch.no_grad():
            t_prob = teacher(b.u_img + b.noise)[0].float().softmax(dim=1)
        ones = torch.ones(b.u_img.shape[0], *b.u_img.shape[2:], device=b.u_img.device)
        terms = {"sup": 0.5 * (ce + dice), "cons": self.ramp(it) * consistency_loss(logits[nl:], t_prob, ones)}
        heat, valid = torch.cat([b.l_heat, b.u_heat]), torch.cat([b.l_gaze, b.u_gaze])
        return {**terms, **self.gaze_term(perception, heat, valid)}


class CopyPaste(Method):
    """BCP: random-box (or GazeMix) bidirectional copy-paste after a labeled-only pre-training."""

    uses_teacher = uses_unlabeled = True
    copy_paste = allows_gazemix = allows_mgp = True
    lr_schedule = "constant"
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
            return {"mix": ce + dice, **self.gaze_term(perception, mix_heat(ha, hb, m), va & vb)}

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
        return {**terms, **self.gaze_term(perception, heat, valid)}


class HGDTGL(CopyPaste):
    extra_terms = gaze_by_default = True


METHOD_CLASSES = {"supervised": Supervised, "mt": MeanTeacher, "bcp": CopyPaste, "hgdtgl": HGDTGL}


def method_class(name: str) -> type[Method]:
    return METHOD_CLASSES[name]


def make_method(cfg: TrainConfig, rank: int = 0, world: int = 1) -> Method:
    return METHOD_CLASSES[cfg.method](cfg, rank, world)
