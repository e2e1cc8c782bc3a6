/*
 * serve_live.h — `--serve HOST:PORT` of the training commands (mlp, pta,
 * and rank 0 of mlp --distributed): the page and API of `digitnet serve`
 * while the run trains, its table pushed to the page after every epoch or
 * round (server-sent events), then the trained model to draw on, served
 * until SIGINT or SIGTERM.
 *
 * Ctrl-C during training still ends the program at once, as without
 * --serve: only the server's threads block the signals; the training
 * thread waits for them only once the model is served.
 */
#ifndef DN_SERVE_LIVE_H
#define DN_SERVE_LIVE_H

#include <stddef.h>

#include "digitnet.h"

typedef struct serve_live serve_live;

/* Starts serving on bind, announces the address on stdout, and opens the
 * run log: kind "mlp" or "perceptron", the command line (argv, shown on
 * the page) and the names of each row's values. NULL with err set (the
 * address cannot be bound, out of memory). */
serve_live *serve_live_start(const char *bind, const char *kind, int argc, char **argv, const char *const *columns,
                             size_t ncolumns, dn_error *err);

/* Appends one row of ncolumns values (NaN shows as null). Never waits on a
 * client; a failure (out of memory) only loses the row for the page. NULL live:
 * nothing. */
void serve_live_row(serve_live *live, const double *row, size_t ncolumns);

/* The run ended: model (taken over, freed later) joins the page, named
 * after the file it was saved to (name_or_path "out/mlp.st" → "mlp"), the page is told, and the program
 * serves it until SIGINT or SIGTERM; then everything is freed. NULL live:
 * model is freed and it returns at once. */
void serve_live_finish(serve_live *live, const char *name_or_path, dn_model *model);

/* Stops serving without waiting for a signal (an error before training ended). NULL is fine. */
void serve_live_free(serve_live *live);

#endif /* DN_SERVE_LIVE_H */
