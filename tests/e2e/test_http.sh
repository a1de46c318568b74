#!/bin/sh
# The HTTP runner (-m http://...) against a fake OpenAI-compatible server
# (tests/e2e/fake_openai.py, standard-library Python): a normal run stores
# docs, choices and latency and keeps the API key out of the database and
# the output; batching prompts changes no number; 429s are retried; a
# server that keeps answering 500, or never answers, fails the run with a
# message naming the endpoint; an endpoint that is down is skipped; a server
# killed mid-run leaves a failed run that the same command resumes against a
# new server with nothing lost or doubled; generation stores answers; text
# prompts whose context's end a server token spans are counted at the end.
. tests/e2e/lib.sh
command -v python3 >/dev/null || { echo "SKIP http (python3 runs the fake server)"; exit 0; }
command -v sqlite3 >/dev/null || { fail http_sqlite3_cli "the sqlite3 command-line tool is needed"; exit 1; }
M=$ASSETS/models/stories260K
FAKE=tests/e2e/fake_openai.py
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
q() { sqlite3 -batch -noheader "$@" 2>/dev/null; }
KEY=sk-test-do-not-print-4242

# serve NAME ARGS...: starts a fake server; its port in $PORT, its pid in $SPID.
serve() {
    name=$1
    shift
    FAKE_EXPECT_KEY=$KEY python3 "$FAKE" --port-file "$TMP/$name.port" --log "$TMP/$name.log" "$@" &
    SPID=$!
    PIDS="$PIDS $SPID"
    i=0
    while [ ! -s "$TMP/$name.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    PORT=$(cat "$TMP/$name.port" 2>/dev/null)
}
# run DB URL ARGS...: a small scoring run through the HTTP runner.
run() {
    db=$1 url=$2
    shift 2
    OPENAI_API_KEY=$KEY "$CJ" run -m "$url" --tokenizer "$M/tok512.bin" --db "$db" -q \
        --tasks arc_easy,hellaswag --limit 6 --batch 2 --retry-delay 0.01 "$@"
}
# same_choices NAME DB: every choice row equals the reference run's.
same_choices() {
    got=$(q "$2" "ATTACH '$TMP/ref.db' AS ref;
        SELECT count(*) = (SELECT count(*) FROM ref.choices) AND count(*) = (SELECT count(*) FROM choices)
          AND sum(a.logprob = b.logprob AND a.n_tokens = b.n_tokens AND a.is_greedy = b.is_greedy) = count(*)
        FROM choices a JOIN ref.choices b USING (task, doc_id, choice_idx)")
    [ "$got" = 1 ] && pass "$1" || fail "$1" "choices differ from the reference run"
}

# --- a normal run --------------------------------------------------------------------
serve a
A=$PORT
run "$TMP/ref.db" "http://127.0.0.1:$A/v1" >"$TMP/ref.out" 2>"$TMP/ref.err" && pass http_run ||
    fail http_run "$(tail -c 300 "$TMP/ref.err")"
got=$(q "$TMP/ref.db" "SELECT (SELECT count(*) FROM docs) = 12 AND (SELECT count(*) FROM choices) = 48
    AND (SELECT count(*) FROM latency WHERE wall_s > 0 AND prefill_tokens > 0) = 12
    AND (SELECT model_format = 'http' AND model_path = 'http://127.0.0.1:$A/v1' AND status = 'done'
         AND model_arch LIKE '%\"id\":\"fake-model\"%' FROM runs)")
[ "$got" = 1 ] && pass http_rows_and_identity || fail http_rows_and_identity "$(q "$TMP/ref.db" "SELECT * FROM runs")"
if grep -aq "$KEY" "$TMP/ref.db" "$TMP/ref.out" "$TMP/ref.err"; then fail http_key_not_stored; else pass http_key_not_stored; fi
[ "$(sort -u "$TMP/a.log")" = "200 1 key-ok" ] && pass http_key_sent || fail http_key_sent "$(sort -u "$TMP/a.log" | head -3)"
# lm-eval's token boundary: the continuation token counts of the local runner
"$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --db "$TMP/local.db" -q \
    --tasks arc_easy,hellaswag --limit 6 >/dev/null 2>&1
got=$(q "$TMP/ref.db" "ATTACH '$TMP/local.db' AS l; SELECT count(*) = 48 AND sum(a.n_tokens = b.n_tokens) = 48
    FROM choices a JOIN l.choices b USING (task, doc_id, choice_idx)")
[ "$got" = 1 ] && pass http_token_boundary_as_local || fail http_token_boundary_as_local "$got"

run "$TMP/batched.db" "http://127.0.0.1:$A/v1" --prompts-per-request 5 --concurrency 1 >/dev/null 2>"$TMP/b.err" &&
    same_choices http_prompts_per_request_same "$TMP/batched.db" || fail http_prompts_per_request_same "$(tail -c 300 "$TMP/b.err")"
grep -q '^200 5 ' "$TMP/a.log" && pass http_several_prompts_per_request || fail http_several_prompts_per_request
OPENAI_API_KEY=$KEY "$CJ" run -m "http://127.0.0.1:$A/v1" --db "$TMP/text.db" -q --tasks arc_easy --limit 3 \
    >/dev/null 2>"$TMP/t.err" && [ "$(q "$TMP/text.db" "SELECT count(*) FROM choices WHERE n_tokens > 0")" -gt 0 ] &&
    pass http_text_prompts || fail http_text_prompts "$(tail -c 300 "$TMP/t.err")"
# Text prompts leave the token boundary to the server: where one of its tokens spans the
# context's end the run says how many such choices there were, once, on stderr.
grep -q "scored as text" "$TMP/t.err" && fail http_text_boundary_quiet "$(cat "$TMP/t.err")" || pass http_text_boundary_quiet
serve glued --trailing-space
OPENAI_API_KEY=$KEY "$CJ" run -m "http://127.0.0.1:$PORT/v1" --db "$TMP/glued.db" -q --tasks arc_easy --limit 3 \
    >/dev/null 2>"$TMP/g.err"
n=$(q "$TMP/glued.db" "SELECT count(*) FROM choices")
[ "$n" -gt 0 ] && [ "$(grep -c "^chaejeom run: $n of $n choices scored as text had a server token spanning" "$TMP/g.err")" = 1 ] &&
    pass http_text_boundary_spanned_counted || fail http_text_boundary_spanned_counted "$n choices: $(cat "$TMP/g.err")"
expect http_api_key_env_unset 2 env -u NO_SUCH_KEY_VAR "$CJ" run -m "http://127.0.0.1:$A/v1" --db "$TMP/k.db" \
    --tasks arc_easy --limit 1 --api-key-env NO_SUCH_KEY_VAR
grep -q NO_SUCH_KEY_VAR "$TMP/err" && pass http_api_key_env_named || fail http_api_key_env_named "$(cat "$TMP/err")"
expect http_unknown_model 2 "$CJ" run -m "http://127.0.0.1:$A/v1" --model-name other --db "$TMP/k.db" \
    --tasks arc_easy --limit 1
grep -q "'fake-model'" "$TMP/err" && pass http_unknown_model_lists_served || fail http_unknown_model_lists_served "$(cat "$TMP/err")"

# --- generation -----------------------------------------------------------------------
OPENAI_API_KEY=$KEY "$CJ" run -m "http://127.0.0.1:$A/v1" --db "$TMP/gen.db" -q --tasks truthfulqa_gen --limit 3 \
    >/dev/null 2>"$TMP/g.err" || fail http_generate "$(tail -c 300 "$TMP/g.err")"
got=$(q "$TMP/gen.db" "SELECT count(*) = 3 AND sum(text GLOB ' answer [0-9].') = 3 FROM generations")
[ "$got" = 1 ] && pass http_generate_cut_at_stop || fail http_generate_cut_at_stop "$(q "$TMP/gen.db" "SELECT text FROM generations")"

# --- 429 then answers: retried ------------------------------------------------------------
serve busy --fail-first 3 --fail-code 429
run "$TMP/busy.db" "http://127.0.0.1:$PORT/v1" >/dev/null 2>"$TMP/busy.err" &&
    same_choices http_429_retried "$TMP/busy.db" || fail http_429_retried "$(tail -c 300 "$TMP/busy.err")"
[ "$(grep -c '^429 ' "$TMP/busy.log")" = 3 ] && pass http_429_seen || fail http_429_seen "$(grep -c '^429 ' "$TMP/busy.log")"

# --- 500 for ever: the last retry fails the run, naming the endpoint -------------------------
serve broken --fail-first 1000000 --fail-code 500
expect http_500_fails 2 run "$TMP/broken.db" "http://127.0.0.1:$PORT/v1" --retries 2
grep -q "POST http://127.0.0.1:$PORT/v1/completions: HTTP 500.*after 3 attempts" "$TMP/err" &&
    pass http_500_message || fail http_500_message "$(cat "$TMP/err")"
[ "$(q "$TMP/broken.db" "SELECT status FROM runs")" = failed ] && pass http_500_run_failed || fail http_500_run_failed

# --- a server that never answers: the timeout ------------------------------------------------
serve hung --hang
expect http_hung_times_out 2 run "$TMP/hung.db" "http://127.0.0.1:$PORT/v1" --timeout 0.3 --retries 1
grep -qi "127.0.0.1:$PORT/v1/completions: .*timed out.*after 2 attempts" "$TMP/err" &&
    pass http_timeout_message || fail http_timeout_message "$(cat "$TMP/err")"

# --- two endpoints, one down ---------------------------------------------------------------
serve dead
DEAD=$PORT
kill "$SPID"
wait "$SPID" 2>/dev/null
run "$TMP/two.db" "http://127.0.0.1:$DEAD/v1,http://127.0.0.1:$A/v1" --concurrency 4 >/dev/null 2>"$TMP/two.err" &&
    same_choices http_endpoint_down_skipped "$TMP/two.db" || fail http_endpoint_down_skipped "$(tail -c 300 "$TMP/two.err")"
expect http_all_down 2 run "$TMP/none.db" "http://127.0.0.1:$DEAD/v1"
grep -q "127.0.0.1:$DEAD/v1" "$TMP/err" && pass http_all_down_named || fail http_all_down_named "$(cat "$TMP/err")"

# --- a server killed mid-run, then resume against another ----------------------------------
serve dying --die-after 12
expect http_killed_server_fails 2 run "$TMP/kill.db" "http://127.0.0.1:$PORT/v1" --retries 1 --concurrency 1
D=$(q "$TMP/kill.db" "SELECT count(*) FROM docs")
[ "$(q "$TMP/kill.db" "SELECT status FROM runs")" = failed ] && [ "$D" -gt 0 ] && [ "$D" -lt 12 ] &&
    pass http_killed_partial || fail http_killed_partial "$D docs, $(q "$TMP/kill.db" "SELECT status FROM runs")"
serve again
run "$TMP/kill.db" "http://127.0.0.1:$PORT/v1" >/dev/null 2>"$TMP/again.err" && pass http_resumed ||
    fail http_resumed "$(tail -c 300 "$TMP/again.err")"
got=$(q "$TMP/kill.db" "SELECT (SELECT count(*) FROM runs) = 1 AND (SELECT status FROM runs) = 'done'
    AND (SELECT count(*) FROM docs) = 12
    AND (SELECT count(*) FROM (SELECT DISTINCT task, doc_id, choice_idx FROM choices)) = 48")
[ "$got" = 1 ] && pass http_resume_nothing_lost_or_doubled || fail http_resume_nothing_lost_or_doubled "$got"
same_choices http_resume_same_choices "$TMP/kill.db"
exit $e2e_fail
