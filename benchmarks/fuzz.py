"""Deterministic mutation fuzzer for ``gazekit convert`` over the shared real recordings.

Each case mutates one real file (byte flips, truncation at any offset incl. mid-field and mid-UTF-8,
deleted / duplicated / swapped lines, deleted header, decimal commas, CR-only and UTF-16 files, one huge
line, lost newlines, reversed timestamps) and runs ``gazekit convert`` in-process (click's CliRunner, in a
forked child so a hang can be stopped at the time limit). Per format it counts: clean errors (exit 2, one
``error:`` line), successes (exit 0 and a readable table), tracebacks (anything else), slow cases (over the
limit), outputs left after a failure, inputs modified, and Python warnings that reached the user.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/fuzz.py --cases 1200 --json fuzz.json

The seeds are read from ``$GAZEKIT_SHARED_DATA`` (default ``../shared/data``): gaze-samples/* and the first
400 lines of kvasir-seg/fixations.csv; the Tobii Pro Lab and Tobii SDK files are cut to their first
lines to keep a case fast, and a small Gazepoint export is written here (there is no real one).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAZEKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
SCREEN = ["--screen-px", "1920x1080", "--screen-mm", "531x299", "--distance-mm", "650"]
MUTATIONS = (
    "byte_flip",
    "truncate",
    "truncate_mid_utf8",
    "delete_line",
    "duplicate_line",
    "swap_lines",
    "delete_header",
    "decimal_comma",
    "cr_only",
    "utf16",
    "huge_line",
    "lost_newlines",
    "reversed_timestamps",
    "field_junk",
)
HUGE_LINE_NUMBERS = 500_000


@dataclass(frozen=True)
class Seed:
    format: str
    name: str
    data: bytes
    args: tuple[str, ...]


def _head(path: Path, n_lines: int) -> bytes:
    with open(path, "rb") as fh:
        return b"".join(fh.readline() for _ in range(n_lines))


def _gazepoint() -> bytes:
    """A Gazepoint GP3 'all gaze' export in the documented layout (FPOG* normalised to the screen)."""
    head = (
        "MEDIA_ID,MEDIA_NAME,CNT,TIME(2024/03/01 10:00:00.000),TIMETICK(f=10000000),FPOGX,FPOGY,FPOGS,FPOGD,"
        "FPOGID,FPOGV,LPOGX,LPOGY,LPOGV,RPOGX,RPOGY,RPOGV,LPMM,LPMMV,RPMM,RPMMV,\n"
    )
    rng = random.Random(0)
    rows, fid, start, x, y = [], 1, 0.0, 0.5, 0.5
    for i in range(240):
        t = i / 60.0
        if i % 20 == 0:
            fid, start, x, y = fid + 1, t, rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
        rows.append(
            f"0,scan_01.dcm,{i},{t:.5f},{i * 166667},{x:.5f},{y:.5f},{start:.5f},{t - start + 1 / 60:.5f},{fid},1,"
            f"{x - 0.01:.4f},{y:.4f},1,{x + 0.01:.4f},{y:.4f},1,3.5,1,3.6,1,\n"
        )
    return (head + "".join(rows)).encode()


def seeds(shared: Path = SHARED) -> list[Seed]:
    g = shared / "gaze-samples"
    return [
        Seed("eyelink-asc", "monocular.asc", (g / "pymovements_eyelink_monocular_example.asc").read_bytes(), ()),
        Seed("eyelink-asc", "binocular.asc", (g / "pymovements_eyelink_binocular_example.asc").read_bytes(), ()),
        Seed("pupil-core", "fixations.csv", (g / "pupilcore_fixations.csv").read_bytes(), tuple(SCREEN)),
        Seed("tobii-sdk", "gaze.csv", _head(g / "tobiisdk_tobii_research_sample_gaze_data.csv", 400), tuple(SCREEN)),
        Seed(
            "tobii-prolab",
            "alex1.tsv",
            _head(g / "tobiiprolab_bracketed_ivt_normal_alex1_first5000.tsv", 600),
            ("--image-rect", "0,0,1920,1080", "--image-size", "1920,1080"),
        ),
        Seed("fixation-report", "fixations.csv", _head(shared / "kvasir-seg" / "fixations.csv", 400), ()),
        Seed("gazepoint", "user_0_all_gaze.csv", _gazepoint(), tuple(SCREEN)),
    ]


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def mutate(data: bytes, op: str, rng: random.Random) -> bytes:
    """One mutation ``op`` of ``data`` (deterministic for a given ``rng`` state)."""
    lines = _lines(data)
    if op == "byte_flip":
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(buf))
            buf[i] = rng.choice([buf[i] ^ (1 << rng.randrange(8)), rng.randrange(256)])
        return bytes(buf)
    if op == "truncate":
        return data[: rng.randrange(len(data))]
    if op == "truncate_mid_utf8":
        i = rng.randrange(1, len(lines))
        lines[i] = lines[i].rstrip(b"\r\n") + "µé".encode() + b"\n"
        out = b"".join(lines)
        cut = out.index("é".encode(), sum(len(x) for x in lines[:i])) + 1  # inside the 2-byte é
        return out[:cut]
    if op == "delete_line" and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    elif op == "duplicate_line":
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif op == "swap_lines" and len(lines) > 2:
        i = rng.randrange(len(lines) - 1)
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif op == "delete_header":
        lines = lines[1:]
    elif op == "decimal_comma":
        i = rng.randrange(1, len(lines)) if rng.random() < 0.7 else None
        for k in range(len(lines)) if i is None else [i]:
            lines[k] = _decimal_comma(lines[k])
    elif op == "cr_only":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    elif op == "utf16":
        return data.decode("utf-8", "replace").encode("utf-16")
    elif op == "huge_line":
        sep = b"\t" if lines[0].count(b"\t") >= lines[0].count(b",") else b","
        huge = sep.join(str(rng.randrange(10_000)).encode() for _ in range(HUGE_LINE_NUMBERS)) + b"\n"
        lines.insert(rng.randrange(1, len(lines) + 1), huge)
    elif op == "lost_newlines":
        return data.replace(b"\r", b"").replace(b"\n", b"")
    elif op == "reversed_timestamps":
        lines = lines[:1] + lines[1:][::-1]
        if not lines[-1].endswith(b"\n"):
            lines = [x.rstrip(b"\r\n") + b"\n" for x in lines]
    elif op == "field_junk":
        i = rng.randrange(len(lines))
        sep = b"\t" if lines[i].count(b"\t") >= lines[i].count(b",") else b","
        fields = lines[i].rstrip(b"\r\n").split(sep)
        junk = [b"", b".", b"nan", b"-", b"1e400", b"-9223372036854775809", b"9" * 30, b'"', "é".encode(), b"inf"]
        fields[rng.randrange(len(fields))] = rng.choice(junk)
        lines[i] = sep.join(fields) + b"\n"
    return b"".join(lines)


def _decimal_comma(line: bytes) -> bytes:
    """Every ``1.5``-like number of a line written with a decimal comma."""
    import re

    return re.sub(rb"(?<=\d)\.(?=\d)", b",", line)


def _case(i: int, base_seed: int, pool: list[Seed]) -> tuple[Seed, str, bytes]:
    rng = random.Random(f"{base_seed}:{i}")
    seed = pool[i % len(pool)]
    op = MUTATIONS[(i // len(pool)) % len(MUTATIONS)]
    return seed, op, mutate(seed.data, op, rng)


def _run_one(seed: Seed, data: bytes, tmp: Path, conn) -> None:
    """In the forked child: write the input, run convert, send back a small result dict."""
    from click.testing import CliRunner

    from gazekit.cli import main

    src = tmp / "in" / seed.name
    src.parent.mkdir()
    src.write_bytes(data)
    out = tmp / "out" / "fixations.parquet"
    out.parent.mkdir()
    digest = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(main, ["convert", str(src), "-o", str(out), *seed.args])
    text = res.output
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        kind = "traceback"
        text = "".join(traceback.format_exception(res.exception))[-2000:]
    elif res.exit_code == 0:
        kind = "success"
        try:
            from gazekit import tables

            tables.read_table("fixations", out)
        except Exception as exc:  # noqa: BLE001 - any failure to read back is a finding
            kind, text = "traceback", f"output not readable: {exc}"
    elif res.exit_code == 2 and text.startswith("error: ") and len(text.strip().splitlines()) == 1:
        kind = "clean_error"
    else:
        kind = "traceback"
    left = sorted(p.name for p in out.parent.iterdir()) if kind != "success" else []
    conn.send(
        {
            "kind": kind,
            "text": text.strip()[-500:],
            "left": left,
            "modified": hashlib.sha256(src.read_bytes()).hexdigest() != digest,
            "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:80]}" for w in caught}),
        }
    )


def run(n_cases: int, base_seed: int = 0, limit_s: float = 10.0, only: str | None = None, verbose=False) -> dict:
    """Run ``n_cases`` cases; returns {"formats": {format: counts}, "findings": [...]}."""
    import gazekit.cli  # noqa: F401 - imported once here, inherited by every forked child
    import gazekit.readers  # noqa: F401

    pool = [s for s in seeds() if only is None or s.format == only]
    ctx = mp.get_context("fork")
    counts: dict[str, Counter] = {}
    findings = []
    for i in range(n_cases):
        seed, op, data = _case(i, base_seed, pool)
        c = counts.setdefault(seed.format, Counter())
        c["cases"] += 1
        with tempfile.TemporaryDirectory(prefix="gazekit-fuzz-") as tmp:
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_run_one, args=(seed, data, Path(tmp), child))
            t0 = time.perf_counter()
            proc.start()
            child.close()
            got = parent.recv() if parent.poll(limit_s) else None
            seconds = time.perf_counter() - t0
            if got is None:
                proc.kill()
            proc.join()
        if got is None:
            got = {"kind": "slow", "text": f"over {limit_s:g} s", "left": [], "modified": False, "warnings": []}
        c[got["kind"]] += 1
        c["outputs_left"] += bool(got["left"])
        c["inputs_modified"] += got["modified"]
        c["py_warnings"] += bool(got["warnings"])
        bad = got["kind"] in ("traceback", "slow") or got["left"] or got["modified"] or got["warnings"]
        if bad:
            findings.append({"case": i, "format": seed.format, "file": seed.name, "mutation": op, **got})
        if verbose:
            print(f"{i:5d} {seed.format:16s} {op:20s} {got['kind']:12s} {seconds:6.2f} s", file=sys.stderr)
    return {"formats": {k: dict(v) for k, v in counts.items()}, "findings": findings}


COLUMNS = ("cases", "clean_error", "success", "traceback", "slow", "outputs_left", "inputs_modified", "py_warnings")


def format_table(formats: dict) -> str:
    rows = [("format", *COLUMNS)] + [(f, *(str(c.get(k, 0)) for k in COLUMNS)) for f, c in sorted(formats.items())]
    total = ("total", *(str(sum(c.get(k, 0) for c in formats.values())) for k in COLUMNS))
    rows.append(total)
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    pad = [[v.rjust(w) if j else v.ljust(w) for j, (v, w) in enumerate(zip(r, widths, strict=True))] for r in rows]
    return "\n".join("  ".join(r) for r in pad)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per case")
    ap.add_argument("--only", default=None, help="one format, e.g. eyelink-asc")
    ap.add_argument("--json", type=Path, default=None, help="write counts and findings here")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = run(args.cases, args.seed, args.time_limit, args.only, args.verbose)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(format_table(result["formats"]))
    print(f"{args.cases} cases in {result['seconds']} s; findings: {len(result['findings'])}")
    for f in result["findings"][:20]:
        print(f"  case {f['case']} {f['format']} {f['mutation']}: {f['kind']} {f['text'][-160:]!r} {f['warnings']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    bad = sum(c.get(k, 0) for c in result["formats"].values() for k in COLUMNS[3:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
