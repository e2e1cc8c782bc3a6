/*
 * detect.c — suspicion scores for a round's updates (Krum's score, cosine
 * to the median update, robust norm z-score, FLTrust's distrust), so that
 * the federated round can leave the flagged clients out of its merge.
 * Scale-free by construction: each score is a ratio or an angle, so one
 * threshold serves any model size and learning rate.
 *
 * Shapes: models (K, P) row-major, one model per row; reference (P).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "robust_internal.h"

/* Entry i names method i; NULL-terminated for the CLI's choice list. */
static const char *const detect_names[] = {"none", "krum", "cosine", "norm", "fltrust", NULL};
#define DETECT_METHODS (sizeof detect_names / sizeof *detect_names - 1)

/* The default thresholds, one per method, kept together so that tuning
 * them is one edit. Chosen from the scores of 20–60 rounds of the 2NN on
 * MNIST (K = 100, C = 0.1, B = 10, 20 % attackers, docs/distributed.md
 * "Choosing the thresholds"): the honest clients' largest scores were
 * about 1.2–1.3 (krum, IID), 0.87 (cosine), 4–6.7 (norm), and FLTrust's
 * trust of honest updates was often 0 with a root set of 100. */
static const double detect_thresholds[DETECT_METHODS] = {
    [DN_DETECT_NONE] = 0,
    [DN_DETECT_KRUM] = 1.3,      /* 30 % over the round's median Krum score */
    [DN_DETECT_COSINE] = 0.9,    /* cos < 0.1 to the median update */
    [DN_DETECT_NORM] = 5.0,      /* five robust standard deviations */
    [DN_DETECT_FLTRUST] = 0.999, /* trust < 0.001: ReLU'd to (nearly) nothing */
};

const char *dn_detect_method_name(dn_detect_method method)
{
    return (int)method >= 0 && (size_t)method < DETECT_METHODS ? detect_names[method] : "?";
}

const char *const *dn_detect_method_choices(void) { return detect_names; }

double dn_detect_default_threshold(dn_detect_method method)
{
    return (int)method >= 0 && (size_t)method < DETECT_METHODS ? detect_thresholds[method] : 0;
}

/* a / b for the scale-free ratios: 0/0 counts as 0 and x/0 as +Inf. */
static double ratio(double a, double b)
{
    if (b == 0) return a == 0 ? 0 : INFINITY;
    return a / b;
}

/* cos(a, b) from a·b, ‖a‖² and ‖b‖², clamped to [−1, 1] against rounding;
 * a zero vector has no direction: cosine 0. */
static double cosine(double dot, double aa, double bb)
{
    if (!(aa > 0 && bb > 0)) return 0;
    return fmin(fmax(dot / (sqrt(aa) * sqrt(bb)), -1), 1);
}

/* ------------------------------------------------------------------ krum */

static dn_status krum_detect(const float *models, size_t k, size_t p, int faulty, double *scores, dn_error *err)
{
    if (k < (size_t)faulty + 3) {
        /* Too few to judge; a non-finite update is still always flagged. */
        for (size_t i = 0; i < k; i++) scores[i] = dn_first_nonfinite_f32(models + i * p, p) < p ? INFINITY : 0;
        return DN_OK;
    }
    double *sorted = malloc(k * sizeof *sorted);
    if (!sorted) return dn_fail(err, DN_ERR_NOMEM, "detect krum: out of memory for %zu models", k);
    dn_status s = dn_krum_scores_(models, k, p, k - (size_t)faulty - 2, scores, err);
    if (s == DN_OK) {
        memcpy(sorted, scores, k * sizeof *sorted);
        double median = dn_median_f64_(sorted, k);
        for (size_t i = 0; i < k; i++)
            scores[i] = isinf(scores[i]) ? INFINITY : isinf(median) ? 0 : ratio(scores[i], median);
    }
    free(sorted);
    return s;
}

/* ---------------------------------------------------------------- cosine */

typedef struct cosine_work {
    float *column;   /* k: one coordinate of the finite rows */
    float *tile;     /* (k, BLOCK): a block of the finite rows, sorted column-wise in place */
    size_t *rows;    /* the finite rows, n of them */
    double *dot, *nn; /* k: Δ_i·u and ‖Δ_i‖² */
    size_t n;
} cosine_work;

enum { COSINE_BLOCK = 256, NETWORK_ROWS = 32 };

/* u[j] = the median of the n finite rows at coordinate j0 + j, for a block
 * of up to COSINE_BLOCK coordinates. Up to NETWORK_ROWS rows the block is
 * sorted column by column with an odd-even transposition network — n
 * passes of compare-exchanges between neighbouring rows, each one min and
 * one max over the whole block, which the compiler vectorises — instead
 * of one small sort per coordinate (the rows are finite, so < orders
 * them); the sorted values, and so the median, are the same either way. */
static void block_median(const float *models, size_t p, size_t j0, size_t len, cosine_work *w, double *u)
{
    const size_t n = w->n;
    if (n > NETWORK_ROWS) {
        for (size_t j = 0; j < len; j++) {
            for (size_t r = 0; r < n; r++) w->column[r] = models[w->rows[r] * p + j0 + j];
            u[j] = dn_middle_mean_(w->column, n, (n - 1) / 2);
        }
        return;
    }
    float *t = w->tile;
    for (size_t r = 0; r < n; r++) memcpy(t + r * COSINE_BLOCK, models + w->rows[r] * p + j0, len * sizeof *t);
    for (size_t pass = 0; pass < n; pass++)
        for (size_t r = pass % 2; r + 1 < n; r += 2) {
            float *a = t + r * COSINE_BLOCK, *b = a + COSINE_BLOCK;
            for (size_t j = 0; j < len; j++) {
                float lo = a[j] < b[j] ? a[j] : b[j], hi = a[j] < b[j] ? b[j] : a[j];
                a[j] = lo, b[j] = hi;
            }
        }
    const float *mid = t + (n - 1) / 2 * COSINE_BLOCK, *upper = t + n / 2 * COSINE_BLOCK;
    for (size_t j = 0; j < len; j++) u[j] = ((double)mid[j] + (double)upper[j]) / 2;
}

/* One block of coordinates [j0, j0 + len): u = the median update there,
 * then every finite row's dot and norm over it. The block keeps u in L1
 * and reads each model once in all, with no p-sized buffer. */
static double cosine_block(const float *models, size_t p, const float *reference, size_t j0, size_t len,
                           cosine_work *w)
{
    double u[COSINE_BLOCK], uu = 0;
    block_median(models, p, j0, len, w, u);
    for (size_t j = 0; j < len; j++) {
        /* median(m_ij) − w_j = median(m_ij − w_j): the median commutes with a shift */
        u[j] -= (double)reference[j0 + j];
        uu += u[j] * u[j];
    }
    for (size_t r = 0; r < w->n; r++) {
        const size_t i = w->rows[r];
        const float *row = models + i * p + j0, *ref = reference + j0;
        /* LANES partial sums, added in a fixed order: vectorised, the same every run */
        enum { LANES = 8 };
        double dot[LANES] = {0}, nn[LANES] = {0};
        size_t j = 0;
        for (; j + LANES <= len; j += LANES)
            for (size_t l = 0; l < LANES; l++) {
                double d = (double)row[j + l] - (double)ref[j + l];
                dot[l] += d * u[j + l];
                nn[l] += d * d;
            }
        for (size_t l = 0; j < len; j++, l++) {
            double d = (double)row[j] - (double)ref[j];
            dot[l] += d * u[j];
            nn[l] += d * d;
        }
        for (size_t l = 0; l < LANES; l++) w->dot[i] += dot[l], w->nn[i] += nn[l];
    }
    return uu;
}

static dn_status cosine_detect(const float *models, size_t k, size_t p, const float *reference, double *scores,
                               dn_error *err)
{
    const size_t tile_rows = k < NETWORK_ROWS ? k : NETWORK_ROWS;
    cosine_work w = {malloc(k * sizeof *w.column), malloc(tile_rows * COSINE_BLOCK * sizeof *w.tile),
                     malloc(k * sizeof *w.rows), calloc(2 * k, sizeof *w.dot), NULL, 0};
    if (!w.column || !w.tile || !w.rows || !w.dot) {
        free(w.column), free(w.tile), free(w.rows), free(w.dot);
        return dn_fail(err, DN_ERR_NOMEM, "detect cosine: out of memory for %zu models", k);
    }
    w.nn = w.dot + k;
    /* The median is taken over the finite updates: the others score +Inf whatever it is. */
    for (size_t i = 0; i < k; i++)
        if (dn_first_nonfinite_f32(models + i * p, p) == p) w.rows[w.n++] = i;
    double uu = 0;
    for (size_t j0 = 0; w.n > 0 && j0 < p; j0 += COSINE_BLOCK)
        uu += cosine_block(models, p, reference, j0, p - j0 < COSINE_BLOCK ? p - j0 : COSINE_BLOCK, &w);
    for (size_t i = 0; i < k; i++) scores[i] = INFINITY;
    for (size_t r = 0; r < w.n; r++) {
        size_t i = w.rows[r];
        scores[i] = isfinite(w.nn[i]) ? 1 - cosine(w.dot[i], w.nn[i], uu) : INFINITY;
    }
    free(w.column), free(w.tile), free(w.rows), free(w.dot);
    return DN_OK;
}

/* ------------------------------------------------------------------ norm */

static dn_status norm_detect(const float *models, size_t k, size_t p, const float *reference, double *scores,
                             dn_error *err)
{
    double *finite = malloc(k * sizeof *finite);
    if (!finite) return dn_fail(err, DN_ERR_NOMEM, "detect norm: out of memory for %zu models", k);
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        double dot;
        dn_update_dot_(models + i * p, reference, NULL, p, &dot, &scores[i]);
        scores[i] = sqrt(scores[i]); /* ‖Δ_i‖, not finite for a non-finite update */
        if (isfinite(scores[i])) finite[n++] = scores[i];
    }
    /* Median and MAD over the finite norms: the others score +Inf anyway. */
    double median = n ? dn_median_f64_(finite, n) : 0;
    for (size_t r = 0; r < n; r++) finite[r] = fabs(finite[r] - median);
    double mad = n ? dn_median_f64_(finite, n) : 0;
    for (size_t i = 0; i < k; i++)
        scores[i] = isfinite(scores[i]) ? ratio(fabs(scores[i] - median), 1.4826 * mad) : INFINITY;
    free(finite);
    return DN_OK;
}

/* --------------------------------------------------------------- fltrust */

static dn_status fltrust_detect(const float *models, size_t k, size_t p, const float *reference,
                                const float *trusted, double *scores, dn_error *err)
{
    double *norm = malloc(k * sizeof *norm), server;
    if (!norm) return dn_fail(err, DN_ERR_NOMEM, "detect fltrust: out of memory for %zu models", k);
    dn_status s = dn_fltrust_trust_(models, k, p, reference, trusted, scores, norm, &server, err);
    for (size_t i = 0; s == DN_OK && i < k; i++) scores[i] = isfinite(norm[i]) ? 1 - scores[i] : INFINITY;
    free(norm);
    return s;
}

/* ------------------------------------------------------------- dispatch */

dn_status dn_detect_scores(dn_detect_method method, const float *models, size_t k, size_t p,
                           const float *reference, const float *trusted, int faulty, double *scores, dn_error *err)
{
    const char *name = dn_detect_method_name(method);
    if (method == DN_DETECT_NONE || strcmp(name, "?") == 0)
        return dn_fail(err, DN_ERR_USAGE, "detect: no scores for method %s (%d) (valid: krum, cosine, norm, fltrust)",
                       name, (int)method);
    if (!models || !scores || k < 1) return dn_fail(err, DN_ERR_USAGE, "detect %s: no models to score", name);
    if (method != DN_DETECT_KRUM && !reference)
        return dn_fail(err, DN_ERR_USAGE, "detect %s: needs the reference model the updates are taken from", name);
    switch (method) {
    case DN_DETECT_KRUM:
        if (faulty < 0)
            return dn_fail(err, DN_ERR_USAGE, "detect krum: faulty models must be ≥ 0 (got %d)", faulty);
        return krum_detect(models, k, p, faulty, scores, err);
    case DN_DETECT_COSINE: return cosine_detect(models, k, p, reference, scores, err);
    case DN_DETECT_NORM: return norm_detect(models, k, p, reference, scores, err);
    case DN_DETECT_FLTRUST:
        if (!trusted) return dn_fail(err, DN_ERR_USAGE, "detect fltrust: needs the server's trusted model");
        return fltrust_detect(models, k, p, reference, trusted, scores, err);
    case DN_DETECT_NONE: break;
    }
    return DN_OK;
}
