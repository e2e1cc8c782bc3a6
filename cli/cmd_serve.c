/* cmd_serve.c — `digitnet serve MODEL... [--bind HOST:PORT]`: the models
 * behind an HTTP API and a page to draw digits on (docs/serve.md), until
 * SIGINT or SIGTERM. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "serve_api.h"
#include "serve_http.h"

/* Loads every model into api under the name of its file; 0 or the exit code. */
static int load_models(serve_api *api, const char **paths, int count)
{
    for (int i = 0; i < count; i++) {
        dn_error err = {0};
        dn_model *model = dn_model_load(paths[i], &err);
        if (!model) return cli_report(&err);
        char name[SERVE_NAME_MAX];
        serve_model_name_from_path(paths[i], name);
        if (serve_api_add_model(api, name, model, NULL, &err)) return cli_report(&err);
    }
    return CLI_EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
    const char *bind = SERVE_DEFAULT_BIND;
    const cli_opt opts[] = {
        {"--bind", CLI_STRING, &bind, "HOST:PORT",
         "address to listen on; port 0 picks a free port (default " SERVE_DEFAULT_BIND ")", 0, 0, 0, NULL},
    };
    const cli_spec spec = {
        "serve", "MODEL...",
        "Serve saved models over HTTP, with a page to draw a digit on and watch each layer answer.\n"
        "Prints 'digitnet serve: listening on http://HOST:PORT/' when ready; SIGINT or SIGTERM stops it.\n"
        "Each model is named after its file (out/mlp.st -> mlp). The API (JSON):\n"
        "  GET  /api/models                    the models: kind, layers, activations, metadata\n"
        "  POST /api/predict?model=NAME        body: a PNG, or 784 bytes as application/octet-stream;\n"
        "                                      the digit, probabilities (scores) and hidden activations\n"
        "  GET  /api/weights?model=NAME&layer=K  a layer's weights and bias\n"
        "  GET  /api/run, /api/events          a training run (mlp/pta --serve); 'none' here\n"
        "Request bodies are limited to 4 MiB; the server binds to 127.0.0.1 unless told otherwise.",
        opts, (int)(sizeof opts / sizeof *opts), 1, SERVE_MODELS_MAX};
    const char *pos[SERVE_MODELS_MAX];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    /* Before any thread exists, so that all of them inherit the mask and
     * the signals reach sigwait below. */
    serve_http_block_signals();
    serve_api *api = serve_api_create();
    if (!api) {
        fprintf(stderr, "digitnet: out of memory\n");
        return CLI_EXIT_NOMEM;
    }
    rc = load_models(api, pos, npos);
    serve_http *http = NULL;
    if (!rc) {
        dn_error err = {0};
        if (!(http = serve_http_start(api, bind, &err))) rc = cli_report(&err);
    }
    if (!rc) {
        serve_http_announce(http);
        serve_http_wait_for_signal();
        serve_http_stop(http);
    }
    serve_api_free(api);
    return rc;
}
