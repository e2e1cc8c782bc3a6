/* fuzz_serve.c — the request handlers of `digitnet serve`
 * (serve_api_handle, cli/serve_api.c, compiled in here) on arbitrary
 * requests, with the server state a real one has: an MLP (784-16-8-10), a
 * perceptron and a training run with rows and a finished model.
 *
 * Input layout (what scripts/make_fuzz_corpus.py's seeds follow):
 *   byte 0          method: GET, POST, HEAD, PUT, DELETE, OPTIONS (mod 6)
 *   byte 1          Content-Type: none, application/octet-stream, image/png,
 *                   text/plain (mod 4)
 *   up to '\n'      the path
 *   up to '\n'      the query: KEY=VALUE pairs split at '&' (at most 32)
 *   the rest        the body
 *
 * Every response must be well formed: a known status, a content type, a
 * body; an error is {"error": "..."} with a 4xx/5xx status; a 200 from the
 * API is one JSON object on one line. (The HTTP layer limits bodies to
 * 4 MiB; fuzz/run.sh to 16 KiB here.) */
#include "../cli/serve_api.c"

/* As fuzz_common.h's (whose file helpers this target does not need): a broken
 * promise becomes a crash that libFuzzer saves. */
#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                           \
            __builtin_trap();                                                                                          \
        }                                                                                                              \
    } while (0)

/* The page the build embeds from web/; one stand-in file here. */
const serve_file serve_files[] = {{"index.html", (const unsigned char *)"<title>fuzz</title>", 19},
                                  {"app.js", (const unsigned char *)"1;", 2},
                                  {NULL, NULL, 0}};

static serve_api *make_api(void)
{
    serve_api *api = serve_api_create();
    FUZZ_CHECK(api != NULL);
    dn_mlp_options mopt;
    dn_mlp_options_default(&mopt);
    FUZZ_CHECK(dn_mlp_parse_hidden("16,8", &mopt, NULL) == DN_OK);
    dn_mlp *mlp = dn_mlp_create(&mopt, NULL);
    FUZZ_CHECK(mlp != NULL);
    dn_model *m = dn_model_from_mlp(mlp, 0, NULL);
    dn_mlp_free(mlp);
    dn_pta_options popt;
    dn_pta_options_default(&popt);
    dn_pta *pta = dn_pta_create(&popt, NULL);
    dn_model *p = dn_model_from_pta(pta, 0, 0, NULL);
    dn_pta_free(pta);
    FUZZ_CHECK(m && p);
    dn_error err;
    FUZZ_CHECK(serve_api_add_model(api, "mlp", m, NULL, &err) == DN_OK);
    FUZZ_CHECK(serve_api_add_model(api, "pta", p, NULL, &err) == DN_OK);
    static const char *const columns[] = {"epoch", "loss", "test_acc"};
    FUZZ_CHECK(serve_api_run_begin(api, "digitnet pta", "perceptron", columns, 3, &err) == DN_OK);
    double row[3] = {1, 0.25, 0.875};
    FUZZ_CHECK(serve_api_run_row(api, row, 3, &err) == DN_OK);
    return api;
}

/* Next field up to '\n' (or the end) copied into out as a string. */
static size_t take_line(const uint8_t *data, size_t size, size_t at, char *out, size_t cap)
{
    size_t n = 0;
    while (at < size && data[at] != '\n') {
        if (n + 1 < cap) out[n++] = (char)data[at];
        at++;
    }
    out[n] = '\0';
    return at < size ? at + 1 : at;
}

static size_t split_query(char *text, serve_query *pairs, size_t cap)
{
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(text, "&", &save); tok && n < cap; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq) *eq = '\0';
        pairs[n].key = tok;
        pairs[n].value = eq ? eq + 1 : "";
        n++;
    }
    return n;
}

static void check_response(const serve_response *res)
{
    static const int statuses[] = {200, 400, 404, 405, 413, 500};
    int known = 0;
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) known |= res->status == statuses[i];
    FUZZ_CHECK(known);
    FUZZ_CHECK(res->content_type != NULL && res->body != NULL && res->size > 0);
    FUZZ_CHECK((res->status == 405) == (res->allow != NULL));
    if (strcmp(res->content_type, "application/json") != 0) return;
    const char *b = (const char *)res->body;
    FUZZ_CHECK(b[0] == '{' && b[res->size - 2] == '}' && b[res->size - 1] == '\n');
    FUZZ_CHECK(memchr(b, '\n', res->size - 1) == NULL); /* one line: control bytes escaped */
    FUZZ_CHECK((res->status != 200) == (strncmp(b, "{\"error\": \"", 11) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static serve_api *api;
    if (!api) api = make_api();
    static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"};
    static const char *const types[] = {NULL, "application/octet-stream", "image/png", "text/plain"};
    if (size < 2) return 0;
    char path[512], query_text[1024];
    size_t at = take_line(data, size, 2, path, sizeof path);
    at = take_line(data, size, at, query_text, sizeof query_text);
    serve_query pairs[32];
    size_t npairs = split_query(query_text, pairs, 32);
    serve_request req = {methods[data[0] % 6], path, pairs, npairs, types[data[1] % 4], data + at, size - at};
    serve_response res;
    serve_api_handle(api, &req, &res);
    check_response(&res);
    serve_response_free(&res);
    return 0;
}
