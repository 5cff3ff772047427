#!/usr/bin/env bash
# Runs the whole study on the default small profile, doing all set-up itself:
# builds f1ai (release), then `f1ai run --profile quick` fetches SmolLM2,
# imports the Ergast tables and F1DB (2025-2026), builds the dataset, runs the baselines and the
# knowledge probe, fine-tunes SmolLM2 with LoRA and fully, evaluates everything
# (general ability included) and writes the report. A second run skips every
# unchanged stage; an interrupted one resumes. F1AI_PROFILE=standard or full runs
# the larger profiles (hours); F1AI_WORKSPACE picks the folder.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup" >&2; exit 1; }
workspace="${F1AI_WORKSPACE:-.}"
# The shared data: $F1AI_SHARED_DATA (as the tests read it), else ../shared/data.
shared="${F1AI_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
ergast="${F1AI_ERGAST_DIR:-$shared/ergast}"
if [ -f "$ergast/races.csv" ]; then
  export F1AI_ERGAST_DIR="$ergast"
else
  unset F1AI_ERGAST_DIR   # f1ai imports its embedded sample, with a notice
fi
# F1DB: the end of the 2025 season and 2026 so far, merged in after Ergast.
f1db="${F1AI_F1DB_DIR:-$shared/f1db}"
[ -d "$f1db/seasons" ] && export F1AI_F1DB_DIR="$f1db"
# ARC, PIQA and HellaSwag, for general ability before and after fine-tuning.
general="${F1AI_GENERAL_EVAL_DIR:-$shared/general-eval}"
[ -d "$general" ] && export F1AI_GENERAL_EVAL_DIR="$general"

# `cargo run` finds the binary wherever CARGO_TARGET_DIR puts it.
exec cargo run --release --quiet --bin f1ai -- --workspace "$workspace" run --profile "${F1AI_PROFILE:-quick}"
