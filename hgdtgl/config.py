"""Training configuration: one frozen dataclass filled by the CLI and by YAML files alike; the resolved
config (method defaults applied) is written as ``config.yaml`` into every run directory."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from gazekit.errors import GazekitError
from hgdtgl.recipes import METHODS, RECIPES, Recipe

# GazeMedSeg's pseudo-mask thresholds per number of levels (configs/static.py KVASIR_LEVEL_CONFIGS): level k of a
# heatmap scaled to maximum 1 is where it is >= the k-th threshold (the first level is the main one)
GAZE_LEVEL_THRESHOLDS = {
    1: (0.5,),
    2: (0.5, 0.3),
    3: (0.5, 0.3, 0.4),
    4: (0.5, 0.3, 0.367, 0.433),
    5: (0.5, 0.3, 0.35, 0.4, 0.45),
}
SCHEDULES = ("poly", "cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run. Defaults = the SSL4MIS / BCP recipe (DESIGN.md section 4)."""

    data: str
    out: str
    method: str = "hgdtgl"
    format: str | None = None  # ssl4mis | images | nifti | npz; None = detect
    gaze_dir: str | None = None
    train_list: str | None = None  # a .list file replacing the dataset's training list
    labeled: int | None = None  # first N patients / cases of the training list
    labeled_ratio: float | None = None  # seeded share of patients / cases
    iterations: int = 30000  # self-training iterations (after the pre-training of bcp / hgdtgl)
    pretrain_iterations: int | None = None  # labeled-only pre-training BEFORE them (bcp, hgdtgl); None = 1/3
    batch_size: int = 24
    labeled_bs: int = 12
    size: int = 256
    base_channels: int = 16
    norm: str = "batch"  # batch (SSL4MIS) | group (GroupNorm, 8 groups: MONAI BasicUNet-like)
    dropout: bool = True
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 0.01
    lr_schedule: str | None = None  # poly | cosine | constant, per stage; None = method default
    momentum: float = 0.9  # SGD momentum (adamw: beta1)
    nesterov: bool = False
    weight_decay: float = 1e-4
    ema_decay: float = 0.99
    consistency: float = 0.1
    rampup_iterations: int = 30000  # SSL4MIS: 200 "epochs" of 150 iterations
    unlabeled_weight: float = 0.5  # weight of pseudo-labels in mixed images (BCP)
    pseudo_lcc: bool | None = None  # largest connected component per class of pseudo-labels; None = method default
    gazemix: bool | None = None  # None = method default (on for hgdtgl)
    mgp: bool | None = None  # None = method default (on for hgdtgl)
    gaze_loss_weight: float = 0.1
    gaze_scales: tuple[int, ...] = (1, 2, 4, 8)
    gaze_loss_stage: str = "all"  # all | self: off during the labeled-only pre-training (bcp / hgdtgl)
    gaze_loss_ramp: bool = False  # ramped like the consistency term (sigmoid over rampup_iterations of self-training)
    gaze_loss_reduce: str = "sum"  # sum | mean over the decoder levels of --gaze-scales
    gaze_loss_images: str = "all"  # all (every image with gaze) | unlabeled (unlabeled and mixed images only)
    gaze_levels: int = 2  # gazesup: pseudo-mask levels (one head each); gazepseudo uses the first (main) level
    gaze_consistency: float = 3.0  # gazesup: weight of the cross-level consistency loss (GazeMedSeg cons_weight)
    gaze_consistency_mode: str = "prop"  # gazesup: prop (feature propagation, GazeMedSeg's script) | pure
    gazemix_mode: str = "region"  # region | box
    gazemix_quantile: float = 0.8
    gazemix_dilation_px: int = 8
    rot_deg: float = 20.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    val_every: int = 200
    val_split: str = "val"
    val_fraction: float | None = None  # hold out this seeded share of the training patients/cases as validation
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "auto"  # auto | bf16 | fp16 | none: hgdtgl.precision.resolve_precision
    channels_last: bool | None = None  # None = on (faster on CUDA and on CPU: docs/training.md, precision)
    compile: bool = False
    seed: int = 1337
    resume: bool = False

    # ------------------------------------------------------------ derived values
    @property
    def recipe(self) -> Recipe:
        """The method's torch-free rules (hgdtgl.recipes): what it needs, its defaults."""
        if self.method not in RECIPES:
            raise GazekitError("config", "method", f"expected one of {', '.join(METHODS)}, got {self.method!r}")
        return RECIPES[self.method]

    @property
    def uses_gazemix(self) -> bool:
        return bool(self.gazemix if self.gazemix is not None else self.recipe.gaze_by_default)

    @property
    def uses_mgp(self) -> bool:
        return bool(self.mgp if self.mgp is not None else self.recipe.gaze_by_default)

    @property
    def needs_gaze(self) -> bool:
        return self.recipe.gaze_targets or self.uses_gazemix or (self.uses_mgp and self.gaze_loss_weight > 0)

    @property
    def gaze_thresholds(self) -> tuple[float, ...]:
        """Thresholds of the gaze pseudo-mask levels (GAZE_LEVEL_THRESHOLDS), the main level first."""
        return GAZE_LEVEL_THRESHOLDS[self.gaze_levels]

    @property
    def pretrain(self) -> int:
        """Labeled-only pre-training iterations that come before ``iterations`` (BCP: 10k before 30k)."""
        if not self.recipe.copy_paste:
            return 0
        return self.pretrain_iterations if self.pretrain_iterations is not None else self.iterations // 3

    @property
    def total_iterations(self) -> int:
        return self.pretrain + self.iterations

    @property
    def schedule(self) -> str:
        """Learning-rate schedule of each stage: BCP's constant lr for copy-paste methods, SSL4MIS's poly else."""
        if self.lr_schedule is not None:
            return self.lr_schedule
        return self.recipe.lr_schedule

    @property
    def uses_pseudo_lcc(self) -> bool:
        """BCP keeps the largest connected component per class of the teacher's pseudo-labels."""
        return bool(self.pseudo_lcc if self.pseudo_lcc is not None else self.recipe.copy_paste)

    def lr_at(self, it: int) -> float:
        """Learning rate of iteration ``it`` (0-based over the whole run): the schedule restarts with each stage."""
        start, length = (0, self.pretrain) if it < self.pretrain else (self.pretrain, self.iterations)
        frac = (it - start) / max(length, 1)
        if self.schedule == "poly":
            return self.lr * (1.0 - frac) ** 0.9
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
        return self.lr

    def resolved(self) -> TrainConfig:
        """Method defaults made explicit, checked for consistency."""
        cfg = dataclasses.replace(
            self,
            gazemix=self.uses_gazemix,
            mgp=self.uses_mgp,
            pretrain_iterations=self.pretrain,
            lr_schedule=self.schedule,
            pseudo_lcc=self.uses_pseudo_lcc,
            gaze_scales=tuple(int(s) for s in self.gaze_scales),
            scale_range=tuple(float(s) for s in self.scale_range),
        )
        cfg.check()
        return cfg

    def check(self) -> None:
        def bad(field: str, expected: str) -> None:
            raise GazekitError("config", field, f"expected {expected}")

        for field, expected in self.recipe.config_problems(self):
            bad(field, expected)
        if self.labeled is not None and self.labeled_ratio is not None:
            bad("labeled", "either --labeled or --labeled-ratio, not both")
        if self.labeled_ratio is not None and not 0 < self.labeled_ratio <= 1:
            bad("labeled_ratio", f"a ratio in (0, 1], got {self.labeled_ratio}")
        if self.size % 16:
            bad("size", f"a multiple of 16 (four 2x poolings), got {self.size}")
        if self.batch_size <= 0:
            bad("batch_size", f"a positive batch size, got {self.batch_size}")
        if self.amp not in ("auto", "bf16", "fp16", "none"):
            bad("amp", f"auto, bf16, fp16 or none, got {self.amp!r}")
        if self.gazemix_mode not in ("region", "box"):
            bad("gazemix_mode", f"region or box, got {self.gazemix_mode!r}")
        if not self.gaze_scales or not set(self.gaze_scales) <= {1, 2, 4, 8}:
            bad("gaze_scales", f"a non-empty subset of 1, 2, 4, 8 (the U-Net decoder levels), got {self.gaze_scales}")
        if self.gaze_loss_stage not in ("all", "self"):
            bad("gaze_loss_stage", f"all or self, got {self.gaze_loss_stage!r}")
        if self.gaze_loss_reduce not in ("sum", "mean"):
            bad("gaze_loss_reduce", f"sum or mean, got {self.gaze_loss_reduce!r}")
        if self.gaze_loss_images not in ("all", "unlabeled"):
            bad("gaze_loss_images", f"all or unlabeled, got {self.gaze_loss_images!r}")
        if self.gaze_levels not in GAZE_LEVEL_THRESHOLDS:
            bad("gaze_levels", f"1 to {max(GAZE_LEVEL_THRESHOLDS)} pseudo-mask levels, got {self.gaze_levels}")
        if self.gaze_consistency_mode not in ("prop", "pure"):
            bad("gaze_consistency_mode", f"prop or pure, got {self.gaze_consistency_mode!r}")
        if self.iterations <= 0 or self.val_every <= 0:
            bad("iterations", "positive iterations and val_every")
        if self.pretrain < 0:
            bad("pretrain_iterations", f"zero or more, got {self.pretrain}")
        if self.size <= 0:
            bad("size", f"a positive multiple of 16, got {self.size}")
        if self.base_channels <= 0:
            bad("base_channels", f"a positive number of channels, got {self.base_channels}")
        if self.norm not in ("batch", "group"):
            bad("norm", f"batch or group, got {self.norm!r}")
        if self.norm == "group" and self.base_channels % 8:
            bad("base_channels", f"a multiple of 8 for --norm group (8 groups), got {self.base_channels}")
        if self.optimizer not in ("sgd", "adamw"):
            bad("optimizer", f"sgd or adamw, got {self.optimizer!r}")
        if self.lr_schedule is not None and self.lr_schedule not in SCHEDULES:
            bad("lr_schedule", f"one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}")
        if not self.lr > 0:
            bad("lr", f"a positive learning rate, got {self.lr}")
        if self.val_fraction is not None and not 0 < self.val_fraction < 1:
            bad("val_fraction", f"a fraction in (0, 1), got {self.val_fraction}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


FIELDS = {f.name: f for f in fields(TrainConfig)}


def from_mapping(values: dict[str, Any], source: str = "config") -> TrainConfig:
    """TrainConfig from a mapping (YAML file or CLI); unknown keys are an error naming the key."""
    for key in values:
        if key not in FIELDS:
            raise GazekitError(source, key, f"expected a known option ({', '.join(sorted(FIELDS))})")
    for key in ("data", "out"):
        if values.get(key) is None:
            raise GazekitError(source, key, "expected a value (--data DIR and --out RUN_DIR are required)")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return TrainConfig(**clean)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Options from a YAML file (keys = TrainConfig field names, '-' or '_')."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise GazekitError(path, None, f"expected a readable YAML mapping of options: {exc}") from None
    if not isinstance(data, dict):
        raise GazekitError(path, None, "expected a YAML mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def dump_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
