"""Benchmark: `gazekit convert` on a generated multi-million-row Tobii Pro Lab export (101 columns, decimal
commas, 300 Hz, 2 participants) against plain ``pandas.read_csv(sep="\\t", decimal=",")`` + groupby.

Each measurement runs in a fresh subprocess that reports its own wall time (work only, after imports) and
peak RSS (``VmHWM`` of /proc/self/status, imports included); medians over ``--repeats``
runs, baseline and ours alternating. Two file sizes show whether memory stays bounded as the file grows.

    python benchmarks/convert.py [--rows 500000,2000000] [--repeats 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
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
mode, path, out = sys.argv[1:4]
import pandas as pd
from gazekit.cli import main
t0 = time.perf_counter()
if mode == "imports":
    n = 0
elif mode == "gazekit":
    main(["convert", path, "-o", out], standalone_mode=False)
    n = pd.read_parquet(out, columns=["t_start_ms"]).shape[0]
else:
    df = pd.read_csv(path, sep="\t", decimal=",", low_memory=False)
    fix = df[df["Eye movement type"] == "Fixation"]
    g = fix.groupby(["Participant name", "Recording name", "Eye movement type index"]).agg(
        t_start_ms=("Recording timestamp [ms]", "min"),
        duration_ms=("Eye movement event duration [ms]", "first"),
        x=("Fixation point X [DACS px]", "first"),
        y=("Fixation point Y [DACS px]", "first"),
    )
    n = len(g)
seconds = time.perf_counter() - t0
try:  # VmHWM belongs to this process image (ru_maxrss would carry the parent's RSS over fork + exec)
    status = open("/proc/self/status").read()
    peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
except (OSError, IndexError):
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "fixations": n, "peak_rss_mb": peak_mb}))
"""


def measure(mode: str, path: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="500000,2000000", help="eye-tracker rows of each file (comma-separated)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None, help="where to generate the files (default: a temp dir)")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.rows.split(","))
    work = Path(tempfile.mkdtemp(prefix="gazekit-bench-", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        big = work / "export_big.tsv"
        write_prolab_export(big, n_rows=sizes[-1] // 2, participants=("Reader A", "Reader B"), n_images=40)
        print(f"generated {big.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t0:.0f} s", flush=True)
        files = {}
        for rows in sizes:
            if rows == sizes[-1]:
                files[rows] = big
                continue
            files[rows] = work / f"export_{rows}.tsv"
            with open(big, "rb") as src, open(files[rows], "wb") as dst:  # a prefix: header + first rows
                for _ in range(rows + 1):
                    dst.write(src.readline())
        header = (
            f"{'rows':>9} {'MiB':>6} | {'pandas s':>8} {'gazekit s':>9} {'speed-up':>8} | "
            f"{'pandas rows/s':>13} {'gazekit rows/s':>14} | {'pandas MiB':>10} {'gazekit MiB':>11} {'mem ratio':>9}"
        )
        print(header)
        print("-" * len(header))
        for rows in sizes:
            path = files[rows]
            n_lines = sum(1 for _ in open(path, "rb")) - 1  # all rows (eye tracker + mouse + events)
            runs = {"pandas": [], "gazekit": []}
            for _ in range(args.repeats):
                for mode in runs:
                    runs[mode].append(measure(mode, path, work / "out.parquet"))
            assert {r["fixations"] for r in runs["pandas"] + runs["gazekit"]} == {runs["pandas"][0]["fixations"]}
            s = {m: statistics.median(r["seconds"] for r in v) for m, v in runs.items()}
            mem = {m: statistics.median(r["peak_rss_mb"] for r in v) for m, v in runs.items()}
            rate = {m: n_lines / v for m, v in s.items()}
            print(
                f"{n_lines:>9} {path.stat().st_size / 2**20:>6.0f} | {s['pandas']:>8.1f} {s['gazekit']:>9.1f} "
                f"{s['pandas'] / s['gazekit']:>7.2f}x | {rate['pandas']:>13,.0f} {rate['gazekit']:>14,.0f}"
                f" | {mem['pandas']:>10.0f} {mem['gazekit']:>11.0f} {mem['pandas'] / mem['gazekit']:>8.1f}x",
                flush=True,
            )
        floor = measure("imports", big, work / "out.parquet")["peak_rss_mb"]
        print(f"peak RSS of a child after its imports alone: {floor:.0f} MiB (included in both MiB columns)")
        print(f"fixations agree; {args.repeats} runs each, medians; total {time.perf_counter() - t0:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
