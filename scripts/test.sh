#!/usr/bin/env bash
# Builds the workspace and runs every test. Reads the shared data from ../shared/data
# and ../shared/golden (override with F1AI_SHARED_DATA, F1AI_SHARED_GOLDEN).
# Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup" >&2; exit 1; }
shared="${F1AI_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
[ -f "$shared/ergast/races.csv" ] || {
  echo "error: the shared Ergast tables are not at $shared/ergast (set F1AI_SHARED_DATA)" >&2
  exit 1
}
export F1AI_SHARED_DATA="$shared"
# llama.cpp's, sacrebleu's and rouge-score's reference values, beside the data.
export F1AI_SHARED_GOLDEN="${F1AI_SHARED_GOLDEN:-$shared/../golden}"

# What the end-to-end tests drive: the official `openai` Python client, and
# Debian's Chromium through playwright-core.
python3 -c 'import openai' 2>/dev/null || python3 -m pip install --quiet openai
if ! command -v chromium >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "error: install Debian's chromium package (the browser tests use it)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm install --silent --no-audit --no-fund --prefix crates/f1ai/tests/browser
# PyTorch + transformers + peft, which load our adapters and exported models.
F1AI_PEFT_PYTHON="$(./scripts/python-env.sh)"
export F1AI_PEFT_PYTHON

# The CPU-specific kernel tests return early, saying so, on CPUs without the
# feature; say here which of them run.
if grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null; then
  echo "test.sh: this CPU has AVX512-VNNI: the int8 product tests run"
else
  echo "test.sh: this CPU lacks AVX512-VNNI: the int8 product tests return early (nothing to run them on)"
fi
if grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
  echo "test.sh: this CPU has AMX-INT8: the AMX tile tests run"
else
  echo "test.sh: this CPU lacks AMX-INT8: the AMX tile tests run on tiles emulated in software (the int8 products use VNNI alone)"
fi
if grep -qw amx_bf16 /proc/cpuinfo 2>/dev/null; then
  echo "test.sh: this CPU has AMX-BF16: the bf16 tile tests run (bf16 training runs on the tiles)"
else
  echo "test.sh: this CPU lacks AMX-BF16: the bf16 tile tests run on tiles emulated in software"
fi
if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
  echo "test.sh: this CPU has AVX512-BF16: the bf16 kernel tests run"
else
  echo "test.sh: this CPU lacks AVX512-BF16: the bf16 kernel tests return early; bf16 training runs (and is tested) on rounded operands with the f32 kernel"
fi

cargo build --workspace --all-targets
cargo test --workspace

# The bf16 gradients once more on the kernel this CPU does not pick: AMX tiles
# (emulated in software where the CPU has none) or, on AMX machines, AVX512-BF16.
if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
  other=tiles
  if grep -qw amx_bf16 /proc/cpuinfo; then other=dot-products; fi
  echo "test.sh: the bf16 gradient tests again with F1AI_BF16_KERNEL=$other"
  # (--workspace: the features the build above used, so nothing is rebuilt)
  F1AI_BF16_KERNEL=$other cargo test --workspace --test gradients bf16
fi
