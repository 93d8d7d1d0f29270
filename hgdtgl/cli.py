"""Command line of the trainer: ``hgdtgl train | evaluate | predict | pack | export``."""

from __future__ import annotations

from pathlib import Path

import click

from gazekit.errors import GazekitError, user_errors
from hgdtgl import __version__
from hgdtgl.recipes import METHODS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hgdtgl")
def main() -> None:
    """hgdtgl: gaze-guided semi-supervised segmentation (train, evaluate, predict, pack, export)."""


FORMATS = click.Choice(["ssl4mis", "images", "nifti", "npz"])


@main.command()
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="YAML of options; CLI wins."
)
@click.option("--data", type=click.Path(exists=True), help="[required] Dataset folder or a .npz from `hgdtgl pack`.")
@click.option("--format", "format_", type=FORMATS, help="Dataset format (default: detected).")
@click.option("--gaze-dir", type=click.Path(exists=True, file_okay=False), help="gazekit heatmap store.")
@click.option("--train-list", type=click.Path(exists=True, dir_okay=False), help="A .list replacing the training list.")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    help="supervised (labeled only), mt (mean teacher), bcp (copy-paste), hgdtgl (BCP + gaze; default), gazesup "
    "(GazeMedSeg: gaze pseudo-masks only, no mask read), gazepseudo (masks + gaze pseudo-masks on unlabeled images).",
)
@click.option("--labeled", type=int, help="First N patients/cases of the training list are labeled.")
@click.option("--labeled-ratio", type=float, help="Seeded share of patients/cases that are labeled.")
@click.option("--iterations", type=int, help="(Self-)training iterations (default 30000).")
@click.option(
    "--pretrain-iterations",
    type=int,
    help="bcp/hgdtgl: labeled-only pre-training BEFORE --iterations; self-training starts from its best "
    "checkpoint on validation (default iterations/3: BCP's 10k + 30k).",
)
@click.option("--batch-size", type=int, help="Global batch (default 24).")
@click.option("--labeled-bs", type=int, help="Labeled part of the batch (default 12).")
@click.option("--size", type=int, help="Training size in px (square; default 256).")
@click.option("--base-channels", type=int, help="U-Net width (16 = SSL4MIS 16-32-64-128-256; 64 = 64-1024).")
@click.option("--norm", type=click.Choice(["batch", "group"]), help="BatchNorm (default) or GroupNorm (8 groups).")
@click.option("--dropout/--no-dropout", default=None, help="SSL4MIS encoder dropout (default on).")
@click.option("--gazemix/--no-gazemix", default=None, help="Paste gaze regions instead of random boxes.")
@click.option("--mgp/--no-mgp", default=None, help="Multi-scale gaze perception heads + gaze loss.")
@click.option("--gaze-loss-weight", type=float, help="lambda of the KL gaze loss (default 0.1).")
@click.option("--gaze-scales", help="Decoder levels whose MGP maps enter the gaze loss: a subset of 1,2,4,8 (default).")
@click.option(
    "--gaze-loss-stage",
    type=click.Choice(["all", "self"]),
    help="Stages with the gaze loss: all (default) or self (off in the labeled-only pre-training, which then equals "
    "BCP's).",
)
@click.option(
    "--gaze-loss-ramp/--no-gaze-loss-ramp",
    default=None,
    help="Ramp the gaze loss up like the consistency term (default off).",
)
@click.option(
    "--gaze-loss-reduce",
    type=click.Choice(["sum", "mean"]),
    help="Over the --gaze-scales levels: sum (default) or mean (one weight means the same for any number of levels).",
)
@click.option(
    "--gaze-loss-images",
    type=click.Choice(["all", "unlabeled"]),
    help="Images of the gaze loss: all with gaze (default) or unlabeled / mixed ones only.",
)
@click.option(
    "--gaze-levels",
    type=click.IntRange(1, 5),
    help="gazesup: gaze pseudo-mask levels, one head each (default 2: GazeMedSeg's thresholds 0.5 and 0.3 of the "
    "heatmap scaled to maximum 1); gazepseudo uses the first level.",
)
@click.option("--gaze-consistency", type=float, help="gazesup: weight of the cross-level consistency (default 3).")
@click.option(
    "--gaze-consistency-mode",
    type=click.Choice(["prop", "pure"]),
    help="gazesup: prop (heads on propagated features, GazeMedSeg's script; default) or pure.",
)
@click.option("--consistency", type=float, help="Consistency weight after ramp-up (default 0.1).")
@click.option("--rampup-iterations", type=int, help="Sigmoid ramp-up length (default 30000 = 200 x 150).")
@click.option("--optimizer", type=click.Choice(["sgd", "adamw"]), help="Default sgd.")
@click.option("--lr", type=float, help="Learning rate (default 0.01).")
@click.option(
    "--lr-schedule",
    type=click.Choice(["poly", "cosine", "constant"]),
    help="Per stage (default: constant for bcp/hgdtgl as BCP, poly for supervised/mt as SSL4MIS).",
)
@click.option("--momentum", type=float, help="SGD momentum / AdamW beta1 (default 0.9).")
@click.option("--nesterov/--no-nesterov", default=None, help="Nesterov momentum for SGD (default off).")
@click.option("--weight-decay", type=float, help="Weight decay (default 1e-4).")
@click.option(
    "--pseudo-lcc/--no-pseudo-lcc",
    default=None,
    help="Keep the largest connected component per class of teacher pseudo-labels (default on for bcp/hgdtgl).",
)
@click.option("--val-every", type=int, help="Validate + checkpoint every N iterations (default 200).")
@click.option("--val-split", help="val | test | FILE.list (default val).")
@click.option(
    "--val-fraction",
    type=float,
    help="Hold out this share of the training patients/cases (images for an image folder) as validation, "
    "drawn with --seed; replaces --val-split. For data without a validation split.",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="auto (default): CUDA when visible.")
@click.option(
    "--amp",
    type=click.Choice(["auto", "bf16", "fp16", "none"]),
    help="Autocast (auto: bf16 on CUDA and on CPUs with native bf16, else float32).",
)
@click.option("--channels-last/--no-channels-last", default=None, help="Channels-last tensors (default: on).")
@click.option("--compile", "compile_", is_flag=True, default=None, help="torch.compile the student.")
@click.option("--seed", type=int, help="Seed of weights, sampling, augmentation and --labeled-ratio (default 1337).")
@click.option("--out", type=click.Path(file_okay=False), help="[required] Run directory.")
@click.option("--resume", is_flag=True, default=None, help="Continue RUN_DIR/checkpoint_latest.pt if present.")
@user_errors
def train(config_file, **options) -> None:
    """Train a segmentation model (supervised, mean teacher, BCP, HG-DTGL, gaze-supervised) into RUN_DIR."""
    from hgdtgl.config import from_mapping, load_yaml

    values = load_yaml(config_file) if config_file else {}
    options["gaze_scales"] = _ints("--gaze-scales", options["gaze_scales"])
    renames = {"format_": "format", "compile_": "compile"}
    values.update({renames.get(k, k): v for k, v in options.items() if v is not None})
    for key in ("data", "out"):
        if values.get(key) is None:
            raise GazekitError(None, None, f"missing option --{key}: hgdtgl train needs --data DIR and --out RUN_DIR")
    cfg = from_mapping(values, config_file or "command line").resolved()  # checked before torch is imported

    from hgdtgl.engine import train as run

    out = run(cfg)
    click.echo(f"run directory: {out} (best model: {Path(out) / 'checkpoint_best.pt'})")


def _ints(option: str, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise GazekitError(option, text, "expected comma-separated integers, e.g. 1,2,4,8") from None


def _spacing(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise GazekitError(
            "--spacing-mm", text, "expected comma-separated numbers, e.g. 10,1.5,1.5 (z,y,x) or 0.8,0.8"
        ) from None


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--data", required=True, type=click.Path(exists=True), help="Dataset folder or packed .npz.")
@click.option("--format", "format_", type=FORMATS)
@click.option("--split", default="val", show_default=True, help="val | test | FILE.list")
@click.option("--spacing-mm", help="Voxel spacing z,y,x (or y,x) in mm; default: distances in pixels.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--teacher", is_flag=True, help="Evaluate the EMA teacher instead of the student.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="metrics.csv to write.")
@user_errors
def evaluate(checkpoint, data, format_, split, spacing_mm, device, teacher, output) -> None:
    """Per case and class Dice, Jaccard, HD95, ASD of CHECKPOINT on a split (mean rows per class)."""
    import torch

    from gazekit.atomic import atomic_path
    from hgdtgl.checkpoints import load_checkpoint, model_from_checkpoint
    from hgdtgl.data.formats import load_cases
    from hgdtgl.evaluate import evaluate_cases

    ckpt = load_checkpoint(checkpoint)
    dev = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    cases = load_cases(data, split, format_)
    names = ckpt["data"]["class_names"]
    for case in cases:
        if int(case.label.max()) > len(names):
            raise GazekitError(
                case.source,
                "label",
                f"expected classes 0..{len(names)} as the checkpoint was trained on, found {int(case.label.max())}",
            )
        if case.image.shape[1] != ckpt["model"]["in_channels"]:
            raise GazekitError(
                case.source,
                "channels",
                f"expected {ckpt['model']['in_channels']} image channel(s) as the checkpoint was trained on, "
                f"got {case.image.shape[1]}",
            )
    model = model_from_checkpoint(ckpt, "teacher" if teacher else "student", checkpoint).to(dev)
    table = evaluate_cases(model, cases, names, int(ckpt["model"]["size"]), dev, _spacing(spacing_mm), progress=True)
    with atomic_path(output) as tmp:
        table.to_csv(tmp, index=False)
    means = table[table["case"] == "mean"]
    for _, r in means.iterrows():
        click.echo(
            f"{r['class']}: dice {r['dice']:.4f} jaccard {r['jaccard']:.4f} hd95 {r['hd95']:.2f} asd {r['asd']:.2f} "
            f"empty predictions {int(r['empty_pred'])}"
        )
    click.echo(f"mean dice {means['dice'].mean():.4f} over {len(cases)} cases -> {output}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--split", help="For an SSL4MIS folder: val | test | FILE.list of volumes.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--perception", is_flag=True, help="Also write the fused MGP perception map (where a reader would look).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output folder (or .nii.gz for one NIfTI).")
@user_errors
def predict(checkpoint, input_path, split, device, perception, output) -> None:
    """Segment INPUT (NIfTI file/folder, image file/folder, SSL4MIS folder + --split) with CHECKPOINT."""
    import torch

    from hgdtgl.checkpoints import load_checkpoint, model_from_checkpoint
    from hgdtgl.predict import predict as run

    ckpt = load_checkpoint(checkpoint)
    dev = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    model = model_from_checkpoint(ckpt, source=checkpoint).to(dev)
    written = run(ckpt, model, Path(input_path), Path(output), split, dev, perception)
    click.echo(f"{len(written)} file(s) -> {output}")


@main.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "format_", type=click.Choice(["ssl4mis", "images", "nifti"]))
@click.option("--gaze-dir", type=click.Path(exists=True, file_okay=False), help="gazekit heatmap store to join.")
@click.option("--size", default=256, show_default=True, help="Training size the images are resized to (px).")
@click.option("--image-dtype", type=click.Choice(["uint8", "float16"]), default="uint8", show_default=True)
@click.option("--train-list", type=click.Path(exists=True, dir_okay=False), help="A .list replacing the training list.")
@click.option("--val-split", default="val", show_default=True, help="val or a FILE.list, packed as split 'val'.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .npz to write.")
@user_errors
def pack(data, format_, gaze_dir, size, image_dtype, train_list, val_split, output) -> None:
    """Pack DATA (training set at SIZE + gaze + val/test cases) into one .npz for `train --data FILE.npz`."""
    from hgdtgl.data.pack import pack as run

    if not output.endswith(".npz"):
        raise GazekitError(output, None, "expected an output file name ending in .npz")
    meta = run(data, output, size, gaze_dir, format_, image_dtype, {"val": val_split, "test": "test"}, train_list)
    mb = Path(output).stat().st_size / 2**20
    splits = ", ".join(f"{k}: {len(v)}" for k, v in meta["splits"].items()) or "none"
    counts = f"{meta['n_train']} training images ({meta['n_with_gaze']} with gaze), cases {splits}"
    click.echo(f"{counts} -> {output} ({mb:.1f} MiB)")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .pt file to write.")
@user_errors
def export(checkpoint, output) -> None:
    """Write CHECKPOINT's student as a small fp16 file (no teacher / optimiser) for evaluate and predict."""
    import torch

    from gazekit.atomic import atomic_path
    from hgdtgl.checkpoints import export_student, load_checkpoint, model_from_checkpoint

    ckpt = load_checkpoint(checkpoint)
    small = export_student(ckpt)
    model_from_checkpoint(small, source=checkpoint)  # the exported weights load into the described model
    with atomic_path(output) as tmp:
        torch.save(small, tmp)
    mb = Path(output).stat().st_size / 2**20
    best = ckpt.get("best", {})
    score = f"best val Dice {best['dice']:.4f}" if "dice" in best else "no validation"
    click.echo(f"student of iteration {ckpt['iteration']} ({score}) -> {output} ({mb:.1f} MiB)")
