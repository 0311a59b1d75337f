#!/usr/bin/env bash
# The main job on the embedded default: install, train PFGM++ (D=16) on scikit-learn's digits,
# write 64 samples and score 1,000 against the real-data floor.
# Usage: bash scripts/digits.sh [RUN_DIR]   (default runs/digits)
set -euo pipefail
run="${1:-runs/digits}"
bash scripts/install.sh .venv
. .venv/bin/activate
if [ -d "$run/checkpoints" ]; then resume=true; else resume=false; fi
pfgm-train recipe=digits run_dir="$run" resume=$resume
pfgm-sample checkpoint="$run" num_samples=64 seed=0 out="$run/samples"
pfgm-eval checkpoint="$run" num_samples=1000
echo "samples: $run/samples/grid.png   metrics: $run/eval.json"
