"""Issue 11: --anonymize-paths (no folder name in any written file) and qc --labels pairing a DICOM label
series that has its own SeriesInstanceUID with its image series (by geometry, or --label-pair)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from gazekit import stimuli
from gazekit.cli import main
from gazekit.privacy import anonymize_path, hash_name
from tests.conftest import shared_path
from tests.test_simulate import SPACING, label_volume

NAME = "Doe_Jane_PID-12345"


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def study(tmp_path):
    """An image series and its label series (own UID, same geometry) in a folder named after a patient."""
    root = tmp_path / NAME
    vol = label_volume()
    img = (vol * 100 + np.arange(6)[:, None, None]).astype(np.float32)
    (root / "img").mkdir(parents=True)
    uid = stimuli.write_dicom_series(img, root / "img" / "case1", SPACING)
    label_uid = stimuli.write_dicom_series(vol, root / "labels" / "case1_gt", SPACING)
    assert uid != label_uid
    res = run("simulate", root / "labels" / "case1_gt", "--images", root / "img", "-o", tmp_path / "sess")
    assert res.exit_code == 0, res.output
    res = run("convert", tmp_path / "sess", "-o", tmp_path / "fix.parquet")
    assert res.exit_code == 0, res.output
    return {"root": root, "uid": uid, "label_uid": label_uid, "tmp": tmp_path}


def test_anonymize_path_keeps_file_names():
    assert anonymize_path(f"/data/{NAME}/scan.png") == f"/{hash_name('data')}/{hash_name(NAME)}/scan.png"
    assert anonymize_path(f"{NAME}/series", keep_name=False) == f"{hash_name(NAME)}/{hash_name('series')}"
    assert hash_name(NAME) == hash_name(NAME) != hash_name(NAME + "x") and len(hash_name(NAME)) == 14


# the outputs of the two hashers before they became one (readers/_delimited.py pseudonym, privacy.py hash_name),
# computed by those functions: stored reader ids and anonymized folders keep their values
BEFORE = {
    "Reader A": ("r-15d29bc19c", "d-15d29bc19ceb"),
    "": ("", "d-e3b0c44298fc"),
    NAME: ("r-5e7c8e3a17", "d-5e7c8e3a17e8"),
    "Jürgen Müller": ("r-1403b975b8", "d-1403b975b886"),
}


@pytest.mark.parametrize("name", list(BEFORE))
def test_one_name_hasher_keeps_the_reader_ids_and_folder_hashes(name):
    assert (hash_name(name, "reader"), hash_name(name)) == BEFORE[name]


def test_a_reader_writes_the_reader_id_of_before(tmp_path):
    from examples.make_tobii_export import write_prolab_export
    from gazekit import readers

    write_prolab_export(tmp_path / "export.tsv", n_rows=500, participants=("Reader A",), n_images=1)
    rec = readers.read(tmp_path / "export.tsv")
    assert set(rec.fixations["reader_id"]) == {BEFORE["Reader A"][0]}


def test_anonymize_paths_in_session_json_and_fixation_table(study, tmp_path):
    root = study["root"]
    (tmp_path / "data").mkdir()
    # two label series in two folders: session.json names them relative to the folder above both
    stimuli.write_dicom_series(label_volume(), tmp_path / "other" / "case2_gt", SPACING)
    labels = [root / "labels" / "case1_gt", tmp_path / "other" / "case2_gt"]
    # the folder name shows without the option (the test can see a leak) ...
    res = run("simulate", *labels, "-o", tmp_path / "plain")
    assert res.exit_code == 0, res.output
    assert NAME in (tmp_path / "plain" / "session.json").read_text()
    # ... and nowhere with it: session.json of simulate, then the fixation table of convert
    res = run("simulate", *labels, "-o", tmp_path / "anon", "--anonymize-paths")
    assert res.exit_code == 0, res.output
    text = (tmp_path / "anon" / "session.json").read_text()
    assert NAME not in text and hash_name(NAME) in text
    csv = root / "fixations.csv"
    lines = shared_path("kvasir-seg", "fixations.csv").read_text().splitlines(keepends=True)[:30]
    csv.write_text("".join(lines))
    for inputs in ([tmp_path / "plain"], [csv]):  # a session whose session.json names the folder, a CSV in it
        out = tmp_path / "data" / "f.parquet"
        res = run("convert", *inputs, "-o", out, "--anonymize-paths")
        assert res.exit_code == 0, res.output
        assert NAME.encode() not in out.read_bytes()
        plain = tmp_path / "data" / "plain.parquet"
        assert run("convert", *inputs, "-o", plain).exit_code == 0
        assert NAME.encode() in plain.read_bytes()
    assert b"fixations.csv" in out.read_bytes()  # file names (stimulus ids) are kept


def test_qc_pairs_a_label_series_with_its_own_uid_by_geometry(study, tmp_path):
    root = study["root"]
    res = run("qc", tmp_path / "fix.parquet", "-o", tmp_path / "rep", "--stimuli", root / "img", "--labels",
              root / "labels", "--sigma-px", "4")  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "rep" / "qc.json").read_text())
    assert 0 < summary["mean"]["share_inside"] <= 1  # the simulated gaze sits on the labelled discs
    # two label series of the same geometry: ambiguous, an error that names both ways out ...
    twin = stimuli.write_dicom_series(label_volume(), root / "labels" / "twin", SPACING)
    args = ["qc", tmp_path / "fix.parquet", "-o", tmp_path / "rep2", "--stimuli", root / "img", "--sigma-px", "4"]
    res = run(*args, "--labels", root / "labels")
    assert res.exit_code == 2 and "--label-pair IMAGE_ID=LABEL_ID" in res.output
    # ... and --label-pair settles it
    res = run(*args, "--labels", root / "labels", "--label-pair", f"{study['uid']}={twin}")
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "rep2" / "qc.json").read_text())
    assert again["mean"]["share_inside"] == pytest.approx(summary["mean"]["share_inside"])


def test_qc_does_not_pair_a_label_series_of_another_geometry(study, tmp_path):
    root = study["root"]
    other = tmp_path / "other"
    shutil.rmtree(root / "labels")
    stimuli.write_dicom_series(label_volume()[:, :40], other / "gt", SPACING)  # 40 rows instead of 48
    res = run("qc", tmp_path / "fix.parquet", "-o", tmp_path / "rep", "--stimuli", root / "img", "--labels", other,
              "--sigma-px", "4")  # fmt: skip
    assert res.exit_code == 2 and "expected a label map for every stimulus with gaze" in res.output
