"""Command line of the trainer."""

from __future__ import annotations

import click

from hgdtgl import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hgdtgl")
def main() -> None:
    """hgdtgl: gaze-guided semi-supervised segmentation (train, evaluate, predict, pack)."""
