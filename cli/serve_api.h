/*
 * serve_api.h — what `digitnet serve` answers, without any HTTP: the request
 * handlers are pure functions from a request (method, path, query pairs,
 * content type, body) to a response (status, content type, body), so that
 * the tests and the fuzzer (fuzz/fuzz_serve.c) call them directly and
 * cli/serve_http.c only moves bytes. The contract is docs/serve.md.
 *
 * A serve_api owns the model table (names and dn_model *) and, for live
 * training, a run log: the trainer appends one row per epoch and finally
 * hands over the trained model. Everything here is thread-safe: the HTTP
 * server calls serve_api_handle from many threads while a trainer appends.
 *
 * How a training command serves its run (cli/cmd_mlp.c, cli/cmd_pta.c):
 *
 *     serve_api *api = serve_api_create();
 *     serve_api_run_begin(api, "digitnet mlp --epochs 10", "mlp", columns, ncolumns, &err);
 *     serve_http *http = serve_http_start(api, "127.0.0.1:8080", &err);     (serve_http.h)
 *     serve_http_announce(http);      prints "digitnet serve: listening on http://HOST:PORT/"
 *     ... in the epoch callback:   serve_api_run_row(api, row, ncolumns);  (cheap, never waits on a client)
 *     serve_api_run_done(api, "mlp", model, &err);     the model now belongs to api
 *     ... serve_http_wait_for_signal(); then serve_http_stop(http); serve_api_free(api);
 */
#ifndef DN_SERVE_API_H
#define DN_SERVE_API_H

#include <stddef.h>

#include "digitnet.h"

#define SERVE_BODY_MAX 4194304u /* bytes of a request body; larger: 413 */
#define SERVE_MODELS_MAX 64     /* models one server holds */
#define SERVE_NAME_MAX 64       /* bytes of a model name, the NUL included */

typedef struct serve_api serve_api;

/* One query parameter, as the HTTP layer decoded it (%xx and + undone). */
typedef struct serve_query {
    const char *key, *value; /* value "" for "?key" */
} serve_query;

typedef struct serve_request {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* "/api/predict", without the query */
    const serve_query *query; /* nquery pairs in order (may be NULL when 0) */
    size_t nquery;
    const char *content_type; /* the Content-Type header, or NULL */
    const unsigned char *body;
    size_t size;
} serve_request;

typedef struct serve_response {
    int status;               /* 200, 400, ... */
    const char *content_type; /* static storage */
    const char *allow;        /* for 405: the methods the path takes ("GET"), else NULL */
    const unsigned char *body;
    size_t size;
    char *owned; /* what serve_response_free frees (the body, unless it is an embedded file) */
} serve_response;

/* An empty server: no models, no run. NULL when out of memory. */
serve_api *serve_api_create(void);
/* Frees the api, its models and its run log. Stop the HTTP server first. NULL is fine. */
void serve_api_free(serve_api *api);

/* The model name for a file: its basename without the extension ("out/mlp.dnm" → "mlp"). */
void serve_model_name_from_path(const char *path, char name[SERVE_NAME_MAX]);

/* Adds model under name (made unique with "-2", "-3", ... when taken); api
 * owns model from then on, also on failure (then it is freed). The name it
 * got is copied to got_name when not NULL. DN_ERR_USAGE when the table is
 * full, DN_ERR_NOMEM. */
dn_status serve_api_add_model(serve_api *api, const char *name, dn_model *model, char got_name[SERVE_NAME_MAX],
                              dn_error *err);

/* Answers one request. res is always filled (an error is a JSON response);
 * release it with serve_response_free. Thread-safe. */
void serve_api_handle(serve_api *api, const serve_request *req, serve_response *res);
void serve_response_free(serve_response *res);

/* ------------------------------------------------------------ live training */

/* Starts the run log: /api/run then says "training". command is the command
 * line shown on the page, kind "mlp" or "perceptron", columns the names of
 * the values of each row ("epoch", "loss", ...). Once per api: DN_ERR_USAGE
 * for a second run, or for 0 or more than 32 columns. */
dn_status serve_api_run_begin(serve_api *api, const char *command, const char *kind, const char *const *columns,
                              size_t ncolumns, dn_error *err);
/* Appends one row of ncolumns values (as many as the columns; non-finite
 * ones show as null) and wakes the event streams. It only copies under a
 * lock that readers hold for a copy: a slow client never holds up the
 * trainer. DN_ERR_USAGE without a run, after done or with another count. */
dn_status serve_api_run_row(serve_api *api, const double *row, size_t ncolumns, dn_error *err);
/* Ends the run: model (may be NULL when training failed) joins the model
 * table under name (made unique), /api/run says "done" and the event
 * streams get `event: done`. api owns model from then on. */
dn_status serve_api_run_done(serve_api *api, const char *name, dn_model *model, dn_error *err);

/* The event stream of GET /api/events, for the HTTP layer: a cursor that
 * serve_api_events_next advances. */
typedef struct serve_events {
    size_t next_row; /* rows already sent */
    int done_sent;
} serve_events;

enum { SERVE_EVENTS_MORE = 0, SERVE_EVENTS_END = 1 };

/* Waits (on a condition variable, at most timeout_s seconds) until there is
 * something to send, then writes into *text (malloc'd, caller frees; *size
 * its length) the SSE text for it: every row not yet sent (`event: row`),
 * then `event: done` once the run ended; a keep-alive comment line when the
 * wait timed out. Returns SERVE_EVENTS_END (and no text) after done was sent
 * or when serve_api_close_streams was called; SERVE_EVENTS_MORE otherwise.
 * *text is NULL when out of memory (then END). */
int serve_api_events_next(serve_api *api, serve_events *cursor, double timeout_s, char **text, size_t *size);
/* Wakes every waiting stream and makes them end: call before stopping the
 * HTTP server, whose shutdown waits for its connections. */
void serve_api_close_streams(serve_api *api);
/* 1 when the api has a run (so /api/events is a stream, not a 404). */
int serve_api_has_run(serve_api *api);

#endif /* DN_SERVE_API_H */
