"""Readers of eye-tracker files. Each is a module with ``NAME``, ``sniff(head) -> bool`` and
``read(path, opts) -> Recording``; ``READERS`` lists them in detection order.

Adding a tracker = one new module + one line in ``READERS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.geometry import Screen

HEAD_BYTES = 65536


@dataclass(frozen=True)
class ReadOptions:
    """Options every reader receives (each reader uses the ones that concern it)."""

    format: str | None = None  # reader NAME to force, instead of sniffing
    eye: str = "both"  # left / right / both / average (binocular sources)
    column_map: dict[str, str] | None = None  # generic reader: table column -> file column
    stimulus_pattern: str | None = None  # EyeLink: regex on MSG text whose group 1 is the stimulus id
    min_confidence: float = 0.6  # Pupil Core: gaze samples below this confidence are invalid


@dataclass
class Recording:
    """What a reader found in one file: vendor fixations and/or raw samples, per session.

    ``fixations`` has fixation-table columns the source knows (at least ``session_id, t_start_ms,
    duration_ms`` and screen or image coordinates); ``samples`` has samples-table columns plus
    ``session_id``. Times are ms from each session's start. Fixations may also carry the geometry that
    ``gazekit.convert.map_to_images`` turns into image coordinates (``x_norm``, ``media_x0_px``, ...).
    """

    source_format: str
    fixations: pd.DataFrame | None = None
    samples: pd.DataFrame | None = None
    screen: Screen | None = None
    sessions: dict[str, dict] = field(default_factory=dict)  # session_id -> metadata (reader_id, ...)
    stimuli: dict[str, dict] = field(default_factory=dict)  # stimulus_id -> {width, height, ...}
    messages: pd.DataFrame | None = None  # t_ms, session_id, text (EyeLink MSG lines and the like)
    warnings: list[str] = field(default_factory=list)
    viewer_events: pd.DataFrame | None = None  # display log of a session folder (gazekit.viewer)


def normalised_samples(
    t_ms: np.ndarray, x: np.ndarray, y: np.ndarray, valid: np.ndarray, pupil: np.ndarray | float, eye: str
) -> pd.DataFrame:
    """Samples of one eye with positions normalised to the screen (0-1, origin top-left); t_ms in ms.

    Positions are NaN where ``valid`` is false; ``pupil`` (mm, NaN when unknown) should already be masked.
    """
    return pd.DataFrame(
        {
            "t_ms": t_ms,
            "x_norm": np.where(valid, x, np.nan),
            "y_norm": np.where(valid, y, np.nan),
            "valid": valid,
            "pupil": pupil,
            "eye": eye,
        }
    )


def reader_names() -> list[str]:
    return [r.NAME for r in READERS]


def read_head(path: Path) -> str:
    """The first bytes of a file as text (BOM stripped), for sniffing."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(HEAD_BYTES)
    except FileNotFoundError:
        raise GazekitError(path, None, "file not found") from None
    except IsADirectoryError:
        raise GazekitError(path, None, "expected a file, got a directory") from None
    if not raw.strip():
        raise GazekitError(path, None, "the file is empty")
    if b"\x00" in raw[:4096]:
        raise GazekitError(path, None, "expected a text export, got binary data")
    return decode_text(raw)


def decode_text(raw: bytes) -> str:
    """Text of an export: UTF-8 (BOM dropped), else Windows-1252, else Latin-1 (never fails)."""
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def pick_reader(path: Path, fmt: str | None = None) -> ModuleType:
    """The reader for ``path``: the one named ``fmt``, else the first whose ``sniff`` accepts the head."""
    if path.is_dir():
        from gazekit.readers import session_folder

        return session_folder
    if fmt:
        for reader in READERS:
            if reader.NAME == fmt:
                return reader
        raise GazekitError(path, "--format", f"expected one of {', '.join(reader_names())}, got {fmt!r}")
    head = read_head(path)
    for reader in READERS:
        if reader.sniff(head):
            return reader
    tried = ", ".join(r.NAME for r in READERS if r.NAME != "generic")
    raise GazekitError(
        path, None, f"unknown format: tried {tried}; use --format to force one, or --columns for a generic table"
    )


def read(path: str | Path, opts: ReadOptions | None = None) -> Recording:
    """Read one eye-tracker file with the detected (or forced) reader."""
    path = Path(path)
    opts = opts or ReadOptions()
    fmt = opts.format or ("generic" if opts.column_map else None)
    return pick_reader(path, fmt).read(path, opts)


# Detection order: the first reader whose sniff() accepts the head wins (generic never sniffs).
from gazekit.readers import (  # noqa: E402
    eyelink_asc,
    fixation_report,
    gazepoint,
    generic,
    pupil_core,
    tobii_prolab,
    tobii_sdk,
    tobii_studio,
)

READERS: tuple[ModuleType, ...] = (
    tobii_prolab,
    tobii_studio,
    fixation_report,
    eyelink_asc,
    tobii_sdk,
    gazepoint,
    pupil_core,
    generic,
)
