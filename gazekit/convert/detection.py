"""From what a reader found to screen-pixel fixations: screen geometry, normalised -> px, detection, quality.

Used by ``gazekit convert`` between reading a file and building the fixation table:

1. :func:`screen_for` resolves the screen from CLI options, a ``session.json`` (given, or next to the
   input) and what the file says, in that order of precedence.
2. :func:`~gazekit.convert.coordinates.to_screen_px` turns normalised positions (``x_norm``/``y_norm``,
   ``screen_x_norm``/``screen_y_norm``, origin top-left) into screen px.
3. :func:`fixations_for` picks vendor events or runs I-VT / I-DT (:mod:`gazekit.convert.detectors`) on the
   samples.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from gazekit import tables
from gazekit.convert import detectors
from gazekit.convert.coordinates import to_screen_px
from gazekit.errors import GazekitError
from gazekit.geometry import Screen, resolve_screen, screen_fields_from_session_json
from gazekit.ids import compile_pattern, stimulus_ids
from gazekit.readers.base import Recording

METHODS = ("vendor", "ivt", "idt")


def screen_for(rec: Recording, path: Path, cli_fields: dict, session_json: Path | None = None) -> Screen | None:
    """The session's screen: CLI fields, then session.json (given or ``path``'s sibling), then the file."""
    sidecar = session_json or (path.parent / "session.json")
    json_fields = screen_fields_from_session_json(sidecar) if sidecar.is_file() else {}
    file_fields = {}
    for info in rec.sessions.values():
        file_fields.update(info.get("screen_fields") or {})
    if rec.screen is not None:
        file_fields.update({f.name: getattr(rec.screen, f.name) for f in dataclasses.fields(Screen)[:5]})
    return resolve_screen(cli_fields, json_fields, file_fields)


def fixations_for(
    rec: Recording, path: Path, method: str | None, params: dict, stimulus_pattern: str | None = None
) -> tuple[tables.Columns, dict]:
    """Fixations of one recording (:data:`gazekit.tables.Columns`) with a ``detector`` column, and what was done (for
    the metadata).

    ``method``: "vendor", "ivt", "idt", or None = vendor events when the file has them, else I-VT.
    ``params`` override the detector's defaults (:class:`detectors.IVTParams` / :class:`detectors.IDTParams`).
    """
    if method is None:
        method = "vendor" if rec.fixations is not None else "ivt"
    if method not in METHODS:
        raise GazekitError(path, "--detect", f"expected one of {', '.join(METHODS)}, got {method!r}")
    if method == "vendor":
        if rec.fixations is None:
            raise GazekitError(path, None, "no fixation events in the file: use --detect ivt or --detect idt")
        fix = rec.fixations if isinstance(rec.fixations, dict) else tables.columns_of(rec.fixations)
        if "detector" not in fix:  # readers of given tables (generic) set "given"
            fix = {**fix, "detector": np.full(tables.n_rows(fix), "vendor", dtype=object)}
        return fix, {"method": "vendor"}
    if rec.samples is None or rec.samples.empty:
        raise GazekitError(path, "--detect", f"{method} needs raw gaze samples, and the file has none")
    if rec.screen is None or not rec.screen.complete:
        raise GazekitError(
            path, "--detect", f"{method} needs the screen geometry: give --screen-px, --screen-mm and --distance-mm"
        )
    detector_params = detectors.make_params(method, **params)
    fix = detectors.DETECTORS[method][0](rec.samples, rec.screen, detector_params)
    if rec.messages is not None and not rec.messages.empty:
        fix["stimulus_id"] = stimulus_ids(
            rec.messages, compile_pattern(stimulus_pattern, path), fix["t_start_ms"].to_numpy()
        )
    fix = tables.columns_of(fix.assign(detector=method))
    return fix, {"method": method, "params": dataclasses.asdict(detector_params)}


def samples_quality(rec: Recording) -> dict:
    """``{session_id: {eye: figures}}`` of a recording's samples ({} without samples)."""
    if rec.samples is None or rec.samples.empty:
        return {}
    from gazekit.qc import data_quality

    nominal = {sid: info.get("nominal_rate_hz") for sid, info in rec.sessions.items()}
    return data_quality.quality_by_session(rec.samples, rec.screen, nominal)


def screen_meta(screen: Screen | None) -> dict | None:
    """The screen as JSON-ready metadata (NaN -> None)."""
    if screen is None:
        return None
    return {
        k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in dataclasses.asdict(screen).items()
    }


def process(
    rec: Recording,
    path: Path,
    method: str | None = None,
    params: dict | None = None,
    cli_screen: dict | None = None,
    session_json: Path | None = None,
    stimulus_pattern: str | None = None,
) -> tuple[tables.Columns, Recording, dict]:
    """Steps 1-3 for one file: (fixations with ``detector``, recording in px, metadata for the output)."""
    rec = to_screen_px(rec, screen_for(rec, path, cli_screen or {}, session_json), path)
    fix, how = fixations_for(rec, path, method, params or {}, stimulus_pattern)
    info = {"detection": how, "screen": screen_meta(rec.screen), "quality": samples_quality(rec)}
    return fix, rec, info
