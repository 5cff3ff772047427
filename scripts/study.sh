#!/usr/bin/env bash
# Runs the study on the default small profile, doing all set-up itself.
# Today: phase 1 (knowledge base, instruction dataset), phase 2 (baselines of both
# models in every prompting mode on an even spread of the test split), phase 3 (LoRA
# on SmolLM2, then its answers in every mode) and phase 4 (metrics with confidence
# intervals). The report joins as it lands.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup" >&2; exit 1; }
workspace="${F1AI_WORKSPACE:-.}"
# Test questions each baseline answers (0: the whole split; ~3 s each per mode here).
limit="${F1AI_BASELINE_LIMIT:-20}"
ergast="${F1AI_ERGAST_DIR:-$(cd .. && pwd)/shared/data/ergast}"

cargo build --release
f1ai=target/release/f1ai

if [ -f "$ergast/races.csv" ]; then
  "$f1ai" --workspace "$workspace" data import --ergast-dir "$ergast"
else
  "$f1ai" --workspace "$workspace" data import   # embedded fallback, with a notice
fi
"$f1ai" --workspace "$workspace" data stats
"$f1ai" --workspace "$workspace" data build --config config/data_config.yaml --tokenizer smollm2
echo "dataset card: $workspace/data/curated/README.md"
for model in smollm2 gemma3; do
  "$f1ai" --workspace "$workspace" baseline --model "$model" --limit "$limit"
done
# --resume continues (or, when finished, re-exports) an earlier run of the study.
"$f1ai" --workspace "$workspace" train --config config/lora_config.yaml --resume
"$f1ai" --workspace "$workspace" baseline --model smollm2 --limit "$limit" \
  --adapter "$workspace/models/artifacts/smollm2-lora"
"$f1ai" --workspace "$workspace" eval --config config/evaluation_config.yaml --perplexity
echo "metrics: $workspace/results/metrics/summary.md"
