/* args.c — the flag parser and the small helpers every subcommand uses. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void print_default(const cli_opt *o, FILE *out)
{
    if (strstr(o->help, "(default")) return; /* the help says it, e.g. where the value is a sentinel */
    switch (o->type) {
    case CLI_FLAG: return;
    case CLI_INT: fprintf(out, " (default %d)", *(int *)o->target); return;
    case CLI_SIZE: fprintf(out, " (default %zu)", *(size_t *)o->target); return;
    case CLI_U64: fprintf(out, " (default %llu)", (unsigned long long)*(uint64_t *)o->target); return;
    case CLI_DOUBLE: fprintf(out, " (default %g)", *(double *)o->target); return;
    case CLI_STRING: {
        const char *s = *(const char **)o->target;
        if (s) fprintf(out, " (default %s)", s);
        return;
    }
    case CLI_CHOICE: fprintf(out, " (default %s)", o->choices[*(int *)o->target]); return;
    case CLI_STRINGS: return;
    }
}

static void print_help(const cli_spec *spec, FILE *out)
{
    fprintf(out, "usage: digitnet %s [options] %s\n%s\n\noptions:\n", spec->command, spec->positionals, spec->summary);
    for (int i = 0; i < spec->nopts; i++) {
        const cli_opt *o = &spec->opts[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->type == CLI_FLAG ? "" : " ",
                 o->type == CLI_FLAG ? "" : o->value_name);
        fprintf(out, "  %-24s %s", left, o->help);
        if (o->type == CLI_CHOICE) {
            fprintf(out, ": ");
            for (int c = 0; o->choices[c]; c++) fprintf(out, "%s%s", c ? "|" : "", o->choices[c]);
        }
        print_default(o, out);
        fputc('\n', out);
    }
    fprintf(out, "  %-24s %s\n", "--help", "show this help");
}

static int bad_value(const cli_spec *spec, const cli_opt *o, const char *value, const char *why)
{
    fprintf(stderr, "digitnet %s: %s %s: %s\n", spec->command, o->name, value, why);
    return CLI_BAD_USAGE;
}

/* Every refused number states the valid range, written out in
 * full (%.15g: 1000000, not 1e+06). */
static int number_error(const cli_spec *spec, const cli_opt *o, const char *value, const char *what)
{
    char why[200];
    snprintf(why, sizeof why, "%s (valid: %s%.15g to %.15g%s)", what, o->min_open ? "above " : "", o->min, o->max,
             o->type == CLI_DOUBLE ? "" : ", whole numbers");
    return bad_value(spec, o, value, why);
}

static int parse_number(const cli_spec *spec, const cli_opt *o, const char *value, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end != '\0') return number_error(spec, o, value, "not a number");
    if (!isfinite(v) || errno == ERANGE) return number_error(spec, o, value, "not a finite number");
    if (v < o->min || v > o->max || (o->min_open && v == o->min)) return number_error(spec, o, value, "out of range");
    if (o->type != CLI_DOUBLE && v != floor(v)) return number_error(spec, o, value, "not a whole number");
    *out = v;
    return CLI_PARSED;
}

static int set_value(const cli_spec *spec, const cli_opt *o, const char *value)
{
    double v;
    if (o->type == CLI_STRING) {
        *(const char **)o->target = value;
        return CLI_PARSED;
    }
    if (o->type == CLI_STRINGS) {
        cli_strings *list = o->target;
        if (list->count == CLI_STRINGS_MAX) return bad_value(spec, o, value, "given too many times (at most 8)");
        list->value[list->count++] = value;
        return CLI_PARSED;
    }
    if (o->type == CLI_CHOICE) {
        for (int c = 0; o->choices[c]; c++)
            if (strcmp(o->choices[c], value) == 0) {
                *(int *)o->target = c;
                return CLI_PARSED;
            }
        char why[200] = "unknown (valid: ";
        for (int c = 0; o->choices[c]; c++) {
            strncat(why, o->choices[c], sizeof why - strlen(why) - 3);
            strncat(why, o->choices[c + 1] ? ", " : ")", sizeof why - strlen(why) - 1);
        }
        return bad_value(spec, o, value, why);
    }
    if (parse_number(spec, o, value, &v)) return CLI_BAD_USAGE;
    if (o->type == CLI_INT) *(int *)o->target = (int)v;
    else if (o->type == CLI_SIZE) *(size_t *)o->target = (size_t)v;
    else if (o->type == CLI_U64) *(uint64_t *)o->target = (uint64_t)v;
    else *(double *)o->target = v;
    return CLI_PARSED;
}

static const cli_opt *find_opt(const cli_spec *spec, const char *name, size_t len)
{
    for (int i = 0; i < spec->nopts; i++)
        if (strlen(spec->opts[i].name) == len && strncmp(spec->opts[i].name, name, len) == 0) return &spec->opts[i];
    return NULL;
}

const char *cli_peek_value(int argc, char **argv, const char *name)
{
    const char *value = NULL;
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], name, n) != 0) continue;
        if (argv[i][n] == '=') value = argv[i] + n + 1;
        else if (argv[i][n] == '\0' && i + 1 < argc) value = argv[++i];
    }
    return value;
}

int cli_parse_exit_code(int rc) { return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE; }

int cli_parse(const cli_spec *spec, int argc, char **argv, const char **pos, int *npos)
{
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(spec, stdout);
            return CLI_HELP_SHOWN;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (*npos >= spec->max_positionals) {
                fprintf(stderr, "digitnet %s: unexpected argument '%s' (see digitnet %s --help)\n", spec->command,
                        arg, spec->command);
                return CLI_BAD_USAGE;
            }
            pos[(*npos)++] = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        const cli_opt *o = find_opt(spec, arg, eq ? (size_t)(eq - arg) : strlen(arg));
        if (!o) {
            fprintf(stderr, "digitnet %s: unknown option '%s' (see digitnet %s --help)\n", spec->command, arg,
                    spec->command);
            return CLI_BAD_USAGE;
        }
        if (o->type == CLI_FLAG) {
            if (eq) return bad_value(spec, o, eq + 1, "this flag takes no value");
            *(int *)o->target = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            fprintf(stderr, "digitnet %s: %s needs a value (%s)\n", spec->command, o->name, o->value_name);
            return CLI_BAD_USAGE;
        }
        if (set_value(spec, o, value)) return CLI_BAD_USAGE;
    }
    if (*npos < spec->min_positionals) {
        fprintf(stderr, "digitnet %s: missing %s (usage: digitnet %s [options] %s)\n", spec->command,
                spec->positionals, spec->command, spec->positionals);
        return CLI_BAD_USAGE;
    }
    return CLI_PARSED;
}

int cli_exit_code(dn_status status)
{
    switch (status) {
    case DN_OK: return CLI_EXIT_OK;
    case DN_ERR_USAGE: return CLI_EXIT_USAGE;
    case DN_ERR_INPUT: return CLI_EXIT_INPUT;
    case DN_ERR_IO: return CLI_EXIT_IO;
    case DN_ERR_NUMERIC: return CLI_EXIT_NUMERIC;
    case DN_ERR_NOMEM: return CLI_EXIT_NOMEM;
    case DN_ERR_MPI: return CLI_EXIT_MPI;
    }
    return CLI_EXIT_FAILURE;
}

dn_status cli_fail(dn_error *err, dn_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

int cli_report(const dn_error *err)
{
    fprintf(stderr, "digitnet: %s\n", err->message);
    return cli_exit_code(err->code);
}

int cli_load_mnist(const char *dir, dn_dataset **train, dn_dataset **test)
{
    dn_error err;
    if (train && !(*train = dn_mnist_load(dir, "train", &err))) return cli_report(&err);
    if (test && !(*test = dn_mnist_load(dir, "t10k", &err))) {
        if (train) {
            dn_dataset_free(*train);
            *train = NULL;
        }
        return cli_report(&err);
    }
    return CLI_EXIT_OK;
}

int cli_text_open(cli_text *t)
{
    t->buffer = NULL;
    t->size = 0;
    t->fp = open_memstream(&t->buffer, &t->size);
    return t->fp ? 0 : -1;
}

dn_status cli_text_commit(cli_text *t, const char *path, dn_error *err)
{
    dn_status s = DN_OK;
    if (fclose(t->fp) != 0) {
        s = cli_fail(err, DN_ERR_NOMEM, "%s: out of memory while composing the file", path);
    } else {
        s = dn_write_file_atomic(path, t->buffer, t->size, err);
    }
    free(t->buffer);
    t->buffer = NULL;
    return s;
}

dn_status cli_check_output(const char *flag, const char *path, dn_error *err)
{
    if (!path) return DN_OK;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int n = slash ? snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path)
                  : snprintf(dir, sizeof dir, ".");
    if (n < 0 || (size_t)n >= sizeof dir) return cli_fail(err, DN_ERR_USAGE, "%s %s: path too long", flag, path);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_fail(err, DN_ERR_IO, "%s %s: folder '%s' does not exist", flag, path, dir);
    if (access(dir, W_OK) != 0)
        return cli_fail(err, DN_ERR_IO, "%s %s: folder '%s' is not writable (%s)", flag, path, dir, strerror(errno));
    return DN_OK;
}

dn_status cli_make_dirs(const char *path, dn_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return cli_fail(err, DN_ERR_USAGE, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cli_fail(err, DN_ERR_IO, "%s: cannot create folder (%s)", buf, strerror(errno));
            *p = c;
        }
        if (c == '\0') break;
    }
    return DN_OK;
}

double cli_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
