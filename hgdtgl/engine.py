"""The one training loop of every method, as a Trainer with named hooks (nnU-Net style):

    start -> for each iteration: begin_stage, step, runlog.on_step
             -> every val_every: validate, checkpoint, runlog.on_validation -> end

``step`` runs :func:`train_step`, the one optimisation step of every method, on the Trainer's :class:`Parts`
(method, student, teacher, optimiser, scaler, autocast); the log (progress, metrics.csv, TensorBoard,
curves.png) is :class:`hgdtgl.runlog.RunLog`, so ``checkpoint`` only writes checkpoints.

Data sit on the device and are augmented as whole batches (hgdtgl.data.batches); AMP, DDP, the EMA teacher,
BCP's two stages (labeled-only pre-training, then self-training from the best pre-training weights) and exact
resume. Every random draw of iteration ``it`` (sampling, augmentation, noise, paste boxes) comes from a
generator seeded by (seed, it); dropout uses the global torch RNG reseeded per iteration. A run killed after a
checkpoint therefore resumes bit-exactly, and a 2-process DDP run sees the same batch as one process.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from hgdtgl import __version__
from hgdtgl.checkpoints import CHECKPOINT_FORMAT, TRAINING_STATE, load_checkpoint
from hgdtgl.config import TrainConfig, dump_yaml
from hgdtgl.data.batches import Batch, BatchMaker, DeviceData
from hgdtgl.data.formats import Case, TrainData, load_cases, load_train, select_labeled
from hgdtgl.data.gaze import join_gaze
from hgdtgl.data.holdout import split_validation
from hgdtgl.ddp import convert_batchnorm
from hgdtgl.ema import ema_update
from hgdtgl.evaluate import evaluate_cases, mean_dice
from hgdtgl.methods import Method, make_method, method_class
from hgdtgl.models import build_model
from hgdtgl.precision import DTYPES, cpu_capability, resolve_precision
from hgdtgl.runlog import RunLog, read_metrics

# fields that must match when a run is resumed
RESUME_FIELDS = (
    "method",
    "data",
    "train_list",
    "labeled",
    "labeled_ratio",
    "batch_size",
    "labeled_bs",
    "size",
    "base_channels",
    "norm",
    "dropout",
    "optimizer",
    "lr_schedule",
    "pseudo_lcc",
    "gazemix",
    "mgp",
    "seed",
    "val_fraction",
    "pretrain_iterations",
    "iterations",
)


NO_VALIDATION = (
    "warning: no validation: the dataset has no validation split, so checkpoint_best.pt is the LAST weights, not "
    "the best ones, and no validation Dice is measured; give --val-fraction 0.2 to hold out 20 % of the training "
    "patients/cases"
)


def log(msg: str, rank: int = 0) -> None:
    if rank == 0:
        print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- setup


def setup_device(cfg: TrainConfig) -> tuple[torch.device, int, int, int]:
    """(device, rank, world, local_rank); initialises torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    want = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if want == "cuda" and not torch.cuda.is_available():
        raise GazekitError("--device", "cuda", "expected a CUDA GPU, none is visible; use --device cpu")
    device = torch.device(f"cuda:{local_rank}" if want == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, rank, world, local_rank


def model_spec(cfg: TrainConfig, data: TrainData) -> dict:
    heads = cfg.recipe.heads(cfg)
    return {
        **({"heads": heads} if heads else {}),
        "arch": "ssl4mis-unet",
        "in_channels": data.in_channels,
        "num_classes": data.num_classes,
        "base_channels": cfg.base_channels,
        "norm": cfg.norm,
        "dropout": cfg.dropout,
        "mgp": cfg.uses_mgp,
        "size": cfg.size,
    }


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """SGD (momentum, optional Nesterov) or AdamW (beta1 = --momentum) with decoupled weight decay."""
    params = list(params)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
    )


@dataclass
class Parts:
    """What the training step works on: the Trainer owns one (``Trainer.parts``, built by ``start()``), and
    so can a script that steps by hand (benchmarks/train_step.py)."""

    cfg: TrainConfig
    method: Method  # the method's losses (hgdtgl.methods)
    student: nn.Module  # the model being trained, unwrapped: what checkpoints save and validation runs
    model: nn.Module  # the student as trained: DDP- and / or compile-wrapped, else the student itself
    teacher: nn.Module | None  # the EMA teacher of the methods that use one
    optim: torch.optim.Optimizer  # replaced by a fresh one when BCP's self-training starts
    scaler: torch.amp.GradScaler  # enabled for float16 only
    autocast: Any = field(default_factory=nullcontext)  # the mixed-precision context (nullcontext: float32)


def train_step(parts: Parts, it: int, batch: Batch, g: torch.Generator) -> tuple[torch.Tensor, dict]:
    """One optimisation step shared by every method: the method's losses under autocast, scaled backward,
    optimiser step, and (self-training) the EMA teacher follows the student. Returns the summed loss and
    its named terms."""
    p = parts
    with p.autocast:
        terms = p.method.losses(it, p.model, p.teacher, batch, g)
    loss = sum(terms.values())
    p.optim.zero_grad(set_to_none=True)
    p.scaler.scale(loss).backward()
    p.scaler.step(p.optim)
    p.scaler.update()
    if p.teacher is not None and it >= p.cfg.pretrain:
        ema_update(p.teacher, unwrap(p.student), it - p.cfg.pretrain, p.cfg.ema_decay)
    return loss, terms


def unwrap(m: nn.Module) -> nn.Module:
    m = getattr(m, "module", m)
    return getattr(m, "_orig_mod", m)


def prepare_data(cfg: TrainConfig, rank: int = 0) -> tuple[TrainData, np.ndarray]:
    """Training data with gaze joined and the labeled mask (:func:`prepare_training` without its held-out
    validation cases)."""
    data, labeled, _ = prepare_training(cfg, rank)
    return data, labeled


def prepare_training(cfg: TrainConfig, rank: int = 0) -> tuple[TrainData, np.ndarray, list[Case] | None]:
    """Training data with gaze joined, the labeled mask and, with --val-fraction, the validation cases held
    out of the training list (None without it); checks that a gaze method has gaze."""
    method = cfg.recipe
    data = load_train(cfg.data, cfg.size, cfg.format, cfg.train_list, masks=method.reads_masks)
    if data.size != cfg.size:
        raise GazekitError(cfg.data, "size", f"expected --size {data.size} (the packed training size), got {cfg.size}")
    held = None  # before the masks are dropped (gazesup): validation keeps its labels
    if cfg.val_fraction is not None and not method.reads_masks and data.format == "images":
        raise GazekitError(
            "--val-fraction",
            str(cfg.val_fraction),
            f"expected a method that reads masks/ ({cfg.method} does not, so held-out images would have no labels "
            "to validate on); give --val-split FILE.list of images that have masks",
        )
    if cfg.val_fraction is not None:  # the same split on every rank: it depends on the seed only
        n_groups = len(set(data.groups))
        data, held = split_validation(data, cfg.val_fraction, cfg.seed, str(cfg.data))
        log(
            f"validation: {len(held)} of {n_groups} training patients/cases held out (--val-fraction "
            f"{cfg.val_fraction}, seed {cfg.seed}): {', '.join(c.name for c in held[:5])}"
            + (", ..." if len(held) > 5 else "")
            + "; listed in val_holdout.list",
            rank,
        )
    if not method.reads_masks:  # nothing can train on masks that share the images' files (ssl4mis, nifti, npz)
        data.labels = np.zeros_like(data.labels)
    if method.gaze_targets and data.num_classes != 2:
        raise GazekitError(
            cfg.data,
            "classes",
            f"expected a binary dataset for method {cfg.method} (gaze says where a reader looked, not which class "
            f"is there; this one has {data.num_classes - 1} foreground classes)",
        )
    if cfg.gaze_dir:
        data = join_gaze(data, cfg.gaze_dir, strict=cfg.needs_gaze)
    labeled = select_labeled(data.groups, cfg.labeled, cfg.labeled_ratio, cfg.seed)
    has = data.has_gaze if data.has_gaze is not None else np.zeros(len(labeled), bool)
    n_l, n_u = int(labeled.sum()), int((~labeled).sum())
    log(
        f"data: {len(labeled)} training images ({data.format}), {n_l} labeled from "
        f"{len(set(np.asarray(data.groups)[labeled]))} patients/cases, {n_u} unlabeled; gaze on "
        f"{int(has[labeled].sum())}/{n_l} labeled and {int(has[~labeled].sum())}/{n_u} unlabeled images",
        rank,
    )
    if cfg.needs_gaze and not has.any():
        where = cfg.gaze_dir or cfg.data
        raise GazekitError(
            where,
            "gaze",
            f"expected heatmaps for the training images (method {cfg.method} uses gaze; none of the {len(labeled)} "
            f"images, e.g. stimulus {data.keys[0][0]!r} slice {data.keys[0][1]}, has one); give --gaze-dir STORE "
            + (
                "(it trains on gaze pseudo-masks)"
                if method.gaze_targets
                else "or turn gaze off with --no-gazemix --no-mgp"
            ),
        )
    if method.uses_unlabeled and n_u == 0:
        raise GazekitError(
            "--labeled", str(cfg.labeled), f"expected unlabeled images for method {cfg.method}, but all are labeled"
        )
    return data, labeled, held


def training_pools(cfg: TrainConfig, data: TrainData, labeled: np.ndarray, rank: int = 0) -> tuple[np.ndarray, ...]:
    """The labeled and unlabeled index pools the batches draw from (the method's choice, e.g. gazesup: the
    images with gaze), with one line saying what was left out; an error when a pool the method draws from is
    empty."""
    has = data.has_gaze if data.has_gaze is not None else np.zeros(len(labeled), bool)
    lab_pool, unl_pool, msg = method_class(cfg.method).train_pools(labeled, has)
    if msg:
        log(msg, rank)
    lbs, ubs = cfg.recipe.batch_split(cfg)
    if lbs and not len(lab_pool) or ubs and not len(unl_pool):
        which = "labeled" if lbs and not len(lab_pool) else "unlabeled"
        raise GazekitError(
            cfg.gaze_dir or cfg.data, "gaze", f"expected {which} training images for method {cfg.method}: {msg}"
        )
    return lab_pool, unl_pool


class Trainer:
    """One training run. ``run()`` calls the hooks in order, each owning one concern: ``start`` (data, the
    step's :class:`Parts`, resume), ``begin_stage``, ``step``, ``validate``, ``checkpoint`` (the checkpoint
    files), the run's log (``runlog``, :class:`hgdtgl.runlog.RunLog`: progress, TensorBoard, metrics.csv,
    curves.png) and ``end``."""

    def __init__(self, cfg: TrainConfig, stop_after: int | None = None):
        self.cfg = cfg.resolved()
        self.stop_after = stop_after  # end right after the checkpoint of that iteration (the resume test's "kill")
        self.device, self.rank, self.world, _ = setup_device(self.cfg)
        self.out = Path(self.cfg.out)
        self.latest = self.out / "checkpoint_latest.pt"
        self.pre_best_path = self.out / "checkpoint_pretrain_best.pt"
        self.total = self.cfg.total_iterations
        self.start_it = 0
        self.best: dict = {"dice": -1.0, "iteration": 0}  # best self-training validation
        self.pre_best: dict = {"dice": -1.0, "iteration": 0}  # best labeled-only pre-training (bcp, hgdtgl)
        self.rows: list[dict] = []  # one per validation (metrics.csv)
        self.runlog = RunLog(self.out, self.curves_title(), self.cfg.pretrain or None, self.rank)
        # set by start(): the data, the model and its training state
        self.names: list[str] = []  # foreground class names
        self.val_cases: list[Case] = []  # validation cases (rank 0 only)
        self.spec: dict = {}  # the model's specification (model_spec)
        self.precision: str = ""  # the resolved --amp
        self.amp: torch.dtype | None = None  # its autocast dtype (None: float32)
        self.channels_last = True
        self.parts: Parts | None = None  # method, student, teacher, optimiser, scaler, autocast: what step() uses
        self.make_batch: BatchMaker | None = None
        self.data_meta: dict = {}  # the checkpoint's description of the training data
        # set while running: the last step's learning rate, whether the last validation improved
        self.lr = 0.0
        self.improved = False
        # the current logging window (_reset_window): loss sums and counts on the device, images, timings
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.n_sum, self.t_data, self.t_total, self.t0 = 0, 0.0, 0.0, 0.0

    # ------------------------------------------------------------ hooks
    def start(self) -> None:
        """Data, model, teacher, optimiser, resume state, run directory and logging."""
        cfg, rank, world, device = self.cfg, self.rank, self.world, self.device
        if self.latest.exists() and not cfg.resume:
            raise GazekitError(
                self.out,
                "--out",
                "expected a new run directory, this one has a checkpoint (add --resume to continue it)",
            )
        data, labeled, held = prepare_training(cfg, rank)
        lab_pool, unl_pool = training_pools(cfg, data, labeled, rank)
        lbs, ubs = cfg.recipe.batch_split(cfg)
        if lbs % world or ubs % world or (cfg.recipe.copy_paste and (lbs // world) % 2):
            raise GazekitError(
                "--batch-size",
                str(cfg.batch_size),
                f"expected labeled/unlabeled parts divisible by {world} ranks"
                + (" into even parts" if cfg.recipe.copy_paste else ""),
            )
        self.names = data.class_names
        self.val_cases = []
        if held is not None:
            self.val_cases = held if rank == 0 else []
        else:
            try:
                self.val_cases = load_cases(cfg.data, cfg.val_split, cfg.format) if rank == 0 else []
            except GazekitError as exc:
                if cfg.val_split != "val":  # a split the user named must exist
                    raise
                log(f"{NO_VALIDATION} ({exc.one_line()})", rank)

        self.spec = model_spec(cfg, data)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run of this seed
        student = build_model(self.spec)
        if world > 1:
            student = (
                nn.SyncBatchNorm.convert_sync_batchnorm(student)
                if device.type == "cuda"
                else convert_batchnorm(student)
            )
        student.to(device)
        self.precision, fallback = resolve_precision(cfg.amp, device.type)
        if fallback:
            log(fallback, rank)
        self.amp = DTYPES[self.precision]
        # channels-last by default: 1.2-1.6x the contiguous layout per CPU step in float32 and 1.4x in bf16
        # (benchmarks/train_step.py, mt / bcp / hgdtgl at 128 px, batch 8, one thread), and on CUDA
        self.channels_last = cfg.channels_last if cfg.channels_last is not None else True
        if self.channels_last:
            student.to(memory_format=torch.channels_last)
        method = make_method(cfg, rank, world)
        teacher = copy.deepcopy(student) if method.recipe.uses_teacher else None
        if teacher is not None:
            for p in teacher.parameters():
                p.requires_grad_(False)
        self.parts = Parts(
            cfg,
            method,
            student,
            student,
            teacher,
            make_optimizer(cfg, student.parameters()),
            torch.amp.GradScaler(device.type, enabled=self.amp == torch.float16),
            torch.autocast(device.type, dtype=self.amp) if self.amp is not None else nullcontext(),
        )
        if cfg.resume and self.latest.exists():
            self._resume()

        if world > 1:
            self.parts.model = nn.parallel.DistributedDataParallel(
                student,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=cfg.uses_mgp
                and (cfg.gaze_loss_weight <= 0 or (cfg.gaze_loss_stage == "self" and cfg.pretrain > 0)),
            )
        if cfg.compile:
            self.parts.model = torch.compile(self.parts.model)
        if rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.out / "config.yaml") as tmp:
                Path(tmp).write_text(dump_yaml(cfg))
            if held is not None:  # the validation cases --val-fraction held out (one patient/case/image a line)
                with atomic_path(self.out / "val_holdout.list") as tmp:
                    Path(tmp).write_text("".join(f"{c.name}\n" for c in held))
            with atomic_path(self.out / "machine.json") as tmp:
                Path(tmp).write_text(json.dumps(self.machine(), indent=1) + "\n")
        self.runlog.open()
        self.make_batch = BatchMaker(cfg, DeviceData(data, device), lab_pool, unl_pool, rank, world, self.channels_last)
        self.data_meta = {
            "format": data.format,
            "path": str(cfg.data),
            "class_names": self.names,
            "n_train": len(labeled),
            "n_labeled": int(labeled.sum()) if cfg.recipe.reads_masks else 0,  # masks trained on
            "n_with_gaze": int(np.sum(data.has_gaze)) if data.has_gaze is not None else 0,
        }
        if held is not None:
            self.data_meta["val_holdout"] = [c.name for c in held]
        self._reset_window()

    def curves_title(self) -> str:
        """curves.png's title: the method (and its gaze parts) on the dataset (folder or file name)."""
        cfg = self.cfg
        parts = [p for p, on in (("GazeMix", cfg.uses_gazemix), ("MGP", cfg.uses_mgp)) if on]
        method = cfg.method + (f" ({' + '.join(parts)})" if parts else "")
        return f"{method} on {Path(cfg.data).name}, seed {cfg.seed}"

    def machine(self) -> dict:
        """What this run resolved on its machine (``machine.json``): precision, memory format, device, CPU."""
        return {
            "precision": self.precision,
            "channels_last": bool(self.channels_last),
            "device": str(self.device),
            "cpu_capability": cpu_capability(),
            "threads": torch.get_num_threads(),
            "world_size": self.world,
            "torch": torch.__version__,
        }

    def begin_stage(self, it: int) -> None:
        """BCP: at the end of pre-training, student and teacher start from the best pre-training weights (on
        validation; the last ones without validation) with a fresh optimiser. Every teacher starts as the student."""
        cfg, p = self.cfg, self.parts
        if it == cfg.pretrain and cfg.pretrain > 0:
            if self.pre_best_path.is_file():
                unwrap(p.student).load_state_dict(load_checkpoint(self.pre_best_path)["student"])
            p.optim = make_optimizer(cfg, p.student.parameters())
            self.best = {"dice": -1.0, "iteration": 0}
            log(
                f"self-training starts from the pre-training weights of iteration {self.pre_best['iteration']}",
                self.rank,
            )
        if p.teacher is not None and it == cfg.pretrain:
            p.teacher.load_state_dict(unwrap(p.student).state_dict())

    def step(self, it: int) -> torch.Tensor:
        """One optimisation step (:func:`train_step` on the Trainer's parts) at the scheduled learning rate;
        losses summed on the device (no sync)."""
        cfg, device = self.cfg, self.device
        t_start = time.perf_counter()
        timed = device.type != "cuda" or it % 10 == 0  # CUDA: synchronise only on every 10th iteration
        sync = timed and device.type == "cuda"
        self.lr = cfg.lr_at(it)
        for group in self.parts.optim.param_groups:
            group["lr"] = self.lr
        torch.manual_seed(cfg.seed * 15485863 + it * 7 + self.rank)  # dropout
        batch, g = self.make_batch(it)
        if sync:
            torch.cuda.synchronize(device)
        t_mid = time.perf_counter()
        loss, terms = train_step(self.parts, it, batch, g)
        if sync:
            torch.cuda.synchronize(device)
        if timed:
            self.t_data += t_mid - t_start
            self.t_total += time.perf_counter() - t_start
        for k, v in {"total": loss, **terms}.items():
            self.sums[k] = self.sums.get(k, 0.0) + v.detach().float()
            self.counts[k] = self.counts.get(k, 0) + 1  # a term can be present for part of a window
        self.n_sum += 1
        return loss

    def due(self, done: int) -> bool:
        end_of_stage = done == self.cfg.pretrain or done == self.total
        return done % self.cfg.val_every == 0 or end_of_stage or done == self.stop_after

    def validate(self, done: int) -> dict:
        """The window's mean losses, speed and memory, and (rank 0) the validation metrics; updates the bests."""
        cfg, device = self.cfg, self.device
        stage = "pretrain" if done <= cfg.pretrain else "train"
        row = {"iteration": done, "stage": stage, "lr": self.lr}
        row.update({f"loss_{k}": float(v) / self.counts[k] for k, v in self.sums.items()})
        if not np.isfinite(row["loss_total"]):
            raise GazekitError(cfg.out, f"iterations {done - self.n_sum}-{done}", f"expected a finite loss, got {row}")
        elapsed = time.perf_counter() - self.t0
        row["wall_s"] = round(elapsed, 3)
        row["it_per_s"] = round(self.n_sum / elapsed, 4)
        if self.t_total > 0:
            row["data_wait_share"] = round(self.t_data / self.t_total, 4)
        if device.type == "cuda":
            row["gpu_mem_max_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
            torch.cuda.reset_peak_memory_stats(device)
        self.improved = False
        if self.rank != 0:
            return row
        improved = True
        if self.val_cases:
            table = evaluate_cases(
                unwrap(self.parts.student),
                self.val_cases,
                self.names,
                cfg.size,
                device,
                amp_dtype=self.amp,
                channels_last=self.channels_last,
            )
            means = table[table["case"] == "mean"].set_index("class")
            row["val_dice_mean"] = mean_dice(table)
            for c in self.names:
                row[f"val_dice_{c}"] = float(means.loc[c, "dice"])
            row["val_hd95_mean"] = float(means["hd95"].mean())
            row["val_asd_mean"] = float(means["asd"].mean())
            improved = row["val_dice_mean"] > self.stage_best(stage)["dice"]
        score = {"dice": row.get("val_dice_mean", -1.0), "iteration": done}
        if stage == "pretrain":
            if improved:
                self.pre_best = score
        elif improved:
            self.best = score
            self.improved = True  # checkpoint_best.pt holds self-training weights only
        row["best_dice"] = self.stage_best(stage)["dice"]
        self.rows.append(row)
        return row

    def stage_best(self, stage: str) -> dict:
        """The best validation so far of the stage (``pretrain`` or ``train``): {"dice", "iteration"}."""
        return self.pre_best if stage == "pretrain" else self.best

    def checkpoint(self, done: int, row: dict) -> None:
        """checkpoint_latest.pt, and checkpoint_best.pt / checkpoint_pretrain_best.pt when this validation is the
        stage's best (rank 0)."""
        if self.rank != 0:
            return
        p = self.parts
        ckpt = {
            "format": CHECKPOINT_FORMAT,
            "hgdtgl_version": __version__,
            "config": self.cfg.to_dict(),
            "model": self.spec,
            "data": self.data_meta,
            "iteration": done,
            "student": unwrap(p.student).state_dict(),
            "teacher": p.teacher.state_dict() if p.teacher is not None else None,
            "optimizer": p.optim.state_dict(),
            "scaler": p.scaler.state_dict(),
            "best": self.best,
            "pretrain_best": self.pre_best,
            "rng": {"torch": torch.get_rng_state()},
        }
        if row["stage"] == "pretrain" and self.pre_best["iteration"] == done:
            with atomic_path(self.pre_best_path) as tmp:
                torch.save({k: v for k, v in ckpt.items() if k not in TRAINING_STATE}, tmp)
        with atomic_path(self.latest) as tmp:
            torch.save(ckpt, tmp)
        if self.improved:
            with atomic_path(self.out / "checkpoint_best.pt") as tmp:
                torch.save(ckpt, tmp)

    def end(self) -> None:
        self.runlog.close()

    # ------------------------------------------------------------ the loop
    def run(self) -> Path:
        self.start()
        if self.start_it >= self.total:
            log(f"run already complete ({self.start_it} iterations)", self.rank)
            self.end()
            return self.out
        try:
            for it in self.runlog.progress(self.start_it, self.total, f"train {self.cfg.method}"):
                self.begin_stage(it)
                loss = self.step(it)
                self.runlog.on_step(it, loss, self.lr)
                done = it + 1
                if self.due(done):
                    row = self.validate(done)
                    self.checkpoint(done, row)
                    self.runlog.on_validation(row, self.rows, self.stage_best(row["stage"]))
                    if self.world > 1:
                        torch.distributed.barrier()  # every rank waits for rank 0's checkpoint and log
                    self._reset_window()  # it/s of the next window excludes validation, checkpoint and log
                    if done == self.stop_after:
                        break
        except torch.cuda.OutOfMemoryError:
            cfg = self.cfg
            raise GazekitError(
                "--batch-size",
                str(cfg.batch_size),
                f"expected a batch that fits the GPU (out of memory at {cfg.batch_size} x {cfg.size}^2); "
                f"try --batch-size {max(cfg.batch_size // 2, 2)} --labeled-bs {max(cfg.labeled_bs // 2, 1)}",
            ) from None
        finally:
            self.end()
        return self.out

    # ------------------------------------------------------------ helpers
    def _resume(self) -> None:
        cfg, spec, p = self.cfg, self.spec, self.parts
        ckpt = load_checkpoint(self.latest)
        for key in ("in_channels", "num_classes", "base_channels", "mgp", "heads"):
            have, want = ckpt["model"].get(key, 0), spec.get(key, 0)  # heads: absent = 0 (one K-class output)
            if have != want:
                raise GazekitError(
                    self.latest, f"model.{key}", f"expected {want} as this run's data/options give, got {have}"
                )
        for key in RESUME_FIELDS:
            if ckpt["config"].get(key) != cfg.to_dict()[key]:
                raise GazekitError(
                    self.latest,
                    f"config.{key}",
                    f"expected {cfg.to_dict()[key]!r} (resume with the run's options), got {ckpt['config'].get(key)!r}",
                )
        unwrap(p.student).load_state_dict(ckpt["student"])
        if p.teacher is not None:
            p.teacher.load_state_dict(ckpt["teacher"])
        p.optim.load_state_dict(ckpt["optimizer"])
        p.scaler.load_state_dict(ckpt["scaler"])
        self.start_it, self.best = int(ckpt["iteration"]), dict(ckpt["best"])
        self.pre_best = dict(ckpt.get("pretrain_best") or self.pre_best)
        self.rows = read_metrics(self.out / "metrics.csv", self.start_it)
        log(f"resumed {self.latest} at iteration {self.start_it}", self.rank)

    def _reset_window(self) -> None:
        self.sums, self.counts = {}, {}
        self.n_sum, self.t_data, self.t_total, self.t0 = 0, 0.0, 0.0, time.perf_counter()


def train(cfg: TrainConfig, stop_after: int | None = None) -> Path:
    """Train (or resume) a run; returns the run directory. ``stop_after`` ends the process-equivalent of a
    kill right after the checkpoint of that iteration (used by the resume test)."""
    return Trainer(cfg, stop_after).run()
