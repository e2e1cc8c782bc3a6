/*
 * serve_api.c — the answers of `digitnet serve` (docs/serve.md), as pure
 * functions of the request: no HTTP library here (cli/serve_http.c does
 * the sockets), so the fuzzer and the tests reach every handler.
 *
 * JSON is written by hand into a growable buffer: strings escaped, floats
 * as %.9g (a float32 read back is the same float), float64 weights as
 * %.17g; a non-finite number is never written (the response becomes a 500
 * naming it), except in run rows, where it is null.
 *
 * Locks. api->lock guards the model table and the run log; it is held only
 * to look up or copy, never while computing or sending. Predictions run
 * concurrently, one per connection thread: a network is read-only, each
 * pass has its own workspace, and one image leaves OpenBLAS's process-wide
 * thread count alone (DN_MLP_SMALL_FORWARD in digitnet.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "serve_api.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "digitnet_plot.h"

#define RUN_COLUMNS_MAX 32
#define STRING_MAX 4096 /* bytes of a run's command line kept */

/* The files of web/, compiled in by cmake/embed_files.cmake; the last has name NULL. */
typedef struct serve_file {
    const char *name;
    const unsigned char *data;
    size_t size;
} serve_file;
extern const serve_file serve_files[];

typedef struct model_entry {
    char name[SERVE_NAME_MAX];
    dn_model *model;
} model_entry;

typedef struct run_log {
    int active, done, closed; /* closed: serve_api_close_streams was called */
    char *command;
    char kind[16];
    char *columns[RUN_COLUMNS_MAX];
    size_t ncolumns;
    double *rows; /* (nrows, ncolumns) */
    size_t nrows, cap_rows;
    char model[SERVE_NAME_MAX]; /* the trained model's name; "" when none */
} run_log;

struct serve_api {
    pthread_mutex_t lock; /* the table and the run (see the file comment) */
    pthread_cond_t changed; /* a row, done, or close: the event streams wake */
    model_entry models[SERVE_MODELS_MAX];
    size_t nmodels;
    run_log run;
};

/* Fills err (the handlers need nothing of the CLI: the fuzzer links this file alone). */
static dn_status api_fail(dn_error *err, dn_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static dn_status api_fail(dn_error *err, dn_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

/* ------------------------------------------------------------------ JSON */

typedef struct jbuf {
    char *data;
    size_t len, cap;
    int nomem;             /* an allocation failed */
    const char *nonfinite; /* the field a non-finite number was refused in */
} jbuf;

static void jb_put(jbuf *b, const char *s, size_t n)
{
    if (b->nomem) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->nomem = 1;
            return;
        }
        b->data = grown, b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void jb_raw(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

static void jb_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_printf(jbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) jb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* The length of the well-formed UTF-8 sequence at p (1 to 4), or 0. */
static size_t utf8_length(const unsigned char *p)
{
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0; /* overlong, > U+10FFFF */
    return n;
}

/* A JSON string: quotes, backslashes and control characters escaped, UTF-8
 * kept, and any byte that is not UTF-8 (a path or name a client sent) made
 * U+FFFD, so that every response is valid JSON text. */
static void jb_str(jbuf *b, const char *s)
{
    jb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = 1;
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            jb_put(b, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            jb_printf(b, "\\u%04x", *p);
        } else if (*p < 0x80) {
            jb_put(b, (const char *)p, 1);
        } else if ((n = utf8_length(p)) > 0) {
            jb_put(b, (const char *)p, n);
        } else {
            jb_raw(b, "\\ufffd");
            n = 1;
        }
        p += n;
    }
    jb_put(b, "\"", 1);
}

/* A number; digits 9 for float32 values, 17 for float64 ones. (Literal
 * formats: glibc takes a slow path for "%.*g", which a response of a few
 * thousand numbers felt.) */
static void jb_num(jbuf *b, double v, int digits, const char *field)
{
    if (!isfinite(v)) {
        if (!b->nonfinite) b->nonfinite = field;
        jb_raw(b, "null");
        return;
    }
    if (digits == 17) jb_printf(b, "%.17g", v);
    else jb_printf(b, "%.9g", v);
}

/* A byte as decimal digits, without printf: 784 of them per prediction. */
static void jb_byte(jbuf *b, unsigned v)
{
    char d[3];
    size_t n = 0;
    if (v >= 100) d[n++] = (char)('0' + v / 100);
    if (v >= 10) d[n++] = (char)('0' + v / 10 % 10);
    d[n++] = (char)('0' + v % 10);
    jb_put(b, d, n);
}

static void jb_floats(jbuf *b, const float *v, size_t n, const char *field)
{
    jb_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) jb_put(b, ",", 1);
        jb_num(b, v[i], 9, field);
    }
    jb_put(b, "]", 1);
}

static void jb_doubles(jbuf *b, const double *v, size_t n, int digits, const char *field)
{
    jb_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) jb_put(b, ",", 1);
        jb_num(b, v[i], digits, field);
    }
    jb_put(b, "]", 1);
}

/* A run row: non-finite values (a loss that diverged) are null, not an error. */
static void jb_row(jbuf *b, const double *v, size_t n)
{
    jb_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) jb_put(b, ",", 1);
        if (isfinite(v[i])) jb_printf(b, "%.9g", v[i]);
        else jb_raw(b, "null");
    }
    jb_put(b, "]", 1);
}

/* ------------------------------------------------------------- responses */

static const char JSON_TYPE[] = "application/json";

static void respond_error(serve_response *res, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void respond_error(serve_response *res, int status, const char *fmt, ...)
{
    char message[DN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    jbuf b = {0};
    jb_raw(&b, "{\"error\": ");
    jb_str(&b, message);
    jb_raw(&b, "}\n");
    free(res->owned);
    memset(res, 0, sizeof *res);
    res->status = status;
    res->content_type = JSON_TYPE;
    if (b.nomem) { /* a static body: nothing left to allocate */
        free(b.data);
        static const char oom[] = "{\"error\": \"the server is out of memory\"}\n";
        res->status = 500;
        res->body = (const unsigned char *)oom, res->size = sizeof oom - 1;
        return;
    }
    res->owned = b.data;
    res->body = (const unsigned char *)b.data, res->size = b.len;
}

/* Hands b to res as a 200 JSON body, or a 500 when writing it failed. */
static void respond_json(serve_response *res, jbuf *b)
{
    if (b->nomem || b->nonfinite) {
        const char *field = b->nonfinite;
        int nomem = b->nomem;
        free(b->data);
        memset(b, 0, sizeof *b);
        if (nomem) respond_error(res, 500, "the server ran out of memory writing the response");
        else respond_error(res, 500, "the model produced a non-finite number in '%s'", field);
        return;
    }
    jb_put(b, "\n", 1);
    free(res->owned);
    memset(res, 0, sizeof *res);
    res->status = 200;
    res->content_type = JSON_TYPE;
    res->owned = b->data;
    res->body = (const unsigned char *)b->data, res->size = b->len;
}

void serve_response_free(serve_response *res)
{
    if (!res) return;
    free(res->owned);
    memset(res, 0, sizeof *res);
}

/* --------------------------------------------------------------- the api */

serve_api *serve_api_create(void)
{
    serve_api *api = calloc(1, sizeof *api);
    if (!api) return NULL;
    pthread_mutex_init(&api->lock, NULL);
    pthread_condattr_t attr; /* timed waits on the monotonic clock: a clock change never stalls a stream */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&api->changed, &attr);
    pthread_condattr_destroy(&attr);
    return api;
}

void serve_api_free(serve_api *api)
{
    if (!api) return;
    for (size_t i = 0; i < api->nmodels; i++) dn_model_free(api->models[i].model);
    free(api->run.command);
    for (size_t i = 0; i < api->run.ncolumns; i++) free(api->run.columns[i]);
    free(api->run.rows);
    pthread_cond_destroy(&api->changed);
    pthread_mutex_destroy(&api->lock);
    free(api);
}

void serve_model_name_from_path(const char *path, char name[SERVE_NAME_MAX])
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) n = (size_t)(dot - base); /* ".hidden" keeps its name */
    if (n >= SERVE_NAME_MAX) n = SERVE_NAME_MAX - 1;
    memcpy(name, base, n);
    name[n] = '\0';
    if (!n) snprintf(name, SERVE_NAME_MAX, "model");
}

static model_entry *find_model_locked(serve_api *api, const char *name)
{
    for (size_t i = 0; i < api->nmodels; i++)
        if (strcmp(api->models[i].name, name) == 0) return &api->models[i];
    return NULL;
}

static dn_status add_model_locked(serve_api *api, const char *name, dn_model *model, char *got_name, dn_error *err)
{
    if (api->nmodels == SERVE_MODELS_MAX) {
        dn_model_free(model);
        return api_fail(err, DN_ERR_USAGE, "a server holds at most %d models", SERVE_MODELS_MAX);
    }
    char base[SERVE_NAME_MAX - 12], unique[SERVE_NAME_MAX]; /* room for "-" and any int */
    snprintf(base, sizeof base, "%s", name && *name ? name : "model");
    snprintf(unique, sizeof unique, "%s", base);
    for (int k = 2; find_model_locked(api, unique); k++) snprintf(unique, sizeof unique, "%s-%d", base, k);
    model_entry *e = &api->models[api->nmodels++];
    memcpy(e->name, unique, sizeof unique);
    e->model = model;
    if (got_name) memcpy(got_name, unique, sizeof unique);
    return DN_OK;
}

dn_status serve_api_add_model(serve_api *api, const char *name, dn_model *model, char got_name[SERVE_NAME_MAX],
                              dn_error *err)
{
    pthread_mutex_lock(&api->lock);
    dn_status s = add_model_locked(api, name, model, got_name, err);
    pthread_mutex_unlock(&api->lock);
    return s;
}

/* The model the query names ("model"), or the first one; NULL with a 400 in
 * res. Entries are never removed, so the pointer stays valid unlocked. */
static const model_entry *pick_model(serve_api *api, const char *name, serve_response *res)
{
    pthread_mutex_lock(&api->lock);
    const model_entry *e = name ? find_model_locked(api, name) : api->nmodels ? &api->models[0] : NULL;
    size_t count = api->nmodels;
    pthread_mutex_unlock(&api->lock);
    if (e) return e;
    if (!count) respond_error(res, 400, "no model is loaded yet (a training run has not finished)");
    else respond_error(res, 400, "unknown model '%s' (GET /api/models lists them)", name);
    return NULL;
}

/* ---------------------------------------------------------------- queries */

/* The value of query parameter key, or NULL; given twice is a bad query (400 in res, *bad set). */
static const char *query_get(const serve_request *req, const char *key, int *bad, serve_response *res)
{
    const char *value = NULL;
    for (size_t i = 0; i < req->nquery; i++) {
        if (!req->query[i].key || strcmp(req->query[i].key, key) != 0) continue;
        if (value) {
            respond_error(res, 400, "query parameter '%s' is given more than once", key);
            *bad = 1;
            return NULL;
        }
        value = req->query[i].value ? req->query[i].value : "";
    }
    return value;
}

/* A layer index: decimal digits only, below limit. */
static int parse_layer(const char *text, int limit, int *layer, serve_response *res)
{
    if (!text) {
        respond_error(res, 400, "the query needs layer=K (a weight layer, 0 first)");
        return 0;
    }
    long v = 0;
    size_t n = strlen(text);
    int digits = n > 0 && n <= 6;
    for (size_t i = 0; digits && i < n; i++) digits = text[i] >= '0' && text[i] <= '9';
    if (digits) v = strtol(text, NULL, 10);
    if (!digits || v >= limit) {
        if (text[0] == '-') respond_error(res, 400, "layer must not be negative (got '%.40s')", text);
        else if (!digits) respond_error(res, 400, "layer must be a whole number (got '%.40s')", text);
        else respond_error(res, 400, "layer %ld is out of range: this model has layers 0 to %d", v, limit - 1);
        return 0;
    }
    *layer = (int)v;
    return 1;
}

/* ------------------------------------------------------------ /api/models */

static void write_model(jbuf *b, const model_entry *e)
{
    const dn_mlp *mlp = dn_model_get_mlp(e->model);
    jb_raw(b, "{\"name\": ");
    jb_str(b, e->name);
    jb_raw(b, ", \"kind\": ");
    jb_str(b, mlp ? "mlp" : "perceptron");
    jb_raw(b, ", \"layers\": [");
    if (mlp) {
        int L = dn_mlp_layer_count(mlp);
        jb_printf(b, "%zu", dn_mlp_layer_inputs(mlp, 0));
        for (int k = 0; k < L; k++) jb_printf(b, ", %zu", dn_mlp_layer_outputs(mlp, k));
        jb_raw(b, "], \"activations\": [");
        for (int k = 0; k < L; k++) {
            if (k) jb_raw(b, ", ");
            jb_str(b, dn_activation_name(dn_mlp_layer_activation(mlp, k)));
        }
    } else {
        jb_printf(b, "%d, %d], \"activations\": [\"step\"", DN_IMAGE_PIXELS, DN_CLASSES);
    }
    jb_raw(b, "], \"meta\": {");
    size_t n = dn_model_meta_count(e->model);
    for (size_t i = 0; i < n; i++) {
        const char *key = dn_model_meta_key(e->model, i), *value = dn_model_meta(e->model, key);
        if (i) jb_raw(b, ", ");
        jb_str(b, key);
        jb_raw(b, ": ");
        jb_str(b, value ? value : "");
    }
    jb_raw(b, "}}");
}

static void handle_models(serve_api *api, serve_response *res)
{
    jbuf b = {0};
    jb_raw(&b, "{\"models\": [");
    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->nmodels; i++) {
        if (i) jb_raw(&b, ", ");
        write_model(&b, &api->models[i]);
    }
    pthread_mutex_unlock(&api->lock);
    jb_raw(&b, "]}");
    respond_json(res, &b);
}

/* ----------------------------------------------------------- /api/predict */

static const unsigned char PNG_SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* "application/octet-stream", parameters (after ';') and case aside. */
static int is_octet_stream(const char *content_type)
{
    static const char want[] = "application/octet-stream";
    if (!content_type) return 0;
    while (*content_type == ' ') content_type++;
    size_t n = sizeof want - 1;
    if (strncasecmp(content_type, want, n) != 0) return 0;
    char next = content_type[n];
    return next == '\0' || next == ';' || next == ' ';
}

/* The request body made a 28 × 28 image: a PNG (by its signature) decoded
 * and made MNIST-style, or exactly 784 raw bytes. 0 with a 400 in res. */
static int body_image(const serve_request *req, uint8_t image[DN_IMAGE_PIXELS], serve_response *res)
{
    if (req->size >= 8 && memcmp(req->body, PNG_SIGNATURE, 8) == 0) {
        dn_error err = {0};
        if (dn_png_decode_digit(req->body, req->size, "uploaded PNG", image, &err) == DN_OK) return 1;
        respond_error(res, 400, "%s", err.message);
        return 0;
    }
    if (!is_octet_stream(req->content_type)) {
        respond_error(res, 400, "the body must be a PNG image, or 784 raw bytes sent as Content-Type "
                                "application/octet-stream (got %zu bytes, not a PNG)", req->size);
        return 0;
    }
    if (req->size != DN_IMAGE_PIXELS) {
        respond_error(res, 400, "a raw image must be exactly %d bytes (28 x 28, row-major), got %zu", DN_IMAGE_PIXELS,
                      req->size);
        return 0;
    }
    memcpy(image, req->body, DN_IMAGE_PIXELS);
    for (size_t i = 0; i < DN_IMAGE_PIXELS; i++)
        if (image[i]) return 1;
    respond_error(res, 400, "the image is blank (all 784 pixels are 0): there is no digit to classify");
    return 0;
}

/* What the network computed for one image, written out as JSON after. */
typedef struct prediction {
    uint8_t digit;
    float scores[DN_CLASSES]; /* probabilities (MLP) or W x (perceptron) */
    float *hidden;            /* MLP: every hidden layer's outputs, one after the other */
    size_t hidden_size[DN_MLP_MAX_HIDDEN];
    int nhidden;
} prediction;

/* An MLP's every layer in one pass (dn_mlp_forward_layers); the digit and
 * probabilities as dn_mlp_classify gives them (the argmax, lowest index on
 * ties; sigmoid outputs divided by their sum), so `digitnet predict` agrees. */
static dn_status compute_mlp(const dn_mlp *mlp, const uint8_t *image, prediction *p, dn_error *err)
{
    int L = dn_mlp_layer_count(mlp);
    size_t total = 0;
    p->nhidden = L - 1;
    for (int k = 0; k < p->nhidden; k++) total += p->hidden_size[k] = dn_mlp_layer_outputs(mlp, k);
    if (!(p->hidden = malloc((total ? total : 1) * sizeof *p->hidden)))
        return api_fail(err, DN_ERR_NOMEM, "out of memory for the activations");
    float *out[DN_MLP_MAX_HIDDEN + 1];
    out[0] = p->hidden;
    for (int k = 1; k < p->nhidden; k++) out[k] = out[k - 1] + p->hidden_size[k - 1];
    out[L - 1] = p->scores;
    dn_status s = dn_mlp_forward_layers(mlp, image, 1, out, err);
    if (s) return s;
    double sum = 0;
    int best = 0;
    for (int j = 0; j < DN_CLASSES; j++) {
        if (p->scores[j] > p->scores[best]) best = j;
        sum += p->scores[j];
    }
    p->digit = (uint8_t)best;
    if (dn_mlp_get_options(mlp)->loss == DN_LOSS_MSE && sum > 0)
        for (int j = 0; j < DN_CLASSES; j++) p->scores[j] = (float)(p->scores[j] * (1.0 / sum));
    return DN_OK;
}

static dn_status compute_prediction(const dn_model *model, const uint8_t *image, prediction *p, dn_error *err)
{
    const dn_mlp *mlp = dn_model_get_mlp(model);
    return mlp ? compute_mlp(mlp, image, p, err) : dn_model_classify(model, image, 1, &p->digit, p->scores, err);
}

static void write_input(jbuf *b, const uint8_t *image)
{
    jb_raw(b, ", \"input\": [");
    for (size_t i = 0; i < DN_IMAGE_PIXELS; i++) {
        if (i) jb_put(b, ",", 1);
        jb_byte(b, image[i]);
    }
    jb_raw(b, "]");
}

static void write_mlp(jbuf *b, const prediction *p)
{
    jb_raw(b, ", \"probabilities\": ");
    jb_floats(b, p->scores, DN_CLASSES, "probabilities");
    jb_raw(b, ", \"activations\": [");
    const float *a = p->hidden;
    for (int k = 0; k < p->nhidden; a += p->hidden_size[k], k++) {
        if (k) jb_raw(b, ", ");
        jb_floats(b, a, p->hidden_size[k], "activations");
    }
    jb_raw(b, "]");
}

/* scores = W x with x = pixel / 255 (as dn_model_classify computes them),
 * and contributions[k][i] = W[k][i] · x[i]: each row sums to scores[k]. */
static void write_perceptron(jbuf *b, const dn_model *model, const uint8_t *image, const prediction *p)
{
    const double *w = dn_model_perceptron_weights(model);
    jb_raw(b, ", \"scores\": ");
    jb_floats(b, p->scores, DN_CLASSES, "scores");
    jb_raw(b, ", \"contributions\": [");
    double row[DN_IMAGE_PIXELS];
    for (int k = 0; k < DN_CLASSES; k++) {
        for (size_t i = 0; i < DN_IMAGE_PIXELS; i++) row[i] = w[k * DN_IMAGE_PIXELS + i] * (image[i] / 255.0);
        if (k) jb_raw(b, ", ");
        jb_doubles(b, row, DN_IMAGE_PIXELS, 9, "contributions");
    }
    jb_raw(b, "]");
}

static void handle_predict(serve_api *api, const serve_request *req, serve_response *res)
{
    int bad = 0;
    const char *name = query_get(req, "model", &bad, res);
    if (bad) return;
    const model_entry *e = pick_model(api, name, res);
    uint8_t image[DN_IMAGE_PIXELS];
    if (!e || !body_image(req, image, res)) return;
    int is_mlp = dn_model_get_kind(e->model) == DN_MODEL_MLP;
    prediction p = {0};
    dn_error err = {0};
    dn_status s = compute_prediction(e->model, image, &p, &err);
    if (s) {
        free(p.hidden);
        respond_error(res, 500, "%s", err.message);
        return;
    }
    jbuf b = {0};
    jb_raw(&b, "{\"model\": ");
    jb_str(&b, e->name);
    jb_printf(&b, ", \"kind\": \"%s\", \"digit\": %u", is_mlp ? "mlp" : "perceptron", p.digit);
    write_input(&b, image);
    if (is_mlp) write_mlp(&b, &p);
    else write_perceptron(&b, e->model, image, &p);
    jb_raw(&b, "}");
    free(p.hidden);
    respond_json(res, &b);
}

/* ----------------------------------------------------------- /api/weights */

static void handle_weights(serve_api *api, const serve_request *req, serve_response *res)
{
    int bad = 0, layer = 0;
    const char *name = query_get(req, "model", &bad, res);
    const char *layer_text = bad ? NULL : query_get(req, "layer", &bad, res);
    if (bad) return;
    const model_entry *e = pick_model(api, name, res);
    if (!e) return;
    const dn_mlp *mlp = dn_model_get_mlp(e->model);
    if (!parse_layer(layer_text, mlp ? dn_mlp_layer_count(mlp) : 1, &layer, res)) return;
    jbuf b = {0};
    jb_raw(&b, "{\"model\": ");
    jb_str(&b, e->name);
    jb_printf(&b, ", \"layer\": %d", layer);
    if (mlp) {
        size_t out = dn_mlp_layer_outputs(mlp, layer), in = dn_mlp_layer_inputs(mlp, layer);
        jb_printf(&b, ", \"shape\": [%zu, %zu], \"weights\": ", out, in);
        jb_floats(&b, dn_mlp_weights(mlp, layer), out * in, "weights");
        jb_raw(&b, ", \"bias\": ");
        jb_floats(&b, dn_mlp_bias(mlp, layer), out, "bias");
    } else {
        /* float64 weights at 17 digits: the values of W.npy exactly */
        jb_printf(&b, ", \"shape\": [%d, %d], \"weights\": ", DN_CLASSES, DN_IMAGE_PIXELS);
        jb_doubles(&b, dn_model_perceptron_weights(e->model), (size_t)DN_CLASSES * DN_IMAGE_PIXELS, 17, "weights");
        jb_raw(&b, ", \"bias\": []");
    }
    jb_raw(&b, "}");
    respond_json(res, &b);
}

/* --------------------------------------------------------- the run log */

dn_status serve_api_run_begin(serve_api *api, const char *command, const char *kind, const char *const *columns,
                              size_t ncolumns, dn_error *err)
{
    if (ncolumns == 0 || ncolumns > RUN_COLUMNS_MAX)
        return api_fail(err, DN_ERR_USAGE, "a run has 1 to %d columns (got %zu)", RUN_COLUMNS_MAX, ncolumns);
    pthread_mutex_lock(&api->lock);
    run_log *r = &api->run;
    dn_status s = DN_OK;
    if (r->active) {
        s = api_fail(err, DN_ERR_USAGE, "this server already has a run");
    } else {
        r->command = strndup(command ? command : "", STRING_MAX);
        for (size_t i = 0; i < ncolumns; i++) r->columns[i] = strdup(columns[i] ? columns[i] : "");
        r->ncolumns = ncolumns;
        snprintf(r->kind, sizeof r->kind, "%s", kind ? kind : "");
        int ok = r->command != NULL;
        for (size_t i = 0; i < ncolumns; i++) ok = ok && r->columns[i];
        if (ok) r->active = 1;
        else s = api_fail(err, DN_ERR_NOMEM, "out of memory for the run log");
    }
    pthread_mutex_unlock(&api->lock);
    return s;
}

dn_status serve_api_run_row(serve_api *api, const double *row, size_t ncolumns, dn_error *err)
{
    dn_status s = DN_OK;
    pthread_mutex_lock(&api->lock);
    run_log *r = &api->run;
    if (!r->active || r->done) {
        s = api_fail(err, DN_ERR_USAGE, "no run in progress to add a row to");
    } else if (ncolumns != r->ncolumns) {
        s = api_fail(err, DN_ERR_USAGE, "a row of %zu values for a run of %zu columns", ncolumns, r->ncolumns);
    } else {
        if (r->nrows == r->cap_rows) {
            size_t cap = r->cap_rows ? 2 * r->cap_rows : 64;
            double *grown = realloc(r->rows, cap * r->ncolumns * sizeof *grown);
            if (grown) r->rows = grown, r->cap_rows = cap;
        }
        if (r->nrows < r->cap_rows) {
            memcpy(r->rows + r->nrows * r->ncolumns, row, ncolumns * sizeof *row);
            r->nrows++;
            pthread_cond_broadcast(&api->changed);
        } else {
            s = api_fail(err, DN_ERR_NOMEM, "out of memory for the run log");
        }
    }
    pthread_mutex_unlock(&api->lock);
    return s;
}

dn_status serve_api_run_done(serve_api *api, const char *name, dn_model *model, dn_error *err)
{
    dn_status s = DN_OK;
    pthread_mutex_lock(&api->lock);
    run_log *r = &api->run;
    if (!r->active || r->done) {
        dn_model_free(model);
        s = api_fail(err, DN_ERR_USAGE, "no run in progress to end");
    } else {
        if (model) s = add_model_locked(api, name, model, r->model, err);
        r->done = 1;
        pthread_cond_broadcast(&api->changed);
    }
    pthread_mutex_unlock(&api->lock);
    return s;
}

int serve_api_has_run(serve_api *api)
{
    pthread_mutex_lock(&api->lock);
    int active = api->run.active;
    pthread_mutex_unlock(&api->lock);
    return active;
}

void serve_api_close_streams(serve_api *api)
{
    pthread_mutex_lock(&api->lock);
    api->run.closed = 1;
    pthread_cond_broadcast(&api->changed);
    pthread_mutex_unlock(&api->lock);
}

/* Rows [cursor->next_row, nrows) as SSE events, and done when the run
 * ended; advances the cursor. Called with api->lock held: only copies. */
static void write_events_locked(const run_log *r, serve_events *cursor, jbuf *b)
{
    for (; cursor->next_row < r->nrows; cursor->next_row++) {
        jb_raw(b, "event: row\ndata: ");
        jb_row(b, r->rows + cursor->next_row * r->ncolumns, r->ncolumns);
        jb_raw(b, "\n\n");
    }
    if (r->done && !cursor->done_sent) {
        jb_raw(b, "event: done\ndata: {\"model\": ");
        if (r->model[0]) jb_str(b, r->model);
        else jb_raw(b, "null");
        jb_raw(b, "}\n\n");
        cursor->done_sent = 1;
    }
}

int serve_api_events_next(serve_api *api, serve_events *cursor, double timeout_s, char **text, size_t *size)
{
    *text = NULL, *size = 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    double whole = floor(timeout_s);
    until.tv_sec += (time_t)whole;
    until.tv_nsec += (long)((timeout_s - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    jbuf b = {0};
    pthread_mutex_lock(&api->lock);
    const run_log *r = &api->run;
    int timed_out = 0;
    while (!r->closed && !cursor->done_sent && cursor->next_row >= r->nrows && !r->done && !timed_out)
        timed_out = pthread_cond_timedwait(&api->changed, &api->lock, &until) == ETIMEDOUT;
    int end = r->closed || cursor->done_sent;
    if (!end) write_events_locked(r, cursor, &b);
    pthread_mutex_unlock(&api->lock);
    if (end) {
        free(b.data);
        return SERVE_EVENTS_END;
    }
    if (!b.len) jb_raw(&b, ": keep-alive\n\n"); /* a comment line: proxies and browsers keep the stream open */
    if (b.nomem) {
        free(b.data);
        return SERVE_EVENTS_END;
    }
    *text = b.data, *size = b.len;
    return SERVE_EVENTS_MORE;
}

static void handle_run(serve_api *api, serve_response *res)
{
    jbuf b = {0};
    pthread_mutex_lock(&api->lock);
    const run_log *r = &api->run;
    if (!r->active) {
        jb_raw(&b, "{\"state\": \"none\"}");
    } else {
        jb_raw(&b, r->done ? "{\"state\": \"done\", \"command\": " : "{\"state\": \"training\", \"command\": ");
        jb_str(&b, r->command);
        jb_raw(&b, ", \"kind\": ");
        jb_str(&b, r->kind);
        jb_raw(&b, ", \"columns\": [");
        for (size_t i = 0; i < r->ncolumns; i++) {
            if (i) jb_raw(&b, ", ");
            jb_str(&b, r->columns[i]);
        }
        jb_raw(&b, "], \"rows\": [");
        for (size_t i = 0; i < r->nrows; i++) {
            if (i) jb_raw(&b, ", ");
            jb_row(&b, r->rows + i * r->ncolumns, r->ncolumns);
        }
        jb_raw(&b, "], \"model\": ");
        if (r->model[0]) jb_str(&b, r->model);
        else jb_raw(&b, "null");
        jb_raw(&b, "}");
    }
    pthread_mutex_unlock(&api->lock);
    respond_json(res, &b);
}

/* GET /api/events through this function (the HTTP layer streams it with
 * serve_api_events_next instead): what a stream would send at once. */
static void handle_events_snapshot(serve_api *api, serve_response *res)
{
    jbuf b = {0};
    serve_events cursor = {0};
    pthread_mutex_lock(&api->lock);
    int active = api->run.active;
    if (active) write_events_locked(&api->run, &cursor, &b);
    pthread_mutex_unlock(&api->lock);
    if (!active) {
        free(b.data);
        respond_error(res, 404, "there is no training run on this server (GET /api/events needs --serve on a training command)");
        return;
    }
    respond_json(res, &b);
    if (res->status == 200) res->content_type = "text/event-stream";
}

/* ------------------------------------------------------------ the page */

static const char *type_of(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
                 {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
                 {".png", "image/png"},                 {".json", "application/json"},
                 {".ico", "image/x-icon"},              {".txt", "text/plain; charset=utf-8"}};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

static int serve_file_named(const char *name, serve_response *res)
{
    for (const serve_file *f = serve_files; f->name; f++)
        if (strcmp(f->name, name) == 0) {
            free(res->owned);
            memset(res, 0, sizeof *res);
            res->status = 200;
            res->content_type = type_of(f->name);
            res->body = f->data, res->size = f->size;
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------- routing */

typedef enum route_kind { R_PAGE, R_STATIC, R_MODELS, R_PREDICT, R_WEIGHTS, R_RUN, R_EVENTS, R_NONE } route_kind;

static route_kind route_of(const char *path)
{
    static const struct {
        const char *path;
        route_kind kind;
    } routes[] = {{"/", R_PAGE},
                  {"/index.html", R_PAGE},
                  {"/api/models", R_MODELS},
                  {"/api/predict", R_PREDICT},
                  {"/api/weights", R_WEIGHTS},
                  {"/api/run", R_RUN},
                  {"/api/events", R_EVENTS}};
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (strcmp(path, routes[i].path) == 0) return routes[i].kind;
    if (strncmp(path, "/static/", 8) == 0) return R_STATIC;
    return R_NONE;
}

void serve_api_handle(serve_api *api, const serve_request *req, serve_response *res)
{
    memset(res, 0, sizeof *res);
    const char *path = req->path ? req->path : "", *method = req->method ? req->method : "";
    route_kind kind = route_of(path);
    if (kind == R_NONE) {
        respond_error(res, 404, "no such path '%.200s' (the API is under /api/: models, predict, weights, run, events)",
                      path);
        return;
    }
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int want_post = kind == R_PREDICT;
    if (want_post ? strcmp(method, "POST") != 0 : !is_get) {
        respond_error(res, 405, "%s takes %s, not %.20s", path, want_post ? "POST" : "GET", method);
        res->allow = want_post ? "POST" : "GET, HEAD";
        return;
    }
    switch (kind) {
    case R_PAGE:
        if (!serve_file_named("index.html", res)) respond_error(res, 404, "this build has no page (web/index.html)");
        return;
    case R_STATIC:
        if (!path[8] || strchr(path + 8, '/') || !serve_file_named(path + 8, res))
            respond_error(res, 404, "no such file '%.200s'", path);
        return;
    case R_MODELS: handle_models(api, res); return;
    case R_PREDICT: handle_predict(api, req, res); return;
    case R_WEIGHTS: handle_weights(api, req, res); return;
    case R_RUN: handle_run(api, res); return;
    case R_EVENTS: handle_events_snapshot(api, res); return;
    case R_NONE: return;
    }
}
