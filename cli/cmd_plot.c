/* cmd_plot.c — `digitnet plot METRICS.csv`: any metrics file as a line chart.
 *
 * The CSV is read strictly, as the files digitnet writes are: a header row
 * of column names, then rows with exactly as many comma-separated fields;
 * no quoting. Every error names the file and the line. The columns drawn
 * must hold finite numbers; other columns may hold anything. With --group
 * a text column (a federated run's aggregation rule, say) splits the rows
 * into one line per distinct value. */
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
    const char *csv_path, *out, *x, *y, *group, *title;
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

int cmd_plot(int argc, char **argv)
{
    plot_request req = {NULL, NULL, NULL, NULL, NULL, NULL, 0};
    const cli_opt opts[] = {
        {"--out", CLI_STRING, &req.out, "FILE.svg", "where the chart goes (default: the CSV's name with .svg)", 0, 0,
         0, NULL},
        {"--x", CLI_STRING, &req.x, "COL", "the x column (default: the first, epoch or round)", 0, 0, 0, NULL},
        {"--y", CLI_STRING, &req.y, "COL,...", "the columns drawn, one line each (default: the second)", 0, 0, 0,
         NULL},
        {"--group", CLI_STRING, &req.group, "COL", "one line per distinct value of this column (one --y column)", 0, 0,
         0, NULL},
        {"--title", CLI_STRING, &req.title, "T", "chart title (default: the CSV's file name)", 0, 0, 0, NULL},
        {"--log-y", CLI_FLAG, &req.log_y, "", "logarithmic y axis (values ≤ 0 are left out)", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"plot", "METRICS.csv",
                           "Draw a metrics CSV (a header row, then one row per epoch or round) as an SVG line chart.",
                           opts, (int)(sizeof opts / sizeof *opts), 1, 1};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    req.csv_path = pos[0];
    if (req.group && req.y && strchr(req.y, ','))
        return fprintf(stderr, "digitnet plot: --group draws one --y column, not '%s'\n", req.y), CLI_EXIT_USAGE;
    dn_error err = {0};
    return draw(&req, &err) ? cli_report(&err) : CLI_EXIT_OK;
}
