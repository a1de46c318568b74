#!/bin/sh
# Installs the llama.cpp peer (llama-cpp-python, which compiles llama.cpp
# from the source in its package, here with GGML_NATIVE so that it uses this
# CPU's instructions as ours does) into a virtual environment outside the
# repository. bench/mmlu.sh runs bench/peer/mc.py with its python. Building
# takes several minutes on 2 cores.
set -eu
cache=${CHAEJEOM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaejeom}
venv=$cache/venv
command -v python3 >/dev/null 2>&1 || { echo "install.sh: python3 not found" >&2; exit 1; }
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
CMAKE_ARGS="-DGGML_NATIVE=ON" "$venv/bin/pip" install --no-cache-dir 'llama-cpp-python==0.3.*' numpy
echo "llama.cpp peer installed in $venv ($("$venv/bin/python" -c 'import llama_cpp; print("llama-cpp-python", llama_cpp.__version__)'))"
