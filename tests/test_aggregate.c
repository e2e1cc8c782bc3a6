/* test_aggregate.c — the aggregation rules, faults and shards of the
 * distributed trainers, on hand-computed vectors (no MPI involved). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "digitnet.h"

#define MAX_K 16
#define MAX_P 64

static void assert_floats(const float *got, const float *want, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        if (got[j] != want[j]) print_error("coordinate %zu: got %.9g, want %.9g\n", j, got[j], want[j]);
        assert_true(got[j] == want[j]);
    }
}

/* ------------------------------------------------------------ mean */

static void test_mean_hand_computed(void **state)
{
    (void)state;
    const float models[] = {1, 2, 3, 4, 5, 9}; /* K = 3, P = 2 */
    float out[2];
    assert_int_equal(dn_aggregate_mean(models, 3, 2, NULL, out, NULL), DN_OK);
    assert_floats(out, (const float[]){3, 5}, 2);
    /* FedAvg weights are shard sizes: (1·(0, 4) + 3·(4, 0)) / 4 = (3, 1). */
    const float two[] = {0, 4, 4, 0};
    const double weights[] = {1, 3};
    assert_int_equal(dn_aggregate_mean(two, 2, 2, weights, out, NULL), DN_OK);
    assert_floats(out, (const float[]){3, 1}, 2);
    /* A zero weight leaves that model out entirely, however large it is. */
    const float big[] = {2, 2, 1e30f, -1e30f};
    assert_int_equal(dn_aggregate_mean(big, 2, 2, (const double[]){5, 0}, out, NULL), DN_OK);
    assert_floats(out, (const float[]){2, 2}, 2);
}

static void test_mean_one_model_is_exact(void **state)
{
    (void)state;
    const float models[] = {0.1f, -3.3333333f, 1e-20f, 12345.678f};
    float out[4];
    assert_int_equal(dn_aggregate_mean(models, 1, 4, (const double[]){60000}, out, NULL), DN_OK);
    assert_floats(out, models, 4);
}

static void test_mean_bad_weights(void **state)
{
    (void)state;
    const float models[] = {1, 2};
    float out[1];
    dn_error err;
    assert_int_equal(dn_aggregate_mean(models, 2, 1, (const double[]){1, -1}, out, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "weight 1"));
    assert_int_equal(dn_aggregate_mean(models, 2, 1, (const double[]){0, 0}, out, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_mean(models, 2, 1, (const double[]){1, NAN}, out, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_mean(models, 0, 1, NULL, out, &err), DN_ERR_USAGE);
}

static void test_mean_refuses_nonfinite_naming_the_model(void **state)
{
    (void)state;
    const float models[] = {1, 2, 3, 4, NAN, 6, 7, 8, INFINITY}; /* K = 3, P = 3 */
    float out[3];
    dn_error err;
    assert_int_equal(dn_aggregate_mean(models, 3, 3, NULL, out, &err), DN_ERR_NUMERIC);
    assert_non_null(strstr(err.message, "model 1 of 3"));
    assert_non_null(strstr(err.message, "coordinate 1"));
}

/* ------------------------------------------------ median, trimmed mean */

static void test_median_hand_computed(void **state)
{
    (void)state;
    const float odd[] = {1, 10, 3, -5, 2, 0}; /* K = 3: columns {1, 3, 2} and {10, -5, 0} */
    float out[2];
    assert_int_equal(dn_aggregate_median(odd, 3, 2, out, NULL), DN_OK);
    assert_floats(out, (const float[]){2, 0}, 2);
    const float even[] = {1, 4, 2, 10}; /* K = 4, P = 1: sorted 1 2 4 10 → (2 + 4) / 2 */
    assert_int_equal(dn_aggregate_median(even, 4, 1, out, NULL), DN_OK);
    assert_floats(out, (const float[]){3}, 1);
    const float one[] = {-7.5f};
    assert_int_equal(dn_aggregate_median(one, 1, 1, out, NULL), DN_OK);
    assert_floats(out, one, 1);
}

static void test_trimmed_mean_hand_computed(void **state)
{
    (void)state;
    const float five[] = {100, 1, 4, 2, 3}; /* K = 5, P = 1 */
    float out[1];
    /* trim 0.2 → t = 1: drop 1 and 100, mean of 2 3 4 = 3 */
    assert_int_equal(dn_aggregate_trimmed_mean(five, 5, 1, 0.2, out, NULL), DN_OK);
    assert_floats(out, (const float[]){3}, 1);
    /* trim 0 is the plain mean: 110 / 5 = 22 */
    assert_int_equal(dn_aggregate_trimmed_mean(five, 5, 1, 0.0, out, NULL), DN_OK);
    assert_floats(out, (const float[]){22}, 1);
    /* K = 4, trim 0.25 → t = 1: mean of the two middle values of 1 2 3 1000 */
    const float four[] = {1000, 2, 1, 3};
    assert_int_equal(dn_aggregate_trimmed_mean(four, 4, 1, 0.25, out, NULL), DN_OK);
    assert_floats(out, (const float[]){2.5f}, 1);
    /* trim 0.1 of 4 models cuts ⌊0.4⌋ = 0 values */
    assert_int_equal(dn_aggregate_trimmed_mean(four, 4, 1, 0.1, out, NULL), DN_OK);
    assert_floats(out, (const float[]){251.5f}, 1);
    dn_error err;
    assert_int_equal(dn_aggregate_trimmed_mean(four, 4, 1, 0.5, out, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_trimmed_mean(four, 4, 1, -0.1, out, &err), DN_ERR_USAGE);
}

static void test_nan_is_an_extreme_for_robust_rules(void **state)
{
    (void)state;
    const float models[] = {1, NAN, 3, 2}; /* sorted 1 2 3 NaN */
    float out[1];
    assert_int_equal(dn_aggregate_median(models, 4, 1, out, NULL), DN_OK);
    assert_floats(out, (const float[]){2.5f}, 1);
    assert_int_equal(dn_aggregate_trimmed_mean(models, 4, 1, 0.25, out, NULL), DN_OK);
    assert_floats(out, (const float[]){2.5f}, 1);
    const float infs[] = {-INFINITY, 5, INFINITY}; /* −Inf < 5 < +Inf */
    assert_int_equal(dn_aggregate_median(infs, 3, 1, out, NULL), DN_OK);
    assert_floats(out, (const float[]){5}, 1);
    /* Too many bad values: the result would not be finite, so it is refused. */
    const float mostly_nan[] = {NAN, NAN, 1};
    dn_error err;
    assert_int_equal(dn_aggregate_median(mostly_nan, 3, 1, out, &err), DN_ERR_NUMERIC);
    assert_non_null(strstr(err.message, "coordinate 0"));
    assert_int_equal(dn_aggregate_trimmed_mean(models, 4, 1, 0.0, out, &err), DN_ERR_NUMERIC);
}

/* ---------------------------------------------------------------- krum */

static void test_krum_hand_computed(void **state)
{
    (void)state;
    /* K = 5, f = 1: each model sums its 5 − 1 − 2 = 2 nearest squared distances.
     *   0: {1, 4} → 5   1: {1, 1} → 2   2: {1, 1} → 2   3: {1, 4} → 5   100: huge.
     * Models 1 and 2 tie; the lower index wins. */
    const float models[] = {0, 1, 2, 3, 100};
    float out[2];
    size_t chosen = 99;
    assert_int_equal(dn_aggregate_krum(models, 5, 1, 1, out, &chosen, NULL), DN_OK);
    assert_int_equal(chosen, 1);
    assert_floats(out, (const float[]){1}, 1);
    /* In two dimensions, whole models are copied: a cluster near (1, 1). */
    const float planar[] = {1, 1, 1.1f, 0.9f, 0.9f, 1.2f, 50, -50, 1, 1.05f};
    assert_int_equal(dn_aggregate_krum(planar, 5, 2, 1, out, &chosen, NULL), DN_OK);
    assert_true(chosen != 3);
}

static void test_krum_refuses_too_few_models(void **state)
{
    (void)state;
    float models[7 * 2] = {0};
    float out[2];
    dn_error err;
    /* n ≤ 2f + 2 is refused: (4, 1), (6, 2); (5, 1) and (7, 2) are the smallest allowed. */
    assert_int_equal(dn_aggregate_krum(models, 4, 2, 1, out, NULL, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "2f + 3"));
    assert_int_equal(dn_aggregate_krum(models, 6, 2, 2, out, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_krum(models, 5, 2, 1, out, NULL, &err), DN_OK);
    assert_int_equal(dn_aggregate_krum(models, 7, 2, 2, out, NULL, &err), DN_OK);
    assert_int_equal(dn_aggregate_krum(models, 3, 2, 0, out, NULL, &err), DN_OK);
    assert_int_equal(dn_aggregate_krum(models, 2, 2, 0, out, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_krum(models, 5, 2, -1, out, NULL, &err), DN_ERR_USAGE);
    dn_aggregate_options opt;
    dn_aggregate_options_default(&opt);
    opt.rule = DN_AGG_KRUM;
    assert_int_equal(dn_aggregate_options_check(&opt, 4, &err), DN_ERR_USAGE);
}

static void test_krum_never_picks_a_nonfinite_model(void **state)
{
    (void)state;
    const float models[] = {1, 2, NAN, 2, 1.5f, 2.5f, INFINITY, 0, 1.2f, 2.2f}; /* K = 5, P = 2 */
    float out[2];
    size_t chosen;
    assert_int_equal(dn_aggregate_krum(models, 5, 2, 1, out, &chosen, NULL), DN_OK);
    assert_true(chosen == 0 || chosen == 2 || chosen == 4);
    assert_int_equal(dn_first_nonfinite_f32(out, 2), 2);
}

/* --------------------------------------------- properties on random models */

static void random_models(float *models, size_t k, size_t p, uint64_t seed)
{
    dn_rng rng;
    dn_rng_seed(&rng, seed);
    for (size_t i = 0; i < k * p; i++) models[i] = (float)dn_rng_normal(&rng);
}

/* Options for a rule with its trim and faulty; the rest default. */
static dn_aggregate_options options_for(dn_aggregate_rule rule, double trim, int faulty)
{
    dn_aggregate_options opt;
    dn_aggregate_options_default(&opt);
    opt.rule = rule;
    opt.trim = trim;
    opt.faulty = faulty;
    return opt;
}

enum { NRULES = 4 };

/* Rule r of the rules every property runs over. */
static dn_aggregate_options rule_options(size_t r)
{
    const dn_aggregate_rule rules[NRULES] = {DN_AGG_MEAN, DN_AGG_MEDIAN, DN_AGG_TRIMMED_MEAN, DN_AGG_KRUM};
    return options_for(rules[r], rules[r] == DN_AGG_TRIMMED_MEAN ? 0.3 : 0, rules[r] == DN_AGG_KRUM ? 2 : 0);
}

static void test_permutation_invariance(void **state)
{
    (void)state;
    enum { K = 7, P = 40 };
    float models[K * P], permuted[K * P], a[P], b[P];
    double weights[K], permuted_weights[K];
    const size_t order[K] = {3, 6, 0, 5, 1, 4, 2};
    for (uint64_t seed = 1; seed <= 20; seed++) {
        random_models(models, K, P, seed);
        for (size_t i = 0; i < K; i++) weights[i] = (double)(i + 1);
        for (size_t i = 0; i < K; i++) {
            memcpy(permuted + i * P, models + order[i] * P, sizeof(float) * P);
            permuted_weights[i] = weights[order[i]];
        }
        for (size_t r = 0; r < NRULES; r++) {
            const dn_aggregate_options opt = rule_options(r);
            assert_int_equal(dn_aggregate(&opt, models, K, P, weights, a, NULL, NULL), DN_OK);
            assert_int_equal(dn_aggregate(&opt, permuted, K, P, permuted_weights, b, NULL, NULL), DN_OK);
            /* Sorting makes median, trimmed mean and Krum exactly order-free; the
             * mean adds in model order, so it may differ in the last bit. */
            for (size_t j = 0; j < P; j++)
                assert_true(opt.rule == DN_AGG_MEAN ? fabsf(a[j] - b[j]) <= 1e-6f * (1 + fabsf(a[j]))
                                                         : a[j] == b[j]);
        }
    }
}

/* Overwrites f of the K models with hostile values of several kinds. */
static void corrupt(float *models, size_t p, const size_t *bad, size_t f, uint64_t seed)
{
    static const float kinds[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 3.0f};
    for (size_t b = 0; b < f; b++)
        for (size_t j = 0; j < p; j++) models[bad[b] * p + j] = kinds[(seed + b + j) % 6] * (j % 2 ? 1.0f : -1.0f);
}

static void honest_range(const float *models, size_t k, size_t p, size_t j, const size_t *bad, size_t f, float *lo,
                         float *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (size_t i = 0; i < k; i++) {
        int is_bad = 0;
        for (size_t b = 0; b < f; b++) is_bad |= bad[b] == i;
        if (is_bad) continue;
        *lo = fminf(*lo, models[i * p + j]);
        *hi = fmaxf(*hi, models[i * p + j]);
    }
}

static void test_fewer_than_half_bad_stay_in_honest_range(void **state)
{
    (void)state;
    /* 3 bad of 9: the median needs f < K/2, the trimmed mean f ≤ t = ⌊0.34·9⌋ = 3. */
    enum { K = 9, P = 30, F = 3 };
    float models[K * P], out[P];
    const size_t bad[F] = {1, 4, 8};
    for (uint64_t seed = 1; seed <= 30; seed++) {
        random_models(models, K, P, seed);
        corrupt(models, P, bad, F, seed);
        const dn_aggregate_options median = options_for(DN_AGG_MEDIAN, 0, 0),
                                   trimmed = options_for(DN_AGG_TRIMMED_MEAN, 0.34, 0);
        for (int r = 0; r < 2; r++) {
            assert_int_equal(dn_aggregate(r ? &trimmed : &median, models, K, P, NULL, out, NULL, NULL), DN_OK);
            for (size_t j = 0; j < P; j++) {
                float lo, hi;
                honest_range(models, K, P, j, bad, F, &lo, &hi);
                assert_true(out[j] >= lo && out[j] <= hi);
            }
        }
    }
}

static void test_krum_picks_an_honest_model(void **state)
{
    (void)state;
    enum { K = 7, P = 30, F = 2 };
    float models[K * P], out[P];
    const size_t bad[F] = {0, 5};
    for (uint64_t seed = 1; seed <= 30; seed++) {
        random_models(models, K, P, seed);
        corrupt(models, P, bad, F, seed);
        size_t chosen;
        assert_int_equal(dn_aggregate_krum(models, K, P, F, out, &chosen, NULL), DN_OK);
        assert_true(chosen != 0 && chosen != 5);
    }
}

static void test_dispatcher(void **state)
{
    (void)state;
    const float models[] = {0, 1, 2, 3, 100};
    float out[1];
    size_t chosen = 0;
    dn_aggregate_options opt;
    dn_aggregate_options_default(&opt);
    assert_int_equal(opt.rule, DN_AGG_MEAN);
    assert_int_equal(dn_aggregate(&opt, models, 5, 1, NULL, out, &chosen, NULL), DN_OK);
    assert_int_equal(chosen, 5);
    assert_floats(out, (const float[]){21.2f}, 1);
    opt.rule = DN_AGG_KRUM;
    assert_int_equal(dn_aggregate(&opt, models, 5, 1, NULL, out, &chosen, NULL), DN_OK);
    assert_int_equal(chosen, 1);
    assert_string_equal(dn_aggregate_rule_name(DN_AGG_TRIMMED_MEAN), "trimmed-mean");
    opt.rule = (dn_aggregate_rule)42;
    assert_int_equal(dn_aggregate(&opt, models, 5, 1, NULL, out, NULL, NULL), DN_ERR_USAGE);
}

static void test_new_rules_options_and_dispatch(void **state)
{
    (void)state;
    dn_aggregate_options opt;
    dn_aggregate_options_default(&opt);
    assert_int_equal(opt.select, 1);
    assert_true(opt.clip == 0 && opt.reference == NULL && opt.trusted == NULL);
    assert_string_equal(dn_aggregate_rule_name(DN_AGG_CLIP), "clip");
    assert_string_equal(dn_aggregate_rule_name(DN_AGG_FLTRUST), "fltrust");
    assert_null(dn_aggregate_rule_choices()[DN_AGG_FLTRUST + 1]);
    dn_error err;
    opt.rule = DN_AGG_KRUM;
    opt.select = 0;
    assert_int_equal(dn_aggregate_options_check(&opt, 5, &err), DN_ERR_USAGE);
    const float w[1] = {0}, models[] = {0, 1, 2, 3, 100};
    opt.rule = DN_AGG_CLIP; /* clip: needs the reference, τ ≥ 0 and finite */
    assert_int_equal(dn_aggregate_options_check(&opt, 5, &err), DN_ERR_USAGE);
    opt.reference = w;
    assert_int_equal(dn_aggregate_options_check(&opt, 5, &err), DN_OK);
    opt.clip = -1;
    assert_int_equal(dn_aggregate_options_check(&opt, 5, &err), DN_ERR_USAGE);
    opt.clip = INFINITY;
    assert_int_equal(dn_aggregate_options_check(&opt, 5, &err), DN_ERR_USAGE);
    opt.rule = DN_AGG_FLTRUST; /* fltrust: the reference and the trusted model */
    assert_int_equal(dn_aggregate_options_check(&opt, 5, &err), DN_ERR_USAGE);
    opt.trusted = (const float[]){1};
    assert_int_equal(dn_aggregate_options_check(&opt, 5, &err), DN_OK);
    /* The dispatcher reaches each with the options' fields. */
    float a[1], b[1];
    size_t chosen = 0;
    opt.rule = DN_AGG_KRUM;
    opt.select = 2;
    assert_int_equal(dn_aggregate(&opt, models, 5, 1, NULL, a, &chosen, NULL), DN_OK);
    assert_floats(a, (const float[]){1.5f}, 1); /* models 1 and 2 */
    assert_int_equal(chosen, 1);
    opt.rule = DN_AGG_CLIP;
    opt.clip = 2; /* every update clipped to 2 but the 0 and the 1: (0 + 1 + 2 + 2 + 2) / 5 */
    assert_int_equal(dn_aggregate(&opt, models, 5, 1, NULL, a, &chosen, NULL), DN_OK);
    assert_int_equal(chosen, 5);
    assert_floats(a, (const float[]){1.4f}, 1);
    opt.rule = DN_AGG_FLTRUST;
    assert_int_equal(dn_aggregate(&opt, models, 5, 1, NULL, a, NULL, NULL), DN_OK);
    assert_int_equal(dn_aggregate_fltrust(models, 5, 1, w, opt.trusted, b, NULL, NULL), DN_OK);
    assert_floats(a, b, 1);
    assert_floats(a, (const float[]){1}, 1); /* every positive update rescaled to ‖g_0‖ = 1 */
}

static void test_first_nonfinite(void **state)
{
    (void)state;
    const float f[] = {0, 1e38f, -1, INFINITY, NAN};
    assert_int_equal(dn_first_nonfinite_f32(f, 5), 3);
    assert_int_equal(dn_first_nonfinite_f32(f, 3), 3);
    const double d[] = {0, NAN};
    assert_int_equal(dn_first_nonfinite_f64(d, 2), 1);
    assert_int_equal(dn_first_nonfinite_f64(d, 0), 0);
}

/* -------------------------------------------------------------- faults */

static void test_faults(void **state)
{
    (void)state;
    dn_fault fault;
    dn_error err;
    char name[32];
    float v[3];
    const float base[3] = {1, -2, 0.5f};
    assert_int_equal(dn_fault_parse("scale:100", &fault, &err), DN_OK);
    memcpy(v, base, sizeof v);
    dn_fault_apply_f32(&fault, v, 3, NULL);
    assert_floats(v, (const float[]){100, -200, 50}, 3);
    dn_fault_format(&fault, name, sizeof name);
    assert_string_equal(name, "scale:100");
    assert_int_equal(dn_fault_parse("sign-flip", &fault, &err), DN_OK);
    memcpy(v, base, sizeof v);
    dn_fault_apply_f32(&fault, v, 3, NULL);
    assert_floats(v, (const float[]){-1, 2, -0.5f}, 3);
    assert_int_equal(dn_fault_parse("zero", &fault, &err), DN_OK);
    dn_fault_apply_f32(&fault, v, 3, NULL);
    assert_floats(v, (const float[]){0, 0, 0}, 3);
    assert_int_equal(dn_fault_parse("nan", &fault, &err), DN_OK);
    double d[2] = {1, 2};
    dn_fault_apply_f64(&fault, d, 2, NULL);
    assert_true(isnan(d[0]) && isnan(d[1]));
    assert_int_equal(dn_fault_parse("random", &fault, &err), DN_OK);
    dn_rng rng;
    dn_rng_seed(&rng, 7);
    memcpy(v, base, sizeof v);
    dn_fault_apply_f32(&fault, v, 3, &rng);
    assert_int_equal(dn_first_nonfinite_f32(v, 3), 3);
    assert_true(v[0] != base[0] && v[1] != base[1]);
    const char *bad[] = {"", "scale:", "scale:x", "scale:inf", "Nan", "flip"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(dn_fault_parse(bad[i], &fault, &err), DN_ERR_USAGE);
        assert_non_null(strstr(err.message, "sign-flip"));
    }
}

/* -------------------------------------------------------------- shards */

static void check_cover(size_t n, int ranks, dn_shard_mode mode, uint64_t seed)
{
    int *seen = calloc(n ? n : 1, sizeof *seen);
    size_t *index = malloc((n ? n : 1) * sizeof *index), total = 0;
    for (int r = 0; r < ranks; r++) {
        size_t size = dn_shard_size(n, ranks, r);
        assert_true(size == n / (size_t)ranks || size == n / (size_t)ranks + 1);
        assert_int_equal(dn_shard_indices(n, ranks, r, mode, seed, index, NULL), DN_OK);
        for (size_t i = 0; i < size; i++) {
            assert_true(index[i] < n);
            assert_true(i == 0 || index[i] > index[i - 1]); /* ascending, so no repeats */
            seen[index[i]]++;
        }
        total += size;
    }
    assert_int_equal(total, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    free(seen);
    free(index);
}

static void test_shards_are_disjoint_and_cover(void **state)
{
    (void)state;
    assert_int_equal(dn_shard_size(10, 3, 0), 4);
    assert_int_equal(dn_shard_size(10, 3, 1), 3);
    assert_int_equal(dn_shard_size(10, 3, 2), 3);
    assert_int_equal(dn_shard_size(10, 3, 3), 0);
    size_t index[4];
    assert_int_equal(dn_shard_indices(10, 3, 1, DN_SHARD_CONTIGUOUS, 0, index, NULL), DN_OK);
    assert_int_equal(index[0], 4);
    assert_int_equal(index[2], 6);
    const size_t sizes[] = {0, 1, 2, 10, 97, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int ranks = 1; ranks <= 5; ranks++) {
            check_cover(sizes[s], ranks, DN_SHARD_CONTIGUOUS, 0);
            check_cover(sizes[s], ranks, DN_SHARD_RANDOM, 42);
        }
    dn_error err;
    assert_int_equal(dn_shard_indices(10, 3, 3, DN_SHARD_CONTIGUOUS, 0, index, &err), DN_ERR_USAGE);
    assert_int_equal(dn_shard_indices(10, 0, 0, DN_SHARD_CONTIGUOUS, 0, index, &err), DN_ERR_USAGE);
}

static void test_random_shards_follow_the_seed(void **state)
{
    (void)state;
    enum { N = 100 };
    size_t a[N], b[N], c[N];
    assert_int_equal(dn_shard_indices(N, 2, 0, DN_SHARD_RANDOM, 5, a, NULL), DN_OK);
    assert_int_equal(dn_shard_indices(N, 2, 0, DN_SHARD_RANDOM, 5, b, NULL), DN_OK);
    assert_int_equal(dn_shard_indices(N, 2, 0, DN_SHARD_RANDOM, 6, c, NULL), DN_OK);
    assert_memory_equal(a, b, sizeof(size_t) * N / 2);
    assert_memory_not_equal(a, c, sizeof(size_t) * N / 2);
    size_t contiguous[N / 2];
    assert_int_equal(dn_shard_indices(N, 2, 0, DN_SHARD_CONTIGUOUS, 5, contiguous, NULL), DN_OK);
    assert_memory_not_equal(a, contiguous, sizeof contiguous); /* really shuffled */
    /* One rank's shard is the whole set in order, whatever the mode. */
    assert_int_equal(dn_shard_indices(N, 1, 0, DN_SHARD_RANDOM, 5, a, NULL), DN_OK);
    for (size_t i = 0; i < N; i++) assert_int_equal(a[i], i);
}

static void test_dataset_select_and_shard(void **state)
{
    (void)state;
    enum { N = 5 };
    uint8_t images[N][DN_IMAGE_PIXELS], labels[N];
    for (int i = 0; i < N; i++) {
        memset(images[i], 10 * i, DN_IMAGE_PIXELS);
        labels[i] = (uint8_t)(i % 10);
    }
    dn_dataset set = {N, &images[0][0], labels, 0, NULL};
    const size_t pick[] = {4, 0, 2};
    dn_dataset *sub = dn_dataset_select(&set, pick, 3, NULL);
    assert_non_null(sub);
    assert_int_equal(sub->count, 3);
    assert_int_equal(sub->labels[0], 4);
    assert_int_equal(sub->images[DN_IMAGE_PIXELS + 5], 0);
    assert_int_equal(sub->images[2 * DN_IMAGE_PIXELS + 783], 20);
    dn_dataset_free(sub);
    dn_error err;
    const size_t outside[] = {5};
    assert_null(dn_dataset_select(&set, outside, 1, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    /* The first 4 samples over 3 ranks: rank 0 gets 0 and 1. */
    dn_dataset *shard = dn_dataset_shard(&set, 4, 3, 0, DN_SHARD_CONTIGUOUS, 0, NULL);
    assert_non_null(shard);
    assert_int_equal(shard->count, 2);
    assert_int_equal(shard->labels[1], 1);
    dn_dataset_free(shard);
    assert_null(dn_dataset_shard(&set, 6, 1, 0, DN_SHARD_CONTIGUOUS, 0, &err));
    shard = dn_dataset_shard(&set, 0, 2, 1, DN_SHARD_RANDOM, 3, NULL); /* empty, still a set */
    assert_non_null(shard);
    assert_int_equal(shard->count, 0);
    dn_dataset_free(shard);
    /* Replicate: every rank gets all n, in order; not a split of indices. */
    for (int r = 0; r < 3; r++) {
        shard = dn_dataset_shard(&set, 4, 3, r, DN_SHARD_REPLICATE, 0, NULL);
        assert_non_null(shard);
        assert_int_equal(shard->count, 4);
        assert_int_equal(shard->labels[3], 3);
        dn_dataset_free(shard);
    }
    assert_null(dn_dataset_shard(&set, 4, 3, 3, DN_SHARD_REPLICATE, 0, &err));
    size_t index[N];
    assert_int_equal(dn_shard_indices(4, 3, 0, DN_SHARD_REPLICATE, 0, index, &err), DN_ERR_USAGE);
}

/* The names the CLI offers are the library's, entry i naming value i. */
static void test_shard_mode_names(void **state)
{
    (void)state;
    const char *const *names = dn_shard_mode_choices();
    assert_string_equal(names[DN_SHARD_CONTIGUOUS], "contiguous");
    assert_string_equal(names[DN_SHARD_RANDOM], "random");
    assert_string_equal(names[DN_SHARD_REPLICATE], "replicate");
    assert_null(names[3]);
    for (int i = 0; names[i]; i++) assert_string_equal(dn_shard_mode_name((dn_shard_mode)i), names[i]);
    assert_string_equal(dn_shard_mode_name((dn_shard_mode)3), "?");
    assert_string_equal(dn_shard_mode_name((dn_shard_mode)-1), "?");
    const char *const *rules = dn_aggregate_rule_choices();
    for (int i = 0; rules[i]; i++) assert_string_equal(dn_aggregate_rule_name((dn_aggregate_rule)i), rules[i]);
}

static void test_dist_options_describe(void **state)
{
    (void)state;
    dn_dist_options o;
    dn_dist_options_default(&o);
    char buf[96];
    dn_dist_options_describe(&o, "sync", buf, sizeof buf);
    assert_string_equal(buf, "sync"); /* the defaults add nothing */
    o.shard = DN_SHARD_RANDOM;
    o.shard_seed = 7;
    o.fault_rank = 2;
    assert_int_equal(dn_fault_parse("random", &o.fault, NULL), DN_OK);
    dn_dist_options_describe(&o, "fedavg", buf, sizeof buf);
    assert_string_equal(buf, "fedavg shard:random:7 fault:2:random");
    o.shard = DN_SHARD_REPLICATE; /* the seed does not matter then */
    assert_int_equal(dn_fault_parse("scale:0.1", &o.fault, NULL), DN_OK);
    dn_dist_options_describe(&o, "mix", buf, sizeof buf);
    assert_string_equal(buf, "mix shard:replicate fault:2:scale:0.1");
    o.fault_rank = -1; /* a fault without a rank is no fault */
    dn_dist_options_describe(&o, "sync deterministic", buf, sizeof buf);
    assert_string_equal(buf, "sync deterministic shard:replicate");
    char small[6];
    dn_dist_options_describe(&o, "fedavg", small, sizeof small);
    assert_string_equal(small, "fedav"); /* cut, terminated */
    /* Scales keep every digit needed to tell them apart. */
    dn_fault f = {DN_FAULT_SCALE, 1.0000001};
    dn_fault_format(&f, buf, sizeof buf);
    assert_string_equal(buf, "scale:1.0000001");
    f.scale = 1e300;
    dn_fault_format(&f, buf, sizeof buf);
    assert_string_equal(buf, "scale:1e+300");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_hand_computed),
        cmocka_unit_test(test_mean_one_model_is_exact),
        cmocka_unit_test(test_mean_bad_weights),
        cmocka_unit_test(test_mean_refuses_nonfinite_naming_the_model),
        cmocka_unit_test(test_median_hand_computed),
        cmocka_unit_test(test_trimmed_mean_hand_computed),
        cmocka_unit_test(test_nan_is_an_extreme_for_robust_rules),
        cmocka_unit_test(test_krum_hand_computed),
        cmocka_unit_test(test_krum_refuses_too_few_models),
        cmocka_unit_test(test_krum_never_picks_a_nonfinite_model),
        cmocka_unit_test(test_permutation_invariance),
        cmocka_unit_test(test_fewer_than_half_bad_stay_in_honest_range),
        cmocka_unit_test(test_krum_picks_an_honest_model),
        cmocka_unit_test(test_dispatcher),
        cmocka_unit_test(test_new_rules_options_and_dispatch), cmocka_unit_test(test_first_nonfinite),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_shards_are_disjoint_and_cover),
        cmocka_unit_test(test_random_shards_follow_the_seed),
        cmocka_unit_test(test_dataset_select_and_shard),
        cmocka_unit_test(test_shard_mode_names),
        cmocka_unit_test(test_dist_options_describe),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
