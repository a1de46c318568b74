#!/bin/sh
# lm-eval's chat client against `chaejeom serve`: `lm_eval --model
# local-chat-completions --apply_chat_template --fewshot_as_multiturn
# --system_instruction ...` grades the first PEER_DOCS (20) GSM8K test docs,
# 5-shot (the first 5 train rows: lm-eval's first_n sampler), sending each
# conversation as messages to /v1/chat/completions, where the server renders
# it with a real chat template (Qwen2.5-Instruct's, from
# <golden>/chat/templates.json; stories260K has none of its own) and
# generates. `chaejeom run --apply-chat-template FILE --fewshot-as-multiturn
# --system-instruction ...` grades the same docs here. A second task,
# gsm8k_fit (0-shot, 64 tokens, "." as a fourth stop), has whole prompts in
# the window and texts ended by a stop string lm-eval sent. Checked per task:
# lm-eval's messages, rendered as transformers renders them (jinja2), are the
# prompts run used (its prompt_hash) and the server's (its /tokenize of the
# messages, as ids: stories260K's answers hardly depend on the start of a
# prompt, so equal texts alone would not show it); every generated text is
# the same, byte for byte; each filter's answer and exact_match agree per
# doc, and in total. The 5-shot prompts (about 1,700 tokens) overflow
# stories260K's 512: the server keeps their last 256 tokens, as run does (the
# same local runner). lm-eval 0.4.13 turns --fewshot_as_multiturn on by
# itself under --apply_chat_template; run needs --fewshot-as-multiturn, so
# both are spelled out. Needs lm-eval (PyPI, 0.4.13 checked): prints SKIP
# without it. Not part of make test.
#
#   LMEVAL_PYTHON  a python with lm_eval (default ~/.cache/chaejeom/venv-lmeval/bin/python;
#                  python3 -m venv ~/.cache/chaejeom/venv-lmeval && .../bin/pip install lm-eval)
#   PEER_DOCS      docs graded (default 20)
. tests/e2e/lib.sh
PY=${LMEVAL_PYTHON:-$HOME/.cache/chaejeom/venv-lmeval/bin/python}
if ! "$PY" -c "import lm_eval, jinja2" 2>/dev/null; then
    echo "SKIP peer_lmeval_chat_serve (no lm_eval in $PY; see the header of $0)"
    exit 0
fi
N=${PEER_DOCS:-20}
M=$ASSETS/models/stories260K
G=$ASSETS/datasets/gsm8k
SYS="Solve the math problem. End with '#### ' and the number."
SPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$TMP"' EXIT
# run's --limit draws a seeded random sample, lm-eval's takes the first N: run reads a copy of the
# first N test docs instead. lm-eval reads the data files through `datasets`, which wants absolute paths.
mkdir -p "$TMP/data/gsm8k" "$TMP/tasks"
head -n "$N" "$G/test.jsonl" >"$TMP/data/gsm8k/test.jsonl"
GA=$(cd "$G" && pwd)
ln -s "$GA/train.jsonl" "$TMP/data/gsm8k/train.jsonl"
python3 -c "import json, sys
t = json.load(open(sys.argv[1]))['templates']
open(sys.argv[2], 'w').write([x for x in t if x['name'] == 'Qwen-Qwen2.5-7B-Instruct'][0]['template'])" \
    "$GOLDEN/chat/templates.json" "$TMP/chat.jinja" || { fail peer_lmeval_chat_template "no Qwen2.5 template in $GOLDEN/chat"; exit 1; }

# gsm8k_fit: gsm8k 0-shot, at most 64 tokens, "." as a fourth stop (lm-eval sends 4 at most). Its
# prompts fit the window whole, so the model sees all of what the server rendered; and texts end at a
# stop string lm-eval sent (stories260K never writes gsm8k's own stops and runs to the limit). run's
# is the built-in definition with those changes.
mkdir -p "$TMP/defs"
cp tasks/defs/gsm8k/gsm8k.json "$TMP/defs/"
python3 -c "import json, sys
t = json.load(open(sys.argv[1]))
t['name'] = 'gsm8k_fit'
t['fewshot']['k'] = 0
t['generation']['until'].append('.')
t['generation']['max_tokens'] = 64
json.dump(t, open(sys.argv[2], 'w'), indent=1)" "$TMP/defs/gsm8k.json" "$TMP/defs/gsm8k_fit.json"

# lm-eval's gsm8k.yaml (v3.0) over the local files, with the first_n sampler that run's gsm8k uses
cat >"$TMP/tasks/gsm8k_local.yaml" <<EOF
task: gsm8k_local
dataset_path: json
dataset_kwargs:
  data_files:
    train: $GA/train.jsonl
    test: $GA/test.jsonl
output_type: generate_until
training_split: train
fewshot_split: train
test_split: test
fewshot_config:
  sampler: first_n
doc_to_text: "Question: {{question}}\nAnswer:"
doc_to_target: "{{answer}}"
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: false
    regexes_to_ignore:
      - ","
      - "\\\\$"
      - "(?s).*#### "
      - "\\\\.$"
generation_kwargs:
  until:
    - "Question:"
    - "</s>"
    - "<|im_end|>"
  do_sample: false
  temperature: 0.0
repeats: 1
num_fewshot: 5
filter_list:
  - name: "strict-match"
    filter:
      - function: "regex"
        regex_pattern: "#### (\\\\-?[0-9\\\\.\\\\,]+)"
      - function: "take_first"
  - name: "flexible-extract"
    filter:
      - function: "regex"
        group_select: -1
        regex_pattern: "(-?[\$0-9.,]{2,})|(-?[0-9]+)"
      - function: "take_first"
EOF
cat >"$TMP/tasks/gsm8k_fit_local.yaml" <<'EOF'
include: gsm8k_local.yaml
task: gsm8k_fit_local
num_fewshot: 0
generation_kwargs:
  until: ["Question:", "</s>", "<|im_end|>", "."]
  max_gen_toks: 64
  do_sample: false
  temperature: 0.0
EOF

"$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --data-dir "$TMP/data" --tasks-dir "$TMP/defs" \
    --tasks gsm8k,gsm8k_fit --apply-chat-template "$TMP/chat.jinja" --fewshot-as-multiturn --system-instruction "$SYS" \
    --db "$TMP/run.db" -q >"$TMP/run.out" 2>&1 || { fail peer_lmeval_chat_run "$(tail -c 300 "$TMP/run.out")"; exit 1; }

"$CJ" serve -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --port 0 --chat-template "$TMP/chat.jinja" \
    >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
i=0
while ! grep -q listening "$TMP/serve.out" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
PORT=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$TMP/serve.out")
[ -n "$PORT" ] || { fail peer_lmeval_chat_serve "the server did not start: $(head -c 300 "$TMP/serve.err")"; exit 1; }
start=$(date +%s)
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "$PY" -m lm_eval --model local-chat-completions --include_path "$TMP/tasks" \
    --tasks gsm8k_local,gsm8k_fit_local --limit "$N" --apply_chat_template --fewshot_as_multiturn \
    --system_instruction "$SYS" --output_path "$TMP/out" --log_samples \
    --model_args "model=stories260K.bin,base_url=http://127.0.0.1:$PORT/v1/chat/completions,num_concurrent=2,max_retries=1" \
    >"$TMP/lmeval.out" 2>&1 || { fail peer_lmeval_chat_serve "lm_eval failed: $(tail -c 600 "$TMP/lmeval.out")"; exit 1; }
echo "lm_eval through chaejeom serve's chat: $(($(date +%s) - start)) s for $N docs x 2 tasks"

"$PY" - "$TMP/out" "$TMP/run.db" "$TMP/chat.jinja" "$PORT" >"$TMP/compare.out" 2>&1 <<'EOF'
import glob, hashlib, http.client, json, os, sqlite3, sys
import jinja2, jinja2.ext, jinja2.sandbox
out, db, tpl, port = sys.argv[1:]
def tokenize(body):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    c.request("POST", "/tokenize", body=json.dumps(body))
    r = c.getresponse()
    return r.status, json.loads(r.read())
# transformers' apply_chat_template environment (Qwen2.5's template reads neither bos_token nor the date)
env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                   extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = lambda x, **k: json.dumps(x, ensure_ascii=False, **k)
template = env.from_string(open(tpl).read())
results = json.load(open(glob.glob(os.path.join(out, "**", "results_*.json"), recursive=True)[0]))["results"]
con = sqlite3.connect(db)
ok = True
for task in ("gsm8k", "gsm8k_fit"):
    theirs = results[task + "_local"]
    ours = dict(con.execute("SELECT metric, value FROM metrics WHERE task = ?", (task,)))
    gens = {d: (t, json.loads(s), r) for d, t, s, r in
            con.execute("SELECT doc_id, text, scores, finish_reason FROM generations WHERE task = ?", (task,))}
    hashes = dict(con.execute("SELECT doc_id, prompt_hash FROM docs WHERE task = ?", (task,)))
    print("%s:" % task)
    for f in ("strict-match", "flexible-extract"):
        a, b = ours.get("exact_match," + f), theirs.get("exact_match," + f)
        print("  exact_match,%-16s chaejeom run %.6f  lm-eval via serve %.6f" % (f, a, b))
        ok &= a == b
    docs, texts, prompts, served, per_doc, shown = set(), 0, 0, 0, 0, 0
    for l in open(glob.glob(os.path.join(out, "**", "samples_%s_local_*.jsonl" % task), recursive=True)[0]):
        s = json.loads(l)
        d = "test:%d" % s["doc_id"]
        text, scores, _ = gens.get(d, (None, {}, None))
        f = s["filter"]  # one line per filter: its answer (the regex's, or [invalid]) and exact_match
        mine = (scores.get("answers", {}).get(f), scores.get("exact_match," + f))
        if mine == (s["filtered_resps"][0], s["exact_match"]):
            per_doc += 1
        else:
            ok = False
            print("  answer differs: %s %s: chaejeom run %r, lm-eval %r" % (d, f, mine,
                                                                          (s["filtered_resps"][0], s["exact_match"])))
        if d in docs:  # the doc's other filter: same generation, same prompt
            continue
        docs.add(d)
        messages = s["arguments"]["gen_args_0"]["arg_0"]  # a JsonChatStr, logged as [its JSON]
        messages = messages[0] if isinstance(messages, list) and len(messages) == 1 else messages
        messages = json.loads(messages) if isinstance(messages, str) else messages
        rendered = template.render(messages=messages, add_generation_prompt=True, tools=None, documents=None)
        # run's prompt_hash: sha256 of the context and the (empty) continuation, each NUL-terminated
        if hashlib.sha256(rendered.encode() + b"\0\0").hexdigest() == hashes.get(d):
            prompts += 1
        else:
            ok = False
            print("  prompt differs: %s: lm-eval's messages %r" % (d, str(messages)[:300]))
        # what the server renders from the messages lm-eval sent, as ids (vLLM's /tokenize with messages):
        # the same ids as that rendering's text
        theirs_ids, mine_ids = tokenize({"messages": messages}), tokenize({"prompt": rendered, "add_special_tokens": False})
        if theirs_ids[0] == 200 and theirs_ids == mine_ids:
            served += 1
        else:
            ok = False
            a, b = theirs_ids[1].get("tokens", theirs_ids), mine_ids[1].get("tokens", mine_ids)
            k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            print("  the server's rendering differs: %s: %d and %d ids, from id %d: %r, %r" % (d, len(a), len(b), k,
                                                                                              a[k:k + 8], b[k:k + 8]))
        if len(docs) == 1:
            print("  first doc: %d messages (roles %s), rendered %d characters" % (len(messages),
                  " ".join(m["role"][0] for m in messages), len(rendered)))
            print("  first generation: chaejeom run %r, lm-eval %r" % (text[:50] if text else text, s["resps"][0][0][:50]))
        if s["resps"][0][0] == text:
            texts += 1
        else:
            ok = False
            if shown < 3:
                shown += 1
                print("  text differs: %s: chaejeom run %r, lm-eval %r" % (d, text, s["resps"][0][0]))
    n = len(gens)
    ends = {}
    for _, _, r in gens.values():
        ends[r] = ends.get(r, 0) + 1
    print("  run's generations ended by: %s" % ", ".join("%s %d" % kv for kv in sorted(ends.items())))
    print("  prompts the same (lm-eval's messages rendered = run's prompt): %d of %d" % (prompts, n))
    print("  the server renders them the same (its /tokenize of the messages): %d of %d" % (served, n))
    print("  generated texts the same, byte for byte: %d of %d" % (texts, n))
    print("  answers and exact_match the same per doc and filter: %d of %d" % (per_doc, 2 * n))
    ok &= len(docs) == n > 0 and prompts == served == texts == n and per_doc == 2 * n
print("ok" if ok else "differ")
EOF
cat "$TMP/compare.out"
[ "$(tail -1 "$TMP/compare.out")" = ok ] && pass peer_lmeval_chat_serve || fail peer_lmeval_chat_serve "see above"
exit $e2e_fail
