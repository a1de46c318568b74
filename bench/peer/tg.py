"""tg.py — llama.cpp's decoding alone, through llama-cpp-python: the
baseline of bench/gen.sh's decode-only line (ours: `chaejeom bench
--prompt-tokens 0`, llama-bench's tg test).

    python tg.py MODEL.gguf THREADS TOKENS

From a one-token context, TOKENS tokens are evaluated one at a time (each
a forward pass of one row, as decoding does), once to warm up and then 3
times; stdout's last line is `peer: tg=TOKENS tok_s=X` with X the mean
rate of the 3. Exit 3, printing "peer absent", without llama-cpp-python.
"""
import sys
import time

from peerargs import llama_class

if len(sys.argv) != 4:
    sys.stderr.write("usage: python tg.py MODEL.gguf THREADS TOKENS\n")
    sys.exit(2)
model_path, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
Llama = llama_class("tg.py", model_path)
llm = Llama(model_path=model_path, n_ctx=n + 8, n_batch=512, n_threads=threads, n_threads_batch=threads,
            verbose=False)
rates = []
for rep in range(4):
    llm.reset()
    llm.eval([1])
    t0 = time.perf_counter()
    for i in range(n):
        llm.eval([100 + i % 100])
    if rep:
        rates.append(n / (time.perf_counter() - t0))
print(f"peer: tg={n} tok_s={sum(rates) / len(rates):.2f}")
