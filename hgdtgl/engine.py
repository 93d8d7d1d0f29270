"""The one training loop of every method: data on the device, batch augmentation, AMP, DDP, EMA teacher,
validation, checkpoints (exact resume), metrics.csv, TensorBoard and curves.png.

Every random draw of iteration ``it`` (sampling, augmentation, noise, paste boxes) comes from a generator
seeded by (seed, it) and is drawn for the global batch, then sharded over DDP ranks; dropout uses the global
torch RNG reseeded per iteration. A run killed after a checkpoint therefore resumes bit-exactly, and a
2-process DDP run sees the same batch as one process.
"""

from __future__ import annotations

import copy
import csv
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from hgdtgl import __version__
from hgdtgl.components import convert_batchnorm, ema_update
from hgdtgl.config import TrainConfig, dump_yaml
from hgdtgl.data.augment import apply_affines, random_affines
from hgdtgl.data.formats import TrainData, load_cases, load_train, select_labeled
from hgdtgl.data.gaze import join_gaze
from hgdtgl.evaluate import evaluate_cases, mean_dice
from hgdtgl.methods import Batch, make_method
from hgdtgl.models import UNet, build_model

CHECKPOINT_FORMAT = "hgdtgl-checkpoint"
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
    "dropout",
    "gazemix",
    "mgp",
    "seed",
    "pretrain_iterations",
    "iterations",
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
        raise GazekitError("--device", "cuda", "a CUDA GPU (none is visible); use --device cpu")
    device = torch.device(f"cuda:{local_rank}" if want == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, rank, world, local_rank


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 / fp16 autocast dtype, or None; ``auto`` = bf16 on CUDA (fp16 where bf16 is unsupported), none on CPU."""
    amp = cfg.amp
    if amp == "auto":
        if device.type != "cuda":
            return None
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]


def model_spec(cfg: TrainConfig, data: TrainData) -> dict:
    return {
        "arch": "ssl4mis-unet",
        "in_channels": data.in_channels,
        "num_classes": data.num_classes,
        "base_channels": cfg.base_channels,
        "dropout": cfg.dropout,
        "mgp": cfg.uses_mgp,
        "size": cfg.size,
    }


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
        self.lbs = cfg.batch_size if cfg.method == "supervised" else cfg.labeled_bs
        self.ubs = 0 if cfg.method == "supervised" else cfg.batch_size - cfg.labeled_bs

    def __call__(self, it: int) -> tuple[Batch, torch.Generator]:
        cfg, lbs, ubs, rank, world = self.cfg, self.lbs, self.ubs, self.rank, self.world
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + it)
        l_idx = stream_indices(self.lab_pool, lbs, it, cfg.seed, 0)
        u_idx = stream_indices(self.unl_pool, ubs, it, cfg.seed, 1) if ubs else np.empty(0, np.int64)
        theta = random_affines(lbs + ubs, g, cfg.rot_deg, cfg.scale_range)
        channels = self.dev_data.images.shape[1]
        noise = (
            (torch.randn(ubs, channels, cfg.size, cfg.size, generator=g) * 0.1).clamp(-0.2, 0.2)
            if cfg.method == "mt"
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


def train_step(
    it: int,
    cfg: TrainConfig,
    method,
    model: nn.Module,
    student: nn.Module,
    teacher: nn.Module | None,
    optim: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    autocast,
    batch: Batch,
    g: torch.Generator,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimisation step shared by every method: losses under autocast, scaled backward, SGD, EMA."""
    with autocast:
        terms = method.losses(it, model, teacher, batch, g)
    loss = sum(terms.values())
    optim.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optim)
    scaler.update()
    if teacher is not None and it >= cfg.pretrain:
        ema_update(teacher, _unwrap(student), it - cfg.pretrain, cfg.ema_decay)
    return loss, terms


# ---------------------------------------------------------------- checkpoints


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by ``hgdtgl train`` (weights_only loading); one-line error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise GazekitError(path, None, "a checkpoint file (checkpoint_best.pt / checkpoint_latest.pt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for foreign files
        raise GazekitError(path, None, f"an hgdtgl checkpoint readable with weights_only=True: {exc}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise GazekitError(path, "format", f"an hgdtgl checkpoint (format {CHECKPOINT_FORMAT!r})")
    return ckpt


def model_from_checkpoint(ckpt: dict, which: str = "student") -> UNet:
    model = build_model(ckpt["model"])
    model.load_state_dict(ckpt[which])
    return model


def _unwrap(m: nn.Module) -> nn.Module:
    m = getattr(m, "module", m)
    return getattr(m, "_orig_mod", m)


# ---------------------------------------------------------------- outputs


def write_metrics(path: Path, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def read_metrics(path: Path, up_to: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if int(r["iteration"]) <= up_to]


def plot_curves(path: Path, rows: list[dict]) -> None:
    """Training losses and validation Dice against iterations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [int(r["iteration"]) for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in [k for k in rows[-1] if k.startswith("loss_")]:
        a.plot(it, [float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows], label=key[5:])
    a.set_xlabel("iteration")
    a.set_ylabel("training loss (mean since last validation)")
    a.legend(fontsize=8)
    dice = [float(r["val_dice_mean"]) if r.get("val_dice_mean") not in (None, "") else np.nan for r in rows]
    b.plot(it, dice, marker="o")
    b.set_xlabel("iteration")
    b.set_ylabel("validation mean Dice")
    b.set_ylim(0, 1)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- the loop


def prepare_data(cfg: TrainConfig, rank: int = 0) -> tuple[TrainData, np.ndarray]:
    """Training data with gaze joined and the labeled mask; checks that a gaze method has gaze."""
    data = load_train(cfg.data, cfg.size, cfg.format, cfg.train_list)
    if data.size != cfg.size:
        raise GazekitError(cfg.data, "size", f"--size {data.size} (the packed training size), got {cfg.size}")
    if cfg.gaze_dir:
        data = join_gaze(data, cfg.gaze_dir)
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
            f"heatmaps for the training images (method {cfg.method} uses gaze; none of the {len(labeled)} "
            f"images, e.g. stimulus {data.keys[0][0]!r} slice {data.keys[0][1]}, has one); give --gaze-dir STORE "
            "or turn gaze off with --no-gazemix --no-mgp",
        )
    if cfg.method != "supervised" and n_u == 0:
        raise GazekitError("--labeled", str(cfg.labeled), f"unlabeled images for method {cfg.method} (all are labeled)")
    return data, labeled


def train(cfg: TrainConfig, stop_after: int | None = None) -> Path:
    """Train (or resume) a run; returns the run directory. ``stop_after`` ends the process-equivalent of a
    kill right after the checkpoint of that iteration (used by the resume test)."""
    cfg = cfg.resolved()
    device, rank, world, _ = setup_device(cfg)
    out = Path(cfg.out)
    latest = out / "checkpoint_latest.pt"
    if latest.exists() and not cfg.resume:
        raise GazekitError(out, "--out", "a new run directory (this one has a checkpoint; add --resume to continue)")

    data, labeled = prepare_data(cfg, rank)
    lab_pool, unl_pool = np.flatnonzero(labeled), np.flatnonzero(~labeled)
    lbs = cfg.batch_size if cfg.method == "supervised" else cfg.labeled_bs
    ubs = 0 if cfg.method == "supervised" else cfg.batch_size - cfg.labeled_bs
    if lbs % world or ubs % world or (cfg.method in ("bcp", "hgdtgl") and (lbs // world) % 2):
        raise GazekitError(
            "--batch-size",
            str(cfg.batch_size),
            f"labeled/unlabeled parts divisible by {world} ranks"
            + (" into even parts" if cfg.method in ("bcp", "hgdtgl") else ""),
        )
    names = data.class_names
    val_cases = []
    try:
        val_cases = load_cases(cfg.data, cfg.val_split, cfg.format) if rank == 0 else []
    except GazekitError as exc:
        log(f"no validation ({exc}); checkpoint_best.pt = the latest weights", rank)

    spec = model_spec(cfg, data)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run of this seed
    student = build_model(spec)
    if world > 1:
        student = (
            nn.SyncBatchNorm.convert_sync_batchnorm(student) if device.type == "cuda" else convert_batchnorm(student)
        )
    student.to(device)
    amp = amp_dtype(cfg, device)
    channels_last = cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"
    if channels_last:
        student.to(memory_format=torch.channels_last)
    method = make_method(cfg, rank, world)
    teacher = copy.deepcopy(student) if method.uses_teacher else None
    if teacher is not None:
        for p in teacher.parameters():
            p.requires_grad_(False)
    optim = torch.optim.SGD(student.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)

    start, best, rows = 0, {"dice": -1.0, "iteration": 0}, []
    if cfg.resume and latest.exists():
        ckpt = load_checkpoint(latest)
        for key in ("in_channels", "num_classes", "base_channels", "mgp"):
            if ckpt["model"][key] != spec[key]:
                raise GazekitError(
                    latest, f"model.{key}", f"{spec[key]} as this run's data/options give, got {ckpt['model'][key]}"
                )
        for key in RESUME_FIELDS:
            if ckpt["config"].get(key) != cfg.to_dict()[key]:
                raise GazekitError(
                    latest,
                    f"config.{key}",
                    f"{cfg.to_dict()[key]!r} (resume with the run's options), got {ckpt['config'].get(key)!r}",
                )
        _unwrap(student).load_state_dict(ckpt["student"])
        if teacher is not None:
            teacher.load_state_dict(ckpt["teacher"])
        optim.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        start, best = int(ckpt["iteration"]), dict(ckpt["best"])
        rows = read_metrics(out / "metrics.csv", start)
        log(f"resumed {latest} at iteration {start}", rank)
    if start >= cfg.iterations:
        log(f"run already complete ({start} iterations)", rank)
        return out

    model = student
    if world > 1:
        model = nn.parallel.DistributedDataParallel(
            student,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.uses_mgp and cfg.gaze_loss_weight <= 0,
        )
    if cfg.compile:
        model = torch.compile(model)

    writer = None
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "config.yaml") as tmp:
            Path(tmp).write_text(dump_yaml(cfg))
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            log("tensorboard is not installed: no TensorBoard events (metrics.csv has every value)")

    make_batch = BatchMaker(cfg, DeviceData(data, device), lab_pool, unl_pool, rank, world, channels_last)
    meta = {
        "format": data.format,
        "path": str(cfg.data),
        "class_names": names,
        "n_train": len(labeled),
        "n_labeled": int(labeled.sum()),
        "n_with_gaze": int(np.sum(data.has_gaze)) if data.has_gaze is not None else 0,
    }
    autocast = torch.autocast(device.type, dtype=amp) if amp is not None else nullcontext()

    sums: dict[str, float] = {}
    counts: dict[str, int] = {}  # a term can be present for part of a window (pre-training -> self-training)
    n_sum, t_data, t_total, t0 = 0, 0.0, 0.0, time.perf_counter()
    from tqdm import tqdm

    bar = tqdm(
        range(start, cfg.iterations),
        initial=start,
        total=cfg.iterations,
        disable=rank != 0,
        desc=f"train {cfg.method}",
        mininterval=1.0,
    )
    try:
        for it in bar:
            t_start = time.perf_counter()
            timed = device.type != "cuda" or it % 10 == 0  # CUDA: synchronise only on every 10th iteration
            sync = timed and device.type == "cuda"
            lr = cfg.lr * (1.0 - it / cfg.iterations) ** 0.9
            for group in optim.param_groups:
                group["lr"] = lr
            torch.manual_seed(cfg.seed * 15485863 + it * 7 + rank)  # dropout
            if teacher is not None and it == cfg.pretrain:  # BCP: the teacher starts from the pre-trained student
                teacher.load_state_dict(_unwrap(student).state_dict())
            batch, g = make_batch(it)
            if sync:
                torch.cuda.synchronize(device)
            t_mid = time.perf_counter()
            loss, terms = train_step(it, cfg, method, model, student, teacher, optim, scaler, autocast, batch, g)
            if sync:
                torch.cuda.synchronize(device)
            if timed:
                t_data += t_mid - t_start
                t_total += time.perf_counter() - t_start
            for k, v in {"total": loss, **terms}.items():  # summed on the device: no sync per iteration
                sums[k] = sums.get(k, 0.0) + v.detach().float()
                counts[k] = counts.get(k, 0) + 1
            n_sum += 1
            if rank == 0 and it % 50 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", lr=f"{lr:.4f}")

            done = it + 1
            if done % cfg.val_every == 0 or done == cfg.iterations or done == stop_after:
                row = {"iteration": done, "lr": lr, **{f"loss_{k}": float(v) / counts[k] for k, v in sums.items()}}
                if not np.isfinite(row["loss_total"]):
                    raise GazekitError(cfg.out, f"iterations {done - n_sum}-{done}", f"a finite loss, got {row}")
                elapsed = time.perf_counter() - t0
                row["wall_s"] = round(elapsed, 3)
                row["it_per_s"] = round(n_sum / elapsed, 4)
                if t_total > 0:
                    row["data_wait_share"] = round(t_data / t_total, 4)
                    t_data = t_total = 0.0
                if device.type == "cuda":
                    row["gpu_mem_max_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
                    torch.cuda.reset_peak_memory_stats(device)
                sums, counts, n_sum = {}, {}, 0
                if rank == 0:
                    improved = True
                    if val_cases:
                        table = evaluate_cases(
                            _unwrap(student),
                            val_cases,
                            names,
                            cfg.size,
                            device,
                            amp_dtype=amp,
                            channels_last=channels_last,
                        )
                        means = table[table["case"] == "mean"].set_index("class")
                        row["val_dice_mean"] = mean_dice(table)
                        for c in names:
                            row[f"val_dice_{c}"] = float(means.loc[c, "dice"])
                        row["val_hd95_mean"] = float(means["hd95"].mean())
                        row["val_asd_mean"] = float(means["asd"].mean())
                        improved = row["val_dice_mean"] > best["dice"]
                        if improved:
                            best = {"dice": row["val_dice_mean"], "iteration": done}
                    row["best_dice"] = best["dice"]
                    rows.append(row)
                    if writer is not None:
                        for k, v in row.items():
                            if k != "iteration" and isinstance(v, float):
                                writer.add_scalar(k, v, done)
                        writer.flush()
                    ckpt = {
                        "format": CHECKPOINT_FORMAT,
                        "hgdtgl_version": __version__,
                        "config": cfg.to_dict(),
                        "model": spec,
                        "data": meta,
                        "iteration": done,
                        "student": _unwrap(student).state_dict(),
                        "teacher": teacher.state_dict() if teacher is not None else None,
                        "optimizer": optim.state_dict(),
                        "scaler": scaler.state_dict(),
                        "best": best,
                        "rng": {"torch": torch.get_rng_state()},
                    }
                    with atomic_path(latest) as tmp:
                        torch.save(ckpt, tmp)
                    if improved:
                        with atomic_path(out / "checkpoint_best.pt") as tmp:
                            torch.save(ckpt, tmp)
                    write_metrics(out / "metrics.csv", rows)
                    try:
                        plot_curves(out / "curves.png", rows)
                    except ImportError:
                        pass  # matplotlib absent (a bare GPU machine): metrics.csv has the curves
                    msg = f"iteration {done}: loss {row['loss_total']:.4f}"
                    if "val_dice_mean" in row:
                        msg += f", val Dice {row['val_dice_mean']:.4f} (best {best['dice']:.4f} at {best['iteration']})"
                    bar.write(msg, file=sys.stderr)
                if world > 1:
                    torch.distributed.barrier()
                t0 = time.perf_counter()  # it/s of the next window excludes validation and checkpoints
                if done == stop_after:
                    break
    except torch.cuda.OutOfMemoryError:
        raise GazekitError(
            "--batch-size",
            str(cfg.batch_size),
            f"a batch that fits the GPU (out of memory at {cfg.batch_size} x {cfg.size}^2); try --batch-size "
            f"{max(cfg.batch_size // 2, 2)} --labeled-bs {max(cfg.labeled_bs // 2, 1)}",
        ) from None
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return out
