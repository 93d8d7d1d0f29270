"""Hypothesis-mutated versions of each real sample file: a clean GazekitError or a valid table, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazekit import tables
from gazekit.convert import pipeline as conv
from gazekit.errors import GazekitError
from tests.conftest import shared_path

FILES = (
    "pymovements_eyelink_binocular_example.asc",
    "pymovements_eyelink_monocular_example.asc",
    "pupilcore_fixations.csv",
    "tobiisdk_tobii_research_sample_gaze_data.csv",
)
SCREEN = (
    ("width_px", 1920.0),
    ("height_px", 1080.0),
    ("width_mm", 531.0),
    ("height_mm", 299.0),
    ("distance_mm", 650.0),
)
JUNK = st.sampled_from(["", ".", "nan", "-", "x", "1e400", "-0", "(nan, nan)", "(1,", '"', "\t", "EFIX", "9" * 30, "é"])


@st.composite
def mutated(draw, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "cut", "field", "swap"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        else:
            sep = "," if lines[i].count(",") > lines[i].count("\t") else None
            fields = lines[i].split(sep)
            if fields:
                fields[draw(st.integers(0, len(fields) - 1))] = draw(JUNK)
            lines[i] = ("," if sep else "\t").join(fields)
    out = "\n".join(lines)
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]  # cut the file short
    return out


@pytest.mark.parametrize("name", FILES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_file_gives_clean_error_or_valid_table(name, data):
    src = shared_path("gaze-samples", name)
    text = src.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / src.name
        path.write_text(data.draw(mutated(text)), encoding="utf-8")
        try:
            fix, meta = conv.convert([path], conv.ConvertOptions(screen=SCREEN))
        except GazekitError as exc:
            assert exc.one_line() and "\n" not in exc.one_line()
            return
        tables.to_arrow("fixations", fix)
        if meta["detection"][str(path)]["method"] == "ivt":
            assert (fix["duration_ms"] >= 60).all()
