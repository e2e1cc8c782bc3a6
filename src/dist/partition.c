/* partition.c — the training set split among K federated clients (see
 * "partitions" in digitnet.h): the spec strings, the four ways to split,
 * the accessors and the partition file.
 *
 * Every kind first decides the owner of each of the n samples (owner[i],
 * a client < K); the object then lists each client's samples by a counting
 * pass over owner, so a client's list is ascending, the lists are disjoint
 * and cover [0, n) by construction, and the file stores owner itself. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "text_cursor.h"

#define PARTITION_KIND "partition"
#define PARTITION_FORMAT "digitnet"
#define PARTITION_FORMAT_VERSION "1"

struct dn_partition {
    size_t clients, n;
    dn_partition_spec spec;
    uint64_t seed;
    uint32_t data_crc32;
    size_t *first;  /* K + 1: client k's samples are index[first[k] … first[k+1]) */
    size_t *index;  /* n                                                           */
    size_t *counts; /* (K, DN_CLASSES)                                             */
};

/* ------------------------------------------------------------------ specs */

static const char *const kind_names[] = {"iid", "shards", "dirichlet", "quantity", NULL};

const char *dn_partition_kind_name(dn_partition_kind kind)
{
    return (int)kind >= 0 && (size_t)kind < sizeof kind_names / sizeof *kind_names - 1 ? kind_names[kind] : "?";
}

const char *const *dn_partition_kind_choices(void) { return kind_names; }

const char *dn_partition_syntax(void) { return "iid, shards:S, dirichlet:ALPHA[:MIN], quantity:SIGMA"; }

/* A whole number ≥ 1 written in full (no sign, no blanks). */
static int parse_count(const char *text, size_t *out)
{
    uint64_t v;
    if (dn_parse_u64(text, DN_DATASET_MAX_COUNT, &v) != 0) return -1;
    *out = (size_t)v;
    return 0;
}

dn_status dn_partition_parse(const char *text, dn_partition_spec *spec, dn_error *err)
{
    memset(spec, 0, sizeof *spec);
    if (!text) return dn_fail(err, DN_ERR_USAGE, "partition: no spec given (valid: %s)", dn_partition_syntax());
    const char *colon = strchr(text, ':');
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    int kind = -1;
    for (int i = 0; kind_names[i]; i++)
        if (strlen(kind_names[i]) == name_len && strncmp(text, kind_names[i], name_len) == 0) kind = i;
    if (kind < 0)
        return dn_fail(err, DN_ERR_USAGE, "unknown partition '%s' (valid: %s)", text, dn_partition_syntax());
    spec->kind = (dn_partition_kind)kind;
    const char *arg = colon ? colon + 1 : NULL;
    char number[64];
    switch (spec->kind) {
    case DN_PARTITION_IID:
        if (arg) return dn_fail(err, DN_ERR_USAGE, "partition '%s': iid takes no value", text);
        return DN_OK;
    case DN_PARTITION_SHARDS:
        if (!arg || parse_count(arg, &spec->shards) != 0 || spec->shards < 1)
            return dn_fail(err, DN_ERR_USAGE, "partition '%s': S in shards:S must be a whole number from 1 to %u", text,
                           DN_DATASET_MAX_COUNT);
        return DN_OK;
    case DN_PARTITION_DIRICHLET: {
        spec->min_size = DN_PARTITION_DIRICHLET_MIN;
        const char *min = arg ? strchr(arg, ':') : NULL;
        size_t len = arg ? (min ? (size_t)(min - arg) : strlen(arg)) : 0;
        int ok = arg && len < sizeof number;
        if (ok) {
            memcpy(number, arg, len);
            number[len] = '\0';
            ok = dn_parse_double(number, &spec->alpha) == 0 && spec->alpha > 0;
        }
        if (!ok)
            return dn_fail(err, DN_ERR_USAGE, "partition '%s': ALPHA in dirichlet:ALPHA must be a finite number above 0",
                           text);
        if (min && parse_count(min + 1, &spec->min_size) != 0)
            return dn_fail(err, DN_ERR_USAGE, "partition '%s': MIN in dirichlet:ALPHA:MIN must be a whole number from 0 to %u",
                           text, DN_DATASET_MAX_COUNT);
        return DN_OK;
    }
    case DN_PARTITION_QUANTITY:
        if (!arg || dn_parse_double(arg, &spec->sigma) != 0 || !(spec->sigma >= 0))
            return dn_fail(err, DN_ERR_USAGE, "partition '%s': SIGMA in quantity:SIGMA must be a finite number, 0 or above",
                           text);
        return DN_OK;
    }
    return dn_fail(err, DN_ERR_USAGE, "unknown partition '%s' (valid: %s)", text, dn_partition_syntax());
}

/* v in the fewest digits from 6 up that read back as v ("100", not "1e+02"). */
static void shortest(char *buf, size_t size, double v)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

void dn_partition_format(const dn_partition_spec *spec, char *buf, size_t size)
{
    char a[40];
    switch (spec->kind) {
    case DN_PARTITION_IID: snprintf(buf, size, "iid"); return;
    case DN_PARTITION_SHARDS: snprintf(buf, size, "shards:%zu", spec->shards); return;
    case DN_PARTITION_DIRICHLET:
        shortest(a, sizeof a, spec->alpha);
        if (spec->min_size == DN_PARTITION_DIRICHLET_MIN) snprintf(buf, size, "dirichlet:%s", a);
        else snprintf(buf, size, "dirichlet:%s:%zu", a, spec->min_size);
        return;
    case DN_PARTITION_QUANTITY:
        shortest(a, sizeof a, spec->sigma);
        snprintf(buf, size, "quantity:%s", a);
        return;
    }
    snprintf(buf, size, "?");
}

/* The rules of dn_partition_make for n samples and K clients. */
static dn_status check_spec(const dn_partition_spec *spec, size_t n, size_t k, dn_error *err)
{
    char text[64];
    dn_partition_format(spec, text, sizeof text);
    switch (spec->kind) {
    case DN_PARTITION_IID:
    case DN_PARTITION_QUANTITY:
        if (spec->kind == DN_PARTITION_QUANTITY && !(isfinite(spec->sigma) && spec->sigma >= 0))
            return dn_fail(err, DN_ERR_USAGE, "partition: sigma %g must be a finite number, 0 or above", spec->sigma);
        if (k > n)
            return dn_fail(err, DN_ERR_USAGE, "partition %s: %zu clients cannot each get one of %zu samples (valid: 1 to %zu clients)",
                           text, k, n, n);
        return DN_OK;
    case DN_PARTITION_SHARDS: {
        size_t shards;
        if (spec->shards < 1)
            return dn_fail(err, DN_ERR_USAGE, "partition: shards per client must be at least 1");
        if (dn_mul_overflows(k, spec->shards, &shards) || shards > n)
            return dn_fail(err, DN_ERR_USAGE,
                           "partition %s: %zu clients × %zu shards is more shards than the %zu samples (valid: at most %zu clients)",
                           text, k, spec->shards, n, n / spec->shards);
        return DN_OK;
    }
    case DN_PARTITION_DIRICHLET: {
        size_t need;
        if (!(isfinite(spec->alpha) && spec->alpha > 0))
            return dn_fail(err, DN_ERR_USAGE, "partition: alpha %g must be a finite number above 0", spec->alpha);
        if (dn_mul_overflows(k, spec->min_size, &need) || need > n)
            return dn_fail(err, DN_ERR_USAGE,
                           "partition %s: %zu clients of at least %zu samples need more than the %zu samples (lower MIN or the clients)",
                           text, k, spec->min_size, n);
        return DN_OK;
    }
    }
    return dn_fail(err, DN_ERR_USAGE, "partition: unknown kind %d", (int)spec->kind);
}

/* ---------------------------------------------------------- random draws */

static void shuffle(size_t *v, size_t n, dn_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)dn_rng_below(rng, i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* log of a Gamma(a, 1) draw, a > 0: Marsaglia & Tsang (2000), "A simple
 * method for generating gamma variables", for a ≥ 1; for a < 1 the boost
 * Gamma(a) = Gamma(a + 1) · U^(1/a), added as log U / a so that it never
 * underflows (a = 0.001 would give U^1000). */
static double log_gamma_draw(dn_rng *rng, double a)
{
    double boost = 0;
    if (a < 1) {
        double u = 1.0 - dn_rng_uniform(rng); /* (0, 1] */
        boost = log(u) / a;
        a += 1;
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = dn_rng_normal(rng), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = 1.0 - dn_rng_uniform(rng);
        if (u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v))) return log(d * v) + boost;
    }
}

/* p (k values) ~ Dir(α, …, α): Gamma draws normalised, from their logarithms. */
static void dirichlet_draw(dn_rng *rng, double alpha, double *p, size_t k)
{
    double top = -INFINITY, sum = 0;
    for (size_t i = 0; i < k; i++) {
        p[i] = log_gamma_draw(rng, alpha);
        if (p[i] > top) top = p[i];
    }
    for (size_t i = 0; i < k; i++) sum += p[i] = exp(p[i] - top); /* the largest is 1: sum ≥ 1 */
    for (size_t i = 0; i < k; i++) p[i] /= sum;
}

/* ----------------------------------------------------------- the owners */

/* Block b of a cut of n into parts: ⌊n/parts⌋, one more for the first n mod parts. */
static size_t block_first(size_t n, size_t parts, size_t b)
{
    size_t rest = n % parts;
    return b * (n / parts) + (b < rest ? b : rest);
}

/* A random permutation of [0, n) cut into blocks of size[k]: owner[perm[…]] = k. */
static dn_status owners_by_sizes(size_t n, size_t k, const size_t *size, dn_rng *rng, size_t *owner, dn_error *err)
{
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm) return dn_fail(err, DN_ERR_NOMEM, "partition: out of memory for a permutation of %zu samples", n);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    shuffle(perm, n, rng);
    size_t pos = 0;
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < size[c]; j++) owner[perm[pos++]] = c;
    free(perm);
    return DN_OK;
}

static dn_status owners_iid(size_t n, size_t k, dn_rng *rng, size_t *owner, dn_error *err)
{
    size_t *size = malloc(k * sizeof *size);
    if (!size) return dn_fail(err, DN_ERR_NOMEM, "partition: out of memory for %zu clients", k);
    for (size_t c = 0; c < k; c++) size[c] = block_first(n, k, c + 1) - block_first(n, k, c);
    dn_status s = owners_by_sizes(n, k, size, rng, owner, err);
    free(size);
    return s;
}

/* Sizes: 1 each, then n − K by largest remainders of the log-normal weights. */
static dn_status owners_quantity(size_t n, size_t k, double sigma, dn_rng *rng, size_t *owner, dn_error *err)
{
    size_t *size = calloc(k, sizeof *size), *order = calloc(k, sizeof *order);
    double *w = calloc(k, sizeof *w), *rem = calloc(k, sizeof *rem);
    if (!size || !order || !w || !rem) {
        free(size), free(order), free(w), free(rem);
        return dn_fail(err, DN_ERR_NOMEM, "partition: out of memory for %zu clients", k);
    }
    double top = -INFINITY, sum = 0;
    for (size_t c = 0; c < k; c++) {
        w[c] = sigma * dn_rng_normal(rng);
        if (w[c] > top) top = w[c];
    }
    for (size_t c = 0; c < k; c++) sum += w[c] = exp(w[c] - top);
    size_t spare = n - k, given = 0;
    for (size_t c = 0; c < k; c++) {
        double share = (double)spare * (w[c] / sum), whole = floor(share);
        size[c] = (size_t)whole;
        if (size[c] > spare - given) size[c] = spare - given; /* rounding never hands out more than spare */
        given += size[c];
        rem[c] = share - whole;
        order[c] = c;
    }
    /* The samples left go one each to the largest remainders, lower client first on ties
     * (an insertion sort: stable). */
    for (size_t i = 1; i < k; i++) {
        size_t c = order[i], j = i;
        for (; j > 0 && rem[order[j - 1]] < rem[c]; j--) order[j] = order[j - 1];
        order[j] = c;
    }
    for (size_t i = 0; given < spare; i = (i + 1) % k, given++) size[order[i]]++; /* at most k are left */
    for (size_t c = 0; c < k; c++) size[c] += 1;
    dn_status s = owners_by_sizes(n, k, size, rng, owner, err);
    free(size), free(order), free(w), free(rem);
    return s;
}

/* The samples sorted by label, then by index (a counting sort). */
static void sort_by_label(const uint8_t *labels, size_t n, size_t *sorted, size_t class_first[DN_CLASSES + 1])
{
    size_t fill[DN_CLASSES] = {0};
    for (size_t i = 0; i < n; i++) fill[labels[i] < DN_CLASSES ? labels[i] : DN_CLASSES - 1]++;
    class_first[0] = 0;
    for (int c = 0; c < DN_CLASSES; c++) class_first[c + 1] = class_first[c] + fill[c];
    for (int c = 0; c < DN_CLASSES; c++) fill[c] = class_first[c];
    for (size_t i = 0; i < n; i++) sorted[fill[labels[i] < DN_CLASSES ? labels[i] : DN_CLASSES - 1]++] = i;
}

static dn_status owners_shards(const uint8_t *labels, size_t n, size_t k, size_t per_client, dn_rng *rng,
                               size_t *owner, dn_error *err)
{
    size_t shards = k * per_client, class_first[DN_CLASSES + 1];
    size_t *sorted = malloc(n * sizeof *sorted), *deal = malloc(shards * sizeof *deal);
    if (!sorted || !deal) {
        free(sorted), free(deal);
        return dn_fail(err, DN_ERR_NOMEM, "partition: out of memory for %zu shards of %zu samples", shards, n);
    }
    sort_by_label(labels, n, sorted, class_first);
    for (size_t j = 0; j < shards; j++) deal[j] = j;
    shuffle(deal, shards, rng);
    /* Position p of the deal is client p / S's; shard deal[p] is a block of sorted. */
    for (size_t p = 0; p < shards; p++)
        for (size_t i = block_first(n, shards, deal[p]); i < block_first(n, shards, deal[p] + 1); i++)
            owner[sorted[i]] = p / per_client;
    free(sorted), free(deal);
    return DN_OK;
}

static dn_status owners_dirichlet(const uint8_t *labels, size_t n, size_t k, const dn_partition_spec *spec,
                                  dn_rng *rng, size_t *owner, dn_error *err)
{
    size_t class_first[DN_CLASSES + 1], *sorted = malloc(n * sizeof *sorted);
    size_t *cut = malloc(DN_CLASSES * (k + 1) * sizeof *cut), *size = malloc(k * sizeof *size);
    double *p = malloc(k * sizeof *p);
    if (!sorted || !cut || !size || !p) {
        free(sorted), free(cut), free(size), free(p);
        return dn_fail(err, DN_ERR_NOMEM, "partition: out of memory for %zu clients", k);
    }
    sort_by_label(labels, n, sorted, class_first);
    /* Draw the proportions of every class until every client reaches the
     * minimum: only the cut points matter for that, so the shuffles wait. */
    int accepted = 0;
    for (int attempt = 0; attempt < DN_PARTITION_DIRICHLET_TRIES && !accepted; attempt++) {
        memset(size, 0, k * sizeof *size);
        for (int c = 0; c < DN_CLASSES; c++) {
            size_t m = class_first[c + 1] - class_first[c], *row = cut + (size_t)c * (k + 1);
            dirichlet_draw(rng, spec->alpha, p, k);
            double acc = 0;
            row[0] = 0;
            for (size_t j = 0; j < k; j++) {
                acc += p[j];
                size_t at = j + 1 == k ? m : (size_t)((double)m * acc);
                if (at > m) at = m;
                if (at < row[j]) at = row[j];
                row[j + 1] = at;
                size[j] += at - row[j];
            }
        }
        accepted = 1;
        for (size_t j = 0; j < k; j++)
            if (size[j] < spec->min_size) accepted = 0;
    }
    if (accepted)
        for (int c = 0; c < DN_CLASSES; c++) {
            size_t *members = sorted + class_first[c], *row = cut + (size_t)c * (k + 1);
            shuffle(members, class_first[c + 1] - class_first[c], rng);
            for (size_t j = 0; j < k; j++)
                for (size_t i = row[j]; i < row[j + 1]; i++) owner[members[i]] = j;
        }
    free(sorted), free(cut), free(size), free(p);
    if (!accepted) {
        char text[64];
        dn_partition_format(spec, text, sizeof text);
        return dn_fail(err, DN_ERR_USAGE,
                       "partition %s: no draw of %d gave each of %zu clients at least %zu samples (lower MIN, raise "
                       "ALPHA or use fewer clients)",
                       text, DN_PARTITION_DIRICHLET_TRIES, k, spec->min_size);
    }
    return DN_OK;
}

/* ------------------------------------------------------------ the object */

static dn_partition *no_partition(dn_partition *part)
{
    dn_partition_free(part);
    return NULL;
}

void dn_partition_free(dn_partition *part)
{
    if (!part) return;
    free(part->first), free(part->index), free(part->counts);
    free(part);
}

/* A partition of n samples over k clients from owner[] (each < k) and the
 * labels: the lists and the histograms. NULL when out of memory. */
static dn_partition *from_owners(const size_t *owner, const uint8_t *labels, size_t n, size_t k, dn_error *err)
{
    dn_partition *part = calloc(1, sizeof *part);
    size_t cells;
    if (part && !dn_mul_overflows(k, DN_CLASSES, &cells)) {
        part->first = calloc(k + 1, sizeof *part->first);
        part->index = malloc((n ? n : 1) * sizeof *part->index);
        part->counts = calloc(cells, sizeof *part->counts);
    }
    if (!part || !part->first || !part->index || !part->counts) {
        dn_fail(err, DN_ERR_NOMEM, "partition: out of memory for %zu samples over %zu clients", n, k);
        return no_partition(part);
    }
    part->clients = k;
    part->n = n;
    for (size_t i = 0; i < n; i++) {
        part->first[owner[i] + 1]++;
        if (labels) part->counts[owner[i] * DN_CLASSES + labels[i]]++;
    }
    for (size_t c = 0; c < k; c++) part->first[c + 1] += part->first[c];
    size_t *fill = malloc((k ? k : 1) * sizeof *fill);
    if (!fill) {
        dn_fail(err, DN_ERR_NOMEM, "partition: out of memory for %zu clients", k);
        return no_partition(part);
    }
    memcpy(fill, part->first, k * sizeof *fill);
    for (size_t i = 0; i < n; i++) part->index[fill[owner[i]]++] = i; /* ascending within each client */
    free(fill);
    return part;
}

#define ROOT_TAG 0x524F4F54ULL /* "ROOT" */

dn_status dn_dataset_split_root(const dn_dataset *set, size_t n, size_t root_size, uint64_t seed,
                                dn_dataset **root, dn_dataset **rest, dn_error *err)
{
    *root = *rest = NULL;
    if (!(n <= set->count && root_size >= 1 && root_size < n))
        return dn_fail(err, DN_ERR_USAGE, "root set: %zu of the first %zu samples (of %zu): the root needs 1 to %zu",
                       root_size, n, set->count, n > 1 ? n - 1 : 0);
    size_t *in = malloc(root_size * sizeof *in), *out = malloc((n - root_size) * sizeof *out), taken = 0, left = 0;
    if (!in || !out) {
        free(in), free(out);
        return dn_fail(err, DN_ERR_NOMEM, "root set: out of memory for %zu indices", n);
    }
    dn_rng rng;
    dn_rng_seed(&rng, dn_seed_derive_(seed, ROOT_TAG, n, root_size));
    /* Knuth's Algorithm S: sample i joins the root with probability (N − taken) / (n − i) */
    for (size_t i = 0; i < n; i++)
        if (taken < root_size && dn_rng_below(&rng, n - i) < root_size - taken) in[taken++] = i;
        else out[left++] = i;
    if ((*root = dn_dataset_select(set, in, root_size, err)) && !(*rest = dn_dataset_select(set, out, left, err))) {
        dn_dataset_free(*root);
        *root = NULL;
    }
    free(in), free(out);
    return *root ? DN_OK : err ? err->code : DN_ERR_NOMEM;
}

dn_partition *dn_partition_make(const dn_dataset *set, size_t n, size_t clients, const dn_partition_spec *spec,
                                uint64_t seed, dn_error *err)
{
    if (!set || !spec) {
        dn_fail(err, DN_ERR_USAGE, "partition: no data set or no spec given");
        return NULL;
    }
    if (n < 1 || n > set->count) {
        dn_fail(err, DN_ERR_USAGE, "partition: train size %zu is outside the set (valid: 1 to %zu)", n, set->count);
        return NULL;
    }
    if (clients < 1 || clients > n) {
        dn_fail(err, DN_ERR_USAGE, "partition: %zu clients for %zu samples (valid: 1 to %zu)", clients, n, n);
        return NULL;
    }
    if (check_spec(spec, n, clients, err) != DN_OK) return NULL;
    for (size_t i = 0; i < n; i++)
        if (set->labels[i] >= DN_CLASSES) {
            dn_fail(err, DN_ERR_USAGE, "partition: label %u of sample %zu is outside 0-9", set->labels[i], i);
            return NULL;
        }
    size_t *owner = malloc(n * sizeof *owner);
    if (!owner) {
        dn_fail(err, DN_ERR_NOMEM, "partition: out of memory for %zu samples", n);
        return NULL;
    }
    dn_rng rng;
    dn_rng_seed(&rng, seed);
    dn_status s = DN_OK;
    switch (spec->kind) {
    case DN_PARTITION_IID: s = owners_iid(n, clients, &rng, owner, err); break;
    case DN_PARTITION_SHARDS: s = owners_shards(set->labels, n, clients, spec->shards, &rng, owner, err); break;
    case DN_PARTITION_DIRICHLET: s = owners_dirichlet(set->labels, n, clients, spec, &rng, owner, err); break;
    case DN_PARTITION_QUANTITY: s = owners_quantity(n, clients, spec->sigma, &rng, owner, err); break;
    }
    dn_partition *part = s == DN_OK ? from_owners(owner, set->labels, n, clients, err) : NULL;
    free(owner);
    if (!part) return NULL;
    part->spec = *spec;
    part->seed = seed;
    dn_dataset first = dn_dataset_view(set, 0, n);
    part->data_crc32 = dn_dataset_crc32(&first);
    return part;
}

size_t dn_partition_clients(const dn_partition *part) { return part->clients; }
size_t dn_partition_train_size(const dn_partition *part) { return part->n; }
const dn_partition_spec *dn_partition_get_spec(const dn_partition *part) { return &part->spec; }
uint64_t dn_partition_seed(const dn_partition *part) { return part->seed; }
uint32_t dn_partition_data_crc32(const dn_partition *part) { return part->data_crc32; }

size_t dn_partition_client_size(const dn_partition *part, size_t k)
{
    return k < part->clients ? part->first[k + 1] - part->first[k] : 0;
}

const size_t *dn_partition_client_indices(const dn_partition *part, size_t k)
{
    return k < part->clients ? part->index + part->first[k] : NULL;
}

const size_t *dn_partition_label_counts(const dn_partition *part, size_t k)
{
    return k < part->clients ? part->counts + k * DN_CLASSES : NULL;
}

dn_dataset *dn_partition_client_set(const dn_partition *part, const dn_dataset *set, size_t k, dn_error *err)
{
    if (k >= part->clients) {
        dn_fail(err, DN_ERR_USAGE, "partition: client %zu is outside [0, %zu)", k, part->clients);
        return NULL;
    }
    if (!set || set->count < part->n) {
        dn_fail(err, DN_ERR_USAGE, "partition: the set holds %zu samples, the partition %zu", set ? set->count : 0,
                part->n);
        return NULL;
    }
    return dn_dataset_select(set, dn_partition_client_indices(part, k), dn_partition_client_size(part, k), err);
}

/* ------------------------------------------------------------ the file */

dn_status dn_partition_save(const dn_partition *part, const char *path, dn_error *err)
{
    size_t n = part->n, k = part->clients, cells = k * DN_CLASSES;
    int64_t *client = malloc((n ? n : 1) * sizeof *client), *counts = malloc(cells * sizeof *counts);
    if (!client || !counts) {
        free(client), free(counts);
        return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for the partition's tensors", path);
    }
    for (size_t c = 0; c < k; c++)
        for (size_t i = part->first[c]; i < part->first[c + 1]; i++) client[part->index[i]] = (int64_t)c;
    for (size_t i = 0; i < cells; i++) counts[i] = (int64_t)part->counts[i];
    char spec[64], clients[32], train_size[32], seed[32], crc[16];
    dn_partition_format(&part->spec, spec, sizeof spec);
    snprintf(clients, sizeof clients, "%zu", k);
    snprintf(train_size, sizeof train_size, "%zu", n);
    snprintf(seed, sizeof seed, "%" PRIu64, part->seed);
    snprintf(crc, sizeof crc, "%08" PRIx32, part->data_crc32);
    const dn_meta_entry meta[] = {
        {"format", PARTITION_FORMAT}, {"format_version", PARTITION_FORMAT_VERSION}, {"kind", PARTITION_KIND},
        {"clients", clients},         {"train_size", train_size},                   {"spec", spec},
        {"seed", seed},               {"data_crc32", crc},
    };
    const dn_tensor tensors[] = {
        {"client", DN_DTYPE_I64, 1, {n}, client},
        {"label_counts", DN_DTYPE_I64, 2, {k, DN_CLASSES}, counts},
    };
    dn_status s = dn_st_write(path, tensors, 2, meta, sizeof meta / sizeof *meta, err);
    free(client), free(counts);
    return s;
}

/* NULL after filling err with DN_ERR_INPUT "<path>: <what>". */
#define BAD_FILE(...)                                       \
    do {                                                    \
        dn_fail(err, DN_ERR_INPUT, __VA_ARGS__);            \
        goto fail;                                          \
    } while (0)

static const char *meta_of(const dn_st_file *file, const char *key, const char *path, dn_error *err)
{
    const char *v = dn_st_meta(file, key);
    if (!v) dn_fail(err, DN_ERR_INPUT, "%s: partition metadata lacks '%s'", path, key);
    return v;
}

static const dn_tensor *tensor_of(const dn_st_file *file, const char *name, int ndim, const size_t *shape,
                                  const char *path, dn_error *err)
{
    const dn_tensor *t = dn_st_find(file, name);
    int same = t && t->dtype == DN_DTYPE_I64 && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char want[64];
        dn_format_shape(want, sizeof want, shape, ndim);
        dn_fail(err, DN_ERR_INPUT, "%s: partition tensor '%s' must be I64 of shape %s%s", path, name, want,
                t ? "" : " (absent)");
        return NULL;
    }
    return t;
}

dn_partition *dn_partition_load(const char *path, const dn_dataset *set, dn_error *err)
{
    dn_st_file *file = dn_st_read(path, err);
    if (!file) return NULL;
    dn_partition *part = NULL;
    size_t *owner = NULL;
    const char *format = dn_st_meta(file, "format"), *version = dn_st_meta(file, "format_version");
    const char *kind = dn_st_meta(file, "kind");
    if (!format || strcmp(format, PARTITION_FORMAT) != 0)
        BAD_FILE("%s: not a digitnet file (metadata 'format' is %s)", path,
                 format ? "not \"" PARTITION_FORMAT "\"" : "absent");
    if (!version || strcmp(version, PARTITION_FORMAT_VERSION) != 0)
        BAD_FILE("%s: partition format version is %s (this build reads %s)", path,
                 version ? "not supported" : "absent", PARTITION_FORMAT_VERSION);
    if (!kind || strcmp(kind, PARTITION_KIND) != 0)
        BAD_FILE("%s: not a partition (its kind is %s)", path,
                 !kind ? "absent" : strstr(kind, "checkpoint") ? "a checkpoint" : "a model");
    if (!dn_st_meta(file, "payload_crc32")) BAD_FILE("%s: partition has no payload_crc32: cannot verify it", path);
    const char *text;
    uint64_t k, n, seed, crc;
    if (!(text = meta_of(file, "train_size", path, err))) goto fail;
    if (dn_parse_u64(text, DN_DATASET_MAX_COUNT, &n) != 0 || n < 1)
        BAD_FILE("%s: partition metadata 'train_size' must be a whole number from 1 to %u", path, DN_DATASET_MAX_COUNT);
    if (!(text = meta_of(file, "clients", path, err))) goto fail;
    if (dn_parse_u64(text, n, &k) != 0 || k < 1)
        BAD_FILE("%s: partition metadata 'clients' must be a whole number from 1 to %" PRIu64 " (train_size)", path, n);
    if (!(text = meta_of(file, "seed", path, err))) goto fail;
    if (dn_parse_u64(text, UINT64_MAX, &seed) != 0)
        BAD_FILE("%s: partition metadata 'seed' must be a whole number", path);
    if (!(text = meta_of(file, "data_crc32", path, err))) goto fail;
    crc = 0;
    for (size_t i = 0; i < 8; i++) {
        const char *digit = text[i] ? strchr("0123456789abcdef", text[i]) : NULL;
        if (!digit) BAD_FILE("%s: partition metadata 'data_crc32' must be 8 lowercase hex digits", path);
        crc = crc * 16 + (uint64_t)(digit - "0123456789abcdef");
    }
    if (text[8] != '\0') BAD_FILE("%s: partition metadata 'data_crc32' must be 8 lowercase hex digits", path);
    if (!(text = meta_of(file, "spec", path, err))) goto fail;
    dn_partition_spec spec;
    dn_error spec_err;
    if (dn_partition_parse(text, &spec, &spec_err) != DN_OK || check_spec(&spec, (size_t)n, (size_t)k, &spec_err) != DN_OK)
        BAD_FILE("%s: partition metadata 'spec' is not a valid spec for %" PRIu64 " clients of %" PRIu64 " samples", path,
                 k, n);
    size_t n_shape[1] = {(size_t)n}, c_shape[2] = {(size_t)k, DN_CLASSES};
    const dn_tensor *client = tensor_of(file, "client", 1, n_shape, path, err);
    const dn_tensor *counts = client ? tensor_of(file, "label_counts", 2, c_shape, path, err) : NULL;
    if (!counts) goto fail;
    owner = malloc((size_t)n * sizeof *owner);
    if (!owner) {
        dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for %" PRIu64 " samples", path, n);
        goto fail;
    }
    const int64_t *cv = client->data, *lv = counts->data;
    for (size_t i = 0; i < n; i++) {
        if (cv[i] < 0 || (uint64_t)cv[i] >= k)
            BAD_FILE("%s: partition tensor 'client' gives sample %zu the client %" PRId64 " (valid: 0 to %" PRIu64 ")",
                     path, i, cv[i], k - 1);
        owner[i] = (size_t)cv[i];
    }
    if (set) {
        if (set->count < n) {
            dn_fail(err, DN_ERR_USAGE, "%s: the partition covers %" PRIu64 " samples, the training set holds %zu", path,
                    n, set->count);
            goto fail;
        }
        dn_dataset first = dn_dataset_view(set, 0, (size_t)n);
        uint32_t have = dn_dataset_crc32(&first);
        if (have != (uint32_t)crc) {
            dn_fail(err, DN_ERR_USAGE,
                    "%s: the partition was made from other data (CRC-32 of the first %" PRIu64
                    " samples %08" PRIx32 ", the file records %08" PRIx32 ")",
                    path, n, have, (uint32_t)crc);
            goto fail;
        }
        for (size_t i = 0; i < n; i++)
            if (set->labels[i] >= DN_CLASSES) BAD_FILE("%s: label of sample %zu is outside 0-9", path, i);
    }
    part = from_owners(owner, set ? set->labels : NULL, (size_t)n, (size_t)k, err);
    if (!part) {
        dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for %" PRIu64 " samples over %" PRIu64 " clients", path, n, k);
        goto fail;
    }
    for (size_t c = 0; c < k; c++) {
        size_t sum = 0;
        for (int d = 0; d < DN_CLASSES; d++) {
            int64_t v = lv[c * DN_CLASSES + d];
            if (v < 0 || (uint64_t)v > n)
                BAD_FILE("%s: partition tensor 'label_counts' holds %" PRId64 " at (%zu, %d)", path, v, c, d);
            if (set && part->counts[c * DN_CLASSES + d] != (size_t)v)
                BAD_FILE("%s: partition tensor 'label_counts' disagrees with the data at client %zu, label %d", path,
                         c, d);
            part->counts[c * DN_CLASSES + d] = (size_t)v;
            sum += (size_t)v;
        }
        if (sum != dn_partition_client_size(part, c))
            BAD_FILE("%s: partition tensor 'label_counts' sums to %zu for client %zu, which has %zu samples", path, sum,
                     c, dn_partition_client_size(part, c));
    }
    part->spec = spec;
    part->seed = seed;
    part->data_crc32 = (uint32_t)crc;
    free(owner);
    dn_st_free(file);
    return part;
fail:
    dn_partition_free(part);
    free(owner);
    dn_st_free(file);
    return NULL;
}
