/*
 * pta_internal.h — the trainer's state, for code that must save and restore
 * it exactly (checkpoints, distributed mixing). Not installed.
 */
#ifndef DN_PTA_INTERNAL_H
#define DN_PTA_INTERNAL_H

#include "internal.h"

#define PTA_LANES 16 /* the ten neurons padded to one vector */
#define PTA_STATE_VALUES (DN_IMAGE_PIXELS * PTA_LANES) /* values in wt and avg_acc */

/* Pointers into a live dn_pta. wt_f32 or wt_f64 (the other NULL) is W in the
 * trainer's layout, PTA_STATE_VALUES values, shape (784, PTA_LANES):
 * wt[k * PTA_LANES + l] = W[l][k], padding lanes zero (see pta_kernel.h). avg_acc (same layout, float64) is NULL
 * unless averaging; the averaged W is W − avg_acc / steps. Writing through these pointers is how a
 * checkpoint is restored; dn_pta_set_weights would reset steps and avg_acc. */
typedef struct dn_pta_state {
    dn_pta_options *opt;
    int *epochs_done;
    uint64_t *steps;
    float *wt_f32;
    double *wt_f64;
    double *avg_acc;
} dn_pta_state;

dn_pta_state dn_pta_state_of_(dn_pta *pta);

/* The parts of an epoch one at a time, for bench/bench_pta.c's breakdown
 * (dn_pta_epoch runs them together). dn_pta_update_pass_: the update pass
 * alone, on one thread, over the first n samples of set: W, the average
 * and the step count change as in an epoch, no count is made, the epoch
 * count stays. dn_pta_index_build_: builds the pixel index of set's first
 * n images, as a set without a cache would each epoch, and frees it. */
dn_status dn_pta_update_pass_(dn_pta *pta, const dn_dataset *set, size_t n, dn_error *err);
dn_status dn_pta_index_build_(const dn_dataset *set, size_t n, dn_error *err);

#endif /* DN_PTA_INTERNAL_H */
