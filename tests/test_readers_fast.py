"""The pyarrow fast path of the Tobii readers gives exactly what the pandas path gives: the same fixation
table, or the same one-line error (mutated real and generated exports, small chunks to cross boundaries)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.make_tobii_export import write_prolab_export
from gazekit.convert import pipeline as conv
from gazekit.errors import GazekitError
from gazekit.readers import _delimited, _tobii
from tests.conftest import shared_path
from tests.test_readers_fuzz import mutated


def outcome(path: Path, fast: bool, monkeypatch) -> tuple:
    """("table", records) or ("error", message) of ``gazekit convert`` on ``path`` via one of the paths."""
    calls = []

    def pandas_only(*args, **kwargs):
        calls.append("fast")
        raise _delimited.FastPathError("forced")

    with monkeypatch.context() as m:
        m.setattr(_delimited, "CHUNK_ROWS", 37)  # several chunks even in a small file
        m.setattr(_delimited, "SEGMENT_BYTES", 997)  # and several parsed segments, cut mid-chunk
        if not fast:
            m.setattr(_tobii, "iter_chunks_arrow", pandas_only)
        try:
            fix, _ = conv.convert([path])
        except GazekitError as exc:
            return ("error", exc.one_line())
    return ("table", fix.astype(object).where(fix.notna(), None).to_dict("records"))  # NaN -> None: comparable


def real_head(n_lines: int = 400) -> str:
    src = shared_path("gaze-samples", "tobiiprolab_bracketed_ivt_normal_alex1_first5000.tsv")
    return "".join(src.read_text(encoding="utf-8").splitlines(keepends=True)[:n_lines])


def test_fast_path_is_taken_and_equal_on_clean_exports(tmp_path, monkeypatch):
    taken = []
    real = _delimited.iter_chunks_arrow

    def spy(*args, **kwargs):
        taken.append(True)
        yield from real(*args, **kwargs)

    path = tmp_path / "real.tsv"
    path.write_text(real_head(), encoding="utf-8")
    for kw in ({}, {"bom": True, "crlf": True, "trailing_sep": True}, {"bracketed": False, "sep": ";"}):
        gen = tmp_path / "gen.tsv"
        write_prolab_export(gen, n_rows=300, participants=("A", "B"), **kw)
        for p in (path, gen):
            monkeypatch.setattr(_tobii, "iter_chunks_arrow", spy)
            fast = outcome(p, True, monkeypatch)
            monkeypatch.undo()
            assert taken and fast[0] == "table" and fast == outcome(p, False, monkeypatch)
            taken.clear()


@pytest.mark.parametrize("source", ["real", "generated"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_path_equals_pandas_path_on_mutated_exports(source, data, monkeypatch):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.tsv"
        if source == "real":
            text = real_head(120)
        else:
            write_prolab_export(path, n_rows=60, participants=("A", "B"), n_images=2, mouse_every=7)
            text = path.read_text(encoding="utf-8")
        path.write_text(data.draw(mutated(text)), encoding="utf-8")
        assert outcome(path, True, monkeypatch) == outcome(path, False, monkeypatch)


@pytest.mark.parametrize("eol", [b"\r\n", b"\r"])
def test_fast_path_cuts_segments_at_any_line_end(eol, tmp_path, monkeypatch):
    lf = tmp_path / "lf.tsv"
    write_prolab_export(lf, n_rows=300, participants=("A", "B"))
    other = tmp_path / "other.tsv"
    other.write_bytes(lf.read_bytes().replace(b"\n", eol))
    taken = []
    real = _delimited.iter_chunks_arrow

    def spy(*args, **kwargs):
        yield from real(*args, **kwargs)
        taken.append(True)  # the fast path read the whole file (no fallback)

    monkeypatch.setattr(_tobii, "iter_chunks_arrow", spy)
    expected = outcome(lf, True, monkeypatch)
    got = outcome(other, True, monkeypatch)
    assert len(taken) == 2 and got[0] == "table" and got == expected


def test_fast_path_reads_lines_longer_than_a_segment_and_a_last_line_without_line_end(tmp_path, monkeypatch):
    path = tmp_path / "export.tsv"
    write_prolab_export(path, n_rows=200, participants=("A", "B"))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    real = _delimited.iter_chunks_arrow
    done = []

    def spy(*args, **kwargs):
        yield from real(*args, **kwargs)
        done.append(True)

    def pandas_only(*args, **kwargs):
        raise _delimited.FastPathError("forced")

    monkeypatch.setattr(_tobii, "iter_chunks_arrow", pandas_only)
    expected, _ = conv.convert([path])
    monkeypatch.setattr(_tobii, "iter_chunks_arrow", spy)
    monkeypatch.setattr(_delimited, "SEGMENT_BYTES", 64)  # shorter than one line: the buffer grows
    got, _ = conv.convert([path])
    assert done and len(got) and got.equals(expected)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
@pytest.mark.parametrize("column", ["Pupil diameter filtered [mm]", "Recording timestamp [ms]"])
def test_a_non_finite_number_sends_the_file_to_the_pandas_path(value, column, tmp_path, monkeypatch):
    """pyarrow reads "nan", "inf" and "1e400" as numbers, pandas keeps them as text (whose errors say where): the
    fast path gives the file to the pandas path, and the outcome (table or error) is that path's."""
    lines = real_head(200).splitlines(keepends=True)
    col = lines[0].rstrip("\r\n").split("\t").index(column)
    fields = lines[150].split("\t")
    assert col < len(fields) - 1 and fields[col] not in ("", value)  # a value inside the line, replaced
    fields[col] = value
    lines[150] = "\t".join(fields)
    path = tmp_path / "export.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    handed_over = []
    real = _delimited.iter_chunks_arrow

    def spy(*args, **kwargs):
        try:
            yield from real(*args, **kwargs)
        except _delimited.FastPathError:
            handed_over.append(True)
            raise

    monkeypatch.setattr(_tobii, "iter_chunks_arrow", spy)
    got = outcome(path, True, monkeypatch)
    assert handed_over == [True] and got == outcome(path, False, monkeypatch)


def test_segments_count_lines_only_where_a_quote_or_cr_can_make_rows_differ():
    plain = bytearray(b"a\tb\n1\t2\n")
    assert _delimited._lines(plain, len(plain), b"\n", 0) is None  # every LF ends a row: nothing to count
    quoted = bytearray(b'a\t"x\ny"\n1\t2\n')
    assert _delimited._lines(quoted, len(quoted), b"\n", 0) == 3
    cr = bytearray(b"a\tx\ry\n1\t2\n")
    assert _delimited._lines(cr, len(cr), b"\n", 1) == 3
    cr_only = bytearray(b"a\tb\r1\t2\r")
    assert _delimited._lines(cr_only, len(cr_only), b"\r", 0) == 2


@pytest.mark.parametrize("inside", ['"two\nlines"', "bare\rcr"])
def test_a_line_break_inside_a_field_gives_what_the_pandas_path_gives(inside, tmp_path, monkeypatch):
    path = tmp_path / "export.tsv"
    write_prolab_export(path, n_rows=300, participants=("A", "B"))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split("\t")
    for line, column, value in ((100, "Participant name", inside), (200, "Recording timestamp [ms]", "0")):
        fields = lines[line].split("\t")
        fields[header.index(column)] = value
        lines[line] = "\t".join(fields)
    path.write_bytes("".join(lines).encode())  # time goes back further down: the error must name the file's line
    fast = outcome(path, True, monkeypatch)
    assert fast[0] == "error" and fast == outcome(path, False, monkeypatch)
