"""mc.py — llama.cpp's multiple-choice scoring, through llama-cpp-python, on
the requests bench/mcq dumps: the speed baseline (and a second opinion on
the log-probs) for bench/mmlu.sh.

    python mc.py MODEL.gguf REQUESTS.jsonl THREADS OUT

It works as llama.cpp's `perplexity --multiple-choice` does: per question,
the part the choices share is evaluated once, then each choice's own
tokens; nothing is kept from one question to the next. Tokens follow
lm-evaluation-harness's boundary rule with llama.cpp's own tokenizer:
trailing whitespace of the context moves to the continuation, whole =
BOS + tokenize(context + continuation), the continuation is whole after the
tokens of the (stripped) context, and a sequence longer than the model's
context + 1 keeps its last tokens.

OUT gets one line per question: id pred gold lp_0 .. lp_{n-1}; stdout a last
line `peer: questions=Q seconds=T qps=R acc=A`. Only the scoring is timed,
not the model load. Exit 3, printing "peer absent", when llama-cpp-python is
not installed (bench/peer/install.sh).
"""
import json
import sys
import time

from peerargs import start

Llama, model_path, req_path, threads, out_path = start("mc.py", "REQUESTS.jsonl")
try:
    import numpy as np
except ImportError as exc:
    print(f"peer absent: numpy is not installed ({exc}; run bench/peer/install.sh)")
    sys.exit(3)
probe = Llama(model_path=model_path, n_ctx=8, vocab_only=True, verbose=False)
arch = probe.metadata.get("general.architecture", "llama")
ctx_len = int(probe.metadata.get(f"{arch}.context_length", 2048))  # the trained context, as mc.mjs took it
del probe
llm = Llama(model_path=model_path, n_ctx=ctx_len, n_batch=512, n_threads=threads, n_threads_batch=threads,
            logits_all=True, verbose=False)
bos = llm.token_bos()
head = [bos] if bos is not None and bos >= 0 else []


def tokenize(s):
    return llm.tokenize(s.encode("utf-8"), add_bos=False, special=False) if s else []


def prepare(ctx, cont):
    """The token sequence of one (context, continuation) pair and where its continuation starts."""
    stripped = ctx.rstrip()
    whole = head + tokenize(ctx + cont)
    n_ctx = len(head) + len(tokenize(stripped))
    if len(whole) > ctx_len + 1:
        cut = len(whole) - (ctx_len + 1)
        whole = whole[cut:]
        n_ctx = max(1, n_ctx - cut)
    return whole, min(n_ctx, len(whole) - 1)


def log_softmax_at(p, tok):
    """ln p(tok | tokens before position p + 1), from the logits of position p."""
    row = np.asarray(llm.scores[p], dtype=np.float64)
    mx = row.max()
    return float(row[tok] - mx - np.log(np.exp(row - mx).sum()))


questions = [json.loads(line) for line in open(req_path, encoding="utf-8") if line.strip()]
lines, correct = [], 0
t0 = time.perf_counter()
for q in questions:
    ch = [prepare(c, k) for c, k in zip(q["contexts"], q["continuations"])]
    shared = min(len(ids) - 1 for ids, _ in ch)
    for ids, _ in ch:
        i = 0
        while i < shared and ids[i] == ch[0][0][i]:
            i += 1
        shared = i
    llm.reset()
    llm.eval(ch[0][0][:shared])
    shared_lp = {}
    lps = []
    for ids, start in ch:
        llm.n_tokens = shared  # drops the previous choice's tokens from the cache on the next eval
        llm.eval(ids[shared:len(ids) - 1])
        total = 0.0
        for p in range(start - 1, len(ids) - 1):
            if p < shared:
                key = (p, ids[p + 1])
                if key not in shared_lp:
                    shared_lp[key] = log_softmax_at(p, ids[p + 1])
                total += shared_lp[key]
            else:
                total += log_softmax_at(p, ids[p + 1])
        lps.append(total)
    pred = max(range(len(lps)), key=lambda i: (lps[i], -i))
    correct += pred == q["gold"]
    lines.append(f"{q['id']} {pred} {q['gold']} " + " ".join(f"{v:.9g}" for v in lps))
seconds = time.perf_counter() - t0
with open(out_path, "w", encoding="utf-8") as fp:
    fp.write("\n".join(lines) + "\n")
n = len(questions)
print(f"peer: questions={n} seconds={seconds:.3f} qps={n / seconds:.4f} acc={correct / n if n else 0:.4f}")
