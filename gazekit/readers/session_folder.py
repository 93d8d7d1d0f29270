"""Reader of a session folder (``record`` / ``simulate`` output): raw samples + the viewer log.

Picked when the input path is a folder (``gazekit convert SESSION_DIR``). The folder has no fixations:
``convert`` detects them on the samples (I-VT by default, ``--detect idt`` for I-DT) with the screen of
``session.json``, then maps them through ``viewer_events.parquet`` (:func:`gazekit.convert.viewer_log.apply_log`,
majority rule).
"""

from __future__ import annotations

from pathlib import Path

from gazekit import session as sess
from gazekit.readers.base import ReadOptions, Recording

NAME = "session"


def sniff(head: str) -> bool:
    """Never picked from a file head: a session is a folder (see ``pick_reader``)."""
    return False


def read(path: Path, opts: ReadOptions) -> Recording:
    """Read and validate a session folder."""
    s = sess.read_session(path)
    session_id = s.meta["session_id"]
    info = {k: s.meta[k] for k in ("reader_id", "StartTime", "SamplingFrequency") if k in s.meta}
    info["simulated"] = bool(s.meta.get("simulated", False))
    stimuli = {
        st["id"]: {"kind": st["kind"], "source": st["source"], "shape": st["shape"], "spacing": st["spacing"]}
        for st in s.meta["stimuli"]
    }
    return Recording(
        source_format=NAME,
        samples=s.samples.assign(session_id=session_id),
        screen=s.screen,
        sessions={session_id: info},
        stimuli=stimuli,
        viewer_events=s.viewer_events,
    )
