"""Heatmap rendering speed: gazekit's separable renderer vs the GazeMedSeg recipe, side by side.

    OMP_NUM_THREADS=1 python benchmarks/heatmaps.py [--data ../shared/data] [--naive-images 100]

1. Kvasir (the shared 900 images and their real fixations): pyramids (scales 1, 2, 4, 8, 16 at the
   image size) per second. Baseline = GazeMedSeg's recipe done naively (impulses on a 768 canvas at
   rounded positions, scipy gaussian_filter sigma 70, min-max, cubic resize back) plus area resizes for
   the coarse scales; ours = ``--sigma-frac 0.0911 --norm minmax`` (``--boundary reflect`` and ``zero``).
   Both timed on the same images, alternating, medians; maximum and mean |difference| at scale 1.
   Then ``render-heatmaps`` end to end on all 900 (store written, --workers 1 and 2).
2. Cost curves: fixations per image 10 -> 1000 (768 x 768), image size 256 -> 2048 (30 fixations);
   the baseline there blurs an image-size canvas with sigma = 0.0911 x size.

``--e2e`` (only this section): the command a user types, timed as a subprocess (start-up included),
on all 900 images (or the first ``--e2e-images`` N, their table and a folder of those N images) at full size,
scales 1, 2, 4:
``gazekit render-heatmaps kvasir.parquet -o STORE --stimuli IMAGES --sigma-frac 0.0911 --scales 1,2,4``
with ``--dtype float32`` (the former store), the default uint16, ``--workers 2`` and ``--lazy``;
against the recipe (scales 1, 2, 4) on every k-th of the same images (``--naive-images``, its mean x 900);
store sizes, and the uint16 store's largest error relative to each map's peak (vs the float32 store).

    OMP_NUM_THREADS=1 python benchmarks/heatmaps.py --e2e [--naive-images 100] [--repeats 3] [--e2e-images 100]

Caches warm: gazekit's bytecode is compiled first (the environment may forbid writing it) and the command runs once
untimed before the timed rounds.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gazekit import tables  # noqa: E402
from gazekit.heatmaps import build, render  # noqa: E402
from tests.kvasir import gazemedseg_heatmap, kvasir_fixations  # noqa: E402

SCALES = (1, 2, 4, 8, 16)


def naive_pyramid(xn, yn, d, h, w, scales=SCALES) -> dict[int, np.ndarray]:
    full = gazemedseg_heatmap(xn, yn, d, h, w)
    return {s: full if s == 1 else cv2.resize(full, (w // s, h // s), interpolation=cv2.INTER_AREA) for s in scales}


def ours_pyramid(x, y, d, h, w, boundary="reflect") -> dict[int, np.ndarray]:
    return render.pyramid(x, y, d, 0.0911 * w, 0.0911 * h, h, w, SCALES, "minmax", boundary)


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def kvasir_section(data: Path, n_naive: int) -> None:
    fix = kvasir_fixations(data / "kvasir-seg" / "fixations.csv")
    groups = [
        (sid, g["x_px"].to_numpy(), g["y_px"].to_numpy(), g["duration_ms"].to_numpy(),
         int(g["image_height_px"].iloc[0]), int(g["image_width_px"].iloc[0]))
        for sid, g in fix.groupby("stimulus_id")
    ]  # fmt: skip
    step = max(1, len(groups) // n_naive)
    subset = groups[::step][:n_naive]
    t_naive, t_ours, t_zero, diff_max, diff_mean, diff_zero_max, diff_zero_mean = [], [], [], [], [], [], []
    for _, x, y, d, h, w in subset:
        tn, ref = timed(naive_pyramid, x / w, y / h, d, h, w)
        to, ours = timed(ours_pyramid, x, y, d, h, w)
        tz, zero = timed(ours_pyramid, x, y, d, h, w, "zero")
        t_naive.append(tn)
        t_ours.append(to)
        t_zero.append(tz)
        diff_max.append(float(np.abs(ours[1] - ref[1]).max()))
        diff_mean.append(float(np.abs(ours[1] - ref[1]).mean()))
        diff_zero_max.append(float(np.abs(zero[1] - ref[1]).max()))
        diff_zero_mean.append(float(np.abs(zero[1] - ref[1]).mean()))
    all_ours = []
    for _ in range(3):
        t = time.perf_counter()
        for _, x, y, d, h, w in groups:
            ours_pyramid(x, y, d, h, w)
        all_ours.append(time.perf_counter() - t)
    mn, mo, mz = statistics.median(t_naive), statistics.median(t_ours), statistics.median(t_zero)
    sizes = [h * w for *_, h, w in groups]
    nfix = [len(x) for _, x, *_ in groups]
    print(f"## Kvasir pyramids (scales {list(SCALES)}), {len(subset)} images side by side; "
          f"image size median {int(np.median(sizes))} px, fixations/image median {int(np.median(nfix))}")  # fmt: skip
    print("| method | median s / pyramid | pyramids/s | ratio vs baseline |")
    print("|---|---|---|---|")
    print(f"| GazeMedSeg recipe (naive, baseline) | {mn:.4f} | {1 / mn:.1f} | 1 |")
    print(f"| gazekit --boundary reflect | {mo:.5f} | {1 / mo:.0f} | {mn / mo:.0f}x |")
    print(f"| gazekit --boundary zero | {mz:.5f} | {1 / mz:.0f} | {mn / mz:.0f}x |")
    print(f"all {len(groups)} images, gazekit reflect, in-memory: median {statistics.median(all_ours):.2f} s "
          f"= {len(groups) / statistics.median(all_ours):.0f} pyramids/s")  # fmt: skip
    print(f"scale-1 |gazekit - recipe| (min-max units): reflect max {max(diff_max):.4f}, "
          f"mean {np.mean(diff_mean):.5f}; zero max {max(diff_zero_max):.4f}, "
          f"mean {np.mean(diff_zero_mean):.5f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "kvasir.parquet"
        tables.write_table("fixations", fix, table)
        cfg = render.RenderConfig(render.Sigma(frac=0.0911), norm="minmax", boundary="reflect", scales=SCALES)
        for workers in (1, 2):
            t = time.perf_counter()
            build.build_store(table, Path(tmp) / f"store{workers}", cfg, workers=workers, progress=False)
            dt = time.perf_counter() - t
            print(f"render-heatmaps end to end (900 full-size pyramids, store written), --workers {workers}: "
                  f"{dt:.1f} s = {len(groups) / dt:.0f} pyramids/s")  # fmt: skip


def _cli(args: list) -> float:
    """Wall time of one ``python -m gazekit ...`` subprocess (start-up included), 1 BLAS thread."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gazekit", *map(str, args)], check=True, env=env, capture_output=True)
    return time.perf_counter() - t


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def e2e_section(data: Path, n_naive: int, repeats: int, n_images: int | None = None) -> None:
    """render-heatmaps as a user types it, all 900 images (or the first ``n_images``), scales 1, 2, 4 vs the
    recipe, side by side."""
    from gazekit import store

    scales = (1, 2, 4)
    fix = kvasir_fixations(data / "kvasir-seg" / "fixations.csv")
    if n_images is not None:
        fix = fix[fix["stimulus_id"].isin(sorted(fix["stimulus_id"].unique())[:n_images])].reset_index(drop=True)
    groups = [
        (g["x_px"].to_numpy(), g["y_px"].to_numpy(), g["duration_ms"].to_numpy(),
         int(g["image_height_px"].iloc[0]), int(g["image_width_px"].iloc[0]))
        for _, g in fix.groupby("stimulus_id")
    ]  # fmt: skip
    subset = groups[:: max(1, len(groups) // n_naive)][:n_naive]
    variants = {
        "float32 (former store)": ["--dtype", "float32"],
        "uint16 (default)": [],
        "uint16, --workers 2": ["--workers", "2"],
        "--lazy (no maps written)": ["--lazy"],
    }
    compileall.compile_dir(REPO / "gazekit", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "kvasir.parquet"
        tables.write_table("fixations", fix, table)
        images = data / "kvasir-seg" / "images"
        if n_images is not None:  # a folder of those images only, as a user with n_images images has
            shown = set(fix["stimulus_id"])
            images = Path(tmp) / "images"
            images.mkdir()
            for f in (data / "kvasir-seg" / "images").iterdir():
                if f.stem in shown:
                    shutil.copy(f, images / f.name)
        base = ["render-heatmaps", table, "--stimuli", images, "--sigma-frac", "0.0911", "--scales", "1,2,4"]
        _cli([*base, "-o", Path(tmp) / "warm-up"])  # untimed: page cache, bytecode
        times: dict[str, list[float]] = {k: [] for k in variants}
        naive: list[float] = []
        sizes: dict[str, int] = {}
        for _ in range(repeats):  # alternating: the recipe's images, then each variant
            t = time.perf_counter()
            for x, y, d, h, w in subset:
                naive_pyramid(x / w, y / h, d, h, w, scales)
            naive.append((time.perf_counter() - t) / len(subset))
            for name, extra in variants.items():
                out = Path(tmp) / f"store{list(variants).index(name)}"
                times[name].append(_cli([*base, "-o", out, *extra]))
                sizes[name] = _size(out)
        f32, u16 = store.open_store(Path(tmp) / "store0"), store.open_store(Path(tmp) / "store1")
        rel = max(
            float(np.abs(u16.get(sid, sl, s) - f32.get(sid, sl, s)).max() / f32.get(sid, sl, s).max())
            for sid, sl in f32.keys()
            for s in scales
        )
    n = len(groups)
    t_naive = statistics.median(naive) * n
    print(f"\n## render-heatmaps end to end: {n} Kvasir images, full size, scales 1,2,4, one command each "
          f"(subprocess, start-up included); medians of {repeats}")  # fmt: skip
    print(f"baseline = GazeMedSeg recipe (scales 1,2,4) on {len(subset)} of the images, mean x {n}")
    print(f"| method | s for {n} | pyramids/s | ratio vs baseline | store MB | size vs float32 |")
    print("|---|---|---|---|---|---|")
    print(f"| GazeMedSeg recipe (naive, baseline) | {t_naive:.0f} | {n / t_naive:.2f} | 1 | - | - |")
    for name in variants:
        t = statistics.median(times[name])
        print(f"| gazekit {name} | {t:.1f} | {n / t:.0f} | **{t_naive / t:.0f}x** | {sizes[name] / 1e6:.0f} | "
              f"{100 * sizes[name] / sizes['float32 (former store)']:.1f} % |")  # fmt: skip
    print(f"uint16 vs float32 store: max |difference| / map peak = {rel:.2e} (stated bound {store.MAX_REL_ERROR})")


def synthetic(n: int, size: int, rng) -> tuple:
    return rng.uniform(0, size, n), rng.uniform(0, size, n), rng.uniform(100, 600, n)


def naive_square(x, y, d, size: int) -> np.ndarray:
    canvas = np.zeros((size, size), np.float32)
    np.add.at(canvas, (np.minimum(np.round(y).astype(int), size - 1), np.minimum(np.round(x).astype(int), size - 1)), d)
    out = ndimage.gaussian_filter(canvas, 0.0911 * size)
    return (out - out.min()) / (out.max() - out.min())


def curve_section(repeats: int) -> None:
    rng = np.random.default_rng(0)
    print("\n## Cost vs fixations per image (768 x 768, one scale / pyramid 1-16)")
    print("| fixations | baseline s | gazekit s (scale 1) | gazekit s (pyramid) | ratio (scale 1) |")
    print("|---|---|---|---|---|")
    for n in (10, 30, 100, 300, 1000):
        x, y, d = synthetic(n, 768, rng)
        tb = statistics.median(timed(naive_square, x, y, d, 768)[0] for _ in range(repeats))
        t1 = statistics.median(
            timed(render.pyramid, x, y, d, 70.0, 70.0, 768, 768, (1,), "minmax")[0] for _ in range(5)
        )
        tp = statistics.median(
            timed(render.pyramid, x, y, d, 70.0, 70.0, 768, 768, SCALES, "minmax")[0] for _ in range(5)
        )
        print(f"| {n} | {tb:.4f} | {t1:.5f} | {tp:.5f} | {tb / t1:.0f}x |")
    print("\n## Cost vs image size (30 fixations, sigma = 0.0911 x size)")
    print("| size | baseline s | gazekit s (scale 1) | gazekit s (pyramid) | ratio (scale 1) |")
    print("|---|---|---|---|---|")
    for size in (256, 512, 1024, 2048):
        x, y, d = synthetic(30, size, rng)
        sig = 0.0911 * size
        reps = repeats if size <= 1024 else 1
        tb = statistics.median(timed(naive_square, x, y, d, size)[0] for _ in range(reps))
        t1 = statistics.median(
            timed(render.pyramid, x, y, d, sig, sig, size, size, (1,), "minmax")[0] for _ in range(5)
        )
        tp = statistics.median(
            timed(render.pyramid, x, y, d, sig, sig, size, size, SCALES, "minmax")[0] for _ in range(5)
        )
        print(f"| {size} | {tb:.4f} | {t1:.5f} | {tp:.5f} | {tb / t1:.0f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("GAZEKIT_SHARED_DATA", REPO.parent / "shared/data"))
    )
    ap.add_argument("--naive-images", type=int, default=100, help="Kvasir images timed side by side with the baseline")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--e2e", action="store_true", help="only the end-to-end render-heatmaps section")
    ap.add_argument("--e2e-images", type=int, default=None, help="--e2e on the first N images only (default: all)")
    args = ap.parse_args()
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, cpus={os.cpu_count()}")
    if args.e2e:
        e2e_section(args.data, args.naive_images, args.repeats, args.e2e_images)
        return
    if (args.data / "kvasir-seg" / "fixations.csv").exists():
        kvasir_section(args.data, args.naive_images)
    else:
        print(f"Kvasir section skipped: {args.data}/kvasir-seg not found (--data)")
    curve_section(args.repeats)


if __name__ == "__main__":
    main()
