"""Core contracts: table schemas, atomic writes, geometry, the heatmap store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gazekit import store, tables
from gazekit.errors import GazekitError
from gazekit.geometry import Screen, ViewState


def _fixations(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": ["s1"] * n,
            "reader_id": ["r1"] * n,
            "stimulus_id": ["img"] * n,
            "slice_index": [pd.NA] * n,
            "fixation_index": range(n),
            "t_start_ms": np.arange(n) * 300.0,
            "duration_ms": [250.0] * n,
            "x_px": [10.5] * n,
            "y_px": [20.25] * n,
            "screen_x_px": [np.nan] * n,
            "screen_y_px": [np.nan] * n,
            "on_image": [True] * n,
            "eye": ["both"] * n,
            "pupil": [np.nan] * n,
            "source_format": ["test"] * n,
            "detector": ["given"] * n,
        }
    )


def test_fixation_table_round_trip(tmp_path):
    path = tmp_path / "f.parquet"
    tables.write_table("fixations", _fixations(), path, {"params": {"a": 1}})
    df, meta = tables.read_table("fixations", path)
    assert list(df.columns) == tables.FIXATIONS.names
    assert df["x_px"].tolist() == [10.5] * 3
    assert df["slice_index"].isna().all()
    assert meta["params"] == {"a": 1} and meta["table"] == "fixations"
    assert not list(tmp_path.glob(".*tmp"))


def test_fixation_table_rejects_bad_eye_and_leaves_no_file(tmp_path):
    df = _fixations()
    df.loc[1, "eye"] = "middle"
    path = tmp_path / "f.parquet"
    with pytest.raises(GazekitError, match=r"row 1, column 'eye'"):
        tables.write_table("fixations", df, path)
    assert list(tmp_path.iterdir()) == []


def test_fixation_table_missing_column_named():
    with pytest.raises(GazekitError, match="duration_ms"):
        tables.to_arrow("fixations", _fixations().drop(columns="duration_ms"))


def test_json_schemas_match_pyarrow_schemas():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "schemas"
    for kind, (required, optional) in tables.TABLES.items():
        schema = json.loads((root / f"{kind}.schema.json").read_text())
        props = schema["items"]["properties"]
        assert sorted(props) == sorted(required.names + optional.names), kind
        assert sorted(schema["items"]["required"]) == sorted(required.names), kind


def test_screen_degrees_round_trip_and_known_value():
    screen = Screen(1920, 1080, 531.0, 299.0, 650.0)
    # a point 100 mm right of centre at 650 mm: atan(100/650)
    x_px = 960 + 100 / (531 / 1920)
    x_deg, y_deg = screen.px_to_deg(x_px, 540)
    assert x_deg == pytest.approx(np.degrees(np.arctan(100 / 650)))
    assert y_deg == pytest.approx(0.0)
    back = screen.deg_to_px(x_deg, y_deg)
    assert back[0] == pytest.approx(x_px) and back[1] == pytest.approx(540)


@pytest.mark.parametrize("rot", [0, 90, 180, 270])
@pytest.mark.parametrize("fx", [False, True])
@pytest.mark.parametrize("fy", [False, True])
def test_view_state_round_trip(rot, fx, fy):
    view = ViewState(width=40, height=30, x0_px=100, y0_px=50, scale=2.5, rotation_deg=rot, flip_x=fx, flip_y=fy)
    x = np.array([0.5, 10.0, 39.9])
    y = np.array([0.5, 20.0, 29.9])
    sx, sy = view.image_to_screen(x, y)
    bx, by, on = view.screen_to_image(sx, sy)
    np.testing.assert_allclose(bx, x)
    np.testing.assert_allclose(by, y)
    assert on.all()


def test_view_state_rotation_90_by_hand():
    # 90 deg clockwise: the image's top-left corner goes to the displayed top-right corner
    view = ViewState(width=40, height=30, rotation_deg=90)
    sx, sy = view.image_to_screen(0.0, 0.0)
    assert (float(sx), float(sy)) == (30.0, 0.0)


def test_store_round_trip(tmp_path):
    root = tmp_path / "store"
    maps = {1: np.random.default_rng(0).random((2, 8, 6)).astype(np.float32)}
    maps[2] = maps[1].reshape(2, 4, 2, 3, 2).mean(axis=(2, 4))
    store.write_npz(root / store.npz_name("vol"), maps, np.array([3, 5]))
    manifest = pd.DataFrame(
        {
            "stimulus_id": ["vol", "vol", "vol"],
            "slice_index": pd.array([3, 5, 7], dtype="Int64"),
            "height": 8,
            "width": 6,
            "n_fixations": [2, 1, 0],
            "total_duration_ms": [500.0, 200.0, 0.0],
            "n_readers": [1, 1, 0],
            "file": [store.npz_name("vol")] * 2 + [None],
        }
    )
    store.write_index(root, manifest, {"scales": [1, 2]})
    st = store.open_store(root)
    np.testing.assert_array_equal(st.get("vol", 5, 1), maps[1][1])
    np.testing.assert_array_equal(st.get("vol", 3, 2), maps[2][0])
    assert st.get("vol", 7) is None  # in the manifest, no gaze
    for key in (("other", 0), ("vol", 4), ("vol", None)):  # not in the manifest: a one-line KeyError
        with pytest.raises(KeyError) as err:
            st.get(*key)
        assert isinstance(err.value, GazekitError) and "not in the store's manifest" in str(err.value)
        assert str(err.value).count("\n") == 0 and not str(err.value).startswith("'")
    assert sorted(st.keys()) == [("vol", 3), ("vol", 5)]
