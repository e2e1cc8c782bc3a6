/* test_serve_api.c — the request handlers and the run log of `digitnet
 * serve` (cli/serve_api.c, compiled into this test as llm.c's tests include
 * their program): rows come out in order to /api/run and to every event
 * stream, done hands the trained model to /api/models and /api/predict,
 * readers on other threads see every row once and in order while a writer
 * appends, closing wakes a waiting stream, and the JSON escapes what it
 * echoes. The HTTP side is tests/cli_serve_*.sh. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cli/serve_api.c"

/* The page the build embeds from web/; one stand-in file here. */
const serve_file serve_files[] = {{"index.html", (const unsigned char *)"<title>t</title>", 16}, {NULL, NULL, 0}};

static void get(serve_api *api, const char *path, const serve_query *query, size_t nquery, serve_response *res)
{
    serve_request req = {"GET", path, query, nquery, NULL, NULL, 0};
    serve_api_handle(api, &req, res);
}

/* The response body as a NUL-terminated string (caller frees). */
static char *body_text(const serve_response *res)
{
    char *s = malloc(res->size + 1);
    memcpy(s, res->body, res->size);
    s[res->size] = '\0';
    return s;
}

static void expect_body(serve_api *api, const char *path, int status, const char *want)
{
    serve_response res;
    get(api, path, NULL, 0, &res);
    char *text = body_text(&res);
    if (res.status != status || !strstr(text, want))
        fail_msg("GET %s: %d '%s', expected %d with '%s'", path, res.status, text, status, want);
    free(text);
    serve_response_free(&res);
}

static dn_model *small_perceptron(void)
{
    dn_pta_options opt;
    dn_pta_options_default(&opt);
    dn_pta *pta = dn_pta_create(&opt, NULL);
    assert_non_null(pta);
    dn_model *model = dn_model_from_pta(pta, 0, 0, NULL);
    assert_non_null(model);
    dn_pta_free(pta);
    return model;
}

static const char *const COLUMNS[] = {"epoch", "loss"};

static void test_no_run(void **state)
{
    (void)state;
    serve_api *api = serve_api_create();
    expect_body(api, "/api/run", 200, "{\"state\": \"none\"}");
    expect_body(api, "/api/events", 404, "no training run");
    expect_body(api, "/api/models", 200, "{\"models\": []}");
    expect_body(api, "/", 200, "<title>t</title>");
    dn_error err;
    double row[2] = {1, 2};
    assert_int_equal(serve_api_run_row(api, row, 2, &err), DN_ERR_USAGE);
    assert_int_equal(serve_api_run_done(api, "m", NULL, &err), DN_ERR_USAGE);
    assert_int_equal(serve_api_has_run(api), 0);
    serve_api_free(api);
}

/* Rows in order in /api/run and in a stream; done adds the model (a name
 * clash gets -2) and ends the stream. */
static void test_rows_in_order_then_done(void **state)
{
    (void)state;
    serve_api *api = serve_api_create();
    dn_error err;
    assert_int_equal(serve_api_add_model(api, "m", small_perceptron(), NULL, &err), DN_OK);
    assert_int_equal(serve_api_run_begin(api, "digitnet pta \"x\"", "perceptron", COLUMNS, 2, &err), DN_OK);
    assert_int_equal(serve_api_run_begin(api, "again", "mlp", COLUMNS, 2, &err), DN_ERR_USAGE);
    expect_body(api, "/api/run", 200, "{\"state\": \"training\", \"command\": \"digitnet pta \\\"x\\\"\", "
                                      "\"kind\": \"perceptron\", \"columns\": [\"epoch\", \"loss\"], \"rows\": [], "
                                      "\"model\": null}");
    for (int i = 0; i < 3; i++) {
        double row[2] = {i + 1, 0.5 / (i + 1)};
        assert_int_equal(serve_api_run_row(api, row, 2, &err), DN_OK);
    }
    double bad[3] = {1, 2, 3}, nonfinite[2] = {4, NAN};
    assert_int_equal(serve_api_run_row(api, bad, 3, &err), DN_ERR_USAGE);
    assert_int_equal(serve_api_run_row(api, nonfinite, 2, &err), DN_OK);
    expect_body(api, "/api/run", 200, "\"rows\": [[1,0.5], [2,0.25], [3,0.166666667], [4,null]], \"model\": null}");

    serve_events cursor = {0};
    char *text;
    size_t size;
    assert_int_equal(serve_api_events_next(api, &cursor, 0, &text, &size), SERVE_EVENTS_MORE);
    assert_string_equal(text, "event: row\ndata: [1,0.5]\n\nevent: row\ndata: [2,0.25]\n\n"
                              "event: row\ndata: [3,0.166666667]\n\nevent: row\ndata: [4,null]\n\n");
    assert_int_equal(size, strlen(text));
    free(text);
    assert_int_equal(serve_api_events_next(api, &cursor, 0.05, &text, &size), SERVE_EVENTS_MORE);
    assert_string_equal(text, ": keep-alive\n\n"); /* nothing new within the wait */
    free(text);

    assert_int_equal(serve_api_run_done(api, "m", small_perceptron(), &err), DN_OK);
    assert_int_equal(serve_api_run_done(api, "m", NULL, &err), DN_ERR_USAGE);
    assert_int_equal(serve_api_run_row(api, bad, 2, &err), DN_ERR_USAGE);
    assert_int_equal(serve_api_events_next(api, &cursor, 0, &text, &size), SERVE_EVENTS_MORE);
    assert_string_equal(text, "event: done\ndata: {\"model\": \"m-2\"}\n\n");
    free(text);
    assert_int_equal(serve_api_events_next(api, &cursor, 0, &text, &size), SERVE_EVENTS_END);
    assert_null(text);
    expect_body(api, "/api/run", 200, "{\"state\": \"done\"");
    expect_body(api, "/api/run", 200, "\"model\": \"m-2\"}");
    expect_body(api, "/api/models", 200, "{\"name\": \"m-2\", \"kind\": \"perceptron\"");
    expect_body(api, "/api/events", 200, "event: row\ndata: [1,0.5]"); /* the snapshot through the handler */

    /* the trained model answers /api/predict */
    unsigned char image[DN_IMAGE_PIXELS] = {0};
    for (int i = 300; i < 400; i++) image[i] = 200;
    serve_query q = {"model", "m-2"};
    serve_request req = {"POST", "/api/predict", &q, 1, "application/octet-stream", image, sizeof image};
    serve_response res;
    serve_api_handle(api, &req, &res);
    char *body = body_text(&res);
    if (res.status != 200 || !strstr(body, "{\"model\": \"m-2\", \"kind\": \"perceptron\", \"digit\": "))
        fail_msg("predict on the trained model: %d %.200s", res.status, body);
    free(body);
    serve_response_free(&res);
    serve_api_free(api);
}

/* ---------------------------------------------------------------- threads */

enum { ROWS = 3000, READERS = 3 };

typedef struct reader {
    serve_api *api;
    size_t rows; /* rows seen, each checked to be the next one */
    int in_order, done;
} reader;

/* Reads a stream to its end, checking that row i is [i, 2i]. */
static void *read_stream(void *arg)
{
    reader *r = arg;
    serve_events cursor = {0};
    char *text;
    size_t size;
    r->in_order = 1;
    while (serve_api_events_next(r->api, &cursor, 5.0, &text, &size) == SERVE_EVENTS_MORE) {
        for (char *p = strstr(text, "data: "); p; p = strstr(p + 1, "data: ")) {
            if (strncmp(p, "data: {\"model\"", 14) == 0) {
                r->done = 1;
                continue;
            }
            long a = -1, b = -1;
            if (sscanf(p, "data: [%ld,%ld]", &a, &b) != 2 || a != (long)r->rows || b != 2 * a) r->in_order = 0;
            r->rows++;
        }
        free(text);
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    serve_api *api = serve_api_create();
    dn_error err;
    assert_int_equal(serve_api_run_begin(api, "digitnet mlp", "mlp", COLUMNS, 2, &err), DN_OK);
    pthread_t threads[READERS];
    reader readers[READERS];
    for (int t = 0; t < READERS; t++) {
        readers[t] = (reader){api, 0, 0, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, read_stream, &readers[t]), 0);
    }
    for (int i = 0; i < ROWS; i++) {
        double row[2] = {i, 2.0 * i};
        assert_int_equal(serve_api_run_row(api, row, 2, &err), DN_OK);
        if (i % 500 == 0) nanosleep(&(struct timespec){0, 2000000}, NULL); /* readers catch up, then fall behind */
    }
    assert_int_equal(serve_api_run_done(api, "net", NULL, &err), DN_OK);
    for (int t = 0; t < READERS; t++) {
        pthread_join(threads[t], NULL);
        if (readers[t].rows != ROWS || !readers[t].in_order || !readers[t].done)
            fail_msg("reader %d: %zu rows of %d, in order %d, done %d", t, readers[t].rows, ROWS, readers[t].in_order,
                     readers[t].done);
    }
    expect_body(api, "/api/run", 200, "\"model\": null}"); /* done without a model */
    serve_api_free(api);
}

static void *wait_once(void *arg)
{
    serve_api *api = arg;
    serve_events cursor = {0};
    char *text;
    size_t size;
    static int result;
    result = serve_api_events_next(api, &cursor, 30.0, &text, &size);
    free(text);
    return &result;
}

/* A stream waiting for the next row ends at once when the server stops. */
static void test_close_wakes_streams(void **state)
{
    (void)state;
    serve_api *api = serve_api_create();
    dn_error err;
    assert_int_equal(serve_api_run_begin(api, "c", "mlp", COLUMNS, 2, &err), DN_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_once, api), 0);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    serve_api_close_streams(api);
    void *result;
    pthread_join(t, &result);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(*(int *)result, SERVE_EVENTS_END);
    assert_true(t1.tv_sec - t0.tv_sec < 5); /* woken, not timed out after 30 s */
    serve_api_free(api);
}

/* What a request carries back in an error is escaped; names come from paths. */
static void test_json_escaping_and_names(void **state)
{
    (void)state;
    serve_api *api = serve_api_create();
    serve_query q = {"model", "a\"b\\c\n"};
    serve_response res;
    get(api, "/api/weights", &q, 1, &res);
    char *text = body_text(&res);
    assert_int_equal(res.status, 400);
    assert_string_equal(text, "{\"error\": \"no model is loaded yet (a training run has not finished)\"}\n");
    free(text);
    serve_response_free(&res);
    dn_error err;
    assert_int_equal(serve_api_add_model(api, "x", small_perceptron(), NULL, &err), DN_OK);
    get(api, "/api/weights", &q, 1, &res);
    text = body_text(&res);
    assert_string_equal(text, "{\"error\": \"unknown model 'a\\\"b\\\\c\\u000a' (GET /api/models lists them)\"}\n");
    free(text);
    serve_response_free(&res);
    char name[SERVE_NAME_MAX];
    serve_model_name_from_path("out/mlp.st", name);
    assert_string_equal(name, "mlp");
    serve_model_name_from_path("a.b/c", name);
    assert_string_equal(name, "c");
    serve_model_name_from_path(".hidden", name);
    assert_string_equal(name, ".hidden");
    serve_model_name_from_path("dir/", name);
    assert_string_equal(name, "model");
    serve_api_free(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_run),
        cmocka_unit_test(test_rows_in_order_then_done),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_close_wakes_streams),
        cmocka_unit_test(test_json_escaping_and_names),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
