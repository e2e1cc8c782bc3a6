/*
 * augment.c — elastic and affine distortions of 28×28 images, and the
 * pipeline that distorts an epoch's next batches on worker threads while
 * the network trains on the current one (formulas in digitnet.h,
 * Augmentation).
 *
 * Every image's distortion is a function of its key alone (a dn_rng seeded
 * by it), so which worker draws it, and when, does not matter. Nothing is
 * allocated per image: a distortion's fields live on the worker's stack.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digitnet.h"
#include "internal.h"

#define SIDE 28
#define CENTRE 13.5f
#define RADIUS_MAX 30 /* ⌈3 · DN_AUGMENT_SIGMA_MAX⌉ */
#define AUGMENT_TAG 0x4155474d454e54ULL /* "AUGMENT" */

static const double PI = 3.14159265358979323846;

/* ---------------------------------------------------------------- settings */

int dn_augment_active(const dn_augment *aug) { return aug->elastic || aug->affine; }

static int within(double v, double lo, double hi) { return v >= lo && v <= hi; }

/* One value of a part against its range; the message names both. */
static dn_status check_value(const char *part, const char *name, double v, double hi, const char *unit,
                             dn_error *err)
{
    if (within(v, 0, hi)) return DN_OK;
    return dn_fail(err, DN_ERR_USAGE, "augment %s: %s %g is out of range (valid: 0 to %g %s)", part, name, v, hi, unit);
}

dn_status dn_augment_check(const dn_augment *a, dn_error *err)
{
    if ((a->elastic != 0 && a->elastic != 1) || (a->affine != 0 && a->affine != 1))
        return dn_fail(err, DN_ERR_USAGE, "augment: elastic and affine must be 0 or 1");
    dn_status s = DN_OK;
    if (a->elastic && !(s = check_value("elastic", "SIGMA", a->sigma, DN_AUGMENT_SIGMA_MAX, "pixels", err)))
        s = check_value("elastic", "ALPHA", a->alpha, 100, "pixels", err);
    if (s || !a->affine) return s;
    if (!(s = check_value("affine", "ROT", a->rotate, 180, "degrees", err)) &&
        !(s = check_value("affine", "SCALE", a->scale, 0.9, "(a fraction: 0.1 = +-10%)", err)) &&
        !(s = check_value("affine", "SHEAR", a->shear, 60, "degrees", err)))
        s = check_value("affine", "SHIFT", a->shift, 14, "pixels", err);
    return s;
}

/* n comma-separated finite numbers from text up to end into v; 1 when
 * that is exactly what is there. */
static int read_numbers(const char *text, const char *end, double *v, int n)
{
    const char *at = text;
    for (int i = 0; i < n; i++) {
        char *stop;
        v[i] = strtod(at, &stop);
        if (stop == at || !isfinite(v[i])) return 0;
        at = stop;
        if (i < n - 1 && (at >= end || *at++ != ',')) return 0;
    }
    return at == end;
}

/* One part, text … end: "elastic:S,A" or "affine:R,S,H,T". */
static dn_status parse_part(const char *text, const char *end, dn_augment *aug, dn_error *err)
{
    const int len = (int)(end - text);
    double v[4];
    dn_augment a = *aug;
    if (strncmp(text, "elastic:", 8) == 0) {
        if (!read_numbers(text + 8, end, v, 2))
            return dn_fail(err, DN_ERR_USAGE, "augment '%.*s': expected elastic:SIGMA,ALPHA, two numbers (pixels; "
                           "e.g. elastic:4,34)", len, text);
        a.elastic = 1, a.sigma = v[0], a.alpha = v[1];
    } else if (strncmp(text, "affine:", 7) == 0) {
        if (!read_numbers(text + 7, end, v, 4))
            return dn_fail(err, DN_ERR_USAGE, "augment '%.*s': expected affine:ROT,SCALE,SHEAR,SHIFT, four numbers "
                           "(degrees, fraction, degrees, pixels; e.g. affine:10,0.1,10,2)", len, text);
        a.affine = 1, a.rotate = v[0], a.scale = v[1], a.shear = v[2], a.shift = v[3];
    } else
        return dn_fail(err, DN_ERR_USAGE, "augment '%.*s': unknown kind (valid: elastic:SIGMA,ALPHA and "
                       "affine:ROT,SCALE,SHEAR,SHIFT)", len, text);
    dn_status s = dn_augment_check(&a, err);
    if (!s) *aug = a;
    return s;
}

dn_status dn_augment_parse(const char *text, dn_augment *aug, dn_error *err)
{
    if (text && strcmp(text, "none") == 0) {
        memset(aug, 0, sizeof *aug);
        return DN_OK;
    }
    dn_augment a = *aug;
    const char *at = text;
    do {
        const char *plus = strchr(at, '+'), *end = plus ? plus : at + strlen(at);
        dn_status s = parse_part(at, end, &a, err);
        if (s) return s;
        at = plus ? plus + 1 : NULL;
    } while (at);
    *aug = a;
    return DN_OK;
}

void dn_augment_format(const dn_augment *a, char *out, size_t cap)
{
    if (!cap) return;
    out[0] = '\0';
    int n = 0;
    if (a->elastic) n = snprintf(out, cap, "elastic:%.15g,%.15g", a->sigma, a->alpha);
    if (a->affine && n >= 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "%saffine:%.15g,%.15g,%.15g,%.15g", n ? "+" : "", a->rotate, a->scale,
                 a->shear, a->shift);
}

/* ---------------------------------------------------------------- one image */

uint64_t dn_augment_key(uint64_t seed, int epoch, size_t index)
{
    return dn_seed_derive_(seed, AUGMENT_TAG, (uint64_t)(int64_t)epoch, (uint64_t)index);
}

/* 32 random bits for entry j of a field whose stream is k: murmur3's
 * finaliser of a Weyl sequence (a bijection with full avalanche). A hash
 * of the counter rather than a generator's next draw, so the 1568 values
 * of an image's two fields are independent computations: the loop
 * vectorises. */
static inline uint32_t hash32(uint32_t k, uint32_t j)
{
    uint32_t x = k + j * 0x9e3779b9u;
    x ^= x >> 16, x *= 0x85ebca6bu;
    x ^= x >> 13, x *= 0xc2b2ae35u;
    return x ^ (x >> 16);
}

/* U[−1, 1) from 32 random bits. */
static float signed_unit(uint32_t bits) { return (float)((int32_t)bits) * 0x1.0p-31f; }

/* The normalised Gaussian of σ, taps g[0 … 2r]; returns r = ⌈3σ⌉. */
static int gaussian(double sigma, float g[2 * RADIUS_MAX + 1])
{
    const int r = (int)ceil(3.0 * sigma);
    if (r == 0) {
        g[0] = 1.0f;
        return 0;
    }
    double w[2 * RADIUS_MAX + 1], sum = 0;
    for (int k = -r; k <= r; k++) sum += w[k + r] = exp(-0.5 * (double)(k * k) / (sigma * sigma));
    for (int k = 0; k <= 2 * r; k++) g[k] = (float)(w[k] / sum);
    return r;
}

#define STRIDE 32 /* a smoothing row: 28 columns and 4 of slack, so the loops over x run whole vectors */
#define GROUP 4   /* rows summed at once: four independent chains of additions, where one waited on each add */

typedef float half_row __attribute__((vector_size(STRIDE / 2 * sizeof(float)))); /* 16 lanes: one register */

static inline half_row load_half(const float *p)
{
    half_row v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* out(i)[x] = Σ_k g[k] · in(i)[x + k · tap], k = 0 … 2r in order, for
 * GROUP rows i at once, in(i) = base + i · step, out(i) = out + i · STRIDE.
 * Each sum starts at 0 and adds its products in the order of the one-row
 * loop this replaced: the same bits, with GROUP · 2 independent chains of
 * additions where one row's two waited on each add. */
static void smooth_group(float *out, const float *base, size_t step, size_t tap, const float *g, int r)
{
    _Static_assert(GROUP == 4 && STRIDE == 32, "four rows of two registers");
    half_row a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
    const float *p0 = base, *p1 = base + step, *p2 = base + 2 * step, *p3 = base + 3 * step;
    for (int k = 0; k <= 2 * r; k++) {
        const float w = g[k];
        const size_t at = (size_t)k * tap, half = STRIDE / 2;
        a0 += w * load_half(p0 + at), b0 += w * load_half(p0 + at + half);
        a1 += w * load_half(p1 + at), b1 += w * load_half(p1 + at + half);
        a2 += w * load_half(p2 + at), b2 += w * load_half(p2 + at + half);
        a3 += w * load_half(p3 + at), b3 += w * load_half(p3 + at + half);
    }
    const half_row rows[2 * GROUP] = {a0, b0, a1, b1, a2, b2, a3, b3};
    memcpy(out, rows, sizeof rows);
}

/* f = α · (f smoothed by g, radius r), zero outside the image: rows, then
 * columns, GROUP rows at a time, through copies with zeros around the
 * image (a tap on a zero adds +0, which leaves a sum as it was: none of
 * these sums is −0, as each starts at +0). */
static void smooth(float f[DN_IMAGE_PIXELS], const float *g, int r, float alpha)
{
    _Static_assert(SIDE % GROUP == 0, "whole groups of rows");
    float rows[SIDE][STRIDE + 2 * RADIUS_MAX], cols[SIDE + 2 * RADIUS_MAX][STRIDE];
    memset(rows, 0, sizeof rows);
    memset(cols, 0, sizeof cols);
    for (int y = 0; y < SIDE; y++) memcpy(rows[y] + r, f + y * SIDE, SIDE * sizeof **rows);
    for (int y = 0; y < SIDE; y += GROUP) smooth_group(cols[y + r], rows[y], STRIDE + 2 * RADIUS_MAX, 1, g, r);
    float out[GROUP][STRIDE];
    for (int y = 0; y < SIDE; y += GROUP) {
        smooth_group(out[0], cols[y], STRIDE, STRIDE, g, r);
        for (int i = 0; i < GROUP; i++)
            for (int x = 0; x < SIDE; x++) f[(y + i) * SIDE + x] = alpha * out[i][x];
    }
}

/* The elastic field e = α · (U[−1, 1] smoothed), (ex, ey). */
static void elastic_field(const dn_augment *aug, dn_rng *rng, float *ex, float *ey)
{
    const uint64_t streams = dn_rng_next(rng);
    const uint32_t kx = (uint32_t)streams, ky = (uint32_t)(streams >> 32);
    for (uint32_t i = 0; i < DN_IMAGE_PIXELS; i++) {
        ex[i] = signed_unit(hash32(kx, i));
        ey[i] = signed_unit(hash32(ky, i));
    }
    float g[2 * RADIUS_MAX + 1];
    const int r = gaussian(aug->sigma, g);
    smooth(ex, g, r, (float)aug->alpha);
    smooth(ey, g, r, (float)aug->alpha);
}

static double uniform_in(dn_rng *rng, double range) { return range * (2.0 * dn_rng_uniform(rng) - 1.0); }

void dn_augment_compose(const dn_affine *affine, const float *ex, const float *ey, float *dx, float *dy)
{
    /* A⁻¹ = (1/s) [[1, −tan φ], [0, 1]] R(−θ) */
    float m00 = 1, m01 = 0, m10 = 0, m11 = 1, tx = 0, ty = 0;
    if (affine) {
        const double th = affine->rotate * PI / 180, k = tan(affine->shear * PI / 180), is = 1.0 / affine->scale;
        const double c = cos(th), s = sin(th);
        m00 = (float)(is * (c + k * s)), m01 = (float)(is * (s - k * c));
        m10 = (float)(is * -s), m11 = (float)(is * c);
        tx = (float)affine->tx, ty = (float)affine->ty;
    }
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            const int i = y * SIDE + x;
            const float u = (float)x + (ex ? ex[i] : 0.0f) - CENTRE - tx;
            const float v = (float)y + (ey ? ey[i] : 0.0f) - CENTRE - ty;
            dx[i] = (m00 * u + m01 * v + CENTRE) - (float)x;
            dy[i] = (m10 * u + m11 * v + CENTRE) - (float)y;
        }
}

void dn_augment_field(const dn_augment *aug, uint64_t key, float *dx, float *dy)
{
    dn_rng rng;
    dn_rng_seed(&rng, key);
    dn_affine a = {0, 1, 0, 0, 0};
    if (aug->affine) {
        a.rotate = uniform_in(&rng, aug->rotate), a.scale = 1.0 + uniform_in(&rng, aug->scale);
        a.shear = uniform_in(&rng, aug->shear);
        a.tx = uniform_in(&rng, aug->shift), a.ty = uniform_in(&rng, aug->shift);
    }
    if (!aug->elastic) {
        dn_augment_compose(aug->affine ? &a : NULL, NULL, NULL, dx, dy);
        return;
    }
    float ex[DN_IMAGE_PIXELS], ey[DN_IMAGE_PIXELS];
    elastic_field(aug, &rng, ex, ey);
    dn_augment_compose(aug->affine ? &a : NULL, ex, ey, dx, dy);
}

/* The ink's bounding box of an image: columns [*x0, *x1], rows [*y0, *y1]
 * (x0 > x1 when the image is blank). */
static void ink_box(const uint8_t *in, int *x0, int *x1, int *y0, int *y1)
{
    *x0 = *y0 = SIDE, *x1 = *y1 = -1;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            if (in[y * SIDE + x]) {
                *x0 = x < *x0 ? x : *x0, *x1 = x > *x1 ? x : *x1;
                *y0 = y < *y0 ? y : *y0, *y1 = y > *y1 ? y : *y1;
            }
}

void dn_augment_warp(const uint8_t *in, const float *dx, const float *dy, uint8_t *out)
{
    /* the image with a one-pixel frame of zeros. A source whose 4
     * neighbours all lie outside the ink's box (grown by one pixel) reads 0:
     * one test per pixel (a branch, well predicted: only sources near the
     * box's edge vary; faster here than a branch-free loop with gathers),
     * and it also keeps every neighbour read inside the frame */
    float pad[SIDE + 2][SIDE + 2];
    int x0, x1, y0, y1;
    ink_box(in, &x0, &x1, &y0, &y1);
    memset(pad, 0, sizeof pad);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) pad[y + 1][x + 1] = (float)in[y * SIDE + x];
    const float lo_x = (float)x0 - 1.0f, hi_x = (float)x1, lo_y = (float)y0 - 1.0f, hi_y = (float)y1;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            const int i = y * SIDE + x;
            const float u = (float)x + dx[i], v = (float)y + dy[i];
            const float fu = floorf(u), fv = floorf(v);
            if (!(fu >= lo_x && fu <= hi_x && fv >= lo_y && fv <= hi_y)) {
                out[i] = 0; /* every neighbour is outside the ink (or the source is NaN) */
                continue;
            }
            const int c = (int)fu + 1, r = (int)fv + 1;
            const float a = u - fu, b = v - fv;
            float val = (1 - a) * (1 - b) * pad[r][c] + a * (1 - b) * pad[r][c + 1] + (1 - a) * b * pad[r + 1][c] +
                        a * b * pad[r + 1][c + 1];
            val = val < 0 ? 0 : val > 255 ? 255 : val;
            out[i] = (uint8_t)(val + 0.5f);
        }
}

void dn_augment_image(const dn_augment *aug, uint64_t key, const uint8_t *in, uint8_t *out)
{
    if (!dn_augment_active(aug)) {
        memcpy(out, in, DN_IMAGE_PIXELS);
        return;
    }
    float dx[DN_IMAGE_PIXELS], dy[DN_IMAGE_PIXELS];
    dn_augment_field(aug, key, dx, dy);
    dn_augment_warp(in, dx, dy, out);
}

void dn_augment_batch(const dn_augment *aug, uint64_t seed, int epoch, const uint8_t *images, const uint32_t *rows,
                      size_t count, uint8_t *out)
{
    for (size_t i = 0; i < count; i++) {
        const size_t row = rows ? rows[i] : i;
        dn_augment_image(aug, dn_augment_key(seed, epoch, row), images + row * DN_IMAGE_PIXELS,
                         out + i * DN_IMAGE_PIXELS);
    }
}

/* ---------------------------------------------------------------- the pipeline */

#define WORKERS_MAX 64
#define DEPTH_MAX 64
#define NOT_READY ((size_t)-1)

/* Batch j of the epoch lives in slot j % depth. Slots of batches
 * [released, claimed) are in use: claimed by a worker, ready, or held by
 * the consumer; a worker claims batch `claimed` only while fewer than
 * depth are. All fields below the mutex are guarded by it. */
struct dn_augment_pipeline {
    dn_augment aug;
    uint64_t seed;
    int workers, started;
    size_t depth, batch_max;
    pthread_t thread[WORKERS_MAX];
    uint8_t *images, *labels; /* (depth, batch_max, 784), (depth, batch_max) */
    dn_dataset view[DEPTH_MAX];
    pthread_mutex_t mu;
    pthread_cond_t work;  /* a batch may be claimed, or quit */
    pthread_cond_t ready; /* a batch is ready, or a worker went idle */
    size_t slot_batch[DEPTH_MAX]; /* the batch a slot holds, NOT_READY while empty or being filled */
    const dn_dataset *set;
    const uint32_t *order;
    size_t n, batch, nbatches, claimed, released, handed, busy;
    int epoch, quit;
};

/* Fills batch j's slot (called without the lock; the epoch's fields do not
 * change while busy > 0). */
static void fill_batch(dn_augment_pipeline *p, size_t j)
{
    const size_t slot = j % p->depth, first = j * p->batch;
    const size_t count = p->n - first < p->batch ? p->n - first : p->batch;
    uint8_t *images = p->images + slot * p->batch_max * DN_IMAGE_PIXELS, *labels = p->labels + slot * p->batch_max;
    for (size_t b = 0; b < count; b++) {
        const size_t row = p->order ? p->order[first + b] : first + b;
        dn_augment_image(&p->aug, dn_augment_key(p->seed, p->epoch, row), p->set->images + row * DN_IMAGE_PIXELS,
                         images + b * DN_IMAGE_PIXELS);
        labels[b] = p->set->labels[row];
    }
    p->view[slot] = (dn_dataset){count, images, labels, 0, NULL};
}

static int can_claim(const dn_augment_pipeline *p)
{
    return p->claimed < p->nbatches && p->claimed < p->released + p->depth;
}

static void *worker_main(void *arg)
{
    dn_augment_pipeline *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && !can_claim(p)) pthread_cond_wait(&p->work, &p->mu);
        if (p->quit) break;
        const size_t j = p->claimed++;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        fill_batch(p, j);
        pthread_mutex_lock(&p->mu);
        p->busy--;
        p->slot_batch[j % p->depth] = j;
        pthread_cond_broadcast(&p->ready);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void stop_workers(dn_augment_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int t = 0; t < p->started; t++) pthread_join(p->thread[t], NULL);
    p->started = 0;
}

void dn_augment_pipeline_free(dn_augment_pipeline *p)
{
    if (!p) return;
    stop_workers(p);
    pthread_cond_destroy(&p->ready);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p->images);
    free(p->labels);
    free(p);
}

/* The mutex, the conditions and the buffers; 0 on success. */
static int pipeline_init(dn_augment_pipeline *p)
{
    if (pthread_mutex_init(&p->mu, NULL)) return -1;
    if (pthread_cond_init(&p->work, NULL)) {
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    if (pthread_cond_init(&p->ready, NULL)) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    for (size_t i = 0; i < DEPTH_MAX; i++) p->slot_batch[i] = NOT_READY;
    p->images = malloc(p->depth * p->batch_max * DN_IMAGE_PIXELS);
    p->labels = malloc(p->depth * p->batch_max);
    return 0;
}

dn_augment_pipeline *dn_augment_pipeline_create(const dn_augment *aug, uint64_t seed, int workers, size_t depth,
                                                size_t batch_max, dn_error *err)
{
    if (dn_augment_check(aug, err)) return NULL;
    if (!dn_augment_active(aug) || workers < 1 || workers > WORKERS_MAX || depth < 2 || depth > DEPTH_MAX ||
        batch_max < 1 || batch_max > DN_MLP_BATCH_MAX) {
        dn_fail(err, DN_ERR_USAGE, "augment pipeline: needs an active augmentation, 1 to %d workers, 2 to %d slots "
                "and batches of 1 to %d images (got %d, %zu, %zu)", WORKERS_MAX, DEPTH_MAX, DN_MLP_BATCH_MAX, workers,
                depth, batch_max);
        return NULL;
    }
    dn_augment_pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the augmentation pipeline");
        return NULL;
    }
    p->aug = *aug, p->seed = seed, p->workers = workers, p->depth = depth, p->batch_max = batch_max;
    if (pipeline_init(p)) {
        free(p);
        dn_fail(err, DN_ERR_NOMEM, "cannot set up the augmentation pipeline's lock");
        return NULL;
    }
    if (!p->images || !p->labels) {
        dn_augment_pipeline_free(p);
        dn_fail(err, DN_ERR_NOMEM, "out of memory for %zu batches of %zu augmented images", depth, batch_max);
        return NULL;
    }
    for (; p->started < workers; p->started++)
        if (pthread_create(&p->thread[p->started], NULL, worker_main, p)) {
            dn_augment_pipeline_free(p);
            dn_fail(err, DN_ERR_NOMEM, "cannot start an augmentation worker thread");
            return NULL;
        }
    return p;
}

void dn_augment_pipeline_finish(dn_augment_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    p->nbatches = 0; /* nothing more to claim */
    while (p->busy > 0) pthread_cond_wait(&p->ready, &p->mu);
    for (size_t i = 0; i < p->depth; i++) p->slot_batch[i] = NOT_READY;
    p->set = NULL, p->order = NULL;
    p->n = p->batch = p->claimed = p->released = p->handed = 0;
    pthread_mutex_unlock(&p->mu);
}

dn_status dn_augment_pipeline_start(dn_augment_pipeline *p, const dn_dataset *set, const uint32_t *order, size_t n,
                                    size_t batch, int epoch, dn_error *err)
{
    if (batch < 1 || batch > p->batch_max)
        return dn_fail(err, DN_ERR_USAGE, "augment pipeline: batch %zu is not 1 to %zu", batch, p->batch_max);
    dn_augment_pipeline_finish(p);
    pthread_mutex_lock(&p->mu);
    p->set = set, p->order = order, p->n = n, p->batch = batch, p->epoch = epoch;
    p->nbatches = (n + batch - 1) / batch;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    return DN_OK;
}

const dn_dataset *dn_augment_pipeline_next(dn_augment_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->handed > p->released) { /* the batch handed last is done with: its slot is free */
        p->slot_batch[(p->handed - 1) % p->depth] = NOT_READY;
        p->released = p->handed;
        pthread_cond_broadcast(&p->work);
    }
    const dn_dataset *out = NULL;
    if (p->handed < p->nbatches) {
        const size_t j = p->handed, slot = j % p->depth;
        while (p->slot_batch[slot] != j) pthread_cond_wait(&p->ready, &p->mu);
        p->handed++;
        out = &p->view[slot];
    }
    pthread_mutex_unlock(&p->mu);
    return out;
}

const dn_dataset *dn_augment_pipeline_peek(dn_augment_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    const dn_dataset *out = NULL;
    if (p->handed < p->nbatches) { /* its slot stays claimed: released never passes handed */
        const size_t j = p->handed, slot = j % p->depth;
        while (p->slot_batch[slot] != j) pthread_cond_wait(&p->ready, &p->mu);
        out = &p->view[slot];
    }
    pthread_mutex_unlock(&p->mu);
    return out;
}
