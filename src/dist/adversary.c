/*
 * adversary.c — what malicious federated clients send: the attacks'
 * names, the seeded set of malicious clients, ALIE's z_max, and the models
 * a round's malicious rows are replaced by. Pure functions over a round's
 * (K, P) models, so every attack is testable in one process; the
 * federated round (distributed_mlp.c) decides when they run.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Entry i names kind i; NULL-terminated for the CLI's choice list. */
static const char *const attack_names[] = {"none", "label-flip", "sign-flip", "scale", "gaussian", "alie",
                                           "ipm",  "nan",        "zero",      "random", NULL};
#define ATTACK_KINDS (sizeof attack_names / sizeof *attack_names - 1)

/* What a kind's parameter is: none, optional (with a default) or required,
 * and the lowest value it may take (exclusive or not); -INFINITY: any. */
typedef struct attack_param {
    enum { PARAM_NONE, PARAM_OPTIONAL, PARAM_REQUIRED } use;
    double fallback;
    double min;
    int min_exclusive;
} attack_param;

static const attack_param attack_params[ATTACK_KINDS] = {
    [DN_ATTACK_NONE] = {PARAM_NONE, 0, 0, 0},
    [DN_ATTACK_LABEL_FLIP] = {PARAM_NONE, 0, 0, 0},
    [DN_ATTACK_SIGN_FLIP] = {PARAM_OPTIONAL, 4, -INFINITY, 0}, /* L = 4: a fifth of the clients cancels the rest */
    [DN_ATTACK_SCALE] = {PARAM_REQUIRED, 0, -INFINITY, 0},
    [DN_ATTACK_GAUSSIAN] = {PARAM_OPTIONAL, 0.1, 0, 1},
    [DN_ATTACK_ALIE] = {PARAM_OPTIONAL, 0, 0, 0}, /* Z = 0: the paper's z_max for the round */
    [DN_ATTACK_IPM] = {PARAM_OPTIONAL, 0.5, 0, 1},
    [DN_ATTACK_NAN] = {PARAM_NONE, 0, 0, 0},
    [DN_ATTACK_ZERO] = {PARAM_NONE, 0, 0, 0},
    [DN_ATTACK_RANDOM] = {PARAM_NONE, 0, 0, 0},
};

const char *dn_attack_name(dn_attack_kind kind)
{
    return (int)kind >= 0 && (size_t)kind < ATTACK_KINDS ? attack_names[kind] : "?";
}

const char *const *dn_attack_choices(void) { return attack_names; }

static dn_status attack_usage(const char *text, dn_error *err)
{
    return dn_fail(err, DN_ERR_USAGE,
                   "unknown attack '%s' (valid: none, label-flip, sign-flip[:L], scale:S, gaussian[:SIGMA], alie[:Z], "
                   "ipm[:EPS], nan, zero, random; L and S finite numbers, SIGMA > 0, Z ≥ 0, EPS > 0)",
                   text);
}

/* A finite number filling all of text, within the kind's range. */
static int parse_param(const char *text, const attack_param *rule, double *value)
{
    char *end;
    if (!*text || isspace((unsigned char)*text)) return 0; /* strtod would skip leading blanks */
    double v = strtod(text, &end);
    if (*end != '\0' || !isfinite(v)) return 0;
    if (rule->min_exclusive ? !(v > rule->min) : !(v >= rule->min)) return 0;
    *value = v;
    return 1;
}

dn_status dn_attack_parse(const char *text, dn_attack *attack, dn_error *err)
{
    attack->kind = DN_ATTACK_NONE;
    attack->param = 0;
    if (!text) return attack_usage("(null)", err);
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    for (size_t k = 0; k < ATTACK_KINDS; k++) {
        if (strlen(attack_names[k]) != len || strncmp(text, attack_names[k], len) != 0) continue;
        const attack_param *rule = &attack_params[k];
        double value = rule->fallback;
        if (colon ? rule->use == PARAM_NONE || !parse_param(colon + 1, rule, &value) : rule->use == PARAM_REQUIRED)
            break;
        attack->kind = (dn_attack_kind)k;
        attack->param = value;
        return DN_OK;
    }
    return attack_usage(text, err);
}

void dn_attack_format(const dn_attack *attack, char *buf, size_t size)
{
    const char *name = dn_attack_name(attack->kind);
    if (size == 0) return;
    if (strcmp(name, "?") == 0 || attack_params[attack->kind].use == PARAM_NONE) {
        snprintf(buf, size, "%s", name);
        return;
    }
    /* The fewest digits that read back as the same double, so two
     * different parameters never share a spelling; from 6 up, as
     * dn_fault_format does, since %g writes 10 as "1e+01" below 2 digits
     * (%g drops trailing zeros, so 6 adds none). */
    char text[40];
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, attack->param);
        if (strtod(text, NULL) == attack->param) break;
    }
    snprintf(buf, size, "%s:%s", name, text);
}

/* ------------------------------------------------------ malicious clients */

/* splitmix64's finaliser, as distributed_mlp.c mixes its seeds. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

#define MALICIOUS_TAG 0x4D414C494349ULL /* "MALICI": apart from the round's other draws */

size_t dn_malicious_clients(size_t clients, double fraction, uint64_t seed, unsigned char *malicious)
{
    double want = fraction > 0 ? floor(fraction * (double)clients + 0.5) : 0; /* round half up; NaN: none */
    size_t m = want >= (double)clients ? clients : (size_t)want, taken = 0;
    dn_rng rng;
    dn_rng_seed(&rng, mix64(mix64(seed ^ MALICIOUS_TAG)));
    /* Knuth's selection sampling (TAOCP 3.4.2, Algorithm S): client i is
     * taken with probability (m − taken) / (K − i), exactly m in all. */
    for (size_t i = 0; i < clients; i++) {
        int take = taken < m && dn_rng_below(&rng, clients - i) < m - taken;
        malicious[i] = (unsigned char)take;
        taken += (size_t)take;
    }
    return m;
}

/* ----------------------------------------------------------------- ALIE */

/* Φ⁻¹(q) for q in (0, 1): bisection on Φ(x) = erfc(−x/√2)/2, which is
 * increasing, until the bracket stops shrinking — within a few ulps, far
 * below the 1e-9 that is asked, and with nothing but libm. */
static double normal_quantile(double q)
{
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (mid == lo || mid == hi) break;
        if (0.5 * erfc(-mid / sqrt(2.0)) < q) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

double dn_alie_z(size_t n, size_t f)
{
    size_t half = n / 2 + 1; /* ⌊n/2 + 1⌋ */
    if (f >= half) return 0; /* s ≤ 0 */
    size_t s = half - f;
    if (s >= n) return 0;
    return normal_quantile((double)(n - s) / (double)n);
}

/* ---------------------------------------------------------------- attacks */

/* μ (and σ when sigma is not NULL) of the updates of the rows that use
 * says, coordinate-wise: sums in double in model order, σ the population
 * standard deviation from a second pass (no cancellation from Σx² − nμ²). */
static void update_moments(const float *models, size_t k, size_t p, const float *global, const unsigned char *use,
                           unsigned char want, double *mu, double *sigma)
{
    size_t n = 0;
    for (size_t j = 0; j < p; j++) mu[j] = 0;
    for (size_t i = 0; i < k; i++) {
        if ((use[i] != 0) != want) continue;
        const float *row = models + i * p;
        for (size_t j = 0; j < p; j++) mu[j] += (double)row[j] - (double)global[j];
        n++;
    }
    for (size_t j = 0; j < p; j++) mu[j] /= (double)n;
    if (!sigma) return;
    for (size_t j = 0; j < p; j++) sigma[j] = 0;
    for (size_t i = 0; i < k; i++) {
        if ((use[i] != 0) != want) continue;
        const float *row = models + i * p;
        for (size_t j = 0; j < p; j++) {
            double d = (double)row[j] - (double)global[j] - mu[j];
            sigma[j] += d * d;
        }
    }
    for (size_t j = 0; j < p; j++) sigma[j] = sqrt(sigma[j] / (double)n);
}

/* ALIE and IPM: every malicious row gets the same model, built from the
 * honest updates (every row's when all are malicious). */
static dn_status colluding_attack(const dn_attack *attack, float *models, size_t k, size_t p, const float *global,
                                  const unsigned char *malicious, size_t bad, dn_error *err)
{
    const int alie = attack->kind == DN_ATTACK_ALIE;
    double *mu = malloc((alie ? 2 : 1) * (p ? p : 1) * sizeof *mu);
    if (!mu)
        return dn_fail(err, DN_ERR_NOMEM, "attack %s: out of memory for %zu parameters", attack_names[attack->kind], p);
    double *sigma = alie ? mu + p : NULL;
    /* Rows with malicious[i] == 0 are honest; with none, the malicious rows' own updates. */
    update_moments(models, k, p, global, malicious, bad < k ? 0 : 1, mu, sigma);
    double z = alie && attack->param == 0 ? dn_alie_z(k, bad) : attack->param;
    float *first = NULL;
    for (size_t i = 0; i < k; i++) {
        if (!malicious[i]) continue;
        float *row = models + i * p;
        if (first) {
            memcpy(row, first, p * sizeof *row);
            continue;
        }
        for (size_t j = 0; j < p; j++)
            row[j] = (float)(alie ? (double)global[j] + mu[j] - z * sigma[j] : (double)global[j] - z * mu[j]);
        first = row;
    }
    free(mu);
    return DN_OK;
}

/* What one malicious row sends under the attacks that act alone. */
static void lone_attack(const dn_attack *attack, float *row, size_t p, const float *global, dn_rng *rng)
{
    const double a = attack->param;
    dn_fault fault = {DN_FAULT_NONE, 1};
    switch (attack->kind) {
    case DN_ATTACK_SIGN_FLIP:
        for (size_t j = 0; j < p; j++) row[j] = (float)((double)global[j] - a * ((double)row[j] - (double)global[j]));
        return;
    case DN_ATTACK_SCALE:
        for (size_t j = 0; j < p; j++) row[j] = (float)((double)global[j] + a * ((double)row[j] - (double)global[j]));
        return;
    case DN_ATTACK_GAUSSIAN:
        for (size_t j = 0; j < p; j++) row[j] = (float)((double)global[j] + a * dn_rng_normal(rng));
        return;
    case DN_ATTACK_NAN: fault.kind = DN_FAULT_NAN; break;
    case DN_ATTACK_ZERO: fault.kind = DN_FAULT_ZERO; break;
    case DN_ATTACK_RANDOM: fault.kind = DN_FAULT_RANDOM; break;
    default: return;
    }
    dn_fault_apply_f32(&fault, row, p, rng);
}

dn_status dn_attack_models(const dn_attack *attack, float *models, size_t k, size_t p, const float *global,
                           const unsigned char *malicious, dn_rng *rng, dn_error *err)
{
    if ((int)attack->kind < 0 || (size_t)attack->kind >= ATTACK_KINDS)
        return dn_fail(err, DN_ERR_USAGE, "unknown attack kind %d", (int)attack->kind);
    if (attack->kind == DN_ATTACK_NONE || attack->kind == DN_ATTACK_LABEL_FLIP) return DN_OK; /* nothing sent differs */
    size_t bad = 0;
    for (size_t i = 0; i < k; i++) bad += malicious[i] != 0;
    if (bad == 0) return DN_OK;
    if (!global)
        return dn_fail(err, DN_ERR_USAGE, "attack %s: needs the round's global model", attack_names[attack->kind]);
    if (!rng && (attack->kind == DN_ATTACK_GAUSSIAN || attack->kind == DN_ATTACK_RANDOM))
        return dn_fail(err, DN_ERR_USAGE, "attack %s: needs a random generator", attack_names[attack->kind]);
    if (attack->kind == DN_ATTACK_ALIE || attack->kind == DN_ATTACK_IPM)
        return colluding_attack(attack, models, k, p, global, malicious, bad, err);
    for (size_t i = 0; i < k; i++)
        if (malicious[i]) lone_attack(attack, models + i * p, p, global, rng);
    return DN_OK;
}
