"""Command line: parse options, call the library, turn GazekitError into one line and exit code 2."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from gazekit import __version__
from gazekit.errors import GazekitError


def user_errors(func):
    """Print a GazekitError as one line on stderr and exit 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GazekitError as exc:
            click.echo(f"error: {exc.one_line()}", err=True)
            sys.exit(2)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gazekit")
def main() -> None:
    """gazekit: eye-tracking data for medical imaging (convert, render-heatmaps, qc, simulate, record)."""


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="fixations.parquet to write")
@click.option("--format", "fmt", default=None, help="force a reader instead of detecting it")
@click.option("--drop-unassigned", is_flag=True, help="drop fixations with no stimulus (calibration, blank)")
@user_errors
def convert(inputs: tuple[Path, ...], output: Path, fmt: str | None, drop_unassigned: bool) -> None:
    """Convert eye-tracker exports into one fixation table (Parquet)."""
    from gazekit import convert as conv
    from gazekit import tables
    from gazekit.readers import ReadOptions

    opts = conv.ConvertOptions(read=ReadOptions(format=fmt), drop_unassigned=drop_unassigned)
    fix, meta = conv.convert(list(inputs), opts)
    tables.write_table("fixations", fix, output, meta)
    click.echo(f"{output}: {conv.format_summary(conv.summary(fix))}")


@main.command()
@click.argument("table", type=click.Path(path_type=Path))
@user_errors
def inspect(table: Path) -> None:
    """Print the summary of an existing fixation table."""
    from gazekit import convert as conv
    from gazekit import tables

    fix, _ = tables.read_table("fixations", table)
    click.echo(f"{table}: {conv.format_summary(conv.summary(fix))}")


def _render_options(func):
    """Options shared by render-heatmaps and qc: how fixations become heatmaps."""
    opts = [
        click.option(
            "--sigma-deg", type=float, default=None, help="Gaussian sigma in degrees of visual angle (default 1.0)"
        ),
        click.option("--sigma-px", type=float, default=None, help="Gaussian sigma in image px"),
        click.option(
            "--sigma-frac",
            type=float,
            default=None,
            help="sigma as a fraction of image width (x) / height (y); GazeMedSeg = 0.0911",
        ),
        click.option("--weight", type=click.Choice(["duration", "count"]), default="duration", show_default=True),
        click.option("--norm", type=click.Choice(["sum", "max", "minmax"]), default="sum", show_default=True),
        click.option(
            "--combine",
            type=click.Choice(["mean", "pool"]),
            default="mean",
            show_default=True,
            help="several readers: mean of normalised maps, or pool fixations",
        ),
        click.option(
            "--boundary",
            type=click.Choice(["zero", "reflect"]),
            default="zero",
            show_default=True,
            help="reflect = mirror at the image edges (scipy gaussian_filter)",
        ),
        click.option(
            "--display-scale",
            type=float,
            default=None,
            help="screen px per image px, for --sigma-deg when the session metadata lacks it",
        ),
        click.option(
            "--stimuli",
            type=click.Path(path_type=Path),
            default=None,
            help="image folder / HDF5 / NIfTI / DICOM: sizes and pixels",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _render_config(
    sigma_deg, sigma_px, sigma_frac, weight, norm, combine, boundary, display_scale, scales="1", size=None
):
    from gazekit.heatmaps import RenderConfig, Sigma

    if sigma_deg is None and sigma_px is None and sigma_frac is None:
        sigma_deg = 1.0
    try:
        scale_list = tuple(int(v) for v in scales.split(","))
    except ValueError:
        raise GazekitError(None, "--scales", f"expected comma-separated integers, got {scales!r}") from None
    size_hw = None
    if size is not None:
        try:
            parts = [int(v) for v in size.lower().split("x")]
        except ValueError:
            raise GazekitError(None, "--size", f"expected H or HxW, got {size!r}") from None
        if len(parts) not in (1, 2):
            raise GazekitError(None, "--size", f"expected H or HxW, got {size!r}")
        size_hw = (parts[0], parts[-1])
    sigma = Sigma(deg=sigma_deg, px=sigma_px, frac=sigma_frac)
    return RenderConfig(sigma, weight, norm, combine, boundary, scale_list, size_hw, display_scale)


@main.command("render-heatmaps")
@click.argument("table", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="store folder to write")
@_render_options
@click.option("--scales", default="1", show_default=True, help="down-sampling factors, e.g. 1,2,4,8,16")
@click.option("--size", default=None, help="render the scale-1 grid at H or HxW px instead of the image size")
@click.option("--nifti", is_flag=True, help="also write volume heatmaps as NIfTI with the source affine")
@click.option("--workers", type=int, default=1, show_default=True, help="processes (output identical for any N)")
@click.option("--shard", default=None, help="i/n: render every n-th stimulus starting at i (0-based)")
@user_errors
def render_heatmaps(table, output, stimuli, scales, size, nifti, workers, shard, **render) -> None:
    """Render multi-scale heatmaps of a fixation table into a heatmap store."""
    from gazekit import rendering

    cfg = _render_config(scales=scales, size=size, **render)
    manifest = rendering.build_store(table, output, cfg, stimuli, workers, rendering.parse_shard(shard), nifti)
    with_gaze = int(manifest["file"].notna().sum())
    click.echo(
        f"{output}: {with_gaze} map(s) with gaze, {len(manifest) - with_gaze} without, scales {list(cfg.scales)}"
    )


@main.group("store")
def store_group() -> None:
    """Heatmap store utilities."""


@store_group.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="merged store folder")
@user_errors
def store_merge(shards, output) -> None:
    """Merge shard stores written with --shard i/n into one store."""
    from gazekit import store

    manifest = store.merge(list(shards), output)
    click.echo(f"{output}: {len(manifest)} manifest row(s) from {len(shards)} shard(s)")


@main.command()
@click.argument("table", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="report folder to write")
@click.option(
    "--store",
    "store_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="heatmap store to show (else rendered here)",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path),
    default=None,
    help="label maps / masks (same ids) for gaze-vs-label agreement",
)
@click.option(
    "--threshold", type=float, default=0.5, show_default=True, help="heatmap Dice threshold (min-max normalised map)"
)
@click.option(
    "--label-threshold", type=float, default=None, help="target = label >= this (default 128 for 8-bit masks, else 1)"
)
@_render_options
@user_errors
def qc(table, output, store_dir, labels, threshold, label_threshold, stimuli, **render) -> None:
    """QC report: per-session/per-image figures, overlays, contact sheets, agreement with labels, index.html."""
    from gazekit.qc.report import QCConfig, build_report

    cfg = _render_config(**render)
    summary = build_report(table, output, cfg, store_dir, stimuli, labels, QCConfig(threshold, label_threshold))
    extra = ""
    if "mean" in summary:
        extra = ", mean " + ", ".join(f"{k} {v:.3f}" for k, v in summary["mean"].items())
    click.echo(f"{output}/index.html: {summary['stimuli_with_gaze']} image(s) with gaze{extra}")
