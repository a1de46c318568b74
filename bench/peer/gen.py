"""gen.py — llama.cpp's generation, through llama-cpp-python, on the prompts
bench/gen dumps: the speed baseline for bench/gen.sh.

    python gen.py MODEL.gguf PROMPTS.jsonl THREADS OUT

One sequence at a time, greedy (temperature 0, no repetition penalty), with
llama-cpp-python's prompt cache: each prompt reuses the KV of the longest
prefix it shares with the tokens evaluated before it (the few-shot block),
as llama.cpp's server does for one slot. Stops at the prompt's stop strings,
at end-of-generation tokens or after max_new tokens.

OUT gets one line per question: id n_tokens finish text (JSON string);
stdout a last line `peer: questions=Q seconds=T qps=R tokens=N tok_s=X`.
Only the generation is timed, not the model load. Exit 3, printing
"peer absent", when llama-cpp-python is not installed (bench/peer/install.sh).
"""
import json
import time

from peerargs import start

Llama, model_path, req_path, threads, out_path = start("gen.py", "PROMPTS.jsonl")
prompts = [json.loads(line) for line in open(req_path, encoding="utf-8") if line.strip()]
llm = Llama(model_path=model_path, n_ctx=4096, n_batch=512, n_threads=threads, n_threads_batch=threads,
            verbose=False)
lines, tokens = [], 0
t0 = time.perf_counter()
for p in prompts:
    r = llm.create_completion(p["prompt"], max_tokens=p["max_new"], temperature=0.0, top_k=1, top_p=1.0,
                              repeat_penalty=1.0, stop=p["stop"])
    c = r["choices"][0]
    n = r["usage"]["completion_tokens"]
    tokens += n
    lines.append(f'{p["id"]} {n} {c["finish_reason"]} {json.dumps(c["text"])}')
seconds = time.perf_counter() - t0
with open(out_path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
print(f"peer: questions={len(prompts)} seconds={seconds:.3f} qps={len(prompts) / seconds:.4f} "
      f"tokens={tokens} tok_s={tokens / seconds:.2f}")
