"""Tobii Pro Lab "Data export" (.tsv/.csv): bracketed unit headers (``Recording timestamp [ms]``,
``Fixation point X [DACS px]``) and the older un-bracketed ones (``Recording timestamp`` in µs,
``Gaze event duration``, ``Presented Media position X (DACSpx)``).

One fixation = one distinct ``Eye movement type index`` among rows whose ``Eye movement type`` is
``Fixation``, per participant and recording; its start is the earliest row's timestamp, its duration
the vendor's event duration, its position the vendor's fixation point.
"""

from __future__ import annotations

from pathlib import Path

from gazekit.errors import GazekitError
from gazekit.readers._delimited import find_column, header_names, sniff_dialect, split_unit
from gazekit.readers._tobii import Columns, read_rows
from gazekit.readers.base import ReadOptions, Recording, read_head

NAME = "tobii-prolab"
_TIME_UNITS = {"ms": 1.0, "μs": 1e-3, "us": 1e-3, "": 1e-3}  # un-bracketed "Recording timestamp" is µs
_PX = ("px", "dacspx", "")


def sniff(head: str) -> bool:
    bases = {split_unit(c)[0] for c in header_names(head)}
    return "recording timestamp" in bases and bool(
        bases & {"eye movement type", "gaze point x", "presented stimulus name", "presented media name"}
    )


def read(path: Path, opts: ReadOptions) -> Recording:
    dialect = sniff_dialect(path, read_head(path))
    cols = dialect.columns
    bracketed = any("[" in c for c in cols)

    def need(base: str, units: tuple[str, ...], shown: str) -> str:
        col = find_column(cols, base, units)
        if col is None:
            raise GazekitError(path, "header", f"missing required column {shown!r} (Tobii Pro Lab data export)")
        return col

    time = need(
        "recording timestamp", tuple(_TIME_UNITS), "Recording timestamp [ms]" if bracketed else "Recording timestamp"
    )
    time_unit = split_unit(time)[1]
    duration = find_column(cols, "eye movement event duration", ("ms", "")) or find_column(
        cols, "gaze event duration", ("ms", "")
    )
    if duration is None:
        shown = "Eye movement event duration [ms]" if bracketed else "Gaze event duration"
        raise GazekitError(path, "header", f"missing required column {shown!r} (Tobii Pro Lab data export)")
    pupil = find_column(cols, "pupil diameter filtered", ("mm", ""))
    pupils = (
        (pupil,)
        if pupil
        else tuple(c for c in (find_column(cols, f"pupil diameter {e}", ("mm", "")) for e in ("left", "right")) if c)
    )
    spec = Columns(
        time=time,
        time_to_ms=_TIME_UNITS[time_unit],
        event_type=need("eye movement type", ("",), "Eye movement type"),
        event_index=need("eye movement type index", ("",), "Eye movement type index"),
        duration=duration,
        participant=find_column(cols, "participant name"),
        recording=find_column(cols, "recording name"),
        media=find_column(cols, "presented media name") or find_column(cols, "presented stimulus name"),
        stimulus_name=find_column(cols, "presented stimulus name"),
        screen_x=find_column(cols, "fixation point x", _PX),
        screen_y=find_column(cols, "fixation point y", _PX),
        norm_x=find_column(cols, "fixation point x", ("mcsnorm",)),
        norm_y=find_column(cols, "fixation point y", ("mcsnorm",)),
        media_x0=find_column(cols, "presented media position x", _PX),
        media_y0=find_column(cols, "presented media position y", _PX),
        media_width=find_column(cols, "presented media width", _PX),
        media_height=find_column(cols, "presented media height", _PX),
        image_width=find_column(cols, "original media width", _PX),
        image_height=find_column(cols, "original media height", _PX),
        pupils=pupils,
    )
    return read_rows(path, dialect, spec, NAME)
