/* serve_load.c — a bounded loopback load client for `digitnet serve` (issue 20).
 *
 *   serve_load --url URL (--body FILE | --bodies DIR_OR_FILE)... [--content-type TYPE]
 *              [--requests N] [--connections C] [--time-limit SECONDS]
 *
 * C threads, one per connection, each with one libcurl easy handle reused for
 * all its requests, so the connection is kept alive as a browser or a script
 * would keep it. The requests are tickets 0..N-1 taken from one counter; ticket
 * i posts body i % bodies, so several test images are cycled over. The run is
 * bounded twice: by the count and by the time limit (a request in flight at the
 * limit is cut off by libcurl's timeout), so it always stops by itself.
 *
 * Each response is checked: HTTP 200 and a body holding "digit": (the JSON of
 * /api/predict); anything else, or a transport error, is an error, and the
 * first few are printed. At the end one line, key=value, for scripts:
 *   serve_load: requests=N asked=A errors=E seconds=S rps=R p50_ms=P p99_ms=Q max_ms=M connections=K connects=T
 * requests = those done (answered, rightly or not, or failed; a request cut off by the time limit is not done),
 * asked = --requests, latencies over the requests done, connects = TCP connections libcurl opened (K when
 * keep-alive held).
 * Exit 0 only when all N requests were done without an error; 1 otherwise;
 * 2 for a usage error. Not a test itself: tests/cli_serve_load.sh and
 * bench/bench_serve.sh run it. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_BODIES 4096
#define MAX_BODY_BYTES (64L << 20)
#define MAX_CONNECTIONS 256
#define ERRORS_SHOWN 5
#define REPLY_KEPT 4096 /* bytes of a reply kept: enough to find "digit": in /api/predict's JSON */

typedef struct body {
    char *data;
    long size;
} body;

typedef struct load {
    const char *url, *content_type;
    body bodies[MAX_BODIES];
    int n_bodies;
    long requests;          /* tickets to hand out */
    int connections;        /* threads, each one easy handle */
    double time_limit;      /* seconds from the start */
    double start;           /* CLOCK_MONOTONIC seconds */
    double *latency_ms;     /* [requests]: filled for the tickets done */
    unsigned char *done;    /* [requests]: 1 when the ticket's request finished (ok or not) */
    atomic_long next;       /* the next ticket */
    atomic_long n_errors;
    atomic_long n_connects;
    atomic_long n_cut_off;  /* requests in flight when the time limit came */
    pthread_mutex_t print_lock; /* the first errors' lines, whole */
} load;

/* One connection's reply buffer: the start of the body, the rest only counted. */
typedef struct reply {
    char text[REPLY_KEPT + 1];
    size_t kept;
} reply;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "serve_load: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: serve_load --url URL (--body FILE | --bodies DIR_OR_FILE)... [--content-type TYPE]\n"
                    "                  [--requests N (20000)] [--connections C (8)] [--time-limit SECONDS (60)]\n");
    return 2;
}

/* ---- bodies ---------------------------------------------------------------------------------- */

static int read_body(load *L, const char *path)
{
    if (L->n_bodies == MAX_BODIES) return usage("more than %d bodies", MAX_BODIES);
    FILE *fp = fopen(path, "rb");
    if (!fp) return usage("%s: cannot open: %s", path, strerror(errno));
    body *b = &L->bodies[L->n_bodies];
    b->data = NULL;
    b->size = 0;
    if (fseek(fp, 0, SEEK_END) == 0) b->size = ftell(fp);
    rewind(fp);
    if (b->size <= 0 || b->size > MAX_BODY_BYTES) {
        fclose(fp);
        return usage("%s: empty, unreadable or over %ld bytes", path, MAX_BODY_BYTES);
    }
    b->data = malloc((size_t)b->size);
    size_t got = b->data ? fread(b->data, 1, (size_t)b->size, fp) : 0;
    fclose(fp);
    if (got != (size_t)b->size) {
        free(b->data);
        return usage("%s: could not read %ld bytes", path, b->size);
    }
    L->n_bodies++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of a folder, in name order, so that runs post the same sequence. */
static int read_folder(load *L, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return usage("%s: cannot open the folder: %s", dir, strerror(errno));
    char **paths = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(paths, cap * sizeof *paths);
            if (!grown) { rc = usage("out of memory listing %s", dir); break; }
            paths = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(paths[n] = malloc(len))) { rc = usage("out of memory listing %s", dir); break; }
        snprintf(paths[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (paths) qsort(paths, n, sizeof *paths, by_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (!rc && stat(paths[i], &st) == 0 && S_ISREG(st.st_mode)) rc = read_body(L, paths[i]);
        free(paths[i]);
    }
    free(paths);
    if (!rc && L->n_bodies == 0) rc = usage("%s: no files in the folder", dir);
    return rc;
}

static int read_bodies(load *L, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return usage("%s: %s", path, strerror(errno));
    return S_ISDIR(st.st_mode) ? read_folder(L, path) : read_body(L, path);
}

/* ---- arguments ------------------------------------------------------------------------------- */

static int number(const char *flag, const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = text ? strtod(text, &end) : 0;
    if (!text || errno || end == text || *end || !(v >= lo && v <= hi))
        return usage("%s '%s': expected a number from %g to %g", flag, text ? text : "", lo, hi);
    *out = v;
    return 0;
}

static int parse(load *L, int argc, char **argv)
{
    double v;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *flag = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(flag, "--url") && val) L->url = val;
        else if (!strcmp(flag, "--body") && val) rc = read_body(L, val);
        else if (!strcmp(flag, "--bodies") && val) rc = read_bodies(L, val);
        else if (!strcmp(flag, "--content-type") && val) L->content_type = val;
        else if (!strcmp(flag, "--requests")) {
            if (!(rc = number(flag, val, 1, 1e8, &v))) L->requests = (long)v;
        } else if (!strcmp(flag, "--connections")) {
            if (!(rc = number(flag, val, 1, MAX_CONNECTIONS, &v))) L->connections = (int)v;
        } else if (!strcmp(flag, "--time-limit")) {
            rc = number(flag, val, 0.001, 86400, &L->time_limit);
        } else return usage(val || flag[0] != '-' ? "unknown argument '%s'" : "%s needs a value", flag);
        i++; /* every flag takes one value */
    }
    if (!rc && !L->url) rc = usage("--url is required");
    if (!rc && !L->n_bodies) rc = usage("--body or --bodies is required");
    return rc;
}

/* ---- the connections ------------------------------------------------------------------------- */

static size_t keep_reply(char *data, size_t size, size_t n, void *user)
{
    reply *r = user;
    size_t len = size * n, room = REPLY_KEPT - r->kept, take = len < room ? len : room;
    memcpy(r->text + r->kept, data, take);
    r->kept += take;
    r->text[r->kept] = '\0';
    return len;
}

static void report_error(load *L, long ticket, const char *fmt, ...)
{
    long n = atomic_fetch_add(&L->n_errors, 1);
    if (n >= ERRORS_SHOWN) return;
    pthread_mutex_lock(&L->print_lock);
    if (ticket >= 0) fprintf(stderr, "serve_load: request %ld: ", ticket);
    else fprintf(stderr, "serve_load: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    pthread_mutex_unlock(&L->print_lock);
}

/* One request: ticket's body posted, its reply judged, its latency recorded. */
static void one_request(load *L, CURL *curl, reply *r, long ticket, double left_s)
{
    const body *b = &L->bodies[ticket % L->n_bodies];
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b->data);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->size);
    /* the time left, so that a hung server cannot hold the run past its limit */
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(left_s * 1000) + 1);
    r->kept = 0;
    r->text[0] = '\0';
    double t0 = now_s();
    CURLcode c = curl_easy_perform(curl);
    double t1 = now_s();
    long status = 0, connects = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
    atomic_fetch_add(&L->n_connects, connects);
    /* cut off by the run's time limit: not done, and not the server's error (the summary says so) */
    if (c == CURLE_OPERATION_TIMEDOUT && t1 - L->start >= L->time_limit) {
        atomic_fetch_add(&L->n_cut_off, 1);
        return;
    }
    L->latency_ms[ticket] = (t1 - t0) * 1e3;
    L->done[ticket] = 1;
    if (c != CURLE_OK) report_error(L, ticket, "%s", curl_easy_strerror(c));
    else if (status != 200) report_error(L, ticket, "HTTP %ld: %.200s", status, r->text);
    else if (!strstr(r->text, "\"digit\":")) report_error(L, ticket, "HTTP 200 without \"digit\": %.200s", r->text);
}

static void *connection(void *arg)
{
    load *L = arg;
    CURL *curl = curl_easy_init();
    reply *r = malloc(sizeof *r);
    struct curl_slist *headers = NULL;
    char type[256];
    snprintf(type, sizeof type, "Content-Type: %s", L->content_type);
    headers = curl_slist_append(headers, type);
    /* libcurl waits for "100 Continue" before a body over 1 KiB: one round trip more per PNG */
    headers = headers ? curl_slist_append(headers, "Expect:") : NULL;
    if (!curl || !r || !headers) {
        report_error(L, -1, "out of memory setting up a connection");
    } else {
        curl_easy_setopt(curl, CURLOPT_URL, L->url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_reply);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
        curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*"); /* loopback: an http_proxy in the environment is not ours */
        for (;;) {
            double left = L->time_limit - (now_s() - L->start);
            if (left <= 0) break;
            long ticket = atomic_fetch_add(&L->next, 1);
            if (ticket >= L->requests) break;
            one_request(L, curl, r, ticket, left);
        }
    }
    curl_slist_free_all(headers);
    free(r);
    curl_easy_cleanup(curl);
    return NULL;
}

/* ---- the summary ----------------------------------------------------------------------------- */

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted v[n] (nearest rank). */
static double quantile(const double *v, long n, double q)
{
    if (n == 0) return 0;
    long k = (long)(q * (double)n + 0.999999) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static int summarise(load *L, double seconds)
{
    long n = 0;
    for (long i = 0; i < L->requests; i++)
        if (L->done[i]) L->latency_ms[n++] = L->latency_ms[i];
    qsort(L->latency_ms, (size_t)n, sizeof *L->latency_ms, by_value);
    long errors = atomic_load(&L->n_errors);
    printf("serve_load: requests=%ld asked=%ld errors=%ld seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f "
           "max_ms=%.3f connections=%d connects=%ld\n",
           n, L->requests, errors, seconds, seconds > 0 ? (double)n / seconds : 0.0, quantile(L->latency_ms, n, 0.50),
           quantile(L->latency_ms, n, 0.99), n ? L->latency_ms[n - 1] : 0.0, L->connections,
           atomic_load(&L->n_connects));
    if (n < L->requests)
        fprintf(stderr, "serve_load: the time limit (%g s) ended the run after %ld of %ld requests (%ld cut off)\n",
                L->time_limit, n, L->requests, atomic_load(&L->n_cut_off));
    if (errors > ERRORS_SHOWN) fprintf(stderr, "serve_load: %ld errors (the first %d shown)\n", errors, ERRORS_SHOWN);
    return errors == 0 && n == L->requests ? 0 : 1;
}

static int run(load *L)
{
    L->latency_ms = malloc((size_t)L->requests * sizeof *L->latency_ms);
    L->done = calloc((size_t)L->requests, 1);
    pthread_t threads[MAX_CONNECTIONS];
    int started = 0, rc = 1;
    if (!L->latency_ms || !L->done) {
        fprintf(stderr, "serve_load: out of memory for %ld latencies\n", L->requests);
    } else {
        L->start = now_s();
        for (; started < L->connections; started++)
            if (pthread_create(&threads[started], NULL, connection, L) != 0) {
                report_error(L, -1, "could not start thread %d", started);
                break;
            }
        for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
        rc = summarise(L, now_s() - L->start);
    }
    free(L->latency_ms);
    free(L->done);
    return rc;
}

int main(int argc, char **argv)
{
    static load L; /* large (the body table): not on the stack */
    L.content_type = "image/png";
    L.requests = 20000;
    L.connections = 8;
    L.time_limit = 60;
    atomic_init(&L.next, 0);
    atomic_init(&L.n_errors, 0);
    atomic_init(&L.n_connects, 0);
    atomic_init(&L.n_cut_off, 0);
    pthread_mutex_init(&L.print_lock, NULL);
    int rc = parse(&L, argc, argv);
    if (!rc) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            fprintf(stderr, "serve_load: libcurl could not be initialised\n");
            rc = 1;
        } else {
            rc = run(&L);
            curl_global_cleanup();
        }
    }
    for (int i = 0; i < L.n_bodies; i++) free(L.bodies[i].data);
    pthread_mutex_destroy(&L.print_lock);
    return rc;
}
