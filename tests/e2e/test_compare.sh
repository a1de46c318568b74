#!/bin/sh
# End-to-end: `chaejeom compare` and `chaejeom report` on real runs of the
# stories260K model. Three runs of the same model (tagged step=1,2,3) must
# compare as unchanged; a copy of the database whose candidate run is edited
# to give wrong answers must fail the gate naming the task; the report must
# open on the runs and the summary (with compare's verdicts, the edited task
# marked worse), draw one heatmap per group and one reliability figure, fold
# the protocol and hashes at the end, hold valid PNG/SVG charts that
# index.html references, fit 1280 px in headless Chromium with the verdicts
# on the first screen, and still be written without gnuplot.
. "$(dirname "$0")/lib.sh"

M=$ASSETS/models/stories260K
DB=$TMP/runs.db

cj_run() {
    "$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --tasks ai2_arc --limit 40 \
        --seed 7 -t 2 --db "$DB" --no-resume "$@" >"$TMP/run.out" 2>"$TMP/run.err"
}
if cj_run --tag step=1 && cj_run --tag step=2 && cj_run --tag step=3; then
    pass compare_three_runs_made
else
    fail compare_three_runs_made "$(tail -c 400 "$TMP/run.err")"
    exit 1
fi
ids=$(sqlite3 "$DB" "SELECT id FROM runs ORDER BY id" | tr '\n' ' ')
set -- $ids
A=$1 B=$2 C=$3

# -- the same model twice: nothing changes, and nothing is written ----------
sum_before=$(cksum <"$DB")
expect compare_a_a_exit_0 0 "$CJ" compare "$A" "$B" --db "$DB"
if grep -q "no significant change" "$TMP/out" && ! grep -Eq " (better|worse)$" "$TMP/out" &&
    grep -q "gate passed" "$TMP/out"; then
    pass compare_a_a_no_change
else
    fail compare_a_a_no_change "$(head -c 600 "$TMP/out")"
fi
expect compare_by_tag 0 "$CJ" compare tag:step=1 tag:step=3 --db "$DB"
expect compare_run_with_itself 0 "$CJ" compare "$A" "$A" --db "$DB"
[ "$(cksum <"$DB")" = "$sum_before" ] && pass compare_leaves_db_untouched || fail compare_leaves_db_untouched

# -- a deliberately worse candidate: run B answers every arc_easy doc wrong --
sqlite3 "$DB" ".backup '$TMP/worse.db'"
sqlite3 "$TMP/worse.db" "
UPDATE choices SET logprob = logprob - 1000 WHERE run_id = $B AND task = 'arc_easy' AND choice_idx =
  (SELECT d.target FROM docs d WHERE d.run_id = choices.run_id AND d.task = choices.task AND d.doc_id = choices.doc_id);
UPDATE docs SET pred = (target + 1) % (SELECT COUNT(*) FROM choices c WHERE c.run_id = docs.run_id
  AND c.task = docs.task AND c.doc_id = docs.doc_id) WHERE run_id = $B AND task = 'arc_easy';"
base_right=$(sqlite3 "$TMP/worse.db" "SELECT COUNT(*) FROM docs WHERE run_id = $A AND task = 'arc_easy' AND pred = target")
expect compare_worse_exit_1 1 "$CJ" compare "$A" "$B" --db "$TMP/worse.db" --max-drop 1 --junit "$TMP/junit.xml"
if grep -q "GATE FAILED: arc_easy" "$TMP/out" && ! grep -q "GATE FAILED: arc_challenge" "$TMP/out"; then
    pass compare_worse_names_task
else
    fail compare_worse_names_task "base right on $base_right docs; $(head -c 800 "$TMP/out")"
fi
if python3 -c 'import xml.dom.minidom,sys; d=xml.dom.minidom.parse(sys.argv[1]); f=d.getElementsByTagName("failure"); sys.exit(0 if len(f)>=1 and "arc_easy" in f[0].parentNode.getAttribute("name") else 1)' "$TMP/junit.xml"; then
    pass compare_junit_parses
else
    fail compare_junit_parses "$(head -c 400 "$TMP/junit.xml")"
fi
expect compare_md_exit_1 1 "$CJ" compare "$A" "$B" --db "$TMP/worse.db" --format md
grep -q "gate failed" "$TMP/out" && grep -q "^| arc" "$TMP/out" && pass compare_md_summary || fail compare_md_summary
expect compare_json_exit_1 1 "$CJ" compare "$A" "$B" --db "$TMP/worse.db" --format json
if python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if j["gate_failed"] and any(r["gated"] and r["task"]=="arc_easy" for r in j["rows"]) else 1)' "$TMP/out"; then
    pass compare_json_parses
else
    fail compare_json_parses
fi
# a drop smaller than --max-drop does not gate
expect compare_max_drop_respected 0 "$CJ" compare "$A" "$B" --db "$TMP/worse.db" --max-drop 100

# -- refusals and bad input ---------------------------------------------------
sqlite3 "$DB" ".backup '$TMP/otherdef.db'"
sqlite3 "$TMP/otherdef.db" "UPDATE runs SET task_hashes = json_set(task_hashes, '\$.arc_easy', 'ffff') WHERE id = $B"
expect compare_refuses_other_definition 2 "$CJ" compare "$A" "$B" --db "$TMP/otherdef.db"
grep -q "arc_easy.*definitions differ" "$TMP/err" && pass compare_refusal_names_task || fail compare_refusal_names_task "$(cat "$TMP/err")"
expect compare_force 0 "$CJ" compare "$A" "$B" --db "$TMP/otherdef.db" --force
expect compare_unknown_run 2 "$CJ" compare "$A" 999 --db "$DB"
expect compare_missing_db 2 "$CJ" compare 1 2 --db "$TMP/none.db"
expect compare_bad_alpha 2 "$CJ" compare "$A" "$B" --db "$DB" --alpha 2
expect compare_bad_task 2 "$CJ" compare "$A" "$B" --db "$DB" --tasks nosuchtask

# -- the report ----------------------------------------------------------------
R=$TMP/report
expect report_exit_0 0 "$CJ" report "$A" "$B" "$C" --db "$DB" --out "$R"
ok=1
for f in summary subjects_ai2_arc reliability steps latency_hist latency_cdf tokens_per_s; do
    for ext in png svg; do
        [ -s "$R/$f.$ext" ] || { ok=0; echo "  missing or empty: $f.$ext"; }
    done
    [ "$(head -c 8 "$R/$f.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
        { ok=0; echo "  not a PNG: $f.png"; }
    grep -q "<svg" "$R/$f.svg" 2>/dev/null || { ok=0; echo "  not an SVG: $f.svg"; }
    grep -q "$f.png" "$R/index.html" 2>/dev/null || { ok=0; echo "  index.html does not reference $f.png"; }
    grep -q "$f.png" "$R/report.md" 2>/dev/null || { ok=0; echo "  report.md does not reference $f.png"; }
done
[ $ok -eq 1 ] && pass report_charts_valid || fail report_charts_valid
# one chart per idea: no per-subject or per-task chart series
n_png=$(ls "$R" | grep -c '\.png$')
[ "$n_png" -eq 7 ] && pass report_chart_count || fail report_chart_count "$n_png charts: $(ls "$R" | grep '\.png$' | tr '\n' ' ')"
if grep -q 'src="data:image/png;base64,' "$R/index.html" && ! grep -Eq '(src|href)="https?:' "$R/index.html"; then
    pass report_html_self_contained
else
    fail report_html_self_contained
fi
# section order: runs and summary first, the folded details last
order=$(grep '^## ' "$R/report.md" | tr '\n' '/')
case $order in
"## Runs/## Summary/## Subjects/## Score against checkpoint step/## Calibration/## Latency/## Details/")
    pass report_section_order ;;
*) fail report_section_order "$order" ;;
esac
# the summary: ai2_arc's row (its tasks are its subjects, in the heatmap) with
# compare's numbers: no change between runs of the same model
if grep -q '^| ai2\\_arc | acc | 80 | ' "$R/report.md" && grep -q "Δ run $C − run $A" "$R/report.md" &&
    grep -q "^Run $B vs run $A: no significant change in [0-9]* rows compared" "$R/report.md" &&
    grep '^| ai2\\_arc ' "$R/report.md" | grep -q ' n\.s\. |'; then
    pass report_summary_verdicts
else
    fail report_summary_verdicts "$(grep -E '^(\| ai2|Run )' "$R/report.md")"
fi
details=$(sed -n '/^## Details/,$p' "$R/report.md")
if echo "$details" | grep -q '^<details><summary>Task versions and definition hashes</summary>' &&
    echo "$details" | grep -q 'definition sha256' && echo "$details" | grep -q 'model sha256' &&
    echo "$details" | grep -q "Comparison: run $C against run $A" &&
    ! sed -n '1,/^## Details/p' "$R/report.md" | grep -q 'definition sha256'; then
    pass report_details_folded
else
    fail report_details_folded
fi
grep -q "step 3 (run $C)" "$R/report.md" && pass report_steps_table || fail report_steps_table
# a worse candidate: the summary says so, in words and in colour
RW=$TMP/report_worse
expect report_worse_exit_0 0 "$CJ" report "$A" "$B" --db "$TMP/worse.db" --out "$RW"
if grep -q "^Run $B vs run $A: [0-9]* worse (arc\\\\_easy" "$RW/report.md" &&
    grep -q '<td class="r worse">-[0-9.]* \[-[0-9.]*, -[0-9.]*\] worse</td>' "$RW/index.html" &&
    grep -q '▼' "$RW/subjects_ai2_arc.svg"; then
    pass report_worse_marked
else
    fail report_worse_marked "$(grep -E '^Run ' "$RW/report.md")"
fi
# a pair compare refuses is reported as such, with the summary still written
expect report_refused_pair_exit_0 0 "$CJ" report "$A" "$B" --db "$TMP/otherdef.db" --out "$TMP/report_otherdef"
if grep -q "^Run $B vs run $A: not compared: task arc\\\\_easy: the task definitions differ" \
    "$TMP/report_otherdef/report.md" && grep -q '^| ai2\\_arc | acc | 80 | .* | - |$' "$TMP/report_otherdef/report.md"; then
    pass report_refused_pair_noted
else
    fail report_refused_pair_noted "$(grep -E '^(Run |\| ai2)' "$TMP/report_otherdef/report.md")"
fi
# calibration metrics (written by the scorer of generative/MC calibration):
# the section and the reliability diagram appear only when they exist
sqlite3 "$DB" ".backup '$TMP/nocalib.db'"
sqlite3 "$TMP/nocalib.db" "DELETE FROM metrics WHERE metric IN ('ece', 'brier', 'confident_error_rate')
    OR metric LIKE 'ece_bin_%'"
expect report_nocalibration_exit_0 0 "$CJ" report "$A" "$B" --db "$TMP/nocalib.db" --out "$TMP/report_nocal"
if grep -q "## Calibration" "$R/report.md" && grep -q '^| ai2\\_arc | run [0-9]* | 80 | ' "$R/report.md" &&
    ! grep -q "## Calibration" "$TMP/report_nocal/report.md" && [ ! -e "$TMP/report_nocal/reliability.png" ]; then
    pass report_calibration_section
else
    fail report_calibration_section
fi
# without gnuplot: tables and a note, still exit 0
expect report_without_gnuplot 0 env PATH=/nonexistent "$CJ" report "$A" "$B" --db "$DB" --out "$TMP/report_nogp"
if grep -q "gnuplot" "$TMP/report_nogp/report.md" && grep -q "| ai2" "$TMP/report_nogp/report.md" &&
    [ -z "$(ls "$TMP/report_nogp" | grep '\.png$')" ]; then
    pass report_without_gnuplot_note
else
    fail report_without_gnuplot_note
fi
expect report_unknown_run 2 "$CJ" report 999 --db "$DB" --out "$TMP/r3"

# In headless Chromium at 1280 px: the first screen (1280x800) shows the
# summary with its "worse" cell, nothing is wider than the window and no
# table scrolls in its box (the details unfolded), and no chart is shrunk
# below 80% of its drawn width (its labels stay readable).
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -n "$CHROME" ]; then
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,800 \
        --screenshot="$TMP/shot.png" "file://$RW/index.html" >/dev/null 2>&1
    if python3 - "$TMP/shot.png" <<'EOF'; then pass report_first_screen_verdict; else fail report_first_screen_verdict; fi
# Decodes the PNG (8-bit RGB/RGBA, no interlace: what Chromium writes);
# requires many colours, no single colour covering 97% of the page, and the
# "worse" cell's background (#ffebe9) on this first screen.
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride, prev, counts = zlib.decompress(idat), w * bpp, bytearray(w * bpp), {}
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        counts[px] = counts.get(px, 0) + 1
    prev = line
total = sum(counts.values())
worse = counts.get(bytes((0xff, 0xeb, 0xe9)), 0)
print("  screenshot %dx%d, %d colours, most common %.1f%%, %d px of the worse colour"
      % (w, h, len(counts), 100.0 * max(counts.values()) / total, worse))
sys.exit(0 if len(counts) >= 16 and max(counts.values()) < 0.97 * total and worse > 500 else 1)
EOF
    cat >"$TMP/measure.html" <<EOF
<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="file://$R/index.html" style="width:1280px;height:800px;border:0"></iframe>
<script>
document.getElementById("f").onload = function () {
  var d = this.contentDocument, folds = d.querySelectorAll("details");
  for (var i = 0; i < folds.length; i++) folds[i].open = true;
  var out = ["page " + d.documentElement.scrollWidth], boxes = d.querySelectorAll(".tw");
  for (var i = 0; i < boxes.length; i++)
    if (boxes[i].scrollWidth > boxes[i].clientWidth) out.push("table " + i + " " + boxes[i].scrollWidth + " " + boxes[i].clientWidth);
  for (var i = 0; i < d.images.length; i++)
    out.push("img " + d.images[i].title + " " + d.images[i].naturalWidth + " " + d.images[i].clientWidth);
  var p = document.createElement("pre"); p.id = "m"; p.textContent = out.join("\n"); document.body.appendChild(p);
};
</script></body></html>
EOF
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --allow-file-access-from-files \
        --virtual-time-budget=10000 --dump-dom "file://$TMP/measure.html" >"$TMP/dom.html" 2>/dev/null
    if python3 - "$TMP/dom.html" <<'EOF'; then pass report_fits_1280; else fail report_fits_1280; fi
import html, re, sys
m = re.search(r'<pre id="m">(.*?)</pre>', open(sys.argv[1]).read(), re.S)
assert m, "no measurement in the dumped page"
bad, lines = [], html.unescape(m.group(1)).split("\n")
for line in lines:
    f = line.split()
    if f[0] == "page" and int(f[1]) > 1280: bad.append(line)
    if f[0] == "img" and int(f[3]) < 0.8 * int(f[2]): bad.append(line)
    if f[0] == "table": bad.append(line)
charts = sum(1 for line in lines if line.startswith("img "))
print("  %s; %d charts measured%s" % (lines[0], charts, "; too wide or shrunk: " + ", ".join(bad) if bad else ""))
sys.exit(1 if bad or charts < 7 else 0)
EOF
elif [ "${CI:-}" = true ]; then
    fail report_renders_in_chromium "chromium is not installed"
else
    echo "SKIP report_renders_in_chromium: chromium is not installed"
fi
exit $e2e_fail
