#!/usr/bin/env bash
# Checks that llama.cpp itself loads the GGUFs f1ai writes from Hugging Face folders
# (converted config.json and tokenizer.json): both registered models are exported as
# folders, fully fine-tuned from the folder for one step at a negligible learning
# rate (which writes model.gguf, f16), and llama-cpp-python then tokenizes the 287
# golden texts and predicts the golden prompts' next token. Not part of
# scripts/test.sh: building llama.cpp takes ~12 minutes on 2 cores
# (scripts/llama-cpp-env.sh). Exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

shared="${F1AI_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
golden="${F1AI_SHARED_GOLDEN:-$shared/../golden}"
python="$(./scripts/llama-cpp-env.sh)"

cargo build --release --bin f1ai
f1ai="${CARGO_TARGET_DIR:-$root/target}/release/f1ai"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$work" <<'PY'
import json, pathlib, sys
curated = pathlib.Path(sys.argv[1], "data/curated")
curated.mkdir(parents=True)
for split, count in [("train", 8), ("val", 2)]:
    rows = [{"messages": [{"role": "user", "content": f"Who won race {i} of {1980 + i}?"},
                          {"role": "assistant", "content": f"Driver number {i}."}]} for i in range(count)]
    (curated / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
PY
ggufs=()
for model in smollm2 gemma3; do
  "$f1ai" --workspace "$work" models export "$model"
  printf 'run_name: full-%s\nmodel: %s/models/hf/%s\nmethod: full\ntraining:\n  max_steps: 1\n  batch_size: 2\n  learning_rate: 1.0e-9\n  eval_every: 0\n' \
    "$model" "$work" "$model" > "$work/full-$model.yaml"
  "$f1ai" --workspace "$work" train --config "$work/full-$model.yaml"
  ggufs+=("$work/models/artifacts/full-$model/model.gguf")
done
"$python" scripts/llama_cpp_check.py "$golden" "${ggufs[@]}"
