"""What every reader shares: the options it receives (:class:`ReadOptions`), what it returns
(:class:`Recording`), and the text helpers for sniffing and decoding exports.

Readers import this module, never their package ``__init__`` (which lists them), so there is no
package-init import cycle.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gazekit.errors import GazekitError
from gazekit.geometry import Screen

if TYPE_CHECKING:
    import pandas as pd

HEAD_BYTES = 65536
MAX_COLUMNS = 4096  # a header with more names has lost its line breaks
TAIL_BYTES = 2**16  # rows before the last one that tell whether it is complete
STIMULUS_VALUES_KEPT = 20  # distinct values of a stimulus column kept for the no-stimulus hint


@dataclass(frozen=True)
class ReadOptions:
    """Options every reader receives (each reader uses the ones that concern it)."""

    format: str | None = None  # reader NAME to force, instead of sniffing
    eye: str = "both"  # left / right / both / average (binocular sources)
    column_map: dict[str, str] | None = None  # generic reader: table column -> file column
    time_unit: str = "ms"  # generic reader: unit of the mapped t_start_ms / duration_ms columns (ms, s, us, ns)
    stimulus_pattern: str | None = None  # EyeLink: regex on MSG text whose group 1 is the stimulus id
    min_confidence: float = 0.6  # Pupil Core: gaze samples below this confidence are invalid


@dataclass
class Recording:
    """What a reader found in one file: vendor fixations and/or raw samples, per session.

    ``fixations`` has fixation-table columns the source knows (at least ``session_id, t_start_ms,
    duration_ms`` and screen or image coordinates), as a DataFrame or as :data:`gazekit.tables.Columns` (the
    Tobii readers, which import no pandas; :func:`gazekit.readers.read` gives a DataFrame either way);
    ``samples`` has samples-table columns plus ``session_id``. Times are ms from each session's start.
    Fixations may also carry the geometry that
    ``gazekit.convert.coordinates.map_to_images`` turns into image coordinates (``x_norm``, ``media_x0_px``, ...).
    """

    source_format: str
    fixations: pd.DataFrame | dict | None = None
    samples: pd.DataFrame | None = None
    screen: Screen | None = None
    sessions: dict[str, dict] = field(default_factory=dict)  # session_id -> metadata (reader_id, ...)
    stimuli: dict[str, dict] = field(default_factory=dict)  # stimulus_id -> {width, height, ...}
    messages: pd.DataFrame | None = None  # t_ms, session_id, text (EyeLink MSG lines and the like)
    warnings: list[str] = field(default_factory=list)
    viewer_events: pd.DataFrame | None = None  # display log of a session folder (gazekit.convert.viewer_log)
    # the file's columns that name the stimulus -> their distinct non-blank values (as written, at most
    # STIMULUS_VALUES_KEPT): what `convert` shows when no fixation lands on a stimulus
    stimulus_columns: dict[str, list[str]] = field(default_factory=dict)


def normalised_samples(
    t_ms: np.ndarray, x: np.ndarray, y: np.ndarray, valid: np.ndarray, pupil: np.ndarray | float, eye: str
) -> pd.DataFrame:
    """Samples of one eye with positions normalised to the screen (0-1, origin top-left); t_ms in ms.

    Positions are NaN where ``valid`` is false; ``pupil`` (mm, NaN when unknown) should already be masked.
    """
    import pandas as pd

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


def incomplete_last_line(tail: bytes, sep: bytes, starts_file: bool) -> tuple[int, str] | None:
    """Where an export stops inside its last row: (offset of that row in ``tail``, why), else None.

    ``tail`` is the end of the file (``starts_file``: it is the whole file, header first). The last line
    is cut when the file has no final line end and that line has fewer fields than the line before, or a
    last field shorter than in every earlier data row (e.g. ``622.0`` cut to ``6``).
    """
    if not tail or tail.endswith((b"\n", b"\r")):
        return None
    start = max(tail.rfind(b"\n"), tail.rfind(b"\r")) + 1
    if start == 0:
        return None
    last = tail[start:]
    before = [ln for ln in tail[:start].splitlines() if ln.strip()]
    data = before[1:]  # the header (or a partial first line of the window) is not a data row
    if not before:
        return None
    n_last, n_before = last.count(sep) + 1, before[-1].count(sep) + 1
    if n_last < n_before:
        return start, f"has {n_last} of the {n_before} fields of the row before"
    field = last.rsplit(sep, 1)[-1].strip()
    if data and len(field) < min(len(ln.rsplit(sep, 1)[-1].strip()) for ln in data[-200:]):
        return start, f"ends in {field.decode('utf-8', 'replace')!r}, shorter than that field in every row before"
    return None


def cut_warning(path: Path, why: str) -> str:
    """The warning for a dropped incomplete last row."""
    return f"{path}: the last line has no line end and {why}: dropped it (truncated export?)"


def read_csv_text(path: Path, warn: list[str]) -> pd.DataFrame:
    """A comma-separated export of modest size as strings (header row; the index is the file's line number).

    Fails fast on a header of more than MAX_COLUMNS names (lost line breaks) and on a row with more or
    fewer fields than the header (a comma inside a value, e.g. a decimal comma) when nothing is quoted;
    drops an incomplete last row with a warning (appended to ``warn``).
    """
    import pandas as pd

    raw = path.read_bytes()
    cut = incomplete_last_line(raw[-TAIL_BYTES:], b",", len(raw) <= TAIL_BYTES)
    if cut is not None:
        warn.append(cut_warning(path, cut[1]))
        raw = raw[: len(raw) - min(len(raw), TAIL_BYTES) + cut[0]]
    text = decode_text(raw)
    lines = re.split(r"\r\n|\r|\n", text)
    header = lines[0].lstrip("\ufeff")
    n_header = header.count(",") + 1
    if n_header > MAX_COLUMNS:
        raise GazekitError(
            path, "line 1", f"expected a header row of at most {MAX_COLUMNS} names, got {n_header} (line breaks lost?)"
        )
    if '"' not in text:
        trail = header.endswith(",")
        for i, line in enumerate(lines[1:], start=2):
            n, ends = line.count(",") + 1, line.endswith(",")
            # one trailing comma on the header or on the rows (not both) is not a field
            if line and n != n_header and not (ends != trail and n == n_header + (1 if ends else -1)):
                raise GazekitError(
                    path,
                    f"line {i}",
                    f"expected {n_header} comma-separated fields like the header, got {n} "
                    "(a comma inside a value, e.g. a decimal comma?)",
                )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, index_col=False, skip_blank_lines=False
            )
    except (pd.errors.ParserError, ValueError) as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"line {m.group(1)}" if m else None
        short = " ".join(str(exc).split())[:200]
        raise GazekitError(path, where, f"expected a CSV with a header row ({short})") from None
    df.index = df.index + 2  # file line numbers (line 1 is the header)
    df.columns = [str(c).lstrip("\ufeff") for c in df.columns]
    return df[~(df.isna() | df.eq("")).all(axis=1)].fillna("")
