"""Tobii Studio data export (.tsv): ``RecordingTimestamp`` [ms], ``GazeEventType``, ``FixationIndex``,
``GazeEventDuration`` [ms], ``FixationPointX (MCSpx)``, ``MediaName``, ``MediaPosX (ADCSpx)``, ...

Studio writes the fixation point in media coordinates (px of the media) while a media is shown and
in screen coordinates otherwise; one fixation = one distinct ``FixationIndex`` among rows of type
``Fixation``, per participant and recording.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazekit.errors import GazekitError
from gazekit.readers._delimited import find_column, header_names, sniff_dialect, split_unit
from gazekit.readers._tobii import Columns, read_rows
from gazekit.readers.base import ReadOptions, Recording, read_head

NAME = "tobii-studio"


def sniff(head: str) -> bool:
    bases = {split_unit(c)[0] for c in header_names(head)}
    return "recordingtimestamp" in bases and bool(bases & {"gazeeventtype", "fixationindex"})


def read(path: Path, opts: ReadOptions) -> Recording:
    dialect = sniff_dialect(path, read_head(path))
    cols = dialect.columns

    def need(base: str, units: tuple[str, ...], shown: str) -> str:
        col = find_column(cols, base, units)
        if col is None:
            raise GazekitError(path, "header", f"missing required column {shown!r} (Tobii Studio export)")
        return col

    pupils = tuple(c for c in (find_column(cols, "pupilleft"), find_column(cols, "pupilright")) if c)
    spec = Columns(
        time=need("recordingtimestamp", ("", "ms"), "RecordingTimestamp"),
        time_to_ms=1.0,
        event_type=need("gazeeventtype", ("",), "GazeEventType"),
        event_index=need("fixationindex", ("",), "FixationIndex"),
        duration=need("gazeeventduration", ("", "ms"), "GazeEventDuration"),
        participant=find_column(cols, "participantname"),
        recording=find_column(cols, "recordingname"),
        media=find_column(cols, "medianame"),
        image_x=need("fixationpointx", ("mcspx",), "FixationPointX (MCSpx)"),
        image_y=need("fixationpointy", ("mcspx",), "FixationPointY (MCSpx)"),
        media_x0=find_column(cols, "mediaposx", ("adcspx",)),
        media_y0=find_column(cols, "mediaposy", ("adcspx",)),
        image_width=find_column(cols, "mediawidth", ("", "px")),
        image_height=find_column(cols, "mediaheight", ("", "px")),
        pupils=pupils,
    )
    rec = read_rows(path, dialect, spec, NAME)
    fix = rec.fixations  # gazekit.tables.Columns
    if len(fix["t_start_ms"]):
        # without a media on screen, Studio's MCS is the screen itself
        no_media = fix["stimulus_id"] == ""
        fix["screen_x_px"] = np.where(no_media, fix["x_px"], np.nan)
        fix["screen_y_px"] = np.where(no_media, fix["y_px"], np.nan)
        fix["x_px"] = np.where(no_media, np.nan, fix["x_px"])
        fix["y_px"] = np.where(no_media, np.nan, fix["y_px"])
    return rec
