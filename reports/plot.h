/* plot — draws charts by running gnuplot as an external program.
 *
 * Each chart is one gnuplot script (data inline, as here-documents) run by
 * one gnuplot process, and becomes two files in the output folder:
 * STEM.png (pngcairo when gnuplot has it, else the libgd png terminal) and
 * STEM.svg (the script draws the same body once per terminal, so that
 * multiplots come out in both). Text is set with `noenhanced` so that task names such as
 * arc_easy are printed as written, not as subscripts. Labels are sanitised
 * for gnuplot's quoted strings (quotes and backslashes become harmless).
 *
 * Ownership: specs are read during the call only. Errors name the chart and
 * quote gnuplot's first error line. */
#ifndef CJ_PLOT_H
#define CJ_PLOT_H

#include "../common/err.h"

typedef struct {
    char gnuplot[4096]; /* the program found on PATH */
    char png_term[16];  /* "pngcairo" or "png" */
    const char *dir;    /* output folder (exists) */
} plot_ctx;

/* Finds gnuplot on PATH (or uses program if it contains a '/') and picks
 * the PNG terminal. Returns 0 when gnuplot can run, -1 otherwise (then the
 * report goes on without plots). */
int plot_init(plot_ctx *p, const char *program, const char *dir, cj_err *e);

/* Grouped bars: n_cats categories on x, one bar per series within each,
 * optional error bars (half-widths). y and err are [series][cat] row-major;
 * NAN leaves a gap. */
typedef struct {
    const char *title, *xlabel, *ylabel;
    int n_cats;
    const char *const *cats;
    int n_series;
    const char *const *series;
    const double *y;
    const double *err; /* NULL: no error bars */
    double ymin, ymax; /* NAN: automatic */
} plot_bars_spec;

int plot_bars(const plot_ctx *p, const char *stem, const plot_bars_spec *s, cj_err *e);

/* Lines: one per series, with its own points (x ascending), optionally as
 * steps (histograms, CDFs), on a log x axis, and with the y = x diagonal
 * (reliability diagrams). */
typedef struct {
    const char *title, *xlabel, *ylabel;
    int n_series;
    const char *const *series;
    const int *n_points;
    const double *const *x;
    const double *const *y;
    int steps, logx, diagonal, points;
    double ymin, ymax; /* NAN: automatic */
} plot_lines_spec;

int plot_lines(const plot_ctx *p, const char *stem, const plot_lines_spec *s, cj_err *e);

/* Several line charts as panels of one image, cols per row, sharing one
 * key at the top (the first panel's series names). */
int plot_panels(const plot_ctx *p, const char *stem, const plot_lines_spec *panels, int n, int cols, cj_err *e);

/* A heatmap: a row per rows[i] (top to bottom), a column per cols[j], each
 * cell coloured by v[i][j] (row-major; NAN: blank) on [vmin, vmax] and
 * labelled with text[i][j] (NULL: none). */
typedef struct {
    const char *title;
    int n_rows;
    const char *const *rows;
    int n_cols;
    const char *const *cols;
    const double *v;
    const char *const *text;
    double vmin, vmax;
} plot_heatmap_spec;

int plot_heatmap(const plot_ctx *p, const char *stem, const plot_heatmap_spec *s, cj_err *e);
/* The width in pixels the heatmap needs for its labels; it is drawn at most
 * PLOT_MAX_WIDTH wide (what a 1280 px window shows unscaled), so a caller
 * whose labels need more passes shorter ones. */
int plot_heatmap_width(const plot_heatmap_spec *s);
#define PLOT_MAX_WIDTH 1200

#endif
