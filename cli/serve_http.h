/*
 * serve_http.h — the HTTP server of `digitnet serve` on libmicrohttpd: it
 * collects each request (a body over SERVE_BODY_MAX is answered 413 at once)
 * and hands it to serve_api_handle (serve_api.h); GET /api/events is
 * streamed from the run log. Built without libmicrohttpd, serve_http_start
 * fails saying so.
 */
#ifndef DN_SERVE_HTTP_H
#define DN_SERVE_HTTP_H

#include "serve_api.h"

#define SERVE_DEFAULT_BIND "127.0.0.1:8080"

typedef struct serve_http serve_http;

/* Listens on bind ("HOST:PORT", "[IPv6]:PORT"; port 0 = any free port) and
 * answers from api, which must outlive the server. NULL with err naming the
 * address and the reason (in use, not an address of this machine, ...). */
serve_http *serve_http_start(serve_api *api, const char *bind, dn_error *err);
/* "http://HOST:PORT/" with the port actually bound. Owned by http. */
const char *serve_http_url(const serve_http *http);
/* Prints "digitnet serve: listening on URL" to stdout and flushes it. */
void serve_http_announce(const serve_http *http);
/* Ends the event streams, stops the server (waiting for its threads) and
 * frees it. NULL is fine. */
void serve_http_stop(serve_http *http);

/* Blocks SIGINT and SIGTERM in the calling thread: call it first, before any
 * thread is started, so that every thread inherits the mask and the signal
 * is left to serve_http_wait_for_signal. */
void serve_http_block_signals(void);
/* Waits (sigwait) for SIGINT or SIGTERM, blocking them first; returns which. */
int serve_http_wait_for_signal(void);

#endif /* DN_SERVE_HTTP_H */
