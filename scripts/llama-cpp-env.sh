#!/usr/bin/env bash
# Creates (once) a Python environment with llama-cpp-python built from source for
# this CPU (llama.cpp itself, about 12 minutes on 2 cores). Prints the interpreter's
# path. The environment lives in $F1AI_LLAMA_CPP_ENV (default:
# ~/.cache/f1-conversational-ai/llama-cpp).
set -euo pipefail

env_dir="${F1AI_LLAMA_CPP_ENV:-$HOME/.cache/f1-conversational-ai/llama-cpp}"
package=llama-cpp-python==0.3.36
stamp="$env_dir/.f1ai-packages"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$package" ]; then
  echo "setting up $env_dir ($package, builds llama.cpp)" >&2
  rm -rf "$env_dir"
  python3 -m venv "$env_dir"
  CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
    "$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check "$package" numpy >&2
  echo "$package" > "$stamp"
fi
echo "$env_dir/bin/python"
