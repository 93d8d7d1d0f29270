"""The package boundary, read from the source (ast): gazekit never imports hgdtgl; hgdtgl imports only
gazekit's public core; neither package has an import cycle; hgdtgl's data and option layers never reach its
method layer. Every import counts, function-level ones too, except those under ``if TYPE_CHECKING:`` (never
executed). Then what a command imports, run in a fresh interpreter: ``gazekit convert`` of a Tobii export imports
no image library, and resolving hgdtgl's options imports no torch."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gazekit", "hgdtgl")
GAZEKIT_CORE_FOR_HGDTGL = {"gazekit", "gazekit.errors", "gazekit.atomic", "gazekit.store", "gazekit.ids"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    return skip


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` imports (the deepest known module of each imported name)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # ``from P import M`` with M a submodule needs P.M (and P's __init__, as every import of
            # P.anything does); it depends on P itself only for a name P's __init__ defines
            subs = [f"{base}.{a.name}" for a in node.names]
            names = [*subs] if all(n in known for n in subs) else [base, *subs]
        else:
            continue
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n and n != name:
                found.add(n)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_gazekit_never_imports_hgdtgl_and_hgdtgl_only_the_public_core():
    graph = import_graph()
    assert "gazekit.store" in graph and "hgdtgl.engine" in graph  # the walk found both packages
    wrong = sorted(
        f"{m} -> {n}"
        for m, targets in graph.items()
        for n in targets
        if (m.startswith("gazekit") and n.startswith("hgdtgl"))
        or (m.startswith("hgdtgl") and n.startswith("gazekit") and n not in GAZEKIT_CORE_FOR_HGDTGL)
    )
    assert not wrong, wrong
    assert any(n == "gazekit.store" for n in graph["hgdtgl.data.gaze"])  # the check sees real crossings


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module that importing ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_reachable_follows_imports_through_other_modules():
    assert reachable({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}, "a") == {"b", "c"}


def test_the_layers_below_hgdtgl_methods_never_import_it():
    """The data layer (hgdtgl.data.*) and the option rules (hgdtgl.config, hgdtgl.recipes) sit below the methods:
    none of them imports hgdtgl.methods, directly, through another module, or inside a function."""
    graph = import_graph()
    below = sorted(m for m in graph if m.startswith("hgdtgl.data") or m in ("hgdtgl.config", "hgdtgl.recipes"))
    assert {"hgdtgl.data.batches", "hgdtgl.config", "hgdtgl.recipes"} <= set(below)
    wrong = [m for m in below if "hgdtgl.methods" in reachable(graph, m)]
    assert not wrong, wrong
    assert "hgdtgl.methods" in reachable(graph, "hgdtgl.engine")  # the walk sees the layers above


def test_resolving_the_options_of_every_method_imports_no_torch():
    """TrainConfig derives each method's defaults from hgdtgl.recipes (torch-free), not from hgdtgl.methods."""
    code = (
        "import sys; from hgdtgl.config import TrainConfig; from hgdtgl.recipes import METHODS; "
        "r = [TrainConfig(data='d', out='o', method=m, batch_size=4, labeled_bs=2).resolved() for m in METHODS]; "
        "print(len(r), 'torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.stdout.split() == ["6", "False"], res.stdout + res.stderr


@pytest.mark.parametrize("pkg", ["gazekit", "hgdtgl"])
def test_no_import_cycle_inside_the_package(pkg):
    graph = import_graph()
    inside = {m: {n for n in t if n.split(".")[0] == pkg} for m, t in graph.items() if m.split(".")[0] == pkg}
    cycle = find_cycle(inside)
    assert cycle is None, f"{pkg}: import cycle {' -> '.join(cycle)}"


# --- what a command imports (issue 31): run in a fresh interpreter, then read its sys.modules --------------------

HEAVY = ("nibabel", "pydicom", "h5py", "scipy.ndimage", "cv2")  # image formats and image processing
# what a Tobii export's convert does without (its reader, the steps after it and the Parquet writing work on NumPy
# arrays and pyarrow buffers): pandas' import is a quarter of the command on a 400,000-row export
TOBII_FREE = (*HEAVY, "pandas", "pyarrow.compute")
IN_FRESH_PROCESS = r"""
import json, sys
from gazekit.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
    code = 0
except SystemExit as exc:  # a one-line error (exit code 2)
    code = exc.code
loaded = sorted(m for m in json.loads('HEAVY') if m in sys.modules)  # before anything else is imported here
if code:
    print(json.dumps({"loaded": loaded, "exit": code}))
    sys.exit(0)
import pandas as pd
print(json.dumps({"loaded": loaded, "fixations": len(pd.read_parquet(sys.argv[sys.argv.index("-o") + 1]))}))
"""


def _convert_in_fresh_process(*args: str, heavy: tuple[str, ...] = HEAVY) -> dict:
    code = IN_FRESH_PROCESS.replace("HEAVY", json.dumps(list(heavy)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code, "convert", *args], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    return {**json.loads(res.stdout.strip().splitlines()[-1]), "stderr": res.stderr}


@pytest.fixture(scope="module")
def tobii_export(tmp_path_factory):
    from examples.make_tobii_export import write_prolab_export

    path = tmp_path_factory.mktemp("tobii") / "export.tsv"
    truth = write_prolab_export(path, n_rows=3000, participants=("A", "B"), n_images=2)
    return path, truth


SCREEN_ARGS = ("--screen-px", "1920x1080", "--screen-mm", "531x299", "--distance-mm", "650")


def test_convert_of_a_tobii_export_imports_no_image_library(tobii_export, tmp_path):
    path, truth = tobii_export
    got = _convert_in_fresh_process(str(path), "-o", str(tmp_path / "f.parquet"))
    assert (got["loaded"], got["fixations"]) == ([], len(truth))  # the vendor fixations, each once


@pytest.mark.parametrize("detect", [(), ("--detect", "vendor"), ("--drop-unassigned",)])
def test_convert_of_a_tobii_pro_lab_export_imports_no_pandas(tobii_export, tmp_path, detect):
    """A Pro Lab export (generated: media, geometry, two participants) is converted without pandas or
    pyarrow.compute, to the table that the same command gives in this process (where pandas is imported)."""
    import pandas as pd
    from click.testing import CliRunner

    from gazekit.cli import main

    path, truth = tobii_export
    expected = int((truth["media"] != "").sum()) if "--drop-unassigned" in detect else len(truth)
    got = _convert_in_fresh_process(str(path), *detect, "-o", str(tmp_path / "fresh.parquet"), heavy=TOBII_FREE)
    assert (got["loaded"], got["fixations"]) == ([], expected)
    res = CliRunner().invoke(main, ["convert", str(path), *detect, "-o", str(tmp_path / "here.parquet")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "fresh.parquet").read_bytes() == (tmp_path / "here.parquet").read_bytes()
    assert pd.read_parquet(tmp_path / "here.parquet")["stimulus_id"].ne("").sum() == (truth["media"] != "").sum()


def test_convert_of_the_real_pro_lab_export_imports_no_pandas_and_its_errors_neither(tmp_path):
    """The real export (decimal commas, mouse and event rows, calibration stimulus): no pandas, with the default
    detection and with ``--detect ivt``, whose one-line error (the export has no raw samples) needs none either."""
    from tests.conftest import shared_path

    path = shared_path("gaze-samples", "tobiiprolab_bracketed_ivt_normal_alex1_first5000.tsv")
    got = _convert_in_fresh_process(str(path), "-o", str(tmp_path / "f.parquet"), heavy=TOBII_FREE)
    assert (got["loaded"], got["fixations"]) == ([], 40)  # 40 distinct fixation indices (shared data README)
    ivt = _convert_in_fresh_process(
        str(path), "--detect", "ivt", *SCREEN_ARGS, "-o", str(tmp_path / "ivt.parquet"), heavy=TOBII_FREE
    )
    assert (ivt["loaded"], ivt["exit"]) == ([], 2) and not (tmp_path / "ivt.parquet").exists()
    assert ivt["stderr"].strip().splitlines() == [
        f"error: {path}, --detect: ivt needs raw gaze samples, and the file has none"
    ]


@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_detection_on_raw_samples_imports_what_it_needs_when_it_runs(tmp_path, method):
    """I-VT needs none of the heavy modules; I-DT imports scipy.ndimage's running filters when it runs. Both give
    the table that the same command gives in this process (where the test session may have imported anything)."""
    import pandas as pd
    from click.testing import CliRunner

    from gazekit.cli import main
    from tests.conftest import shared_path

    path = shared_path("gaze-samples", "pymovements_eyelink_binocular_example.asc")  # raw samples, both eyes
    args = (str(path), "--detect", method, *SCREEN_ARGS)
    got = _convert_in_fresh_process(*args, "-o", str(tmp_path / "fresh.parquet"))
    res = CliRunner().invoke(main, ["convert", *args, "-o", str(tmp_path / "here.parquet")])
    assert res.exit_code == 0, res.output
    here = pd.read_parquet(tmp_path / "here.parquet")
    assert got["loaded"] == ([] if method == "ivt" else ["scipy.ndimage"])
    assert got["fixations"] == len(here) > 0 and set(here["detector"]) == {method}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "fresh.parquet"), here)


def _modules_after(code: str) -> set[str]:
    """The top-level packages in sys.modules after ``code`` ran in a fresh interpreter."""
    code += "\nimport json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    return set(json.loads(res.stdout.strip().splitlines()[-1]))


def test_help_imports_no_array_or_table_library():
    """``gazekit --help`` and a command's ``--help`` import click and gazekit's light core, nothing a command's work
    needs (the commands import their modules when they run). ``convert --help`` is the exception: it lists the
    readers' names from the readers themselves (``gazekit.readers.READERS``, the one list)."""
    for args in (["--help"], ["render-heatmaps", "--help"], ["qc", "--help"], ["simulate", "--help"]):
        loaded = _modules_after(f"from gazekit.cli import main\nmain({args!r}, standalone_mode=False)")
        assert "click" in loaded and "gazekit" in loaded  # the check sees what was imported
        assert not loaded & {"numpy", "pandas", "pyarrow", "tqdm", *HEAVY}, (args, loaded)


def test_render_heatmaps_of_image_files_imports_no_volume_library(tmp_path):
    """Image stimuli (PNG here) need cv2 only: nibabel, pydicom and h5py are imported by the loaders of their
    formats, when a NIfTI, DICOM or HDF5 stimulus is read."""
    import cv2
    import numpy as np

    from gazekit import tables
    from tests.test_store_render import fixation_table

    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((40, 60), np.uint8))
    rows = [("s1", "r1", "a", None, 0.0, 300.0, 20.3, 15.7), ("s1", "r1", "a", None, 400.0, 90.0, 40.0, 30.0)]
    fix = fixation_table(rows)
    tables.write_table("fixations", fix, tmp_path / "f.parquet")
    run = (
        "from gazekit.cli import main\n"
        f"main(['render-heatmaps', {str(tmp_path / 'f.parquet')!r}, '-o', {str(tmp_path / 'store')!r}, "
        f"'--stimuli', {str(images)!r}, '--sigma-px', '5'], standalone_mode=False)"
    )
    loaded = _modules_after(run)
    assert "cv2" in loaded and (tmp_path / "store").is_dir()
    assert not loaded & {"nibabel", "pydicom", "h5py"}, loaded & {"nibabel", "pydicom", "h5py"}
