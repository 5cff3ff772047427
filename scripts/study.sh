#!/usr/bin/env bash
# Runs the study on the default small profile, doing all set-up itself.
# Today that is phase 1 (knowledge base and instruction dataset); later phases join
# as they land.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup" >&2; exit 1; }
workspace="${F1AI_WORKSPACE:-.}"
ergast="${F1AI_ERGAST_DIR:-$(cd .. && pwd)/shared/data/ergast}"

cargo build --release --locked
f1ai=target/release/f1ai

if [ -f "$ergast/races.csv" ]; then
  "$f1ai" --workspace "$workspace" data import --ergast-dir "$ergast"
else
  "$f1ai" --workspace "$workspace" data import   # embedded fallback, with a notice
fi
"$f1ai" --workspace "$workspace" data stats
"$f1ai" --workspace "$workspace" data build --config config/data_config.yaml --tokenizer smollm2
echo "dataset card: $workspace/data/curated/README.md"
