/* fedavg_internal.h — what distributed_mlp.c (the rounds) and
 * fedavg_screen.c (the master's screening of a round's models when
 * adversaries are simulated) share. */
#ifndef DN_FEDAVG_INTERNAL_H
#define DN_FEDAVG_INTERNAL_H

#include "mlp_internal.h"

/* Seed tags of the adversaries' streams (see dn_seed_derive_). */
#define DN_ATTACK_TAG 0x41545441434BULL /* "ATTACK" */
#define DN_ROOT_TAG 0x524F4F545345ULL   /* "ROOTSE" */

/* A round's participants on the master, ascending client id: models
 * (count, P), info (count, 2: size, loss × size), ids (count). Screening
 * moves the ones it keeps to the front, in order, and lowers count. */
typedef struct dn_round_models {
    float *models;
    double *info;
    size_t *ids;
    size_t count;
    const float *global;  /* w_g, the model broadcast this round */
    const float *trusted; /* the server's model on its root set, or NULL */
} dn_round_models;

/* 1 when opt simulates adversaries or detects them: the round then goes
 * through dn_fedavg_screen_. */
int dn_fedavg_screens_(const dn_fedavg_options *opt);

/* 1 when client k is banned (reputation reached on an earlier round). */
int dn_fedavg_banned_(const dn_mlp *mlp, const dn_fedavg_options *opt, size_t k);

/* The master's screening, in this order: banned participants out; the
 * malicious participants' attack (malicious: the K clients' ground truth);
 * detection's scores and flags, flagged participants out, flags counted
 * for the reputation. Fills the report's adversary fields. DN_ERR_NOMEM. */
dn_status dn_fedavg_screen_(dn_mlp *mlp, const dn_fedavg_options *opt, const unsigned char *malicious, size_t clients,
                            uint64_t seed, int round, dn_round_models *r, dn_fedavg_report *report, dn_error *err);

#endif
