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


def _wxh(value: str | None, option: str, cast=int):
    """'1024x768' -> (1024, 768) (``cast`` each), None stays None."""
    if value is None:
        return None
    try:
        w, h = (cast(v) for v in value.lower().split("x"))
    except ValueError:
        raise GazekitError(None, option, f"expected WIDTHxHEIGHT such as 1024x768, got {value!r}") from None
    if w <= 0 or h <= 0:
        raise GazekitError(None, option, f"expected positive sizes, got {value!r}")
    return w, h


@main.command()
@click.argument("stimuli", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="session folder to create")
@click.option("--worklist", type=click.Path(path_type=Path), help="text file: one stimulus path per line, in order")
@click.option("--source", type=click.Choice(["mouse", "lsl", "tobii", "replay"]), default="mouse", show_default=True)
@click.option("--replay-file", type=click.Path(path_type=Path), help="samples file to replay")
@click.option("--lsl-stream", default="Gaze", show_default=True, help="LSL stream name or type")
@click.option("--lsl-channels", default="0,1", show_default=True, help="x,y[,pupil] channel indices or labels")
@click.option("--lsl-units", type=click.Choice(["px", "norm"]), default="px", show_default=True)
@click.option("--tobii-address", default=None, help="eye tracker address (default: the first found)")
@click.option("--window", "window", default="1024x768", show_default=True, help="window size WxH [px]")
@click.option("--fullscreen", is_flag=True, help="full screen instead of --window")
@click.option("--screen-px", default=None, help="screen resolution WxH [px] (default: the display's)")
@click.option("--screen-mm", default=None, help="physical screen size WxH [mm] (default: 0.2766 mm/px assumed)")
@click.option("--distance-mm", default=650.0, show_default=True, type=float, help="eye-to-screen distance [mm]")
@click.option("--reader-id", default="reader", show_default=True, help="pseudonymous reader id")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, help="stimulus paths relative to it")
@click.option("--validate", is_flag=True, help="calibration check before reading (accuracy/precision in deg)")
@click.option("--validation-points", type=click.Choice(["5", "9"]), default="9", show_default=True)
@click.option("--accuracy-limit-deg", default=1.0, show_default=True, type=float, help="warn when accuracy is worse")
@click.option("--no-scroll", is_flag=True, help="slices cannot be changed")
@click.option("--no-zoom", is_flag=True, help="zoom is fixed (fit to window)")
@click.option("--no-pan", is_flag=True, help="the image cannot be moved")
@click.option("--no-window-level", is_flag=True, help="window/level is fixed")
@click.option("--no-overlay", is_flag=True, help="no status text on screen")
@click.option("--recover", is_flag=True, help="finish the session folder -o left by a crash, then exit")
@user_errors
def record(stimuli, output, worklist, source, replay_file, lsl_stream, lsl_channels, lsl_units, tobii_address,
           window, fullscreen, screen_px, screen_mm, distance_mm, reader_id, data_root, validate, validation_points,
           accuracy_limit_deg, no_scroll, no_zoom, no_pan, no_window_level, no_overlay, recover) -> None:  # fmt: skip
    """Show STIMULUS (DICOM folder, NIfTI, HDF5, image or image folder) and record gaze into a session folder.

    Keys: wheel/arrows/j/k slices, [ ] window, , . level, + - zoom, 0 reset, drag pans, right-drag
    window/level, n next stimulus, q ends (closing the window or Ctrl-C end cleanly too).
    """
    from gazekit.geometry import Screen
    from gazekit.record import writer
    from gazekit.record.recorder import RecordConfig, Recorder
    from gazekit.record.sources import make_source
    from gazekit.record.viewer import Controls
    from gazekit.record.worklist import load_stimuli, read_worklist

    if recover:
        meta = writer.recover(output)
        click.echo(f"{output}: recovered ({meta['status']})")
        return
    paths = list(stimuli) + (read_worklist(worklist) if worklist else [])
    if not paths:
        raise GazekitError(None, "STIMULUS", "expected at least one stimulus path or --worklist")
    shown = load_stimuli(paths)
    size = None if fullscreen else _wxh(window, "--window")
    res = _wxh(screen_px, "--screen-px")
    if res is None:
        from gazekit.record.display import screen_size_px

        res = screen_size_px()
    mm = _wxh(screen_mm, "--screen-mm", float)
    if mm is None:
        mm = (res[0] * 0.2766, res[1] * 0.2766)
        click.echo(
            f'warning: --screen-mm not given; assuming {mm[0]:.0f}x{mm[1]:.0f} mm (0.2766 mm/px, a 24" 1080p '
            "monitor): degrees in session.json are only as right as this",
            err=True,
        )
    if distance_mm <= 0:
        raise GazekitError(None, "--distance-mm", f"expected a positive distance, got {distance_mm}")
    cfg = RecordConfig(
        session_dir=output,
        screen=Screen(res[0], res[1], mm[0], mm[1], distance_mm),
        reader_id=reader_id,
        data_root=data_root or Path.cwd(),
        controls=Controls(not no_scroll, not no_zoom, not no_pan, not no_window_level),
        overlay=not no_overlay,
        validate=validate,
        validation_points=int(validation_points),
        accuracy_limit_deg=accuracy_limit_deg,
    )
    if output.exists() and any(output.iterdir()):
        raise GazekitError(output, None, "expected a new or empty session folder, it already has files")
    display = None
    gaze = make_source(
        source,
        pointer=lambda: display.pointer(),
        replay_file=replay_file,
        screen_px=res,
        lsl_stream=lsl_stream,
        lsl_channels=tuple(c.strip() for c in lsl_channels.split(",")),
        lsl_units=lsl_units,
        tobii_address=tobii_address,
    )
    from gazekit.record.display import TkDisplay

    display = TkDisplay(size)
    meta = Recorder(shown, gaze, display, cfg).run()
    click.echo(
        f"{output}: {meta['status']}, {meta['duration_ms'] / 1000:.1f} s, {len(shown)} stimulus/stimuli, "
        f"{len(meta['gaze_gaps'])} gaze gap(s)"
        + (f", validation accuracy {meta['validation']['accuracy_deg']:.2f} deg" if meta.get("validation") and
           meta["validation"]["accuracy_deg"] is not None else "")
    )  # fmt: skip
    for warning in meta["warnings"]:
        click.echo(f"warning: {warning}", err=True)
