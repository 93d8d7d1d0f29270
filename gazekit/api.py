"""The public API (re-exported lazily by ``gazekit/__init__.py``): the pipeline in five calls.

Each call does what one CLI command does, with the same options as keyword arguments:
:func:`convert_files` (``gazekit convert``), :func:`read_fixations` (a ``fixations.parquet``),
:func:`render_heatmaps` (``gazekit render-heatmaps``), :func:`open_store` (the store's reader) and
:func:`simulate_session` (``gazekit simulate``). Errors in the user's input raise
:class:`gazekit.errors.GazekitError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gazekit import store, tables
from gazekit.convert.pipeline import ConvertOptions, convert
from gazekit.errors import GazekitError
from gazekit.heatmaps.build import build_store
from gazekit.heatmaps.render import RenderConfig, Sigma
from gazekit.readers.base import ReadOptions
from gazekit.simulate.simulator import SimConfig, simulate
from gazekit.store import open_store  # the API's store reader (gazekit.open_store), defined with the store

__all__ = ["convert_files", "read_fixations", "render_heatmaps", "open_store", "simulate_session"]

_READ_FIELDS = {f.name for f in dataclasses.fields(ReadOptions)}
_CONVERT_FIELDS = {f.name for f in dataclasses.fields(ConvertOptions)} - {"read"}
_PAIRS = ("detect_params", "screen")  # ConvertOptions fields stored as tuples of (name, value)


def _unknown(given: dict, known: set[str], what: str) -> None:
    extra = sorted(set(given) - known)
    if extra:
        expected = ", ".join(sorted(known))
        raise GazekitError(None, what, f"unknown option(s) {', '.join(extra)}; expected some of {expected}")


def convert_files(
    inputs: str | Path | Sequence[str | Path], output: str | Path | None = None, **options: Any
) -> pd.DataFrame:
    """Eye-tracker exports / session folders -> one fixation table (``gazekit convert``).

    ``options`` are the fields of :class:`~gazekit.readers.base.ReadOptions` (``format``, ``eye``,
    ``column_map``, ...) and of :class:`~gazekit.convert.pipeline.ConvertOptions` (``image_size`` = (W, H)
    [px], ``image_rect``, ``detect``, ``detect_params`` and ``screen`` as dicts, ``viewer_events``, ...).
    With ``output``, the table is also written there (Parquet with the metadata, atomically). The
    metadata (inputs, detection, screens, quality, warnings) is ``table.attrs["gazekit"]``.
    """
    paths = [Path(inputs)] if isinstance(inputs, str | Path) else [Path(p) for p in inputs]
    _unknown(options, _READ_FIELDS | _CONVERT_FIELDS, "options")
    read = ReadOptions(**{k: v for k, v in options.items() if k in _READ_FIELDS})
    rest = {k: v for k, v in options.items() if k in _CONVERT_FIELDS}
    for name in _PAIRS:
        if isinstance(rest.get(name), dict):
            rest[name] = tuple(rest[name].items())
    fix, meta = convert(paths, ConvertOptions(read=read, **rest))
    if output is not None:
        tables.write_table("fixations", fix, output, meta)
    fix.attrs["gazekit"] = meta
    return fix


def read_fixations(path: str | Path) -> pd.DataFrame:
    """A fixation table written by ``gazekit convert`` (validated; its metadata in ``attrs["gazekit"]``)."""
    fix, meta = tables.read_table("fixations", path)
    fix.attrs["gazekit"] = meta
    return fix


def render_heatmaps(
    table: str | Path,
    output: str | Path,
    stimuli: str | Path | None = None,
    sigma_deg: float | None = None,
    sigma_px: float | None = None,
    sigma_frac: float | None = None,
    workers: int = 1,
    **config: Any,
) -> store.HeatmapStore:
    """A fixation table file -> a heatmap store at ``output`` (``gazekit render-heatmaps``); returns it opened.

    Exactly one sigma (default ``sigma_deg=1.0``); ``config`` are the other fields of
    :class:`~gazekit.heatmaps.render.RenderConfig` (``scales``, ``size`` = (H, W), ``norm``, ``weight``,
    ``combine``, ``boundary``, ``display_scale``). ``stimuli`` gives the image sizes and lists the images
    nobody looked at.
    """
    _unknown(config, {f.name for f in dataclasses.fields(RenderConfig)} - {"sigma"}, "config")
    if sigma_deg is None and sigma_px is None and sigma_frac is None:
        sigma_deg = 1.0
    cfg = RenderConfig(sigma=Sigma(deg=sigma_deg, px=sigma_px, frac=sigma_frac), **config)
    build_store(table, output, cfg, stimuli=stimuli, workers=workers, progress=False)
    return open_store(output)


def simulate_session(
    labels: str | Path | Sequence[str | Path],
    output: str | Path,
    images: str | Path | None = None,
    series: str | None = None,
    **config: Any,
) -> Path:
    """A simulated reading session on label maps, written as a session folder (``gazekit simulate``).

    ``config`` are the fields of :class:`~gazekit.simulate.simulator.SimConfig` (``seed``, ``rate_hz``,
    ``accuracy_deg``, ``screen``, ...). Returns the folder, which :func:`convert_files` reads.
    """
    paths = [Path(labels)] if isinstance(labels, str | Path) else [Path(p) for p in labels]
    _unknown(config, {f.name for f in dataclasses.fields(SimConfig)}, "config")
    image_dir = None if images is None else Path(images)
    return simulate(paths, Path(output), SimConfig(**config), images=image_dir, series=series)
