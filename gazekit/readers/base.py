"""What every reader shares: the options it receives (:class:`ReadOptions`), what it returns
(:class:`Recording`), and the text helpers for sniffing and decoding exports.

Readers import this module, never their package ``__init__`` (which lists them), so there is no
package-init import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
    ``gazekit.convert.coordinates.map_to_images`` turns into image coordinates (``x_norm``, ``media_x0_px``, ...).
    """

    source_format: str
    fixations: pd.DataFrame | None = None
    samples: pd.DataFrame | None = None
    screen: Screen | None = None
    sessions: dict[str, dict] = field(default_factory=dict)  # session_id -> metadata (reader_id, ...)
    stimuli: dict[str, dict] = field(default_factory=dict)  # stimulus_id -> {width, height, ...}
    messages: pd.DataFrame | None = None  # t_ms, session_id, text (EyeLink MSG lines and the like)
    warnings: list[str] = field(default_factory=list)
    viewer_events: pd.DataFrame | None = None  # display log of a session folder (gazekit.convert.viewer_log)


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
