#!/usr/bin/env bash
# Runs an f1ai benchmark and its reference in interleaved rounds on this machine, as
# the README's comparisons were measured: the machine's speed drifts within minutes,
# so only ratios taken in the same round mean much (the last line gives their median).
#   scripts/bench-rounds.sh train lora|full smollm2|gemma3 [ROUNDS]  against PyTorch (+ PEFT)
#   scripts/bench-rounds.sh infer smollm2|gemma3 [ROUNDS]            against llama.cpp
# On CPUs with AMX, llama.cpp's prompt is fed a token at a time (its AMX kernels crash
# on batched prompts); F1AI_LLAMA_CPP_AMX=off compares with llama.cpp built without them.
# The references are ../shared/golden/anchors' scripts, run in the pinned PyTorch
# environment (scripts/python-env.sh) or llama-cpp-python built here
# (scripts/llama-cpp-env.sh, about 12 minutes the first time). Prints a line a round
# and writes results/benchmarks/rounds-<kind>-<model>[-<method>].json.
# F1AI_PRECISION: for infer, int8 decodes with the int8 products (`bench infer
# --precision`; default native, llama.cpp's own kernels); for train, bf16 trains
# with bf16 products (`bench train --precision`; default f32).
# ANCHOR_AUTOCAST=bf16 runs the PyTorch anchor under bf16 autocast.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 train lora|full smollm2|gemma3 [ROUNDS] | infer smollm2|gemma3 [ROUNDS]" >&2; exit 2; }
kind="${1:-}"
case "$kind" in
  train) method="${2:-}"; model="${3:-}"; rounds="${4:-3}"
         [[ "$method" == lora || "$method" == full ]] || usage ;;
  infer) method=""; model="${2:-}"; rounds="${3:-3}" ;;
  *) usage ;;
esac
case "$model" in
  smollm2) gguf=SmolLM2-135M-Instruct.Q4_1.gguf; style=chatml ;;
  gemma3) gguf=gemma-3-270m-q4_k_m.gguf; style=plain ;;
  *) usage ;;
esac
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage

workspace="${F1AI_WORKSPACE:-.}"
anchors="${F1AI_SHARED_GOLDEN:-$(cd .. && pwd)/shared/golden}/anchors"
[ -d "$anchors" ] || { echo "error: the anchor scripts are not at $anchors (set F1AI_SHARED_GOLDEN)" >&2; exit 1; }
case "$kind" in
  train) python="$(./scripts/python-env.sh)" ;;
  infer) python="$(./scripts/llama-cpp-env.sh)" ;;
esac
# On CPUs with AMX llama.cpp's AMX kernels crash on batched prompts: with them its
# prompt goes in a token at a time (its decode speed, what is compared, is the
# same); F1AI_LLAMA_CPP_AMX=off measures llama.cpp built without them.
anchor=""
if [ "$kind" = infer ] && grep -q amx_tile /proc/cpuinfo; then
  if [ "${F1AI_LLAMA_CPP_AMX:-on}" = off ]; then
    anchor=llama-no-amx
    echo "this CPU has AMX: llama.cpp is built without its AMX kernels" >&2
  else
    anchor=llama-amx
    export ANCHOR_PROMPT=token
    echo "this CPU has AMX: llama.cpp runs its AMX kernels, its prompt fed a token at a time" >&2
  fi
fi
cargo build --release --quiet --bin f1ai
f1ai="${CARGO_TARGET_DIR:-$(pwd)/target}/release/f1ai"
"$f1ai" --workspace "$workspace" models fetch "$model" >&2

name="$kind-$model${method:+-$method}${F1AI_PRECISION:+-$F1AI_PRECISION}${ANCHOR_AUTOCAST:+-torch-$ANCHOR_AUTOCAST}${anchor:+-$anchor}"
results="$workspace/results/benchmarks"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for round in $(seq "$rounds"); do
  if [ "$kind" = train ]; then
    precision="${F1AI_PRECISION:-f32}"
    "$f1ai" --workspace "$workspace" bench train --method "$method" --model "$model" \
      --precision "$precision" >&2
    suffix=""; [ "$precision" = bf16 ] && suffix="-bf16"
    ours="$results/train-$model-$method$suffix.json"
    if [ "$precision" = bf16 ]; then  # our f32 right after, for the bf16/f32 ratio
      "$f1ai" --workspace "$workspace" bench train --method "$method" --model "$model" >&2
      extra=", \"ours_f32\": $(tr -d '\n' < "$results/train-$model-$method.json")"
    fi
    reference=$("$python" "$anchors/torch_train_step.py" "$workspace/models/base" "$gguf" "$method" | tail -n 1)
  else
    "$f1ai" --workspace "$workspace" bench infer --model "$model" --prompt-tokens 8 --runs 2 \
      --precision "${F1AI_PRECISION:-native}" >&2
    ours="$results/infer-$model.json"
    reference=$("$python" "$anchors/llamacpp_infer.py" "$workspace/models/base/$gguf" "$style" 128 | tail -n 1)
  fi
  printf '{"round": %s, "ours": %s, "reference": %s%s}\n' "$round" "$(tr -d '\n' < "$ours")" "$reference" "${extra:-}" >> "$log"
done

python3 - "$kind" "$log" "$results/rounds-$name.json" <<'PY'
import json, os, statistics, sys
kind, log, out = sys.argv[1:]
rounds = [json.loads(line) for line in open(log)]
for r in rounds:
    ours, ref = r["ours"], r["reference"]
    if kind == "train":
        r["speed_ratio"] = ref["s_per_step"] / ours["mean_seconds_per_step"]
        r["memory_ratio"] = ours["peak_rss_mib"] / ref["peak_rss_mib"]
        f32 = ""
        if "ours_f32" in r:
            r["speed_over_f32"] = r["ours_f32"]["mean_seconds_per_step"] / ours["mean_seconds_per_step"]
            f32 = (f'; f1ai f32 {r["ours_f32"]["mean_seconds_per_step"]:.2f} s/step, '
                   f'{r["ours_f32"]["peak_rss_mib"]:.0f} MiB ({r["speed_over_f32"]:.2f}x)')
        print(f'round {r["round"]}: f1ai {ours.get("precision", "f32")} {ours["mean_seconds_per_step"]:.2f} s/step, '
              f'{ours["peak_rss_mib"]:.0f} MiB; PyTorch ({ref.get("autocast", "none")} autocast) '
              f'{ref["s_per_step"]:.2f} s/step, {ref["peak_rss_mib"]} MiB; '
              f'speed {r["speed_ratio"]:.2f}x, memory {r["memory_ratio"]:.2f}x{f32}')
    else:
        r["decode_ratio"] = ours["median_decode_tokens_per_second"] / ref["decode_tok_s"]
        print(f'round {r["round"]}: f1ai decode {ours["median_decode_tokens_per_second"]:.1f} tok/s; '
              f'llama.cpp {ref["decode_tok_s"]:.1f} tok/s; {r["decode_ratio"]:.2f}x')
if kind == "train" and rounds:
    # The machine's speed drifts between runs: the median round, with the range.
    def spread(key):
        values = [r[key] for r in rounds if key in r]
        if values:
            return f"{statistics.median(values):.2f}x (range {min(values):.2f}-{max(values):.2f})"
    over_f32 = spread("speed_over_f32")
    print(f"median of {len(rounds)} rounds: speed {spread('speed_ratio')}"
          + (f"; over f32 {over_f32}" if over_f32 else ""))
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump({"benchmark": f"rounds-{kind}", "rounds": rounds}, f, indent=2)
os.replace(tmp, out)
print(f"wrote {out}")
PY
