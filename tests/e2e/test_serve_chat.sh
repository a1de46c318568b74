#!/bin/sh
# chaejeom serve's /v1/chat/completions and streaming, through the HTTP
# runner: chat generation rendered by the server's template gives texts
# bit-identical to `chaejeom run --apply-chat-template FILE` on the same
# model, streamed or not; prompts rendered here (FILE) and sent as ids score
# and generate as the local chat run does; without --tokenizer the runner takes the server's
# /tokenize and scores bit-identically to the local runner; a model without
# a template answers chat requests 400; bad and mutated chat bodies get a
# 4xx JSON error each and the server keeps serving.
. tests/e2e/lib.sh
command -v sqlite3 >/dev/null || { fail serve_chat_sqlite3_cli "the sqlite3 command-line tool is needed"; exit 1; }
M=$ASSETS/models/stories260K
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
q() { sqlite3 -batch -noheader "$@" 2>/dev/null; }
# start NAME ARGS...: a server on a free port; its port in $PORT.
start() {
    name=$1
    shift
    "$CJ" serve -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --port 0 -t 1 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PIDS="$PIDS $!"
    i=0
    while ! grep -q listening "$TMP/$name.out" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    PORT=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$TMP/$name.out")
}
cat >"$TMP/chat.jinja" <<'JINJA'
{%- for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] | trim + '\n' }}{% endfor %}
{%- if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}
JINJA
start chat --chat-template "$TMP/chat.jinja"
[ -n "$PORT" ] && pass serve_chat_listens || { fail serve_chat_listens "$(head -c 300 "$TMP/chat.err")"; exit 1; }
URL=http://127.0.0.1:$PORT/v1

# --- chat generation: the texts of a local chat run --------------------------------------
CHAT="--tasks gsm8k --limit 4 --shots 2 --fewshot-as-multiturn --system-instruction Briefly."
"$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --db "$TMP/local.db" -q $CHAT \
    --apply-chat-template "$TMP/chat.jinja" >/dev/null 2>"$TMP/local.err" || fail serve_chat_local_run "$(tail -c 300 "$TMP/local.err")"
for mode in plain stream; do
    extra=""
    [ $mode = stream ] && extra=--stream
    "$CJ" run -m "$URL" --db "$TMP/$mode.db" -q $CHAT --apply-chat-template $extra >/dev/null 2>"$TMP/$mode.err" ||
        fail serve_chat_${mode}_run "$(tail -c 300 "$TMP/$mode.err")"
    got=$(q "$TMP/$mode.db" "ATTACH '$TMP/local.db' AS ref;
        SELECT count(*) = 4 AND sum(a.text = b.text AND a.n_tokens = b.n_tokens AND a.finish_reason = b.finish_reason
          AND a.answer IS b.answer AND a.exact_match IS b.exact_match) = 4 AND sum(length(a.text) > 0) > 0
        FROM generations a JOIN ref.generations b USING (task, doc_id)")
    [ "$got" = 1 ] && pass serve_chat_${mode}_same_texts || fail serve_chat_${mode}_same_texts "$got"
done

# --- /tokenize with messages (vLLM's chat form): the ids of the rendering a chat request generates from
cat >"$TMP/tokmsgs.json" <<'JSON'
[{"role": "system", "content": "Briefly."}, {"role": "user", "content": "Question: 안녕, 2 + 2?\nAnswer:"}]
JSON
"$CJ" chat-template --template "$TMP/chat.jinja" --messages "$TMP/tokmsgs.json" --add-generation-prompt >"$TMP/tokmsgs.txt"
python3 - "$PORT" "$TMP/tokmsgs.json" "$TMP/tokmsgs.txt" >"$TMP/tokmsgs.out" 2>&1 <<'PY'
import http.client, json, sys
port, msgs, text = int(sys.argv[1]), json.load(open(sys.argv[2])), open(sys.argv[3]).read()
def ask(path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, body=json.dumps(body))
    r = c.getresponse()
    return r.status, json.loads(r.read())
a = ask("/tokenize", {"messages": msgs, "add_generation_prompt": True})
b = ask("/tokenize", {"prompt": text, "add_special_tokens": False})
g = ask("/v1/chat/completions", {"messages": msgs, "max_tokens": 0})
same = a[0] == b[0] == g[0] == 200 and a[1]["tokens"] == b[1]["tokens"] and a[1]["count"] == len(a[1]["tokens"]) > 0
print("ok" if same and g[1]["usage"]["prompt_tokens"] == a[1]["count"] else "differ %r %r %r" % (a, b, g))
PY
[ "$(tail -1 "$TMP/tokmsgs.out")" = ok ] && pass serve_chat_tokenize_messages || fail serve_chat_tokenize_messages "$(head -c 400 "$TMP/tokmsgs.out")"

# --- --apply-chat-template FILE: rendered here, sent as ids to /v1/completions (no BOS, as run reads it)
FILECHAT="--tasks arc_easy,gsm8k --limit 3 --shots 1 --apply-chat-template $TMP/chat.jinja"
"$CJ" run -m "$URL" --tokenizer "$M/tok512.bin" --db "$TMP/fhttp.db" -q $FILECHAT >/dev/null 2>"$TMP/fh.err" ||
    fail serve_chat_file_run "$(tail -c 300 "$TMP/fh.err")"
"$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --db "$TMP/flocal.db" -q $FILECHAT >/dev/null 2>&1
got=$(q "$TMP/fhttp.db" "ATTACH '$TMP/flocal.db' AS ref;
    SELECT (SELECT count(*) FROM choices a JOIN ref.choices b USING (task, doc_id, choice_idx)
              WHERE a.logprob = b.logprob AND a.n_tokens = b.n_tokens) = (SELECT count(*) FROM ref.choices)
      AND (SELECT count(*) FROM generations a JOIN ref.generations b USING (task, doc_id) WHERE a.text = b.text) = 3")
[ "$got" = 1 ] && pass serve_chat_file_rendered_here_same || fail serve_chat_file_rendered_here_same "$got"

# --- no --tokenizer: the server's /tokenize, the local runner's numbers -------------------
"$CJ" run -m "$URL" --db "$TMP/remote.db" -q --tasks arc_easy,hellaswag --limit 4 >/dev/null 2>"$TMP/r.err" ||
    fail serve_remote_tokenize_run "$(tail -c 300 "$TMP/r.err")"
"$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --db "$TMP/lscore.db" -q --tasks arc_easy,hellaswag \
    --limit 4 >/dev/null 2>&1
got=$(q "$TMP/remote.db" "ATTACH '$TMP/lscore.db' AS ref;
    SELECT count(*) > 0 AND count(*) = (SELECT count(*) FROM ref.choices)
      AND sum(a.logprob = b.logprob AND a.n_tokens = b.n_tokens AND a.is_greedy = b.is_greedy) = count(*)
      AND (SELECT tokenizer LIKE '%/tokenize%' FROM runs)
    FROM choices a JOIN ref.choices b USING (task, doc_id, choice_idx)")
[ "$got" = 1 ] && pass serve_remote_tokenize_same_choices || fail serve_remote_tokenize_same_choices "$got"

# rolling log-likelihoods in windows of the server's tokens (the model's 512; one text is longer)
mkdir -p "$TMP/defs" "$TMP/data/toy"
echo '{"name": "toy_roll", "version": "1", "dataset": {"format": "jsonl", "splits": {"test": "toy/roll.jsonl"}},
 "eval_split": "test", "output_type": "loglikelihood_rolling", "doc_to_text": "{{text}}",
 "metrics": ["word_perplexity", "byte_perplexity", "bits_per_byte", "token_perplexity"]}' >"$TMP/defs/toy_roll.json"
python3 -c 'import json
for t in ["Once upon a time there was a cat.", " leading space", "One day " * 300 + "the end."]: print(json.dumps({"text": t}))' \
    >"$TMP/data/toy/roll.jsonl" 2>/dev/null
ROLL="--tasks toy_roll --tasks-dir $TMP/defs --data-dir $TMP/data"
"$CJ" run -m "$URL" --db "$TMP/rroll.db" -q $ROLL --max-length 512 >/dev/null 2>"$TMP/rr.err" ||
    fail serve_remote_rolling_run "$(tail -c 300 "$TMP/rr.err")"
"$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --db "$TMP/lroll.db" -q $ROLL >/dev/null 2>&1
got=$(q "$TMP/rroll.db" "ATTACH '$TMP/lroll.db' AS ref;
    SELECT count(*) = 4 AND sum(a.value = b.value) = 4 FROM metrics a JOIN ref.metrics b USING (task, metric)")
[ "$got" = 1 ] && pass serve_remote_rolling_same || fail serve_remote_rolling_same "$(q "$TMP/rroll.db" "SELECT * FROM metrics")"

# --- requests by hand: no template, bad bodies, mutations, streams ------------------------
start plain
if command -v python3 >/dev/null; then
    python3 - "${URL#http://127.0.0.1:}" "$PORT" >"$TMP/bad.out" 2>&1 <<'PY'
import http.client, json, random, sys
port, plain = int(sys.argv[1].split("/")[0]), int(sys.argv[2])
def ask(body, path="/v1/chat/completions", p=None, method="POST"):
    c = http.client.HTTPConnection("127.0.0.1", p or port, timeout=60)
    c.request(method, path, body=body)
    r = c.getresponse()
    return r.status, r.getheader("Content-Type") or "", r.read()
bad = []
good = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "Once"}]}],
        "max_tokens": 8, "temperature": 0, "stop": ["\n\n"]}
st, _, body = ask(json.dumps(good), p=plain)
if st != 400 or b"no chat template" not in body: bad.append(("no template", st, body[:200]))
st, _, body = ask(json.dumps({"messages": good["messages"]}), "/tokenize", p=plain)
if st != 400 or b"no chat template" not in body: bad.append(("tokenize messages, no template", st, body[:200]))
for b in ({"messages": good["messages"], "add_generation_prompt": False}, {"messages": [], "prompt": "x"}):
    st, _, body = ask(json.dumps(b), "/tokenize")
    if st != 400 or b"error" not in body: bad.append(("tokenize messages", b, st, body[:200]))
cases = [b"", b"{", b"[]", b"{}", b'{"messages":[]}', b'{"messages":[{"role":"user"}],"n":2}',
         b'{"messages":[{"content":"x"}]}', b'{"messages":[{"role":"user","content":7}]}',
         b'{"messages":[{"role":"user","content":"x"}],"logprobs":true}', b'{"messages":"x"}', b"\xff\xfe\x00"]
for c in cases:
    st, _, body = ask(c)
    try: ok = 400 <= st < 500 and json.loads(body)["error"]["message"]
    except Exception: ok = False
    if not ok: bad.append((c[:40], st, body[:120]))
random.seed(7)
src = json.dumps(good).encode()
fives = 0
for i in range(300):
    b = bytearray(src)
    for _ in range(1 + i % 4):
        k = random.randrange(len(b))
        op = random.randrange(3)
        if op == 0: b[k] = random.randrange(256)
        elif op == 1: del b[k]
        else: b = b[:k]
        if not b: break
    st, _, body = ask(bytes(b))
    if st >= 500 or (st != 200 and b"error" not in body): fives += 1; bad.append(("mutation", bytes(b)[:60], st))
st, ctype, body = ask(json.dumps(dict(good, stream=True, stream_options={"include_usage": True})))
ev = [l[6:] for l in body.decode().split("\n") if l.startswith("data: ")]
if st != 200 or "text/event-stream" not in ctype or ev[-1] != "[DONE]" or "usage" not in json.loads(ev[-2]):
    bad.append(("chat stream", st, ctype, body[:200]))
st, ctype, body = ask(json.dumps({"prompt": "Once upon", "max_tokens": 5, "temperature": 0, "stream": True}), "/v1/completions")
ev = [l[6:] for l in body.decode().split("\n") if l.startswith("data: ")]
if st != 200 or ev[-1] != "[DONE]" or not json.loads(ev[0])["choices"][0]["text"]:
    bad.append(("completions stream", st, body[:200]))
# logprobs on chat (greedy): the same answer as without; each generated token the top alternative,
# with the very same float (greedy picks the argmax of the rows that score it)
plain_ans = json.loads(ask(json.dumps(good))[2])["choices"][0]["message"]["content"]
st, _, body = ask(json.dumps(dict(good, logprobs=True, top_logprobs=3)))
try:
    rep = json.loads(body)
    content = rep["choices"][0]["logprobs"]["content"]
    ok = (st == 200 and rep["choices"][0]["message"]["content"] == plain_ans and len(content) == rep["usage"]["completion_tokens"] > 0
          and all(len(x["top_logprobs"]) == 3 and x["top_logprobs"][0]["token"] == x["token"]
                  and x["top_logprobs"][0]["logprob"] == x["logprob"] and bytes(x["bytes"]) == x["token"].encode() for x in content))
except Exception as ex:
    ok = False
if not ok: bad.append(("chat logprobs", st, body[:300]))
for extra in ({"top_logprobs": 2}, {"logprobs": True, "top_logprobs": 21}, {"logprobs": True, "temperature": 1}):
    st, _, body = ask(json.dumps(dict(good, **extra)))
    if st != 400: bad.append(("chat logprobs refused", extra, st, body[:200]))
if ask(None, "/health", method="GET")[0] != 200: bad.append("health after all that")
print("bad %s" % bad[:4] if bad else "ok")
PY
    [ "$(tail -1 "$TMP/bad.out")" = ok ] && pass serve_chat_bad_requests_4xx || fail serve_chat_bad_requests_4xx "$(head -c 600 "$TMP/bad.out")"
else
    echo "SKIP serve_chat_bad_requests_4xx (python3 sends the raw requests)"
fi
exit $e2e_fail
