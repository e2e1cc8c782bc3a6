/* progress.h — what a person watching long work sees on stderr.
 *
 * Three modes, picked once from where stderr goes:
 *   PROGRESS_BAR    stderr is a terminal: one live line, redrawn in place
 *                   with \r at most 10 times a second — bar, done/total,
 *                   rate, ETA and a status such as the current error;
 *   PROGRESS_LINES  stderr is a file or a pipe (CI, logs): one plain line
 *                   per step (epoch, round, run) and never a \r or an
 *                   escape sequence;
 *   PROGRESS_OFF    --quiet: nothing at all.
 * Results never go here; they belong on stdout. The library reports
 * progress through callbacks (dn_pta_epoch_fn, ...) and the CLI forwards
 * them to a progress.
 *
 * Typical use (an MLP's epochs, with batches in between):
 *   progress p;
 *   progress_begin(&p, stderr, progress_mode_for(stderr, quiet), "mlp", "epoch", epochs, 0);
 *   ... per batch:  progress_tick(&p, epoch + (double)batch / batches, "loss 0.231");
 *   ... per epoch:  progress_step(&p, epoch + 1, "epoch 3: test error 2.31%");
 *   progress_end(&p, "done: test error 1.92%");
 */
#ifndef DN_PROGRESS_H
#define DN_PROGRESS_H

#include <stdio.h>

typedef enum progress_mode { PROGRESS_OFF = 0, PROGRESS_LINES = 1, PROGRESS_BAR = 2 } progress_mode;

typedef struct progress {
    progress_mode mode;
    FILE *out;
    const char *label; /* "pta", "reproduce": starts every line */
    const char *unit;  /* "epoch": shown as "3/50 epochs" and "4.1 epochs/s" (plural: + "s");
                          NULL: a percentage only */
    double total;      /* units of work, > 0 */
    int bound;         /* total is a cap that work may stop short of: the ETA is an upper bound (≤) */
    double done;
    double started, last_draw;
    int drawn; /* a bar is on the terminal line and must be cleared before other output */
} progress;

/* PROGRESS_OFF when quiet, PROGRESS_BAR when out is a terminal (and TERM
 * is not "dumb"), else PROGRESS_LINES. */
progress_mode progress_mode_for(FILE *out, int quiet);

void progress_begin(progress *p, FILE *out, progress_mode mode, const char *label, const char *unit, double total,
                    int bound);
/* Work inside a step (a batch): moves the bar; prints nothing in line mode. */
void progress_tick(progress *p, double done, const char *status);
/* The end of a step (epoch, round, run): moves the bar, and in line mode
 * prints one line. */
void progress_step(progress *p, double done, const char *status);
/* Removes the bar from the terminal so other text (stdout results) can be
 * printed on a clean line; the next tick or step draws it again. */
void progress_clear(progress *p);
/* Bar mode: draws the final state (elapsed time instead of the ETA) and
 * ends the line, so the bar stays on screen as a record. Line mode: prints
 * nothing (each step already has its line; results follow on stdout). */
void progress_end(progress *p, const char *status);

/* "0:07", "12:30", "1:02:03". */
void progress_format_duration(char *buf, size_t size, double seconds);

#endif /* DN_PROGRESS_H */
