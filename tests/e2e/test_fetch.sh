#!/bin/sh
# chaejeom fetch against a local HTTP server (tests/e2e/fetch_server.py, or
# python3 -m http.server) serving the datasets of the assets folder: a
# success, a resume of a truncated download, a wrong checksum, a dead server,
# and run's hint when a task's data is missing.
. "$(dirname "$0")/lib.sh"
DATA="$ASSETS/datasets"
if ! command -v python3 >/dev/null 2>&1; then echo "SKIP fetch: no python3 for the local server"; exit 0; fi
if [ ! -f "$DATA/gsm8k/test.jsonl" ]; then echo "SKIP fetch: no $DATA/gsm8k"; exit 0; fi
SERVER=$(dirname "$0")/fetch_server.py
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# serve ROOT [--cut N]: starts a server, sets $url.
serve() {
    rm -f "$TMP/port"
    root=$1; shift
    python3 "$SERVER" "$root" "$TMP/port" "$@" &
    pids="$pids $!"
    i=0; while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    url="http://127.0.0.1:$(cat "$TMP/port")"
}
# The served tree: the assets' own files, and a copy of gsm8k to corrupt.
mkdir -p "$TMP/www/bad/gsm8k"
ln -s "$(cd "$DATA" && pwd)" "$TMP/www/good"
cp "$DATA/gsm8k/test.jsonl" "$DATA/gsm8k/train.jsonl" "$TMP/www/bad/gsm8k/"
printf 'X' | dd of="$TMP/www/bad/gsm8k/test.jsonl" bs=1 seek=100 conv=notrunc 2>/dev/null

# python3 -m http.server cannot resume; a whole download from it must work.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server -b 127.0.0.1 -d "$TMP/www/good" "$port" >/dev/null 2>&1 &
pids="$pids $!"
i=0; until python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/gsm8k/test.jsonl')" 2>/dev/null || [ $i -gt 50 ]; do sleep 0.1; i=$((i + 1)); done
expect fetch_success 0 "$CJ" fetch gsm8k,truthfulqa_mc1 --dir "$TMP/d1" --mirror "http://127.0.0.1:$port" -q
if cmp -s "$TMP/d1/gsm8k/test.jsonl" "$DATA/gsm8k/test.jsonl" && cmp -s "$TMP/d1/truthfulqa/data/v1/mc_task.json" "$DATA/truthfulqa/data/v1/mc_task.json" &&
    [ ! -e "$TMP/d1/gsm8k/test.jsonl.part" ]
then pass fetch_success_files; else fail fetch_success_files "$(ls -R "$TMP/d1" | head -20)"; fi
"$CJ" fetch gsm8k --dir "$TMP/d1" --mirror "http://127.0.0.1:1" -q >"$TMP/out" 2>&1
if grep -q "already in" "$TMP/out"; then pass fetch_already_there; else fail fetch_already_there "$(cat "$TMP/out")"; fi

# A download cut after 100000 bytes fails and keeps its part; the next fetch
# resumes it with a Range request and the result is whole.
serve "$TMP/www/good" --cut 100000
expect fetch_truncated 2 "$CJ" fetch gsm8k --dir "$TMP/d2" --mirror "$url"
if grep -q "interrupted" "$TMP/err" && [ "$(wc -c <"$TMP/d2/gsm8k/test.jsonl.part")" -eq 100000 ]
then pass fetch_truncated_kept; else fail fetch_truncated_kept "$(cat "$TMP/err")"; fi
expect fetch_resume 0 "$CJ" fetch gsm8k --dir "$TMP/d2" --mirror "$url"
if grep -q "resuming at 100000 bytes" "$TMP/err" && grep -q "^/gsm8k/test.jsonl bytes=100000-" "$TMP/www/requests.log" &&
    cmp -s "$TMP/d2/gsm8k/test.jsonl" "$DATA/gsm8k/test.jsonl"
then pass fetch_resume_range; else fail fetch_resume_range "$(cat "$TMP/err" "$TMP/www/requests.log")"; fi

# A file whose sha256 differs from the pin is deleted and named.
serve "$TMP/www/bad"
expect fetch_bad_checksum 2 "$CJ" fetch gsm8k --dir "$TMP/d3" --mirror "$url" -q
if grep -q "sha256 .*expected 3730d312" "$TMP/err" && [ ! -e "$TMP/d3/gsm8k/test.jsonl" ] && [ ! -e "$TMP/d3/gsm8k/test.jsonl.part" ]
then pass fetch_bad_checksum_deleted; else fail fetch_bad_checksum_deleted "$(cat "$TMP/err")"; fi

# A server that is not there: one clear "offline" line, exit 2.
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect fetch_dead_server 2 "$CJ" fetch kobest --dir "$TMP/d4" --mirror "http://127.0.0.1:$dead" -q
if grep -q "offline or server unreachable" "$TMP/err"; then pass fetch_dead_server_says_offline; else fail fetch_dead_server_says_offline "$(cat "$TMP/err")"; fi

expect fetch_unknown_name 2 "$CJ" fetch no_such_task --dir "$TMP/d5"

# run on a task whose data is absent names the fetch to run.
"$CJ" run -m assets/models/stories260K/stories260K.bin --tokenizer assets/models/stories260K/tok512.bin \
    --tasks arc_easy --limit 1 --data-dir "$TMP/empty" --db "$TMP/r.db" -q >"$TMP/out" 2>&1
if grep -q "chaejeom fetch arc" "$TMP/out"; then pass run_missing_data_hint; else fail run_missing_data_hint "$(cat "$TMP/out")"; fi
exit $e2e_fail
