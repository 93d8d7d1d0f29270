"""What a new user meets first: --help texts, the demo's output, licence and citation files, the Makefile."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import click
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
