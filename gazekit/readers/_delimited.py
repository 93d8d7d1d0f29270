"""Shared plumbing of the delimited-text readers: dialect sniffing, header lookup by name and unit,
chunked reading with a progress bar, and numbers parsed with errors that say where.

Every error here is a :class:`GazekitError` naming the file, the line and the column. The fast path
(:func:`iter_chunks_arrow`, pyarrow) yields :class:`Chunk` columns and imports no pandas; the pandas path
(:func:`iter_chunks`, whose errors say where and what) imports it when it runs.
"""

from __future__ import annotations

import codecs
import io
import queue
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from gazekit.errors import GazekitError
from gazekit.readers.base import TAIL_BYTES, cut_warning, incomplete_last_line

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 100_000
ARROW_BLOCK_BYTES = 2**20  # pyarrow parses a segment in blocks of this size, in parallel
SEGMENT_BYTES = 4 * 2**20  # the fast path reads the file in segments of about this size (bounded memory)
SEGMENTS_AHEAD = 4  # segments parsed ahead of the caller by the background thread
PROGRESS_MIN_BYTES = 64 * 2**20  # show a progress bar on files larger than this (on a terminal)
SEPARATORS = ("\t", ";", ",")
_UNIT = re.compile(r"\s*[\[(]([^\])]*)[\])]\s*$")
_COMMA_NUM = re.compile(r"^[+-]?\d+,\d+$")
_DOT_NUM = re.compile(r"^[+-]?\d+\.\d+$")
_C_ERROR_LINE = re.compile(r"line (\d+)")
_SEP_NAMES = {"\t": "tab", ";": "semicolon", ",": "comma"}


@dataclass(frozen=True)
class Dialect:
    """How a delimited export is written: field separator, decimal mark, text encoding, header names."""

    sep: str
    decimal: str
    encoding: str
    columns: tuple[str, ...]


def split_unit(name: str) -> tuple[str, str]:
    """``"Gaze point X [DACS px]"`` -> ``("gaze point x", "dacspx")``; ``"Gaze point X"`` -> (..., "")."""
    name = name.strip().lstrip("\ufeff")
    m = _UNIT.search(name)
    unit = "" if m is None else m.group(1).replace(" ", "").lower().replace("µ", "μ")
    base = name if m is None else name[: m.start()]
    return " ".join(base.lower().split()), unit


def header_line(head: str) -> str:
    """The first non-empty line of ``head`` (BOM and line ending stripped)."""
    for line in head.lstrip("\ufeff").splitlines():
        if line.strip():
            return line
    return ""


def header_names(head: str) -> list[str]:
    """Column names of the header line, split on the most frequent separator."""
    line = header_line(head)
    sep = max(SEPARATORS, key=line.count)
    return [c.strip().strip('"') for c in line.split(sep)]


def sniff_dialect(path: Path, head: str) -> Dialect:
    """Separator from the header line; decimal mark from the numbers in the first rows."""
    line = header_line(head)
    counts = {s: line.count(s) for s in SEPARATORS}
    sep = max(SEPARATORS, key=counts.get)
    if counts[sep] == 0:
        raise GazekitError(path, "line 1", "expected a header row of tab, semicolon or comma separated column names")
    decimal = "."
    if sep != ",":
        n_comma = n_dot = 0
        for row in head.lstrip("\ufeff").splitlines()[1:200]:
            for tok in row.split(sep):
                tok = tok.strip()
                n_comma += bool(_COMMA_NUM.match(tok))
                n_dot += bool(_DOT_NUM.match(tok))
        decimal = "," if n_comma > n_dot else "."
    encoding = _encoding(path)
    names = [c.strip().lstrip("\ufeff").strip('"') for c in line.split(sep)]
    while names and names[-1] == "":  # trailing separators on the header line
        names.pop()
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise GazekitError(path, "line 1", f"expected unique column names, got {dup!r} twice")
    return Dialect(sep=sep, decimal=decimal, encoding=encoding, columns=tuple(names))


def find_column(columns: tuple[str, ...], base: str, units: tuple[str, ...] = ("",)) -> str | None:
    """The header name whose lower-cased base is ``base`` and whose unit (spaces removed) is in ``units``."""
    for col in columns:
        b, u = split_unit(col)
        if b == base and u in units:
            return col
    return None


def check_not_truncated(path: Path, dialect: Dialect, warn: list[str]) -> int | None:
    """Bytes to read when the file ends in the middle of a row (see ``readers.base.incomplete_last_line``; a
    warning goes to ``warn``), else None (the whole file)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - TAIL_BYTES))
        tail = fh.read()
    cut = incomplete_last_line(tail, dialect.sep.encode(), size <= TAIL_BYTES)
    if cut is None:
        return None
    warn.append(cut_warning(path, cut[1]))
    return size - len(tail) + cut[0]


class _CheckingReader(io.RawIOBase):
    """A raw binary reader that advances a tqdm bar and checks that no line has more fields than the header.

    pandas silently drops surplus fields when it reads a subset of columns; a surplus field means a
    separator inside a value (a decimal comma in a comma-separated file), so it is an error here.
    One trailing separator is allowed. Files with quotes are not checked (a quoted value may hold one).
    """

    def __init__(self, fh, bar, path: Path, sep: str, n_fields: int, end: int | None = None):
        self._fh, self._bar, self._path, self._left = fh, bar, path, end
        self._sep, self._max_seps, self._n_fields = ord(sep), n_fields - 1, n_fields
        self._tail = np.zeros(2, np.uint8)
        self._line, self._carry, self._check, self._newline = 1, 0, True, None

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._left is not None:  # stop at ``end`` (an incomplete last row is not read)
            buf = memoryview(buf)[: max(0, self._left)]
        n = self._fh.readinto(buf)
        if self._left is not None:
            self._left -= n or 0
        self._bar.update(n or 0)
        if n and self._check:
            self._scan(np.frombuffer(buf, np.uint8, n))
        return n

    def _scan(self, block: np.ndarray) -> None:
        if (block == ord('"')).any():
            self._check = False
            return
        if self._newline is None:
            has_lf = (block == 10).any()
            self._newline = 10 if has_lf or not (block == 13).any() else 13
        ends = np.flatnonzero(block == self._newline)
        seps = np.flatnonzero(block == self._sep)
        if len(ends):
            before_end = np.searchsorted(seps, ends)  # separators before each line end in this block
            per_line = np.diff(before_end, prepend=0)
            per_line[0] += self._carry
            ext = np.concatenate([self._tail, block])
            last = ext[ends + len(self._tail) - 1]
            last = np.where(last == 13, ext[np.maximum(ends + len(self._tail) - 2, 0)], last)
            trailing = last == self._sep  # an empty last field (trailing separator) is allowed
            bad = per_line - trailing > self._max_seps
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise GazekitError(
                    self._path,
                    f"line {self._line + i}",
                    f"expected {self._n_fields} fields like the header, got {per_line[i] + 1} "
                    f"(a {_SEP_NAMES[chr(self._sep)]} inside a value, e.g. a decimal comma?)",
                )
            self._line += len(ends)
            self._carry = len(seps) - int(before_end[-1])
        else:
            self._carry += len(seps)
        self._tail = np.concatenate([self._tail, block])[-2:]


@dataclass(frozen=True)
class Floats:
    """A number column: ``values`` as parsed and ``valid`` (None: every field held a number); the values of empty
    fields are not NaN yet: :meth:`at` puts NaN there, on the rows asked for only."""

    values: np.ndarray
    valid: np.ndarray | None = None

    def at(self, rows: np.ndarray | None = None) -> np.ndarray:
        """float64 at row positions ``rows`` (None: all), NaN where empty."""
        values = self.values if rows is None else self.values[rows]
        if self.valid is None:
            return values
        return np.where(self.valid if rows is None else self.valid[rows], values, np.nan)


@dataclass(frozen=True)
class Chunk:
    """Rows of a delimited export as columns: ``lines`` (file line numbers), ``numbers`` (:class:`Floats`; on the
    pandas path a column pandas left as text stays a Series, parsed by :func:`numbers` where needed) and ``texts``
    (per row the code of its value in the list of values as written, -1 where empty)."""

    lines: np.ndarray
    numbers: dict[str, Floats | pd.Series]
    texts: dict[str, tuple[np.ndarray, list[str]]]

    def __len__(self) -> int:
        return len(self.lines)


def chunk_of_frame(frame: pd.DataFrame, text_cols: list[str]) -> Chunk:
    """A chunk of :func:`iter_chunks` as a :class:`Chunk` (float64 columns as arrays, other numbers as text)."""
    import pandas as pd

    numbers, texts = {}, {}
    for name in frame.columns:
        col = frame[name]
        if name in text_cols:
            codes, uniques = pd.factorize(col)
            texts[name] = codes.astype(np.int64), [str(u) for u in uniques]
        else:
            numbers[name] = Floats(col.to_numpy()) if col.dtype == np.float64 else col
    return Chunk(frame.index.to_numpy(np.int64), numbers, texts)


def drop_blank_rows(chunk: pd.DataFrame) -> pd.DataFrame:
    """``chunk`` without its rows that are empty in every column (no copy when there are none)."""
    keep = chunk.notna().to_numpy().any(axis=1)
    return chunk if keep.all() else chunk[keep]


def iter_chunks(
    path: Path,
    dialect: Dialect,
    usecols: list[str],
    text_cols: list[str],
    chunk_rows: int | None = None,
    end: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Read ``usecols`` of a delimited file in chunks of ``chunk_rows`` rows (default ``CHUNK_ROWS``; index =
    file line number).

    Numbers keep the file's decimal mark (pandas parses them); ``text_cols`` stay strings. Blank rows
    are dropped. Parser failures become GazekitError with the line where pandas stopped. ``end``: read only
    that many bytes (see :func:`check_not_truncated`).
    """
    import pandas as pd

    size = path.stat().st_size
    bar = _progress(path, size)
    with open(path, "rb") as raw, bar:
        checker = _CheckingReader(raw, bar, path, dialect.sep, len(dialect.columns), end)
        handle = io.BufferedReader(checker, buffer_size=2**20)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                reader = pd.read_csv(
                    handle,
                    sep=dialect.sep,
                    decimal=dialect.decimal,
                    encoding=dialect.encoding,
                    usecols=usecols,
                    dtype={c: str for c in text_cols},
                    keep_default_na=False,
                    na_values=[""],
                    index_col=False,
                    skip_blank_lines=False,
                    chunksize=chunk_rows or CHUNK_ROWS,
                    engine="c",
                )
                for chunk in reader:
                    chunk.index = chunk.index + 2  # file line numbers (line 1 is the header)
                    chunk = drop_blank_rows(chunk)
                    if len(chunk):
                        yield chunk
        except pd.errors.ParserError as exc:
            m = _C_ERROR_LINE.search(str(exc))
            where = f"line {m.group(1)}" if m else None
            raise GazekitError(
                path, where, f"expected one row per line with the header's fields: {_short(exc)}"
            ) from None
        except UnicodeDecodeError as exc:
            raise GazekitError(
                path, f"byte {exc.start}", f"expected {dialect.encoding} text, got binary data"
            ) from None
        except (ValueError, OverflowError) as exc:
            raise GazekitError(path, None, f"could not parse the file as a delimited export: {_short(exc)}") from None


class _NoProgress:
    """The progress bar of a small file or of output that is not a terminal: nothing shown (tqdm not imported)."""

    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc) -> None:
        pass


def _on_terminal() -> bool:
    """Whether stderr is a terminal: progress bars are shown there only (tqdm's ``disable=None`` rule, which
    render-heatmaps and qc follow too; in a log file a bar is noise)."""
    return sys.stderr.isatty()


def _progress(path: Path, size: int):
    """A tqdm bar of the bytes read from ``path`` when the file is larger than ``PROGRESS_MIN_BYTES`` and stderr is a
    terminal."""
    if size < PROGRESS_MIN_BYTES or not _on_terminal():
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=size, unit="B", unit_scale=True, desc=path.name, leave=False)


class FastPathError(Exception):
    """pyarrow's reader rejected the file (a field count, a number or a line it reads differently from
    pandas): read it again with :func:`iter_chunks`, whose errors say where and what."""


def iter_chunks_arrow(
    path: Path,
    dialect: Dialect,
    usecols: list[str],
    text_cols: list[str],
    chunk_rows: int | None = None,
) -> Iterator[Chunk]:
    """:func:`iter_chunks` with pyarrow's CSV parser, as :class:`Chunk` columns: the same chunks (the same rows,
    file line numbers, blank rows dropped), numbers as float64, ``text_cols`` as codes.

    The file is cut at line ends into segments of about ``SEGMENT_BYTES``; a background thread parses
    each with pyarrow's multi-threaded reader (only the needed columns, typed up front), at most
    ``SEGMENTS_AHEAD`` segments ahead of the caller, so memory stays bounded and both cores work. The
    chunks of ``chunk_rows`` rows are those pandas yields, so checks run on the same rows in the same
    order. Raises :class:`FastPathError` for anything pyarrow rejects (a row with another number of
    fields, a value that is not a number, a blank line, a line break in quotes, text that is not UTF-8)
    or reads as a number where pandas would not (nan, inf).
    """
    if dialect.encoding != "utf-8-sig":
        raise FastPathError("not UTF-8")
    names = list(dialect.columns)
    sep = dialect.sep.encode()
    header_bytes, first, newline = _first_lines(path)
    if first.count(sep) == len(names) and first.endswith(sep):  # one trailing separator per row
        names.append("\x00trailing")
    types = {c: pa.dictionary(pa.int32(), pa.string()) if c in text_cols else pa.float64() for c in usecols}
    options = {
        "read_options": pacsv.ReadOptions(column_names=names, block_size=ARROW_BLOCK_BYTES),
        "parse_options": pacsv.ParseOptions(delimiter=dialect.sep, ignore_empty_lines=False),
        "convert_options": pacsv.ConvertOptions(
            include_columns=usecols,
            column_types=types,
            decimal_point=dialect.decimal,
            null_values=[""],
            strings_can_be_null=True,
        ),
    }
    numeric = [c for c in usecols if c not in text_cols]
    size = path.stat().st_size
    bar = _progress(path, size)

    def tables() -> Iterator[pa.Table]:
        with open(path, "rb") as raw:
            raw.seek(header_bytes)
            for segment, lines in _segments(raw, newline):
                table = pacsv.read_csv(pa.BufferReader(segment), **options)
                if lines is not None and table.num_rows != lines:  # a line break in quotes: line numbers would be off
                    raise FastPathError(f"{table.num_rows} rows in {lines} lines")
                bar.update(len(segment))
                yield table

    try:
        with bar:
            for chunk in _arrow_chunks(_ahead(tables(), SEGMENTS_AHEAD), chunk_rows or CHUNK_ROWS, numeric):
                if len(chunk):
                    yield chunk
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise FastPathError(str(exc)) from None


def _first_lines(path: Path) -> tuple[int, bytes, bytes]:
    """(bytes of the header line with its line end, the first data line without it, the byte that ends a
    line: LF for LF and CRLF files, CR for CR-only files)."""
    with open(path, "rb") as fh:
        head = fh.read(2**20)
    ends = re.compile(rb"\r\n|\n|\r")
    m = ends.search(head)
    if m is None:
        return len(head), b"", b"\n"
    newline = b"\r" if m.group() == b"\r" else b"\n"
    nxt = ends.search(head, m.end())
    return m.end(), head[m.end() : nxt.start() if nxt else len(head)], newline


def _segments(raw, newline: bytes) -> Iterator[tuple[memoryview, int | None]]:
    """The rest of the open binary file ``raw`` in pieces of about ``SEGMENT_BYTES`` that end at a line end, with
    their number of lines, or None when the piece has no quote and no CR (then each LF ends one row for pyarrow:
    nothing to count). One buffer is reused: a piece is valid until the next one is asked for."""
    buf = bytearray(SEGMENT_BYTES)
    filled = 0
    while True:
        n = raw.readinto(memoryview(buf)[filled:])
        end = filled + n
        if n == 0:
            if filled:  # the last line has no line end
                yield memoryview(buf)[:filled], _lines(buf, filled, newline, 1)
            return
        cut = buf.rfind(newline, 0, end) + 1
        if cut == 0:  # no line end in the buffer yet: a longer one (a new object: the last piece may be in use)
            grown = bytearray(2 * len(buf))
            grown[:end] = buf[:end]
            buf, filled = grown, end
            continue
        yield memoryview(buf)[:cut], _lines(buf, cut, newline, 0)
        buf[: end - cut] = buf[cut:end]
        filled = end - cut


def _lines(buf: bytearray, end: int, newline: bytes, unended: int) -> int | None:
    """The lines of ``buf[:end]`` (``unended``: 1 when the last one has no line end), or None when it holds no quote
    and no CR: a quick search (memchr) instead of a count, so that a plain LF file is read without counting."""
    if newline == b"\n" and buf.find(b'"', 0, end) < 0 and buf.find(b"\r", 0, end) < 0:
        return None
    return buf.count(newline, 0, end) + unended


def _arrow_chunks(tables: Iterator[pa.Table], rows: int, numeric: list[str]) -> Iterator[Chunk]:
    """Tables -> chunks of ``rows`` rows each (the last one shorter) before blank rows are dropped."""
    pending: list[pa.Table] = []
    n_pending = 0
    line = 2  # file line of the next row (line 1 is the header)
    done = False
    while not done:
        table = next(tables, None)
        if table is None:
            done = True
        elif table.num_rows:
            pending.append(table)
            n_pending += table.num_rows
        while n_pending >= rows or (done and n_pending):
            table = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
            take = min(rows, n_pending)
            rest = table.slice(take)
            pending, n_pending = ([rest] if rest.num_rows else []), rest.num_rows
            yield _chunk(table.slice(0, take), numeric, line)
            line += take


def _chunk(table: pa.Table, numeric: list[str], line: int) -> Chunk:
    """A table of float64 and dictionary columns as a :class:`Chunk` without its blank rows: floats as
    :class:`Floats`, dictionaries as codes and their values. Raises :class:`FastPathError` for a number that pyarrow
    parsed as NaN or infinite."""
    numbers, texts = {}, {}
    columns = table.unify_dictionaries().columns
    dense = any(col.null_count == 0 for col in columns)  # then no row is blank
    filled = None if dense else np.zeros(table.num_rows, bool)  # rows with a value in any column
    for name, col in zip(table.column_names, columns, strict=True):
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if name in numeric:
            values = np.frombuffer(arr.buffers()[1], dtype="<f8", count=arr.offset + len(arr))[arr.offset :]
            valid = _valid(arr) if arr.null_count else None
            # "nan", "inf" or "1e400" in the file, which pandas keeps as text (whose errors say where); one sum finds
            # none in the usual case (what an empty field holds, 0 as pyarrow writes it, does not matter: then the
            # exact test runs)
            if not np.isfinite(values.sum()) and not np.isfinite(values[valid] if valid is not None else values).all():
                raise FastPathError(f"a non-finite number in {name!r}")
            if filled is not None:  # not dense: every column has an empty field
                filled |= valid
            numbers[name] = Floats(values, valid)
        else:
            codes = _codes(arr)
            if filled is not None:
                filled |= codes >= 0
            texts[name] = codes, arr.dictionary.to_pylist()
    lines = np.arange(line, line + table.num_rows, dtype=np.int64)
    if filled is None or filled.all():
        return Chunk(lines, numbers, texts)
    keep = np.flatnonzero(filled)
    return Chunk(
        lines[keep],
        {k: Floats(v.values[keep], None if v.valid is None else v.valid[keep]) for k, v in numbers.items()},
        {k: (c[keep], n) for k, (c, n) in texts.items()},
    )


# Arrays are read from their buffers: pyarrow's own conversions (``to_numpy`` with nulls, ``fill_null``) import
# pandas or pyarrow.compute, which the fast path does without.


def _codes(arr: pa.DictionaryArray) -> np.ndarray:
    """The indices of a dictionary array as int64, -1 where null."""
    idx = arr.indices
    width = idx.type.bit_width // 8
    codes = np.frombuffer(idx.buffers()[1], dtype=f"<i{width}", count=idx.offset + len(idx))[idx.offset :]
    codes = codes.astype(np.int64)
    if idx.null_count:
        codes[~_valid(idx)] = -1
    return codes


def _valid(arr: pa.Array) -> np.ndarray:
    """The validity bitmap of an array with nulls as bools."""
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + len(arr)].astype(bool)


def _ahead(items: Iterator, depth: int) -> Iterator:
    """``items`` produced by a background thread, at most ``depth`` ahead; its errors re-raised here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((end, exc))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is end:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join()


def numbers(path: Path, series: pd.Series, column: str, decimal: str, *, allow_missing: bool = True) -> np.ndarray:
    """A column as float64; raises GazekitError at the first value that is not a number (line, column)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
    else:
        text = series.astype("str").where(series.notna(), None).str.strip()
        if decimal == ",":
            canonical = text.str.replace(".", "\x00", regex=False).str.replace(",", ".", regex=False)
        else:
            canonical = text
        parsed = pd.to_numeric(canonical, errors="coerce")
        bad = parsed.isna() & text.notna() & text.ne("") & ~text.str.lower().isin(["nan", "na", "n/a", "null"])
        if bad.any():
            line = bad.index[np.flatnonzero(bad.to_numpy())[0]]
            got = text.loc[line]
            other = "." if decimal == "," else ","
            hint = (
                f" with decimal mark {decimal!r} (detected from the file's first rows)"
                if other in got and _looks_numeric(got.replace(other, "."))
                else ""
            )
            raise GazekitError(path, f"line {line}, column {column!r}", f"expected a number{hint}, got {got!r}")
        values = parsed.to_numpy(dtype=float, na_value=np.nan)
    if not allow_missing:
        require_values(
            path, values, series.index, column, lambda i: series.iloc[i] if pd.notna(series.iloc[i]) else None
        )
    return values


def require_values(
    path: Path, values: np.ndarray, lines, column: str, raw: Callable[[int], object] | None = None
) -> None:
    """Raises GazekitError at the first value of ``values`` that is empty or not finite (file ``lines``, column);
    ``raw(i)`` is what the file held there (None = an empty field; default: the value)."""
    missing = ~np.isfinite(values)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        got = raw(i) if raw is not None else (None if np.isnan(values[i]) else values[i])
        got = "an empty field" if got is None else repr(str(got))
        raise GazekitError(path, f"line {lines[i]}, column {column!r}", f"expected a number, got {got}")


def _encoding(path: Path) -> str:
    """utf-8 (with or without BOM) when the first 64 KiB decode as UTF-8, else cp1252."""
    with open(path, "rb") as fh:
        raw = fh.read(2**16)
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(raw, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
