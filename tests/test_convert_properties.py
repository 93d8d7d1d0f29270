"""Property tests: mutated real exports (Tobii Pro Lab alex1, the Kvasir fixation report) and synthetic ones
(Tobii Studio, un-bracketed Pro Lab) either convert into a valid fixation table or raise GazekitError --
never another exception."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.make_tobii_export import write_prolab_export
from gazekit import tables
from gazekit.convert import pipeline as conv
from gazekit.errors import GazekitError
from tests.conftest import shared_path
from tests.exports import write_studio_export

MUTATIONS = (
    "drop_column",
    "duplicate_column",
    "truncate",
    "swap_separator",
    "inject_nan",
    "inject_garbage",
    "swap_rows",
)
# more examples for a bug hunt: GAZEKIT_HYPOTHESIS_EXAMPLES=500
EXAMPLES = int(os.environ.get("GAZEKIT_HYPOTHESIS_EXAMPLES", "20"))
_CACHE: dict[str, tuple[bytes, str]] = {}


def _source(name: str) -> tuple[bytes, str]:
    """(file bytes, separator) of a base file; real ones are heads of the shared files."""
    if name not in _CACHE:
        if name == "alex1":
            path = shared_path("gaze-samples", "tobiiprolab_bracketed_ivt_normal_alex1_first5000.tsv")
            _CACHE[name] = (b"".join(path.open("rb").readlines()[:1200]), "\t")
        elif name == "kvasir":
            path = shared_path("kvasir-seg", "fixations.csv")
            _CACHE[name] = (b"".join(path.open("rb").readlines()[:400]), ",")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "x.tsv"
                if name == "studio":
                    write_studio_export(path)
                    sep = "\t"
                else:
                    write_prolab_export(path, n_rows=900, participants=("A", "B"), bracketed=False, sep=";")
                    sep = ";"
                _CACHE[name] = (path.read_bytes(), sep)
    return _CACHE[name]


def mutate(raw: bytes, sep: str, kind: str, data) -> bytes:
    """Apply one mutation, its parameters drawn from hypothesis ``data``."""
    text = raw.decode("utf-8")
    lines = text.split("\n")
    n_cols = lines[0].count(sep) + 1
    if kind == "drop_column":
        j = data.draw(st.integers(0, n_cols - 1))
        lines = [sep.join(c for i, c in enumerate(line.split(sep)) if i != j) for line in lines]
    elif kind == "duplicate_column":
        j, k = data.draw(st.integers(0, n_cols - 1)), data.draw(st.integers(0, n_cols))
        out = []
        for line in lines:
            cells = line.split(sep)
            if line and j < len(cells):
                cells.insert(min(k, len(cells)), cells[j])
            out.append(sep.join(cells))
        lines = out
    elif kind == "truncate":
        return raw[: data.draw(st.integers(0, len(raw)))]
    elif kind == "swap_separator":
        new = data.draw(st.sampled_from([s for s in ("\t", ";", ",") if s != sep]))
        return text.replace(sep, new).encode("utf-8")
    elif kind == "inject_nan":
        i = data.draw(st.integers(1, len(lines) - 2))
        cells = lines[i].split(sep)
        cells[data.draw(st.integers(0, len(cells) - 1))] = data.draw(st.sampled_from(["NaN", "nan", "", "-", "inf"]))
        lines[i] = sep.join(cells)
    elif kind == "inject_garbage":
        at = data.draw(st.integers(0, len(raw)))
        junk = data.draw(st.binary(min_size=1, max_size=40))
        return raw[:at] + junk + raw[at:]
    elif kind == "swap_rows":
        i, k = data.draw(st.integers(1, len(lines) - 2)), data.draw(st.integers(1, len(lines) - 2))
        lines[i], lines[k] = lines[k], lines[i]
    return "\n".join(lines).encode("utf-8")


@pytest.mark.parametrize("source", ["alex1", "kvasir", "studio", "prolab_unbracketed"])
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(MUTATIONS), data=st.data())
def test_mutated_exports_give_a_valid_table_or_a_clean_error(tmp_path, source, kind, data):
    raw, sep = _source(source)
    path = tmp_path / f"mutated_{source}.txt"
    path.write_bytes(mutate(raw, sep, kind, data))
    try:
        fix, meta = conv.convert([path])
    except GazekitError as exc:
        assert "\n" not in exc.one_line() and exc.one_line()
        return
    tables.to_arrow("fixations", fix)  # a table that came out must be valid (raises otherwise)
    assert len(fix) > 0


def test_unmutated_sources_convert():
    """The bases themselves convert (so the property test does not pass by always erroring)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("alex1", "kvasir", "studio", "prolab_unbracketed"):
            raw, sep = _source(name)
            path = Path(tmp) / f"{name}.txt"
            path.write_bytes(raw)
            fix, _ = conv.convert([path])
            df = pd.read_csv(io.BytesIO(raw), sep=sep, decimal=",", low_memory=False, encoding="utf-8-sig")
            if name == "kvasir":
                expected = len(df)
            elif name == "studio":
                expected = df[df["GazeEventType"] == "Fixation"].groupby(["ParticipantName", "FixationIndex"]).ngroups
            else:
                rows = df[df["Eye movement type"] == "Fixation"]
                expected = rows.groupby(["Participant name", "Eye movement type index"]).ngroups
            assert len(fix) == expected > 0, name
