/* compare_format — the renderings of a compare_result (compare.h): a text
 * table for the terminal, Markdown for a pull-request comment, JSON, and
 * JUnit XML for CI. They only read the result, so they live apart from how
 * it is computed. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"

const char *compare_verdict_name(compare_verdict v) {
    return v == CMP_BETTER ? "better" : v == CMP_WORSE ? "worse" : "no significant change";
}

static const char *fmt_p(char buf[32], double p) {
    snprintf(buf, 32, p < 1e-4 ? "%.1e" : "%.4f", p);
    return buf;
}

static const char *row_mark(const compare_row *w) {
    return w->gated ? "worse (GATE)" : compare_verdict_name(w->verdict);
}

void compare_format_table(const compare_result *r, sb *o) {
    sb_printf(o, "base:      %s\ncandidate: %s\n", r->base.label, r->cand.label);
    sb_printf(o,
              "paired tests (McNemar exact for 0/1 metrics, bootstrap of %ld resamples otherwise), Holm-corrected "
              "over %d rows; alpha %g; gate: a significant drop of more than %g points\n\n",
              r->resamples, r->n_rows, r->alpha, r->max_drop);
    int w = 4;
    for (int i = 0; i < r->n_rows; i++) {
        int l = (int)strlen(r->rows[i].task) + (r->rows[i].is_group ? 2 : 0);
        if (l > w) w = l;
    }
    sb_printf(o, "%-*s  %-11s %6s %8s %8s %8s  %-19s %8s %8s  %s\n", w, "task", "metric", "n", "base", "cand",
              "diff", "interval", "p", "p(Holm)", "result");
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *x = &r->rows[i];
        char name[300], ci[64];
        snprintf(name, sizeof name, "%s%s%s", x->is_group ? "[" : "", x->task, x->is_group ? "]" : "");
        snprintf(ci, sizeof ci, "[%+.2f, %+.2f]", x->lo * x->scale, x->hi * x->scale);
        sb_printf(o, "%-*s  %-11s %6ld %8.2f %8.2f %+8.2f  %-19s ", w, name, x->metric, x->n, x->base * x->scale,
                  x->cand * x->scale, x->diff * x->scale, ci);
        char p1[32], p2[32];
        sb_printf(o, "%8s %8s  %s\n", fmt_p(p1, x->p), fmt_p(p2, x->p_holm), row_mark(x));
    }
    if (r->n_lat) {
        sb_printf(o, "\nlatency (flag: more than %.0f%% slower in docs/s or p95)%s\n", r->max_slowdown * 100,
                  r->gate_latency ? ", gating" : "");
        sb_printf(o, "%-*s  %9s %9s %9s %9s %9s %9s %8s\n", w, "task", "docs/s", "docs/s'", "tok/s", "tok/s'",
                  "p95 s", "p95 s'", "slower");
        for (int i = 0; i < r->n_lat; i++) {
            const compare_latency *l = &r->lat[i];
            sb_printf(o, "%-*s  %9.2f %9.2f %9.1f %9.1f %9.4f %9.4f %7.1f%%%s\n", w, l->task, l->base_docs_s,
                      l->cand_docs_s, l->base_tokens_s, l->cand_tokens_s, l->base_p95, l->cand_p95, l->slowdown * 100,
                      l->flagged ? "  SLOW" : "");
        }
        sb_puts(o, "(' = candidate)\n");
    }
    for (int i = 0; i < r->n_notes; i++) sb_printf(o, "%snote: %s\n", i ? "" : "\n", r->notes[i]);
    sb_putc(o, '\n');
    int gated = 0;
    for (int i = 0; i < r->n_rows; i++)
        if (r->rows[i].gated) {
            const compare_row *x = &r->rows[i];
            char p[32];
            sb_printf(o, "GATE FAILED: %s %s is worse by %.2f points (%.2f -> %.2f, p(Holm) %s)\n", x->task, x->metric,
                      fabs(x->diff * x->scale), x->base * x->scale, x->cand * x->scale, fmt_p(p, x->p_holm));
            gated = 1;
        }
    if (r->gate_failed && !gated) sb_puts(o, "GATE FAILED: latency (see SLOW above)\n");
    if (!r->gate_failed) sb_puts(o, "gate passed: no significant drop beyond the threshold\n");
}

/* Markdown escapes for table cells: pipes would split the cell. */
static void md_cell(sb *o, const char *s) {
    for (; *s; s++) {
        if (*s == '|' || *s == '\\' || *s == '`' || *s == '*' || *s == '_') sb_putc(o, '\\');
        sb_putc(o, *s == '\n' ? ' ' : *s);
    }
}

void compare_format_md(const compare_result *r, sb *o) {
    int n_worse = 0, n_better = 0;
    for (int i = 0; i < r->n_rows; i++) {
        n_worse += r->rows[i].verdict == CMP_WORSE;
        n_better += r->rows[i].verdict == CMP_BETTER;
    }
    sb_puts(o, "### chaejeom compare: ");
    if (r->gate_failed) sb_puts(o, "❌ gate failed\n\n");
    else sb_puts(o, "✅ gate passed\n\n");
    sb_puts(o, "**Base** ");
    md_cell(o, r->base.label);
    sb_puts(o, " → **candidate** ");
    md_cell(o, r->cand.label);
    sb_printf(o,
              "  \n%d better, %d worse, %d with no significant change (α = %g after Holm over %d rows; gate: a "
              "significant drop of more than %g points).\n\n",
              n_better, n_worse, r->n_rows - n_better - n_worse, r->alpha, r->n_rows, r->max_drop);
    sb_puts(o, "| task | metric | n | base | candidate | Δ (points) | interval | p | p (Holm) | result |\n");
    sb_puts(o, "|---|---|---:|---:|---:|---:|---|---:|---:|---|\n");
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *x = &r->rows[i];
        char p1[32], p2[32];
        sb_puts(o, "| ");
        if (x->is_group) sb_puts(o, "**");
        md_cell(o, x->task);
        if (x->is_group) sb_puts(o, "**");
        sb_puts(o, " | ");
        md_cell(o, x->metric);
        sb_printf(o, " | %ld | %.2f | %.2f | %+.2f | [%+.2f, %+.2f] | %s | %s | %s |\n", x->n, x->base * x->scale,
                  x->cand * x->scale, x->diff * x->scale, x->lo * x->scale, x->hi * x->scale, fmt_p(p1, x->p),
                  fmt_p(p2, x->p_holm),
                  x->gated                     ? "❌ worse (gate)"
                  : x->verdict == CMP_WORSE   ? "🔻 worse"
                  : x->verdict == CMP_BETTER  ? "🔺 better"
                                              : "no significant change");
    }
    if (r->n_lat) {
        sb_printf(o, "\n**Latency** (flag: more than %.0f%% slower in docs/s or p95%s)\n\n", r->max_slowdown * 100,
                  r->gate_latency ? "; gating" : "; not gating");
        sb_puts(o, "| task | docs/s base | docs/s cand | tokens/s base | tokens/s cand | p95 s base | p95 s cand | "
                   "slower | |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (int i = 0; i < r->n_lat; i++) {
            const compare_latency *l = &r->lat[i];
            sb_puts(o, "| ");
            md_cell(o, l->task);
            sb_printf(o, " | %.2f | %.2f | %.1f | %.1f | %.4f | %.4f | %.1f%% | %s |\n", l->base_docs_s,
                      l->cand_docs_s, l->base_tokens_s, l->cand_tokens_s, l->base_p95, l->cand_p95, l->slowdown * 100,
                      l->flagged ? "🐢 slow" : "");
        }
    }
    if (r->n_notes) {
        sb_puts(o, "\n<details><summary>Notes</summary>\n\n");
        for (int i = 0; i < r->n_notes; i++) {
            sb_puts(o, "- ");
            md_cell(o, r->notes[i]);
            sb_putc(o, '\n');
        }
        sb_puts(o, "\n</details>\n");
    }
}

/* JSON numbers cannot be NaN or infinite: those become null. */
static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *jrun(const compare_run *c) {
    return json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)c->id, "label", c->label, "model_sha256",
                     c->model_sha256, "status", c->status, "host", c->host);
}

void compare_format_json(const compare_result *r, sb *o) {
    json_t *root = json_object(), *rows = json_array(), *lat = json_array(), *notes = json_array();
    json_object_set_new(root, "base", jrun(&r->base));
    json_object_set_new(root, "candidate", jrun(&r->cand));
    json_object_set_new(root, "alpha", json_real(r->alpha));
    json_object_set_new(root, "max_drop", json_real(r->max_drop));
    json_object_set_new(root, "max_slowdown", json_real(r->max_slowdown));
    json_object_set_new(root, "resamples", json_integer(r->resamples));
    json_object_set_new(root, "gate_failed", json_boolean(r->gate_failed));
    json_object_set_new(root, "latency_flagged", json_boolean(r->latency_flagged));
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *x = &r->rows[i];
        json_t *j = json_object();
        json_object_set_new(j, "task", json_string(x->task));
        json_object_set_new(j, "kind", json_string(x->is_group ? "group" : "task"));
        json_object_set_new(j, "metric", json_string(x->metric));
        json_object_set_new(j, "test", json_string(x->binary ? "mcnemar_exact" : "paired_bootstrap"));
        json_object_set_new(j, "higher_is_better", json_boolean(x->higher_better));
        json_object_set_new(j, "n", json_integer(x->n));
        json_object_set_new(j, "n_unpaired", json_integer(x->n_unpaired));
        json_object_set_new(j, "base", jnum(x->base));
        json_object_set_new(j, "candidate", jnum(x->cand));
        json_object_set_new(j, "diff", jnum(x->diff));
        json_object_set_new(j, "diff_points", jnum(x->diff * x->scale));
        json_object_set_new(j, "ci_low", jnum(x->lo));
        json_object_set_new(j, "ci_high", jnum(x->hi));
        if (x->binary) {
            json_object_set_new(j, "base_only_right", json_integer(x->b));
            json_object_set_new(j, "candidate_only_right", json_integer(x->c));
        }
        json_object_set_new(j, "p", jnum(x->p));
        json_object_set_new(j, "p_holm", jnum(x->p_holm));
        json_object_set_new(j, "result", json_string(compare_verdict_name(x->verdict)));
        json_object_set_new(j, "gated", json_boolean(x->gated));
        json_array_append_new(rows, j);
    }
    for (int i = 0; i < r->n_lat; i++) {
        const compare_latency *l = &r->lat[i];
        json_array_append_new(
            lat, json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "task", l->task, "n_base",
                           (json_int_t)l->n_base, "n_candidate", (json_int_t)l->n_cand, "docs_s_base",
                           jnum(l->base_docs_s), "docs_s_candidate", jnum(l->cand_docs_s), "tokens_s_base",
                           jnum(l->base_tokens_s), "tokens_s_candidate", jnum(l->cand_tokens_s), "p95_s_base",
                           jnum(l->base_p95), "p95_s_candidate", jnum(l->cand_p95), "slowdown", jnum(l->slowdown),
                           "flagged", l->flagged));
    }
    for (int i = 0; i < r->n_notes; i++) json_array_append_new(notes, json_string(r->notes[i]));
    json_object_set_new(root, "rows", rows);
    json_object_set_new(root, "latency", lat);
    json_object_set_new(root, "notes", notes);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    sb_puts(o, s);
    sb_putc(o, '\n');
    free(s);
    json_decref(root);
}

/* XML attribute/text escape; drops control characters XML 1.0 forbids. */
static void xml_esc(sb *o, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&') sb_puts(o, "&amp;");
        else if (c == '<') sb_puts(o, "&lt;");
        else if (c == '>') sb_puts(o, "&gt;");
        else if (c == '"') sb_puts(o, "&quot;");
        else if (c == '\'') sb_puts(o, "&apos;");
        else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') continue;
        else sb_putc(o, (char)c);
    }
}

void compare_format_junit(const compare_result *r, sb *o) {
    int failures = 0, tests = r->n_rows + r->n_lat;
    for (int i = 0; i < r->n_rows; i++) failures += r->rows[i].gated;
    for (int i = 0; i < r->n_lat; i++) failures += r->gate_latency && r->lat[i].flagged && !strcmp(r->lat[i].task, "(all)");
    sb_puts(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    sb_printf(o, "<testsuites tests=\"%d\" failures=\"%d\">\n", tests, failures);
    sb_printf(o, "  <testsuite name=\"chaejeom compare\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\">\n",
              tests, failures);
    sb_puts(o, "    <properties>\n      <property name=\"base\" value=\"");
    xml_esc(o, r->base.label);
    sb_puts(o, "\"/>\n      <property name=\"candidate\" value=\"");
    xml_esc(o, r->cand.label);
    sb_printf(o, "\"/>\n      <property name=\"alpha\" value=\"%g\"/>\n      <property name=\"max_drop\" value=\"%g\"/>\n    </properties>\n",
              r->alpha, r->max_drop);
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *x = &r->rows[i];
        char p1[32], p2[32], msg[512];
        snprintf(msg, sizeof msg, "%s %s: %.2f -> %.2f (%+.2f points, interval [%+.2f, %+.2f], p %s, p(Holm) %s): %s",
                 x->task, x->metric, x->base * x->scale, x->cand * x->scale, x->diff * x->scale, x->lo * x->scale,
                 x->hi * x->scale, fmt_p(p1, x->p), fmt_p(p2, x->p_holm), row_mark(x));
        sb_puts(o, "    <testcase classname=\"chaejeom.compare.");
        xml_esc(o, x->is_group ? "group" : "task");
        sb_puts(o, "\" name=\"");
        xml_esc(o, x->task);
        sb_putc(o, '/');
        xml_esc(o, x->metric);
        sb_puts(o, "\" time=\"0\">\n");
        if (x->gated) {
            sb_puts(o, "      <failure type=\"regression\" message=\"");
            xml_esc(o, msg);
            sb_puts(o, "\"/>\n");
        } else {
            sb_puts(o, "      <system-out>");
            xml_esc(o, msg);
            sb_puts(o, "</system-out>\n");
        }
        sb_puts(o, "    </testcase>\n");
    }
    for (int i = 0; i < r->n_lat; i++) {
        const compare_latency *l = &r->lat[i];
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %.2f -> %.2f docs/s (%.1f%% slower), p95 %.4f -> %.4f s", l->task,
                 l->base_docs_s, l->cand_docs_s, l->slowdown * 100, l->base_p95, l->cand_p95);
        sb_puts(o, "    <testcase classname=\"chaejeom.compare.latency\" name=\"");
        xml_esc(o, l->task);
        sb_puts(o, "\" time=\"0\">\n");
        int fails = r->gate_latency && l->flagged && !strcmp(l->task, "(all)");
        sb_puts(o, fails ? "      <failure type=\"slowdown\" message=\"" : "      <system-out>");
        xml_esc(o, msg);
        sb_puts(o, fails ? "\"/>\n" : "</system-out>\n");
        sb_puts(o, "    </testcase>\n");
    }
    sb_puts(o, "  </testsuite>\n</testsuites>\n");
}
