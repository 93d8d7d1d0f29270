"""hgdtgl's one-line errors say what was expected (or that a file is missing), as gazekit's do."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from hgdtgl.cli import main
from tests.hgdtgl_testdata import make_images

REPO = Path(__file__).resolve().parents[1]


def _error_line(args: list[str]) -> str:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, r.output
    return lines[0]


def test_cli_errors_say_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    line = _error_line(["train", "--data", str(tmp_path / "empty"), "--method", "mt", "--out", str(tmp_path / "r")])
    assert line.startswith(f"error: {tmp_path / 'empty'}: expected a dataset: ssl4mis (")

    missing = tmp_path / "nothing.pt"
    line = _error_line(["evaluate", str(missing), "--data", str(tmp_path / "empty"), "-o", str(tmp_path / "m.csv")])
    assert line == (
        f"error: {missing}: file not found, expected a checkpoint file (checkpoint_best.pt / checkpoint_latest.pt)"
    )

    data = make_images(tmp_path / "imgs", n=6)
    (data / "masks" / "img02.jpg").unlink()
    (data / "val.list").write_text("img05\n")
    line = _error_line(["train", "--data", str(data), "--method", "supervised", "--out", str(tmp_path / "r2")])
    assert line == f"error: {data / 'masks'}, img02: file not found, expected a mask with the image's file stem"

    line = _error_line(["train", "--data", str(data), "--size", "40", "--out", str(tmp_path / "r3")])
    assert line == "error: config, size: expected a multiple of 16 (four 2x poolings), got 40"

    line = _error_line(["pack", str(data), "-o", str(tmp_path / "packed.zip")])
    assert line == f"error: {tmp_path / 'packed.zip'}: expected an output file name ending in .npz"


def test_every_hgdtgl_error_message_has_its_verb():
    """Every GazekitError raised in hgdtgl states 'expected ...' or 'file not found' (or a missing option)."""
    bad = []
    for path in sorted((REPO / "hgdtgl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "GazekitError" and len(node.args) > 2:
                msg = node.args[2]
                if isinstance(msg, ast.BinOp):  # "..." + ("..." if ... else "")
                    msg = msg.left
                if isinstance(msg, ast.Name):  # a variable: the text is built just above
                    continue
                first = msg.value if isinstance(msg, ast.Constant) else msg.values[0].value
                if not first.startswith(("expected ", "file not found", "missing option")):
                    bad.append(f"{path.name}:{node.lineno}: {first!r}")
    assert bad == []
