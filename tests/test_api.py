"""The public API of ``gazekit/__init__.py``: the README's example runs as written and gives what the CLI
gives; the API is imported lazily (PEP 562) so ``import gazekit.errors`` stays light."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import gazekit
from examples.make_tobii_export import write_prolab_export
from gazekit import store, tables
from gazekit.cli import main
from gazekit.errors import GazekitError

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    """The Python block under the README's "### Python API" heading."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs_and_matches_the_cli(tmp_path, monkeypatch):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 6  # the import, a blank line and the five-line example
    write_prolab_export(tmp_path / "export.tsv", n_rows=3000, n_images=2)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    # the same steps as a user types them
    runner = CliRunner()
    res = runner.invoke(main, ["convert", "export.tsv", "-o", "cli.parquet"])
    assert res.exit_code == 0, res.output
    args = ["render-heatmaps", "cli.parquet", "-o", "cli_store", "--sigma-px", "20", "--scales", "1,2"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    api_fix, api_meta = tables.read_table("fixations", "fixations.parquet")
    cli_fix, cli_meta = tables.read_table("fixations", "cli.parquet")
    pd.testing.assert_frame_equal(api_fix, cli_fix)
    assert api_meta["params"] == cli_meta["params"]
    cli_heat = store.open_store("cli_store").get("stim_01", None, 2)
    api_heat = store.open_store("store").get("stim_01", None, 2)
    np.testing.assert_array_equal(api_heat, cli_heat)
    assert api_heat.sum() == pytest.approx(1.0, abs=1e-5)
    ids = sorted(set(cli_fix["stimulus_id"]) - {""})
    assert out.getvalue().strip() == f"{len(cli_fix)} {ids} {cli_heat.shape}"


def test_read_fixations_and_open_store_read_what_the_api_wrote(tmp_path):
    write_prolab_export(tmp_path / "export.tsv", n_rows=2000, n_images=2)
    fix = gazekit.convert_files(tmp_path / "export.tsv", tmp_path / "f.parquet", image_size=(640, 480))
    again = gazekit.read_fixations(tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(again, tables.read_table("fixations", tmp_path / "f.parquet")[0])
    assert again.attrs["gazekit"]["params"]["image_size"] == [640, 480]
    assert len(again) == len(fix) and fix.attrs["gazekit"]["inputs"][0]["fixations"] == len(fix)
    gazekit.render_heatmaps(tmp_path / "f.parquet", tmp_path / "st", sigma_frac=0.1)
    st = gazekit.open_store(tmp_path / "st")
    row = again[again["stimulus_id"] == "stim_02"].iloc[0]
    heat = st.get("stim_02")
    assert heat.shape == (row["image_height_px"], row["image_width_px"])  # the export's own size wins
    assert heat.sum() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(GazekitError, match="unknown option"):
        gazekit.convert_files(tmp_path / "export.tsv", image_sise=(640, 480))


def test_one_public_name_opens_a_store_and_keys_are_id_slice_tuples(tmp_path):
    from gazekit import api
    from tests.test_store_render import fixation_table

    assert gazekit.open_store is store.open_store is api.open_store  # one function, one name
    assert not hasattr(store, "open")  # the former second name is gone
    rows = [("s", "r", "a", None, 0.0, 200.0, 10.0, 10.0), ("s", "r", "v", 1, 300.0, 200.0, 5.0, 5.0)]
    table = tmp_path / "fix.parquet"
    sizes = {"a": {"width": 32, "height": 24}, "v": {"width": 32, "height": 24, "n_slices": 3}}
    tables.write_table("fixations", fixation_table(rows), table, {"stimuli": sizes})
    st = gazekit.render_heatmaps(table, tmp_path / "st", sigma_px=3.0)
    assert sorted(st.keys(), key=str) == [("a", None), ("v", 1)]
    assert all(st.get(*k).shape == (24, 32) for k in st.keys())
    assert "(stimulus_id, slice_index)" in store.HeatmapStore.keys.__doc__


def test_import_gazekit_errors_stays_light():
    code = (
        "import sys, gazekit.errors, gazekit; "
        "print(sorted(m for m in sys.modules if m.startswith(('gazekit', 'pandas', 'numpy', 'click'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == str(["gazekit", "gazekit.errors", "gazekit.version"])
    assert set(gazekit.API) <= set(dir(gazekit))
    with pytest.raises(AttributeError):
        gazekit.no_such_function  # noqa: B018
