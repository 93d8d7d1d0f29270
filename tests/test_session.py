"""Session folder: round trip, validation (agrees with the JSON Schema), atomic writing."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from gazekit import session
from gazekit.errors import GazekitError
from gazekit.geometry import Screen

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "session.schema.json").read_text())


def make_meta() -> dict:
    screen = Screen(1920, 1080, 531.0, 299.0, 650.0)
    return {
        "session_id": "s1",
        "reader_id": "r1",
        "SamplingFrequency": 300.0,
        **session.meta_from_screen(screen),
        "RecordedEye": "both",
        "Manufacturer": "test",
        "ManufacturersModelName": "none",
        "StartTime": "2026-01-01T00:00:00",
        "stimuli": [
            {"id": "vol", "kind": "nifti", "source": "vol.nii.gz", "shape": [4, 20, 30], "spacing": [10.0, 1.5, 1.5]},
            {"id": "img", "kind": "image", "source": "img.png", "shape": [20, 30], "spacing": None},
        ],
    }


def make_tables(n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    samples = pd.DataFrame(
        {
            "t_ms": np.arange(n) * 10.0,
            "x_screen_px": np.linspace(0, 100, n),
            "y_screen_px": np.linspace(50, 60, n),
            "valid": [True] * n,
            "pupil": [3.0] * n,
            "eye": ["both"] * n,
        }
    )
    events = pd.DataFrame(
        {
            "t_ms": [0.0, 50.0],
            "stimulus_id": ["vol", "img"],
            "slice_index": pd.array([3, pd.NA], dtype="Int64"),
            "x0_px": [10.0, 0.0],
            "y0_px": [20.0, 0.0],
            "scale": [2.0, 1.0],
            "rotation_deg": [90, 0],
            "flip_x": [True, False],
            "flip_y": [False, False],
            "window_center": [40.0, np.nan],
            "window_width": [400.0, np.nan],
        }
    )
    return samples, events


def test_round_trip(tmp_path):
    samples, events = make_tables()
    out = session.write_session(tmp_path / "sess", make_meta(), samples, events)
    got = session.read_session(out)
    assert got.meta["session_id"] == "s1" and got.meta["gazekit_version"]
    np.testing.assert_array_equal(got.samples["x_screen_px"], samples["x_screen_px"])
    assert got.viewer_events["slice_index"].tolist()[0] == 3 and pd.isna(got.viewer_events["slice_index"][1])
    assert got.stimulus_shapes() == {"vol": (4, 20, 30), "img": (None, 20, 30)}
    assert got.screen == Screen(1920, 1080, 531.0, 299.0, 650.0)
    jsonschema.validate(json.loads((out / "session.json").read_text()), SCHEMA)


BAD = [
    ("SamplingFrequency", -1, "SamplingFrequency"),
    ("ScreenResolution", [1920], "ScreenResolution"),
    ("ScreenOrigin", ["bottom", "left"], "ScreenOrigin"),
    ("RecordedEye", "middle", "RecordedEye"),
    ("stimuli", [{"id": "a", "kind": "video", "source": "a", "shape": [2, 2], "spacing": None}], "kind"),
    ("stimuli", [{"id": "a", "kind": "image", "source": "a", "shape": [0, 2], "spacing": None}], "shape"),
]


@pytest.mark.parametrize(("key", "value", "named"), BAD)
def test_validator_agrees_with_json_schema(key, value, named):
    meta = copy.deepcopy(make_meta())
    meta[key] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(meta, SCHEMA)
    with pytest.raises(GazekitError, match=named):
        session.validate_meta(meta)


def test_missing_field_named_and_nothing_written(tmp_path):
    meta = make_meta()
    del meta["ScreenDistance"]
    samples, events = make_tables()
    with pytest.raises(GazekitError, match="ScreenDistance"):
        session.write_session(tmp_path / "sess", meta, samples, events)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("stimulus_id", "nope", "expected a known stimulus"), ("slice_index", 4, r"expected 0\.\.3")],
)
def test_viewer_events_checked_against_stimuli(tmp_path, column, value, message):
    samples, events = make_tables()
    events.loc[0, column] = value
    with pytest.raises(GazekitError, match=f"row 0, column '{column}'.*{message}"):
        session.write_session(tmp_path / "sess", make_meta(), samples, events)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_recording_says_recover(tmp_path):
    from gazekit.record import writer

    folder = tmp_path / "rec"
    w = writer.SessionWriter(folder, {**make_meta(), "status": "recording"})
    w.add_samples([(0.0, 10.0, 20.0, True, 3.0, "both")])
    w.flush()
    w.wait()  # a crash now leaves part files and no samples.parquet
    with pytest.raises(GazekitError) as err:
        session.read_session(folder)
    msg = str(err.value)
    assert "\n" not in msg and f"gazekit record --recover -o {folder}" in msg and "not found" not in msg
