/* cmd_plot.c — `digitnet plot METRICS.csv`: any metrics file as a line chart.
 *
 * The CSV is read strictly, as the files digitnet writes are: a header row
 * of column names, then rows with exactly as many comma-separated fields;
 * no quoting. Every error names the file and the line. The columns drawn
 * must hold finite numbers; other columns may hold anything. With --group
 * a text column (a federated run's aggregation rule, say) splits the rows
 * into one line per distinct value.
 *
 * Several CSV files overlay runs: each file gives one line of the single
 * --y column, against its own x column, so runs of different lengths (and
 * with different other columns) compare by eye. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CSV_MAX_BYTES (256u << 20)
#define MAX_SERIES 64

typedef struct csv {
    const char *path;
    char *text;      /* the whole file, cut into fields in place */
    char **fields;   /* (nrows + 1, ncols): row 0 is the header */
    size_t *line_no; /* line_no[r]: the file line of row r */
    size_t ncols, nrows;
} csv;

static void csv_free(csv *c)
{
    free(c->text);
    free(c->fields);
    free(c->line_no);
}

static dn_status read_all(const char *path, char **text, dn_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return cli_fail(err, DN_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    size_t size = 0, cap = 4096;
    char *buf = malloc(cap);
    dn_status s = buf ? DN_OK : cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    while (!s) {
        if (size + 1 >= cap) {
            char *grown = cap < CSV_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                s = cli_fail(err, cap < CSV_MAX_BYTES ? DN_ERR_NOMEM : DN_ERR_INPUT, "%s: larger than %u MiB", path,
                             CSV_MAX_BYTES >> 20);
                break;
            }
            buf = grown, cap *= 2;
        }
        size_t got = fread(buf + size, 1, cap - size - 1, fp);
        size += got;
        if (got == 0) break;
    }
    if (!s && ferror(fp)) s = cli_fail(err, DN_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    fclose(fp);
    if (s) {
        free(buf);
        return s;
    }
    buf[size] = '\0';
    if (strlen(buf) != size) {
        free(buf);
        return cli_fail(err, DN_ERR_INPUT, "%s: contains a NUL byte; not a text CSV file", path);
    }
    *text = buf;
    return DN_OK;
}

static size_t count_fields(const char *line)
{
    size_t n = 1;
    for (; *line; line++) n += *line == ',';
    return n;
}

/* Cuts line into fields at commas; returns the count (fields[] gets at most max). */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    for (char *p = line;; p++) {
        if (n < max) fields[n] = p;
        n++;
        p = strchr(p, ',');
        if (!p) return n;
        *p = '\0';
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) s[--len] = '\0';
    return s;
}

static dn_status parse_header(csv *c, char *line, dn_error *err)
{
    c->ncols = count_fields(line);
    c->fields = malloc(c->ncols * sizeof *c->fields);
    if (!c->fields) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", c->path);
    split_fields(line, c->fields, c->ncols);
    for (size_t k = 0; k < c->ncols; k++) {
        c->fields[k] = trim(c->fields[k]);
        if (!c->fields[k][0])
            return cli_fail(err, DN_ERR_INPUT, "%s:1: column %zu of the header has no name", c->path, k + 1);
        for (size_t j = 0; j < k; j++)
            if (strcmp(c->fields[j], c->fields[k]) == 0)
                return cli_fail(err, DN_ERR_INPUT, "%s:1: column name '%s' appears twice", c->path, c->fields[k]);
    }
    return DN_OK;
}

static dn_status add_row(csv *c, char *line, size_t line_no, dn_error *err)
{
    if (strchr(line, '"'))
        return cli_fail(err, DN_ERR_INPUT, "%s:%zu: quoted fields are not supported", c->path, line_no);
    size_t n = count_fields(line);
    if (n != c->ncols)
        return cli_fail(err, DN_ERR_INPUT, "%s:%zu: %zu fields, but the header names %zu columns", c->path, line_no, n,
                        c->ncols);
    size_t rows = c->nrows + 2;
    char **fields = realloc(c->fields, rows * c->ncols * sizeof *fields);
    if (fields) c->fields = fields;
    size_t *lines = realloc(c->line_no, rows * sizeof *lines);
    if (lines) c->line_no = lines;
    if (!fields || !lines) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", c->path);
    c->nrows++;
    split_fields(line, c->fields + c->nrows * c->ncols, c->ncols);
    c->line_no[c->nrows] = line_no;
    return DN_OK;
}

/* Reads path into c. Blank lines may only end the file. */
static dn_status csv_read(csv *c, const char *path, dn_error *err)
{
    *c = (csv){path, NULL, NULL, NULL, 0, 0};
    dn_status s = read_all(path, &c->text, err);
    if (s) return s;
    if (!(c->line_no = malloc(sizeof *c->line_no))) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    size_t line_no = 0, blank_at = 0;
    for (char *line = c->text, *next; line && *line && !s; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        line_no++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r') line[--len] = '\0'; /* CRLF files */
        if (len == 0) {
            if (!blank_at) blank_at = line_no;
            continue;
        }
        if (blank_at) return cli_fail(err, DN_ERR_INPUT, "%s:%zu: empty line inside the file", path, blank_at);
        s = line_no == 1 ? parse_header(c, line, err) : add_row(c, line, line_no, err);
    }
    if (s) return s;
    if (line_no == 0 || c->ncols == 0)
        return cli_fail(err, DN_ERR_INPUT, "%s:1: empty file; expected a header row of column names", path);
    if (c->nrows == 0) return cli_fail(err, DN_ERR_INPUT, "%s: no data rows below the header", path);
    return DN_OK;
}

static const char *csv_field(const csv *c, size_t row, size_t col) { return c->fields[(row + 1) * c->ncols + col]; }

static dn_status find_column(const csv *c, const char *name, size_t *col, dn_error *err)
{
    for (size_t k = 0; k < c->ncols; k++)
        if (strcmp(c->fields[k], name) == 0) {
            *col = k;
            return DN_OK;
        }
    char names[512] = "";
    for (size_t k = 0; k < c->ncols; k++) {
        strncat(names, k ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, c->fields[k], sizeof names - strlen(names) - 1);
    }
    return cli_fail(err, DN_ERR_USAGE, "%s: no column '%s' (columns: %s)", c->path, name, names);
}

/* Column col as numbers; every field must be a finite number. */
static dn_status column_values(const csv *c, size_t col, double *out, dn_error *err)
{
    for (size_t r = 0; r < c->nrows; r++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", csv_field(c, r, col));
        char *text = trim(buf), *end;
        errno = 0;
        out[r] = strtod(text, &end);
        if (!text[0] || *end || !isfinite(out[r]) || errno == ERANGE)
            return cli_fail(err, DN_ERR_INPUT, "%s:%zu: column '%s': '%s' is not a finite number", c->path,
                            c->line_no[r + 1], c->fields[col], text);
    }
    return DN_OK;
}

/* ------------------------------------------------------------- the chart */

typedef struct plot_request {
    const char *csv_path, *out, *x, *y, *group, *title, *labels;
    int log_y;
} plot_request;

typedef struct plot_data {
    double *x;                      /* nrows */
    double *y[MAX_SERIES];          /* nrows each */
    dn_plot_series series[MAX_SERIES];
    size_t nseries;
    char *y_list;                   /* copy of the --y list, cut at commas */
} plot_data;

static void plot_data_free(plot_data *d)
{
    free(d->x);
    for (size_t k = 0; k < MAX_SERIES; k++) free(d->y[k]);
    free(d->y_list);
}

/* One series per --y column. */
static dn_status series_by_column(const csv *c, plot_data *d, dn_error *err)
{
    char *names[MAX_SERIES];
    size_t n = split_fields(d->y_list, names, MAX_SERIES);
    if (n > MAX_SERIES) return cli_fail(err, DN_ERR_USAGE, "--y: at most %d columns", MAX_SERIES);
    for (size_t k = 0; k < n; k++) {
        size_t col;
        dn_status s = find_column(c, trim(names[k]), &col, err);
        if (!s && !(d->y[k] = malloc(c->nrows * sizeof(double)))) s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
        if (!s) s = column_values(c, col, d->y[k], err);
        if (s) return s;
        d->series[k] = (dn_plot_series){c->fields[col], d->x, d->y[k], c->nrows};
    }
    d->nseries = n;
    return DN_OK;
}

/* With --group G: one series per distinct value of G, in order of first
 * appearance, drawing the single --y column. */
static dn_status series_by_group(const csv *c, const plot_request *req, plot_data *d, dn_error *err)
{
    size_t gcol, ycol;
    dn_status s = find_column(c, req->group, &gcol, err);
    if (!s) s = find_column(c, trim(d->y_list), &ycol, err);
    double *x = malloc(c->nrows * sizeof(double)), *y = malloc(c->nrows * sizeof(double));
    if (!s && (!x || !y)) s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
    if (!s) s = column_values(c, ycol, y, err);
    for (size_t r = 0; !s && r < c->nrows; r++) {
        const char *key = csv_field(c, r, gcol);
        size_t k = 0;
        while (k < d->nseries && strcmp(d->series[k].label, key) != 0) k++;
        if (k == d->nseries) {
            if (k == MAX_SERIES)
                s = cli_fail(err, DN_ERR_INPUT, "%s: more than %d groups in column '%s'", c->path, MAX_SERIES,
                             req->group);
            else if (!(d->y[k] = malloc(2 * c->nrows * sizeof(double))))
                s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
            else
                d->series[d->nseries++] = (dn_plot_series){key, d->y[k] + c->nrows, d->y[k], 0};
            if (s) break;
        }
        dn_plot_series *ser = &d->series[k];
        d->y[k][ser->n] = y[r];
        d->y[k][c->nrows + ser->n] = d->x[r]; /* the x values live in the second half of the same buffer */
        ser->n++;
    }
    free(x);
    free(y);
    return s;
}

static void default_out(const char *csv_path, char *out, size_t size)
{
    size_t len = strlen(csv_path);
    if (len > 4 && strcmp(csv_path + len - 4, ".csv") == 0) len -= 4;
    snprintf(out, size, "%.*s.svg", (int)len, csv_path);
}

static dn_status draw(const plot_request *req, dn_error *err)
{
    csv c;
    plot_data d;
    memset(&d, 0, sizeof d);
    dn_status s = csv_read(&c, req->csv_path, err);
    size_t xcol = 0;
    if (!s && req->x) s = find_column(&c, req->x, &xcol, err);
    if (!s && !(d.x = malloc(c.nrows * sizeof(double)))) s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
    if (!s) s = column_values(&c, xcol, d.x, err);
    if (!s && !req->y && c.ncols < 2)
        s = cli_fail(err, DN_ERR_INPUT, "%s: only one column; nothing to draw against '%s'", req->csv_path,
                     c.fields[0]);
    if (!s && !(d.y_list = strdup(req->y ? req->y : c.fields[xcol == 1 ? 0 : 1])))
        s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
    if (!s) s = req->group ? series_by_group(&c, req, &d, err) : series_by_column(&c, &d, err);
    char out[4096], title[512];
    if (req->out) snprintf(out, sizeof out, "%s", req->out);
    else default_out(req->csv_path, out, sizeof out);
    const char *base = strrchr(req->csv_path, '/');
    snprintf(title, sizeof title, "%s", req->title ? req->title : base ? base + 1 : req->csv_path);
    dn_plot_options opt;
    dn_plot_options_default(&opt);
    opt.log_y = req->log_y;
    const char *y_label = d.nseries == 1 && !req->group ? d.series[0].label : req->group ? d.y_list : NULL;
    if (!s) s = dn_plot_lines(out, title, c.fields[xcol], y_label, d.series, d.nseries, &opt, err);
    if (!s) printf("wrote %s (%zu series, %zu rows)\n", out, d.nseries, c.nrows);
    plot_data_free(&d);
    csv_free(&c);
    return s;
}

/* ------------------------------------------------ several files, one line each */

typedef struct overlay {
    double *values[MAX_SERIES]; /* file k: its x column, then its y column */
    char *labels[MAX_SERIES];   /* legend texts */
    dn_plot_series series[MAX_SERIES];
    char x_label[256];
} overlay;

static void overlay_free(overlay *o)
{
    for (size_t k = 0; k < MAX_SERIES; k++) {
        free(o->values[k]);
        free(o->labels[k]);
    }
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static size_t without_csv(const char *name)
{
    size_t len = strlen(name);
    return len > 4 && strcmp(name + len - 4, ".csv") == 0 ? len - 4 : len;
}

static int same_stem(const char *a, const char *b)
{
    size_t la = without_csv(a), lb = without_csv(b);
    return la == lb && strncmp(a, b, la) == 0;
}

/* Each file's name without folder and .csv; the paths (less .csv) when two
 * files share a name, as runs/a/metrics.csv and runs/b/metrics.csv do, so
 * the legend still tells them apart. */
static dn_status default_labels(overlay *o, const char *const *paths, size_t n, dn_error *err)
{
    int shared = 0;
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < k; j++) shared |= same_stem(base_name(paths[j]), base_name(paths[k]));
    for (size_t k = 0; k < n; k++) {
        const char *name = shared ? paths[k] : base_name(paths[k]);
        if (!(o->labels[k] = strndup(name, without_csv(name)))) return cli_fail(err, DN_ERR_NOMEM, "out of memory");
    }
    return DN_OK;
}

/* --labels L1,L2,...: one non-empty label per file, in order. */
static dn_status given_labels(overlay *o, const char *list, size_t n, dn_error *err)
{
    size_t count = count_fields(list);
    if (count != n)
        return cli_fail(err, DN_ERR_USAGE, "--labels gives %zu label%s for %zu CSV files", count, count == 1 ? "" : "s",
                        n);
    char *copy = strdup(list), *names[MAX_SERIES];
    if (!copy) return cli_fail(err, DN_ERR_NOMEM, "out of memory");
    split_fields(copy, names, MAX_SERIES);
    dn_status s = DN_OK;
    for (size_t k = 0; !s && k < n; k++) {
        const char *label = trim(names[k]);
        if (!label[0]) s = cli_fail(err, DN_ERR_USAGE, "--labels: label %zu is empty", k + 1);
        else if (!(o->labels[k] = strdup(label))) s = cli_fail(err, DN_ERR_NOMEM, "out of memory");
    }
    free(copy);
    return s;
}

/* File k's x and y columns become series k; the CSV itself is not kept. */
static dn_status overlay_read(overlay *o, size_t k, const char *path, const plot_request *req, const char *y,
                              dn_error *err)
{
    csv c;
    dn_status s = csv_read(&c, path, err);
    size_t xcol = 0, ycol = 0;
    if (!s && req->x) s = find_column(&c, req->x, &xcol, err);
    if (!s) s = find_column(&c, y, &ycol, err);
    if (!s && !(o->values[k] = malloc(2 * c.nrows * sizeof(double))))
        s = cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    if (!s) s = column_values(&c, xcol, o->values[k], err);
    if (!s) s = column_values(&c, ycol, o->values[k] + c.nrows, err);
    if (!s) {
        o->series[k] = (dn_plot_series){o->labels[k], o->values[k], o->values[k] + c.nrows, c.nrows};
        if (k == 0) /* one axis, so the first file names it */
            snprintf(o->x_label, sizeof o->x_label, "%s", c.fields[xcol]);
    }
    csv_free(&c);
    return s;
}

/* Every file is read and checked before the chart is drawn, so a bad
 * file leaves no figure behind. */
static dn_status draw_overlay(const plot_request *req, const char *const *paths, size_t n, dn_error *err)
{
    overlay o;
    memset(&o, 0, sizeof o);
    char y_buf[256], title[512];
    snprintf(y_buf, sizeof y_buf, "%s", req->y);
    const char *y = trim(y_buf);
    dn_status s = req->labels ? given_labels(&o, req->labels, n, err) : default_labels(&o, paths, n, err);
    for (size_t k = 0; !s && k < n; k++) s = overlay_read(&o, k, paths[k], req, y, err);
    if (req->title) snprintf(title, sizeof title, "%s", req->title);
    else snprintf(title, sizeof title, "%s, %zu runs", y, n);
    dn_plot_options opt;
    dn_plot_options_default(&opt);
    opt.log_y = req->log_y;
    if (!s) s = dn_plot_lines(req->out, title, o.x_label, y, o.series, n, &opt, err);
    if (!s) printf("wrote %s (%zu series, one per file)\n", req->out, n);
    overlay_free(&o);
    return s;
}

static int usage_error(const char *message)
{
    fprintf(stderr, "digitnet plot: %s\n", message);
    return CLI_EXIT_USAGE;
}

/* The refusals that need no file read: one line each, exit 2. */
static int refuse_request(const plot_request *req, int nfiles)
{
    if (req->group && req->y && strchr(req->y, ','))
        return fprintf(stderr, "digitnet plot: --group draws one --y column, not '%s'\n", req->y), CLI_EXIT_USAGE;
    if (nfiles == 1 && req->labels)
        return usage_error("--labels names the lines of several CSV files; one file's lines are its --y columns");
    if (nfiles == 1) return 0;
    if (nfiles > MAX_SERIES)
        return fprintf(stderr, "digitnet plot: at most %d CSV files\n", MAX_SERIES), CLI_EXIT_USAGE;
    if (!req->y || strchr(req->y, ','))
        return usage_error("with several CSV files give exactly one --y column (each file draws it as one line)");
    if (req->group)
        return usage_error("--group splits one file's rows into lines; with several CSV files each file is one line");
    if (!req->out) return usage_error("several CSV files need --out FILE.svg (no one input names the chart)");
    return 0;
}

int cmd_plot(int argc, char **argv)
{
    plot_request req = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    const cli_opt opts[] = {
        {"--out", CLI_STRING, &req.out, "FILE.svg",
         "where the chart goes (default: the CSV's name with .svg; required with several CSVs)", 0, 0, 0, NULL},
        {"--x", CLI_STRING, &req.x, "COL", "the x column (default: the first, epoch or round; each file's own first)",
         0, 0, 0, NULL},
        {"--y", CLI_STRING, &req.y, "COL,...",
         "the columns drawn, one line each (default: the second); with several CSVs exactly one, a line per file", 0,
         0, 0, NULL},
        {"--group", CLI_STRING, &req.group, "COL",
         "one line per distinct value of this column (one --y column; one CSV only)", 0, 0, 0, NULL},
        {"--labels", CLI_STRING, &req.labels, "L1,L2,...",
         "several CSVs: the legend, one label per file in order (default: file names without folder and .csv)", 0, 0,
         0, NULL},
        {"--title", CLI_STRING, &req.title, "T",
         "chart title (default: the CSV's file name; with several: 'COL, N runs')", 0, 0, 0, NULL},
        {"--log-y", CLI_FLAG, &req.log_y, "", "logarithmic y axis (values ≤ 0 are left out)", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"plot", "METRICS.csv [MORE.csv ...]",
                           "Draw a metrics CSV (a header row, then one row per epoch or round) as an SVG line chart; "
                           "with several CSVs, one line per file of the one --y column, to compare runs.",
                           opts, (int)(sizeof opts / sizeof *opts), 1, argc};
    /* room for every argument, so too many files get refused with the limit, not as an unexpected argument */
    const char **pos = malloc((size_t)argc * sizeof *pos);
    if (!pos) return fprintf(stderr, "digitnet plot: out of memory\n"), CLI_EXIT_NOMEM;
    int npos, parsed = cli_parse(&spec, argc, argv, pos, &npos);
    int rc = parsed ? cli_parse_exit_code(parsed) : refuse_request(&req, npos);
    if (!parsed && !rc) {
        dn_error err = {0};
        req.csv_path = pos[0];
        dn_status s = npos > 1 ? draw_overlay(&req, pos, (size_t)npos, &err) : draw(&req, &err);
        rc = s ? cli_report(&err) : CLI_EXIT_OK;
    }
    free(pos);
    return rc;
}
