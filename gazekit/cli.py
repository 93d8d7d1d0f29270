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
@click.option("--viewer-events", type=click.Path(path_type=Path), help="viewer-event log (CSV/Parquet) to map through")
@click.option("--clock-offset-ms", type=float, default=0.0, help="added to the viewer log's times [ms]")
@click.option(
    "--stimulus", "stimulus_paths", multiple=True, type=click.Path(path_type=Path), help="stimulus file/folder"
)
@user_errors
def convert(
    inputs: tuple[Path, ...],
    output: Path,
    fmt: str | None,
    drop_unassigned: bool,
    viewer_events: Path | None,
    clock_offset_ms: float,
    stimulus_paths: tuple[Path, ...],
) -> None:
    """Convert eye-tracker exports into one fixation table (Parquet)."""
    from gazekit import convert as conv
    from gazekit import tables
    from gazekit.readers import ReadOptions

    opts = conv.ConvertOptions(
        read=ReadOptions(format=fmt),
        drop_unassigned=drop_unassigned,
        viewer_events=viewer_events,
        clock_offset_ms=clock_offset_ms,
        stimuli=stimulus_paths,
    )
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


@main.command()
@click.argument("labels", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="session folder to write")
@click.option("--images", type=click.Path(path_type=Path), help="folder of the images/volumes shown (matched by stem)")
@click.option("--series", default=None, help="SeriesInstanceUID to read from a DICOM folder holding several")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rate-hz", type=float, default=300.0, show_default=True, help="eye-tracker sampling rate")
@click.option("--accuracy-deg", type=float, default=0.5, show_default=True, help="per-session systematic offset")
@click.option("--precision-deg", type=float, default=0.03, show_default=True, help="RMS sample-to-sample noise")
@click.option("--screen-px", nargs=2, type=int, default=(1920, 1080), show_default=True, help="WIDTH HEIGHT")
@click.option("--screen-mm", nargs=2, type=float, default=(531.0, 299.0), show_default=True, help="WIDTH HEIGHT")
@click.option("--distance-mm", type=float, default=650.0, show_default=True, help="eye to screen")
@click.option("--fitted", type=click.Path(path_type=Path), help="reader statistics JSON (default: the Kvasir fit)")
@user_errors
def simulate(
    labels: tuple[Path, ...],
    output: Path,
    images: Path | None,
    series: str | None,
    seed: int,
    rate_hz: float,
    accuracy_deg: float,
    precision_deg: float,
    screen_px: tuple[int, int],
    screen_mm: tuple[float, float],
    distance_mm: float,
    fitted: Path | None,
) -> None:
    """Simulate a reading session on label maps (mask folder or NIfTI/HDF5/DICOM volumes) -> session folder."""
    from gazekit import simulate as sim
    from gazekit.geometry import Screen

    for name, value in (("--rate-hz", rate_hz), ("--distance-mm", distance_mm), ("--screen-mm", min(screen_mm))):
        if not value > 0:
            raise GazekitError(None, name, f"expected a positive number, got {value}")
    for name, value in (("--accuracy-deg", accuracy_deg), ("--precision-deg", precision_deg)):
        if not value >= 0:
            raise GazekitError(None, name, f"expected a number >= 0, got {value}")
    cfg = sim.SimConfig(
        seed=seed,
        rate_hz=rate_hz,
        accuracy_deg=accuracy_deg,
        precision_deg=precision_deg,
        screen=Screen(screen_px[0], screen_px[1], screen_mm[0], screen_mm[1], distance_mm),
        fitted=sim.load_fitted(fitted),
    )
    out = sim.simulate(list(labels), output, cfg, images=images, series=series)
    s = sim.summary(out)
    click.echo(
        f"{out}: simulated session, {s['stimuli']} stimuli, {s['fixations']} planned fixations, {s['seconds']:.1f} s"
    )
