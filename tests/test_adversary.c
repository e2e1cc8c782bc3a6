/* test_adversary.c — the adversaries of federated learning and the
 * defences against them, on hand-made vectors: each attack against its
 * definition, the malicious set, ALIE's z, multi-Krum, norm clipping,
 * FLTrust and the detection scores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "digitnet.h"

/* |got − want| ≤ tol, saying which coordinate when not. */
static void assert_near(const float *got, const double *want, size_t n, double tol)
{
    for (size_t j = 0; j < n; j++) {
        if (!(fabs((double)got[j] - want[j]) <= tol))
            print_error("coordinate %zu: got %.9g, want %.9g\n", j, (double)got[j], want[j]);
        assert_true(fabs((double)got[j] - want[j]) <= tol);
    }
}

static dn_attack parsed(const char *text)
{
    dn_attack attack;
    assert_int_equal(dn_attack_parse(text, &attack, NULL), DN_OK);
    return attack;
}

/* ------------------------------------------------------------- names */

static void test_parse_format_round_trip(void **state)
{
    (void)state;
    const char *spellings[] = {"none", "label-flip", "sign-flip:4", "sign-flip:-2.5", "scale:10", "scale:0.1",
                               "gaussian:0.1", "alie:0", "alie:1.25", "ipm:0.5", "nan", "zero", "random"};
    char buf[64];
    for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
        dn_attack attack = parsed(spellings[i]);
        dn_attack_format(&attack, buf, sizeof buf);
        assert_string_equal(buf, spellings[i]);
    }
    /* Parameters left out take the defaults, and are written out. */
    const struct {
        const char *text, *formatted;
        dn_attack_kind kind;
        double param;
    } defaults[] = {{"sign-flip", "sign-flip:4", DN_ATTACK_SIGN_FLIP, 4},
                    {"gaussian", "gaussian:0.1", DN_ATTACK_GAUSSIAN, 0.1},
                    {"alie", "alie:0", DN_ATTACK_ALIE, 0},
                    {"ipm", "ipm:0.5", DN_ATTACK_IPM, 0.5}};
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) {
        dn_attack attack = parsed(defaults[i].text);
        assert_int_equal(attack.kind, defaults[i].kind);
        assert_true(attack.param == defaults[i].param);
        dn_attack_format(&attack, buf, sizeof buf);
        assert_string_equal(buf, defaults[i].formatted);
    }
    /* The fewest digits that read back exactly. */
    dn_attack third = {DN_ATTACK_SCALE, 1.0 / 3};
    dn_attack_format(&third, buf, sizeof buf);
    assert_true(strtod(buf + strlen("scale:"), NULL) == 1.0 / 3);
    assert_string_equal(dn_attack_name(DN_ATTACK_IPM), "ipm");
    assert_string_equal(dn_attack_name((dn_attack_kind)42), "?");
    assert_string_equal(dn_attack_choices()[DN_ATTACK_ALIE], "alie");
    assert_null(dn_attack_choices()[DN_ATTACK_RANDOM + 1]);
}

static void test_parse_refuses_bad_input(void **state)
{
    (void)state;
    const char *bad[] = {"",        "scale",       "scale:",      "scale:x",     "scale:inf",  "gaussian:0",
                         "gaussian:-1", "alie:-1", "ipm:0",       "ipm:nan",     "nan:1",      "label-flip:2",
                         "Sign-flip",   "sign-flip:4x", "sign-flip: 4", "flip",  "none:0",     "sign-flip:"};
    dn_attack attack;
    dn_error err;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(dn_attack_parse(bad[i], &attack, &err), DN_ERR_USAGE);
        assert_non_null(strstr(err.message, "valid: none, label-flip, sign-flip[:L]"));
    }
}

/* ------------------------------------------------------------ attacks */

/* w = (1, 2, 0); an honest model (2, 0, 0.5), so Δ = (1, −2, 0.5). */
static const float W3[3] = {1, 2, 0};
static const float HONEST3[3] = {2, 0, 0.5f};

/* Row 1 of two (row 0 honest, row 1 malicious) after attack. */
static void attack_second_row(const char *text, float *models)
{
    const unsigned char malicious[2] = {0, 1};
    memcpy(models, HONEST3, sizeof HONEST3);
    memcpy(models + 3, HONEST3, sizeof HONEST3);
    dn_attack attack = parsed(text);
    dn_rng rng;
    dn_rng_seed(&rng, 5);
    assert_int_equal(dn_attack_models(&attack, models, 2, 3, W3, malicious, &rng, NULL), DN_OK);
    assert_memory_equal(models, HONEST3, sizeof HONEST3); /* the honest row is left alone */
}

static void test_sign_flip_and_scale(void **state)
{
    (void)state;
    float models[6];
    attack_second_row("sign-flip", models); /* w − 4Δ = (1 − 4, 2 + 8, 0 − 2) */
    assert_near(models + 3, (const double[]){-3, 10, -2}, 3, 0);
    attack_second_row("sign-flip:1", models); /* w − Δ */
    assert_near(models + 3, (const double[]){0, 4, -0.5}, 3, 0);
    attack_second_row("scale:10", models); /* w + 10Δ = (1 + 10, 2 − 20, 0 + 5) */
    assert_near(models + 3, (const double[]){11, -18, 5}, 3, 0);
}

static void test_none_and_label_flip_change_nothing(void **state)
{
    (void)state;
    float models[6];
    attack_second_row("none", models);
    assert_memory_equal(models + 3, HONEST3, sizeof HONEST3);
    attack_second_row("label-flip", models); /* it poisons the data, not what is sent */
    assert_memory_equal(models + 3, HONEST3, sizeof HONEST3);
}

static void test_faults_as_attacks(void **state)
{
    (void)state;
    float models[6];
    attack_second_row("nan", models);
    for (int j = 0; j < 3; j++) assert_true(isnan(models[3 + j]));
    attack_second_row("zero", models);
    assert_near(models + 3, (const double[]){0, 0, 0}, 3, 0);
    /* random: dn_fault_apply_f32's standard normal draws, from the same rng. */
    attack_second_row("random", models);
    float want[3];
    dn_fault fault = {DN_FAULT_RANDOM, 1};
    dn_rng rng;
    dn_rng_seed(&rng, 5);
    dn_fault_apply_f32(&fault, want, 3, &rng);
    assert_memory_equal(models + 3, want, sizeof want);
}

static void test_gaussian_sends_noise_around_w(void **state)
{
    (void)state;
    enum { P = 200000 };
    float *models = calloc(2 * P, sizeof *models), *w = malloc(P * sizeof *w);
    assert_non_null(models), assert_non_null(w);
    for (size_t j = 0; j < P; j++) w[j] = (float)j / P;
    const unsigned char malicious[2] = {1, 0};
    dn_rng rng;
    dn_rng_seed(&rng, 11);
    dn_attack attack = parsed("gaussian:0.1");
    assert_int_equal(dn_attack_models(&attack, models, 2, P, w, malicious, &rng, NULL), DN_OK);
    double sum = 0, sq = 0;
    for (size_t j = 0; j < P; j++) {
        double d = (double)models[j] - (double)w[j];
        sum += d, sq += d * d;
    }
    double mean = sum / P, sd = sqrt(sq / P - mean * mean);
    assert_true(fabs(mean) < 0.002);    /* 10 standard errors (0.1 / √P ≈ 2.2e-4) */
    assert_true(fabs(sd - 0.1) < 0.002); /* a 2% band around σ */
    assert_true(models[P] == 0);          /* the honest row untouched */
    free(models), free(w);
}

/* Three honest rows and one malicious: w = (0, 10); honest Δ = (1, 0), (2, 2),
 * (3, 4), so μ = (2, 2) and the population σ = (√(2/3), √(8/3)). */
static void colluding_round(const char *text, float models[8])
{
    const float rows[8] = {1, 10, 2, 12, 3, 14, 7, 7};
    const unsigned char malicious[4] = {0, 0, 0, 1};
    memcpy(models, rows, sizeof rows);
    dn_attack attack = parsed(text);
    assert_int_equal(dn_attack_models(&attack, models, 4, 2, (const float[]){0, 10}, malicious, NULL, NULL), DN_OK);
    assert_memory_equal(models, rows, 6 * sizeof *rows);
}

static void test_alie_with_a_given_z(void **state)
{
    (void)state;
    float models[8];
    colluding_round("alie:1.5", models); /* w + μ − 1.5σ */
    assert_near(models + 6, (const double[]){0 + 2 - 1.5 * sqrt(2.0 / 3), 10 + 2 - 1.5 * sqrt(8.0 / 3)}, 2, 1e-6);
}

static void test_alie_with_the_papers_z(void **state)
{
    (void)state;
    /* n = 10 rows, f = 2 malicious: z = Φ⁻¹(0.6) ≈ 0.2533. Honest Δ = 1 … 8
     * (w = 0, P = 1): μ = 4.5, σ² = Σ (i − 4.5)² / 8 = 42 / 8. */
    float models[10] = {1, 2, 3, 4, 5, 6, 7, 8, 100, -100};
    const unsigned char malicious[10] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1};
    dn_attack attack = parsed("alie");
    assert_int_equal(dn_attack_models(&attack, models, 10, 1, (const float[]){0}, malicious, NULL, NULL), DN_OK);
    const double want = 4.5 - 0.2533471031357998 * sqrt(42.0 / 8);
    assert_near(models + 8, (const double[]){want, want}, 2, 1e-6);
}

static void test_ipm(void **state)
{
    (void)state;
    float models[8];
    colluding_round("ipm:0.5", models); /* w − 0.5μ = (0 − 1, 10 − 1) */
    assert_near(models + 6, (const double[]){-1, 9}, 2, 0);
    /* Every malicious client sends the same model. */
    float two[6] = {1, 1, 5, 5, 9, 9};
    const unsigned char malicious[3] = {0, 1, 1};
    dn_attack attack = parsed("ipm:2"); /* μ = 1 (row 0 alone): w − 2 = −2 */
    assert_int_equal(dn_attack_models(&attack, two, 3, 2, (const float[]){0, 0}, malicious, NULL, NULL), DN_OK);
    assert_near(two + 2, (const double[]){-2, -2, -2, -2}, 4, 0);
}

static void test_colluding_with_no_honest_row(void **state)
{
    (void)state;
    /* All malicious: their own honest updates 2 and 4 (w = 0) give μ = 3. */
    float models[2] = {2, 4};
    const unsigned char malicious[2] = {1, 1};
    dn_attack attack = parsed("ipm:1");
    assert_int_equal(dn_attack_models(&attack, models, 2, 1, (const float[]){0}, malicious, NULL, NULL), DN_OK);
    assert_near(models, (const double[]){-3, -3}, 2, 0);
}

static void test_attack_needs_rng_and_global(void **state)
{
    (void)state;
    float models[2] = {1, 2};
    const unsigned char malicious[1] = {1};
    dn_error err;
    dn_attack attack = parsed("gaussian");
    assert_int_equal(dn_attack_models(&attack, models, 1, 2, (const float[]){0, 0}, malicious, NULL, &err),
                     DN_ERR_USAGE);
    attack = parsed("scale:2");
    assert_int_equal(dn_attack_models(&attack, models, 1, 2, NULL, malicious, NULL, &err), DN_ERR_USAGE);
    attack.kind = (dn_attack_kind)42;
    assert_int_equal(dn_attack_models(&attack, models, 1, 2, (const float[]){0, 0}, malicious, NULL, &err),
                     DN_ERR_USAGE);
}

/* ------------------------------------------------- the malicious set */

static size_t marked(const unsigned char *m, size_t k)
{
    size_t n = 0;
    for (size_t i = 0; i < k; i++) n += m[i];
    return n;
}

static void test_malicious_clients(void **state)
{
    (void)state;
    unsigned char a[100], b[100];
    assert_int_equal(dn_malicious_clients(100, 0.25, 7, a), 25);
    assert_int_equal(marked(a, 100), 25);
    assert_int_equal(dn_malicious_clients(100, 0.25, 7, b), 25);
    assert_memory_equal(a, b, sizeof a); /* same seed, same set */
    dn_malicious_clients(100, 0.25, 8, b);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(dn_malicious_clients(10, 0.25, 1, a), 3); /* 2.5 rounds half up */
    assert_int_equal(marked(a, 10), 3);
    assert_int_equal(dn_malicious_clients(10, 0.34, 1, a), 3);
    memset(a, 1, sizeof a);
    assert_int_equal(dn_malicious_clients(10, 0, 1, a), 0);
    assert_int_equal(marked(a, 10), 0);
    assert_int_equal(dn_malicious_clients(0, 0.5, 1, a), 0);
}

static void test_alie_z(void **state)
{
    (void)state;
    /* n = 50, f = 24: s = ⌊26⌋ − 24 = 2, z = Φ⁻¹(48 / 50) = Φ⁻¹(0.96). */
    assert_true(fabs(dn_alie_z(50, 24) - 1.7506860712521695) < 1e-9);
    /* n = 10, f = 2: s = 6 − 2 = 4, z = Φ⁻¹(6 / 10). */
    assert_true(fabs(dn_alie_z(10, 2) - 0.2533471031357998) < 1e-9);
    /* n = 10, f = 1: s = 5, Φ⁻¹(0.5) = 0. */
    assert_true(fabs(dn_alie_z(10, 1)) < 1e-9);
    assert_true(dn_alie_z(10, 6) == 0); /* s = 0: nothing to hide behind */
    assert_true(dn_alie_z(10, 9) == 0); /* s < 0 */
    assert_true(dn_alie_z(1, 0) == 0);  /* s = n */
}

/* ---------------------------------------------------------- multi-Krum */

static void test_multi_krum_hand_computed(void **state)
{
    (void)state;
    /* K = 5, f = 1, P = 1: Krum's scores (2 nearest squared distances) are
     * 0: 1 + 4 = 5, 1: 1 + 1 = 2, 2: 2, 3: 5, 100: 97² + 98² = 19013. */
    const float models[] = {0, 1, 2, 3, 100};
    float out[2];
    size_t chosen = 99;
    /* M = 2: models 1 and 2 → 1.5; the best (lowest index on ties) is 1. */
    assert_int_equal(dn_aggregate_multi_krum(models, 5, 1, 1, 2, out, &chosen, NULL), DN_OK);
    assert_near(out, (const double[]){1.5}, 1, 0);
    assert_int_equal(chosen, 1);
    /* M = 3: 1, 2, then 0 before 3 (both 5) → (0 + 1 + 2) / 3 = 1. */
    assert_int_equal(dn_aggregate_multi_krum(models, 5, 1, 1, 3, out, &chosen, NULL), DN_OK);
    assert_near(out, (const double[]){1}, 1, 0);
    /* M = 10 is cut to K − f = 4: (0 + 1 + 2 + 3) / 4 = 1.5, never the 100. */
    assert_int_equal(dn_aggregate_multi_krum(models, 5, 1, 1, 10, out, &chosen, NULL), DN_OK);
    assert_near(out, (const double[]){1.5}, 1, 0);
    /* In the plane: (0,0) (1,0) (0,1) (1,1) all score 1 + 1 = 2, (10,10) 162 + 181.
     * M = 3 takes the first three by index: ((0+1+0)/3, (0+0+1)/3). */
    const float planar[] = {0, 0, 1, 0, 0, 1, 1, 1, 10, 10};
    assert_int_equal(dn_aggregate_multi_krum(planar, 5, 2, 1, 3, out, &chosen, NULL), DN_OK);
    assert_near(out, (const double[]){1.0 / 3, 1.0 / 3}, 2, 1e-7);
    assert_int_equal(chosen, 0);
}

static void test_multi_krum_one_is_krum(void **state)
{
    (void)state;
    enum { K = 7, P = 33 };
    float models[K * P], a[P], b[P];
    dn_rng rng;
    dn_rng_seed(&rng, 3);
    for (int trial = 0; trial < 20; trial++) {
        for (size_t i = 0; i < K * P; i++) models[i] = (float)dn_rng_normal(&rng);
        models[trial % K * P] = -0.0f; /* a −0 must come out as −0 */
        size_t ca, cb;
        assert_int_equal(dn_aggregate_krum(models, K, P, 2, a, &ca, NULL), DN_OK);
        assert_int_equal(dn_aggregate_multi_krum(models, K, P, 2, 1, b, &cb, NULL), DN_OK);
        assert_memory_equal(a, b, sizeof a);
        assert_int_equal(ca, cb);
    }
    dn_error err;
    assert_int_equal(dn_aggregate_multi_krum(models, K, P, 2, 0, a, NULL, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "select"));
}

static void test_multi_krum_refuses_a_nonfinite_pick(void **state)
{
    (void)state;
    /* K = 5, f = 1, M = 4 = K − f: two NaN models, so the fourth pick is one. */
    const float models[] = {1, 1.1f, NAN, 0.9f, NAN};
    float out[1];
    dn_error err;
    assert_int_equal(dn_aggregate_multi_krum(models, 5, 1, 1, 4, out, NULL, &err), DN_ERR_NUMERIC);
    assert_int_equal(dn_aggregate_multi_krum(models, 5, 1, 1, 3, out, NULL, &err), DN_OK);
    assert_near(out, (const double[]){1}, 1, 1e-7);
}

/* ---------------------------------------------------------- clipping */

static void test_clip_hand_computed(void **state)
{
    (void)state;
    /* w = (1, 1); Δ = (3, 4), (0, 1), (6, 8) with norms 5, 1, 10. */
    const float w[2] = {1, 1};
    const float models[] = {4, 5, 1, 2, 7, 9};
    float out[2];
    double tau = 0;
    /* τ = 2: (3, 4)·0.4 = (1.2, 1.6), (0, 1), (6, 8)·0.2 = (1.2, 1.6);
     * mean (2.4, 4.2) / 3 = (0.8, 1.4), plus w. */
    assert_int_equal(dn_aggregate_clip(models, 3, 2, w, 2, NULL, out, &tau, NULL), DN_OK);
    assert_near(out, (const double[]){1.8, 2.4}, 2, 1e-6);
    assert_true(tau == 2);
    /* τ = 0: the median norm 5; (3, 4), (0, 1), (3, 4) → (2, 3), plus w. */
    assert_int_equal(dn_aggregate_clip(models, 3, 2, w, 0, NULL, out, &tau, NULL), DN_OK);
    assert_near(out, (const double[]){3, 4}, 2, 1e-6);
    assert_true(tau == 5);
    /* Weighted like the mean: (1·(3, 4) + 2·(0, 1) + 1·(3, 4)) / 4 = (1.5, 2.5). */
    assert_int_equal(dn_aggregate_clip(models, 3, 2, w, 0, (const double[]){1, 2, 1}, out, NULL, NULL), DN_OK);
    assert_near(out, (const double[]){2.5, 3.5}, 2, 1e-6);
    /* A bound above every norm is the mean. */
    assert_int_equal(dn_aggregate_clip(models, 3, 2, w, 100, NULL, out, NULL, NULL), DN_OK);
    assert_near(out, (const double[]){4, 16.0 / 3}, 2, 1e-6);
}

static void test_clip_refusals(void **state)
{
    (void)state;
    const float w[1] = {0}, models[] = {1, 2, NAN};
    float out[1];
    dn_error err;
    assert_int_equal(dn_aggregate_clip(models, 2, 1, w, -1, NULL, out, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_clip(models, 2, 1, w, NAN, NULL, out, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_clip(models, 2, 1, w, INFINITY, NULL, out, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_clip(models, 2, 1, NULL, 1, NULL, out, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_clip(models, 2, 1, w, 1, (const double[]){1, -1}, out, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_clip(models, 3, 1, w, 1, NULL, out, NULL, &err), DN_ERR_NUMERIC);
    assert_non_null(strstr(err.message, "model 2"));
}

/* ------------------------------------------------------------ FLTrust */

static void test_fltrust_weights(void **state)
{
    (void)state;
    /* w = 0, g_0 = (1, 0). Δ_0 = (2, 0): cos 1; Δ_1 = (3, 3): cos 1/√2;
     * Δ_2 = (−4, 1): cos −4/√17 < 0, trust 0. Each rescaled to ‖g_0‖ = 1:
     * out = (1·(1, 0) + (1/√2)·(1/√2, 1/√2)) / (1 + 1/√2). */
    const float w[2] = {0, 0}, trusted[2] = {1, 0};
    const float models[] = {2, 0, 3, 3, -4, 1};
    float out[2];
    double trust[3];
    assert_int_equal(dn_aggregate_fltrust(models, 3, 2, w, trusted, out, trust, NULL), DN_OK);
    assert_true(fabs(trust[0] - 1) < 1e-12);
    assert_true(fabs(trust[1] - 1 / sqrt(2)) < 1e-12);
    assert_true(trust[2] == 0);
    const double t = 1 + 1 / sqrt(2);
    assert_near(out, (const double[]){1.5 / t, 0.5 / t}, 2, 1e-6);
}

static void test_fltrust_refusals(void **state)
{
    (void)state;
    const float w[2] = {0, 0}, trusted[2] = {1, 0};
    /* Every update disagrees (or is zero, or NaN): no trust at all. */
    const float against[] = {-1, 0, 0, 0, NAN, 1, -3, 5};
    float out[2];
    double trust[4];
    dn_error err;
    assert_int_equal(dn_aggregate_fltrust(against, 4, 2, w, trusted, out, trust, &err), DN_ERR_NUMERIC);
    for (int i = 0; i < 4; i++) assert_true(trust[i] == 0);
    assert_int_equal(dn_aggregate_fltrust(against, 4, 2, w, NULL, out, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_aggregate_fltrust(against, 4, 2, NULL, trusted, out, NULL, &err), DN_ERR_USAGE);
    /* A NaN update with trust 0 is simply left out. */
    const float one_good[] = {NAN, 1, 2, 0};
    assert_int_equal(dn_aggregate_fltrust(one_good, 2, 2, w, trusted, out, NULL, &err), DN_OK);
    assert_near(out, (const double[]){1, 0}, 2, 0);
}

/* ---------------------------------------------------------- detection */

enum { DK = 6, DP = 8, FLIPPED = 4 };

/* Five honest updates b + 0.05·e_h (honest client h off b along its own
 * axis h, where b is 1: all of the same norm and pairwise distance, as
 * honest clients look to the scores on average) and, at row 4, the
 * sign-flip w − 4b. */
static void detection_round(float *models, float *w, float *trusted)
{
    const double b[DP] = {1, 1, 1, 1, 1, -1, 0.5, -0.5};
    for (size_t j = 0; j < DP; j++) {
        w[j] = (float)(0.1 * (double)j - 0.3);
        trusted[j] = (float)((double)w[j] + b[j]);
        for (size_t i = 0, h = 0; i < DK; i++) {
            double u = i == FLIPPED ? -4 * b[j] : b[j] + (j == h ? 0.05 : 0);
            h += i != FLIPPED;
            models[i * DP + j] = (float)((double)w[j] + u);
        }
    }
}

static void test_detection_flags_the_sign_flip(void **state)
{
    (void)state;
    float models[DK * DP], w[DP], trusted[DP];
    detection_round(models, w, trusted);
    const dn_detect_method methods[] = {DN_DETECT_KRUM, DN_DETECT_COSINE, DN_DETECT_NORM, DN_DETECT_FLTRUST};
    for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
        double scores[DK], threshold = dn_detect_default_threshold(methods[m]);
        assert_int_equal(dn_detect_scores(methods[m], models, DK, DP, w, trusted, 1, scores, NULL), DN_OK);
        for (size_t i = 0; i < DK; i++) {
            print_message("%s: client %zu scores %g (threshold %g)\n", dn_detect_method_name(methods[m]), i,
                          scores[i], threshold);
            assert_true(i == FLIPPED ? scores[i] > threshold : scores[i] < threshold);
            assert_true(scores[i] <= scores[FLIPPED]);
        }
    }
}

static void test_detection_hand_computed(void **state)
{
    (void)state;
    double s[5];
    const float zero[2] = {0, 0};
    /* cosine: the median of (1, 0), (1, 0), (0, 1), (−1, 0) is (0.5, 0), so
     * the scores are 1 − cos: 0, 0, 1, 2. */
    const float cos_models[] = {1, 0, 1, 0, 0, 1, -1, 0};
    assert_int_equal(dn_detect_scores(DN_DETECT_COSINE, cos_models, 4, 2, zero, NULL, 0, s, NULL), DN_OK);
    assert_true(fabs(s[0]) < 1e-12 && fabs(s[1]) < 1e-12 && fabs(s[2] - 1) < 1e-12 && fabs(s[3] - 2) < 1e-12);
    /* norm: norms 1, 2, 3, 4, 100: median 3, deviations 2 1 0 1 97, MAD 1. */
    const float norm_models[] = {1, 0, 0, 2, 3, 0, 0, -4, 100, 0};
    assert_int_equal(dn_detect_scores(DN_DETECT_NORM, norm_models, 5, 2, zero, NULL, 0, s, NULL), DN_OK);
    assert_true(fabs(s[0] - 2 / 1.4826) < 1e-12 && fabs(s[2]) < 1e-12 && fabs(s[4] - 97 / 1.4826) < 1e-9);
    /* krum, f = 1 (2 nearest): scores 5, 2, 2, 5, 19013 (see multi-Krum);
     * the median is 5. */
    const float krum_models[] = {0, 1, 2, 3, 100};
    assert_int_equal(dn_detect_scores(DN_DETECT_KRUM, krum_models, 5, 1, NULL, NULL, 1, s, NULL), DN_OK);
    assert_true(s[0] == 1 && s[1] == 0.4 && s[3] == 1 && s[4] == 19013.0 / 5);
    /* fltrust: 1 − trust of the FLTrust example: 0, 1 − 1/√2, 1. */
    const float fl_models[] = {2, 0, 3, 3, -4, 1};
    assert_int_equal(dn_detect_scores(DN_DETECT_FLTRUST, fl_models, 3, 2, zero, (const float[]){1, 0}, 0, s, NULL),
                     DN_OK);
    assert_true(fabs(s[0]) < 1e-12 && fabs(s[1] - (1 - 1 / sqrt(2))) < 1e-12 && s[2] == 1);
}

static void test_detection_edge_cases(void **state)
{
    (void)state;
    const float zero[2] = {0, 0};
    const float models[] = {1, 0, NAN, 0, 1, 0.1f};
    double s[3];
    const dn_detect_method methods[] = {DN_DETECT_KRUM, DN_DETECT_COSINE, DN_DETECT_NORM, DN_DETECT_FLTRUST};
    for (size_t m = 0; m < 4; m++) { /* a non-finite update scores +Inf under every method */
        assert_int_equal(dn_detect_scores(methods[m], models, 3, 2, zero, (const float[]){1, 0}, 0, s, NULL), DN_OK);
        assert_true(isinf(s[1]) && s[1] > 0);
    }
    /* krum with k < f + 3: too few to judge, every finite score 0. */
    assert_int_equal(dn_detect_scores(DN_DETECT_KRUM, models, 3, 2, NULL, NULL, 1, s, NULL), DN_OK);
    assert_true(s[0] == 0 && s[2] == 0 && isinf(s[1]));
    /* norm with equal norms: MAD 0, and 0/0 counts as 0. */
    const float same[] = {1, 0, 0, 1, -1, 0};
    assert_int_equal(dn_detect_scores(DN_DETECT_NORM, same, 3, 2, zero, NULL, 0, s, NULL), DN_OK);
    assert_true(s[0] == 0 && s[1] == 0 && s[2] == 0);
    dn_error err;
    assert_int_equal(dn_detect_scores(DN_DETECT_NONE, same, 3, 2, zero, NULL, 0, s, &err), DN_ERR_USAGE);
    assert_int_equal(dn_detect_scores((dn_detect_method)9, same, 3, 2, zero, NULL, 0, s, &err), DN_ERR_USAGE);
    assert_int_equal(dn_detect_scores(DN_DETECT_COSINE, same, 3, 2, NULL, NULL, 0, s, &err), DN_ERR_USAGE);
    assert_int_equal(dn_detect_scores(DN_DETECT_FLTRUST, same, 3, 2, zero, NULL, 0, s, &err), DN_ERR_USAGE);
    assert_int_equal(dn_detect_scores(DN_DETECT_KRUM, same, 3, 2, zero, NULL, -1, s, &err), DN_ERR_USAGE);
    assert_string_equal(dn_detect_method_name(DN_DETECT_NORM), "norm");
    assert_string_equal(dn_detect_method_name((dn_detect_method)9), "?");
    assert_null(dn_detect_method_choices()[DN_DETECT_FLTRUST + 1]);
    assert_true(dn_detect_default_threshold(DN_DETECT_NONE) == 0);
    assert_true(dn_detect_default_threshold(DN_DETECT_COSINE) == 0.9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format_round_trip),
        cmocka_unit_test(test_parse_refuses_bad_input),
        cmocka_unit_test(test_sign_flip_and_scale),
        cmocka_unit_test(test_none_and_label_flip_change_nothing),
        cmocka_unit_test(test_faults_as_attacks),
        cmocka_unit_test(test_gaussian_sends_noise_around_w),
        cmocka_unit_test(test_alie_with_a_given_z),
        cmocka_unit_test(test_alie_with_the_papers_z),
        cmocka_unit_test(test_ipm),
        cmocka_unit_test(test_colluding_with_no_honest_row),
        cmocka_unit_test(test_attack_needs_rng_and_global),
        cmocka_unit_test(test_malicious_clients),
        cmocka_unit_test(test_alie_z),
        cmocka_unit_test(test_multi_krum_hand_computed),
        cmocka_unit_test(test_multi_krum_one_is_krum),
        cmocka_unit_test(test_multi_krum_refuses_a_nonfinite_pick),
        cmocka_unit_test(test_clip_hand_computed),
        cmocka_unit_test(test_clip_refusals),
        cmocka_unit_test(test_fltrust_weights),
        cmocka_unit_test(test_fltrust_refusals),
        cmocka_unit_test(test_detection_flags_the_sign_flip),
        cmocka_unit_test(test_detection_hand_computed),
        cmocka_unit_test(test_detection_edge_cases),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
