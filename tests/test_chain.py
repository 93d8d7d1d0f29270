"""The chain as a user runs it: simulate -> convert -> render-heatmaps with sigma in degrees."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
from click.testing import CliRunner

from gazekit import store
from gazekit.cli import main
from gazekit.geometry import Screen
from tests.conftest import REPO


def test_sigma_deg_uses_the_session_geometry_and_the_viewer_zoom(tmp_path):
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "make_demo_data.py"), str(data), "--n", "3", "--size", "96"],
        check=True,
        capture_output=True,
    )
    runner = CliRunner()
    session, fix, out = tmp_path / "session", tmp_path / "fix.parquet", tmp_path / "store"
    for args in (
        ["simulate", str(data / "masks"), "--images", str(data / "images"), "-o", str(session), "--seed", "1"],
        ["convert", str(session), "-o", str(fix)],
        ["render-heatmaps", str(fix), "--stimuli", str(data / "images"), "--sigma-deg", "1.0", "-o", str(out)],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    zoom = pd.read_parquet(session / "viewer_events.parquet").query("stimulus_id != ''").groupby("stimulus_id")["scale"]
    manifest = store.open_store(out).manifest.set_index("stimulus_id")
    screen = Screen(1920, 1080, 531.0, 299.0, 650.0)  # the simulator's default screen
    for stimulus, scale in zoom.first().items():
        # 1 deg around the screen centre in screen px, divided by the zoom; off-centre fixations see a
        # slightly smaller angle per px, so the per-image mean sigma is within a few percent of it.
        expected = screen.sigma_deg_to_px(1.0) / scale
        assert np.isclose(manifest.loc[stimulus, "sigma_px"], expected, rtol=0.05), stimulus
