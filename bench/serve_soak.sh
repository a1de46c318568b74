#!/bin/sh
# chaejeom serve under SOAK_CLIENTS (32) concurrent clients for SOAK_SECONDS
# (60): every answer must equal the one a lone request got before the load,
# and the server's resident memory is sampled every few seconds (it should
# stay flat). Prints requests/s, the folding of scoring calls and the RSS
# samples; exit 1 on a wrong answer or an RSS growth over SOAK_RSS_GROWTH_KB
# (8192) between the first and the last quarter. Not part of make test or
# make bench (it takes the machine for a minute): sh bench/serve_soak.sh
set -u
CJ=${CHAEJEOM_BIN:-./chaejeom}
ASSETS=${CHAEJEOM_ASSETS:-../shared/assets}
M=$ASSETS/models/stories260K
TMP=$(mktemp -d)
# shellcheck disable=SC2086
"$CJ" serve -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --port 0 -t "${SOAK_THREADS:-1}" ${SOAK_SERVE_ARGS:-} \
    >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
trap 'kill "$SPID" 2>/dev/null; rm -rf "$TMP"' EXIT
i=0
while ! grep -q listening "$TMP/serve.out" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
PORT=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$TMP/serve.out")
python3 - "$PORT" "$SPID" "${SOAK_CLIENTS:-32}" "${SOAK_SECONDS:-60}" "${SOAK_RSS_GROWTH_KB:-8192}" <<'EOF'
import http.client, json, sys, threading, time
port, pid, clients, seconds, growth = (int(a) for a in sys.argv[1:])
bodies = [json.dumps({"prompt": [[1] + [(7 * i + k) % 500 + 3 for k in range(20 + 5 * i)]], "echo": True,
                      "max_tokens": 1, "logprobs": 1, "temperature": 0}) for i in range(12)]
bodies += [json.dumps({"prompt": "Once upon a time %d" % i, "max_tokens": 16, "temperature": 0.8, "seed": i})
           for i in range(4)]
bodies += [json.dumps({"prompt": [[1, 403, 407], "Lily"], "echo": True, "max_tokens": 0, "logprobs": 1,
                       "prompt_logprobs": 1})]
def ask(conn, body):
    conn.request("POST", "/v1/completions", body=body)
    r = conn.getresponse()
    return r.status, json.loads(r.read())["choices"]
c0 = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
want = [ask(c0, b) for b in bodies]
def rss_kb():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
done, bad, stop = [0], [], time.time() + seconds
lock = threading.Lock()
def client(t):
    conn, k = http.client.HTTPConnection("127.0.0.1", port, timeout=120), t
    while time.time() < stop:
        i = k % len(bodies)
        k += 1
        got = ask(conn, bodies[i])
        with lock:
            done[0] += 1
            if got != want[i]:
                bad.append(i)
threads = [threading.Thread(target=client, args=(t,)) for t in range(clients)]
start = time.time()
for t in threads: t.start()
samples = []
while time.time() < stop:
    samples.append(rss_kb())
    time.sleep(max(1, seconds // 12))
for t in threads: t.join()
el = time.time() - start
q = max(1, len(samples) // 4)
first, last = max(samples[:q]), max(samples[-q:])
print("clients %d, %d s: %d requests, %.0f requests/s, wrong answers %d" % (clients, el, done[0], done[0] / el, len(bad)))
print("server RSS KiB every %d s: %s" % (max(1, seconds // 12), " ".join(map(str, samples))))
print("RSS first quarter max %d KiB, last quarter max %d KiB" % (first, last))
sys.exit(1 if bad or last - first > growth else 0)
EOF
rc=$?
kill -TERM "$SPID"
wait "$SPID"
cat "$TMP/serve.err"
exit $rc
