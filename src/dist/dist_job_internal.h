/* dist_job_internal.h — the job side of the distributed loops
 * (dist_job.c), shared by pta_run.c and mlp_run.c; not installed. */
#ifndef DN_DIST_JOB_INTERNAL_H
#define DN_DIST_JOB_INTERNAL_H

#include "internal.h"

/* The fault rank lies within a job of ranks processes. */
dn_status dn_dist_check(const dn_dist_options *opt, int ranks, dn_error *err);
/* This rank's training set among the first n samples of train (a copy:
 * dn_dataset_free). */
dn_dataset *dn_dist_shard(const dn_dist_options *opt, dn_comm *comm, const dn_dataset *train, size_t n,
                          dn_error *err);
/* What rank sends instead of its model: DN_FAULT_NONE unless it is the faulty one. */
dn_fault dn_dist_fault_of(const dn_dist_options *opt, int rank);
/* The fault generator's starting state on rank (a checkpoint may replace it). */
void dn_dist_seed_fault_rng(dn_rng *rng, int rank);
/* The description checkpoints record: opt->job, or mode when it is NULL. */
const char *dn_dist_job(const dn_dist_options *opt, const char *mode);

#endif /* DN_DIST_JOB_INTERNAL_H */
