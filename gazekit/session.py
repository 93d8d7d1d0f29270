"""The session folder (DESIGN.md section 3): what ``record`` and ``simulate`` write and ``convert`` reads.

A session folder holds

- ``session.json``: a BIDS eye-tracking style sidecar (screen geometry in metres, sampling rate, reader,
  the stimuli shown); JSON Schema ``schemas/session.schema.json``, checked by :func:`validate_meta`;
- ``samples.parquet``: raw gaze (table ``samples`` of :mod:`gazekit.tables`);
- ``viewer_events.parquet``: one row per display change (table ``viewer_events``).

A simulated session may also hold ``simulated_fixations.parquet``: the fixations the simulator planned
(fixation table, ``detector = "given"``), the ground truth to check detection and mapping against.

API: ``write_session(dir, session_meta, samples, viewer_events)`` writes the folder atomically (all files or
none); ``read_session(dir) -> Session`` reads and validates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gazekit import tables
from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from gazekit.geometry import Screen
from gazekit.version import __version__

# Part-file folders of a recording in progress (gazekit record writes them; --recover compacts them).
PARTS = {"samples": "samples.parts", "viewer_events": "viewer_events.parts"}

META_FILE = "session.json"
SAMPLES_FILE = "samples.parquet"
EVENTS_FILE = "viewer_events.parquet"
TRUTH_FILE = "simulated_fixations.parquet"
# what a session folder written by write_session holds (session.json first: the marker); see gazekit.atomic
SESSION_FILES = (META_FILE, SAMPLES_FILE, EVENTS_FILE, TRUTH_FILE)

Shapes = dict[str, tuple[int | None, int, int]]  # stimulus_id -> (n_slices or None, height, width)

STIMULUS_KINDS = ("image", "dicom", "nifti", "hdf5")
EYES = ("left", "right", "both")

# field -> (check, what is expected); the JSON Schema in schemas/session.schema.json says the same.
_NUM = (int, float)


def _is_num(v: Any) -> bool:
    return isinstance(v, _NUM) and not isinstance(v, bool)


def _pair(check) -> Any:
    return lambda v: isinstance(v, list) and len(v) == 2 and all(check(x) for x in v)


REQUIRED: dict[str, tuple[Any, str]] = {
    "session_id": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "reader_id": (lambda v: isinstance(v, str), "a string (pseudonymous reader id)"),
    "SamplingFrequency": (lambda v: _is_num(v) and v > 0, "a positive number [Hz]"),
    "ScreenResolution": (
        _pair(lambda x: isinstance(x, int) and not isinstance(x, bool) and x > 0),
        "[width, height] px",
    ),
    "ScreenSize": (_pair(lambda x: _is_num(x) and x > 0), "[width, height] in metres"),
    "ScreenDistance": (lambda v: _is_num(v) and v > 0, "a positive number [m]"),
    "ScreenOrigin": (lambda v: v == ["top", "left"], '["top", "left"]'),
    "RecordedEye": (lambda v: v in EYES, "one of left/right/both"),
    "Manufacturer": (lambda v: isinstance(v, str), "a string"),
    "ManufacturersModelName": (lambda v: isinstance(v, str), "a string"),
    "StartTime": (lambda v: isinstance(v, str), "an ISO 8601 date-time string"),
    "stimuli": (lambda v: isinstance(v, list), "a list of stimuli"),
}
OPTIONAL: dict[str, tuple[Any, str]] = {
    "AverageCalibrationError": (lambda v: v is None or (_is_num(v) and v >= 0), "a number >= 0 [deg] or null"),
    "MaximalCalibrationError": (lambda v: v is None or (_is_num(v) and v >= 0), "a number >= 0 [deg] or null"),
    "simulated": (lambda v: isinstance(v, bool), "true or false"),
    "simulation": (lambda v: isinstance(v, dict), "an object (simulator parameters)"),
    "gazekit_version": (lambda v: isinstance(v, str), "a string"),
}
STIMULUS_FIELDS: dict[str, tuple[Any, str]] = {
    "id": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "kind": (lambda v: v in STIMULUS_KINDS, "one of " + "/".join(STIMULUS_KINDS)),
    "source": (lambda v: isinstance(v, str), "a path relative to the data root"),
    "shape": (
        lambda v: isinstance(v, list) and len(v) in (2, 3) and all(isinstance(x, int) and x > 0 for x in v),
        "[height, width] (image) or [n_slices, height, width] (volume), positive integers",
    ),
    "spacing": (
        lambda v: v is None or (isinstance(v, list) and len(v) in (2, 3) and all(_is_num(x) and x > 0 for x in v)),
        "null or the pixel spacing [mm] along the shape's axes",
    ),
}


def _check_fields(obj: dict, fields: dict[str, tuple[Any, str]], file: str | Path | None, where: str) -> None:
    """Every key of ``fields`` is in ``obj`` and passes its check; else GazekitError naming ``where`` + field."""
    for key, (check, expected) in fields.items():
        if key not in obj:
            raise GazekitError(file, f"{where}field {key!r}", f"missing; expected {expected}")
        if not check(obj[key]):
            raise GazekitError(file, f"{where}field {key!r}", f"expected {expected}, got {obj[key]!r}")


def validate_meta(meta: Any, file: str | Path | None = None) -> dict:
    """Check a ``session.json`` object; raises GazekitError naming the first bad field. Returns ``meta``."""
    if not isinstance(meta, dict):
        raise GazekitError(file, None, f"expected a JSON object, got {type(meta).__name__}")
    _check_fields(meta, REQUIRED, file, "")
    for key, (check, expected) in OPTIONAL.items():
        if key in meta and not check(meta[key]):
            raise GazekitError(file, f"field {key!r}", f"expected {expected}, got {meta[key]!r}")
    seen: set[str] = set()
    for i, stim in enumerate(meta["stimuli"]):
        where = f"field 'stimuli', item {i}"
        if not isinstance(stim, dict):
            raise GazekitError(file, where, f"expected an object, got {stim!r}")
        _check_fields(stim, STIMULUS_FIELDS, file, f"{where}, ")
        if stim["id"] in seen:
            raise GazekitError(file, f"{where}, field 'id'", f"expected unique stimulus ids, {stim['id']!r} repeats")
        seen.add(stim["id"])
    return meta


def screen_from_meta(meta: dict) -> Screen:
    """The :class:`Screen` described by a session.json (metres -> mm)."""
    (w_px, h_px), (w_m, h_m) = meta["ScreenResolution"], meta["ScreenSize"]
    return Screen(int(w_px), int(h_px), 1000.0 * w_m, 1000.0 * h_m, 1000.0 * meta["ScreenDistance"])


def meta_from_screen(screen: Screen) -> dict:
    """The session.json screen fields for ``screen`` (mm -> metres)."""
    return {
        "ScreenResolution": [int(screen.width_px), int(screen.height_px)],
        "ScreenSize": [screen.width_mm / 1000.0, screen.height_mm / 1000.0],
        "ScreenDistance": screen.distance_mm / 1000.0,
        "ScreenOrigin": ["top", "left"],
    }


@dataclass
class Session:
    """A session folder in memory."""

    path: Path
    meta: dict
    samples: pd.DataFrame
    viewer_events: pd.DataFrame
    truth: pd.DataFrame | None = None  # simulated_fixations.parquet, when present

    @property
    def screen(self) -> Screen:
        return screen_from_meta(self.meta)

    def stimulus_shapes(self) -> dict[str, tuple[int | None, int, int]]:
        """stimulus_id -> (n_slices or None for a 2D image, height_px, width_px)."""
        out = {}
        for s in self.meta["stimuli"]:
            shape = s["shape"]
            out[s["id"]] = (None, *shape) if len(shape) == 2 else tuple(shape)
        return out


def write_session(
    dir: str | Path,
    session_meta: dict,
    samples: pd.DataFrame,
    viewer_events: pd.DataFrame,
    truth: pd.DataFrame | None = None,
) -> Path:
    """Write a session folder atomically (validated; nothing is left behind on error).

    ``session_meta`` is the session.json object (see :func:`validate_meta`); ``samples`` and
    ``viewer_events`` follow the ``samples`` / ``viewer_events`` tables of :mod:`gazekit.tables`, times
    in ms from the session's start. ``truth`` (simulator only) is a fixation table.
    """
    dir = Path(dir)
    meta = {"gazekit_version": __version__, **session_meta}
    validate_meta(meta, dir / META_FILE)
    _check_events_known(viewer_events, meta, dir / EVENTS_FILE)
    info = {"session_id": meta["session_id"]}
    with atomic_path(dir, kind="dir", owned=SESSION_FILES) as tmp:
        tmp.mkdir()
        tables.write_table("samples", samples, tmp / SAMPLES_FILE, info)
        tables.write_table("viewer_events", viewer_events, tmp / EVENTS_FILE, info)
        if truth is not None:
            tables.write_table("fixations", truth, tmp / TRUTH_FILE, info)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=tables._json_default) + "\n")
    return dir


def read_sidecar(dir: str | Path) -> dict[str, Any]:
    """The session.json of a session folder as parsed JSON (not validated)."""
    path = Path(dir) / META_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GazekitError(path, None, "file not found (not a session folder?)") from None
    except json.JSONDecodeError as exc:
        raise GazekitError(path, f"line {exc.lineno}", f"expected JSON: {exc.msg}") from None


def read_session(dir: str | Path) -> Session:
    """Read and validate a session folder."""
    dir = Path(dir)
    meta_path = dir / META_FILE
    if not dir.is_dir():
        raise GazekitError(
            dir, None, "expected a session folder (session.json, samples.parquet, viewer_events.parquet)"
        )
    if not (dir / SAMPLES_FILE).exists() and any((dir / part).is_dir() for part in PARTS.values()):
        raise GazekitError(
            dir / SAMPLES_FILE,
            None,
            f"missing: an interrupted recording (part files remain); run gazekit record --recover -o {dir}",
        )
    meta = read_sidecar(dir)
    validate_meta(meta, meta_path)
    samples, _ = tables.read_table("samples", dir / SAMPLES_FILE)
    events, _ = tables.read_table("viewer_events", dir / EVENTS_FILE)
    _check_events_known(events, meta, dir / EVENTS_FILE)
    truth = tables.read_table("fixations", dir / TRUTH_FILE)[0] if (dir / TRUTH_FILE).exists() else None
    return Session(dir, meta, samples, events, truth)


def _check_events_known(events: pd.DataFrame, meta: dict, file: Path) -> None:
    """Every viewer event names a stimulus of session.json (or "") and a slice inside it."""
    shapes = {s["id"]: (None, *s["shape"]) if len(s["shape"]) == 2 else tuple(s["shape"]) for s in meta["stimuli"]}
    check_events(events, shapes, file)


def check_events(events: pd.DataFrame, shapes: Shapes, file: str | Path | None = None) -> None:
    """Every event names a known stimulus (or "") and, for a volume, a slice inside it."""
    for i, (sid, k) in enumerate(zip(events["stimulus_id"], events["slice_index"], strict=True)):
        if pd.isna(sid) or sid == "":
            continue
        if sid not in shapes:
            known = ", ".join(sorted(shapes)[:5]) + (" ..." if len(shapes) > 5 else "")
            raise GazekitError(
                file, f"row {i}, column 'stimulus_id'", f"expected a known stimulus ({known}), got {sid!r}"
            )
        n_slices = shapes[sid][0]
        if n_slices is not None:
            if pd.isna(k) or not 0 <= int(k) < n_slices:
                raise GazekitError(
                    file,
                    f"row {i}, column 'slice_index'",
                    f"expected 0..{n_slices - 1} for {sid!r}, got {'none' if pd.isna(k) else int(k)}",
                )
        elif not pd.isna(k):
            raise GazekitError(
                file, f"row {i}, column 'slice_index'", f"expected none for 2D image {sid!r}, got {int(k)}"
            )
