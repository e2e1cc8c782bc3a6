/* pta_mix_internal.h — the pieces of dn_pta_run_train (pta_run.c) that
 * parameter mixing adds (pta_mix.c); not installed. */
#ifndef DN_PTA_MIX_INTERNAL_H
#define DN_PTA_MIX_INTERNAL_H

#include "internal.h"

/* One rank's side of the mix: its place in the job, what it injects, and
 * the allreduce buffer [ W | errors | out-of-memory flag | a non-finite
 * flag per rank ] with the last accepted mean beside it. */
typedef struct dn_pta_mixer {
    dn_comm *comm;
    int rank, size;
    dn_fault fault; /* DN_FAULT_NONE on honest ranks */
    dn_rng *rng;    /* the fault's draws */
    double *buf;
    double *prev;
} dn_pta_mixer;

/* Joins comm: the fault when rank is opt->fault_rank, the buffers, prev =
 * pta's W once pta exists (dn_pta_mixer_start). */
dn_status dn_pta_mixer_init(dn_pta_mixer *mx, const dn_pta_run_options *opt, dn_rng *rng, dn_error *err);
void dn_pta_mixer_start(dn_pta_mixer *mx, const dn_pta *pta);
void dn_pta_mixer_free(dn_pta_mixer *mx);

/* One mixed epoch on this rank's shard; r->errors gets the global count,
 * r->mix_refused and r->bad_ranks what the mix met. */
dn_status dn_pta_mix_epoch(dn_pta_mixer *mx, dn_pta *pta, const dn_dataset *shard, dn_pta_run_report *r,
                           dn_error *err);

#endif /* DN_PTA_MIX_INTERNAL_H */
