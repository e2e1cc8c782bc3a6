/*
 * aggregate.c — merging K models into one (mean, coordinate-wise median,
 * trimmed mean, (multi-)Krum, norm clipping, FLTrust), the faults used to test those rules, and the split
 * of a training set into shards. Pure functions, no communicator, so
 * every rule is testable in one process.
 *
 * Shapes: models (K, P) row-major, one model per row; out (P).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "robust_internal.h"

#define SMALL_SORT 32 /* below this many values insertion sort beats qsort's call overhead */

/* Entry i names rule i; NULL-terminated for the CLI's choice list. */
static const char *const aggregate_rule_names[] = {"mean", "median", "trimmed-mean", "krum", "clip", "fltrust", NULL};

const char *dn_aggregate_rule_name(dn_aggregate_rule rule)
{
    return (int)rule >= 0 && (size_t)rule < sizeof aggregate_rule_names / sizeof *aggregate_rule_names - 1
               ? aggregate_rule_names[rule]
               : "?";
}

const char *const *dn_aggregate_rule_choices(void) { return aggregate_rule_names; }

void dn_aggregate_options_default(dn_aggregate_options *opt)
{
    opt->rule = DN_AGG_MEAN;
    opt->trim = 0.25;
    opt->faulty = 1;
    opt->select = 1;
    opt->clip = 0;
    opt->reference = NULL;
    opt->trusted = NULL;
}

/* A float is NaN or ±Inf exactly when its exponent field is all ones, the
 * largest value the field takes: a block's max of the fields (integer max,
 * which vectorises, unlike isfinite's early exit) tells whether to look
 * closer. Models are scanned whole on every merge, so this is a hot loop. */
#define NONFINITE_BLOCK 256
#define F32_EXPONENT 0x7f800000u

static uint32_t max_exponent_f32(const float *v, size_t n)
{
    uint32_t top = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, v + i, sizeof bits);
        bits &= F32_EXPONENT;
        top = bits > top ? bits : top;
    }
    return top;
}

size_t dn_first_nonfinite_f32(const float *v, size_t n)
{
    for (size_t b = 0; b < n; b += NONFINITE_BLOCK) {
        size_t len = n - b < NONFINITE_BLOCK ? n - b : NONFINITE_BLOCK;
        if (max_exponent_f32(v + b, len) < F32_EXPONENT) continue;
        for (size_t i = b; i < b + len; i++)
            if (!isfinite(v[i])) return i;
    }
    return n;
}

size_t dn_first_nonfinite_f64(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return n;
}

/* The values dropped at each end by the trimmed mean. */
static size_t trim_count(double trim, size_t k) { return (size_t)floor(trim * (double)k); }

dn_status dn_aggregate_options_check(const dn_aggregate_options *opt, size_t k, dn_error *err)
{
    if (k < 1) return dn_fail(err, DN_ERR_USAGE, "aggregation needs at least one model");
    switch (opt->rule) {
    case DN_AGG_MEAN:
    case DN_AGG_MEDIAN: return DN_OK;
    case DN_AGG_TRIMMED_MEAN:
        if (!(opt->trim >= 0 && opt->trim < 0.5))
            return dn_fail(err, DN_ERR_USAGE, "trimmed mean: trim must be in [0, 0.5) (got %g)", opt->trim);
        return DN_OK; /* t = ⌊trim·K⌋ < K/2 always leaves at least one value */
    case DN_AGG_KRUM:
        if (opt->faulty < 0)
            return dn_fail(err, DN_ERR_USAGE, "krum: the number of faulty models must be ≥ 0 (got %d)", opt->faulty);
        if (k < 2 * (size_t)opt->faulty + 3)
            return dn_fail(err, DN_ERR_USAGE,
                           "krum with f = %d faulty models needs at least 2f + 3 = %zu models, got %zu "
                           "(lower faulty or add workers)",
                           opt->faulty, 2 * (size_t)opt->faulty + 3, k);
        if (opt->select < 1)
            return dn_fail(err, DN_ERR_USAGE, "krum: select must be ≥ 1 model to average (got %d)", opt->select);
        return DN_OK;
    case DN_AGG_CLIP:
        if (!(opt->clip >= 0 && isfinite(opt->clip)))
            return dn_fail(err, DN_ERR_USAGE, "clip: the norm bound must be finite and ≥ 0 (got %g; 0: median norm)",
                           opt->clip);
        if (!opt->reference)
            return dn_fail(err, DN_ERR_USAGE, "clip: needs the reference model the updates are taken from");
        return DN_OK;
    case DN_AGG_FLTRUST:
        if (!opt->reference || !opt->trusted)
            return dn_fail(err, DN_ERR_USAGE, "fltrust: needs the reference model and the server's trusted model");
        return DN_OK;
    }
    return dn_fail(err, DN_ERR_USAGE, "unknown aggregation rule %d", (int)opt->rule);
}

/* ---------------------------------------------------------------- mean */

static dn_status check_weights(const char *rule, const double *weights, size_t k, double *sum, dn_error *err)
{
    *sum = 0;
    for (size_t i = 0; i < k; i++) {
        double w = weights ? weights[i] : 1.0;
        if (!isfinite(w) || w < 0)
            return dn_fail(err, DN_ERR_USAGE, "%s: weight %zu is %g; weights must be finite and ≥ 0", rule, i, w);
        *sum += w;
    }
    if (!(*sum > 0)) return dn_fail(err, DN_ERR_USAGE, "%s: the weights add up to 0", rule);
    return DN_OK;
}

/* out[j] = Σ_i w_i models[i][j] / wsum, in double, the terms added in
 * model order. A block of coordinates at a time, one model after another:
 * each model's row is read contiguously (vectorised) rather than the K
 * models' column j element by element, and the sums stay in L1. */
static void weighted_mean(const float *models, size_t k, size_t p, const double *weights, double wsum, float *out)
{
    enum { BLOCK = 512 };
    double acc[BLOCK];
    for (size_t j0 = 0; j0 < p; j0 += BLOCK) {
        size_t len = p - j0 < BLOCK ? p - j0 : BLOCK;
        for (size_t j = 0; j < len; j++) acc[j] = 0;
        for (size_t i = 0; i < k; i++) {
            const double w = weights ? weights[i] : 1.0;
            const float *row = models + i * p + j0;
            for (size_t j = 0; j < len; j++) acc[j] += w * (double)row[j];
        }
        for (size_t j = 0; j < len; j++) out[j0 + j] = (float)(acc[j] / wsum);
    }
}

dn_status dn_aggregate_mean(const float *models, size_t k, size_t p, const double *weights, float *out,
                            dn_error *err)
{
    if (k < 1) return dn_fail(err, DN_ERR_USAGE, "aggregation needs at least one model");
    double wsum;
    dn_status s = check_weights("mean", weights, k, &wsum, err);
    if (s) return s;
    weighted_mean(models, k, p, weights, wsum, out);
    /* A non-finite input makes its coordinate of out non-finite (w · Inf and
     * w · NaN are not finite even for w = 0), so the models are scanned only
     * when out is not finite: one pass over them, not two. */
    size_t at = dn_first_nonfinite_f32(out, p);
    if (at == p) return DN_OK;
    /* A mean lets one bad value through to every coordinate it touches, so a
     * non-finite model is refused whole rather than averaged in. */
    for (size_t i = 0; i < k; i++) {
        size_t bad = dn_first_nonfinite_f32(models + i * p, p);
        if (bad < p)
            return dn_fail(err, DN_ERR_NUMERIC, "mean: model %zu of %zu holds a non-finite value (%g at coordinate %zu)",
                           i, k, (double)models[i * p + bad], bad);
    }
    /* Finite inputs can still overflow float when averaged back (≈ FLT_MAX). */
    return dn_fail(err, DN_ERR_NUMERIC, "mean: coordinate %zu overflows float", at);
}

/* ------------------------------------------------- median, trimmed mean */

/* The total order of the robust rules: −Inf < finite < +Inf < NaN. */
static int total_less(float a, float b)
{
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return a < b;
}

static int total_compare(const void *pa, const void *pb)
{
    float a = *(const float *)pa, b = *(const float *)pb;
    return total_less(a, b) ? -1 : total_less(b, a) ? 1 : 0;
}

static void sort_values(float *v, size_t k)
{
    if (k > SMALL_SORT) {
        qsort(v, k, sizeof *v, total_compare);
        return;
    }
    for (size_t i = 1; i < k; i++) {
        float x = v[i];
        size_t j = i;
        for (; j > 0 && total_less(x, v[j - 1]); j--) v[j] = v[j - 1];
        v[j] = x;
    }
}

double dn_middle_mean_(float *column, size_t k, size_t t)
{
    sort_values(column, k);
    double acc = 0;
    for (size_t i = t; i < k - t; i++) acc += (double)column[i];
    return acc / (double)(k - 2 * t);
}

/* out[j] = mean of sorted[t … k−t−1] for every coordinate j: the median
 * when t leaves one or two values, the trimmed mean otherwise. */
static dn_status mean_of_middle(const float *models, size_t k, size_t p, size_t t, const char *rule, float *out,
                                dn_error *err)
{
    float *column = malloc(k * sizeof *column);
    if (!column) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for %zu models", rule, k);
    for (size_t j = 0; j < p; j++) {
        for (size_t i = 0; i < k; i++) column[i] = models[i * p + j];
        out[j] = (float)dn_middle_mean_(column, k, t);
    }
    free(column);
    size_t at = dn_first_nonfinite_f32(out, p);
    if (at < p)
        return dn_fail(err, DN_ERR_NUMERIC,
                       "%s: coordinate %zu is not finite: too many of the %zu models hold NaN, Inf or huge values there",
                       rule, at, k);
    return DN_OK;
}

dn_status dn_aggregate_median(const float *models, size_t k, size_t p, float *out, dn_error *err)
{
    if (k < 1) return dn_fail(err, DN_ERR_USAGE, "aggregation needs at least one model");
    /* Odd k keeps the single middle value, even k the two middle ones. */
    return mean_of_middle(models, k, p, (k - 1) / 2, "median", out, err);
}

dn_status dn_aggregate_trimmed_mean(const float *models, size_t k, size_t p, double trim, float *out, dn_error *err)
{
    dn_aggregate_options opt;
    dn_aggregate_options_default(&opt);
    opt.rule = DN_AGG_TRIMMED_MEAN;
    opt.trim = trim;
    dn_status s = dn_aggregate_options_check(&opt, k, err);
    if (s) return s;
    return mean_of_middle(models, k, p, trim_count(trim, k), "trimmed mean", out, err);
}

/* ---------------------------------------------------------------- krum */

/* ‖a − b‖², or +Inf when it is not finite (a NaN must lose, not compare false). */
/* Sums in double over LANES interleaved partial sums, added up in a fixed
 * order at the end: the same result on every run, and the compiler can
 * keep the lanes in vector registers (one running sum is a chain of
 * dependent additions, 4 cycles each). */
enum { LANES = 8, DISTANCE_BLOCK = 2048 };

static double lanes_total(const double *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Σ_j (a_j − b_j)² over n coordinates. */
static double sum_squared_difference(const float *a, const float *b, size_t n)
{
    double acc[LANES] = {0};
    size_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (size_t l = 0; l < LANES; l++) {
            double diff = (double)a[j + l] - (double)b[j + l];
            acc[l] += diff * diff;
        }
    for (size_t l = 0; j < n; j++, l++) {
        double diff = (double)a[j] - (double)b[j];
        acc[l] += diff * diff;
    }
    return lanes_total(acc);
}

/* dist (k, k) = the models' squared distances, by blocks of coordinates
 * so that the k rows' block stays in cache while every pair reads it. */
static void squared_distances(const float *models, size_t k, size_t p, double *dist)
{
    for (size_t i = 0; i < k * k; i++) dist[i] = 0;
    for (size_t j0 = 0; j0 < p; j0 += DISTANCE_BLOCK) {
        size_t len = p - j0 < DISTANCE_BLOCK ? p - j0 : DISTANCE_BLOCK;
        for (size_t i = 0; i < k; i++)
            for (size_t j = i + 1; j < k; j++)
                dist[i * k + j] += sum_squared_difference(models + i * p + j0, models + j * p + j0, len);
    }
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k; j++) {
            double d = isfinite(dist[i * k + j]) ? dist[i * k + j] : INFINITY;
            dist[i * k + j] = dist[j * k + i] = d;
        }
}

static int double_compare(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

double dn_median_f64_(double *v, size_t n)
{
    qsort(v, n, sizeof *v, double_compare);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* score[i] = Σ of the m smallest distances from model i to the others. */
static void krum_scores(const double *dist, size_t k, size_t m, double *row, double *score)
{
    for (size_t i = 0; i < k; i++) {
        size_t n = 0;
        for (size_t j = 0; j < k; j++)
            if (j != i) row[n++] = dist[i * k + j];
        qsort(row, n, sizeof *row, double_compare);
        double s = 0;
        for (size_t t = 0; t < m; t++) s += row[t];
        score[i] = s;
    }
}

dn_status dn_krum_scores_(const float *models, size_t k, size_t p, size_t m, double *score, dn_error *err)
{
    double *dist = malloc(k * k * sizeof *dist), *row = malloc(k * sizeof *row);
    if (!dist || !row) {
        free(dist), free(row);
        return dn_fail(err, DN_ERR_NOMEM, "krum: out of memory for %zu models", k);
    }
    squared_distances(models, k, p, dist);
    krum_scores(dist, k, m, row, score);
    free(dist), free(row);
    return DN_OK;
}

/* Models ordered by score, ties to the lower index: the order multi-Krum takes them in. */
typedef struct ranked {
    double score;
    size_t index;
} ranked;

static int ranked_compare(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int size_compare(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return (a > b) - (a < b);
}

/* out = the plain mean of the n models listed in pick (ascending), summed in
 * double in that order, blocked as weighted_mean is. One model is copied,
 * so that Krum's choice comes out bit for bit (−0 included). */
static void subset_mean(const float *models, size_t p, const size_t *pick, size_t n, float *out)
{
    if (n == 1) {
        memcpy(out, models + pick[0] * p, p * sizeof *out);
        return;
    }
    enum { BLOCK = 512 };
    double acc[BLOCK];
    for (size_t j0 = 0; j0 < p; j0 += BLOCK) {
        size_t len = p - j0 < BLOCK ? p - j0 : BLOCK;
        for (size_t j = 0; j < len; j++) acc[j] = 0;
        for (size_t i = 0; i < n; i++) {
            const float *row = models + pick[i] * p + j0;
            for (size_t j = 0; j < len; j++) acc[j] += (double)row[j];
        }
        for (size_t j = 0; j < len; j++) out[j0 + j] = (float)(acc[j] / (double)n);
    }
}

/* An infinite score means the model is not near enough to others to trust. */
static dn_status krum_unfit(size_t n, size_t k, dn_error *err)
{
    if (n == 1) return dn_fail(err, DN_ERR_NUMERIC, "krum: no model of %zu is finite and close to its neighbours", k);
    return dn_fail(err, DN_ERR_NUMERIC, "krum: fewer than %zu of the %zu models are finite and close to their "
                                        "neighbours", n, k);
}

/* The n = min(select, k − f) best models into pick, ascending; NUMERIC when
 * one of them is not finite or has an infinite score. */
static dn_status krum_pick(const float *models, size_t k, size_t p, int faulty, size_t select, size_t *pick,
                           size_t *n, size_t *best, dn_error *err)
{
    ranked *order = malloc(k * sizeof *order);
    double *score = malloc(k * sizeof *score);
    dn_status s = order && score ? dn_krum_scores_(models, k, p, k - (size_t)faulty - 2, score, err)
                                 : dn_fail(err, DN_ERR_NOMEM, "krum: out of memory for %zu models", k);
    if (s == DN_OK) {
        for (size_t i = 0; i < k; i++) order[i] = (ranked){score[i], i};
        qsort(order, k, sizeof *order, ranked_compare);
        *n = select < k - (size_t)faulty ? select : k - (size_t)faulty;
        *best = order[0].index;
        for (size_t i = 0; i < *n && s == DN_OK; i++) {
            pick[i] = order[i].index;
            if (!isfinite(order[i].score) || dn_first_nonfinite_f32(models + pick[i] * p, p) < p)
                s = krum_unfit(*n, k, err);
        }
        if (s == DN_OK) qsort(pick, *n, sizeof *pick, size_compare); /* summed in model order */
    }
    free(order), free(score);
    return s;
}

dn_status dn_aggregate_multi_krum(const float *models, size_t k, size_t p, int faulty, int select, float *out,
                                  size_t *chosen, dn_error *err)
{
    dn_aggregate_options opt;
    dn_aggregate_options_default(&opt);
    opt.rule = DN_AGG_KRUM;
    opt.faulty = faulty;
    opt.select = select;
    dn_status s = dn_aggregate_options_check(&opt, k, err);
    if (s) return s;
    size_t *pick = malloc(k * sizeof *pick), n = 0, best = 0;
    if (!pick) return dn_fail(err, DN_ERR_NOMEM, "krum: out of memory for %zu models", k);
    s = krum_pick(models, k, p, faulty, (size_t)select, pick, &n, &best, err);
    if (s == DN_OK) subset_mean(models, p, pick, n, out);
    free(pick);
    if (s) return s;
    size_t at = dn_first_nonfinite_f32(out, p);
    if (at < p) return dn_fail(err, DN_ERR_NUMERIC, "krum: coordinate %zu of the mean overflows float", at);
    if (chosen) *chosen = best;
    return DN_OK;
}

dn_status dn_aggregate_krum(const float *models, size_t k, size_t p, int faulty, float *out, size_t *chosen,
                            dn_error *err)
{
    return dn_aggregate_multi_krum(models, k, p, faulty, 1, out, chosen, err);
}

/* ------------------------------------------------- updates: clip, FLTrust */

void dn_update_dot_(const float *model, const float *reference, const float *direction, size_t p, double *dot,
                    double *norm2)
{
    double d[LANES] = {0}, n[LANES] = {0};
    size_t j = 0;
    for (; direction && j + LANES <= p; j += LANES)
        for (size_t l = 0; l < LANES; l++) {
            double w = (double)reference[j + l], u = (double)model[j + l] - w;
            d[l] += u * ((double)direction[j + l] - w);
            n[l] += u * u;
        }
    for (; !direction && j + LANES <= p; j += LANES)
        for (size_t l = 0; l < LANES; l++) {
            double u = (double)model[j + l] - (double)reference[j + l];
            n[l] += u * u;
        }
    for (size_t l = 0; j < p; j++, l++) {
        double w = (double)reference[j], u = (double)model[j] - w;
        if (direction) d[l] += u * ((double)direction[j] - w);
        n[l] += u * u;
    }
    *dot = lanes_total(d);
    *norm2 = lanes_total(n);
}

/* out[j] = w_j + Σ_i coef_i Δ_ij / denom, in double, the terms in model
 * order, blocked as weighted_mean. Rows with coef 0 are skipped: they add
 * nothing, and a non-finite one would add NaN. */
static void update_mean(const float *models, size_t k, size_t p, const float *reference, const double *coef,
                        double denom, float *out)
{
    enum { BLOCK = 512 };
    double acc[BLOCK];
    for (size_t j0 = 0; j0 < p; j0 += BLOCK) {
        size_t len = p - j0 < BLOCK ? p - j0 : BLOCK;
        const float *w = reference + j0;
        for (size_t j = 0; j < len; j++) acc[j] = 0;
        for (size_t i = 0; i < k; i++) {
            if (coef[i] == 0) continue;
            const double c = coef[i];
            const float *row = models + i * p + j0;
            for (size_t j = 0; j < len; j++) acc[j] += c * ((double)row[j] - (double)w[j]);
        }
        for (size_t j = 0; j < len; j++) out[j0 + j] = (float)((double)w[j] + acc[j] / denom);
    }
}

static dn_status check_out(const char *rule, const float *out, size_t p, dn_error *err)
{
    size_t at = dn_first_nonfinite_f32(out, p);
    return at < p ? dn_fail(err, DN_ERR_NUMERIC, "%s: coordinate %zu of the merged model overflows float", rule, at)
                  : DN_OK;
}

/* The update norms of clip, refusing a non-finite update as the mean does. */
static dn_status clip_norms(const float *models, size_t k, size_t p, const float *reference, double *norm,
                            dn_error *err)
{
    for (size_t i = 0; i < k; i++) {
        double dot;
        dn_update_dot_(models + i * p, reference, NULL, p, &dot, &norm[i]);
        norm[i] = sqrt(norm[i]);
        if (!isfinite(norm[i]))
            return dn_fail(err, DN_ERR_NUMERIC, "clip: model %zu of %zu (or the reference) holds a non-finite value",
                           i, k);
    }
    return DN_OK;
}

dn_status dn_aggregate_clip(const float *models, size_t k, size_t p, const float *reference, double clip,
                            const double *weights, float *out, double *tau, dn_error *err)
{
    dn_aggregate_options opt;
    dn_aggregate_options_default(&opt);
    opt.rule = DN_AGG_CLIP;
    opt.clip = clip;
    opt.reference = reference;
    double wsum;
    dn_status s = dn_aggregate_options_check(&opt, k, err);
    if (s || (s = check_weights("clip", weights, k, &wsum, err))) return s;
    double *norm = malloc(2 * k * sizeof *norm);
    if (!norm) return dn_fail(err, DN_ERR_NOMEM, "clip: out of memory for %zu models", k);
    double *coef = norm + k;
    if ((s = clip_norms(models, k, p, reference, norm, err)) == DN_OK) {
        memcpy(coef, norm, k * sizeof *coef); /* the median sorts its input */
        double bound = clip > 0 ? clip : dn_median_f64_(coef, k);
        for (size_t i = 0; i < k; i++) {
            double scale = norm[i] > bound ? bound / norm[i] : 1; /* min(1, τ/‖Δ‖), 1 for Δ = 0 */
            coef[i] = (weights ? weights[i] : 1.0) * scale;
        }
        update_mean(models, k, p, reference, coef, wsum, out);
        if (tau) *tau = bound;
        s = check_out("clip", out, p, err);
    }
    free(norm);
    return s;
}

dn_status dn_fltrust_trust_(const float *models, size_t k, size_t p, const float *reference, const float *trusted,
                            double *trust, double *norm, double *server_norm, dn_error *err)
{
    double dot, g2;
    dn_update_dot_(trusted, reference, NULL, p, &dot, &g2);
    double g = sqrt(g2);
    if (!isfinite(g))
        return dn_fail(err, DN_ERR_NUMERIC, "fltrust: the server's update (trusted − reference) is not finite");
    for (size_t i = 0; i < k; i++) {
        double n2;
        dn_update_dot_(models + i * p, reference, trusted, p, &dot, &n2);
        norm[i] = sqrt(n2);
        /* A zero vector has no direction: cosine 0, so no trust. */
        double cos = isfinite(dot) && isfinite(norm[i]) && norm[i] > 0 && g > 0 ? dot / (norm[i] * g) : 0;
        trust[i] = fmin(fmax(cos, 0), 1); /* rounding may take |cos| a hair past 1 */
    }
    *server_norm = g;
    return DN_OK;
}

dn_status dn_aggregate_fltrust(const float *models, size_t k, size_t p, const float *reference,
                               const float *trusted, float *out, double *trust, dn_error *err)
{
    dn_aggregate_options opt;
    dn_aggregate_options_default(&opt);
    opt.rule = DN_AGG_FLTRUST;
    opt.reference = reference;
    opt.trusted = trusted;
    dn_status s = dn_aggregate_options_check(&opt, k, err);
    if (s) return s;
    double *t = malloc(3 * k * sizeof *t), g;
    if (!t) return dn_fail(err, DN_ERR_NOMEM, "fltrust: out of memory for %zu models", k);
    double *norm = t + k, *coef = t + 2 * k, tsum = 0;
    if ((s = dn_fltrust_trust_(models, k, p, reference, trusted, t, norm, &g, err)) == DN_OK) {
        for (size_t i = 0; i < k; i++) {
            coef[i] = t[i] > 0 ? t[i] * (g / norm[i]) : 0; /* rescaled to the server's norm */
            tsum += t[i];
        }
        if (trust) memcpy(trust, t, k * sizeof *trust);
        if (tsum > 0) {
            update_mean(models, k, p, reference, coef, tsum, out);
            s = check_out("fltrust", out, p, err);
        } else {
            s = dn_fail(err, DN_ERR_NUMERIC, "fltrust: none of the %zu updates agrees with the server's (every "
                                             "trust is 0): keep the global model", k);
        }
    }
    free(t);
    return s;
}

/* ---------------------------------------------------------- dispatcher */

dn_status dn_aggregate(const dn_aggregate_options *opt, const float *models, size_t k, size_t p,
                       const double *weights, float *out, size_t *chosen, dn_error *err)
{
    dn_status s = dn_aggregate_options_check(opt, k, err);
    if (s) return s;
    if (chosen) *chosen = k;
    switch (opt->rule) {
    case DN_AGG_MEAN: return dn_aggregate_mean(models, k, p, weights, out, err);
    case DN_AGG_MEDIAN: return dn_aggregate_median(models, k, p, out, err);
    case DN_AGG_TRIMMED_MEAN: return dn_aggregate_trimmed_mean(models, k, p, opt->trim, out, err);
    case DN_AGG_KRUM: return dn_aggregate_multi_krum(models, k, p, opt->faulty, opt->select, out, chosen, err);
    case DN_AGG_CLIP: return dn_aggregate_clip(models, k, p, opt->reference, opt->clip, weights, out, NULL, err);
    case DN_AGG_FLTRUST: return dn_aggregate_fltrust(models, k, p, opt->reference, opt->trusted, out, NULL, err);
    }
    return dn_fail(err, DN_ERR_USAGE, "unknown aggregation rule %d", (int)opt->rule);
}

/* -------------------------------------------------------------- faults */

dn_status dn_fault_parse(const char *text, dn_fault *fault, dn_error *err)
{
    static const struct {
        const char *name;
        dn_fault_kind kind;
    } names[] = {{"nan", DN_FAULT_NAN}, {"zero", DN_FAULT_ZERO}, {"random", DN_FAULT_RANDOM},
                 {"sign-flip", DN_FAULT_SIGN_FLIP}};
    fault->kind = DN_FAULT_NONE;
    fault->scale = 1;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(text, names[i].name) == 0) {
            fault->kind = names[i].kind;
            return DN_OK;
        }
    if (strncmp(text, "scale:", 6) == 0) {
        char *end;
        double s = strtod(text + 6, &end);
        if (end != text + 6 && *end == '\0' && isfinite(s)) {
            fault->kind = DN_FAULT_SCALE;
            fault->scale = s;
            return DN_OK;
        }
    }
    return dn_fail(err, DN_ERR_USAGE, "unknown fault '%s' (valid: nan, zero, random, scale:S with S a number, sign-flip)",
                   text);
}

void dn_fault_format(const dn_fault *fault, char *buf, size_t size)
{
    switch (fault->kind) {
    case DN_FAULT_NONE: snprintf(buf, size, "none"); return;
    case DN_FAULT_NAN: snprintf(buf, size, "nan"); return;
    case DN_FAULT_ZERO: snprintf(buf, size, "zero"); return;
    case DN_FAULT_RANDOM: snprintf(buf, size, "random"); return;
    case DN_FAULT_SCALE:
        /* The shortest form that reads back as the same double, so two
         * different scales never share a description. */
        for (int digits = 6; digits <= 17; digits++) {
            char text[40];
            snprintf(text, sizeof text, "%.*g", digits, fault->scale);
            if (digits == 17 || strtod(text, NULL) == fault->scale) {
                snprintf(buf, size, "scale:%s", text);
                return;
            }
        }
        return;
    case DN_FAULT_SIGN_FLIP: snprintf(buf, size, "sign-flip"); return;
    }
    snprintf(buf, size, "?");
}

/* The corrupted value of x (one draw from rng for DN_FAULT_RANDOM). */
static double fault_value(const dn_fault *fault, double x, dn_rng *rng)
{
    switch (fault->kind) {
    case DN_FAULT_NONE: return x;
    case DN_FAULT_NAN: return NAN;
    case DN_FAULT_ZERO: return 0;
    case DN_FAULT_RANDOM: return dn_rng_normal(rng);
    case DN_FAULT_SCALE: return x * fault->scale;
    case DN_FAULT_SIGN_FLIP: return -x;
    }
    return x;
}

void dn_fault_apply_f32(const dn_fault *fault, float *v, size_t n, dn_rng *rng)
{
    for (size_t i = 0; i < n; i++) v[i] = (float)fault_value(fault, v[i], rng);
}

void dn_fault_apply_f64(const dn_fault *fault, double *v, size_t n, dn_rng *rng)
{
    for (size_t i = 0; i < n; i++) v[i] = fault_value(fault, v[i], rng);
}

/* -------------------------------------------------------------- shards */

size_t dn_shard_size(size_t n, int ranks, int rank)
{
    if (ranks < 1 || rank < 0 || rank >= ranks) return 0;
    size_t k = (size_t)ranks, r = (size_t)rank;
    return n / k + (r < n % k);
}

static size_t shard_first(size_t n, int ranks, int rank)
{
    size_t k = (size_t)ranks, r = (size_t)rank, rest = n % k;
    return r * (n / k) + (r < rest ? r : rest);
}

static const char *const shard_mode_names[] = {"contiguous", "random", "replicate", NULL};

const char *dn_shard_mode_name(dn_shard_mode mode)
{
    return (int)mode >= 0 && (size_t)mode < sizeof shard_mode_names / sizeof *shard_mode_names - 1
               ? shard_mode_names[mode]
               : "?";
}

const char *const *dn_shard_mode_choices(void) { return shard_mode_names; }

dn_status dn_shard_indices(size_t n, int ranks, int rank, dn_shard_mode mode, uint64_t seed, size_t *index,
                           dn_error *err)
{
    if (ranks < 1 || rank < 0 || rank >= ranks)
        return dn_fail(err, DN_ERR_USAGE, "shard: rank %d is outside [0, %d)", rank, ranks);
    if (mode == DN_SHARD_REPLICATE)
        return dn_fail(err, DN_ERR_USAGE, "shard: replicate is not a split (every rank gets all %zu samples: "
                                          "dn_dataset_shard copies them)", n);
    size_t first = shard_first(n, ranks, rank), size = dn_shard_size(n, ranks, rank);
    if (mode == DN_SHARD_CONTIGUOUS) {
        for (size_t i = 0; i < size; i++) index[i] = first + i;
        return DN_OK;
    }
    /* Every rank draws the same permutation from the same seed, so the
     * blocks of positions they take are disjoint and cover [0, n). */
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!perm) return dn_fail(err, DN_ERR_NOMEM, "shard: out of memory for a permutation of %zu samples", n);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    dn_rng rng;
    dn_rng_seed(&rng, seed);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)dn_rng_below(&rng, i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    memcpy(index, perm + first, size * sizeof *index);
    free(perm);
    qsort(index, size, sizeof *index, size_compare);
    return DN_OK;
}

/* NULL after filling err: the constructors' way to fail. */
static dn_dataset *no_dataset(dn_error *err, dn_status code, const char *what, size_t value)
{
    dn_fail(err, code, what, value);
    return NULL;
}

dn_dataset *dn_dataset_select(const dn_dataset *set, const size_t *index, size_t count, dn_error *err)
{
    for (size_t i = 0; i < count; i++)
        if (index[i] >= set->count) {
            dn_fail(err, DN_ERR_USAGE, "select: sample index %zu is outside the set of %zu", index[i], set->count);
            return NULL;
        }
    size_t bytes;
    if (dn_mul_overflows(count ? count : 1, DN_IMAGE_PIXELS, &bytes))
        return no_dataset(err, DN_ERR_NOMEM, "select: %zu samples do not fit in memory", count);
    dn_dataset *out = malloc(sizeof *out);
    uint8_t *images = malloc(bytes), *labels = malloc(count ? count : 1);
    struct dn_dataset_cache *cache = dn_dataset_cache_new_(count);
    if (!out || !images || !labels || !cache) {
        free(out), free(images), free(labels), free(cache);
        return no_dataset(err, DN_ERR_NOMEM, "select: out of memory for %zu samples", count);
    }
    for (size_t i = 0; i < count; i++) {
        memcpy(images + i * DN_IMAGE_PIXELS, set->images + index[i] * DN_IMAGE_PIXELS, DN_IMAGE_PIXELS);
        labels[i] = set->labels[index[i]];
    }
    *out = (dn_dataset){count, images, labels, 1, cache};
    return out;
}

dn_dataset *dn_dataset_shard(const dn_dataset *set, size_t n, int ranks, int rank, dn_shard_mode mode,
                             uint64_t seed, dn_error *err)
{
    if (n > set->count) {
        dn_fail(err, DN_ERR_USAGE, "shard: %zu samples asked of a set of %zu", n, set->count);
        return NULL;
    }
    if (mode == DN_SHARD_REPLICATE) {
        if (ranks < 1 || rank < 0 || rank >= ranks) {
            dn_fail(err, DN_ERR_USAGE, "shard: rank %d is outside [0, %d)", rank, ranks);
            return NULL;
        }
        return dn_dataset_shard(set, n, 1, 0, DN_SHARD_CONTIGUOUS, 0, err); /* all of [0, n), in order */
    }
    size_t size = dn_shard_size(n, ranks, rank);
    size_t *index = malloc((size ? size : 1) * sizeof *index);
    if (!index) return no_dataset(err, DN_ERR_NOMEM, "shard: out of memory for %zu indices", size);
    dn_dataset *shard = NULL;
    if (dn_shard_indices(n, ranks, rank, mode, seed, index, err) == DN_OK)
        shard = dn_dataset_select(set, index, size, err);
    free(index);
    return shard;
}
