"""The documentation cannot go stale: the README's tour runs as written (on the data it makes, with a shorter
training schedule) and prints what the README says; the model table lists exactly the committed models with the
numbers of their files; the MkDocs site builds with ``--strict`` (no broken link, no page left out)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# the tour's training, made short: same command, fewer iterations (the other steps run exactly as written)
FAST = {"--iterations": "12", "--pretrain-iterations": "6", "--rampup-iterations": "12", "--val-every": "6"}


def tour() -> list[tuple[str, list[str]]]:
    """(command line, expected output lines) of the bash block between the README's tour markers."""
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- tour:begin -->", 1)[1].split("<!-- tour:end -->", 1)[0]
    code = re.search(r"```bash\n(.*?)```", block, re.S).group(1)
    code = code.replace("\\\n", " ")  # continuation lines join their command
    steps: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if not line.strip():
            continue
        if line.startswith("# ") and steps:
            if not re.match(r"# \d\. ", line):  # "# 1. convert: ..." heads a step, other comments are output
                steps[-1][1].append(line[2:])
        elif not line.startswith("#"):
            steps.append((line, []))
    return steps


def argv(command: str) -> tuple[list[str], bool]:
    """The command as this interpreter runs it (``gazekit`` -> ``python -m gazekit``), and whether it was shortened."""
    args = shlex.split(command)
    changed = False
    for i, a in enumerate(args[:-1]):
        if a in FAST and args[0] == "hgdtgl":
            args[i + 1], changed = FAST[a], True
    if args[0] in ("gazekit", "hgdtgl"):
        return [sys.executable, "-m", *args], changed
    assert args[0] == "python" and args[1].startswith("examples/"), command
    return [sys.executable, str(ROOT / args[1]), *args[2:]], changed


def test_tour_commands_run_as_the_readme_says(tmp_path):
    steps = tour()
    names = [shlex.split(c)[:2] for c, _ in steps]
    for step in (["gazekit", "convert"], ["gazekit", "render-heatmaps"], ["gazekit", "qc"], ["hgdtgl", "train"]):
        assert step in names
    assert names[-1] == ["hgdtgl", "predict"]
    env = os.environ | {"PYTHONPATH": str(ROOT), "MPLCONFIGDIR": str(tmp_path / "mpl"), "OMP_NUM_THREADS": "1"}
    shortened = False  # from the shortened training on, numbers differ: compare the words before them
    for command, expected in steps:
        args, short = argv(command)
        shortened |= short
        r = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{command}\n{r.stdout}\n{r.stderr}"
        printed = [ln.strip() for ln in re.split(r"[\r\n]", r.stdout + r.stderr) if ln.strip()]
        for line in expected:
            if line == "...":
                continue
            if shortened:  # other numbers after fewer iterations: the line's words before its first number
                head = re.split(r"\d", line, maxsplit=1)[0]
                assert any(p.startswith(head) for p in printed), f"{command}: no line like {line!r} in {printed}"
            else:
                assert line in printed, f"{command}: {line!r} not printed; got {printed}"
    assert len(list((tmp_path / "demo" / "pred").iterdir())) == 48
    assert (tmp_path / "demo" / "qc" / "index.html").is_file()


def test_model_table_lists_exactly_the_committed_models():
    from click.testing import CliRunner

    from experiments import model_table as mod
    from experiments.cli import main

    text = README.read_text(encoding="utf-8")
    block = text.split(mod.BEGIN, 1)[1].split(mod.END, 1)[0]
    listed = re.findall(r"^\| \[`[^`]+`\]\(([^)]+)\)", block, re.M)
    on_disk = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("results/*/models/*.pt"))
    assert sorted(listed) == on_disk and len(listed) == len(set(listed))
    for path in listed:
        assert f"`hgdtgl predict {path} " in block
    # and every number in it is what the files and summary.csv say now
    r = CliRunner().invoke(main, ["model-table", "--check"])
    assert r.exit_code == 0, f"README model table is stale: python -m experiments model-table\n{r.output}"


def test_model_names_follow_the_rule():
    from experiments import model_table as mod

    assert mod.parse_name(Path("hgdtgl.pt"), ["cpu", "cpu-12000-bf16"]) == ("hgdtgl", "cpu", 0, None)
    assert mod.parse_name(Path("mt_cpu12000bf16_s2.pt"), ["cpu", "cpu-12000-bf16"]) == ("mt", "cpu-12000-bf16", 2, None)
    assert mod.parse_name(Path("hgdtgl_no_gazeloss_s1.pt"), ["cpu"]) == ("hgdtgl_no_gazeloss", "cpu", 1, None)
    assert mod.parse_name(Path("bcp_l3_s2.pt"), ["cpu"]) == ("bcp", "cpu", 2, 3)  # a budget other than the default
    with pytest.raises(SystemExit):
        mod.parse_name(Path("unet_final.pt"), ["cpu"])


def test_results_tables_live_in_docs_results():
    page = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert "<!-- results-tables:begin -->" in page and "<!-- results-tables:end -->" in page
    assert "<!-- results-tables:begin -->" not in README.read_text(encoding="utf-8")


def test_docs_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    for module in ("material", "mkdocstrings_handlers.python", "mkdocs_click"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")
    missing = [f for f in ("LICENSE", "CITATION.cff") if not (ROOT / f).is_file()]
    if missing:  # the README links them; a strict build would fail on the links until they are committed
        pytest.skip(f"the README links {', '.join(missing)}, which the repository does not have yet")
    env = os.environ | {"PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "A five-minute tour" in home and "results/figures/kvasir_overlays.png" in home
    assert (site / "results" / "figures" / "kvasir_overlays.png").is_file()  # the README's picture is in the site
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert "render-heatmaps" in cli and "--gaze-dir" in cli  # generated from both click groups
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "convert_files" in api and "render_heatmaps" in api  # from the docstrings


def test_a_model_whose_name_hides_its_budget_is_refused(tmp_path):
    """A 3-patient ACDC student named like the 7-patient row (no _l3) is refused in one line, not listed with the
    other budget's Dice."""
    from experiments import model_table as mod

    shutil.copytree(ROOT / "results" / "acdc", tmp_path / "acdc", ignore=shutil.ignore_patterns("*.pt"))
    shutil.copy(ROOT / "results/acdc/models/hgdtgl_chosen_l3_s1.pt", tmp_path / "acdc/models/hgdtgl_chosen_s1.pt")
    with pytest.raises(SystemExit, match="the name says 7 labeled, the file was trained with 3"):
        mod.model_rows(tmp_path)
