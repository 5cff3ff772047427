#!/usr/bin/env bash
# Creates (once) a Python environment with llama-cpp-python built from source for
# this CPU (llama.cpp itself, about 12 minutes on 2 cores). Prints the interpreter's
# path. The environment lives in $F1AI_LLAMA_CPP_ENV (default:
# ~/.cache/f1-conversational-ai/llama-cpp, or llama-cpp-no-amx for the build below).
# F1AI_LLAMA_CPP_AMX=off builds llama.cpp without its AMX kernels (on CPUs with AMX
# they crash on batched prompts: ggml-org/llama.cpp issue 20824); default on, which
# on CPUs without AMX builds the same thing.
set -euo pipefail

amx="${F1AI_LLAMA_CPP_AMX:-on}"
case "$amx" in
  on) flags=""; default_dir="$HOME/.cache/f1-conversational-ai/llama-cpp" ;;
  off) flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
       default_dir="$HOME/.cache/f1-conversational-ai/llama-cpp-no-amx" ;;
  *) echo "error: F1AI_LLAMA_CPP_AMX must be on or off, not '$amx'" >&2; exit 2 ;;
esac
env_dir="${F1AI_LLAMA_CPP_ENV:-$default_dir}"
package=llama-cpp-python==0.3.36
build="$package${flags:+ $flags}"
stamp="$env_dir/.f1ai-packages"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$build" ]; then
  echo "setting up $env_dir ($build, builds llama.cpp)" >&2
  rm -rf "$env_dir"
  python3 -m venv "$env_dir"
  cmake_args="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"
  # GCC keeps an explicit -mno-amx-* against the -march=native that GGML_NATIVE
  # adds (scikit-build-core splits CMAKE_ARGS as a shell would).
  if [ -n "$flags" ]; then
    cmake_args="$cmake_args '-DCMAKE_C_FLAGS=$flags' '-DCMAKE_CXX_FLAGS=$flags'"
  fi
  CMAKE_ARGS="$cmake_args" \
    "$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    "$package" numpy >&2
  # (grep reads all of objdump's output: -q would end the pipe early, and pipefail fail it.)
  if [ -n "$flags" ] && objdump -d "$(find "$env_dir" -name 'libggml-cpu*.so*' | head -n 1)" | grep ldtilecfg >/dev/null; then
    echo "error: $env_dir's llama.cpp still has AMX code" >&2
    exit 1
  fi
  echo "$build" > "$stamp"
fi
echo "$env_dir/bin/python"
