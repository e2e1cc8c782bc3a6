/*
 * checkpoint_comm.c — the collective steps every distributed checkpoint
 * takes (see the end of checkpoint_internal.h): moving the ranks' fault
 * generators to and from rank 0, and agreeing on an outcome. Used by
 * distributed_checkpoint.c (MLP) and pta_distributed_checkpoint.c (PTA).
 */
#include <stdlib.h>

#include "checkpoint_internal.h"

static void rng_to_bytes(const uint64_t s[4], uint8_t *out)
{
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++) out[i * 8 + b] = (uint8_t)(s[i] >> (8 * b));
}

static void rng_from_bytes(const uint8_t *in, uint64_t s[4])
{
    for (int i = 0; i < 4; i++) {
        s[i] = 0;
        for (int b = 0; b < 8; b++) s[i] |= (uint64_t)in[i * 8 + b] << (8 * b);
    }
}

dn_status dn_ckpt_share_outcome(dn_comm *comm, dn_status local, dn_error *err)
{
    dn_error shared = {local, ""};
    if (local && err) shared = *err;
    dn_status s = dn_comm_broadcast(comm, &shared, sizeof shared, DN_COMM_BYTE, 0, err);
    if (s) return s;
    if (shared.code && err) *err = shared;
    return shared.code;
}

dn_status dn_ckpt_agree(dn_comm *comm, dn_status local, const char *path, dn_error *err)
{
    int failed = local != DN_OK;
    dn_status s = dn_comm_allreduce(comm, &failed, 1, DN_COMM_INT, DN_COMM_MAX, err);
    if (!s) s = dn_ckpt_share_outcome(comm, dn_comm_rank(comm) == 0 ? local : DN_OK, err);
    if (!s && failed) s = local ? local : dn_fail(err, DN_ERR_NOMEM, "%s: a rank is out of memory", path);
    return s;
}

dn_status dn_ckpt_gather_rng(dn_comm *comm, const dn_rng *rng, uint8_t **all, const char *path, dn_error *err)
{
    int root = dn_comm_rank(comm) == 0;
    uint8_t mine[DN_CKPT_RNG_BYTES] = {0};
    if (rng) rng_to_bytes(rng->s, mine);
    *all = root ? calloc((size_t)dn_comm_size(comm), DN_CKPT_RNG_BYTES) : NULL;
    dn_status local = root && !*all ? dn_fail(err, DN_ERR_NOMEM, "%s: rank 0 is out of memory for the checkpoint", path)
                                    : DN_OK;
    dn_status s = dn_ckpt_agree(comm, local, path, err);
    if (!s) s = dn_comm_gather(comm, mine, DN_CKPT_RNG_BYTES, DN_COMM_BYTE, *all, 0, err);
    if (s) {
        free(*all);
        *all = NULL;
    }
    return s;
}

dn_status dn_ckpt_scatter_rng(dn_comm *comm, uint8_t *all, dn_rng *rng, dn_error *err)
{
    size_t K = (size_t)dn_comm_size(comm), rank = (size_t)dn_comm_rank(comm);
    dn_status s = dn_comm_broadcast(comm, all, K * DN_CKPT_RNG_BYTES, DN_COMM_BYTE, 0, err);
    if (!s && rng) rng_from_bytes(all + rank * DN_CKPT_RNG_BYTES, rng->s);
    return s;
}
