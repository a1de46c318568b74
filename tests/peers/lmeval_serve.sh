#!/bin/sh
# lm-eval itself against `chaejeom serve`: `lm_eval --model local-completions`
# (remote tokenizer: /tokenizer_info, /tokenize; `serve --add-bos`) grades the
# first PEER_DOCS (200) ARC-Easy test docs that fit stories260K's window
# through the server, `chaejeom run -m MODEL` grades the same docs; acc,
# acc_norm and every choice's log-likelihood must agree exactly. Needs lm-eval
# (PyPI, 0.4.13 checked): prints SKIP without it. Not part of make test.
#
#   LMEVAL_PYTHON  a python with lm_eval (default ~/.cache/chaejeom/venv-lmeval/bin/python;
#                  python3 -m venv ~/.cache/chaejeom/venv-lmeval && .../bin/pip install lm-eval)
#   PEER_DOCS      docs graded (default 200)
. tests/e2e/lib.sh
PY=${LMEVAL_PYTHON:-$HOME/.cache/chaejeom/venv-lmeval/bin/python}
if ! "$PY" -c "import lm_eval" 2>/dev/null; then
    echo "SKIP peer_lmeval_serve (no lm_eval in $PY; see the header of $0)"
    exit 0
fi
N=${PEER_DOCS:-200}
M=$ASSETS/models/stories260K
ARC=$ASSETS/datasets/arc/ARC-Easy
SPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$TMP"' EXIT
mkdir -p "$TMP/data/arc/ARC-Easy" "$TMP/tasks"
cp "$ARC/ARC-Easy-Train.jsonl" "$TMP/data/arc/ARC-Easy/"

# The first N docs whose longest prompt fits the model's window (512 tokens: past it
# `run` keeps the last tokens, BOS dropped, while lm-eval truncates without BOS and the server
# adds one back), for `run`; the same docs in the shape of the Hub's allenai/ai2_arc for lm-eval.
python3 - "$ARC/ARC-Easy-Test.jsonl" "$N" "$TMP/data/arc/ARC-Easy/ARC-Easy-Test.jsonl" "$TMP/arc_easy_hf.jsonl" \
    "$CJ" "$M/stories260K.bin" "$M/tok512.bin" <<'EOF'
import json, subprocess, sys
src, n, ours, hf, cj, model, tok = sys.argv[1:]
kept = dropped = 0
with open(src) as f, open(ours, "w") as o, open(hf, "w") as h:
    for line in f:
        if kept == int(n):
            break
        d = json.loads(line)
        ch = d["question"]["choices"]
        longest = max(("Question: %s\nAnswer: %s" % (d["question"]["stem"], c["text"]) for c in ch), key=len)
        ids = subprocess.run([cj, "tokenize", "-m", model, "--tokenizer", tok, "--", longest], capture_output=True,
                             text=True, check=True).stdout.split()
        if len(ids) > 500:  # a margin: the longest in characters may not be the longest in tokens
            dropped += 1
            continue
        kept += 1
        o.write(line)
        h.write(json.dumps({"id": d["id"], "question": d["question"]["stem"], "answerKey": d["answerKey"],
                            "choices": {"text": [c["text"] for c in ch], "label": [c["label"] for c in ch]}}) + "\n")
print("docs: %d kept, %d over the window left out" % (kept, dropped))
EOF
cat >"$TMP/tasks/arc_easy_local.yaml" <<EOF
task: arc_easy_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: $TMP/arc_easy_hf.jsonl
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{question}}\nAnswer:"
doc_to_target: "{{choices.label.index(answerKey)}}"
doc_to_choice: "{{choices.text}}"
metric_list:
  - metric: acc
  - metric: acc_norm
EOF

"$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --data-dir "$TMP/data" --tasks arc_easy \
    --db "$TMP/run.db" -q >"$TMP/run.out" 2>&1 || { fail peer_lmeval_run "$(tail -c 300 "$TMP/run.out")"; exit 1; }

"$CJ" serve -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --port 0 --add-bos >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
i=0
while ! grep -q listening "$TMP/serve.out" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
PORT=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$TMP/serve.out")
start=$(date +%s)
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "$PY" -m lm_eval --model local-completions --include_path "$TMP/tasks" \
    --tasks arc_easy_local --output_path "$TMP/out" --log_samples \
    --model_args "model=stories260K.bin,base_url=http://127.0.0.1:$PORT/v1/completions,tokenizer_backend=remote,num_concurrent=4,max_retries=1" \
    >"$TMP/lmeval.out" 2>&1 || { fail peer_lmeval_serve "lm_eval failed: $(tail -c 600 "$TMP/lmeval.out")"; exit 1; }
echo "lm_eval through chaejeom serve: $(($(date +%s) - start)) s for $N docs"

python3 - "$TMP/out" "$TMP/run.db" >"$TMP/compare.out" <<'EOF'
import glob, json, os, sqlite3, sys
out, db = sys.argv[1:]
res = json.load(open(glob.glob(os.path.join(out, "**", "results_*.json"), recursive=True)[0]))["results"]["arc_easy_local"]
theirs = {"acc": res["acc,none"], "acc_norm": res["acc_norm,none"]}
con = sqlite3.connect(db)
ours = dict(con.execute("SELECT metric, value FROM metrics WHERE task = 'arc_easy' AND metric IN ('acc', 'acc_norm')"))
print("acc      chaejeom run %.6f  lm-eval via serve %.6f" % (ours["acc"], theirs["acc"]))
print("acc_norm chaejeom run %.6f  lm-eval via serve %.6f" % (ours["acc_norm"], theirs["acc_norm"]))
ll = {(d, c): v for d, c, v in con.execute("SELECT doc_id, choice_idx, logprob FROM choices WHERE task = 'arc_easy'")}
n = same = 0
for l in open(glob.glob(os.path.join(out, "**", "samples_arc_easy_local_*.jsonl"), recursive=True)[0]):
    s = json.loads(l)
    for c, r in enumerate(s["resps"]):  # [[loglikelihood, is_greedy]] per choice, maybe as strings
        key = ("test:%d" % s["doc_id"], c)
        n += 1
        if key in ll and ll[key] == float(r[0][0]):
            same += 1
        elif n - same <= 3:
            print("differs: %s choice %d: chaejeom run %r, lm-eval %r (%r)" % (key[0], c, ll.get(key), r[0][0],
                                                                       str(s.get("arguments", ""))[-160:]))
        if n == 1:
            print("first choice: chaejeom run %r, lm-eval %r" % (ll.get(key), r[0][0]))
print("choices with the same log-likelihood, bit for bit: %d of %d" % (same, n))
ok = ours == theirs and same == n and n > 0
print("ok" if ok else "differ")
EOF
cat "$TMP/compare.out"
[ "$(tail -1 "$TMP/compare.out")" = ok ] && pass peer_lmeval_serve || fail peer_lmeval_serve "see above"
exit $e2e_fail
