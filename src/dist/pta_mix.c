/* pta_mix.c — parameter mixing for dn_pta_run_train (see "the perceptron's
 * training run" in digitnet.h for the math and its exactness). */
#include <stdlib.h>
#include <string.h>

#include "dist_job_internal.h"
#include "pta_mix_internal.h"

#define W_VALUES ((size_t)DN_CLASSES * DN_IMAGE_PIXELS)
#define SLOT_ERRORS W_VALUES
#define SLOT_NOMEM (W_VALUES + 1)
#define SLOT_FLAGS (W_VALUES + 2) /* + rank */

dn_status dn_pta_mixer_init(dn_pta_mixer *mx, const dn_pta_run_options *opt, dn_rng *rng, dn_error *err)
{
    dn_comm *comm = opt->dist.comm;
    *mx = (dn_pta_mixer){comm, dn_comm_rank(comm), dn_comm_size(comm), dn_dist_fault_of(&opt->dist, dn_comm_rank(comm)),
                         rng, NULL, NULL};
    dn_status s = dn_dist_check(&opt->dist, mx->size, err);
    if (s) return s;
    mx->buf = malloc((SLOT_FLAGS + (size_t)mx->size) * sizeof *mx->buf);
    mx->prev = malloc(W_VALUES * sizeof *mx->prev);
    if (!mx->buf || !mx->prev) return dn_fail(err, DN_ERR_NOMEM, "out of memory for the mixing buffers");
    return DN_OK;
}

void dn_pta_mixer_start(dn_pta_mixer *mx, const dn_pta *pta) { dn_pta_get_weights(pta, mx->prev); }

void dn_pta_mixer_free(dn_pta_mixer *mx)
{
    free(mx->buf);
    free(mx->prev);
    mx->buf = mx->prev = NULL;
}

/* The ranks whose contribution held a non-finite value, for the report. */
static void name_bad_ranks(const double *buf, int size, char *text, size_t cap)
{
    size_t used = 0;
    text[0] = '\0';
    for (int r = 0; r < size && used < cap; r++)
        if (buf[SLOT_FLAGS + (size_t)r] > 0)
            used += (size_t)snprintf(text + used, cap - used, "%s%d", used ? ", " : "", r);
    if (!used) snprintf(text, cap, "none alone (the sum overflowed)");
}

/* This rank's contribution: its W (corrupted when it is the faulty one),
 * its shard's errors and its flags; zero in the other ranks' slots. */
static void contribute(dn_pta_mixer *mx, const dn_pta *pta, size_t local)
{
    double *buf = mx->buf;
    dn_pta_get_weights(pta, buf);
    dn_fault_apply_f64(&mx->fault, buf, W_VALUES, mx->rng);
    memset(buf + W_VALUES, 0, (size_t)(2 + mx->size) * sizeof *buf);
    buf[SLOT_NOMEM] = local == SIZE_MAX;
    buf[SLOT_ERRORS] = local == SIZE_MAX ? 0 : (double)local; /* exact: counts are far below 2^53 */
    buf[SLOT_FLAGS + (size_t)mx->rank] = dn_first_nonfinite_f64(buf, W_VALUES) < W_VALUES;
}

dn_status dn_pta_mix_epoch(dn_pta_mixer *mx, dn_pta *pta, const dn_dataset *shard, dn_pta_run_report *r,
                           dn_error *err)
{
    double *buf = mx->buf;
    contribute(mx, pta, dn_pta_epoch(pta, shard, shard->count));
    dn_status s = dn_comm_allreduce(mx->comm, buf, SLOT_FLAGS + (size_t)mx->size, DN_COMM_F64, DN_COMM_SUM, err);
    if (s) return s;
    if (buf[SLOT_NOMEM] > 0) return dn_fail(err, DN_ERR_NOMEM, "a rank ran out of memory for its pixel index");
    r->errors = (size_t)buf[SLOT_ERRORS];
    if (dn_first_nonfinite_f64(buf, W_VALUES) < W_VALUES) {
        r->mix_refused = 1;
        name_bad_ranks(buf, mx->size, r->bad_ranks, sizeof r->bad_ranks);
        dn_pta_set_weights(pta, mx->prev);
        return DN_OK;
    }
    for (size_t i = 0; i < W_VALUES; i++) buf[i] /= (double)mx->size;
    dn_pta_set_weights(pta, buf);
    memcpy(mx->prev, buf, W_VALUES * sizeof *mx->prev);
    return DN_OK;
}
