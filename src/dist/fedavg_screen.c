/*
 * fedavg_screen.c — the master's side of a federated round with simulated
 * adversaries: the banned clients left out, the malicious clients' models
 * replaced by what they send, detection's scores and flags, and the
 * reputation that bans. The simulation knows who is malicious, so it also
 * counts detection's hits and misses.
 *
 * The participants' models arrive in ascending client-id order and leave
 * in that order (the merge's sums depend on it), the ones left out moved
 * past the end.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedavg_internal.h"

int dn_fedavg_screens_(const dn_fedavg_options *opt)
{
    int attacked = opt->malicious > 0 && opt->attack.kind != DN_ATTACK_NONE;
    return attacked || opt->detect.method != DN_DETECT_NONE;
}

int dn_fedavg_banned_(const dn_mlp *mlp, const dn_fedavg_options *opt, size_t k)
{
    int R = opt->detect.reputation;
    return R > 0 && opt->detect.method != DN_DETECT_NONE && k < mlp->client_flags_n && mlp->client_flags[k] >= R;
}

/* Keeps the participants whose drop[i] is 0, in order; returns how many. */
static size_t keep(dn_round_models *r, size_t P, const unsigned char *drop)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->count; i++) {
        if (drop[i]) continue;
        if (kept != i) {
            memmove(r->models + kept * P, r->models + i * P, P * sizeof *r->models);
            memcpy(r->info + 2 * kept, r->info + 2 * i, 2 * sizeof *r->info);
            r->ids[kept] = r->ids[i];
        }
        kept++;
    }
    return r->count = kept;
}

/* The verdict on one participant, added to the report. */
static void count_verdict(dn_fedavg_report *report, int malicious, int flagged)
{
    report->malicious += (size_t)malicious;
    report->flagged += (size_t)flagged;
    report->true_positives += (size_t)(malicious && flagged);
    report->false_positives += (size_t)(!malicious && flagged);
    report->false_negatives += (size_t)(malicious && !flagged);
}

/* Room for n scores on the network (the report points there). */
static int score_room(dn_mlp *mlp, size_t n)
{
    if (mlp->scored_cap >= n) return 1;
    free(mlp->scored_ids), free(mlp->scores), free(mlp->score_flags);
    mlp->scored_ids = malloc(n * sizeof *mlp->scored_ids);
    mlp->scores = malloc(n * sizeof *mlp->scores);
    mlp->score_flags = malloc(n);
    mlp->scored_cap = mlp->scored_ids && mlp->scores && mlp->score_flags ? n : 0;
    return mlp->scored_cap == n;
}

/* The reputation's counters for K clients, zeroed on first use. */
static int flag_counters(dn_mlp *mlp, size_t clients)
{
    if (mlp->client_flags_n == clients) return 1;
    free(mlp->client_flags);
    mlp->client_flags = calloc(clients ? clients : 1, sizeof *mlp->client_flags);
    mlp->client_flags_n = mlp->client_flags ? clients : 0;
    return mlp->client_flags != NULL;
}

/* Banned participants out: flagged, never scored. */
static void drop_banned(dn_mlp *mlp, const dn_fedavg_options *opt, const unsigned char *malicious,
                        dn_round_models *r, unsigned char *drop, dn_fedavg_report *report)
{
    for (size_t i = 0; i < r->count; i++) {
        drop[i] = (unsigned char)dn_fedavg_banned_(mlp, opt, r->ids[i]);
        report->banned += drop[i];
        if (drop[i]) count_verdict(report, malicious[r->ids[i]], 1);
    }
    keep(r, mlp->nparams, drop);
}

static dn_status attack(const dn_fedavg_options *opt, const unsigned char *malicious, uint64_t seed, int round,
                        size_t P, dn_round_models *r, unsigned char *rows, dn_error *err)
{
    if (!(opt->malicious > 0) || opt->attack.kind == DN_ATTACK_NONE || r->count == 0) return DN_OK;
    for (size_t i = 0; i < r->count; i++) rows[i] = malicious[r->ids[i]];
    dn_rng rng;
    dn_rng_seed(&rng, dn_seed_derive_(seed, DN_ATTACK_TAG, (uint64_t)(int64_t)round, 0));
    return dn_attack_models(&opt->attack, r->models, r->count, P, r->global, rows, &rng, err);
}

/* Scores the participants, flags the ones over the threshold (into drop),
 * counts them for the reputation and in the report. */
static dn_status detect(dn_mlp *mlp, const dn_fedavg_options *opt, const unsigned char *malicious,
                        dn_round_models *r, unsigned char *drop, dn_fedavg_report *report, dn_error *err)
{
    const dn_detect_options *d = &opt->detect;
    if (!score_room(mlp, r->count ? r->count : 1))
        return dn_fail(err, DN_ERR_NOMEM, "fedavg: out of memory for %zu detection scores", r->count);
    dn_status s = dn_detect_scores(d->method, r->models, r->count, mlp->nparams, r->global, r->trusted,
                                   opt->aggregate.faulty, mlp->scores, err);
    if (s) return s;
    const double threshold = d->threshold > 0 ? d->threshold : dn_detect_default_threshold(d->method);
    for (size_t i = 0; i < r->count; i++) {
        size_t k = r->ids[i];
        drop[i] = !(mlp->scores[i] <= threshold); /* NaN and +Inf flagged too */
        mlp->scored_ids[i] = k, mlp->score_flags[i] = drop[i];
        if (drop[i] && d->reputation > 0) mlp->client_flags[k]++;
        count_verdict(report, malicious[k], drop[i]);
    }
    report->scored = r->count;
    report->scored_clients = mlp->scored_ids, report->scores = mlp->scores, report->flags = mlp->score_flags;
    keep(r, mlp->nparams, drop);
    return DN_OK;
}

dn_status dn_fedavg_screen_(dn_mlp *mlp, const dn_fedavg_options *opt, const unsigned char *malicious, size_t clients,
                            uint64_t seed, int round, dn_round_models *r, dn_fedavg_report *report, dn_error *err)
{
    const int detecting = opt->detect.method != DN_DETECT_NONE;
    unsigned char *drop = malloc(r->count ? r->count : 1);
    if (!drop || (detecting && opt->detect.reputation > 0 && !flag_counters(mlp, clients))) {
        free(drop);
        return dn_fail(err, DN_ERR_NOMEM, "fedavg: out of memory for screening %zu clients", clients);
    }
    drop_banned(mlp, opt, malicious, r, drop, report);
    dn_status s = attack(opt, malicious, seed, round, mlp->nparams, r, drop, err);
    if (!s && detecting) s = detect(mlp, opt, malicious, r, drop, report, err);
    else if (!s)
        for (size_t i = 0; i < r->count; i++) count_verdict(report, malicious[r->ids[i]], 0);
    free(drop);
    return s;
}
