#!/usr/bin/env bash
# The whole cpu results campaign in the order of the protocol, resumable (finished rows are skipped, an interrupted
# row resumes from its checkpoint): Kvasir 10 %, ACDC 10 %, then the 5 % budgets of both. Two rows at a time, one
# thread each. Run it from a git worktree at a fixed commit so that other work can go on:
#   git worktree add ../campaign HEAD && cd ../campaign && bash examples/campaign_cpu.sh
set -euo pipefail
bash examples/kvasir/run_rows.sh cpu 10 "$@"
bash examples/acdc/train_rows.sh cpu 10 "$@"
bash examples/kvasir/run_rows.sh cpu 5 "$@"
bash examples/acdc/train_rows.sh cpu 5 "$@"
