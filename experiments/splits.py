"""Split lists of a dataset from its spec's [split] (``python -m experiments split DATASET``), written into the
spec's splits folder (results/<dataset>/splits):

- ``by-image`` (Kvasir-SEG, SCR): a seeded permutation of the images; the first ``n_val`` are validation (sorted),
  the rest training in permuted order, so a labeled set of K images is the first K lines of ``train.list``;
- ``by-patient`` (CAMUS): the shipped ``val.list``, and the shipped ``train.list`` reordered patient by patient (the
  patients in a seeded permutation, each patient's images together in their shipped order), so a labeled set of
  whole patients is a prefix;
- ``ssl4mis`` (ACDC): the dataset's own lists, nothing to write.

Also ``labeled_<budget>.list`` (the labeled sets, for the record) and, for a multi-class dataset, ``classes.json``
(class name -> label value), which `hgdtgl train` reads from next to the training list. The images stay in the
shared folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from experiments.spec import Dataset, SpecError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
PATIENT_RE = re.compile(r"^(patient\d+)_")


def image_stems(images_dir: Path) -> list[str]:
    """Sorted stems of the image files in ``images_dir``."""
    return sorted(p.stem for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def split_by_image(stems: list[str], seed: int, n_val: int) -> tuple[list[str], list[str]]:
    """(train, val): a seeded permutation of ``stems``; the first ``n_val`` are validation, the rest training
    (in permuted order, so a labeled set is a prefix of the training list)."""
    order = np.random.default_rng(seed).permutation(len(stems))
    shuffled = [stems[i] for i in order]
    return shuffled[n_val:], sorted(shuffled[:n_val])


def patient_of(name: str) -> str:
    """``patient0001`` of ``patient0001_2CH_ED``."""
    m = PATIENT_RE.match(name)
    if not m:
        raise SpecError(f"{name!r}: not a CAMUS image name patientNNNN_...")
    return m.group(1)


def patient_order(names: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(images, patients): the patients of ``names`` in a seeded permutation (first appearance order permuted)
    and the images regrouped patient by patient, each patient's images in their original order."""
    patients = list(dict.fromkeys(patient_of(n) for n in names))
    perm = [patients[i] for i in np.random.default_rng(seed).permutation(len(patients))]
    by: dict[str, list[str]] = {p: [] for p in patients}
    for n in names:
        by[patient_of(n)].append(n)
    return [n for p in perm for n in by[p]], perm


def read_names(path: Path) -> list[str]:
    if not path.is_file():
        raise SpecError(f"{path}: not a file (set --shared-data or GAZEKIT_SHARED_DATA)")
    return [re.sub(r"\.png$", "", s) for s in path.read_text().split() if s]


def write_list(path: Path, names: list[str]) -> None:
    path.write_text("".join(f"{n}\n" for n in names))


def make_split(spec: Dataset, shared: Path, out: Path, seed: int | None = None) -> str:
    """Write the split lists of ``spec`` from the data under ``shared`` into ``out``; returns a one-line summary."""
    rule = spec.split.get("rule")
    seed = spec.split.get("seed", 0) if seed is None else seed
    root = shared / spec.folder
    if rule == "ssl4mis":
        return f"{spec.name}: the dataset's own split lists ({root}), nothing to write"
    if rule == "by-image":
        images = root / "images"
        if not images.is_dir():
            raise SpecError(f"{images}: not a folder (set --shared-data or GAZEKIT_SHARED_DATA)")
        stems = image_stems(images)
        train, val = split_by_image(stems, seed, int(spec.split["n_val"]))
        labeled = {pct: train[:n] for pct, n in spec.budgets.items()}
        what = f"{len(stems)} images -> val {len(val)}, train {len(train)}"
    elif rule == "by-patient":
        train, patients = patient_order(read_names(root / "train.list"), seed)
        val = read_names(root / "val.list")
        labeled = {}
        for pct, share in spec.split["labeled_share"].items():
            chosen = set(patients[: round(share * len(patients))])
            labeled[pct] = [n for n in train if patient_of(n) in chosen]
            assert labeled[pct] == train[: len(labeled[pct])]
        what = f"val {len(val)}, train {len(train)} ({len(patients)} patients)"
    else:
        raise SpecError(f"{spec.name}.toml, [split]: rule {rule!r}; expected by-image, by-patient or ssl4mis")
    out.mkdir(parents=True, exist_ok=True)
    write_list(out / "val.list", val)
    write_list(out / "train.list", train)
    for pct, names in labeled.items():
        write_list(out / f"labeled_{pct}.list", names)
    if "class_labels" in spec.split:
        (out / "classes.json").write_text(json.dumps({"labels": spec.split["class_labels"]}, indent=1) + "\n")
    sizes = ", ".join(f"labeled {pct} % = {len(names)}" for pct, names in labeled.items())
    return f"{out}: {what}, {sizes} (seed {seed})"
