"""Command line: parse options, call the library, turn GazekitError into one line and exit code 2."""

from __future__ import annotations

import math
from pathlib import Path

import click

from gazekit.errors import GazekitError, user_errors
from gazekit.version import __version__


class _ReaderNamesOption(click.Option):
    """``--format``: its help lists the readers' NAMEs from ``gazekit.readers.READERS`` (the one list), imported
    only when the help is shown, so that ``gazekit --help`` and the other commands do not import the readers."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from gazekit.readers import reader_names

        self.help = "force a reader instead of detecting it: " + ", ".join(reader_names())
        return super().get_help_record(ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gazekit")
def main() -> None:
    """gazekit: eye-tracking data for medical imaging (convert, render-heatmaps, qc, simulate, record)."""


def _numbers(text: str | None, n: int, option: str, kind: type = float) -> tuple | None:
    """``"a,b,c"`` -> a tuple of ``n`` numbers, or GazekitError naming the option."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(kind(float(p)) if kind is int else kind(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != n or not all(map(math.isfinite, values)):
        raise GazekitError(None, option, f"expected {n} comma-separated numbers, got {text!r}")
    return values


def _column_map(columns: str | None, columns_file: Path | None) -> dict[str, str] | None:
    """Column mapping of the generic reader: ``table_col=file_col,...`` and/or a YAML/JSON file."""
    mapping: dict[str, str] = {}
    if columns_file is not None:
        import yaml

        try:
            loaded = yaml.safe_load(columns_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise GazekitError(columns_file, None, f"expected a YAML/JSON column mapping: {exc}") from None
        loaded = loaded.get("columns", loaded) if isinstance(loaded, dict) else loaded
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise GazekitError(columns_file, None, "expected a mapping of table column -> file column")
        mapping.update({str(k): v for k, v in loaded.items()})
    for item in filter(None, (columns or "").split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise GazekitError(None, "--columns", f"expected table_column=file_column, got {item!r}")
        mapping[key.strip()] = value.strip()
    return mapping or None


def _check_outputs(inputs: tuple[Path, ...], outputs: list[Path]) -> None:
    """Output files: not an existing folder, not one of the inputs, not the same file twice (before any work)."""
    from gazekit.atomic import check_output

    given = {p.resolve() for p in inputs}
    for i, out in enumerate(outputs):
        check_output(out, "file")
        if out.resolve() in given:
            raise GazekitError(out, None, "expected an output path that is not one of the inputs")
        if out.resolve() in {o.resolve() for o in outputs[:i]}:
            raise GazekitError(out, "--samples", "expected a different path than -o")


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="fixations.parquet to write")
@click.option("--format", "fmt", cls=_ReaderNamesOption, default=None)
@click.option("--drop-unassigned", is_flag=True, help="drop fixations with no stimulus (calibration, blank)")
@click.option("--image-rect", default=None, help="x0,y0,w,h: where the image was on screen [screen px]")
@click.option("--image-size", default=None, help="W,H: image size [px] when the export does not give it")
@click.option(
    "--columns",
    default=None,
    help="generic reader: table_column=file_column pairs, comma-separated (e.g. t_start_ms=On,duration_ms=Dur,...)."
    " Table columns: t_start_ms and duration_ms (required); a position: x_px+y_px (image px), "
    "x_norm+y_norm (0..1 of the image) or screen_x_px+screen_y_px (with --image-rect); optional session_id, "
    "reader_id, stimulus_id, eye, pupil, slice_index, image_width_px, image_height_px",
)
@click.option("--columns-file", default=None, type=click.Path(path_type=Path), help="the mapping as YAML/JSON")
@click.option(
    "--time-unit",
    type=click.Choice(["ms", "s", "us", "ns"]),
    default="ms",
    show_default=True,
    help="generic reader: unit of the t_start_ms and duration_ms columns",
)
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
@click.option("--viewer-events", type=click.Path(path_type=Path), help="viewer-event log (CSV/Parquet) to map through")
@click.option("--clock-offset-ms", type=float, default=0.0, help="added to the viewer log's times [ms]")
@click.option(
    "--stimulus", "stimulus_paths", multiple=True, type=click.Path(path_type=Path), help="stimulus file/folder"
)
@click.option("--anonymize-paths", is_flag=True, help="hash folder names in written metadata (file names kept)")
@user_errors
def convert(
    inputs: tuple[Path, ...],
    output: Path,
    fmt: str | None,
    drop_unassigned: bool,
    image_rect: str | None,
    image_size: str | None,
    columns: str | None,
    columns_file: Path | None,
    time_unit: str,
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
    viewer_events: Path | None,
    clock_offset_ms: float,
    stimulus_paths: tuple[Path, ...],
    anonymize_paths: bool,
) -> None:
    """Convert eye-tracker exports into one fixation table (Parquet)."""
    from gazekit import tables
    from gazekit.convert import detectors
    from gazekit.convert import pipeline as conv
    from gazekit.geometry import screen_fields_from_cli
    from gazekit.readers import ReadOptions

    rect = _numbers(image_rect, 4, "--image-rect")
    if rect is not None and not (rect[2] > 0 and rect[3] > 0):
        raise GazekitError(None, "--image-rect", f"expected a positive width and height, got {image_rect!r}")
    size = _numbers(image_size, 2, "--image-size", int)
    if size is not None and min(size) <= 0:
        raise GazekitError(None, "--image-size", f"expected a positive width and height, got {image_size!r}")
    read = ReadOptions(
        format=fmt,
        column_map=_column_map(columns, columns_file),
        time_unit=time_unit,
        eye=eye or "both",
        stimulus_pattern=stimulus_pattern,
        min_confidence=min_confidence,
    )
    params = detectors.parse_params(detect or "ivt", detect_params) if detect != "vendor" else {}
    if eye:
        params["eye"] = eye
    opts = conv.ConvertOptions(
        read=read,
        drop_unassigned=drop_unassigned,
        image_rect=rect,
        image_size=size,
        detect=detect,
        detect_params=tuple(params.items()),
        screen=tuple(screen_fields_from_cli(screen_px, screen_mm, distance_mm).items()),
        session_json=session_json,
        viewer_events=viewer_events,
        clock_offset_ms=clock_offset_ms,
        stimuli=stimulus_paths,
        anonymize_paths=anonymize_paths,
    )
    _check_outputs(inputs, [p for p in (output, samples_out) if p is not None])
    sample_parts: list = []
    fix, meta = conv.convert_columns(list(inputs), opts, samples=sample_parts if samples_out else None)
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
    from gazekit import tables
    from gazekit.convert import pipeline as conv
    from gazekit.qc import data_quality

    meta = tables.parquet_meta(table)
    if meta.get("table") == "samples":
        samples, meta = tables.read_table("samples", table)
        click.echo(f"{table}: {len(samples)} samples")
    else:
        fix, meta = tables.read_table("fixations", table)
        click.echo(f"{table}: {conv.format_summary(conv.summary(fix))}")
    for line in data_quality.format_quality(meta.get("quality") or {}):
        click.echo(line)


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
    from gazekit.heatmaps.render import RenderConfig, Sigma

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
@click.option(
    "--workers", type=int, default=1, show_default=True, help="processes; 1 = one, 2 threads (same output for any N)"
)
@click.option("--shard", default=None, help="i/n: render every n-th stimulus starting at i (0-based)")
@click.option(
    "--dtype",
    type=click.Choice(["uint16", "float32"]),
    default="uint16",
    show_default=True,
    help="uint16: quantised per map (error < 8e-6 of its peak), zstd-compressed, ~7 % of float32's size",
)
@click.option("--lazy", is_flag=True, help="write only the manifest; maps are rendered when read (gazekit.store)")
@user_errors
def render_heatmaps(table, output, stimuli, scales, size, nifti, workers, shard, dtype, lazy, **render) -> None:
    """Render multi-scale heatmaps of a fixation table into a heatmap store."""
    import dataclasses

    from gazekit.heatmaps import build

    cfg = dataclasses.replace(_render_config(scales=scales, size=size, **render), dtype=dtype)
    manifest = build.build_store(table, output, cfg, stimuli, workers, build.parse_shard(shard), nifti, lazy=lazy)
    with_gaze = int(manifest["file"].notna().sum())
    if manifest.attrs.get("skipped_stimuli"):
        from gazekit.heatmaps.plan import skipped_line

        click.echo(f"warning: {skipped_line(manifest.attrs['skipped_stimuli'], '--stimuli folder')}", err=True)
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
@click.option(
    "--label-pair",
    "label_pairs",
    multiple=True,
    help="IMAGE_ID=LABEL_ID when a label series has its own id (default: paired by geometry with --stimuli)",
)
@_render_options
@user_errors
def qc(table, output, store_dir, labels, threshold, label_threshold, label_pairs, stimuli, **render) -> None:
    """QC report: per-session/per-image figures, overlays, contact sheets, agreement with labels, index.html."""
    from gazekit.qc.report import QCConfig, build_report

    cfg = _render_config(**render)
    pairs = []
    for item in label_pairs:
        image_id, eq, label_id = item.partition("=")
        if not eq or not image_id.strip() or not label_id.strip():
            raise GazekitError(None, "--label-pair", f"expected IMAGE_ID=LABEL_ID, got {item!r}")
        pairs.append((image_id.strip(), label_id.strip()))
    qc_cfg = QCConfig(threshold, label_threshold, label_pairs=tuple(pairs))
    summary = build_report(table, output, cfg, store_dir, stimuli, labels, qc_cfg)
    if summary.get("skipped_stimuli"):
        from gazekit.heatmaps.plan import skipped_line

        where = (
            "--stimuli folder or the store"
            if stimuli is not None and store_dir is not None
            else ("--stimuli folder" if stimuli is not None else "store")
        )
        click.echo(f"warning: {skipped_line(summary['skipped_stimuli'], where)}", err=True)
    extra = ""
    if "mean" in summary:
        extra = ", mean " + ", ".join(f"{k} {v:.3f}" for k, v in summary["mean"].items())
    click.echo(f"{output}/index.html: {summary['stimuli_with_gaze']} image(s) with gaze{extra}")


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
@click.option("--anonymize-paths", is_flag=True, help="hash folder names in written metadata (file names kept)")
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
    anonymize_paths: bool,
) -> None:
    """Simulate a reading session on label maps (mask folder or NIfTI/HDF5/DICOM volumes) -> session folder."""
    from gazekit.geometry import Screen
    from gazekit.simulate import simulator as sim

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
    out = sim.simulate(list(labels), output, cfg, images=images, series=series, anonymize=anonymize_paths)
    s = sim.summary(out)
    click.echo(
        f"{out}: simulated session, {s['stimuli']} stimuli, {s['fixations']} planned fixations, {s['seconds']:.1f} s"
    )


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
@click.option("--anonymize-paths", is_flag=True, help="hash folder names in written metadata (file names kept)")
@user_errors
def record(stimuli, output, worklist, source, replay_file, lsl_stream, lsl_channels, lsl_units, tobii_address,
           window, fullscreen, screen_px, screen_mm, distance_mm, reader_id, data_root, validate, validation_points,
           accuracy_limit_deg, no_scroll, no_zoom, no_pan, no_window_level, no_overlay, recover,
           anonymize_paths) -> None:  # fmt: skip
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
        anonymize_paths=anonymize_paths,
        controls=Controls(not no_scroll, not no_zoom, not no_pan, not no_window_level),
        overlay=not no_overlay,
        validate=validate,
        validation_points=int(validation_points),
        accuracy_limit_deg=accuracy_limit_deg,
    )
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise GazekitError(output, None, "expected a new or empty session folder, it is a file or already has files")
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
