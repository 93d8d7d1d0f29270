"""render-heatmaps end to end: the store on disk, workers, shards + merge, volumes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import jsonschema
import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from gazekit import store, tables
from gazekit.cli import main
from gazekit.errors import GazekitError
from gazekit.heatmaps import render

REPO = Path(__file__).resolve().parents[1]


def fixation_table(rows: list[tuple]) -> pd.DataFrame:
    """rows: (session, reader, stimulus, slice or None, t_ms, duration_ms, x_px, y_px)."""
    df = pd.DataFrame(rows, columns=["session_id", "reader_id", "stimulus_id", "slice_index", "t_start_ms",
                                     "duration_ms", "x_px", "y_px"])  # fmt: skip
    df["slice_index"] = pd.array(df["slice_index"], dtype="Int64")
    df["fixation_index"] = df.groupby("session_id").cumcount()
    for col in ("screen_x_px", "screen_y_px", "pupil"):
        df[col] = np.nan
    df["on_image"] = True
    df["eye"] = "both"
    df["source_format"] = "test"
    df["detector"] = "given"
    return df


ROWS = [
    ("s1", "r1", "a", None, 0.0, 300.0, 20.3, 15.7),
    ("s1", "r1", "a", None, 400.0, 100.0, 40.0, 30.0),
    ("s1", "r1", "b", None, 600.0, 250.0, 10.0, 50.0),
    ("s2", "r2", "a", None, 0.0, 500.0, 60.2, 10.1),
    ("s2", "r2", "d", None, 700.0, 200.0, 33.0, 21.0),
]
SIZES = {"a": (48, 64), "b": (64, 40), "c": (32, 32), "d": (50, 70)}  # c: nobody looked at it


@pytest.fixture
def study(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for sid, (h, w) in SIZES.items():
        cv2.imwrite(str(images / f"{sid}.png"), np.full((h, w, 3), 90, np.uint8))
    table = tmp_path / "fix.parquet"
    tables.write_table("fixations", fixation_table(ROWS), table)
    return tmp_path, table, images


def run(args: list[str]):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_store_round_trip_manifest_and_maps(study):
    tmp, table, images = study
    out = tmp / "store"
    res = run(["render-heatmaps", table, "-o", out, "--stimuli", images, "--sigma-px", "6", "--scales", "1,2,4"])
    assert res.exit_code == 0, res.output
    st = store.open_store(out)
    man = st.manifest.set_index("stimulus_id")
    assert man.loc["a", "n_fixations"] == 3 and man.loc["a", "n_readers"] == 2
    assert man.loc["a", "total_duration_ms"] == 900.0
    assert (man.loc["b", "height"], man.loc["b", "width"]) == (64, 40)
    assert pd.isna(man.loc["c", "file"]) and man.loc["c", "n_fixations"] == 0  # listed, no map
    assert st.get("c") is None
    # a: two readers -> mean of the readers' density maps (computed here from the pure function)
    r1 = render.pyramid([20.3, 40.0], [15.7, 30.0], [300, 100], 6.0, 6.0, 48, 64, (1, 2, 4))
    r2 = render.pyramid([60.2], [10.1], [500], 6.0, 6.0, 48, 64, (1, 2, 4))
    for s in (1, 2, 4):
        got = st.get("a", None, s)
        assert got.shape == (48 // s, 64 // s)
        want = (r1[s] + r2[s]) / 2  # uint16 store: quantised per map, error below the stated bound
        assert 0 < np.abs(got - want).max() <= store.MAX_REL_ERROR * want.max()
        assert got.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-5)
    info = json.loads((out / "store.json").read_text())
    jsonschema.validate(info, json.loads((REPO / "schemas/store.schema.json").read_text()))
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    jsonschema.validate(rows, json.loads((REPO / "schemas/manifest.schema.json").read_text()))
    assert info["sigma_px"] == 6.0 and info["scales"] == [1, 2, 4]


def test_output_identical_for_any_worker_count_and_shards_merge_to_it(study):
    tmp, table, images = study
    common = [table, "--stimuli", images, "--sigma-px", "5", "--scales", "1,2"]
    assert run(["render-heatmaps", *common, "-o", tmp / "w1"]).exit_code == 0
    assert run(["render-heatmaps", *common, "-o", tmp / "w2", "--workers", "2"]).exit_code == 0
    for i in range(3):
        res = run(["render-heatmaps", *common, "-o", tmp / f"shard{i}", "--shard", f"{i}/3"])
        assert res.exit_code == 0, res.output
    res = run(["store", "merge", tmp / "shard2", tmp / "shard0", tmp / "shard1", "-o", tmp / "merged"])
    assert res.exit_code == 0, res.output
    ref = tmp / "w1"
    for other in (tmp / "w2", tmp / "merged"):
        assert (other / "store.json").read_text() == (ref / "store.json").read_text()
        pd.testing.assert_frame_equal(
            pd.read_parquet(other / "manifest.parquet"), pd.read_parquet(ref / "manifest.parquet")
        )
        files = sorted(p.name for p in (ref / "heatmaps").iterdir())
        assert files == sorted(p.name for p in (other / "heatmaps").iterdir()) == ["a.npz", "b.npz", "d.npz"]
        for name in files:
            assert (other / "heatmaps" / name).read_bytes() == (ref / "heatmaps" / name).read_bytes()
    res = run(["store", "merge", tmp / "shard0", tmp / "shard2", "-o", tmp / "bad"])
    assert res.exit_code == 2 and "missing [1]" in res.output and not (tmp / "bad").exists()


def test_scale_equals_rendering_at_size_via_cli(study):
    tmp, table, images = study  # image a is 48 x 64; scale 4 -> 12 x 16 = --size 12x16
    common = [table, "--stimuli", images, "--sigma-px", "7"]
    assert run(["render-heatmaps", *common, "-o", tmp / "pyr", "--scales", "1,4"]).exit_code == 0
    res = run(["render-heatmaps", *common, "-o", tmp / "small", "--size", "12x16"])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(
        store.open_store(tmp / "pyr").get("a", None, 4), store.open_store(tmp / "small").get("a", None, 1), rtol=1e-5
    )


def test_volumes_from_hdf5_slices_and_nifti_with_affine(tmp_path):
    vols = tmp_path / "vols"
    vols.mkdir()
    for k in range(1, 5):  # SSL4MIS layout: slice_K is slice_index K-1
        with h5py.File(vols / f"p1_slice_{k}.h5", "w") as f:
            f["image"] = np.zeros((40, 30), np.float32)
    affine = np.diag([0.7, 0.8, 2.5, 1.0])
    affine[:3, 3] = [10, -5, 3]
    # stored RAS+ (i, j, k) = (24, 20, 3); shown like gazekit.stimuli (LPS+): [slice k, row 19 - j, column 23 - i]
    nib.save(nib.Nifti1Image(np.zeros((24, 20, 3), np.float32), affine), str(vols / "p2.nii.gz"))
    rows = [
        ("s", "r", "p1", 2, 0.0, 200.0, 15.0, 20.0),
        ("s", "r", "p2", 1, 300.0, 200.0, 12.0, 10.0),
        ("s", "r", "p2", 1, 600.0, 100.0, 5.0, 5.0),
    ]
    table = tmp_path / "fix.parquet"
    tables.write_table("fixations", fixation_table(rows), table)
    out = tmp_path / "store"
    res = run(["render-heatmaps", table, "-o", out, "--stimuli", vols, "--sigma-px", "3", "--nifti"])
    assert res.exit_code == 0, res.output
    st = store.open_store(out)
    man = st.manifest
    assert man[man.stimulus_id == "p1"]["slice_index"].tolist() == [0, 1, 2, 3]  # every slice listed
    assert man[man.stimulus_id == "p1"]["file"].notna().tolist() == [False, False, True, False]
    assert st.get("p1", 0) is None and st.get("p1", 2).shape == (40, 30)
    img = nib.load(str(out / "heatmaps" / "p2.nii.gz"))
    for s, r, c in [(0, 0, 0), (1, 10, 12), (2, 19, 23)]:  # each heatmap voxel lies on its source voxel
        np.testing.assert_allclose(img.affine @ [s, r, c, 1], affine @ [23 - c, 19 - r, s, 1], atol=1e-5)
    assert man[man.stimulus_id == "p2"]["slice_index"].tolist() == [0, 1, 2]
    vol = np.asarray(img.dataobj)
    assert vol.shape == (3, 20, 24) and vol[0].sum() == 0 and vol[2].sum() == 0
    # the NIfTI holds the float32 maps; the (uint16) store is within its stated bound of them
    np.testing.assert_allclose(st.get("p2", 1), vol[1], rtol=0, atol=store.MAX_REL_ERROR * vol[1].max())


def test_bad_input_one_line_exit_2_no_output(study, tmp_path):
    tmp, table, images = study
    out = tmp / "out"

    def fails(args, *needles):
        res = run(["render-heatmaps", *args, "-o", out])
        assert res.exit_code == 2, res.output
        line = res.output.strip()
        assert line.startswith("error: ") and "\n" not in line and "Traceback" not in line
        for n in needles:
            assert n in line, line
        assert not out.exists()

    fails([table, "--sigma-px", "5"], "'a'", "expected an image size", "--stimuli")
    fails([table, "--stimuli", images, "--sigma-px", "0"], "--sigma-px", "> 0")
    fails([table, "--stimuli", images, "--sigma-px", "-2"], "--sigma-px", "> 0")
    fails([table, "--stimuli", images, "--sigma-px", "5", "--scales", "1,64"], "--scales 64", "<= the map size")
    fails([table, "--sigma-deg", "1", "--stimuli", images], "session 's1'", "screen geometry")
    other_images = tmp / "other_images"  # none of the table's stimuli (a partial folder renders what it holds)
    other_images.mkdir()
    (images / "d.png").rename(other_images / "z.png")
    fails([table, "--stimuli", other_images, "--sigma-px", "5"], "expected some of the table's stimuli", "(it has z")
    empty = tmp / "empty.parquet"
    tables.write_table("fixations", fixation_table([]), empty)
    fails([empty, "--sigma-px", "5"], "empty.parquet", "empty")
    other = tmp / "notastore"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    res = run(["render-heatmaps", table, "--stimuli", images, "--sigma-px", "5", "-o", other])
    assert res.exit_code == 2 and (other / "keep.txt").read_text() == "mine"


def test_sigma_deg_from_session_metadata(study):
    tmp, _, images = study
    meta = {
        "sessions": {
            s: {"ScreenResolution": [1920, 1080], "ScreenSize": [0.531, 0.299], "ScreenDistance": 0.65,
                "display_scale": 2.0}
            for s in ("s1", "s2")
        }
    }  # fmt: skip
    table = tmp / "deg.parquet"
    tables.write_table("fixations", fixation_table(ROWS), table, meta)
    res = run(["render-heatmaps", table, "-o", tmp / "deg", "--stimuli", images, "--sigma-deg", "0.5"])
    assert res.exit_code == 0, res.output
    man = store.open_store(tmp / "deg").manifest.set_index("stimulus_id")
    pitch = (0.531 / 1920 + 0.299 / 1080) / 2 * 1000
    expected = 2 * 650 * np.tan(np.radians(0.25)) / pitch / 2.0  # screen centre (no screen position known)
    assert man.loc["b", "sigma_px"] == pytest.approx(expected, rel=1e-6)


def test_subprocess_as_a_user_types_it(study):
    tmp, table, images = study
    cmd = [sys.executable, "-m", "gazekit", "render-heatmaps", str(table), "-o", str(tmp / "sp"),
           "--stimuli", str(images), "--sigma-frac", "0.1", "--norm", "max", "--scales", "1,2"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "3 map(s) with gaze, 1 without" in res.stdout
    m = store.open_store(tmp / "sp").get("b", None, 2)
    assert m.shape == (32, 20) and m.max() == pytest.approx(1.0)


def _dicom(path: Path, uid: str, instance: int, pixels: np.ndarray) -> None:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.PatientName, ds.PatientID = "SECRET^PATIENT", "SECRET-ID-42"
    ds.SeriesInstanceUID, ds.InstanceNumber = uid, instance
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_series_and_hdf5_volume_no_patient_fields_in_outputs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    uid = "1.2.826.0.1.3680043.8.498.1"
    for k in (2, 1, 3):  # slice order comes from InstanceNumber, not file order
        pixels = np.zeros((20, 30))
        pixels[16:20, 7 * k : 7 * k + 4] = 1000  # a bright block whose column says the instance
        _dicom(src / f"im{k}.dcm", uid, k, pixels)
    with h5py.File(src / "vol.h5", "w") as f:
        f["image"] = np.zeros((6, 16, 18), np.float32)
    rows = [("s", "r", uid, 1, 0.0, 300.0, 12.0, 9.0), ("s", "r", "vol", 5, 400.0, 200.0, 8.0, 8.0)]
    table = tmp_path / "fix.parquet"
    tables.write_table("fixations", fixation_table(rows), table)
    res = run(["render-heatmaps", table, "-o", tmp_path / "st", "--stimuli", src, "--sigma-px", "3", "--nifti"])
    assert res.exit_code == 0, res.output
    st = store.open_store(tmp_path / "st")
    assert st.get(uid, 1).shape == (20, 30) and st.get(uid, 0) is None and st.get("vol", 5).shape == (16, 18)
    assert len(st.manifest) == 3 + 6
    res = run(["qc", table, "-o", tmp_path / "rep", "--stimuli", src, "--store", tmp_path / "st"])
    assert res.exit_code == 0, res.output
    # overlay of slice 1 (drawn x512/30) = InstanceNumber 2: its block at columns 14-17 is bright, 7-10 dark
    ov = cv2.imread(str(tmp_path / "rep" / "overlays" / f"{uid}_slice1.png"), cv2.IMREAD_GRAYSCALE)
    f = 512 / 30
    assert ov[round(18.5 * f), round(15.5 * f)] > 200 and ov[round(18.5 * f), round(8.5 * f)] < 60
    for path in [*(tmp_path / "st").rglob("*"), *(tmp_path / "rep").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert b"SECRET" not in data, path


def test_uint16_encoding_error_bound_and_size():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:90, 0:120] + 0.5
    smooth = np.exp(-((xx - 50.3) ** 2 + (yy - 40.1) ** 2) / (2 * 15.0**2)) / 1e4
    noise = rng.random((90, 120)) * 1e3
    spike = np.zeros((90, 120))
    spike[7, 9] = 3.0
    maps = np.stack([smooth, noise, spike, np.zeros((90, 120))]).astype(np.float32)
    codes, step = store.encode_uint16(maps)
    assert codes.dtype == np.uint16 and step.dtype == np.float32  # noise needs 16-bit codes
    assert store.encode_uint16(maps[[0, 2, 3]])[0].dtype == np.uint8  # smooth maps: small codes
    back = store.decode_uint16(codes, step)
    peaks = maps.reshape(4, -1).max(axis=1)
    err = np.abs(back.astype(np.float64) - maps).reshape(4, -1).max(axis=1)
    assert (err[:3] <= store.MAX_REL_ERROR * peaks[:3]).all()
    assert err[1] >= 0.9 * peaks[1] / (2 * store.QMAX)  # uniform noise reaches the bound step / 2
    assert err[2] == 0 and err[3] == 0 and back[3].sum() == 0  # the peak itself and an empty map are exact
    # the codes are the zigzag-mapped 2-D differences of q = rint(map / step), here in int64 arithmetic
    q = np.rint(maps[0] / step[0]).astype(np.int64)
    d = q - np.pad(q, ((0, 0), (1, 0)))[:, :-1]
    d = (d - np.pad(d, ((1, 0), (0, 0)))[:-1] + 32768) % 65536 - 32768
    np.testing.assert_array_equal(codes[0], np.where(d >= 0, 2 * d, -2 * d - 1))
    np.testing.assert_array_equal(store.decode_uint16(codes[0], step[0]), back[0])


def test_dtype_float32_and_uint16_store_sizes(study):
    tmp, table, images = study
    common = [table, "--stimuli", images, "--sigma-px", "6", "--scales", "1,2"]
    assert run(["render-heatmaps", *common, "-o", tmp / "f32", "--dtype", "float32"]).exit_code == 0
    assert run(["render-heatmaps", *common, "-o", tmp / "u16"]).exit_code == 0
    f32, u16 = store.open_store(tmp / "f32"), store.open_store(tmp / "u16")
    assert (f32.params["dtype"], u16.params["dtype"]) == ("float32", "uint16")
    r1 = render.pyramid([20.3, 40.0], [15.7, 30.0], [300, 100], 6.0, 6.0, 48, 64, (1, 2))
    r2 = render.pyramid([60.2], [10.1], [500], 6.0, 6.0, 48, 64, (1, 2))
    for s in (1, 2):
        want = (r1[s] + r2[s]) / 2
        np.testing.assert_allclose(f32.get("a", None, s), want, rtol=1e-6)
        assert f32.get("a", None, s).dtype == u16.get("a", None, s).dtype == np.float32
    f32_bytes = sum(p.stat().st_size for p in (tmp / "f32" / "heatmaps").iterdir())
    u16_bytes = sum(p.stat().st_size for p in (tmp / "u16" / "heatmaps").iterdir())
    assert u16_bytes < 0.4 * f32_bytes  # tiny maps (npz headers weigh); Kvasir: ~8 % (benchmarks/heatmaps.py)


def test_lazy_store_renders_on_read_identical_to_eager(study):
    tmp, table, images = study
    common = [table, "--stimuli", images, "--sigma-px", "5", "--scales", "1,2"]
    assert run(["render-heatmaps", *common, "-o", tmp / "eager"]).exit_code == 0
    res = run(["render-heatmaps", *common, "-o", tmp / "lazy", "--lazy"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp / "lazy").iterdir()) == ["manifest.parquet", "store.json"]
    info = json.loads((tmp / "lazy" / "store.json").read_text())
    jsonschema.validate(info, json.loads((REPO / "schemas/store.schema.json").read_text()))
    assert info["lazy"] == {"table": "../fix.parquet", "table_absolute": str(table.resolve())}
    eager, lazy = store.open_store(tmp / "eager"), store.open_store(tmp / "lazy")
    pd.testing.assert_frame_equal(lazy.manifest, eager.manifest)
    assert lazy.keys() == eager.keys() == [("a", None), ("b", None), ("d", None)]
    for sid, sl in eager.keys():
        for s in (1, 2):
            np.testing.assert_array_equal(lazy.get(sid, sl, s), eager.get(sid, sl, s))
    assert lazy.get("c") is None and not (tmp / "lazy" / "heatmaps").exists()  # memory cache only
    cached = store.open_store(tmp / "lazy", disk_cache=True)
    cached.get("b", None, 2)  # disk cache: the eager store's file, byte for byte
    assert (tmp / "lazy/heatmaps/b.npz").read_bytes() == (tmp / "eager/heatmaps/b.npz").read_bytes()
    for i in range(2):  # lazy shards merge into a lazy store with the same maps
        assert run(["render-heatmaps", *common, "-o", tmp / f"ls{i}", "--lazy", "--shard", f"{i}/2"]).exit_code == 0
    assert run(["store", "merge", tmp / "ls1", tmp / "ls0", "-o", tmp / "lm"]).exit_code == 0
    np.testing.assert_array_equal(store.open_store(tmp / "lm").get("d", None, 1), eager.get("d", None, 1))
    table.rename(tmp / "moved.parquet")  # the table is gone: one line that says what to do
    with pytest.raises(GazekitError, match="restore it, or render the store again"):
        store.open_store(tmp / "lazy").get("a")
