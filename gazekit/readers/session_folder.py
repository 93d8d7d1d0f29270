"""Reader of a session folder (``record`` / ``simulate`` output): samples -> I-VT -> viewer mapping.

Picked when the input path is a folder (``gazekit convert SESSION_DIR``). Fixations are detected on the
raw samples with :func:`gazekit.events.ivt` (Tobii I-VT defaults) and mapped through
``viewer_events.parquet`` by :func:`gazekit.viewer.map_fixations` (majority rule).
"""

from __future__ import annotations

from pathlib import Path

from gazekit import session as sess
from gazekit.events import IVTParams, ivt
from gazekit.readers import ReadOptions, Recording
from gazekit.viewer import map_fixations

NAME = "session"


def sniff(head: str) -> bool:
    """Never picked from a file head: a session is a folder (see ``pick_reader``)."""
    return False


def read(path: Path, opts: ReadOptions) -> Recording:
    """Read a session folder and detect + map its fixations."""
    s = sess.read_session(path)
    eye = opts.eye if opts.eye in ("left", "right") else "average"
    samples = s.samples.drop(columns=["session_id"], errors="ignore")
    fix = ivt(samples, s.screen, IVTParams(eye=eye))
    fix, warnings = map_fixations(fix, s.viewer_events, s.stimulus_shapes(), Path(path) / sess.EVENTS_FILE)
    session_id = s.meta["session_id"]
    fix["session_id"] = session_id
    fix["reader_id"] = s.meta["reader_id"]
    fix["detector"] = "ivt"
    fix["source_format"] = NAME
    info = {k: s.meta[k] for k in ("reader_id", "StartTime", "SamplingFrequency") if k in s.meta}
    info["simulated"] = bool(s.meta.get("simulated", False))
    stimuli = {
        st["id"]: {"kind": st["kind"], "source": st["source"], "shape": st["shape"], "spacing": st["spacing"]}
        for st in s.meta["stimuli"]
    }
    return Recording(
        source_format=NAME,
        fixations=fix,
        samples=s.samples.assign(session_id=session_id),
        screen=s.screen,
        sessions={session_id: info},
        stimuli=stimuli,
        warnings=[f"{path}: {w}" for w in warnings],
    )
