#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and the CUDA toolkit (nvcc on PATH): builds with
# `--features cuda`, checks the GPU against the CPU (logits, greedy tokens, losses,
# gradients) and times inference and training there. Benchmark JSON goes to
# results/benchmarks/*-cuda0.json. Exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nvcc >/dev/null || { echo "error: nvcc not found; install the CUDA toolkit" >&2; exit 1; }
cargo test --release --features cuda -p f1-train --test cuda -- --test-threads=1 --nocapture
cargo build --release --features cuda --bin f1ai
f1ai=${CARGO_TARGET_DIR:-target}/release/f1ai
"$f1ai" bench infer --device cuda --model smollm2
"$f1ai" bench train --device cuda --model smollm2 --method lora --steps 10
"$f1ai" bench train --device cuda --model smollm2 --method full --steps 10
