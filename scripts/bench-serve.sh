#!/usr/bin/env bash
# Serving against llama.cpp's own server, in alternating rounds on this machine:
# `f1ai bench serve` (rounds of 1, 4 and 16 streams, then 16 beside an 8,000-token
# prompt) against `f1ai serve` and against llama-server, both serving SmolLM2 Q4_1
# with 17 parallel slots. llama-server is built once from the llama.cpp sources
# that llama-cpp-python 0.3.36 ships (PyPI's sdist), for this CPU, into
# $F1AI_LLAMA_SERVER_DIR (default ~/.cache/f1-conversational-ai/llama-server; about
# 15 minutes on 2 cores). On CPUs with AMX its AMX kernels are left out (they crash
# on batched prompts: ggml-org/llama.cpp issue 20824), and the script says so.
#   scripts/bench-serve.sh [ROUNDS] [BENCH SERVE OPTIONS...]   (default 2 rounds;
#   options such as --ignore-eos go to both servers' `f1ai bench serve`)
# Writes results/benchmarks/serve-<server>-<round>.json and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-2}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS] [BENCH SERVE OPTIONS...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
options=("$@")
workspace="${F1AI_WORKSPACE:-.}"
dir="${F1AI_LLAMA_SERVER_DIR:-$HOME/.cache/f1-conversational-ai/llama-server}"
version=0.3.36
server="$dir/build/bin/llama-server"

if [ ! -x "$server" ]; then
  echo "building llama-server from llama-cpp-python $version's llama.cpp into $dir" >&2
  rm -rf "$dir" && mkdir -p "$dir"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    cmake ninja scikit-build-core >&2
  # The source distribution itself (its build backend installed above reads its
  # metadata without building it).
  "$dir/venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: --no-build-isolation -d "$dir" "llama-cpp-python==$version" >&2
  tar xzf "$dir/llama_cpp_python-$version.tar.gz" -C "$dir"
  flags=""
  if grep -q amx_tile /proc/cpuinfo; then
    echo "this CPU has AMX: llama-server is built without its AMX kernels" >&2
    flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  fi
  PATH="$dir/venv/bin:$PATH" cmake -S "$dir/llama_cpp_python-$version/vendor/llama.cpp" \
    -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  PATH="$dir/venv/bin:$PATH" cmake --build "$dir/build" --target llama-server >&2
fi

cargo build --release --quiet --bin f1ai
f1ai="${CARGO_TARGET_DIR:-$(pwd)/target}/release/f1ai"
"$f1ai" --workspace "$workspace" models fetch smollm2 >&2
model="$workspace/models/base/SmolLM2-135M-Instruct.Q4_1.gguf"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

llama_round() {
  # 17 slots (as `bench serve` gives ours: 16 streams and the long prompt) of 8,448
  # positions each: room for the 8,000-token prompt in any slot.
  "$server" -m "$model" --host 127.0.0.1 --port "$port" -np 17 -c $((17 * 8448)) \
    -t "$(nproc)" --log-disable >/dev/null 2>&1 &
  local pid=$!
  until curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "error: llama-server did not start" >&2; exit 1; }
    sleep 0.5
  done
  "$f1ai" --workspace "$workspace" bench serve --url "http://127.0.0.1:$port" \
    --label "llama-server-$1" "${options[@]}" || { kill "$pid"; exit 1; }
  kill "$pid" && wait "$pid" 2>/dev/null || true
}

for round in $(seq "$rounds"); do
  # Alternate which server goes first, so drift does not favour one.
  if [ $((round % 2)) = 1 ]; then
    "$f1ai" --workspace "$workspace" bench serve --label "f1ai-$round" "${options[@]}"
    llama_round "$round"
  else
    llama_round "$round"
    "$f1ai" --workspace "$workspace" bench serve --label "f1ai-$round" "${options[@]}"
  fi
done

python3 - "$workspace/results/benchmarks" "$rounds" <<'PY'
import json, sys
results, rounds = sys.argv[1], int(sys.argv[2])
print(f"{'round':<6} {'streams':<10} {'f1ai tok/s':>11} {'llama-server':>13} {'ratio':>6} "
      f"{'f1ai TTFT p95 ms':>17} {'llama TTFT p95 ms':>18}")
for r in range(1, rounds + 1):
    ours = json.load(open(f"{results}/serve-f1ai-{r}.json"))["rounds"]
    theirs = json.load(open(f"{results}/serve-llama-server-{r}.json"))["rounds"]
    for a, b in zip(ours, theirs):
        x, y = a["report"], b["report"]
        print(f"{r:<6} {a['streams']:<10} {x['tokens_per_second']:>11.1f} "
              f"{y['tokens_per_second']:>13.1f} {x['tokens_per_second'] / y['tokens_per_second']:>6.2f} "
              f"{x['first_token_ms']['p95']:>17.0f} {y['first_token_ms']['p95']:>18.0f}")
PY
