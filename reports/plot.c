/* plot — gnuplot driver. See plot.h for the contract. */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/sb.h"

extern char **environ;

/* Runs gnuplot with args; stdout is discarded, stderr goes to log (or
 * /dev/null). Returns the exit status, or -1 if it could not be started. */
static int spawn_gnuplot(const char *prog, char *const argv[], const char *log) {
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa)) return -1;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int find_on_path(const char *name, char *out, size_t n) {
    const char *path = getenv("PATH");
    if (!path) return -1;
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && len + strlen(name) + 2 <= n) {
            snprintf(out, n, "%.*s/%s", (int)len, p, name);
            if (access(out, X_OK) == 0 && cj_is_file(out)) return 0;
        }
        p += len + (end ? 1 : 0);
    }
    return -1;
}

int plot_init(plot_ctx *p, const char *program, const char *dir, cj_err *e) {
    memset(p, 0, sizeof *p);
    p->dir = dir;
    if (!program) program = "gnuplot";
    if (strchr(program, '/')) {
        if (strlen(program) >= sizeof p->gnuplot || access(program, X_OK))
            return cj_fail(e, "%s: not an executable program", program);
        snprintf(p->gnuplot, sizeof p->gnuplot, "%s", program);
    } else if (find_on_path(program, p->gnuplot, sizeof p->gnuplot)) {
        return cj_fail(e, "%s is not installed (not found on PATH)", program);
    }
    char *probe[] = {p->gnuplot, "-e", "set terminal pngcairo", NULL};
    int rc = spawn_gnuplot(p->gnuplot, probe, NULL);
    if (rc < 0) return cj_fail(e, "%s: cannot be started", p->gnuplot);
    snprintf(p->png_term, sizeof p->png_term, "%s", rc == 0 ? "pngcairo" : "png");
    return 0;
}

/* A label inside a single-quoted gnuplot string: '' stands for one quote;
 * control characters become spaces. */
static void gp_str(sb *o, const char *s) {
    sb_putc(o, '\'');
    for (; s && *s; s++) {
        if (*s == '\'') sb_puts(o, "''");
        else if ((unsigned char)*s < 0x20) sb_putc(o, ' ');
        else sb_putc(o, *s);
    }
    sb_putc(o, '\'');
}

/* A label as a double-quoted data column, which cannot hold a quote. */
static void gp_data_str(sb *o, const char *s) {
    sb_putc(o, '"');
    for (; s && *s; s++) sb_putc(o, *s == '"' ? '\'' : (unsigned char)*s < 0x20 ? ' ' : *s);
    sb_putc(o, '"');
}

static void gp_num(sb *o, double v) {
    if (isfinite(v)) sb_printf(o, " %.10g", v);
    else sb_puts(o, " ?");
}

static void gp_header(sb *o, const char *title, const char *xlabel, const char *ylabel, double ymin, double ymax) {
    sb_puts(o, "set datafile missing '?'\nset encoding utf8\nset title ");
    gp_str(o, title);
    sb_puts(o, "\nset xlabel ");
    gp_str(o, xlabel);
    sb_puts(o, "\nset ylabel ");
    gp_str(o, ylabel);
    sb_puts(o, "\nset grid ytics lc rgb '#dddddd'\nset border 3\nset tics nomirror\n");
    if (isfinite(ymin) || isfinite(ymax)) {
        sb_puts(o, "set yrange [");
        if (isfinite(ymin)) sb_printf(o, "%.10g", ymin);
        sb_putc(o, ':');
        if (isfinite(ymax)) sb_printf(o, "%.10g", ymax);
        sb_puts(o, "]\n");
    }
}

/* Wraps the plot commands in both terminals, runs gnuplot, and checks that
 * both files came out non-empty. */
static int render(const plot_ctx *p, const char *stem, const char *body, int w, int h, cj_err *e) {
    char *png = NULL, *svg = NULL, *gp = NULL, *log = NULL;
    sb s, name;
    sb_init(&s);
    sb_init(&name);
    sb_printf(&name, "%s.png", stem);
    png = cj_path_join(p->dir, name.s);
    sb_clear(&name);
    sb_printf(&name, "%s.svg", stem);
    svg = cj_path_join(p->dir, name.s);
    sb_clear(&name);
    sb_printf(&name, ".%s.gp", stem);
    gp = cj_path_join(p->dir, name.s);
    sb_clear(&name);
    sb_printf(&name, ".%s.log", stem);
    log = cj_path_join(p->dir, name.s);
    sb_free(&name);

    sb_printf(&s, "set terminal %s noenhanced size %d,%d font 'sans,10'\nset output ", p->png_term, w, h);
    gp_str(&s, png);
    sb_printf(&s, "\n%s\nunset output\nset terminal svg noenhanced size %d,%d font 'sans,10' background '#ffffff'\n"
                  "set output ",
              body, w, h);
    gp_str(&s, svg);
    sb_printf(&s, "\n%s\nunset output\n", body);

    int rc = -1;
    FILE *f = fopen(gp, "wb");
    if (!f || fwrite(s.s, 1, s.len, f) != s.len || fclose(f)) {
        if (f) fclose(f);
        cj_fail(e, "%s: cannot write the gnuplot script", gp);
        goto out;
    }
    char *argv[] = {(char *)p->gnuplot, gp, NULL};
    int st = spawn_gnuplot(p->gnuplot, argv, log);
    struct stat a, b;
    if (st != 0) {
        char *msg = NULL;
        size_t len = 0;
        cj_err ignore;
        if (cj_read_file(log, &msg, &len, &ignore)) msg = NULL;
        /* the line that names the error, without the caret line above it */
        const char *line = msg ? strstr(msg, "line ") : NULL;
        if (!line && msg) line = msg;
        cj_fail(e, "chart %s: gnuplot failed (status %d)%s%.200s", stem, st, line ? ": " : "", line ? line : "");
        free(msg);
        for (char *c = e->msg; *c; c++)
            if (*c == '\n') *c = ' ';
    } else if (stat(png, &a) || stat(svg, &b) || a.st_size == 0 || b.st_size == 0) {
        cj_fail(e, "chart %s: gnuplot wrote no image", stem);
    } else {
        rc = 0;
    }
    unlink(gp);
    unlink(log);
out:
    sb_free(&s);
    free(png);
    free(svg);
    free(gp);
    free(log);
    return rc;
}

int plot_bars(const plot_ctx *p, const char *stem, const plot_bars_spec *s, cj_err *e) {
    if (s->n_cats < 1 || s->n_series < 1) return cj_fail(e, "chart %s: nothing to plot", stem);
    sb b;
    sb_init(&b);
    gp_header(&b, s->title, s->xlabel, s->ylabel, s->ymin, s->ymax);
    sb_puts(&b, "set style data histograms\n");
    if (s->err) sb_puts(&b, "set style histogram errorbars gap 1 lw 1\n");
    else sb_puts(&b, "set style histogram clustered gap 1\n");
    sb_puts(&b, "set style fill solid 0.85 border -1\nset boxwidth 0.9\nset key outside top center horizontal\n");
    size_t longest = 0;
    for (int c = 0; c < s->n_cats; c++)
        if (strlen(s->cats[c]) > longest) longest = strlen(s->cats[c]);
    if (s->n_cats > 6 || longest > 12) sb_puts(&b, "set xtics rotate by 40 right\n");
    sb_puts(&b, "$bars << EOD\n");
    for (int c = 0; c < s->n_cats; c++) {
        gp_data_str(&b, s->cats[c]);
        for (int k = 0; k < s->n_series; k++) {
            gp_num(&b, s->y[(size_t)k * (size_t)s->n_cats + (size_t)c]);
            if (s->err) gp_num(&b, s->err[(size_t)k * (size_t)s->n_cats + (size_t)c]);
        }
        sb_putc(&b, '\n');
    }
    sb_puts(&b, "EOD\nplot ");
    for (int k = 0; k < s->n_series; k++) {
        int col = 2 + k * (s->err ? 2 : 1);
        if (s->err) sb_printf(&b, "%s$bars using %d:%d%s title ", k ? ", " : "", col, col + 1, k ? "" : ":xtic(1)");
        else sb_printf(&b, "%s$bars using %d%s title ", k ? ", " : "", col, k ? "" : ":xtic(1)");
        gp_str(&b, s->series[k]);
    }
    sb_putc(&b, '\n');
    int per_cat = s->n_series * 16 + 24;
    int w = 140 + s->n_cats * per_cat;
    w = w < 720 ? 720 : w > 2400 ? 2400 : w;
    int rc = render(p, stem, b.s, w, 520, e);
    sb_free(&b);
    return rc;
}

/* The data blocks ($<prefix>s<k>) and plot command of one line chart. */
static void lines_body(sb *b, const plot_lines_spec *s, const char *prefix, int with_key) {
    gp_header(b, s->title, s->xlabel, s->ylabel, s->ymin, s->ymax);
    if (!with_key) sb_puts(b, "unset key\n");
    if (s->logx) sb_puts(b, "set logscale x\n");
    if (s->diagonal) sb_puts(b, "set xrange [0:1]\n");
    for (int k = 0; k < s->n_series; k++) {
        sb_printf(b, "$%ss%d << EOD\n", prefix, k);
        for (int i = 0; i < s->n_points[k]; i++) {
            gp_num(b, s->x[k][i]);
            gp_num(b, s->y[k][i]);
            sb_putc(b, '\n');
        }
        sb_puts(b, "EOD\n");
    }
    sb_puts(b, "plot ");
    const char *style = s->steps ? "steps lw 2" : s->points ? "linespoints lw 2 pt 7 ps 0.8" : "lines lw 2";
    for (int k = 0; k < s->n_series; k++) {
        sb_printf(b, "%s$%ss%d using 1:2 with %s title ", k ? ", " : "", prefix, k, style);
        gp_str(b, s->series[k]);
    }
    if (s->diagonal) sb_puts(b, ", x with lines dt 2 lc rgb '#888888' title 'perfectly calibrated'");
    sb_putc(b, '\n');
}

int plot_lines(const plot_ctx *p, const char *stem, const plot_lines_spec *s, cj_err *e) {
    if (s->n_series < 1) return cj_fail(e, "chart %s: nothing to plot", stem);
    sb b;
    sb_init(&b);
    sb_puts(&b, "set key outside right top vertical\n");
    if (s->diagonal) sb_puts(&b, "set size ratio -1\n");
    lines_body(&b, s, "", 1);
    int rc = render(p, stem, b.s, s->diagonal ? 760 : 860, s->diagonal ? 600 : 500, e);
    sb_free(&b);
    return rc;
}

int plot_panels(const plot_ctx *p, const char *stem, const plot_lines_spec *panels, int n, int cols, cj_err *e) {
    if (n < 1 || cols < 1) return cj_fail(e, "chart %s: nothing to plot", stem);
    int rows = (n + cols - 1) / cols;
    if (cols > n) cols = n;
    sb b;
    sb_init(&b);
    /* the top band holds the one key, so that no panel's key covers its lines */
    /* margins place the plot areas only: leave room for each panel's title
     * above it and its tics and x label below it, and for the key on top */
    int band = 16 + 18 * (panels[0].n_series + (panels[0].diagonal ? 1 : 0)), title = 28, below = 58, ph = 290;
    int h = band + rows * (title + ph + below);
    sb_printf(&b, "set multiplot layout %d,%d margins 0.07,0.98,%.4f,%.4f spacing 0.07,%.4f\n", rows, cols,
              (double)below / h, 1 - (double)(band + title) / h, (double)(below + title) / h);
    sb_puts(&b, "set key at screen 0.5,0.995 center top vertical\n");
    for (int i = 0; i < n; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "p%d", i);
        lines_body(&b, &panels[i], prefix, i == 0);
    }
    sb_puts(&b, "unset multiplot\n");
    int rc = render(p, stem, b.s, 400 * cols + 40, h, e);
    sb_free(&b);
    return rc;
}

static size_t longest(const char *const *v, int n) {
    size_t m = 0;
    for (int i = 0; i < n; i++)
        if (strlen(v[i]) > m) m = strlen(v[i]);
    return m;
}

/* About 7 px per character of the 10-point font: columns as wide as their
 * labels, so that neighbouring labels never touch. */
int plot_heatmap_width(const plot_heatmap_spec *s) {
    int col = 7 * (int)longest(s->cols, s->n_cols) + 30;
    return 250 + 7 * (int)longest(s->rows, s->n_rows) + (col < 110 ? 110 : col) * s->n_cols;
}

int plot_heatmap(const plot_ctx *p, const char *stem, const plot_heatmap_spec *s, cj_err *e) {
    if (s->n_rows < 1 || s->n_cols < 1) return cj_fail(e, "chart %s: nothing to plot", stem);
    sb b;
    sb_init(&b);
    gp_header(&b, s->title, "", "", NAN, NAN);
    sb_puts(&b, "unset key\nunset grid\nset border 0\nset tics scale 0\nunset xtics\nset x2tics (");
    for (int j = 0; j < s->n_cols; j++) {
        sb_puts(&b, j ? ", " : "");
        gp_str(&b, s->cols[j]);
        sb_printf(&b, " %d", j);
    }
    sb_puts(&b, ")\nset ytics (");
    for (int i = 0; i < s->n_rows; i++) {
        sb_puts(&b, i ? ", " : "");
        gp_str(&b, s->rows[i]);
        sb_printf(&b, " %d", i);
    }
    sb_printf(&b, ")\nset xrange [-0.5:%d.5]\nset x2range [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n", s->n_cols - 1,
              s->n_cols - 1, s->n_rows - 1);
    sb_printf(&b, "set cbrange [%.10g:%.10g]\nset palette defined (0 '#fbfbfb', 0.5 '#c6dbef', 1 '#6baed6')\n",
              s->vmin, s->vmax);
    sb_puts(&b, "$cells << EOD\n");
    for (int i = 0; i < s->n_rows; i++)
        for (int j = 0; j < s->n_cols; j++) {
            size_t at = (size_t)i * (size_t)s->n_cols + (size_t)j;
            sb_printf(&b, "%d %d", j, i);
            gp_num(&b, s->v[at]);
            sb_putc(&b, ' ');
            gp_data_str(&b, s->text && s->text[at] ? s->text[at] : "");
            sb_putc(&b, '\n');
        }
    sb_puts(&b, "EOD\nplot $cells using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder lc palette, "
                "'' using 1:2:4 with labels font 'sans,9'\n");
    int w = plot_heatmap_width(s);
    int rc = render(p, stem, b.s, w > PLOT_MAX_WIDTH ? PLOT_MAX_WIDTH : w, 110 + 20 * s->n_rows, e);
    sb_free(&b);
    return rc;
}
