#!/bin/sh
# llama.cpp's own server against our engine, position by position: `python
# -m llama_cpp.server` (llama-cpp-python, which links llama.cpp) serves a
# GGUF; `chaejeom run -m http://...` grades ARC-Easy and HellaSwag through it
# and `chaejeom run -m THE_SAME_GGUF` grades them here. Then every choice is
# sent once more, to both servers:
#   - to llama.cpp's, as the runner sends it (context + continuation as text,
#     echo, logprobs 1, max_tokens 1), with its /extras/tokenize of the same
#     text (BOS first, as its completions add one): the token ids it scored;
#   - to `chaejeom serve -m THE_SAME_GGUF`, those very ids as a token-id
#     prompt (echo, logprobs 1, max_tokens 0): our engine's log-prob at every
#     position of llama.cpp's sequence.
# Checks, every choice of the run:
#   (i)   where llama.cpp's tokens equal lm-eval's boundary (tok(context) then
#         tok(context + continuation)[len(tok(context)):], with our tokenizer,
#         as the local run scores), the run's log-likelihood through the
#         server is within 1e-3 of the local run's;
#   (ii)  at every position of every choice, llama.cpp's log-prob is within
#         1e-3 of chaejeom serve's on the same ids;
#   (iii) every decision (pred) is the same;
#   (iv)  the echo covers exactly the /extras/tokenize ids, and the run stored
#         the sum of the echoed continuation (within 1e-3): the per-position
#         numbers are those the run graded.
# Printed, not checked: how many choices llama.cpp tokenizes differently from
# lm-eval's boundary. That is a property of grading by text, not a defect of
# either side: a text prompt is tokenized whole by the server, and
# lm-eval's own backend for it does the same (lm-eval 0.4.13,
# lm_eval/models/gguf.py, GGUFLM.gguf_completion: `prompt += continuation;
# request.update({"prompt": prompt, "max_tokens": 1, "echo": True})`, the
# continuation found by `while offsets[idx] < context_length`).
#
# llama-cpp-python takes prompts only as text (a token-id prompt with echo
# fails in its create_completion) and has no /tokenize at the root (its own
# is /extras/tokenize), so the runner sends text and finds the continuation
# by text_offset (which llama-cpp-python counts in its detokenized prompt,
# one dummy-prefix space ahead; when it samples EOS for max_tokens 1 it
# echoes no generated token). Its KV cache is made F32, as ours. Needs
# llama-cpp-python[server] (PyPI): prints SKIP without it. Not part of make
# test.
#
#   LLAMACPP_PYTHON  a python where `import uvicorn, llama_cpp.server.app` works (default: the first of
#                    ~/.cache/chaejeom/venv-serve and ~/.cache/chaejeom/venv that has it;
#                    python3 -m venv DIR && DIR/bin/pip install 'llama-cpp-python[server]')
#   PEER_GGUFS       the GGUF files (default: $GOLDEN/llamacpp/stories260K.gguf); F32 or F16 ones: on a
#                    quantized file llama.cpp rounds activations to the weights' block type, far past 1e-3
#                    (docs/models.md, "What text prompts can and cannot reproduce")
#   PEER_LIMIT       docs per task (default 40)
#   PEER_KEEP        a folder to keep both runs' databases in
. tests/e2e/lib.sh
PY=${LLAMACPP_PYTHON:-}
if [ -z "$PY" ]; then
    for v in venv-serve venv; do
        p=$HOME/.cache/chaejeom/$v/bin/python
        if "$p" -c "import uvicorn, llama_cpp.server.app" 2>/dev/null; then PY=$p; break; fi
    done
fi
if [ -z "$PY" ] || ! "$PY" -c "import uvicorn, llama_cpp.server.app" 2>/dev/null; then
    echo "SKIP peer_llamacpp_server (no llama_cpp.server importable; see the header of $0)"
    exit 0
fi
GGUFS=${PEER_GGUFS:-$GOLDEN/llamacpp/stories260K.gguf}
LIMIT=${PEER_LIMIT:-40}
TASKS=arc_easy,hellaswag
SPID=""
OPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; [ -n "$OPID" ] && kill "$OPID" 2>/dev/null; rm -rf "$TMP"' EXIT
echo "llama-cpp-python $("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)')"

stop_servers() {
    for p in $SPID $OPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    SPID=""
    OPID=""
}

for G in $GGUFS; do
    name=$(basename "$G" .gguf)
    [ -f "$G" ] || { fail "peer_llamacpp_$name" "$G is missing"; continue; }
    "$CJ" run -m "$G" --tasks $TASKS --limit "$LIMIT" --db "$TMP/$name.local.db" -q -t 1 >"$TMP/$name.local.out" 2>&1 ||
        { fail "peer_llamacpp_$name" "local run: $(tail -c 300 "$TMP/$name.local.out")"; continue; }
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # --type_k/--type_v 0: an F32 KV cache, as our runner keeps (llama.cpp's default F16 one moves
    # stories260K's log-probs by up to 2e-2 a position: ../shared/golden/llamacpp/README.md)
    "$PY" -m llama_cpp.server --model "$G" --logits_all true --host 127.0.0.1 --port "$PORT" --n_ctx 512 \
        --n_threads 1 --type_k 0 --type_v 0 --model_alias "$name" >"$TMP/$name.server" 2>&1 &
    SPID=$!
    i=0
    while ! curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1 && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    start=$(date +%s)
    "$CJ" run -m "http://127.0.0.1:$PORT/v1" --tasks $TASKS --limit "$LIMIT" --db "$TMP/$name.http.db" -q \
        --concurrency 2 >"$TMP/$name.http.out" 2>&1 ||
        { fail "peer_llamacpp_$name" "run through the server: $(tail -c 400 "$TMP/$name.http.out")"; stop_servers; continue; }
    echo "$name: graded through llama_cpp.server in $(($(date +%s) - start)) s"
    grep "scored as text" "$TMP/$name.http.out"
    "$CJ" serve -m "$G" --port 0 -t 1 >"$TMP/$name.ours" 2>&1 &
    OPID=$!
    i=0
    while ! grep -q listening "$TMP/$name.ours" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    OURS=$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)/v1.*|\1|p' "$TMP/$name.ours")
    cp "$TMP/$name.http.db" "$TMP/$name.local.db" "${PEER_KEEP:-$TMP}/" 2>/dev/null
    python3 - "$CJ" "http://127.0.0.1:$PORT" "$OURS" "$TMP/$name.http.db" "$TMP/$name.local.db" "$name" \
        >"$TMP/$name.cmp" 2>&1 <<'PY'
import json, sqlite3, subprocess, sys, urllib.request

cj, llama, ours, http, local, name = sys.argv[1:]


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


con = sqlite3.connect(http)
con.execute("ATTACH ? AS l", (local,))
rows = con.execute("""SELECT a.task, a.doc_id, a.choice_idx, a.logprob, b.logprob FROM choices a
                      JOIN l.choices b USING (task, doc_id, choice_idx) ORDER BY 1, 2, 3""").fetchall()
n_local = con.execute("SELECT count(*) FROM l.choices").fetchone()[0]
preds = con.execute("SELECT count(*), sum(a.pred = b.pred) FROM docs a JOIN l.docs b USING (task, doc_id)").fetchone()
docs, bad = {}, []
same_tok, differ_tok, sums_same, sums_other = 0, [], [], []
n_pos, worst_pos, worst_run = 0, (0.0, ""), 0.0
for task, doc, ci, lp_http, lp_local in rows:
    if (task, doc) not in docs:
        d = json.loads(subprocess.check_output([cj, "prompt", "--task", task, "--doc", doc.split(":")[-1], "--json"]))
        if d["doc_id"] != doc:
            sys.exit("chaejeom prompt gave %s for %s" % (d["doc_id"], doc))
        docs[task, doc] = d
    d = docs[task, doc]
    # lm-eval's split: the context's trailing whitespace joins the continuation
    ctx = d["context"].rstrip()
    text = d["context"] + d["continuations"][ci]
    where = "%s %s choice %d" % (task, doc, ci)
    # llama.cpp: what it scored, as the runner asked it
    reply = post(llama + "/v1/completions", {"prompt": text, "echo": True, "logprobs": 1, "max_tokens": 1,
                                              "temperature": 0})["choices"][0]
    L = reply["logprobs"]
    ids = post(llama + "/extras/tokenize", {"input": text})["tokens"]
    # its offsets run ahead of the text by what its detokenized prompt adds (the dummy-prefix space)
    lead = L["text_offset"][-1] + len(L["tokens"][-1]) - len(reply["text"])
    n_echo = sum(o < len(text) + lead for o in L["text_offset"])
    if n_echo != len(ids) - 1:
        bad.append("%s: %d tokens echoed for %d ids from /extras/tokenize" % (where, n_echo, len(ids) - 1))
        continue
    lp_llama = L["token_logprobs"][:n_echo]  # [0] is null: the first token after BOS
    # our engine on the very same ids (BOS echoed too, with a null log-prob)
    O = post(ours + "/v1/completions", {"prompt": ids, "echo": True, "logprobs": 1, "max_tokens": 0})
    lp_ours = O["choices"][0]["logprobs"]["token_logprobs"][1:]
    for i in range(1, n_echo):
        x = abs(lp_llama[i] - lp_ours[i])
        n_pos += 1
        if x > worst_pos[0]:
            worst_pos = (x, "%s position %d" % (where, i + 1))
    # the continuation as the runner reads it: tokens starting at or past the context's end
    first = next(i for i in range(n_echo) if L["text_offset"][i] >= len(ctx) + lead)
    worst_run = max(worst_run, abs(sum(lp_llama[first:]) - lp_http))
    # lm-eval's boundary with our tokenizer: what the local run scored
    whole = post(ours + "/tokenize", {"prompt": text, "add_special_tokens": True})["tokens"]
    cenc = post(ours + "/tokenize", {"prompt": ctx, "add_special_tokens": True})["tokens"]
    if ids == cenc + whole[len(cenc):]:
        same_tok += 1
        sums_same.append((abs(lp_http - lp_local), where, lp_http, lp_local))
    else:
        differ_tok.append("%s: llama.cpp %d tokens (%d of the continuation), lm-eval's boundary %d (%d)"
                          % (where, len(ids), n_echo - first, len(whole), len(whole) - len(cenc)))
        sums_other.append(abs(lp_http - lp_local))
w = max(sums_same or [(0, "", 0, 0)])
print("%s: %d choices (%d local); llama.cpp's tokens equal lm-eval's boundary in %d, differ in %d"
      % (name, len(rows), n_local, same_tok, len(differ_tok)))
print("%s: (i) same tokens: max |server - local| %.3g (%s: server %.6f, local %.6f), mean %.2g"
      % (name, w[0], w[1], w[2], w[3], sum(x[0] for x in sums_same) / max(1, len(sums_same))))
print("%s: (ii) %d positions: max |llama.cpp - chaejeom serve| on the same ids %.3g (%s)"
      % (name, n_pos, worst_pos[0], worst_pos[1]))
print("%s: (iii) decisions the same in %d of %d docs" % (name, preds[1], preds[0]))
print("%s: (iv) echo = /extras/tokenize ids in %d of %d; max |run's stored - echoed continuation| %.3g"
      % (name, len(rows) - len(bad), len(rows), worst_run))
for b in bad[:5]:
    print("%s:   %s" % (name, b))
print("%s: text-mode tokenization differs from lm-eval's boundary in %d choices (information, not a failure)%s"
      % (name, len(differ_tok), "; |server - local| up to %.3g there" % max(sums_other) if sums_other else ""))
for t in differ_tok[:5]:
    print("%s:   %s" % (name, t))
for task, metric, a, b in con.execute("""SELECT a.task, a.metric, a.value, b.value FROM metrics a JOIN l.metrics b
                                         USING (task, metric) WHERE a.metric IN ('acc', 'acc_norm') ORDER BY 1, 2"""):
    print("%s: %-9s %-8s server %.4f  local %.4f" % (name, task, metric, a, b))
ok = (rows and len(rows) == n_local and not bad and w[0] <= 1e-3 and worst_pos[0] <= 1e-3 and n_pos > 0
      and worst_run <= 1e-3 and preds[0] == preds[1] and preds[0] > 0)
print("ok" if ok else "differ")
PY
    stop_servers
    cat "$TMP/$name.cmp"
    [ "$(tail -1 "$TMP/$name.cmp")" = ok ] && pass "peer_llamacpp_$name" || fail "peer_llamacpp_$name" "see above"
done
exit $e2e_fail
