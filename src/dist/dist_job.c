/* dist_job.c — what both distributed loops know about their job
 * (dn_dist_options in digitnet.h): the checks, this rank's shard, its
 * fault and the fault generator's seed. */
#include <stdio.h>
#include <string.h>

#include "dist_job_internal.h"

void dn_dist_options_default(dn_dist_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->shard = DN_SHARD_CONTIGUOUS;
    opt->shard_seed = 1;
    opt->fault_rank = -1;
    opt->fault.kind = DN_FAULT_NONE;
}

void dn_dist_options_describe(const dn_dist_options *opt, const char *mode, char *buf, size_t size)
{
    if (!buf || size == 0) return;
    int used = snprintf(buf, size, "%s", mode ? mode : "");
    if (used >= 0 && (size_t)used < size && opt->shard == DN_SHARD_REPLICATE)
        used += snprintf(buf + used, size - (size_t)used, " shard:%s", dn_shard_mode_name(opt->shard));
    else if (used >= 0 && (size_t)used < size && opt->shard != DN_SHARD_CONTIGUOUS) /* the seed picks the split */
        used += snprintf(buf + used, size - (size_t)used, " shard:%s:%llu", dn_shard_mode_name(opt->shard),
                         (unsigned long long)opt->shard_seed);
    if (used >= 0 && (size_t)used < size && opt->fault_rank >= 0 && opt->fault.kind != DN_FAULT_NONE) {
        char fault[64];
        dn_fault_format(&opt->fault, fault, sizeof fault);
        snprintf(buf + used, size - (size_t)used, " fault:%d:%s", opt->fault_rank, fault);
    }
}

dn_status dn_dist_check(const dn_dist_options *opt, int ranks, dn_error *err)
{
    if (opt->fault_rank >= ranks)
        return dn_fail(err, DN_ERR_USAGE, "fault rank %d: the job has ranks 0 to %d", opt->fault_rank, ranks - 1);
    return DN_OK;
}

dn_dataset *dn_dist_shard(const dn_dist_options *opt, dn_comm *comm, const dn_dataset *train, size_t n,
                          dn_error *err)
{
    return dn_dataset_shard(train, n, dn_comm_size(comm), dn_comm_rank(comm), opt->shard, opt->shard_seed, err);
}

dn_fault dn_dist_fault_of(const dn_dist_options *opt, int rank)
{
    if (opt->fault_rank == rank) return opt->fault;
    return (dn_fault){DN_FAULT_NONE, 0};
}

void dn_dist_seed_fault_rng(dn_rng *rng, int rank)
{
    /* Explicit state seeded per rank: no draw is shared between ranks. */
    dn_rng_seed(rng, 0x5eed0000u + (uint64_t)rank);
}

const char *dn_dist_job(const dn_dist_options *opt, const char *mode)
{
    return opt->job ? opt->job : mode;
}
