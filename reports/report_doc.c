/* report_doc — the report's building blocks: headings, paragraphs, tables
 * and charts, each written at once into the Markdown and the HTML
 * (report_impl.h). The two documents are not separate files because every
 * block must appear in both, in the same order; the sections only say what
 * to write. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "report_impl.h"

void report_html_esc(sb *o, const char *s) {
    for (; *s; s++) {
        if (*s == '&') sb_puts(o, "&amp;");
        else if (*s == '<') sb_puts(o, "&lt;");
        else if (*s == '>') sb_puts(o, "&gt;");
        else if (*s == '"') sb_puts(o, "&quot;");
        else sb_putc(o, *s);
    }
}

void report_md_esc(sb *o, const char *s) {
    for (; *s; s++) {
        if (strchr("|\\`*_[]<>#", *s)) sb_putc(o, '\\');
        sb_putc(o, *s == '\n' ? ' ' : *s);
    }
}

void report_h2(report_doc *d, const char *title) {
    sb_printf(&d->md, "\n## %s\n\n", title);
    sb_puts(&d->html, "<h2>");
    report_html_esc(&d->html, title);
    sb_puts(&d->html, "</h2>\n");
}

void report_h3(report_doc *d, const char *title) {
    sb_printf(&d->md, "\n### %s\n\n", title);
    sb_puts(&d->html, "<h3>");
    report_html_esc(&d->html, title);
    sb_puts(&d->html, "</h3>\n");
}

/* GitHub renders <details> in Markdown too; the blank lines let the
 * Markdown inside it be parsed as Markdown. */
void report_fold_begin(report_doc *d, const char *summary) {
    sb_puts(&d->md, "<details><summary>");
    report_html_esc(&d->md, summary);
    sb_puts(&d->md, "</summary>\n\n");
    sb_puts(&d->html, "<details><summary>");
    report_html_esc(&d->html, summary);
    sb_puts(&d->html, "</summary>\n");
}

void report_fold_end(report_doc *d) {
    sb_puts(&d->md, "\n</details>\n\n");
    sb_puts(&d->html, "</details>\n");
}

void report_p(report_doc *d, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    report_md_esc(&d->md, buf);
    sb_puts(&d->md, "\n\n");
    sb_puts(&d->html, "<p>");
    report_html_esc(&d->html, buf);
    sb_puts(&d->html, "</p>\n");
}

void report_table_begin(report_table *t, report_doc *d, int ncols, const char *const *heads, const char *align) {
    t->d = d;
    t->align = align;
    t->ncols = ncols;
    t->col = 0;
    sb_puts(&d->md, "|");
    /* a table wider than the page scrolls inside its box, not the page */
    sb_puts(&d->html, "<div class=\"tw\"><table>\n<tr>");
    for (int i = 0; i < ncols; i++) {
        sb_putc(&d->md, ' ');
        report_md_esc(&d->md, heads[i]);
        sb_puts(&d->md, " |");
        sb_printf(&d->html, "<th class=\"%c\">", align[i]);
        report_html_esc(&d->html, heads[i]);
        sb_puts(&d->html, "</th>");
    }
    sb_puts(&d->md, "\n|");
    for (int i = 0; i < ncols; i++) sb_puts(&d->md, align[i] == 'r' ? "---:|" : "---|");
    sb_puts(&d->md, "\n");
    sb_puts(&d->html, "</tr>\n");
}

static void vcell(report_table *t, const char *cls, const char *fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    report_doc *d = t->d;
    if (t->col == 0) {
        sb_puts(&d->md, "|");
        sb_puts(&d->html, "<tr>");
    }
    sb_putc(&d->md, ' ');
    report_md_esc(&d->md, buf);
    sb_puts(&d->md, " |");
    sb_printf(&d->html, "<td class=\"%c%s%s\">", t->align[t->col], cls ? " " : "", cls ? cls : "");
    report_html_esc(&d->html, buf);
    sb_puts(&d->html, "</td>");
    if (++t->col == t->ncols) {
        t->col = 0;
        sb_puts(&d->md, "\n");
        sb_puts(&d->html, "</tr>\n");
    }
}

void report_table_cell(report_table *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vcell(t, NULL, fmt, ap);
    va_end(ap);
}

void report_table_cell_cls(report_table *t, const char *cls, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vcell(t, cls, fmt, ap);
    va_end(ap);
}

void report_table_end(report_table *t) {
    sb_puts(&t->d->md, "\n");
    sb_puts(&t->d->html, "</table></div>\n");
}

const char **report_heads_with_runs(const char *const *fixed, int nf, const report_run *runs, int n_runs) {
    const char **h = cj_xmalloc((size_t)(nf + n_runs) * sizeof *h);
    for (int i = 0; i < nf; i++) h[i] = fixed[i];
    for (int k = 0; k < n_runs; k++) h[nf + k] = runs[k].name;
    return h;
}

char *report_align_str(const char *fixed, int n_extra, char extra) {
    size_t nf = strlen(fixed);
    char *a = cj_xmalloc(nf + (size_t)n_extra + 1);
    memcpy(a, fixed, nf);
    memset(a + nf, extra, (size_t)n_extra);
    a[nf + (size_t)n_extra] = 0;
    return a;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(sb *o, const unsigned char *p, size_t n) {
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], B64[(v >> 6) & 63], B64[v & 63]};
        sb_putn(o, q, 4);
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], '=', '='};
        sb_putn(o, q, 4);
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], B64[(v >> 6) & 63], '='};
        sb_putn(o, q, 4);
    }
}

/* A drawn chart: linked in the Markdown, embedded in the HTML. */
static int d_img(report_doc *d, const char *stem, const char *caption, cj_err *e) {
    char name[256];
    snprintf(name, sizeof name, "%s.png", stem);
    char *path = cj_path_join(d->dir, name);
    cj_map m;
    int rc = cj_map_open(path, &m, e);
    free(path);
    if (rc) return -1;
    sb_printf(&d->md, "![%s](%s.png)  \n[%s.svg](%s.svg)\n\n", caption, stem, stem, stem);
    sb_puts(&d->html, "<figure><img alt=\"");
    report_html_esc(&d->html, caption);
    sb_printf(&d->html, "\" title=\"%s.png\" src=\"data:image/png;base64,", stem);
    base64(&d->html, m.data, m.size);
    sb_puts(&d->html, "\"><figcaption>");
    report_html_esc(&d->html, caption);
    sb_printf(&d->html, " (<a href=\"%s.svg\">%s.svg</a>, <a href=\"%s.png\">%s.png</a>)</figcaption></figure>\n", stem,
              stem, stem, stem);
    cj_map_close(&m);
    return 0;
}

int report_chart_done(report_ctx *c, int rc, const char *stem, const char *caption, cj_err *plot_err, cj_err *e) {
    if (rc) {
        if (!c->info->note[0]) snprintf(c->info->note, sizeof c->info->note, "%s", plot_err->msg);
        report_p(&c->d, "(chart %s not drawn: %s)", stem, plot_err->msg);
        return 0;
    }
    c->info->n_charts++;
    return d_img(&c->d, stem, caption, e);
}
