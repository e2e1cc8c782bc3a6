/*
 * plot_svg.c — line charts, the confusion heat map and a generic heat map
 * (a partition's clients × labels) as hand-written SVG.
 *
 * SVG is text, so a figure is composed in memory with fprintf (an
 * open_memstream buffer) and written in one atomic step. No ids or
 * <defs> are used, so several figures can be inlined in one HTML page
 * without clashing. Text widths are estimated (0.6 em per character, right
 * for DejaVu Sans/Helvetica digits and close enough for letters): the
 * layout only needs them to keep labels clear of each other.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "digitnet_plot.h"

#define FONT_FAMILY "DejaVu Sans, Helvetica, Arial, sans-serif"
#define MAX_TICKS 40
#define MARKER_AUTO_LIMIT 60

/* ------------------------------------------------------------ the document */

typedef struct svg_doc {
    FILE *fp;
    char *data;
    size_t size;
} svg_doc;

static dn_status doc_open(svg_doc *d, const char *path, dn_error *err)
{
    d->data = NULL;
    d->size = 0;
    d->fp = open_memstream(&d->data, &d->size);
    return d->fp ? DN_OK : dn_fail(err, DN_ERR_NOMEM, "%s: out of memory composing the figure", path);
}

/* Closes the memory stream and writes it atomically; a stream error means
 * the buffer could not grow, so part of the figure is missing. */
static dn_status doc_commit(svg_doc *d, const char *path, dn_error *err)
{
    int failed = ferror(d->fp);
    dn_status s;
    if (fclose(d->fp) != 0 || failed)
        s = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory composing the figure", path);
    else
        s = dn_write_file_atomic(path, d->data, d->size, err);
    free(d->data);
    return s;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s)
{
    size_t len = s[0] < 0x80               ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (len == 2 && s[0] < 0xC2) return 0; /* overlong */
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Writes text escaped for XML. Bytes XML 1.0 forbids (controls) and
 * invalid UTF-8 become U+FFFD, so any caller text keeps the file
 * well-formed. */
static void put_text(FILE *fp, const char *text)
{
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        size_t len = utf8_sequence(s);
        if (len == 0 || (*s < 0x20 && *s != '\t')) {
            fputs("\xEF\xBF\xBD", fp);
            s++;
            continue;
        }
        switch (*s) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fwrite(s, 1, len, fp);
        }
        s += len;
    }
}

/* Estimated width in pixels of text at font size px. */
static double text_width(const char *text, double px)
{
    size_t chars = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) chars += (*s & 0xC0) != 0x80;
    return 0.6 * px * (double)chars;
}

static void svg_open(FILE *fp, int width, int height)
{
    fprintf(fp,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"%s\" font-size=\"12\">\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            width, height, width, height, FONT_FAMILY, width, height);
}

/* <text> at (x, y); anchor "start", "middle" or "end"; extra attributes as given. */
static void svg_text(FILE *fp, double x, double y, const char *anchor, const char *attrs, const char *text)
{
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor, attrs[0] ? " " : "", attrs);
    put_text(fp, text);
    fputs("</text>\n", fp);
}

/* ------------------------------------------------------------------ axes */

typedef struct axis {
    int log;
    double lo, hi; /* the range drawn: data values, or powers of ten on a log axis */
    double ticks[MAX_TICKS];
    int nticks;
    double step; /* linear tick spacing; on a log axis unused */
} axis;

/* 1, 2 or 5 × 10^k near span/target; at least 1 when only whole numbers should get ticks. */
static double nice_step(double span, int target, int whole)
{
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    return whole && step < 1 ? 1 : step;
}

/* A linear axis over [lo, hi], widened outward to whole ticks. */
static void axis_linear(axis *a, double lo, double hi, int target, int whole)
{
    if (!(hi > lo)) {
        double pad = lo == 0 ? 1 : fabs(lo) * 0.1;
        if (lo != 0 || hi != 0) lo -= pad; /* one value: a band around it; zero only: [0, 1] */
        hi += pad;
    }
    double step = nice_step(hi - lo, target, whole);
    while ((ceil(hi / step) - floor(lo / step)) >= MAX_TICKS) step *= 2; /* cannot happen for sane targets */
    a->log = 0;
    a->step = step;
    a->lo = floor(lo / step) * step;
    a->hi = ceil(hi / step) * step;
    a->nticks = 0;
    for (double k = 0; a->nticks < MAX_TICKS; k++) {
        double v = a->lo + k * step;
        if (v > a->hi + step * 1e-9) break;
        a->ticks[a->nticks++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    }
}

/* A log axis from the power of ten below lo to the one above hi (lo > 0):
 * ticks at powers of ten, and at 2 and 5 × 10^k when it spans ≤ 2 decades. */
static void axis_log(axis *a, double lo, double hi)
{
    double e0 = floor(log10(lo)), e1 = ceil(log10(hi));
    if (e1 <= e0) e1 = e0 + 1;
    a->log = 1;
    a->lo = e0;
    a->hi = e1;
    a->step = 0;
    a->nticks = 0;
    int every = (int)ceil((e1 - e0) / 10.0); /* at most ~10 labelled decades */
    for (double e = e0; e <= e1 && a->nticks < MAX_TICKS; e += every) {
        a->ticks[a->nticks++] = pow(10, e);
        if (e1 - e0 <= 2 && e < e1)
            for (int m = 2; m <= 5 && a->nticks < MAX_TICKS; m += 3) a->ticks[a->nticks++] = m * pow(10, e);
    }
}

/* Position of v along the axis as a fraction 0..1. */
static double axis_frac(const axis *a, double v)
{
    if (a->log) return (log10(v) - a->lo) / (a->hi - a->lo);
    return (v - a->lo) / (a->hi - a->lo);
}

/* A tick label: whole numbers plainly, decimals as the step needs, and
 * "me±e" from a million up or at steps below 10⁻⁴, so labels stay short. */
static void format_tick(char *buf, size_t size, const axis *a, double v)
{
    if (v == 0) {
        snprintf(buf, size, "0");
        return;
    }
    if (fabs(v) >= 1e6 || (a->log ? v : a->step) < 1e-4) {
        int e = (int)floor(log10(fabs(v)));
        snprintf(buf, size, "%ge%d", v / pow(10, e), e);
        return;
    }
    int decimals = 0;
    double unit = a->log ? v : a->step;
    if (unit > 0 && unit < 1) decimals = (int)ceil(-log10(unit) - 1e-9);
    if (a->log && v >= 1) decimals = 0;
    snprintf(buf, size, "%.*f", decimals > 9 ? 9 : decimals, v);
}

static double widest_tick(const axis *a, double px)
{
    double widest = 0;
    char label[48];
    for (int i = 0; i < a->nticks; i++) {
        format_tick(label, sizeof label, a, a->ticks[i]);
        widest = fmax(widest, text_width(label, px));
    }
    return widest;
}

/* ------------------------------------------------------------ line charts */

/* Tableau 10: distinct hues that stay apart for the common kinds of colour blindness. */
static const char *const palette[10] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

typedef struct chart {
    const dn_plot_series *series;
    size_t nseries;
    const dn_plot_options *opt;
    const char *title, *x_label, *y_label;
    axis x, y;
    double left, right, top, bottom; /* the plot area in pixels */
    int legend_inside;               /* else to the right of the plot area */
    double legend_x, legend_y, legend_w, legend_h;
} chart;

static double series_x(const dn_plot_series *s, size_t i) { return s->x ? s->x[i] : (double)i; }

/* Whether point i of s is drawn: finite, and positive on a log axis. */
static int drawn(const chart *c, const dn_plot_series *s, size_t i)
{
    double x = series_x(s, i), y = s->y[i];
    /* beyond ±1e300 a span between two values would overflow: treated as non-finite */
    return fabs(x) <= 1e300 && fabs(y) <= 1e300 && (!c->opt->log_y || y > 0);
}

static void data_range(const chart *c, double *x0, double *x1, double *y0, double *y1, int *whole_x)
{
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    *whole_x = 1;
    for (size_t k = 0; k < c->nseries; k++)
        for (size_t i = 0; i < c->series[k].n; i++) {
            if (!drawn(c, &c->series[k], i)) continue;
            double x = series_x(&c->series[k], i), y = c->series[k].y[i];
            *x0 = fmin(*x0, x), *x1 = fmax(*x1, x);
            *y0 = fmin(*y0, y), *y1 = fmax(*y1, y);
            if (x != floor(x)) *whole_x = 0;
        }
    if (*x0 > *x1) *x0 = 0, *x1 = 1; /* nothing to draw: an empty frame */
    if (*y0 > *y1) *y0 = c->opt->log_y ? 1 : 0, *y1 = c->opt->log_y ? 10 : 1;
}

static void chart_axes(chart *c)
{
    double x0, x1, y0, y1;
    int whole_x;
    data_range(c, &x0, &x1, &y0, &y1, &whole_x);
    axis_linear(&c->x, x0, x1, c->opt->width >= 600 ? 8 : 5, whole_x);
    if (c->opt->log_y) {
        axis_log(&c->y, y0, y1);
        return;
    }
    if (c->opt->y_from_zero) y0 = fmin(y0, 0), y1 = fmax(y1, 0);
    axis_linear(&c->y, y0, y1, c->opt->height >= 350 ? 6 : 4, 0);
}

static const char *series_label(const dn_plot_series *s, size_t k, char *buf, size_t size)
{
    if (s->label && s->label[0]) return s->label;
    snprintf(buf, size, "series %zu", k + 1);
    return buf;
}

/* Margins from the text they must hold. */
static void chart_frame(chart *c)
{
    c->top = c->title ? 40 : 14;
    c->bottom = c->opt->height - (c->x_label ? 46 : 28);
    c->left = widest_tick(&c->y, 11) + 12 + (c->y_label ? 24 : 4);
    c->right = c->opt->width - fmax(16, widest_tick(&c->x, 11) / 2 + 6); /* the last x label is centred on the end */
}

static double px_x(const chart *c, double v) { return c->left + axis_frac(&c->x, v) * (c->right - c->left); }
static double px_y(const chart *c, double v) { return c->bottom - axis_frac(&c->y, v) * (c->bottom - c->top); }

/* How many points of the drawn lines (sampled along each segment) fall in the box. */
static size_t hits_in_box(const chart *c, double bx, double by, double bw, double bh)
{
    size_t hits = 0;
    for (size_t k = 0; k < c->nseries; k++) {
        const dn_plot_series *s = &c->series[k];
        double px = NAN, py = NAN;
        for (size_t i = 0; i < s->n; i++) {
            if (!drawn(c, s, i)) continue;
            double qx = px_x(c, series_x(s, i)), qy = px_y(c, s->y[i]);
            int steps = isnan(px) ? 1 : 24;
            for (int t = 1; t <= steps; t++) {
                double f = (double)t / steps;
                double sx = isnan(px) ? qx : px + f * (qx - px), sy = isnan(py) ? qy : py + f * (qy - py);
                hits += sx >= bx - 4 && sx <= bx + bw + 4 && sy >= by - 4 && sy <= by + bh + 4;
            }
            px = qx, py = qy;
        }
    }
    return hits;
}

/* The legend goes in the first empty corner of the plot (top right, top
 * left, bottom right, bottom left); when every corner has data in it the
 * plot area narrows and the legend stands to its right. */
static void place_legend(chart *c)
{
    char buf[32];
    double widest = 0;
    for (size_t k = 0; k < c->nseries; k++)
        widest = fmax(widest, text_width(series_label(&c->series[k], k, buf, sizeof buf), 12));
    c->legend_w = 46 + widest;
    c->legend_h = 8 + 18.0 * (double)c->nseries;
    double inset = 10;
    const double corners[4][2] = {{c->right - inset - c->legend_w, c->top + inset},
                                  {c->left + inset, c->top + inset},
                                  {c->right - inset - c->legend_w, c->bottom - inset - c->legend_h},
                                  {c->left + inset, c->bottom - inset - c->legend_h}};
    int fits = c->legend_w < (c->right - c->left) * 0.6 && c->legend_h < (c->bottom - c->top) * 0.7;
    for (int i = 0; fits && i < 4; i++)
        if (hits_in_box(c, corners[i][0], corners[i][1], c->legend_w, c->legend_h) == 0) {
            c->legend_inside = 1;
            c->legend_x = corners[i][0];
            c->legend_y = corners[i][1];
            return;
        }
    c->legend_inside = 0;
    c->right = c->opt->width - 16 - c->legend_w;
    c->legend_x = c->right + 12;
    c->legend_y = c->top;
}

static void draw_grid_and_ticks(FILE *fp, const chart *c)
{
    char label[48];
    fputs("<g class=\"axes\" font-size=\"11\" fill=\"#444444\">\n", fp);
    for (int i = 0; i < c->y.nticks; i++) {
        double y = px_y(c, c->y.ticks[i]);
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", c->left, y,
                c->right, y);
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", c->left - 5, y,
                c->left, y);
        format_tick(label, sizeof label, &c->y, c->y.ticks[i]);
        svg_text(fp, c->left - 8, y + 4, "end", "", label);
    }
    for (int i = 0; i < c->x.nticks; i++) {
        double x = px_x(c, c->x.ticks[i]);
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#f0f0f0\"/>\n", x, c->top, x,
                c->bottom);
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", x, c->bottom, x,
                c->bottom + 5);
        format_tick(label, sizeof label, &c->x, c->x.ticks[i]);
        svg_text(fp, x, c->bottom + 18, "middle", "", label);
    }
    fprintf(fp, "<path d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#333333\"/>\n</g>\n", c->left, c->top,
            c->bottom, c->right);
}

static void draw_labels(FILE *fp, const chart *c)
{
    if (c->title) svg_text(fp, c->opt->width / 2.0, 24, "middle", "font-size=\"15\" font-weight=\"bold\"", c->title);
    if (c->x_label)
        svg_text(fp, (c->left + c->right) / 2, c->opt->height - 12, "middle", "font-size=\"12\"", c->x_label);
    if (c->y_label) {
        double cx = 16, cy = (c->top + c->bottom) / 2;
        char attrs[96];
        snprintf(attrs, sizeof attrs, "font-size=\"12\" transform=\"rotate(-90 %.1f %.1f)\"", cx, cy);
        svg_text(fp, cx, cy, "middle", attrs, c->y_label);
    }
}

static void draw_series(FILE *fp, const chart *c, size_t k)
{
    const dn_plot_series *s = &c->series[k];
    const char *colour = palette[k % 10];
    char buf[32];
    fputs("<g class=\"series\" data-label=\"", fp);
    put_text(fp, series_label(s, k, buf, sizeof buf));
    fprintf(fp, "\">\n<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\"%s points=\"",
            colour, (k / 10) % 2 ? " stroke-dasharray=\"6 3\"" : "");
    size_t shown = 0;
    for (size_t i = 0; i < s->n; i++)
        if (drawn(c, s, i)) fprintf(fp, "%s%.2f,%.2f", shown++ ? " " : "", px_x(c, series_x(s, i)), px_y(c, s->y[i]));
    fputs("\"/>\n", fp);
    int markers = c->opt->markers < 0 ? shown <= MARKER_AUTO_LIMIT : c->opt->markers;
    for (size_t i = 0; markers && i < s->n; i++)
        if (drawn(c, s, i))
            fprintf(fp, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.6\" fill=\"%s\"/>\n", px_x(c, series_x(s, i)),
                    px_y(c, s->y[i]), colour);
    fputs("</g>\n", fp);
}

static void draw_legend(FILE *fp, const chart *c)
{
    char buf[32];
    fprintf(fp,
            "<g class=\"legend\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" "
            "fill-opacity=\"0.9\" stroke=\"#cccccc\"/>\n",
            c->legend_x, c->legend_y, c->legend_w, c->legend_h);
    for (size_t k = 0; k < c->nseries; k++) {
        double y = c->legend_y + 4 + 18.0 * (double)k + 9;
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"%s/>\n",
                c->legend_x + 8, y, c->legend_x + 30, y, palette[k % 10],
                (k / 10) % 2 ? " stroke-dasharray=\"6 3\"" : "");
        svg_text(fp, c->legend_x + 36, y + 4, "start", "", series_label(&c->series[k], k, buf, sizeof buf));
    }
    fputs("</g>\n", fp);
}

void dn_plot_options_default(dn_plot_options *opt)
{
    *opt = (dn_plot_options){720, 440, 0, 1, -1};
}

static dn_status check_lines_args(const char *path, const dn_plot_series *series, size_t nseries,
                                  const dn_plot_options *opt, dn_error *err)
{
    if (!path) return dn_fail(err, DN_ERR_USAGE, "plot: no output path given");
    if (nseries == 0 || !series) return dn_fail(err, DN_ERR_USAGE, "%s: a line chart needs at least one series", path);
    for (size_t k = 0; k < nseries; k++)
        if (series[k].n > 0 && !series[k].y)
            return dn_fail(err, DN_ERR_USAGE, "%s: series %zu has %zu points but no y values", path, k + 1,
                           series[k].n);
    if (opt->width < 200 || opt->height < 150 || opt->width > 10000 || opt->height > 10000)
        return dn_fail(err, DN_ERR_USAGE, "%s: figure size %d × %d is out of range (200 × 150 to 10000 × 10000)",
                       path, opt->width, opt->height);
    return DN_OK;
}

dn_status dn_plot_lines(const char *path, const char *title, const char *x_label, const char *y_label,
                        const dn_plot_series *series, size_t nseries, const dn_plot_options *opt, dn_error *err)
{
    dn_plot_options defaults;
    if (!opt) dn_plot_options_default(&defaults), opt = &defaults;
    dn_status s = check_lines_args(path, series, nseries, opt, err);
    if (s) return s;
    chart c = {.series = series, .nseries = nseries, .opt = opt};
    c.title = title, c.x_label = x_label, c.y_label = y_label;
    chart_axes(&c);
    chart_frame(&c);
    if (nseries > 1) place_legend(&c);
    svg_doc d;
    if ((s = doc_open(&d, path, err))) return s;
    svg_open(d.fp, opt->width, opt->height);
    draw_grid_and_ticks(d.fp, &c);
    draw_labels(d.fp, &c);
    for (size_t k = 0; k < nseries; k++) draw_series(d.fp, &c, k);
    if (nseries > 1) draw_legend(d.fp, &c);
    fputs("</svg>\n", d.fp);
    return doc_commit(&d, path, err);
}

/* -------------------------------------------------------- confusion matrix */

#define CM_CELL 46.0
#define CM_LEFT 74.0
#define CM_TOP 100.0

/* White to colour by t in [0, 1]. */
static void ramp(char out[8], double t, int r, int g, int b)
{
    t = fmin(fmax(t, 0), 1);
    snprintf(out, 8, "#%02x%02x%02x", (int)lround(255 + t * (r - 255)), (int)lround(255 + t * (g - 255)),
             (int)lround(255 + t * (b - 255)));
}

static void cm_totals(const size_t *cm, size_t rows[DN_CLASSES], size_t *total, size_t *correct, size_t *max_off)
{
    *total = *correct = *max_off = 0;
    for (int t = 0; t < DN_CLASSES; t++) {
        rows[t] = 0;
        for (int p = 0; p < DN_CLASSES; p++) {
            size_t n = cm[t * DN_CLASSES + p];
            rows[t] += n;
            if (p == t) *correct += n;
            else if (n > *max_off) *max_off = n;
        }
        *total += rows[t];
    }
}

static void cm_cell(FILE *fp, int t, int p, size_t n, size_t row, size_t max_off)
{
    char fill[8], label[32];
    double level;
    if (t == p) {
        level = row ? (double)n / (double)row : 0;
        ramp(fill, level, 0x21, 0x66, 0xac);
    } else {
        level = max_off ? sqrt((double)n / (double)max_off) : 0; /* sqrt: small counts still show */
        ramp(fill, level, 0xb2, 0x18, 0x2b);
    }
    double x = CM_LEFT + p * CM_CELL, y = CM_TOP + t * CM_CELL;
    fprintf(fp,
            "<rect class=\"cell\" data-true=\"%d\" data-predicted=\"%d\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\"/>\n",
            t, p, x, y, CM_CELL, CM_CELL, fill);
    snprintf(label, sizeof label, "%zu", n);
    const char *ink = level > 0.55 ? "fill=\"#ffffff\"" : n == 0 ? "fill=\"#c0c0c0\"" : "fill=\"#222222\"";
    char attrs[64];
    snprintf(attrs, sizeof attrs, "%s font-size=\"%d\"", ink, strlen(label) > 5 ? 9 : 12);
    svg_text(fp, x + CM_CELL / 2, y + CM_CELL / 2 + 4, "middle", attrs, label);
}

static void cm_axes(FILE *fp, const size_t rows[DN_CLASSES], const size_t *cm)
{
    char label[32];
    double right = CM_LEFT + DN_CLASSES * CM_CELL;
    svg_text(fp, CM_LEFT + DN_CLASSES * CM_CELL / 2, CM_TOP - 32, "middle", "font-weight=\"bold\"", "predicted digit");
    svg_text(fp, right + 36, CM_TOP - 10, "middle", "font-weight=\"bold\"", "error");
    char attrs[96];
    double cy = CM_TOP + DN_CLASSES * CM_CELL / 2;
    snprintf(attrs, sizeof attrs, "font-weight=\"bold\" transform=\"rotate(-90 %.1f %.1f)\"", 32.0, cy);
    svg_text(fp, 32, cy, "middle", attrs, "true digit");
    for (int d = 0; d < DN_CLASSES; d++) {
        snprintf(label, sizeof label, "%d", d);
        svg_text(fp, CM_LEFT + (d + 0.5) * CM_CELL, CM_TOP - 10, "middle", "", label);
        svg_text(fp, CM_LEFT - 12, CM_TOP + (d + 0.5) * CM_CELL + 4, "end", "", label);
        double wrong = rows[d] ? 100.0 * (double)(rows[d] - cm[d * DN_CLASSES + d]) / (double)rows[d] : 0;
        snprintf(label, sizeof label, "%.1f%%", wrong);
        svg_text(fp, right + 36, CM_TOP + (d + 0.5) * CM_CELL + 4, "middle", "fill=\"#444444\"", label);
    }
}

/* A heat map's document: opened, its title (may be NULL) and a summary line
 * centred above the grid. */
static dn_status grid_doc_open(svg_doc *d, const char *path, int width, int height, const char *title,
                               const char *summary, dn_error *err)
{
    dn_status s = doc_open(d, path, err);
    if (s) return s;
    svg_open(d->fp, width, height);
    if (title) svg_text(d->fp, width / 2.0, 24, "middle", "font-size=\"15\" font-weight=\"bold\"", title);
    svg_text(d->fp, width / 2.0, 44, "middle", "fill=\"#444444\"", summary);
    return DN_OK;
}

dn_status dn_plot_confusion(const char *path, const char *title, const size_t *confusion, dn_error *err)
{
    if (!path || !confusion) return dn_fail(err, DN_ERR_USAGE, "plot: confusion matrix or output path missing");
    size_t rows[DN_CLASSES], total, correct, max_off;
    cm_totals(confusion, rows, &total, &correct, &max_off);
    const int width = (int)(CM_LEFT + DN_CLASSES * CM_CELL + 84), height = (int)(CM_TOP + DN_CLASSES * CM_CELL + 52);
    char line[160];
    snprintf(line, sizeof line, "%zu samples, %zu correct (%.2f%%), %zu errors", total, correct,
             total ? 100.0 * (double)correct / (double)total : 0.0, total - correct);
    svg_doc d;
    dn_status s = grid_doc_open(&d, path, width, height, title, line, err);
    if (s) return s;
    for (int t = 0; t < DN_CLASSES; t++)
        for (int p = 0; p < DN_CLASSES; p++) cm_cell(d.fp, t, p, confusion[t * DN_CLASSES + p], rows[t], max_off);
    cm_axes(d.fp, rows, confusion);
    svg_text(d.fp, CM_LEFT, height - 26, "start", "font-size=\"11\" fill=\"#444444\"",
             "Blue diagonal: share of the row classified correctly.");
    svg_text(d.fp, CM_LEFT, height - 11, "start", "font-size=\"11\" fill=\"#444444\"",
             "Red: errors, darker = more (relative to the largest error count).");
    fputs("</svg>\n", d.fp);
    return doc_commit(&d, path, err);
}

/* ------------------------------------------------------------- heat map */

#define HM_LEFT 78.0
#define HM_TOP 92.0
#define HM_MAX_ROWS 10000
#define HM_MAX_COLS 100

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The smallest step of 1, 2, 5 × 10^k whose labels, one every step cells of
 * size cell pixels, stay at least room pixels apart. */
static size_t label_step(double cell, double room)
{
    for (size_t scale = 1;; scale *= 10) {
        static const size_t m[] = {1, 2, 5};
        for (int i = 0; i < 3; i++)
            if ((double)(m[i] * scale) * cell >= room || m[i] * scale >= HM_MAX_ROWS) return m[i] * scale;
    }
}

static void hm_cell(FILE *fp, size_t r, size_t c, double x, double y, double cw, double ch, size_t v, double level)
{
    char fill[8];
    ramp(fill, level, 0x21, 0x66, 0xac);
    fprintf(fp,
            "<rect class=\"cell\" data-row=\"%zu\" data-col=\"%zu\" data-value=\"%zu\" x=\"%.1f\" y=\"%.1f\" "
            "width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s/>\n",
            r, c, v, x, y, cw, ch, fill, ch >= 6 ? " stroke=\"#ffffff\"" : "");
    char label[32], attrs[64];
    snprintf(label, sizeof label, "%zu", v);
    if (ch < 14 || cw < 7.0 * (double)strlen(label) + 4) return;
    snprintf(attrs, sizeof attrs, "%s font-size=\"%d\"",
             level > 0.55 ? "fill=\"#ffffff\"" : v == 0 ? "fill=\"#c0c0c0\"" : "fill=\"#222222\"", ch >= 18 ? 11 : 9);
    svg_text(fp, x + cw / 2, y + ch / 2 + 4, "middle", attrs, label);
}

dn_status dn_plot_heatmap(const char *path, const char *title, const char *row_label, const char *col_label,
                          const size_t *values, size_t rows, size_t cols, int by_row, dn_error *err)
{
    if (!path || !values) return dn_fail(err, DN_ERR_USAGE, "plot: heat map values or output path missing");
    if (rows < 1 || rows > HM_MAX_ROWS || cols < 1 || cols > HM_MAX_COLS)
        return dn_fail(err, DN_ERR_USAGE, "%s: a heat map of %zu × %zu cells (valid: 1 to %d rows, 1 to %d columns)",
                       path, rows, cols, HM_MAX_ROWS, HM_MAX_COLS);
    double cw = clampd(560.0 / (double)cols, 8, 46), ch = clampd(640.0 / (double)rows, 2, 24);
    double grid_w = cw * (double)cols, grid_h = ch * (double)rows;
    int width = (int)ceil(HM_LEFT + fmax(grid_w, 420) + 30), height = (int)ceil(HM_TOP + grid_h + 44);
    size_t total = 0, largest = 0;
    for (size_t i = 0; i < rows * cols; i++) {
        total += values[i];
        if (values[i] > largest) largest = values[i];
    }
    char line[200];
    snprintf(line, sizeof line, "%zu × %zu cells, total %zu; shade: %s", rows, cols, total,
             by_row ? "share of the row's total" : "count relative to the largest cell");
    svg_doc d;
    dn_status s = grid_doc_open(&d, path, width, height, title, line, err);
    if (s) return s;
    for (size_t r = 0; r < rows; r++) {
        size_t row_total = 0;
        for (size_t c = 0; c < cols; c++) row_total += values[r * cols + c];
        size_t scale = by_row ? row_total : largest;
        for (size_t c = 0; c < cols; c++) {
            size_t v = values[r * cols + c];
            double level = scale ? (double)v / (double)scale : 0;
            hm_cell(d.fp, r, c, HM_LEFT + (double)c * cw, HM_TOP + (double)r * ch, cw, ch, v, level);
        }
    }
    char label[32];
    size_t col_step = label_step(cw, 26), row_step = label_step(ch, 13);
    for (size_t c = 0; c < cols; c += col_step) {
        snprintf(label, sizeof label, "%zu", c);
        svg_text(d.fp, HM_LEFT + ((double)c + 0.5) * cw, HM_TOP - 8, "middle", "", label);
    }
    for (size_t r = 0; r < rows; r += row_step) {
        snprintf(label, sizeof label, "%zu", r);
        svg_text(d.fp, HM_LEFT - 8, HM_TOP + ((double)r + 0.5) * ch + 4, "end", "", label);
    }
    if (col_label) svg_text(d.fp, HM_LEFT + grid_w / 2, HM_TOP - 28, "middle", "font-weight=\"bold\"", col_label);
    if (row_label) {
        char attrs[96];
        double cy = HM_TOP + grid_h / 2;
        snprintf(attrs, sizeof attrs, "font-weight=\"bold\" transform=\"rotate(-90 %.1f %.1f)\"", 24.0, cy);
        svg_text(d.fp, 24, cy, "middle", attrs, row_label);
    }
    svg_text(d.fp, HM_LEFT, height - 14, "start", "font-size=\"11\" fill=\"#444444\"",
             by_row ? "White: none of the row; dark blue: all of it." : "White: 0; dark blue: the largest cell.");
    fputs("</svg>\n", d.fp);
    return doc_commit(&d, path, err);
}

/* ------------------------------------------------------------ score map */

#define SM_MAX 10000
#define SM_LEGEND 58.0 /* room under the grid for the legend */

typedef struct score_map {
    double lo, hi, threshold;
    double cw, ch;
} score_map;

/* One cell: NaN light grey, else white at lo to dark red at hi (saturated
 * outside; +Inf is hi), outlined in black above the threshold. */
static void sm_cell(FILE *fp, const score_map *m, size_t r, size_t c, double v)
{
    char fill[8] = "#d9d9d9", value[32] = "nan";
    int over = !isnan(m->threshold) && v > m->threshold; /* false for NaN */
    if (!isnan(v)) {
        ramp(fill, (v - m->lo) / (m->hi - m->lo), 0x99, 0x00, 0x0d);
        snprintf(value, sizeof value, "%g", v);
    }
    const char *stroke = over                       ? " stroke=\"#000000\" stroke-width=\"1\""
                         : m->ch >= 6 && m->cw >= 6 ? " stroke=\"#ffffff\"" /* gaps only where cells are big */
                                                    : "";
    fprintf(fp,
            "<rect class=\"cell%s\" data-row=\"%zu\" data-col=\"%zu\" data-value=\"%s\" x=\"%.2f\" y=\"%.2f\" "
            "width=\"%.2f\" height=\"%.2f\" fill=\"%s\"%s/>\n",
            over ? " over" : "", r, c, value, HM_LEFT + (double)c * m->cw, HM_TOP + (double)r * m->ch, m->cw, m->ch,
            fill, stroke);
}

/* Row and column numbers, as dn_plot_heatmap writes them, and the axis names. */
static void sm_axes(FILE *fp, const score_map *m, size_t rows, size_t cols, const char *row_label,
                    const char *col_label)
{
    char label[32];
    double grid_w = m->cw * (double)cols, grid_h = m->ch * (double)rows;
    size_t col_step = label_step(m->cw, 26), row_step = label_step(m->ch, 13);
    for (size_t c = 0; c < cols; c += col_step) {
        snprintf(label, sizeof label, "%zu", c);
        svg_text(fp, HM_LEFT + ((double)c + 0.5) * m->cw, HM_TOP - 8, "middle", "", label);
    }
    for (size_t r = 0; r < rows; r += row_step) {
        snprintf(label, sizeof label, "%zu", r);
        svg_text(fp, HM_LEFT - 10, HM_TOP + ((double)r + 0.5) * m->ch + 4, "end", "", label);
    }
    if (col_label) svg_text(fp, HM_LEFT + grid_w / 2, HM_TOP - 28, "middle", "font-weight=\"bold\"", col_label);
    if (row_label) {
        char attrs[96];
        double cy = HM_TOP + grid_h / 2;
        snprintf(attrs, sizeof attrs, "font-weight=\"bold\" transform=\"rotate(-90 %.1f %.1f)\"", 24.0, cy);
        svg_text(fp, 24, cy, "middle", attrs, row_label);
    }
}

/* A swatch and its words in the legend row at y; returns the next x. */
static double sm_swatch(FILE *fp, double x, double y, const char *attrs, const char *words)
{
    fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" %s/>\n", x, y - 10, attrs);
    svg_text(fp, x + 16, y, "start", "font-size=\"11\" fill=\"#444444\"", words);
    return x + 16 + text_width(words, 11) + 18;
}

static void sm_legend(FILE *fp, const score_map *m, double y, int marks, const char *marked_label)
{
    char words[96], lo_fill[8], hi_fill[8];
    ramp(lo_fill, 0, 0x99, 0x00, 0x0d), ramp(hi_fill, 1, 0x99, 0x00, 0x0d);
    char attrs[64];
    snprintf(attrs, sizeof attrs, "fill=\"%s\" stroke=\"#999999\"", lo_fill);
    snprintf(words, sizeof words, "%g or less", m->lo);
    double x = sm_swatch(fp, HM_LEFT, y, attrs, words);
    snprintf(attrs, sizeof attrs, "fill=\"%s\"", hi_fill);
    snprintf(words, sizeof words, "%g or more", m->hi);
    x = sm_swatch(fp, x, y, attrs, words);
    x = sm_swatch(fp, x, y, "fill=\"#d9d9d9\"", "no value");
    if (!isnan(m->threshold)) {
        snprintf(words, sizeof words, "above %g", m->threshold);
        sm_swatch(fp, x, y, "fill=\"#ffffff\" stroke=\"#000000\"", words);
    }
    if (marks && marked_label) sm_swatch(fp, HM_LEFT, y + 20, "fill=\"#d62728\"", marked_label);
}

dn_status dn_plot_score_map(const char *path, const char *title, const char *row_label, const char *col_label,
                            const double *values, size_t rows, size_t cols, double lo, double hi, double threshold,
                            const unsigned char *marked, const char *marked_label, dn_error *err)
{
    if (!path || !values) return dn_fail(err, DN_ERR_USAGE, "plot: score map values or output path missing");
    if (rows < 1 || rows > SM_MAX || cols < 1 || cols > SM_MAX)
        return dn_fail(err, DN_ERR_USAGE, "%s: a score map of %zu × %zu cells (valid: 1 to %d rows, 1 to %d columns)",
                       path, rows, cols, SM_MAX, SM_MAX);
    if (!(isfinite(lo) && isfinite(hi) && lo < hi))
        return dn_fail(err, DN_ERR_USAGE, "%s: the shading range [%g, %g] must be finite with lo < hi", path, lo, hi);
    /* Cells shrink as the matrix grows, down to a pixel (half a pixel across
     * the widest maps), so that the figure stays a few thousand pixels. */
    score_map m = {lo, hi, threshold, clampd(560.0 / (double)cols, 0.5, 46), clampd(640.0 / (double)rows, 1, 24)};
    double grid_w = m.cw * (double)cols, grid_h = m.ch * (double)rows;
    int width = (int)ceil(HM_LEFT + fmax(grid_w, 420) + 30), height = (int)ceil(HM_TOP + grid_h + SM_LEGEND);
    size_t scored = 0, over = 0, marks = 0;
    for (size_t i = 0; i < rows * cols; i++) {
        scored += !isnan(values[i]);
        over += !isnan(threshold) && values[i] > threshold;
    }
    for (size_t r = 0; marked && r < rows; r++) marks += marked[r] != 0;
    char line[200];
    snprintf(line, sizeof line, "%zu × %zu cells, %zu with a value, %zu above the threshold; %zu rows marked", rows,
             cols, scored, over, marks);
    svg_doc d;
    dn_status s = grid_doc_open(&d, path, width, height, title, line, err);
    if (s) return s;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) sm_cell(d.fp, &m, r, c, values[r * cols + c]);
    for (size_t r = 0; marked && r < rows; r++)
        if (marked[r])
            fprintf(d.fp, "<rect class=\"mark\" data-row=\"%zu\" x=\"%.1f\" y=\"%.2f\" width=\"4\" height=\"%.2f\" "
                          "fill=\"#d62728\"/>\n",
                    r, HM_LEFT - 6, HM_TOP + (double)r * m.ch, m.ch);
    sm_axes(d.fp, &m, rows, cols, row_label, col_label);
    sm_legend(d.fp, &m, HM_TOP + grid_h + 22, marks > 0, marked_label);
    fputs("</svg>\n", d.fp);
    return doc_commit(&d, path, err);
}
