/* serve_live.c — a training run served live (see serve_live.h). */
#define _POSIX_C_SOURCE 200809L
#include "serve_live.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve_api.h"
#include "serve_http.h"

#define COMMAND_MAX 1024 /* bytes of the command line shown on the page */

struct serve_live {
    serve_api *api;
    serve_http *http;
};

/* "digitnet mlp --epochs 10 ...", cut at COMMAND_MAX with "..." */
static void join_command(int argc, char **argv, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "digitnet");
    for (int i = 0; i < argc && used < size; i++) used += (size_t)snprintf(out + used, size - used, " %s", argv[i]);
    if (used >= size && size > 4) strcpy(out + size - 4, "...");
}

/* The server's threads are started with SIGINT and SIGTERM blocked, so that
 * a signal reaches the training thread (and ends the program as it would
 * without --serve) or, at the end, serve_http_wait_for_signal. */
static serve_http *start_blocked(serve_api *api, const char *bind, dn_error *err)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    serve_http *http = serve_http_start(api, bind, err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return http;
}

serve_live *serve_live_start(const char *bind, const char *kind, int argc, char **argv, const char *const *columns,
                             size_t ncolumns, dn_error *err)
{
    serve_live *live = calloc(1, sizeof *live);
    char command[COMMAND_MAX];
    join_command(argc, argv, command, sizeof command);
    if (!live || !(live->api = serve_api_create())) {
        free(live);
        cli_fail(err, DN_ERR_NOMEM, "out of memory starting the server");
        return NULL;
    }
    if (serve_api_run_begin(live->api, command, kind, columns, ncolumns, err) ||
        !(live->http = start_blocked(live->api, bind, err))) {
        serve_live_free(live);
        return NULL;
    }
    serve_http_announce(live->http);
    return live;
}

void serve_live_row(serve_live *live, const double *row, size_t ncolumns)
{
    dn_error ignored = {0};
    if (live) serve_api_run_row(live->api, row, ncolumns, &ignored);
}

void serve_live_finish(serve_live *live, const char *name_or_path, dn_model *model)
{
    char name[SERVE_NAME_MAX];
    serve_model_name_from_path(name_or_path, name);
    if (!live) {
        dn_model_free(model);
        return;
    }
    dn_error err = {0};
    if (serve_api_run_done(live->api, name, model, &err))
        fprintf(stderr, "digitnet: the trained model cannot be served: %s\n", err.message);
    printf("training done: serving %s at %s until Ctrl-C\n", name,
           serve_http_url(live->http));
    fflush(stdout);
    serve_http_wait_for_signal();
    serve_live_free(live);
}

void serve_live_free(serve_live *live)
{
    if (!live) return;
    serve_http_stop(live->http);
    serve_api_free(live->api);
    free(live);
}
