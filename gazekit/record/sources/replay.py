"""Replays a recorded samples file (a session's ``samples.parquet``) or a vendor sample export in real time."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit import tables
from gazekit.errors import GazekitError
from gazekit.record.clock import Clock
from gazekit.record.sources.base import Sample


def load_samples(path: Path, screen_px: tuple[int, int] | None = None) -> pd.DataFrame:
    """Samples of ``path`` (Parquet samples table, or any export a gazekit reader finds samples in).

    Positions normalised to the screen (``x_norm, y_norm`` from a reader) are scaled by ``screen_px``.
    """
    if path.suffix == ".parquet":
        df, _ = tables.read_table("samples", path)
    else:
        from gazekit import readers

        rec = readers.read(path)
        if rec.samples is None or not len(rec.samples):
            raise GazekitError(path, None, "expected raw gaze samples in the file, found none")
        df = rec.samples
        if "session_id" in df.columns:  # several sessions in one export: replay the first
            df = df[df["session_id"] == df["session_id"].iloc[0]]
        if "x_screen_px" not in df.columns and {"x_norm", "y_norm"} <= set(df.columns):
            if screen_px is None:
                raise GazekitError(path, None, "positions are normalised: give the screen resolution (--screen-px)")
            df = df.assign(x_screen_px=df["x_norm"] * screen_px[0], y_screen_px=df["y_norm"] * screen_px[1])
        missing = [c for c in ("t_ms", "x_screen_px", "y_screen_px", "valid") if c not in df.columns]
        if missing:
            raise GazekitError(path, None, f"expected gaze samples with {', '.join(missing)}")
    df = df.sort_values("t_ms", kind="stable").reset_index(drop=True)
    if not len(df):
        raise GazekitError(path, None, "expected gaze samples, the table is empty")
    return df


class ReplaySource:
    """Gives each sample of the file when the session clock reaches its time (first sample at start)."""

    manufacturer = "gazekit"
    model = "replay"

    def __init__(self, path: str | Path, screen_px: tuple[int, int] | None = None):
        self.path = Path(path)
        df = load_samples(self.path, screen_px)
        self.model = f"replay of {self.path.name}"
        self._t = df["t_ms"].to_numpy(float) - float(df["t_ms"].iloc[0])
        self._x = df["x_screen_px"].to_numpy(float)
        self._y = df["y_screen_px"].to_numpy(float)
        self._valid = df["valid"].to_numpy(bool)
        self._pupil = df["pupil"].to_numpy(float) if "pupil" in df.columns else np.full(len(df), math.nan)
        eyes = df["eye"].unique() if "eye" in df.columns else ["both"]
        self.eye = str(eyes[0]) if len(eyes) == 1 else "both"
        self._eyes = df["eye"].astype(str).to_numpy() if "eye" in df.columns else np.full(len(df), "both")
        dt = np.diff(self._t)
        self.sampling_hz = float(1000.0 / np.median(dt[dt > 0])) if (dt > 0).any() else math.nan
        self._i = 0

    @property
    def finished(self) -> bool:
        return self._i >= len(self._t)

    def start(self, clock: Clock) -> None:
        self._clock = clock
        self._t0_ms = clock.now_ms()

    def poll(self) -> list[Sample]:
        now = self._clock.now_ms() - self._t0_ms
        end = int(np.searchsorted(self._t, now, side="right"))
        out = [
            (
                float(self._t[i] + self._t0_ms),
                float(self._x[i]),
                float(self._y[i]),
                bool(self._valid[i]),
                float(self._pupil[i]),
                str(self._eyes[i]),
            )
            for i in range(self._i, end)
        ]
        self._i = end
        return out

    def stop(self) -> None:
        pass
