/* progress.c — see progress.h. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

#define REDRAW_SECONDS 0.1 /* at most 10 redraws a second: smooth, yet cheap on slow terminals */
#define BAR_CELLS 24
#define LINE_MAX 512

progress_mode progress_mode_for(FILE *out, int quiet)
{
    if (quiet) return PROGRESS_OFF;
    const char *term = getenv("TERM");
    if (isatty(fileno(out)) && !(term && strcmp(term, "dumb") == 0)) return PROGRESS_BAR;
    return PROGRESS_LINES;
}

void progress_format_duration(char *buf, size_t size, double seconds)
{
    if (!isfinite(seconds) || seconds < 0) seconds = 0;
    long s = lround(seconds);
    if (s >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

/* Terminal columns of out; 80 when unknown. A bar longer than the line
 * would wrap, and \r then redraws only the last row, leaving a trail. */
static int terminal_columns(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* Cuts s so it shows at most columns characters (UTF-8 aware). */
static void fit_columns(char *s, int columns)
{
    int seen = 0;
    for (char *c = s; *c; c++)
        if (((unsigned char)*c & 0xC0) != 0x80 && seen++ == columns) {
            *c = '\0';
            return;
        }
}

static void append(char *line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char *line, const char *fmt, ...)
{
    size_t len = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + len, LINE_MAX - len, fmt, ap);
    va_end(ap);
}

static const char *plural(const char *unit, double n)
{
    return n == 1 ? "" : (unit[strlen(unit) - 1] == 's' ? "" : "s");
}

/* "12/50 epochs" or " 41%". */
static void format_amount(const progress *p, char *buf, size_t size)
{
    if (!p->unit) {
        snprintf(buf, size, "%3.0f%%", 100 * fmin(p->done / p->total, 1));
        return;
    }
    int whole = p->done == floor(p->done);
    snprintf(buf, size, "%.*f/%.0f %s%s", whole ? 0 : 1, p->done, p->total, p->unit, plural(p->unit, p->total));
}

/* "4.1 epochs/s" or "2.5 s/epoch"; empty until there is something to measure. */
static void format_rate(const progress *p, double elapsed, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!p->unit || p->done <= 0 || elapsed < 0.05) return;
    double rate = p->done / elapsed;
    if (rate >= 1) snprintf(buf, size, "%.1f %ss/s", rate, p->unit);
    else snprintf(buf, size, "%.1f s/%s", 1 / rate, p->unit);
}

/* "ETA ≤ 0:07" while running, "in 0:12" once finished. */
static void format_time(const progress *p, double elapsed, int finished, char *buf, size_t size)
{
    char t[32];
    buf[0] = '\0';
    if (finished) {
        if (elapsed < 10) snprintf(buf, size, "in %.2f s", elapsed);
        else progress_format_duration(t, sizeof t, elapsed), snprintf(buf, size, "in %s", t);
        return;
    }
    if (p->done <= 0 || elapsed < 0.05) return;
    progress_format_duration(t, sizeof t, (p->total - p->done) * elapsed / p->done);
    snprintf(buf, size, "ETA %s%s", p->bound ? "≤ " : "", t);
}

static void compose(const progress *p, const char *status, int finished, int with_bar, char *line)
{
    double elapsed = cli_now_seconds() - p->started;
    char amount[64], rate[48], time[48];
    format_amount(p, amount, sizeof amount);
    format_rate(p, elapsed, rate, sizeof rate);
    format_time(p, elapsed, finished, time, sizeof time);
    snprintf(line, LINE_MAX, "%s%s", p->label, with_bar ? " [" : ": ");
    if (with_bar) {
        int full = (int)(BAR_CELLS * fmin(fmax(p->done / p->total, 0), 1));
        size_t len = strlen(line);
        for (int i = 0; i < BAR_CELLS; i++) line[len++] = i < full ? '=' : i == full ? '>' : ' ';
        line[len] = '\0';
        append(line, "] %s", amount);
    } else {
        append(line, "%s", amount);
    }
    if (rate[0]) append(line, "  %s", rate);
    if (time[0]) append(line, "  %s", time);
    if (status && status[0]) append(line, "  %s", status);
}

static void draw_bar(progress *p, const char *status, int finished)
{
    char line[LINE_MAX];
    int columns = terminal_columns(p->out);
    compose(p, status, finished, columns >= 60, line);
    fit_columns(line, columns - 1);
    fflush(stdout); /* results printed so far come first on a shared terminal */
    fprintf(p->out, "\r%s\033[K%s", line, finished ? "\n" : "");
    fflush(p->out);
    p->drawn = !finished;
    p->last_draw = cli_now_seconds();
}

void progress_begin(progress *p, FILE *out, progress_mode mode, const char *label, const char *unit, double total,
                    int bound)
{
    *p = (progress){mode, out, label, unit, total > 0 ? total : 1, bound, 0, cli_now_seconds(), 0, 0};
    if (mode == PROGRESS_BAR) draw_bar(p, NULL, 0);
}

void progress_tick(progress *p, double done, const char *status)
{
    p->done = done;
    if (p->mode == PROGRESS_BAR && (cli_now_seconds() - p->last_draw >= REDRAW_SECONDS || done >= p->total))
        draw_bar(p, status, 0);
}

void progress_step(progress *p, double done, const char *status)
{
    if (p->mode != PROGRESS_LINES) {
        progress_tick(p, done, status);
        return;
    }
    p->done = done;
    char line[LINE_MAX];
    compose(p, status, 0, 0, line);
    fprintf(p->out, "%s\n", line);
    fflush(p->out);
}

void progress_clear(progress *p)
{
    if (p->mode != PROGRESS_BAR || !p->drawn) return;
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->drawn = 0;
}

void progress_end(progress *p, const char *status)
{
    if (p->mode == PROGRESS_BAR) draw_bar(p, status, 1);
}
