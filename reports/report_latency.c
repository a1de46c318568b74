/* report_latency — the latency section: per-doc wall times read from the
 * latency table, their quantiles, and the histogram, CDF and throughput
 * charts (report_impl.h). Apart from the other sections because it reads
 * timings, not metrics. */
#include <math.h>
#include <stdlib.h>

#include "report_impl.h"

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *s, size_t n, double q) {
    if (!n) return NAN;
    double h = q * (double)(n - 1);
    size_t i = (size_t)h;
    return i + 1 < n ? s[i] + (h - (double)i) * (s[i + 1] - s[i]) : s[n - 1];
}

/* Points per CDF line: enough for a smooth curve, few enough for gnuplot. */
#define LAT_POINTS 400
/* Histogram bins, the same for every run so that the lines overlay. */
#define HIST_BINS 30

/* A row per run with latency rows; sorts each run's wall times, and gives
 * the smallest and largest of them over all runs. */
static void latency_table(report_ctx *c, double *lo, double *hi) {
    static const char *const H[] = {"run", "docs", "docs/s", "tokens/s", "p50 ms", "p95 ms", "p99 ms"};
    report_table t;
    report_table_begin(&t, &c->d, 7, H, "lrrrrrr");
    *lo = INFINITY;
    *hi = 0;
    for (int k = 0; k < c->n_runs; k++) {
        report_run *r = &c->runs[k];
        if (!r->n_lat) continue;
        qsort(r->lat, r->n_lat, sizeof *r->lat, dbl_cmp);
        if (r->lat[0] < *lo) *lo = r->lat[0];
        if (r->lat[r->n_lat - 1] > *hi) *hi = r->lat[r->n_lat - 1];
        report_table_cell(&t, "%s", r->label);
        report_table_cell(&t, "%zu", r->n_lat);
        report_table_cell(&t, "%.2f", r->lat_wall > 0 ? (double)r->n_lat / r->lat_wall : NAN);
        report_table_cell(&t, "%.1f", r->lat_wall > 0 ? r->lat_tokens / r->lat_wall : NAN);
        report_table_cell(&t, "%.2f", 1000 * quantile(r->lat, r->n_lat, 0.5));
        report_table_cell(&t, "%.2f", 1000 * quantile(r->lat, r->n_lat, 0.95));
        report_table_cell(&t, "%.2f", 1000 * quantile(r->lat, r->n_lat, 0.99));
    }
    report_table_end(&t);
}

/* The CDF of a run's sorted wall times, in ms, at up to LAT_POINTS evenly
 * spaced ranks and the last; returns the number of points put in *x, *y. */
static int lat_cdf(const report_run *r, double **x, double **y) {
    size_t step = r->n_lat > LAT_POINTS ? (r->n_lat + LAT_POINTS - 1) / LAT_POINTS : 1;
    int n = 0;
    *x = cj_xmalloc((r->n_lat / step + 2) * sizeof **x);
    *y = cj_xmalloc((r->n_lat / step + 2) * sizeof **y);
    for (size_t i = 0; i < r->n_lat; i += step) {
        (*x)[n] = 1000 * r->lat[i];
        (*y)[n++] = (double)(i + 1) / (double)r->n_lat;
    }
    if ((r->n_lat - 1) % step) {
        (*x)[n] = 1000 * r->lat[r->n_lat - 1];
        (*y)[n++] = 1;
    }
    return n;
}

/* A run's histogram from lo in bins of width seconds: the share of docs
 * per bin, HIST_BINS + 1 points into *x, *y, drawn as steps. */
static void lat_hist(const report_run *r, double lo, double width, double **x, double **y) {
    *x = cj_xmalloc((HIST_BINS + 1) * sizeof **x);
    *y = cj_xcalloc(HIST_BINS + 1, sizeof **y);
    for (size_t i = 0; i < r->n_lat; i++) {
        long b = (long)((r->lat[i] - lo) / width);
        if (b >= HIST_BINS) b = HIST_BINS - 1;
        if (b < 0) b = 0;
        (*y)[b] += 1.0 / (double)r->n_lat;
    }
    for (int b = 0; b <= HIST_BINS; b++) (*x)[b] = 1000 * (lo + b * width);
    (*y)[HIST_BINS] = (*y)[HIST_BINS - 1];
}

/* The histogram, CDF and throughput charts of the runs with latency rows;
 * lo and hi bound their wall times. */
static int latency_charts(report_ctx *c, double lo, double hi, cj_err *e) {
    int nr = 0;
    char **names = cj_xmalloc((size_t)c->n_runs * sizeof *names);
    double **cx = cj_xmalloc((size_t)c->n_runs * sizeof *cx), **cy = cj_xmalloc((size_t)c->n_runs * sizeof *cy);
    double **hx = cj_xmalloc((size_t)c->n_runs * sizeof *hx), **hy = cj_xmalloc((size_t)c->n_runs * sizeof *hy);
    int *cn = cj_xmalloc((size_t)c->n_runs * sizeof *cn), *hn = cj_xmalloc((size_t)c->n_runs * sizeof *hn);
    double *tps = cj_xmalloc((size_t)c->n_runs * sizeof *tps);
    double width = hi > lo ? (hi - lo) / HIST_BINS : (hi > 0 ? hi : 1e-3) / HIST_BINS;
    for (int k = 0; k < c->n_runs; k++) {
        const report_run *r = &c->runs[k];
        if (!r->n_lat) continue;
        names[nr] = r->label;
        tps[nr] = r->lat_wall > 0 ? r->lat_tokens / r->lat_wall : NAN;
        cn[nr] = lat_cdf(r, &cx[nr], &cy[nr]);
        lat_hist(r, lo, width, &hx[nr], &hy[nr]);
        hn[nr] = HIST_BINS + 1;
        nr++;
    }
    cj_err pe;
    plot_lines_spec hs = {"Per-doc latency histogram", "ms per doc", "share of docs", nr, (const char *const *)names,
                          hn, (const double *const *)hx, (const double *const *)hy, 1, 0, 0, 0, 0, NAN};
    int rc = report_chart_done(c, plot_lines(&c->plot, "latency_hist", &hs, &pe), "latency_hist",
                               "Per-doc latency histogram", &pe, e);
    plot_lines_spec cs = {"Per-doc latency CDF", "ms per doc", "share of docs at most this slow", nr,
                          (const char *const *)names, cn, (const double *const *)cx, (const double *const *)cy, 1, 0,
                          0, 0, 0, 1};
    if (!rc)
        rc = report_chart_done(c, plot_lines(&c->plot, "latency_cdf", &cs, &pe), "latency_cdf", "Per-doc latency CDF",
                               &pe, e);
    const char *one[] = {"tokens/s"};
    plot_bars_spec ts = {"Throughput per run", "", "tokens/s (prefill + decode)", nr, (const char *const *)names, 1,
                         one, tps, NULL, 0, NAN};
    if (!rc)
        rc = report_chart_done(c, plot_bars(&c->plot, "tokens_per_s", &ts, &pe), "tokens_per_s", "Throughput per run",
                               &pe, e);
    for (int k = 0; k < nr; k++) {
        free(cx[k]);
        free(cy[k]);
        free(hx[k]);
        free(hy[k]);
    }
    free(names);
    free(cx);
    free(cy);
    free(hx);
    free(hy);
    free(cn);
    free(hn);
    free(tps);
    return rc;
}

int report_section_latency(report_ctx *c, cj_err *e) {
    int any = 0;
    for (int k = 0; k < c->n_runs; k++) any |= c->runs[k].n_lat > 0;
    if (!any) return 0;
    report_h2(&c->d, "Latency");
    report_p(&c->d, "Per-doc wall time as the runner measured it; docs/s and tokens/s (prefill + decode) over the "
                    "summed time.");
    double lo, hi;
    latency_table(c, &lo, &hi);
    report_protocol_footer(c);
    if (!c->can_plot) return 0;
    return latency_charts(c, lo, hi, e);
}
