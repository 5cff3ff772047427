#!/usr/bin/env bash
# Runs lm-evaluation-harness itself (pinned, in the project's Python
# environment) on the full ARC-Easy and PIQA files (or the tasks named) of
# ../shared/data/general-eval with transformers loading SmolLM2's GGUF, and
# writes what it measured to crates/f1-train/tests/fixtures/lm_eval_smollm2.json,
# the reference the multiple-choice scorer's test checks f1ai against.
# ARC-Easy and PIQA (the default) take about half an hour on 2 cores.
# Usage: scripts/lm-eval-check.sh [TASK...]
set -euo pipefail
cd "$(dirname "$0")/.."

python="$(./scripts/python-env.sh)"
# The harness beside the pinned torch and transformers, which it must not move.
"$python" -m pip install --quiet --disable-pip-version-check lm-eval==0.4.13 \
  torch=="$("$python" -c 'import torch; print(torch.__version__.split("+")[0])')" \
  transformers=="$("$python" -c 'import transformers; print(transformers.__version__)')" >&2
general="${F1AI_GENERAL_EVAL_DIR:-$(cd .. && pwd)/shared/data/general-eval}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo run --release --quiet --bin f1ai -- --workspace "$work" models fetch smollm2 >&2
gguf="$work/models/base/SmolLM2-135M-Instruct.Q4_1.gguf"
tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(arc_easy piqa)
out=crates/f1-train/tests/fixtures/lm_eval_smollm2.json
"$python" scripts/lm_eval_check.py "$gguf" "$general" "$out.tmp" "${tasks[@]}"
mv "$out.tmp" "$out"
echo "wrote $out"
