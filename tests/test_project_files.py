"""What a new user meets first: --help texts, the demo's output, licence and citation files, the Makefile."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gazekit.cli import main as gazekit_main
from hgdtgl.cli import main as hgdtgl_main

REPO = Path(__file__).resolve().parents[1]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def test_help_texts_show_single_percent_signs():
    """click does not %-format help strings: a '%%' in the source is printed as '%%'."""
    seen = 0
    for main in (gazekit_main, hgdtgl_main):
        for path in _commands(main):
            r = CliRunner().invoke(main, [*path, "--help"], terminal_width=200)
            assert r.exit_code == 0, (path, r.output)
            assert "%%" not in r.output, (path, r.output)
            seen += 1
    assert seen > 10
    r = CliRunner().invoke(gazekit_main, ["render-heatmaps", "--help"], terminal_width=200)
    assert "zstd-compressed, ~7 % of float32's size" in " ".join(r.output.split())


def test_demo_prints_each_summary_once(tmp_path):
    """examples/demo.sh with stand-ins for gazekit / hgdtgl / python that print one summary line naming
    what the real command summarises (its -o / --out, else its first argument) and write that file: every
    summary appears once (no `gazekit inspect` of the table convert just summarised, no second print of
    the metrics `hgdtgl evaluate` already printed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = """#!/usr/bin/env bash
target=""; prev=""
for a in "$@"; do
  if [ "$prev" = "-o" ] || [ "$prev" = "--out" ]; then target="$a"; fi
  prev="$a"
done
[ -z "$target" ] && target="$2"
line="summary of $(basename "$target")"
echo "$line"
case "$target" in *.csv|*.parquet|*.tsv) echo "$line" > "$target";; esac
"""
    for name in ("gazekit", "hgdtgl"):
        (bin_dir / name).write_text(stub)
        (bin_dir / name).chmod(stat.S_IRWXU)
    (bin_dir / "python").write_text("#!/usr/bin/env bash\nexit 0\n")
    (bin_dir / "python").chmod(stat.S_IRWXU)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = tmp_path / "demo"
    r = subprocess.run(
        ["bash", str(REPO / "examples" / "demo.sh"), str(out)], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    summaries = [line for line in r.stdout.splitlines() if line.startswith("summary of ")]
    assert summaries == [
        "summary of tobii_fixations.parquet",  # gazekit convert (vendor export)
        "summary of session",  # gazekit simulate
        "summary of fixations.parquet",  # gazekit convert SESSION (printed once: no gazekit inspect)
        "summary of store",  # render-heatmaps
        "summary of qc",  # qc
        "summary of run",  # hgdtgl train
        "summary of metrics.csv",  # hgdtgl evaluate (its mean rows; not printed again at the end)
    ]


# CFF 1.2.0 (https://citation-file-format.github.io/1.2.0/schema.json): the top-level keys it allows and requires
CFF_KEYS = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers",
            "keywords", "license", "license-url", "message", "preferred-citation", "references", "repository",
            "repository-artifact", "repository-code", "title", "type", "url", "version"}  # fmt: skip
CFF_REQUIRED = {"authors", "cff-version", "message", "title"}
CFF_REFERENCE_REQUIRED = {"authors", "title", "type"}


def _cff_authors_ok(authors) -> bool:
    """CFF persons have family-names/given-names, entities a name; a list of at least one."""
    return (
        isinstance(authors, list)
        and len(authors) >= 1
        and all(isinstance(a, dict) and ({"family-names", "given-names", "name"} & set(a)) for a in authors)
    )


def test_license_and_citation_files():
    import tomllib

    import yaml

    license_text = (REPO / "LICENSE").read_text()
    assert license_text.split()[:3] == ["Apache", "License", "Version"]
    assert "END OF TERMS AND CONDITIONS" in license_text
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]  # SPDX string form

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert set(cff) <= CFF_KEYS and CFF_REQUIRED <= set(cff)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "Apache-2.0"
    assert _cff_authors_ok(cff["authors"]) and cff["version"] == project["version"]
    (paper,) = [r for r in cff["references"] if "2604.10754" in str(r.get("url", ""))]
    assert CFF_REFERENCE_REQUIRED <= set(paper) and paper["type"] == "article" and _cff_authors_ok(paper["authors"])
    assert paper["authors"][0]["family-names"] == "Ge" and paper["year"] == 2026 and "HG-DTGL" in paper["title"]
    assert {"type": "doi", "value": "10.48550/arXiv.2604.10754"}.items() <= {
        k: v for i in paper["identifiers"] if i["type"] == "doi" for k, v in i.items()
    }.items()


MAKE = shutil.which("make")


def _chosen_python(tmp_path: Path, stubs: dict[str, int], *args: str) -> subprocess.CompletedProcess:
    """`make -n venv` with a PATH holding only stub interpreters: name -> exit code of the version check."""
    bin_dir = tmp_path / f"bin{len(list(tmp_path.glob('bin*')))}"  # a fresh folder per call
    bin_dir.mkdir()
    for name, code in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\nexit {code}\n")
        (bin_dir / name).chmod(stat.S_IRWXU)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    cmd = [MAKE, "-n", "venv", f"VENV={tmp_path / 'venv'}", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=60)  # -n: runs nothing


@pytest.mark.skipif(MAKE is None, reason="make not installed")
@pytest.mark.parametrize(
    ("stubs", "expected"),
    [
        ({"python3.12": 1, "python3.11": 0, "python3": 0}, "python3.11"),  # 3.12 runs but reports < 3.11
        ({"python3.13": 0, "python3.11": 0}, "python3.13"),  # the newest first
        ({"python3": 0}, "python3"),  # only a plain python3 of a good version
    ],
)
def test_makefile_finds_a_python_311_or_newer(tmp_path, stubs, expected):
    r = _chosen_python(tmp_path, stubs)
    assert r.returncode == 0, r.stderr
    assert f"{expected} -m venv {tmp_path / 'venv'}" in r.stdout.splitlines()


@pytest.mark.skipif(MAKE is None, reason="make not installed")
def test_makefile_python_override_and_none_found(tmp_path):
    r = _chosen_python(tmp_path, {"python3.13": 0}, "PYTHON=/opt/py/bin/python3")
    assert "/opt/py/bin/python3 -m venv" in r.stdout
    r = _chosen_python(tmp_path, {"python3.11": 1, "python3": 1})  # both too old
    assert "python3.11 -m venv" not in r.stdout and "python3 -m venv" not in r.stdout
    r = subprocess.run(["sh", "-c", r.stdout.splitlines()[0]], capture_output=True, text=True)  # the guard runs
    assert r.returncode == 1 and "no Python >= 3.11 found" in r.stderr
