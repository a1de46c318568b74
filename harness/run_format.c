/* run_format — a run's results table as text, Markdown, CSV or JSON, from
 * the database (run.h: run_format_metrics). */
#include "run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../metrics/calib.h"
#include "../metrics/score.h"
#include "../metrics/stats.h"
#include "../metrics/truthfulqa_gen.h"

static char *dump(json_t *j, size_t flags) {
    char *s = json_dumps(j, flags | JSON_ENCODE_ANY);
    if (!s) abort(); /* jansson fails only on allocation */
    return s;
}

static int is_bin_metric(const char *m) { return !strncmp(m, "ece_bin_", 8); }

/* --- formatting ----------------------------------------------------------------------- */

typedef struct {
    store_metric_row *v;
    int n, cap;
} mrows;

static int collect_metric(const store_metric_row *m, void *ctx) {
    mrows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 32;
        r->v = cj_xrealloc(r->v, sizeof *r->v * (size_t)r->cap);
    }
    store_metric_row x = *m;
    x.task = cj_xstrdup(m->task);
    x.kind = cj_xstrdup(m->kind);
    x.metric = cj_xstrdup(m->metric);
    r->v[r->n++] = x;
    return 0;
}

typedef struct {
    store_latency_summary *v;
    int n, cap;
} lrows;

static int collect_latency(const store_latency_summary *l, void *ctx) {
    lrows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = cj_xrealloc(r->v, sizeof *r->v * (size_t)r->cap);
    }
    r->v[r->n] = *l;
    r->v[r->n++].task = cj_xstrdup(l->task);
    return 0;
}

static void fmt_num(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.4f", v);
}

static void csv_field(sb *out, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        sb_puts(out, s);
        return;
    }
    sb_putc(out, '"');
    for (; *s; s++) {
        if (*s == '"') sb_putc(out, '"');
        sb_putc(out, *s);
    }
    sb_putc(out, '"');
}

/* The hallucination and calibration section: TruthfulQA (mc1 is
 * truthfulqa_mc1's acc), abstention and the calibration metrics. */
static int is_hallucination_row(const store_metric_row *m) {
    return !strncmp(m->task, "truthfulqa", 10) || !strcmp(m->metric, "abstain_rate") ||
           !strcmp(m->metric, "hallucination_rate") || !strcmp(m->metric, "confident_error_rate") ||
           !strcmp(m->metric, "brier") || !strcmp(m->metric, "ece");
}

/* A task's headline number for the latency table. */
static const store_metric_row *main_score(const mrows *r, const char *task) {
    static const char *const PREF[] = {"acc", "exact_match", "mc2", "bleu_acc", "acc_norm", "f1", "word_perplexity",
                                       "token_perplexity"};
    for (size_t k = 0; k < sizeof PREF / sizeof PREF[0]; k++)
        for (int i = 0; i < r->n; i++)
            if (!strcmp(r->v[i].task, task) && !strcmp(r->v[i].metric, PREF[k])) return &r->v[i];
    return NULL;
}

/* Rows of one section as an aligned table (fmt 0) or Markdown (fmt 1). */
static void metric_table(sb *out, int fmt, const mrows *r, int hallucination) {
    int wt = 4, wm = 6, any = 0;
    for (int i = 0; i < r->n; i++) {
        const store_metric_row *m = &r->v[i];
        if (is_bin_metric(m->metric) || is_hallucination_row(m) != hallucination) continue;
        any = 1;
        int lt = (int)strlen(m->task) + (strcmp(m->kind, "group") ? 0 : 8);
        if (lt > wt) wt = lt;
        if ((int)strlen(m->metric) > wm) wm = (int)strlen(m->metric);
    }
    if (!any) return;
    if (hallucination) sb_puts(out, fmt == 1 ? "\n### Hallucination and calibration\n\n" : "\nhallucination and calibration\n");
    if (fmt == 0) sb_printf(out, "%-*s  %-*s  %8s    %-8s  %6s\n", wt, "task", wm, "metric", "value", "stderr", "n");
    if (fmt == 1) sb_puts(out, "| task | kind | metric | value | stderr | n |\n|---|---|---|---:|---:|---:|\n");
    for (int i = 0; i < r->n; i++) {
        const store_metric_row *m = &r->v[i];
        if (is_bin_metric(m->metric) || is_hallucination_row(m) != hallucination) continue;
        char v[32], se[32];
        fmt_num(v, sizeof v, m->value);
        fmt_num(se, sizeof se, m->stderr_);
        if (fmt == 0) {
            sb tn;
            sb_init(&tn);
            sb_printf(&tn, "%s%s", m->task, strcmp(m->kind, "group") ? "" : " (group)");
            sb_printf(out, "%-*s  %-*s  %8s  ± %-8s  %6d\n", wt, tn.s, wm, m->metric, v, se, m->n);
            sb_free(&tn);
        } else {
            sb_printf(out, "| %s | %s | %s | %s | %s | %d |\n", m->task, m->kind, m->metric, v, se, m->n);
        }
    }
}

/* A cell: "-" for an undefined value. */
static void cell(char *buf, size_t n, const char *fmt, double v) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, fmt, v);
}

static void latency_table(sb *out, int fmt, const mrows *r, const lrows *l) {
    static const char *const H[] = {"task", "score", "docs", "prefill tok", "decode tok", "wall s", "prefill tok/s",
                                    "decode tok/s", "ttft ms", "p50 ms", "p95 ms", "p99 ms", "docs/s"};
    enum { NC = sizeof H / sizeof H[0] };
    if (!l->n) return;
    char (*c)[NC][96] = cj_xcalloc((size_t)l->n, sizeof *c);
    int w[NC];
    for (int k = 0; k < NC; k++) w[k] = (int)strlen(H[k]);
    double peak = NAN;
    for (int i = 0; i < l->n; i++) {
        const store_latency_summary *x = &l->v[i];
        const store_metric_row *m = main_score(r, x->task);
        snprintf(c[i][0], 96, "%s", x->task);
        if (m && !isnan(m->value)) snprintf(c[i][1], 96, "%s %.4f", m->metric, m->value);
        else snprintf(c[i][1], 96, "-");
        snprintf(c[i][2], 96, "%d", x->docs);
        snprintf(c[i][3], 96, "%lld", (long long)x->prefill_tokens);
        snprintf(c[i][4], 96, "%lld", (long long)x->decode_tokens);
        cell(c[i][5], 96, "%.3f", x->wall_s);
        cell(c[i][6], 96, "%.1f", x->prefill_tok_s);
        cell(c[i][7], 96, "%.1f", x->decode_tok_s);
        cell(c[i][8], 96, "%.2f", 1000 * x->ttft_mean_s);
        cell(c[i][9], 96, "%.2f", 1000 * x->p50_s);
        cell(c[i][10], 96, "%.2f", 1000 * x->p95_s);
        cell(c[i][11], 96, "%.2f", 1000 * x->p99_s);
        cell(c[i][12], 96, "%.2f", x->docs_per_s);
        if (x->peak_rss_bytes > 0) peak = (double)x->peak_rss_bytes;
        for (int k = 0; k < NC; k++)
            if ((int)strlen(c[i][k]) > w[k]) w[k] = (int)strlen(c[i][k]);
    }
    sb_puts(out, fmt == 1 ? "\n### Latency and cost\n\n" : "\nlatency and cost (runner time per doc; ttft: time to first token)\n");
    for (int k = 0; k < NC; k++) {
        if (fmt == 1) sb_printf(out, "| %s ", H[k]);
        else sb_printf(out, k < 2 ? "%s%-*s" : "%s%*s", k ? "  " : "", w[k], H[k]);
    }
    sb_puts(out, fmt == 1 ? "|\n|---|---|" : "\n");
    if (fmt == 1)
        for (int k = 2; k < NC; k++) sb_puts(out, "---:|");
    if (fmt == 1) sb_putc(out, '\n');
    for (int i = 0; i < l->n; i++) {
        for (int k = 0; k < NC; k++) {
            if (fmt == 1) sb_printf(out, "| %s ", c[i][k]);
            else sb_printf(out, k < 2 ? "%s%-*s" : "%s%*s", k ? "  " : "", w[k], c[i][k]);
        }
        sb_puts(out, fmt == 1 ? "|\n" : "\n");
    }
    if (!isnan(peak)) sb_printf(out, "%speak resident memory: %.1f MiB\n", fmt == 1 ? "\n" : "", peak / (1024.0 * 1024.0));
    free(c);
}

static json_t *num_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

int run_format_metrics(store *s, int64_t run_id, const char *format, sb *out, cj_err *e) {
    int fmt = !strcmp(format, "table") ? 0 : !strcmp(format, "md") ? 1 : !strcmp(format, "csv") ? 2
            : !strcmp(format, "json") ? 3 : -1;
    if (fmt < 0) return cj_fail(e, "unknown format '%s' (table, md, csv or json)", format);
    mrows r = {0};
    lrows l = {0};
    int rc = store_metrics_each(s, run_id, collect_metric, &r, e);
    if (!rc && fmt != 2) rc = store_latency_summaries_each(s, run_id, collect_latency, &l, e);
    if (rc) goto out;
    if (fmt == 3) {
        json_t *arr = json_array(), *lat = json_array();
        for (int i = 0; i < r.n; i++) {
            const store_metric_row *m = &r.v[i];
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:o, s:i}", "task", m->task, "kind", m->kind,
                                                 "metric", m->metric, "value", num_or_null(m->value), "stderr",
                                                 num_or_null(m->stderr_), "n", m->n));
        }
        for (int i = 0; i < l.n; i++) {
            const store_latency_summary *x = &l.v[i];
            json_t *o = json_pack("{s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                                  "task", x->task, "docs", x->docs, "prefill_tokens", (json_int_t)x->prefill_tokens,
                                  "decode_tokens", (json_int_t)x->decode_tokens, "wall_s", num_or_null(x->wall_s),
                                  "prefill_s", num_or_null(x->prefill_s), "decode_s", num_or_null(x->decode_s),
                                  "prefill_tok_s", num_or_null(x->prefill_tok_s), "decode_tok_s",
                                  num_or_null(x->decode_tok_s), "ttft_mean_s", num_or_null(x->ttft_mean_s),
                                  "ttft_p95_s", num_or_null(x->ttft_p95_s), "p50_s", num_or_null(x->p50_s), "p95_s",
                                  num_or_null(x->p95_s), "p99_s", num_or_null(x->p99_s), "docs_per_s",
                                  num_or_null(x->docs_per_s));
            if (!o) abort();
            json_object_set_new(o, "peak_rss_bytes",
                                x->peak_rss_bytes >= 0 ? json_integer((json_int_t)x->peak_rss_bytes) : json_null());
            json_array_append_new(lat, o);
        }
        json_t *doc = json_pack("{s:I, s:o, s:o}", "run_id", (json_int_t)run_id, "metrics", arr, "latency", lat);
        char *txt = dump(doc, JSON_INDENT(2));
        sb_puts(out, txt);
        sb_putc(out, '\n');
        free(txt);
        json_decref(doc);
    } else if (fmt == 2) {
        sb_puts(out, "task,kind,metric,value,stderr,n\n");
        for (int i = 0; i < r.n; i++) {
            const store_metric_row *m = &r.v[i];
            csv_field(out, m->task);
            sb_printf(out, ",%s,", m->kind);
            csv_field(out, m->metric);
            if (isnan(m->value)) sb_puts(out, ",");
            else sb_printf(out, ",%.17g", m->value);
            if (isnan(m->stderr_)) sb_puts(out, ",");
            else sb_printf(out, ",%.17g", m->stderr_);
            sb_printf(out, ",%d\n", m->n);
        }
    } else {
        metric_table(out, fmt, &r, 0);
        metric_table(out, fmt, &r, 1);
        latency_table(out, fmt, &r, &l);
    }
out:
    for (int i = 0; i < r.n; i++) {
        free((void *)r.v[i].task);
        free((void *)r.v[i].kind);
        free((void *)r.v[i].metric);
    }
    free(r.v);
    for (int i = 0; i < l.n; i++) free((void *)l.v[i].task);
    free(l.v);
    return rc;
}
