#!/usr/bin/env bash
# Record a mouse-driven demo session on a generated DICOM series, then convert it to fixations.
# Usage: bash examples/record_demo.sh [OUT_DIR]   (needs a display; look around with the mouse, scroll
# with the wheel, press q to finish)
set -euo pipefail
OUT="${1:-demo_record}"
rm -rf "$OUT/series" "$OUT/session"
python -m gazekit.record.demo "$OUT/series"
gazekit record "$OUT/series" -o "$OUT/session" --source mouse --window 800x600
gazekit convert "$OUT/session" -o "$OUT/fixations.parquet"
