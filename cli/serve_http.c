/*
 * serve_http.c — libmicrohttpd glue for `digitnet serve`: a listening
 * socket, the upload collected (at most SERVE_BODY_MAX bytes), the request
 * handed to serve_api_handle, its response sent; GET /api/events streamed.
 *
 * Threads: one per connection (MHD_USE_THREAD_PER_CONNECTION), at most
 * CONNECTION_LIMIT of them. An event stream waits on a condition variable
 * for the next epoch (serve_api_events_next), which in a thread of its own
 * is a plain blocking call; with a thread pool every open stream would hold
 * a pool thread while it waits, so the pool would need as many threads as
 * streams anyway. The limit bounds threads and memory; a connection idle
 * for CONNECTION_TIMEOUT_S (a body that never comes) is dropped, and since
 * it only holds its own thread, the others are answered meanwhile.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve_http.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef DN_CLI_HAVE_HTTP

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define CONNECTION_LIMIT 64
#define CONNECTION_TIMEOUT_S 10
#define KEEPALIVE_S 15.0 /* an event stream sends a comment line at least this often */
#define QUERY_MAX 32     /* query parameters one request may have */

struct serve_http {
    serve_api *api;
    struct MHD_Daemon *daemon;
    char url[128];
};

/* One request being received: its body so far. */
typedef struct request_state {
    unsigned char *body;
    size_t size, cap;
    int too_big; /* over SERVE_BODY_MAX: not kept, answered 413 */
    int answered;
} request_state;

typedef struct query_list {
    serve_query pairs[QUERY_MAX];
    size_t count;
    int overflow;
} query_list;

/* An open GET /api/events: the cursor into the run log and the text not yet sent. */
typedef struct event_stream {
    serve_api *api;
    serve_events cursor;
    char *pending;
    size_t size, offset;
} event_stream;

static enum MHD_Result send_response(struct MHD_Connection *c, const serve_response *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->size, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* A 413 or 400 made here (before serve_api sees the request), in the API's JSON form. */
static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *message)
{
    char body[512];
    int n = snprintf(body, sizeof body, "{\"error\": \"%s\"}\n", message); /* messages here need no escaping */
    serve_response r = {status, "application/json", NULL, (const unsigned char *)body, (size_t)n, NULL};
    return send_response(c, &r);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    query_list *q = cls;
    if (q->count == QUERY_MAX) {
        q->overflow = 1;
        return MHD_NO;
    }
    q->pairs[q->count].key = key;
    q->pairs[q->count].value = value ? value : "";
    q->count++;
    return MHD_YES;
}

static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    event_stream *es = cls;
    if (es->offset == es->size) {
        free(es->pending);
        es->pending = NULL, es->size = es->offset = 0;
        if (serve_api_events_next(es->api, &es->cursor, KEEPALIVE_S, &es->pending, &es->size) == SERVE_EVENTS_END)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = es->size - es->offset < max ? es->size - es->offset : max;
    memcpy(buf, es->pending + es->offset, n);
    es->offset += n;
    return (ssize_t)n;
}

static void free_events(void *cls)
{
    event_stream *es = cls;
    free(es->pending);
    free(es);
}

static enum MHD_Result send_events(serve_http *http, struct MHD_Connection *c)
{
    event_stream *es = calloc(1, sizeof *es);
    if (!es) return send_error(c, 500, "the server is out of memory");
    es->api = http->api;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_events, es, free_events);
    if (!resp) {
        free(es);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    /* A stream is quiet between epochs for longer than the idle timeout allows. */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Appends one piece of the upload; 0 when it would pass SERVE_BODY_MAX or memory is short. */
static int append_body(request_state *st, const char *data, size_t n)
{
    if (n > SERVE_BODY_MAX - st->size) return 0;
    if (st->size + n > st->cap) {
        size_t cap = st->cap ? st->cap : 16384;
        while (cap < st->size + n) cap *= 2;
        if (cap > SERVE_BODY_MAX) cap = SERVE_BODY_MAX;
        unsigned char *grown = realloc(st->body, cap);
        if (!grown) return 0;
        st->body = grown, st->cap = cap;
    }
    memcpy(st->body + st->size, data, n);
    st->size += n;
    return 1;
}

/* The whole request is in: the API answers it. */
static enum MHD_Result answer(serve_http *http, struct MHD_Connection *c, const char *url, const char *method,
                              request_state *st)
{
    if (strcmp(url, "/api/events") == 0 && strcmp(method, "GET") == 0 && serve_api_has_run(http->api))
        return send_events(http, c);
    query_list q = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    if (q.overflow) return send_error(c, 400, "too many query parameters (at most 32)");
    serve_request req = {method, url, q.pairs, q.count,
                         MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
                         st->body, st->size};
    serve_response res;
    serve_api_handle(http->api, &req, &res);
    enum MHD_Result ok = send_response(c, &res);
    serve_response_free(&res);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    serve_http *http = cls;
    request_state *st = *con_cls;
    if (!st) { /* the headers: refuse a declared oversized body before any of it is read */
        if (!(st = calloc(1, sizeof *st))) return MHD_NO;
        *con_cls = st;
        const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > SERVE_BODY_MAX) {
            st->too_big = st->answered = 1;
            return send_error(c, 413, "the request body is larger than 4 MiB (4194304 bytes)");
        }
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body; over the limit (chunked uploads) it is dropped */
        if (!st->too_big && !append_body(st, upload_data, *upload_size)) {
            st->too_big = 1;
            free(st->body);
            st->body = NULL, st->size = st->cap = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->answered) return MHD_YES;
    st->answered = 1;
    if (st->too_big) return send_error(c, 413, "the request body is larger than 4 MiB (4194304 bytes)");
    return answer(http, c, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    request_state *st = *con_cls;
    if (st) free(st->body);
    free(st);
    *con_cls = NULL;
}

/* ------------------------------------------------------------ the socket */

/* "HOST:PORT" or "[V6]:PORT" split; 0 with err when malformed. */
static int split_bind(const char *address, char *host, size_t host_cap, char *port, size_t port_cap, dn_error *err)
{
    const char *colon = strrchr(address, ':');
    const char *h = address, *h_end = colon;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (!close || close[1] != ':') colon = NULL;
        h = address + 1, h_end = close;
    }
    size_t port_len = colon ? strlen(colon + 1) : 0;
    int digits = port_len > 0 && port_len < port_cap && port_len <= 5;
    for (size_t i = 0; digits && i < port_len; i++) digits = colon[1 + i] >= '0' && colon[1 + i] <= '9';
    if (!colon || h_end <= h || (size_t)(h_end - h) >= host_cap || !digits || atol(colon + 1) > 65535) {
        cli_fail(err, DN_ERR_USAGE, "address '%s': expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any free port)",
                 address);
        return 0;
    }
    memcpy(host, h, (size_t)(h_end - h));
    host[h_end - h] = '\0';
    memcpy(port, colon + 1, port_len + 1);
    return 1;
}

/* A socket bound to address and listening; its URL (the real port) in url. -1 with err. */
static int open_listener(const char *address, char *url, size_t url_cap, dn_error *err)
{
    char host[256], port[8];
    if (!split_bind(address, host, sizeof host, port, sizeof port, err)) return -1;
    struct addrinfo hints = {0}, *found = NULL;
    hints.ai_family = AF_UNSPEC, hints.ai_socktype = SOCK_STREAM, hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &found);
    if (rc) {
        cli_fail(err, DN_ERR_USAGE, "address %s: cannot resolve '%s' (%s)", address, host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) {
        cli_fail(err, DN_ERR_IO, "address %s: cannot create a socket (%s)", address, strerror(errno));
    } else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
               bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, CONNECTION_LIMIT) != 0) {
        cli_fail(err, DN_ERR_IO, "cannot listen on %s: %s%s", address, strerror(errno),
                 errno == EADDRINUSE ? " (another program uses this port: pick another port)" : "");
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) return -1;
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    char numeric[INET6_ADDRSTRLEN + 2], service[8];
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
        getnameinfo((struct sockaddr *)&sa, len, numeric, sizeof numeric, service, sizeof service,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        cli_fail(err, DN_ERR_IO, "address %s: cannot read the bound address (%s)", address, strerror(errno));
        close(fd);
        return -1;
    }
    const char *open = sa.ss_family == AF_INET6 ? "[" : "", *close_ = sa.ss_family == AF_INET6 ? "]" : "";
    snprintf(url, url_cap, "http://%s%s%s:%s/", open, numeric, close_, service);
    return fd;
}

/* ------------------------------------------------------------ the server */

serve_http *serve_http_start(serve_api *api, const char *address, dn_error *err)
{
    serve_http *http = calloc(1, sizeof *http);
    if (!http) {
        cli_fail(err, DN_ERR_NOMEM, "out of memory for the server");
        return NULL;
    }
    http->api = api;
    int fd = open_listener(address ? address : SERVE_DEFAULT_BIND, http->url, sizeof http->url, err);
    if (fd < 0) {
        free(http);
        return NULL;
    }
    /* The daemon's threads start with the signal mask of this thread: with
     * SIGINT and SIGTERM blocked there, they go to the thread that waits for them. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    http->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL,
                                    0, NULL, NULL, on_request, http, MHD_OPTION_LISTEN_SOCKET, fd,
                                    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
                                    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!http->daemon) {
        close(fd);
        free(http);
        cli_fail(err, DN_ERR_IO, "cannot start the HTTP server on %s", address ? address : SERVE_DEFAULT_BIND);
        return NULL;
    }
    return http;
}

void serve_http_stop(serve_http *http)
{
    if (!http) return;
    serve_api_close_streams(http->api); /* MHD_stop_daemon joins the stream threads */
    MHD_stop_daemon(http->daemon);
    free(http);
}

#else /* built without libmicrohttpd */

struct serve_http {
    char url[1];
};

serve_http *serve_http_start(serve_api *api, const char *bind, dn_error *err)
{
    (void)api, (void)bind;
    cli_fail(err, DN_ERR_USAGE, "digitnet was built without libmicrohttpd: install libmicrohttpd-dev and rebuild");
    return NULL;
}

void serve_http_stop(serve_http *http) { (void)http; }

#endif /* DN_CLI_HAVE_HTTP */

const char *serve_http_url(const serve_http *http) { return http->url; }

void serve_http_announce(const serve_http *http)
{
    printf("digitnet serve: listening on %s\n", http->url);
    fflush(stdout);
}

static void signals_to_wait_for(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void serve_http_block_signals(void)
{
    sigset_t set;
    signals_to_wait_for(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int serve_http_wait_for_signal(void)
{
    sigset_t set;
    signals_to_wait_for(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    return sig;
}
