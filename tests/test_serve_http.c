/* test_serve_http.c — live training through the real HTTP server
 * (cli/serve_http.c on libmicrohttpd, with cli/serve_api.c, compiled in
 * here): a client of GET /api/events gets the rows so far, then each new row
 * as the "trainer" (this test's main thread) appends it, then `event: done`
 * and the end of the stream; the trained model then answers /api/predict.
 * Stopping the server ends a stream that is waiting for the next row at
 * once. Built without libmicrohttpd: skipped. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../cli/serve_api.c"
#include "../cli/serve_http.c"

const serve_file serve_files[] = {{"index.html", (const unsigned char *)"<title>t</title>", 16}, {NULL, NULL, 0}};

/* cli/args.c's, which serve_http.c reports with. */
dn_status cli_fail(dn_error *err, dn_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

#ifdef DN_CLI_HAVE_HTTP

static const char *const COLUMNS[] = {"epoch", "loss"};

static int port_of(const serve_http *http)
{
    const char *colon = strrchr(serve_http_url(http), ':');
    assert_non_null(colon);
    return atoi(colon + 1);
}

/* A connected socket with a 10 s receive timeout, the request sent. */
static int send_request(int port, const char *request, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(send(fd, request, size, 0), (ssize_t)size);
    return fd;
}

/* Reads into buf (appending at *len) until want appears; 0 when the
 * connection ends or times out first. */
static int read_until(int fd, char *buf, size_t cap, size_t *len, const char *want)
{
    while (!strstr(buf, want)) {
        ssize_t n = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (n <= 0) return 0;
        *len += (size_t)n;
        buf[*len] = '\0';
    }
    return 1;
}

static serve_http *start(serve_api *api)
{
    dn_error err = {0};
    serve_http *http = serve_http_start(api, "127.0.0.1:0", &err);
    if (!http) fail_msg("%s", err.message);
    return http;
}

static void test_events_stream_a_run(void **state)
{
    (void)state;
    serve_api *api = serve_api_create();
    dn_error err;
    assert_int_equal(serve_api_run_begin(api, "digitnet pta", "perceptron", COLUMNS, 2, &err), DN_OK);
    double row[2] = {1, 0.5};
    assert_int_equal(serve_api_run_row(api, row, 2, &err), DN_OK);
    serve_http *http = start(api);
    int port = port_of(http);

    static const char get[] = "GET /api/events HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = send_request(port, get, sizeof get - 1);
    static char buf[65536];
    size_t len = 0;
    buf[0] = '\0';
    if (!read_until(fd, buf, sizeof buf, &len, "data: [1,0.5]\n\n")) fail_msg("no first row: '%s'", buf);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "Content-Type: text/event-stream"));
    row[0] = 2, row[1] = 0.25;
    assert_int_equal(serve_api_run_row(api, row, 2, &err), DN_OK);
    if (!read_until(fd, buf, sizeof buf, &len, "event: row\ndata: [2,0.25]\n\n")) fail_msg("no second row: '%s'", buf);

    dn_pta_options opt;
    dn_pta_options_default(&opt);
    dn_pta *pta = dn_pta_create(&opt, NULL);
    assert_int_equal(serve_api_run_done(api, "trained", dn_model_from_pta(pta, 0, 0, NULL), &err), DN_OK);
    dn_pta_free(pta);
    if (!read_until(fd, buf, sizeof buf, &len, "event: done\ndata: {\"model\": \"trained\"}\n\n"))
        fail_msg("no done: '%s'", buf);
    if (!read_until(fd, buf, sizeof buf, &len, "\r\n0\r\n\r\n")) fail_msg("the stream did not end: '%s'", buf);
    close(fd);

    /* the trained model is served */
    char request[1024];
    unsigned char image[DN_IMAGE_PIXELS] = {0};
    memset(image + 300, 200, 100);
    int head = snprintf(request, sizeof request,
                        "POST /api/predict?model=trained HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream"
                        "\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", DN_IMAGE_PIXELS);
    static char whole[sizeof request + DN_IMAGE_PIXELS];
    memcpy(whole, request, (size_t)head);
    memcpy(whole + head, image, sizeof image);
    fd = send_request(port, whole, (size_t)head + sizeof image);
    len = 0, buf[0] = '\0';
    if (!read_until(fd, buf, sizeof buf, &len, "\"contributions\"")) fail_msg("predict: '%.300s'", buf);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "{\"model\": \"trained\", \"kind\": \"perceptron\""));
    close(fd);
    serve_http_stop(http);
    serve_api_free(api);
}

/* serve_http_stop with a client waiting for the next row: the stream ends, the stop returns at once. */
static void test_stop_ends_waiting_stream(void **state)
{
    (void)state;
    serve_api *api = serve_api_create();
    dn_error err;
    assert_int_equal(serve_api_run_begin(api, "digitnet mlp", "mlp", COLUMNS, 2, &err), DN_OK);
    serve_http *http = start(api);
    static const char get[] = "GET /api/events HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = send_request(port_of(http), get, sizeof get - 1);
    static char buf[4096];
    size_t len = 0;
    buf[0] = '\0';
    if (!read_until(fd, buf, sizeof buf, &len, "text/event-stream")) fail_msg("no stream: '%s'", buf);
    nanosleep(&(struct timespec){0, 100000000}, NULL); /* the stream thread now waits for a row */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    serve_http_stop(http);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("serve_http_stop with a waiting stream took %.3f s\n", seconds);
    assert_true(seconds < 2);
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    } /* ended (closed), not left hanging: recv returns 0 or fails, within its timeout */
    close(fd);
    serve_api_free(api);
}

/* The address in use, a malformed address: NULL with a message saying so. */
static void test_bad_addresses(void **state)
{
    (void)state;
    serve_api *api = serve_api_create();
    serve_http *http = start(api);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", port_of(http));
    dn_error err = {0};
    assert_null(serve_http_start(api, address, &err));
    if (!strstr(err.message, "in use") || !strstr(err.message, address)) fail_msg("'%s'", err.message);
    const char *bad[] = {"nonsense", "127.0.0.1:", ":80", "127.0.0.1:65536", "[::1]80", "127.0.0.1:x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(serve_http_start(api, bad[i], &err));
        assert_int_equal(err.code, DN_ERR_USAGE);
    }
    serve_http_stop(http);
    serve_api_free(api);
}

#else

static void test_events_stream_a_run(void **state)
{
    (void)state;
    dn_error err = {0};
    assert_null(serve_http_start(NULL, "127.0.0.1:0", &err));
    assert_non_null(strstr(err.message, "without libmicrohttpd"));
    DN_SKIP("built without libmicrohttpd");
}
static void test_stop_ends_waiting_stream(void **state) { (void)state; DN_SKIP("built without libmicrohttpd"); }
static void test_bad_addresses(void **state) { (void)state; DN_SKIP("built without libmicrohttpd"); }

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_stream_a_run),
        cmocka_unit_test(test_stop_ends_waiting_stream),
        cmocka_unit_test(test_bad_addresses),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
