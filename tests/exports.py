"""Small synthetic vendor exports for tests, written from the vendors' documented layouts.

``write_studio_export`` writes a Tobii Studio data export (BOM, CRLF, decimal commas, 60 Hz rows,
StudioEvent rows mixed in) and returns its fixations computed from the generating events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

STUDIO_COLUMNS = (
    "ExportDate",
    "StudioVersionRec",
    "ParticipantName",
    "RecordingName",
    "RecordingDate",
    "RecordingTimestamp",
    "MediaName",
    "MediaPosX (ADCSpx)",
    "MediaPosY (ADCSpx)",
    "MediaWidth",
    "MediaHeight",
    "StudioEvent",
    "StudioEventData",
    "FixationIndex",
    "SaccadeIndex",
    "GazeEventType",
    "GazeEventDuration",
    "FixationPointX (MCSpx)",
    "FixationPointY (MCSpx)",
    "GazePointX (ADCSpx)",
    "GazePointY (ADCSpx)",
    "PupilLeft",
    "PupilRight",
    "ValidityLeft",
    "ValidityRight",
)


def write_studio_export(path: Path, participants=("P1", "P2"), seed: int = 0) -> pd.DataFrame:
    """Write a Tobii Studio export; return the true fixations (participant, t_start_ms, duration_ms, x_px, y_px,
    media, screen_x_px, screen_y_px, pupil)."""
    rng = np.random.default_rng(seed)
    lines = ["\t".join(STUDIO_COLUMNS)]
    truth = []
    period = 1000 / 60
    for p in participants:
        t = 0.0
        fix_i = sac_i = 0
        for media in ("", "chest_01.png", "chest_02.png"):
            w, h, x0, y0 = (0, 0, 0, 0) if not media else (800, 600, 560, 240)
            lines.append(_row(p, t, media, (w, h, x0, y0), event=("ImageStart" if media else "ScreenRecStart")))
            for _ in range(4):
                n_fix = int(rng.integers(6, 20))
                fix_i += 1
                fx, fy = float(rng.integers(-50, 850)), float(rng.integers(-50, 650))
                dur = round(n_fix * period)
                pupils = np.round(3 + rng.normal(0, 0.1, (n_fix, 2)), 2)
                truth.append(
                    {
                        "participant": p,
                        "t_start_ms": round(t),
                        "duration_ms": dur,
                        "media": media,
                        "x_px": fx if media else np.nan,
                        "y_px": fy if media else np.nan,
                        "screen_x_px": np.nan if media else fx,
                        "screen_y_px": np.nan if media else fy,
                        "pupil": float(pupils.mean(axis=1).mean()),
                        "on_image": bool(media) and 0 <= fx < w and 0 <= fy < h,
                    }
                )
                for k in range(n_fix):
                    lines.append(
                        _row(
                            p,
                            t,
                            media,
                            (w, h, x0, y0),
                            kind="Fixation",
                            index=fix_i,
                            dur=dur,
                            fix=(fx, fy),
                            pupil=pupils[k],
                        )
                    )
                    t += period
                sac_i += 1
                for _ in range(3):
                    lines.append(_row(p, t, media, (w, h, x0, y0), kind="Saccade", index=sac_i, dur=50))
                    t += period
    text = "\ufeff" + "\r\n".join(lines) + "\r\n"
    path.write_bytes(text.encode("utf-8"))
    return pd.DataFrame(truth)


def _row(p, t, media, geo, event="", kind="", index=None, dur=None, fix=None, pupil=None) -> str:
    w, h, x0, y0 = geo
    values = {
        "ExportDate": "12.03.2019",
        "StudioVersionRec": "3.4.8",
        "ParticipantName": p,
        "RecordingName": f"Rec {p}",
        "RecordingDate": "11.03.2019",
        "RecordingTimestamp": str(round(t)),
        "MediaName": media,
        "MediaPosX (ADCSpx)": str(x0) if media else "",
        "MediaPosY (ADCSpx)": str(y0) if media else "",
        "MediaWidth": str(w) if media else "",
        "MediaHeight": str(h) if media else "",
        "StudioEvent": event,
        "StudioEventData": media if event else "",
        "GazeEventType": kind,
        "GazeEventDuration": "" if dur is None else str(dur),
    }
    if kind == "Fixation":
        values["FixationIndex"] = str(index)
        values["FixationPointX (MCSpx)"] = f"{fix[0]:g}"
        values["FixationPointY (MCSpx)"] = f"{fix[1]:g}"
        values["PupilLeft"] = f"{pupil[0]:.2f}".replace(".", ",")
        values["PupilRight"] = f"{pupil[1]:.2f}".replace(".", ",")
        values["ValidityLeft"] = values["ValidityRight"] = "0"
        values["GazePointX (ADCSpx)"] = f"{fix[0] + x0:g}"
        values["GazePointY (ADCSpx)"] = f"{fix[1] + y0:g}"
    elif kind == "Saccade":
        values["SaccadeIndex"] = str(index)
        values["ValidityLeft"] = values["ValidityRight"] = "4"
    return "\t".join(values.get(c, "") for c in STUDIO_COLUMNS)
