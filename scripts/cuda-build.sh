#!/usr/bin/env bash
# Builds the CUDA binaries (the GPU parity tests and f1ai) on a machine without a
# GPU, to carry to one that has it (and its driver and CUDA libraries); there
# `scripts/cuda-check.sh`'s steps run on them. Prints the two binaries' paths.
# - nvcc 13.0 from PyPI (the PTX must not be newer than the GPU's driver: 580 takes
#   CUDA 13.0), in $F1AI_CUDA_TOOLKIT (default ~/.cache/f1-conversational-ai/cuda);
# - candle links the driver and CUDA libraries dynamically: the link uses stubs
#   holding cudarc's function names under the real sonames, and the GPU host's own
#   libraries load at run time;
# - code for x86-64-v3, not this CPU (.cargo/config.toml's `native` stopped with an
#   illegal instruction on a GPU host's Xeon).
set -euo pipefail
cd "$(dirname "$0")/.."

toolkit="${F1AI_CUDA_TOOLKIT:-$HOME/.cache/f1-conversational-ai/cuda}"
cu13="$toolkit/pkgs/nvidia/cu13"
if [ ! -x "$cu13/bin/nvcc" ]; then
  echo "installing nvcc into $toolkit" >&2
  python3 -m pip install --quiet --disable-pip-version-check --target "$toolkit/pkgs" \
    "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*" \
    "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" >&2
fi

cargo fetch --quiet
cudarc=$(cargo metadata --format-version 1 --features f1-train/cuda | python3 -c '
import json, os, sys
packages = json.load(sys.stdin)["packages"]
print(next(os.path.dirname(p["manifest_path"]) for p in packages if p["name"] == "cudarc"))')
stubs="$toolkit/stubs"
mkdir -p "$stubs"
for entry in driver:cuda:libcuda.so.1 cublas:cublas:libcublas.so.13 \
  cublaslt:cublasLt:libcublasLt.so.13 curand:curand:libcurand.so.10 nvrtc:nvrtc:libnvrtc.so.13; do
  IFS=: read -r module name soname <<<"$entry"
  grep -oE "pub unsafe fn [A-Za-z_0-9]+\(" "$cudarc/src/$module/sys/mod.rs" |
    sed -E 's/pub unsafe fn ([A-Za-z_0-9]+)\(/void \1(void) {}/' | sort -u >"$stubs/$name.c"
  cc -shared -fPIC -Wl,-soname,"$soname" -o "$stubs/lib$name.so" "$stubs/$name.c"
done
ln -sf "$cu13/lib/libcudart.so.13" "$stubs/libcudart.so"

export PATH="$cu13/bin:$PATH" CUDA_PATH="$cu13" CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export LIBRARY_PATH="$stubs" RUSTFLAGS="-C target-cpu=x86-64-v3"
export CARGO_TARGET_DIR="${F1AI_CUDA_TARGET_DIR:-$HOME/.cache/f1-conversational-ai/target-cuda}"
tests=$(cargo test --release --features cuda -p f1-train --test cuda --no-run --message-format=json |
  python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") and message["target"]["name"] == "cuda":
        print(message["executable"])')
cargo build --release --features cuda --bin f1ai >&2
echo "$tests"
echo "$CARGO_TARGET_DIR/release/f1ai"
