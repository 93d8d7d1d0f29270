"""Benchmark: `gazekit convert` against plain pandas and against pyarrow's raw streaming CSV read, side by side.

Inputs (each at two sizes, to show whether memory stays bounded as the file grows):
- the real Tobii Pro Lab export of the shared data (101 columns, decimal commas) repeated as ``--copies``
  recordings (5000 rows each; recording name made unique per copy);
- a generated Pro Lab export (examples/make_tobii_export.py: 101 columns, decimal commas, 300 Hz,
  2 participants) of ``--rows`` rows;
- ``--asc``: the shared binocular EyeLink ASC repeated ``--asc-copies`` times (timestamps shifted),
  gazekit's ASC reader against pymovements' ASC parser (``pymovements.gaze.from_asc``).

Methods: ``pandas`` = ``pandas.read_csv(sep, decimal)`` + filter + groupby (no output written);
``pyarrow`` = ``pyarrow.csv.open_csv`` with ``include_columns`` = the columns gazekit reads,
``column_types`` and ``decimal_point`` (defaults otherwise: 1 MiB blocks, threads on), batches counted;
``pyarrow-1t`` = the same read with ``use_threads=False`` (pyarrow's single-threaded streaming read);
``gazekit`` = the whole ``gazekit convert`` command including the Parquet file. Each measurement runs in a
fresh subprocess with ``OMP_NUM_THREADS`` = ``--threads`` (default: all cpus; pyarrow's thread pool
follows it, pandas parses on one) that reports its own wall time (work only, after imports) and peak RSS
(``VmHWM``, imports included); medians over ``--repeats`` runs, the methods alternating.

End to end (second table): the wall time of a whole fresh process, interpreter start and imports included, as
a user runs it: ``python -m gazekit convert FILE -o OUT`` against a script that imports only pyarrow and
streams the same columns single-threaded (``pyarrow-1t`` above); the work-only ratio of the same pair is
printed beside it. Caches warm: the bytecode of gazekit is compiled first (the environment may forbid writing
it) and each process runs once untimed. Where gazekit's time goes (third table), from fresh processes timed in
the same rounds, each importing a little more: the interpreter alone (``python -c pass``); + pyarrow.csv (with
numpy: what the baseline imports too); + everything ``gazekit convert`` imports before its work (click, gazekit's
modules); the rest of gazekit's end-to-end time is its work and exit. The last column, for reference, is what
``import pandas`` adds to pyarrow.csv (the convert of a Tobii export no longer imports it).

    python benchmarks/convert.py [--copies 80,240] [--rows 400000,1200000] [--repeats 3] [--threads N] [--asc]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from examples.make_tobii_export import write_prolab_export  # noqa: E402

CHILD = r"""
import json, resource, sys, time
mode, path, out, spec = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from gazekit.cli import main
from gazekit import tables  # what `gazekit convert` imports on its way, as pandas above
from gazekit.convert import pipeline as conv
from gazekit.convert import detectors
from gazekit.readers import eyelink_asc, tobii_prolab
t0 = time.perf_counter()
if mode == "imports":
    n = 0
elif mode in ("gazekit", "gazekit-asc"):
    main(["convert", path, "-o", out], standalone_mode=False)
    n = None  # counted from the output after the clock stops
elif mode in ("pyarrow", "pyarrow-1t"):
    types = {c: pa.dictionary(pa.int32(), pa.string()) if c in spec["text"] else pa.float64() for c in spec["usecols"]}
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=mode == "pyarrow"),
        parse_options=pacsv.ParseOptions(delimiter=spec["sep"]),
        convert_options=pacsv.ConvertOptions(
            include_columns=spec["usecols"], column_types=types, decimal_point=spec["decimal"]
        ),
    )
    n = -1
    rows = sum(b.num_rows for b in reader)
elif mode == "pymovements-asc":
    import pymovements as pm
    gaze = pm.gaze.from_asc(path, events=True)
    n = -1
else:
    r = spec["roles"]
    df = pd.read_csv(path, sep=spec["sep"], decimal=spec["decimal"], low_memory=False)
    fix = df[df[r["type"]] == "Fixation"]
    g = fix.groupby([r["participant"], r["recording"], r["index"]]).agg(
        t_start_ms=(r["time"], "min"), duration_ms=(r["duration"], "first"), x=(r["x"], "first"), y=(r["y"], "first")
    )
    n = len(g)
seconds = time.perf_counter() - t0
if n is None:
    n = pd.read_parquet(out, columns=["t_start_ms"]).shape[0]
try:  # VmHWM belongs to this process image (ru_maxrss would carry the parent's RSS over fork + exec)
    status = open("/proc/self/status").read()
    peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
except (OSError, IndexError):
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "fixations": n, "peak_rss_mb": peak_mb}))
"""


# what `gazekit convert` imports before its work (the modules that the command function imports, and the CLI)
CONVERT_IMPORTS = (
    "from gazekit.cli import main; from gazekit import tables; from gazekit.convert import detectors, pipeline; "
    "from gazekit.geometry import screen_fields_from_cli; from gazekit.readers import ReadOptions"
)

# end to end, the baseline: a fresh process that imports pyarrow alone and streams the columns on one thread
PYARROW_ALONE = r"""
import json, sys
import pyarrow as pa
import pyarrow.csv as pacsv
path, spec = sys.argv[1], json.loads(sys.argv[2])
types = {c: pa.dictionary(pa.int32(), pa.string()) if c in spec["text"] else pa.float64() for c in spec["usecols"]}
reader = pacsv.open_csv(
    path,
    read_options=pacsv.ReadOptions(use_threads=False),
    parse_options=pacsv.ParseOptions(delimiter=spec["sep"]),
    convert_options=pacsv.ConvertOptions(
        include_columns=spec["usecols"], column_types=types, decimal_point=spec["decimal"]
    ),
)
print(sum(b.num_rows for b in reader))
"""


def measure_end_to_end(mode: str, path: Path, out: Path, spec: dict) -> float:
    """Wall seconds of one whole fresh process (start, imports, work, exit)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = {
        "gazekit": [sys.executable, "-m", "gazekit", "convert", str(path), "-o", str(out)],
        "pyarrow-1t": [sys.executable, "-c", PYARROW_ALONE, str(path), json.dumps(spec)],
        "python": [sys.executable, "-c", "pass"],
        "+pyarrow": [sys.executable, "-c", "import pyarrow.csv"],
        "+pandas": [sys.executable, "-c", "import pyarrow.csv, pandas"],
        "+gazekit": [sys.executable, "-c", f"import pyarrow.csv; {CONVERT_IMPORTS}"],
    }[mode]
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t0


def compare_end_to_end(files: dict[str, Path], work: Path, repeats: int, spec_of) -> None:
    """One line per file: whole-process seconds of pyarrow-1t alone and of ``python -m gazekit convert``, the
    end-to-end ratio (> 1 = gazekit faster) and the work-only ratio of the same pair (imports excluded); then
    where gazekit's seconds go (interpreter, imports, of which pandas, work), from processes timed alongside."""
    out = work / "out.parquet"
    compileall.compile_dir(REPO / "gazekit", quiet=1)  # warm bytecode even under PYTHONDONTWRITEBYTECODE
    parts: dict[str, dict[str, float]] = {}
    header = (
        f"{'file':<16} {'rows':>9} | {'pyarrow-1t e2e s':>16} {'gazekit e2e s':>13} {'e2e ratio':>9} | "
        f"{'pyarrow-1t work s':>17} {'gazekit work s':>14} {'work ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    for label, path in files.items():
        spec = spec_of(path)
        n_lines = sum(1 for _ in open(path, "rb")) - 1
        modes = ("pyarrow-1t", "gazekit", "python", "+pyarrow", "+pandas", "+gazekit")
        e2e: dict[str, list[float]] = {m: [] for m in modes}
        only: dict[str, list[float]] = {"pyarrow-1t": [], "gazekit": []}
        for mode in e2e:  # warm-up, untimed: page cache, bytecode
            measure_end_to_end(mode, path, out, spec)
        for _ in range(repeats):
            for mode in e2e:
                e2e[mode].append(measure_end_to_end(mode, path, out, spec))
                if mode in only:
                    only[mode].append(measure(mode, path, out, spec)["seconds"])
        e = {m: statistics.median(v) for m, v in e2e.items()}
        w = {m: statistics.median(v) for m, v in only.items()}
        parts[label] = {
            "e2e": e["gazekit"],
            "python": e["python"],
            "pyarrow, numpy": e["+pyarrow"] - e["python"],
            "click, gazekit": e["+gazekit"] - e["+pyarrow"],
            "work, exit": e["gazekit"] - e["+gazekit"],
            "pandas alone": e["+pandas"] - e["+pyarrow"],
        }
        print(
            f"{label:<16} {n_lines:>9} | {e['pyarrow-1t']:>16.2f} {e['gazekit']:>13.2f} "
            f"{e['pyarrow-1t'] / e['gazekit']:>8.2f}x | {w['pyarrow-1t']:>17.2f} {w['gazekit']:>14.2f} "
            f"{w['pyarrow-1t'] / w['gazekit']:>9.2f}x",
            flush=True,
        )
    print("\nWhere gazekit's end-to-end seconds go (differences of the medians of processes importing more and more):")
    columns = ["e2e", "python", "pyarrow, numpy", "click, gazekit", "work, exit", "pandas alone"]
    header = f"{'file':<16} | " + " ".join(f"{c + (' s' if c == 'e2e' else ''):>14}" for c in columns)
    print(header)
    print("-" * len(header))
    for label, p in parts.items():
        print(f"{label:<16} | " + " ".join(f"{p[c]:>14.2f}" for c in columns))


def measure(mode: str, path: Path, out: Path, spec: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # OMP_NUM_THREADS: --threads (pyarrow's thread pool follows it)
    r = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), str(out), json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])


def reader_spec(path: Path) -> dict:
    """The columns gazekit's Tobii reader asks its CSV parser for (captured), separator, decimal mark, roles."""
    from gazekit.convert import pipeline as conv
    from gazekit.readers import _delimited, _tobii

    class Captured(Exception):
        pass

    got: dict = {}

    def capture(p, dialect, usecols, text_cols, chunk_rows=None):
        cols = dialect.columns
        got.update(usecols=list(usecols), text=list(text_cols), sep=dialect.sep, decimal=dialect.decimal)
        find = _delimited.find_column
        got["roles"] = {
            "time": find(cols, "recording timestamp", ("ms", "μs", "us")),
            "type": find(cols, "eye movement type"),
            "index": find(cols, "eye movement type index"),
            "participant": find(cols, "participant name"),
            "recording": find(cols, "recording name"),
            "duration": find(cols, "eye movement event duration", ("ms", ""))
            or find(cols, "gaze event duration", ("ms", "")),
            "x": find(cols, "fixation point x", ("dacspx", "px")),
            "y": find(cols, "fixation point y", ("dacspx", "px")),
        }
        raise Captured

    original = _tobii.iter_chunks_arrow
    _tobii.iter_chunks_arrow = capture
    try:
        conv.convert([path])
    except Captured:
        pass
    finally:
        _tobii.iter_chunks_arrow = original
    return got


def repeat_real(src: Path, dst: Path, copies: int) -> None:
    """The real export with its rows repeated ``copies`` times, each copy a recording of its own."""
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    head, body = lines[0], lines[1:]
    col = head.rstrip("\r\n").split("\t").index("Recording name")
    with open(dst, "w", encoding="utf-8") as out:
        out.write(head)
        for k in range(copies):
            for line in body:
                f = line.split("\t")
                f[col] = f"{f[col]}_{k:03d}"
                out.write("\t".join(f))


def repeat_asc(src: Path, dst: Path, copies: int) -> None:
    """An ASC file with its START..END block repeated, tracker times shifted so that they keep increasing."""
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("START"))
    times = [int(t) for t in re.findall(r"\b1[34]\d{5}\b", "".join(lines[start:]))]
    span = max(times) - min(times) + 1000
    stamp = re.compile(r"\b1[34]\d{5}\b")
    with open(dst, "w", encoding="utf-8") as out:
        out.writelines(lines[:start])
        for k in range(copies):
            for line in lines[start:]:
                out.write(stamp.sub(lambda m, k=k: str(int(m.group()) + k * span), line))


def compare(files: dict[str, Path], work: Path, repeats: int, baselines: tuple[str, ...], ours: str, spec_of) -> None:
    """One line per file: seconds, ratio of ours vs each baseline (> 1 = ours faster), rows/s, peak MiB."""
    out = work / "out.parquet"
    modes = (*baselines, ours)
    header = (
        f"{'file':<16} {'rows':>9} {'MiB':>5} | "
        + " ".join(f"{m + ' s':>10}" for m in modes)
        + " | "
        + " ".join(f"{'vs ' + m:>10}" for m in baselines)
        + " | "
        + " ".join(f"{m + ' rows/s':>15}" for m in modes)
        + " | "
        + " ".join(f"{m + ' MiB':>12}" for m in modes)
    )
    print(header)
    print("-" * len(header))
    for label, path in files.items():
        spec = spec_of(path)
        n_lines = sum(1 for _ in open(path, "rb")) - 1
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for _ in range(repeats):
            for mode in modes:
                runs[mode].append(measure(mode, path, out, spec))
        counts = {m: sorted({r["fixations"] for r in runs[m]}) for m in modes if runs[m][0]["fixations"] >= 0}
        assert len({n for c in counts.values() for n in c}) == 1, f"{label}: fixations per method differ: {counts}"
        s = {m: statistics.median(r["seconds"] for r in v) for m, v in runs.items()}
        mem = {m: statistics.median(r["peak_rss_mb"] for r in v) for m, v in runs.items()}
        print(
            f"{label:<16} {n_lines:>9} {path.stat().st_size / 2**20:>5.0f} | "
            + " ".join(f"{s[m]:>10.2f}" for m in modes)
            + " | "
            + " ".join(f"{s[m] / s[ours]:>9.2f}x" for m in baselines)
            + " | "
            + " ".join(f"{n_lines / s[m]:>15,.0f}" for m in modes)
            + " | "
            + " ".join(f"{mem[m]:>12.0f}" for m in modes),
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", default="80,240", help="recordings of the repeated real export (comma-separated)")
    ap.add_argument("--rows", default="400000,1200000", help="eye-tracker rows of the generated export")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="OMP_NUM_THREADS of the children")
    ap.add_argument("--asc", action="store_true", help="also EyeLink ASC: gazekit vs pymovements")
    ap.add_argument("--end-to-end-only", action="store_true", help="only the end-to-end table (no pandas runs)")
    ap.add_argument("--asc-copies", default="200,600", help="repetitions of the binocular ASC example")
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("GAZEKIT_SHARED_DATA", REPO.parent / "shared/data"))
    )
    ap.add_argument("--workdir", type=Path, default=None, help="where to generate the files (default: a temp dir)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gazekit-bench-", dir=args.workdir))
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    print(f"OMP_NUM_THREADS={args.threads} in every child, cpus={os.cpu_count()}, {args.repeats} runs each, medians")
    try:
        t0 = time.perf_counter()
        files: dict[str, Path] = {}
        real = args.data / "gaze-samples" / "tobiiprolab_bracketed_ivt_normal_alex1_first5000.tsv"
        if real.exists():
            for copies in (int(c) for c in args.copies.split(",") if c):
                files[f"real x{copies}"] = work / f"real_{copies}.tsv"
                repeat_real(real, files[f"real x{copies}"], copies)
        else:
            print(f"real export not found: {real} (--data)")
        for rows in (int(r) for r in args.rows.split(",") if r):
            files[f"generated {rows // 1000}k"] = work / f"generated_{rows}.tsv"
            write_prolab_export(
                files[f"generated {rows // 1000}k"],
                n_rows=rows // 2,
                participants=("Reader A", "Reader B"),
                n_images=40,
            )
        print(f"inputs written in {time.perf_counter() - t0:.0f} s", flush=True)
        specs = {p: reader_spec(p) for p in files.values()}
        if not args.end_to_end_only:
            compare(files, work, args.repeats, ("pandas", "pyarrow", "pyarrow-1t"), "gazekit", specs.__getitem__)
        print("\nEnd to end (whole fresh process: start, imports, work, exit) vs work only, against pyarrow-1t:")
        compare_end_to_end(files, work, args.repeats, specs.__getitem__)
        if args.asc:
            src = args.data / "gaze-samples" / "pymovements_eyelink_binocular_example.asc"
            asc = {}
            for copies in (int(c) for c in args.asc_copies.split(",") if c):
                asc[f"asc x{copies}"] = work / f"binocular_{copies}.asc"
                repeat_asc(src, asc[f"asc x{copies}"], copies)
            print("\nEyeLink ASC (rows = all lines):")
            compare(asc, work, args.repeats, ("pymovements-asc",), "gazekit-asc", lambda p: {})
        floor = measure("imports", next(iter(files.values())), work / "out.parquet", {})["peak_rss_mb"]
        print(f"peak RSS of a child after its imports alone: {floor:.0f} MiB (included in every MiB column)")
        print(f"total {time.perf_counter() - t0:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
