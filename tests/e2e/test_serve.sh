#!/bin/sh
# chaejeom serve: `chaejeom run -m http://...` against it stores docs,
# choices, metrics and generations bit-identical to `chaejeom run -m MODEL`;
# it listens on loopback by default; bad requests get 4xx JSON errors and the
# server keeps serving; 32 clients at once get the answers a lone request
# gets, their scoring folded into shared forward calls; SIGTERM stops it
# with exit 0.
. tests/e2e/lib.sh
command -v sqlite3 >/dev/null || { fail serve_sqlite3_cli "the sqlite3 command-line tool is needed"; exit 1; }
M=$ASSETS/models/stories260K
SPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$TMP"' EXIT
q() { sqlite3 -batch -noheader "$@" 2>/dev/null; }

"$CJ" serve -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --port 0 -t 1 >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
i=0
while ! grep -q listening "$TMP/serve.out" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
PORT=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$TMP/serve.out")
[ -n "$PORT" ] && pass serve_listens_on_loopback ||
    { fail serve_listens_on_loopback "$(cat "$TMP/serve.out" "$TMP/serve.err" | head -c 300)"; exit 1; }
URL=http://127.0.0.1:$PORT/v1

# --- the same rows as the local runner -------------------------------------------------
TASKS=arc_easy,hellaswag,truthfulqa_mc2,gsm8k
"$CJ" run -m "$URL" --tokenizer "$M/tok512.bin" --db "$TMP/http.db" -q --tasks $TASKS --limit 4 --concurrency 8 \
    >"$TMP/http.out" 2>"$TMP/http.err" && pass serve_http_run || fail serve_http_run "$(tail -c 300 "$TMP/http.err")"
"$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --db "$TMP/local.db" -q --tasks $TASKS --limit 4 \
    >"$TMP/local.out" 2>"$TMP/local.err" || fail serve_local_run "$(tail -c 300 "$TMP/local.err")"
# same NAME TABLE KEY COLUMNS: the two databases hold the same rows (every column but the run id).
same() {
    cond=$(echo "$4" | sed 's/\([a-z_]*\)/a.\1 IS b.\1/g; s/,/ AND /g')
    got=$(q "$TMP/http.db" "ATTACH '$TMP/local.db' AS ref;
        SELECT (SELECT count(*) FROM $2) > 0 AND (SELECT count(*) FROM $2) = (SELECT count(*) FROM ref.$2)
          AND (SELECT count(*) FROM $2 a JOIN ref.$2 b USING ($3) WHERE $cond) = (SELECT count(*) FROM $2)")
    [ "$got" = 1 ] && pass "$1" || fail "$1" "$2 rows differ from the local runner's"
}
same serve_same_docs docs "task, doc_id" "doc_hash,prompt_hash,target,pred"
same serve_same_choices choices "task, doc_id, choice_idx" "logprob,n_tokens,n_chars,n_bytes,is_greedy,label,n_words"
same serve_same_metrics metrics "task, metric" "kind,value,stderr,n"
same serve_same_generations generations "task, doc_id" "text,n_tokens,finish_reason,answer,exact_match,correct"

# --- bad requests: a 4xx JSON error each, and the server still serves -----------------------
if command -v python3 >/dev/null; then
    python3 - "$PORT" >"$TMP/bad.out" 2>&1 <<'EOF'
import http.client, json, sys
port = int(sys.argv[1])
cases = [
    ("POST", "/v1/completions", b"", 400), ("POST", "/v1/completions", b"{\"prompt\":", 400),
    ("POST", "/v1/completions", b"[1,2]", 400), ("POST", "/v1/completions", b"{}", 400),
    ("POST", "/v1/completions", b"{\"prompt\":[[1,2,512]]}", 400), ("POST", "/v1/completions", b"{\"prompt\":[[]]}", 400),
    ("POST", "/v1/completions", b"{\"prompt\":\"a\",\"logprobs\":21}", 400),
    ("POST", "/v1/completions", b"{\"prompt\":\"a\",\"max_tokens\":-1}", 400),
    ("POST", "/v1/completions", b"{\"prompt\":\"a\",\"n\":2}", 400), ("POST", "/v1/completions", b"{\"prompt\":\"\\u0000\"}", 400),
    ("POST", "/v1/completions", b"{\"prompt\":\"a\",\"stop\":[1]}", 400), ("POST", "/v1/completions", b"\xff\xfe", 400),
    ("POST", "/v1/completions", b"{\"prompt\":\"a\",\"logprobs\":1,\"max_tokens\":2,\"temperature\":1}", 400),
    ("GET", "/v1/completions", b"", 405), ("POST", "/v1/models", b"", 405), ("POST", "/tokenize", b"{}", 400),
    ("GET", "/nowhere", b"", 404), ("POST", "/detokenize", b"{\"tokens\":[1,512]}", 400),
    ("POST", "/tokenizer_info", b"", 405),
]
bad = 0
for method, path, body, want in cases:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body)
    r = c.getresponse()
    reply = r.read()
    try:
        msg = json.loads(reply)["error"]["message"]
    except Exception:
        msg = None
    if r.status != want or not msg:
        bad += 1
        print("%s %s %r: %d %r (wanted %d)" % (method, path, body[:40], r.status, reply[:120], want))
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("POST", "/v1/completions", body=json.dumps({"prompt": [[1, 403, 407]], "echo": True, "max_tokens": 0, "logprobs": 1}))
r = c.getresponse()
lp = json.loads(r.read())["choices"][0]["logprobs"]
if r.status != 200 or len(lp["token_logprobs"]) != 3 or lp["token_logprobs"][0] is not None:
    bad += 1
    print("a good request after the bad ones:", r.status, lp)
# logprobs 5: the actual token and the 5 most likely, the most likely the same float the argmax
# gets with logprobs 1; prompt_logprobs 3 ranks the prompt's token (rank 1 iff it is the max)
def score(k, key="logprobs"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/v1/completions", body=json.dumps({"prompt": [[1, 403, 407, 280, 261, 9, 300]], "echo": True,
                                                          "max_tokens": 0, "logprobs": k, key: k}))
    return json.loads(c.getresponse().read())["choices"][0]
one, five = score(1), score(5, "prompt_logprobs")
for t in range(1, 7):
    tops1, tops5, pl = one["logprobs"]["top_logprobs"][t], five["logprobs"]["top_logprobs"][t], five["prompt_logprobs"][t]
    mine = five["logprobs"]["token_logprobs"][t]
    ranks = sorted(v["rank"] for v in pl.values())
    tok_rank = [v["rank"] for k, v in pl.items() if v["logprob"] == mine][0]
    if (not 5 <= len(tops5) <= 6 or max(tops5.values()) != max(tops1.values()) or mine not in tops5.values()
            or not 5 <= len(pl) <= 6 or ranks[:5] != [1, 2, 3, 4, 5][:len(ranks[:5])]
            or (tok_rank == 1) != (mine == max(tops5.values()))):
        bad += 1
        print("logprobs 5 at", t, tops1, tops5, pl)
# lm-eval's remote tokenizer: /tokenizer_info names EOS, /tokenize and /detokenize invert each other
def call(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body)
    r = c.getresponse()
    return r.status, json.loads(r.read())
st, info = call("GET", "/tokenizer_info")
st2, tok = call("POST", "/tokenize", json.dumps({"prompt": "Once upon a time", "add_special_tokens": False}))
st3, text = call("POST", "/detokenize", json.dumps({"tokens": tok["tokens"]}))
if (st, st2, st3) != (200, 200, 200) or "eos_token" not in info or text["prompt"].strip() != "Once upon a time":
    bad += 1
    print("tokenizer routes:", st, info, st2, tok, st3, text)
print("bad" if bad else "ok", len(cases))
EOF
    tail -1 "$TMP/bad.out" | grep -q '^ok' && pass serve_bad_requests_4xx || fail serve_bad_requests_4xx "$(head -c 600 "$TMP/bad.out")"
else
    echo "SKIP serve_bad_requests_4xx (python3 sends the raw requests)"
fi

# --- 32 clients at once: every answer the one a lone request gets ----------------------------
if command -v python3 >/dev/null; then
    python3 - "$PORT" >"$TMP/conc.out" 2>&1 <<'EOF'
import http.client, json, sys, threading
port = int(sys.argv[1])
bodies = [json.dumps({"prompt": [[1] + [(7 * i + k) % 500 + 3 for k in range(20 + i)]], "echo": True,
                      "max_tokens": 1, "logprobs": 1, "temperature": 0}) for i in range(8)]
bodies += [json.dumps({"prompt": "Once upon a time %d" % i, "max_tokens": 12, "temperature": 0.8, "seed": i}) for i in range(4)]
def ask(body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/v1/completions", body=body)
    r = c.getresponse()
    return r.status, json.loads(r.read())["choices"]
want = [ask(b) for b in bodies]
bad = []
def client(t):
    for k in range(6):
        i = (t + k) % len(bodies)
        if ask(bodies[i]) != want[i]:
            bad.append((t, i))
threads = [threading.Thread(target=client, args=(t,)) for t in range(32)]
for t in threads: t.start()
for t in threads: t.join()
print("bad %s" % bad[:5] if bad else "ok %d" % (32 * 6))
EOF
    tail -1 "$TMP/conc.out" | grep -q '^ok' && pass serve_32_clients_same_answers ||
        fail serve_32_clients_same_answers "$(head -c 600 "$TMP/conc.out")"
else
    echo "SKIP serve_32_clients_same_answers (python3 runs the clients)"
fi

# --- --add-bos: ids without BOS scored after one, not echoed ------------------------------------
"$CJ" serve -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --port 0 -t 1 --add-bos >"$TMP/serve2.out" 2>&1 &
SPID2=$!
i=0
while ! grep -q listening "$TMP/serve2.out" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
PORT2=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$TMP/serve2.out")
if command -v python3 >/dev/null; then
    python3 - "$PORT" "$PORT2" >"$TMP/bos.out" 2>&1 <<'EOF'
import http.client, json, sys
def lps(port, ids):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    c.request("POST", "/v1/completions", body=json.dumps({"prompt": [ids], "echo": True, "max_tokens": 0, "logprobs": 1}))
    return json.loads(c.getresponse().read())["choices"][0]["logprobs"]["token_logprobs"]
plain, hidden = lps(sys.argv[1], [1, 403, 407, 261]), lps(sys.argv[2], [403, 407, 261])
same = lps(sys.argv[2], [1, 403, 407, 261])
print("ok" if hidden == plain[1:] and same == plain else "differ %s %s %s" % (plain, hidden, same))
EOF
    [ "$(tail -1 "$TMP/bos.out")" = ok ] && pass serve_add_bos || fail serve_add_bos "$(head -c 400 "$TMP/bos.out")"
fi
kill "$SPID2"

kill -TERM "$SPID"
wait "$SPID"
rc=$?
SPID=""
[ "$rc" = 0 ] && pass serve_sigterm_exit_0 || fail serve_sigterm_exit_0 "exit $rc: $(tail -c 300 "$TMP/serve.err")"
# Requests in flight together were scored in shared forward calls.
stats=$(sed -n 's/.*stopped; \([0-9]*\) scoring calls folded into \([0-9]*\) forward calls/\1 \2/p' "$TMP/serve.err")
set -- $stats
[ -n "$stats" ] && [ "$2" -lt "$1" ] && pass serve_requests_folded || fail serve_requests_folded "${stats:-no stats line}"
exit $e2e_fail
