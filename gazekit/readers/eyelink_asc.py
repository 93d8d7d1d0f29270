"""SR Research EyeLink ASC files (``edf2asc`` output): EFIX/ESACC/EBLINK events, samples, MSG lines.

- Fixations: ``EFIX <eye> <start> <end> <duration> <x> <y> <pupil>`` (monocular and binocular; each
  eye's fixations keep their ``eye``). ``ESACC``/``EBLINK`` are counted per session.
- Samples: ``<t> <x> <y> <pupil> [<x> <y> <pupil>] ...`` after ``SAMPLES`` / ``START`` lines that say
  which eyes; ``.`` is a missing value; coordinates may be negative; times may be fractional (2 kHz).
- ``MSG`` lines are kept as messages; the last ``TRIALID`` (or ``opts.stimulus_pattern``, group 1)
  at or before a fixation's start gives its stimulus id (extension dropped).
- ``DISPLAY_COORDS`` / ``GAZE_COORDS`` give the screen resolution, ``RECCFG`` / ``SAMPLES ... RATE``
  the sampling rate. HREF recordings have no screen coordinates: events are converted with positions
  marked as not mappable (NaN) and a warning. A file cut short (no ``END`` after the last ``START``)
  gives a warning; the complete part is kept.
- Times are ms from the first ``START`` (the tracker clock value is kept in ``sessions[..]``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.ids import compile_pattern, stimulus_ids
from gazekit.readers.base import ReadOptions, Recording, cut_warning, decode_text

NAME = "eyelink-asc"
MAX_SAMPLE_CHARS = 1000  # a sample line has at most 24 short fields
EYE = {"L": "left", "R": "right", "LEFT": "left", "RIGHT": "right"}


def sniff(head: str) -> bool:
    return "** CONVERTED FROM" in head[:4096] or bool(re.search(r"^(START|MSG|EFIX|SFIX)\s", head, re.M))


def read(path: Path, opts: ReadOptions) -> Recording:
    """Parse one ASC file into a Recording (one session, named after the file stem)."""
    text = decode_text(path.read_bytes())
    lines = text.splitlines()
    warnings = []
    if lines and lines[-1].strip() and not text.endswith(("\n", "\r")):  # the file stops inside its last line
        warnings.append(cut_warning(path, f"may be incomplete ({lines[-1][:40]!r})"))
        lines.pop()
    sid = path.stem
    pattern = compile_pattern(opts.stimulus_pattern, path)
    fixes, msgs, sample_rows = [], [], []
    blocks: list[dict] = []  # one per START: eyes, href, t_start, ended
    info: dict = {"rate_hz": None, "display": None, "gaze_coords": None}
    n_sacc = n_blink = n_untimed = 0
    block = None
    for i, line in enumerate(lines):
        if not line:
            continue
        if line[0].isdigit():
            sample_rows.append((i, len(blocks) - 1))
            continue
        tok = line.split()
        if not tok:
            continue
        kind = tok[0]
        try:
            if kind == "EFIX":
                fixes.append((i, *_efix(tok)))
            elif kind == "ESACC":
                n_sacc += 1
            elif kind == "EBLINK":
                n_blink += 1
            elif kind == "MSG":
                t, msg = _msg(line)
                if t is None:
                    n_untimed += 1
                    continue
                msgs.append((t, msg))
                _msg_info(msg, info)
            elif kind == "START":
                block = {"t": float(tok[1]), "eyes": _eyes(tok), "href": False, "ended": False}
                blocks.append(block)
            elif kind in ("SAMPLES", "EVENTS") and block is not None:
                block["href"] = block["href"] or "HREF" in tok
                if kind == "SAMPLES":
                    block["eyes"] = _eyes(tok) or block["eyes"]
                if "RATE" in tok:
                    info["rate_hz"] = float(tok[tok.index("RATE") + 1])
            elif kind == "END" and block is not None:
                block["ended"] = True
        except (IndexError, KeyError, ValueError):
            raise GazekitError(
                path, f"line {i + 1}", f"expected a well-formed {kind} line, got {line.strip()!r}"
            ) from None
    if n_untimed:
        warnings.append(f"{path}: {n_untimed} MSG line(s) without a time stamp: ignored")
    if blocks and not blocks[-1]["ended"]:
        warnings.append(f"{path}: no END line after the last START (file cut short?): kept the complete part")
    href = any(b["href"] for b in blocks)
    if href:
        warnings.append(f"{path}: HREF recording (no screen coordinates): positions are marked as not mappable")
    t0 = blocks[0]["t"] if blocks else _first_time(fixes, msgs)
    messages = pd.DataFrame(msgs, columns=["t_ms", "text"]) if msgs else pd.DataFrame({"t_ms": [], "text": []})
    messages = messages.sort_values("t_ms", kind="stable").reset_index(drop=True)
    messages["t_ms"] = messages["t_ms"].astype(float) - t0
    messages.insert(1, "session_id", sid)

    fix = pd.DataFrame(fixes, columns=["line", "eye", "start", "duration", "x", "y", "pupil"])
    fix = pd.DataFrame(
        {
            "session_id": sid,
            "t_start_ms": fix["start"].astype(float) - t0,
            "duration_ms": fix["duration"].astype(float),
            "screen_x_px": np.nan if href else fix["x"].astype(float),
            "screen_y_px": np.nan if href else fix["y"].astype(float),
            "eye": fix["eye"].astype(object),
            "pupil": fix["pupil"].astype(float),
        }
    )
    fix = _select_eye(fix, opts.eye, path)
    fix["stimulus_id"] = stimulus_ids(messages, pattern, fix["t_start_ms"].to_numpy())
    samples = _samples(path, lines, sample_rows, blocks, t0, href)
    if samples is not None:
        samples.insert(0, "session_id", sid)
        if opts.eye in ("left", "right"):
            samples = samples[samples["eye"] == opts.eye].reset_index(drop=True)
    screen = _screen_fields(info)
    session = {
        "reader_id": "",
        "tracker_start_time": t0,
        "nominal_rate_hz": info["rate_hz"],
        "recorded_eyes": sorted({e for b in blocks for e in b["eyes"]}),
        "n_saccades": n_sacc,
        "n_blinks": n_blink,
        "coordinates": "href" if href else "gaze",
        "screen_fields": screen,
    }
    return Recording(
        source_format=NAME,
        fixations=fix,
        samples=samples,
        screen=None,
        sessions={sid: session},
        messages=messages,
        warnings=warnings,
    )


def _eyes(tok: list[str]) -> list[str]:
    return [EYE[t] for t in tok if t in ("LEFT", "RIGHT")]


def _num(s: str) -> float:
    return np.nan if s == "." else float(s)


def _efix(tok: list[str]) -> tuple:
    eye = EYE[tok[1]]
    return eye, float(tok[2]), float(tok[4]), _num(tok[5]), _num(tok[6]), _num(tok[7])


def _msg(line: str) -> tuple[float | None, str]:
    """``MSG <time> <text>`` -> (time, text); the time is None when it is not a finite number."""
    parts = line.split(None, 2)
    try:
        t = float(parts[1])
    except (IndexError, ValueError):
        return None, line
    return (t if np.isfinite(t) else None), (parts[2].strip() if len(parts) > 2 else "")


_COORDS = re.compile(r"^(?:-?\d+\s+)?(DISPLAY_COORDS|GAZE_COORDS)\s*=?\s*" + r"\s+".join([r"(-?\d+(?:\.\d*)?)"] * 4))
_RECCFG = re.compile(r"^(?:-?\d+\s+)?RECCFG\s+\S+\s+(\d+(?:\.\d*)?)\b")


def _msg_info(msg: str, info: dict) -> None:
    """Screen coordinates and sampling rate from a message; any other message (``!V`` commands, TRIAL_VAR,
    extra text, ``=`` signs) is left alone: it stays a message."""
    m = _COORDS.match(msg)
    if m:
        left, top, right, bottom = (float(v) for v in m.groups()[1:])
        if right > left and bottom > top:
            info["display" if m.group(1) == "DISPLAY_COORDS" else "gaze_coords"] = (left, top, right, bottom)
        return
    m = _RECCFG.match(msg)
    if m and float(m.group(1)) > 0:
        info["rate_hz"] = float(m.group(1))


def _screen_fields(info: dict) -> dict[str, float]:
    """DISPLAY_COORDS gives the last pixel (0 0 1279 1023 -> 1280x1024); GAZE_COORDS may give either."""
    if info["display"] is not None:
        left, top, right, bottom = info["display"]
        return {"width_px": right - left + 1, "height_px": bottom - top + 1}
    if info["gaze_coords"] is not None:
        left, top, right, bottom = info["gaze_coords"]
        w, h = right - left, bottom - top
        return {"width_px": w + (w % 2 == 1), "height_px": h + (h % 2 == 1)}
    return {}


def _first_time(fixes: list, msgs: list) -> float:
    times = [f[2] for f in fixes] + [m[0] for m in msgs]
    return float(min(times)) if times else 0.0


def _select_eye(fix: pd.DataFrame, eye: str, path: Path) -> pd.DataFrame:
    if eye in ("left", "right"):
        if len(fix) and not (fix["eye"] == eye).any():
            raise GazekitError(path, "--eye", f"no {eye}-eye fixations (the file has {'/'.join(fix['eye'].unique())})")
        return fix[fix["eye"] == eye].reset_index(drop=True)
    if eye == "average":
        return average_eyes(fix)
    return fix


def average_eyes(fix: pd.DataFrame) -> pd.DataFrame:
    """Pair each left-eye fixation with the right-eye fixation it overlaps most; the pair becomes one
    ``both`` fixation over the common time with the mean position and pupil. Unpaired ones are kept."""
    left = fix[fix["eye"] == "left"].sort_values("t_start_ms").reset_index(drop=True)
    right = fix[fix["eye"] == "right"].sort_values("t_start_ms").reset_index(drop=True)
    if left.empty or right.empty:
        return fix
    ls, le = left["t_start_ms"].to_numpy(), (left["t_start_ms"] + left["duration_ms"]).to_numpy()
    rs, re_ = right["t_start_ms"].to_numpy(), (right["t_start_ms"] + right["duration_ms"]).to_numpy()
    overlap = np.minimum(le[:, None], re_[None, :]) - np.maximum(ls[:, None], rs[None, :])
    best = np.argmax(overlap, axis=1)
    has = overlap[np.arange(len(left)), best] > 0
    # keep only mutual best pairs so no fixation is used twice
    best_of_right = np.argmax(overlap, axis=0)
    has &= best_of_right[best] == np.arange(len(left))
    li, ri = np.flatnonzero(has), best[has]
    start = np.maximum(ls[li], rs[ri])
    pairs = pd.DataFrame(
        {
            "session_id": left["session_id"].to_numpy()[li],
            "t_start_ms": start,
            "duration_ms": np.minimum(le[li], re_[ri]) - start,
            "screen_x_px": (left["screen_x_px"].to_numpy()[li] + right["screen_x_px"].to_numpy()[ri]) / 2,
            "screen_y_px": (left["screen_y_px"].to_numpy()[li] + right["screen_y_px"].to_numpy()[ri]) / 2,
            "eye": "both",
            "pupil": (left["pupil"].to_numpy()[li] + right["pupil"].to_numpy()[ri]) / 2,
        }
    )
    rest_l = left.drop(index=li)
    rest_r = right.drop(index=ri)
    out = pd.concat([pairs, rest_l, rest_r, fix[~fix["eye"].isin(["left", "right"])]], ignore_index=True)
    return out.sort_values("t_start_ms", kind="stable").reset_index(drop=True)


def _samples(path, lines, rows, blocks, t0, href) -> pd.DataFrame | None:
    if not rows:
        return None
    idx = np.array([r[0] for r in rows])
    blk = np.array([r[1] for r in rows])
    long = [i for i in idx if len(lines[i]) > MAX_SAMPLE_CHARS]  # keeps the parser linear in the file size
    if long:
        raise GazekitError(
            path,
            f"line {long[0] + 1}",
            f"expected a sample line (time, x, y, pupil, ...), got a line of {len(lines[long[0]]):,} characters",
        )
    body = "\n".join(lines[i] for i in idx)
    try:
        table = pd.read_csv(
            io.StringIO(body), sep=r"\s+", header=None, names=range(24), na_values=["."], keep_default_na=False
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise GazekitError(path, "samples", f"expected whitespace-separated sample lines ({exc})") from None
    # "." -> NaN while parsing; a column with garbage stays text and is coerced (garbage -> NaN)
    num = table.iloc[:, :7].apply(lambda c: c if c.dtype.kind in "fi" else pd.to_numeric(c, errors="coerce"))
    t = num[0].to_numpy()
    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GazekitError(path, f"line {idx[i] + 1}", f"expected a sample time, got {lines[idx[i]].split()[0]!r}")
    eyes_of = [b["eyes"] or ["left"] for b in blocks] or [["left"]]
    cols = [num[c].to_numpy(float) for c in range(7)]
    names = ("t_ms", "x_screen_px", "y_screen_px", "valid", "pupil", "eye")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for b, eyes in enumerate(eyes_of):
        sel = blk == b if blocks else np.ones(len(t), bool)
        if not sel.any():
            continue
        for k, eye in enumerate(eyes[:2]):
            x, y = cols[1 + 3 * k][sel], cols[2 + 3 * k][sel]
            valid = np.isfinite(x) & np.isfinite(y)
            if href:
                x = y = np.full(len(x), np.nan)
            parts["t_ms"].append(t[sel] - t0)
            parts["x_screen_px"].append(x)
            parts["y_screen_px"].append(y)
            parts["valid"].append(valid & (not href))
            parts["pupil"].append(np.where(valid, cols[3 + 3 * k][sel], np.nan))
            parts["eye"].append(np.full(len(x), eye, dtype=object))
    if not parts["t_ms"]:
        return None
    out = pd.DataFrame({k: np.concatenate(v) for k, v in parts.items()})
    return out.sort_values(["eye", "t_ms"], kind="stable").reset_index(drop=True)
