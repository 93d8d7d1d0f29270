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
@click.option(
    "--detect",
    type=click.Choice(["vendor", "ivt", "idt"]),
    default=None,
    help="fixations: the file's own events (default when it has them) or I-VT / I-DT on its samples",
)
@click.option("--detect-param", "detect_params", multiple=True, help="detector parameter NAME=VALUE (repeatable)")
@click.option("--samples", "samples_out", type=click.Path(path_type=Path), help="also write raw samples here")
@click.option("--eye", type=click.Choice(["left", "right", "both", "average"]), default=None, help="binocular data")
@click.option("--screen-px", default=None, help="screen resolution, e.g. 1920x1080")
@click.option("--screen-mm", default=None, help="screen size in mm, e.g. 531x299")
@click.option("--distance-mm", type=float, default=None, help="eye-to-screen distance in mm")
@click.option("--session-json", type=click.Path(path_type=Path), default=None, help="BIDS-style sidecar with geometry")
@click.option("--stimulus-pattern", default=None, help="EyeLink: regex on MSG text, group 1 = stimulus id")
@click.option("--min-confidence", type=float, default=0.6, help="Pupil Core: lowest valid gaze confidence")
@user_errors
def convert(
    inputs: tuple[Path, ...],
    output: Path,
    fmt: str | None,
    drop_unassigned: bool,
    detect: str | None,
    detect_params: tuple[str, ...],
    samples_out: Path | None,
    eye: str | None,
    screen_px: str | None,
    screen_mm: str | None,
    distance_mm: float | None,
    session_json: Path | None,
    stimulus_pattern: str | None,
    min_confidence: float,
) -> None:
    """Convert eye-tracker exports into one fixation table (Parquet)."""
    from gazekit import convert as conv
    from gazekit import events, tables
    from gazekit.geometry import screen_fields_from_cli
    from gazekit.readers import ReadOptions

    read = ReadOptions(format=fmt, eye=eye or "both", stimulus_pattern=stimulus_pattern, min_confidence=min_confidence)
    params = events.parse_params(detect or "ivt", detect_params) if detect != "vendor" else {}
    if eye:
        params["eye"] = eye
    opts = conv.ConvertOptions(
        read=read,
        drop_unassigned=drop_unassigned,
        detect=detect,
        detect_params=tuple(params.items()),
        screen=tuple(screen_fields_from_cli(screen_px, screen_mm, distance_mm).items()),
        session_json=session_json,
    )
    sample_parts: list = []
    fix, meta = conv.convert(list(inputs), opts, samples=sample_parts if samples_out else None)
    tables.to_arrow("fixations", fix, output)  # validate before writing anything
    if samples_out:
        samples = conv.concat_samples(sample_parts)
        smeta = {k: meta[k] for k in ("inputs", "screens", "quality", "warnings")}
        tables.write_table("samples", samples, samples_out, smeta)
    tables.write_table("fixations", fix, output, meta)
    for warning in meta["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{output}: {conv.format_summary(conv.summary(fix))}")
    if samples_out:
        click.echo(f"{samples_out}: {len(samples)} samples")


@main.command()
@click.argument("table", type=click.Path(path_type=Path))
@user_errors
def inspect(table: Path) -> None:
    """Print the summary of a fixation (or samples) table and its data quality."""
    from gazekit import convert as conv
    from gazekit import quality, tables

    meta = quality.parquet_meta(table)
    if meta.get("table") == "samples":
        samples, meta = tables.read_table("samples", table)
        click.echo(f"{table}: {len(samples)} samples")
    else:
        fix, meta = tables.read_table("fixations", table)
        click.echo(f"{table}: {conv.format_summary(conv.summary(fix))}")
    for line in quality.format_quality(meta.get("quality") or {}):
        click.echo(line)
