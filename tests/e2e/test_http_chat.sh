#!/bin/sh
# The HTTP runner's chat and streaming against the fake server
# (tests/e2e/fake_openai.py): --apply-chat-template without FILE sends the
# few-shot turns as messages to /v1/chat/completions (lm-eval's
# local-chat-completions: at most 4 stop strings, max_tokens, temperature,
# seed) and stores the answers cut at the stop strings; log-likelihood
# tasks over chat are refused with a message; --stream reads server-sent
# events, recording the time to the first token, and gives the texts the
# plain replies give (a server that ignores "stream" is read whole); a stream cut short or with a chunk that is not JSON
# fails the run with a message naming the endpoint.
. tests/e2e/lib.sh
command -v python3 >/dev/null || { echo "SKIP http_chat (python3 runs the fake server)"; exit 0; }
command -v sqlite3 >/dev/null || { fail http_chat_sqlite3_cli "the sqlite3 command-line tool is needed"; exit 1; }
FAKE=tests/e2e/fake_openai.py
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
q() { sqlite3 -batch -noheader "$@" 2>/dev/null; }

# serve NAME ARGS...: starts a fake server; its port in $PORT.
serve() {
    name=$1
    shift
    python3 "$FAKE" --port-file "$TMP/$name.port" --log-bodies "$TMP/$name.bodies" "$@" &
    PIDS="$PIDS $!"
    i=0
    while [ ! -s "$TMP/$name.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    PORT=$(cat "$TMP/$name.port" 2>/dev/null)
}
# gen DB PORT ARGS...: a small generation run through chat.
gen() {
    db=$1 port=$2
    shift 2
    "$CJ" run -m "http://127.0.0.1:$port/v1" --db "$db" -q --tasks gsm8k --limit 3 --shots 2 --retries 0 \
        --apply-chat-template --fewshot-as-multiturn --system-instruction "Be brief." "$@"
}

serve a --chunk-delay 0.05
A=$PORT
gen "$TMP/chat.db" "$A" >/dev/null 2>"$TMP/chat.err" && pass http_chat_run || fail http_chat_run "$(tail -c 300 "$TMP/chat.err")"
python3 - "$TMP/a.bodies" >"$TMP/payload.out" 2>&1 <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
bad = []
for r in rows:
    b, m = r["body"], r["body"].get("messages", [])
    roles = [x["role"] for x in m]
    if r["path"] != "/v1/chat/completions" or "prompt" in b:
        bad.append("path %s" % r["path"])
    elif roles != ["system", "user", "assistant", "user", "assistant", "user"] or m[0]["content"] != "Be brief.":
        bad.append("roles %s" % roles)
    elif len(b.get("stop", [])) > 4 or b.get("max_tokens", 0) < 1 or b.get("temperature") != 0 or "seed" not in b:
        bad.append("fields %s" % {k: v for k, v in b.items() if k != "messages"})
print("ok %d" % len(rows) if rows and not bad else "bad %s %s" % (len(rows), bad[:3]))
PY
grep -q '^ok 3' "$TMP/payload.out" && pass http_chat_payload_as_lm_eval || fail http_chat_payload_as_lm_eval "$(head -c 400 "$TMP/payload.out")"
got=$(q "$TMP/chat.db" "SELECT count(*) = 3 AND sum(text GLOB ' answer [0-9].*' AND text NOT LIKE '%Question%') = 3 FROM generations")
[ "$got" = 1 ] && pass http_chat_cut_at_stop || fail http_chat_cut_at_stop "$(q "$TMP/chat.db" "SELECT text FROM generations")"

# --- log-likelihood over chat: refused, saying why ------------------------------------------
expect http_chat_scoring_refused 2 "$CJ" run -m "http://127.0.0.1:$A/v1" --db "$TMP/ll.db" -q --tasks arc_easy \
    --limit 2 --apply-chat-template
grep -q "not possible" "$TMP/err" && grep -q "/v1/completions" "$TMP/err" && pass http_chat_scoring_message ||
    fail http_chat_scoring_message "$(cat "$TMP/err")"

# --- streaming: the same texts, the first token timed --------------------------------------
gen "$TMP/stream.db" "$A" --stream >/dev/null 2>"$TMP/stream.err" && pass http_stream_run ||
    fail http_stream_run "$(tail -c 300 "$TMP/stream.err")"
got=$(q "$TMP/stream.db" "ATTACH '$TMP/chat.db' AS ref; SELECT count(*) = 3 AND sum(a.text = b.text AND a.finish_reason = b.finish_reason) = 3
    FROM generations a JOIN ref.generations b USING (task, doc_id)")
[ "$got" = 1 ] && pass http_stream_same_texts || fail http_stream_same_texts "$got"
# the text comes in two chunks 50 ms apart: the first token well before the end
got=$(q "$TMP/stream.db" "SELECT count(*) = 3 AND sum(ttft_s > 0 AND ttft_s < wall_s - 0.04
    AND abs(prefill_s + decode_s - wall_s) < 1e-9) = 3 FROM latency")
[ "$got" = 1 ] && pass http_stream_ttft_recorded || fail http_stream_ttft_recorded "$(q "$TMP/stream.db" "SELECT * FROM latency")"
grep -q '"stream": true' "$TMP/a.bodies" && pass http_stream_asked || fail http_stream_asked
"$CJ" run -m "http://127.0.0.1:$A/v1" --db "$TMP/plain.db" -q --tasks gsm8k --limit 3 --stream >/dev/null 2>"$TMP/p.err" &&
    [ "$(q "$TMP/plain.db" "SELECT count(*) FROM generations WHERE text GLOB ' answer [0-9].*' AND text NOT LIKE '%Question%'")" = 3 ] &&
    pass http_stream_completions || fail http_stream_completions "$(tail -c 300 "$TMP/p.err")"

# a server that ignores "stream" and answers one JSON object: read as such
serve nostream --ignore-stream
gen "$TMP/nostream.db" "$PORT" --stream >/dev/null 2>"$TMP/ns.err" &&
    [ "$(q "$TMP/nostream.db" "ATTACH '$TMP/chat.db' AS ref; SELECT sum(a.text = b.text) FROM generations a
        JOIN ref.generations b USING (task, doc_id)")" = 3 ] && pass http_stream_ignored_read_whole ||
    fail http_stream_ignored_read_whole "$(tail -c 300 "$TMP/ns.err")"

# --- broken streams: a clear error, never a crash ---------------------------------------
serve cut --sse-fault cut
expect http_stream_cut_fails 2 gen "$TMP/cut.db" "$PORT" --stream
grep -q "127.0.0.1:$PORT/v1/chat/completions.*without 'data: \[DONE\]'" "$TMP/err" && pass http_stream_cut_message ||
    fail http_stream_cut_message "$(cat "$TMP/err")"
serve badjson --sse-fault badjson
expect http_stream_badjson_fails 2 gen "$TMP/bj.db" "$PORT" --stream
grep -q "stream chunk 1: not a JSON object" "$TMP/err" && pass http_stream_badjson_message ||
    fail http_stream_badjson_message "$(cat "$TMP/err")"
exit $e2e_fail
