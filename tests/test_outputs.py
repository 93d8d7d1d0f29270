"""Output paths (issue 11): no command deletes or modifies what it did not create; temp files are removed on
any exit (SIGTERM/SIGINT included) and a SIGKILL's leftovers are removed by the next write of that output."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from gazekit import atomic
from gazekit.cli import main
from gazekit.errors import GazekitError
from tests.conftest import REPO, shared_path

SENTINEL = "a user's file that must survive\n"


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(res) -> None:
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and len(res.output.strip().splitlines()) == 1, res.output
    assert "Traceback" not in res.output


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict[str, Path]:
    """The first 3 Kvasir images' fixations (GazeMedSeg report) -> fix.parquet, and one mask to simulate on."""
    tmp = tmp_path_factory.mktemp("outputs")
    src = shared_path("kvasir-seg", "fixations.csv")
    head = pd.read_csv(src, nrows=200)
    head = head[head["IMAGE"].isin(head["IMAGE"].unique()[:3])]
    csv = tmp / "fixations.csv"
    head.to_csv(csv, index=False)
    res = run("convert", csv, "-o", tmp / "fix.parquet")
    assert res.exit_code == 0, res.output
    masks = tmp / "masks"
    masks.mkdir()
    stem = Path(head["IMAGE"].iloc[0]).stem
    shutil.copy(shared_path("kvasir-seg", "masks", f"{stem}.jpg"), masks / f"{stem}.jpg")
    return {"csv": csv, "table": tmp / "fix.parquet", "masks": masks, "image": shared_path("kvasir-seg", "images")}


def _commands(s: dict[str, Path], out: Path) -> dict[str, list]:
    return {
        "convert -o": ["convert", s["csv"], "-o", out],
        "convert --samples": ["convert", s["csv"], "-o", out.parent / "other.parquet", "--samples", out],
        "render-heatmaps -o": ["render-heatmaps", s["table"], "-o", out, "--sigma-px", "5"],
        "qc -o": ["qc", s["table"], "-o", out, "--sigma-px", "5"],
        "simulate -o": ["simulate", s["masks"], "-o", out],
    }


FILE_OUTPUTS = ("convert -o", "convert --samples")
FOLDER_OUTPUTS = ("render-heatmaps -o", "qc -o", "simulate -o")


@pytest.mark.parametrize("command", FILE_OUTPUTS + FOLDER_OUTPUTS)
def test_existing_user_folder_survives(study, tmp_path, command):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text(SENTINEL)
    res = run(*_commands(study, out)[command])
    _one_line_error(res)
    assert (out / "notes.txt").read_text() == SENTINEL and sorted(os.listdir(out)) == ["notes.txt"]
    assert _leftovers(tmp_path) == [] and not (tmp_path / "other.parquet").exists()


@pytest.mark.parametrize("command", FOLDER_OUTPUTS)
def test_existing_file_where_a_folder_is_expected_survives(study, tmp_path, command):
    out = tmp_path / "mine"
    out.write_text(SENTINEL)
    _one_line_error(run(*_commands(study, out)[command]))
    assert out.read_text() == SENTINEL and _leftovers(tmp_path) == []


@pytest.mark.parametrize("command", FOLDER_OUTPUTS)
def test_previous_output_replaced_but_not_with_a_user_file_inside(study, tmp_path, command):
    out = tmp_path / "out"
    args = _commands(study, out)[command]
    assert run(*args).exit_code == 0
    first = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    res = run(*args)  # a previous output of the same command is replaced
    assert res.exit_code == 0, res.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == first
    (out / "notes.txt").write_text(SENTINEL)
    _one_line_error(run(*args))
    assert (out / "notes.txt").read_text() == SENTINEL
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == sorted([*first, "notes.txt"])


def test_existing_output_file_replaced_only_when_complete(study, tmp_path):
    out = tmp_path / "fix.parquet"
    out.write_text(SENTINEL)
    assert run("convert", study["csv"], "-o", out).exit_code == 0
    assert out.read_bytes()[:4] == b"PAR1"
    before = out.read_bytes()
    _one_line_error(run("convert", study["csv"], "-o", out, "--format", "pupil-core"))  # fails: old file stays
    assert out.read_bytes() == before and _leftovers(tmp_path) == []


def test_convert_output_dot_input_and_same_path(study, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("keep.txt").write_text(SENTINEL)
    _one_line_error(run("convert", study["csv"], "-o", "."))
    _one_line_error(run("convert", study["csv"], "-o", ".."))
    copy = tmp_path / "in.csv"
    shutil.copy(study["csv"], copy)
    _one_line_error(run("convert", copy, "-o", copy))  # the input is never overwritten
    assert copy.read_bytes() == study["csv"].read_bytes()
    _one_line_error(run("convert", copy, "-o", "a.parquet", "--samples", "a.parquet"))
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "keep.txt"]


def test_simulate_never_replaces_a_recording(study, tmp_path):
    out = tmp_path / "sess"
    assert run("simulate", study["masks"], "-o", out).exit_code == 0
    meta = (out / "session.json").read_text().replace('"simulated": true', '"simulated": false')
    (out / "session.json").write_text(meta)
    _one_line_error(run("simulate", study["masks"], "-o", out))
    assert (out / "session.json").read_text() == meta


def test_store_merge_into_a_user_folder(study, tmp_path):
    shards = []
    for i in range(2):
        shards.append(tmp_path / f"s{i}")
        args = ["render-heatmaps", study["table"], "-o", shards[-1], "--sigma-px", "5", "--shard", f"{i}/2"]
        assert run(*args).exit_code == 0
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text(SENTINEL)
    _one_line_error(run("store", "merge", *shards, "-o", out))
    assert (out / "notes.txt").read_text() == SENTINEL
    res = run("store", "merge", *shards, "-o", tmp_path / "merged")
    assert res.exit_code == 0 and (tmp_path / "merged" / "store.json").is_file()


def test_record_into_a_file_or_user_folder(study, tmp_path):
    image = next(study["image"].iterdir())
    out = tmp_path / "sess"
    out.write_text(SENTINEL)
    _one_line_error(run("record", image, "-o", out, "--screen-px", "800x600", "--screen-mm", "300x200"))
    assert out.read_text() == SENTINEL
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text(SENTINEL)
    _one_line_error(run("record", image, "-o", folder, "--screen-px", "800x600", "--screen-mm", "300x200"))
    assert sorted(os.listdir(folder)) == ["notes.txt"]


# ---------------------------------------------------------------- atomic_path itself (also used by hgdtgl)


def test_atomic_path_checks(tmp_path):
    folder = tmp_path / "x.pt"
    folder.mkdir()
    (folder / "keep").write_text(SENTINEL)
    with pytest.raises(GazekitError, match="found an existing folder"):
        with atomic_path_write(folder):
            pass
    assert (folder / "keep").read_text() == SENTINEL
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic.atomic_path(empty) as tmp:  # an empty folder may become a folder output
        tmp.mkdir()
        (tmp / "a").write_text("new")
    assert (empty / "a").read_text() == "new"
    with pytest.raises(GazekitError, match="expected a folder to write, found an existing file"):
        atomic.check_output(folder / "keep", "dir")
    assert _leftovers(tmp_path) == []


def atomic_path_write(path: Path):
    """What hgdtgl does: atomic_path without a kind, write a file."""

    class _Ctx:
        def __enter__(self):
            self.cm = atomic.atomic_path(path)
            tmp = self.cm.__enter__()
            tmp.write_text("new")
            return tmp

        def __exit__(self, *exc):
            return self.cm.__exit__(*exc)

    return _Ctx()


_WRITER = textwrap.dedent(
    """
    import sys, time
    from gazekit.atomic import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_text("partial")
        print("writing", flush=True)
        time.sleep(60)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_temp_removed_on_signals_and_stale_ones_by_the_next_run(tmp_path, sig):
    out = tmp_path / "checkpoint_latest.pt"
    out.write_text("old")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out)], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert len(_leftovers(tmp_path)) == 1
    assert atomic.clean_stale(tmp_path) == []  # its writer is alive: never touched
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert out.read_text() == "old"
    if sig == signal.SIGKILL:
        assert len(_leftovers(tmp_path)) == 1
        (tmp_path / ".checkpoint_latest.pt.user.tmp").write_text(SENTINEL)  # not ours: other pattern
        with atomic.atomic_path(out) as tmp:
            tmp.write_text("new")
        assert out.read_text() == "new"
        assert _leftovers(tmp_path) == [".checkpoint_latest.pt.user.tmp"]
    else:
        assert _leftovers(tmp_path) == []


def test_stale_folder_with_foreign_content_is_kept(tmp_path):
    stale = tmp_path / ".out.parquet.abcd1234.tmp"
    stale.mkdir()
    (stale / "out.parquet").write_text("partial")  # written by a killed pre-owner-file version: removed
    user = tmp_path / ".out.parquet.zzzz9999.tmp"
    user.mkdir()
    (user / "photo.jpg").write_text(SENTINEL)  # not something atomic_path writes: kept
    time.sleep(0.01)
    assert atomic.clean_stale(tmp_path) == [stale]
    assert (user / "photo.jpg").read_text() == SENTINEL
