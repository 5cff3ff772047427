#!/usr/bin/env bash
# Creates (once) the Python environment the PEFT interoperability test runs:
# PyTorch, transformers and peft, pinned, and gguf (transformers reads GGUF files
# with it: the PyTorch benchmark anchor). Prints the interpreter's path.
# The environment lives in $F1AI_PYTHON_ENV (default: ~/.cache/f1-conversational-ai/python);
# about 5.6 GiB, most of it PyTorch's CUDA libraries.
set -euo pipefail

env_dir="${F1AI_PYTHON_ENV:-$HOME/.cache/f1-conversational-ai/python}"
packages=(torch==2.15.0 transformers==5.24.0 peft==0.21.2 gguf==0.19.0)
stamp="$env_dir/.f1ai-packages"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${packages[*]}" ]; then
  echo "setting up $env_dir (${packages[*]})" >&2
  rm -rf "$env_dir"
  python3 -m venv "$env_dir"
  "$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2
  echo "${packages[*]}" > "$stamp"
fi
echo "$env_dir/bin/python"
