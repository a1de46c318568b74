"""peerargs.py — what the llama.cpp peers share: their command line
(MODEL.gguf INPUT.jsonl THREADS OUT) and llama-cpp-python's import, which
exits 3 printing "peer absent" when the package is not installed."""
import os
import sys


def start(script, input_name):
    """(Llama, model_path, input_path, threads, out_path), or exits."""
    if len(sys.argv) != 5:
        sys.stderr.write(f"usage: python {script} MODEL.gguf {input_name} THREADS OUT\n")
        sys.exit(2)
    model_path, in_path, threads, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    return llama_class(script, model_path), model_path, in_path, threads, out_path


def llama_class(script, model_path):
    """llama_cpp.Llama, or exits: 3 ("peer absent") without the package, 2
    without the model file."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        print(f"peer absent: llama-cpp-python is not installed ({exc}; run bench/peer/install.sh)")
        sys.exit(3)
    if not os.path.isfile(model_path):
        sys.stderr.write(f"{script}: {model_path}: no such file\n")
        sys.exit(2)
    return Llama
