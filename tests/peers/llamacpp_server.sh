#!/bin/sh
# llama.cpp's own server against our local runner: `python -m
# llama_cpp.server` (llama-cpp-python, which links llama.cpp) serves a GGUF;
# `chaejeom run -m http://...` grades ARC-Easy and HellaSwag through it and
# `chaejeom run -m THE_SAME_GGUF` grades them here. Every choice's
# log-likelihood must agree within 1e-3 and every decision (pred) must be the
# same. llama-cpp-python takes prompts only as text and has no /tokenize at
# the root (its own is /extras/tokenize), so the runner sends text and finds
# the continuation by text_offset (which llama-cpp-python counts in its
# detokenized prompt, one dummy-prefix space ahead). Its KV cache is made
# F32, as ours. Needs llama-cpp-python[server] (PyPI):
# prints SKIP without it. Not part of make test.
#
#   LLAMACPP_PYTHON  a python where `import uvicorn, llama_cpp.server.app` works (default: the first of
#                    ~/.cache/chaejeom/venv-serve and ~/.cache/chaejeom/venv that has it;
#                    python3 -m venv DIR && DIR/bin/pip install 'llama-cpp-python[server]')
#   PEER_GGUFS       the GGUF files (default: $GOLDEN/llamacpp/stories260K.gguf)
#   PEER_LIMIT       docs per task (default 40)
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
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$TMP"' EXIT
echo "llama-cpp-python $("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)')"

for G in $GGUFS; do
    name=$(basename "$G" .gguf)
    [ -f "$G" ] || { fail "peer_llamacpp_$name" "$G is missing"; continue; }
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
        { fail "peer_llamacpp_$name" "run through the server: $(tail -c 400 "$TMP/$name.http.out")"; kill "$SPID"; SPID=""; continue; }
    echo "$name: graded through llama_cpp.server in $(($(date +%s) - start)) s"
    kill "$SPID"
    wait "$SPID" 2>/dev/null
    SPID=""
    "$CJ" run -m "$G" --tasks $TASKS --limit "$LIMIT" --db "$TMP/$name.local.db" -q -t 1 >"$TMP/$name.local.out" 2>&1 ||
        { fail "peer_llamacpp_$name" "local run: $(tail -c 300 "$TMP/$name.local.out")"; continue; }
    cp "$TMP/$name.http.db" "$TMP/$name.local.db" "${PEER_KEEP:-$TMP}/" 2>/dev/null
    python3 - "$TMP/$name.http.db" "$TMP/$name.local.db" "$name" >"$TMP/$name.cmp" <<'PY'
import sqlite3, sys
http, local, name = sys.argv[1:]
con = sqlite3.connect(http)
con.execute("ATTACH ? AS l", (local,))
rows = con.execute("""SELECT a.task, a.doc_id, a.choice_idx, a.logprob, b.logprob, a.n_tokens, b.n_tokens
                      FROM choices a JOIN l.choices b USING (task, doc_id, choice_idx)""").fetchall()
n_local = con.execute("SELECT count(*) FROM l.choices").fetchone()[0]
worst = max(rows, key=lambda r: abs(r[3] - r[4]))
d = abs(worst[3] - worst[4])
tok = sum(r[5] != r[6] for r in rows)
preds = con.execute("""SELECT count(*), sum(a.pred = b.pred) FROM docs a JOIN l.docs b USING (task, doc_id)""").fetchone()
print("%s: %d choices (%d local), max |d logprob| %.3g (%s %s choice %d: server %.6f, local %.6f), "
      "token counts differing %d" % (name, len(rows), n_local, d, worst[0], worst[1], worst[2], worst[3], worst[4], tok))
over = sorted((abs(r[3] - r[4]), r[0], r[1], r[2]) for r in rows if abs(r[3] - r[4]) > 1e-3)
inside = [abs(r[3] - r[4]) for r in rows if abs(r[3] - r[4]) <= 1e-3]
print("%s: %d choices within 1e-3 (max %.2g, mean %.2g); over it: %s" % (name, len(inside), max(inside or [0]),
      sum(inside) / max(1, len(inside)), ", ".join("%s %s choice %d (%.3g)" % (t, d, c, x) for x, t, d, c in over[-5:]) or "none"))
print("%s: decisions the same in %d of %d docs" % (name, preds[1], preds[0]))
for task, metric, a, b in con.execute("""SELECT a.task, a.metric, a.value, b.value FROM metrics a JOIN l.metrics b
                                         USING (task, metric) WHERE a.metric IN ('acc', 'acc_norm') ORDER BY 1, 2"""):
    print("%s: %-9s %-8s server %.4f  local %.4f" % (name, task, metric, a, b))
ok = rows and len(rows) == n_local and d <= 1e-3 and preds[0] == preds[1] and preds[0] > 0
print("ok" if ok else "differ")
PY
    cat "$TMP/$name.cmp"
    [ "$(tail -1 "$TMP/$name.cmp")" = ok ] && pass "peer_llamacpp_$name" || fail "peer_llamacpp_$name" "see above"
done
exit $e2e_fail
