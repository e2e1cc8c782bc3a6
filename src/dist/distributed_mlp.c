/*
 * distributed_mlp.c — an MLP trained across the ranks of a job: synchronous
 * data-parallel SGD (dn_mlp_sync_epoch) and federated averaging
 * (dn_fedavg_round). Communication goes through dn_comm_* only.
 *
 * Both use the network's public API for the arithmetic (backprop, update,
 * train_epoch) and reach into dn_mlp (mlp_internal.h) only for training
 * bookkeeping that has no public setter: epochs done, the training-set
 * size, the optimiser state, FedProx's anchor (the optimiser step adds the
 * proximal gradient: mlp_optim.c) and the server optimiser's state.
 */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE (Linux) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif
#include "fedavg_internal.h"

/* Dropout, max-norm, label smoothing and EMA live in dn_mlp_train_epoch's
 * step alone (digitnet.h, Regularisation). */
#define NOT_REGULARISED                                                                                                \
    "dropout, max-norm, label smoothing, EMA and augmentation train in a run of one process: the distributed "     \
    "epochs and rounds do not apply them"

/* ------------------------------------------------------------------ sync */

/* Where rank's part of a batch of B starts: the sizes of the lower ranks. */
static size_t part_first(size_t B, int ranks, int rank)
{
    size_t first = 0;
    for (int r = 0; r < rank; r++) first += dn_shard_size(B, ranks, r);
    return first;
}

/* The step. Each rank runs its part of the batch layer by layer (the
 * pieces in mlp_train.c) and starts summing a layer's gradient over the
 * ranks as soon as the layer's backward is done, while the layers below it
 * compute: buckets, as in PyTorch's DistributedDataParallel. The last
 * layers come first and are small; layer 0 holds about 88% of the gradient
 * (784-300-100-10) and is computed last, so its units are cut into
 * INPUT_CHUNKS row blocks, each summed as soon as it is done, with a test
 * between blocks that lets the transport move the sums in flight on (MPI
 * has no progress thread). Then each bucket, in the order started, is
 * waited for and its parameters stepped while the later ones may still be
 * on their way. Nothing is allocated per step, no image copied, no
 * gradient zeroed or scaled as a whole: the part's rows are read through
 * the epoch's order, each piece overwrites its gradient, and the loss
 * gradient carries the part's share of the batch mean. Each rank compacts
 * layer 0 to the pixels its own part uses (fewer than the whole batch's:
 * less to multiply) and sums whole rows of dW_0. deterministic: the whole
 * gradient is summed at the end by dn_comm_allreduce_sum_ordered_f32
 * (blocking). */
#define INPUT_CHUNKS 4
#define MAX_BUCKETS (DN_MLP_MAX_LAYERS + INPUT_CHUNKS + 1)

typedef struct sync_bucket {
    float *grad; /* the values summed, in the gradient buffer: a layer's W_k and b_k, rows of dW_0, or db_0 */
    size_t n;
    dn_comm_request request;
} sync_bucket;

typedef struct sync_epoch_state {
    dn_comm *comm;
    int deterministic;
    const dn_dataset *train;
    uint32_t *order;  /* (n) the epoch's order */
    double loss_sum;  /* Σ per-sample loss over this rank's parts */
    size_t correct;
    double lr;        /* the rate of the last batch, for the report */
    size_t samples;   /* samples of the batches trained (all ranks' parts) */
    double t0;        /* when the epoch began */
    /* batch callbacks (dn_mlp_set_batch_callback), when some rank has one */
    int progress;     /* 1 on every rank when any rank has a callback */
    double all_loss;  /* Σ per-sample loss of the batches trained, over all ranks */
    double batch_loss; /* the last batch's mean loss over all ranks */
    double vote;      /* this rank's callback asked to stop after the last batch */
    int stopped;      /* the ranks agreed to stop: the batch in hand is dropped */
    /* the step in hand */
    sync_bucket bucket[MAX_BUCKETS]; /* in the order started, the same on every rank */
    int nbuckets;
    double sums[2];   /* the batch's loss and the votes, summed alongside */
    dn_comm_request sums_request;
} sync_epoch_state;

/* A bucket is started as soon as its gradient is made (summed at the end
 * when deterministic), and the oldest one still in flight is tested: MPI
 * moves every sum in flight on inside the call. */
static dn_status bucket_start(sync_epoch_state *st, dn_mlp *mlp, sync_bucket b, dn_error *err)
{
    sync_bucket *at = &st->bucket[st->nbuckets++];
    *at = b;
    at->request.handle = NULL;
    if (st->deterministic) return DN_OK;
    dn_status s = dn_comm_iallreduce(st->comm, at->grad, at->n, DN_COMM_F32, DN_COMM_SUM, &at->request, err);
    for (int i = 0; i < st->nbuckets - 1 && !s; i++) {
        int done = 1;
        if (st->bucket[i].request.handle) {
            s = dn_comm_test(st->comm, &st->bucket[i].request, &done, err);
            if (!done) break;
        }
    }
    dn_lap_(mlp, DN_PHASE_COMM);
    return s;
}

/* The layers above 0, from the last down, each a bucket of its W_k and b_k
 * (contiguous in the buffer); *da1 gets ∂L/∂a_1. failed: this rank's loss
 * is not finite, so its buckets carry zeros but for a NaN in the first
 * value of the first, which the sum then brings to every rank. */
static dn_status upper_buckets(dn_mlp *mlp, sync_epoch_state *st, size_t part, int failed, float **da1,
                               dn_error *err)
{
    float *dout = mlp->ws.delta[0];
    dn_status s = DN_OK;
    for (int k = mlp->nlayers - 1; k >= 1 && !s; k--) {
        if (!failed) dout = dn_mlp_rows_backward_(mlp, k, dout, part);
        dn_lap_(mlp, DN_PHASE_BACKWARD);
        float *g = mlp->dlayer[k].weight;
        s = bucket_start(st, mlp, (sync_bucket){g, (size_t)(mlp->dlayer[k].bias + mlp->width[k + 1] - g), {NULL}},
                         err);
    }
    *da1 = dout;
    return s;
}

/* Layer 0: its units in INPUT_CHUNKS blocks of rows (multiples of 16, a
 * cache line of floats; one block with one rank, where nothing overlaps),
 * each a bucket, then b_0's bucket. */
static dn_status input_buckets(dn_mlp *mlp, sync_epoch_state *st, float *da1, size_t part, int none, dn_error *err)
{
    const size_t n1 = mlp->width[1];
    const int chunks = dn_comm_size(st->comm) > 1 ? INPUT_CHUNKS : 1;
    dn_status s = DN_OK;
    for (int c = 0; c < chunks && !s; c++) {
        size_t o0 = c == 0 ? 0 : n1 * (size_t)c / (size_t)chunks / 16 * 16;
        size_t o1 = c == chunks - 1 ? n1 : n1 * (size_t)(c + 1) / (size_t)chunks / 16 * 16;
        if (o1 <= o0) continue;
        if (!none) dn_mlp_input_rows_backward_(mlp, da1, part, o0, o1);
        dn_lap_(mlp, DN_PHASE_BACKWARD);
        float *rows = mlp->dlayer[0].weight + o0 * DN_IMAGE_PIXELS;
        s = bucket_start(st, mlp, (sync_bucket){rows, (o1 - o0) * DN_IMAGE_PIXELS, {NULL}}, err);
    }
    if (!s) s = bucket_start(st, mlp, (sync_bucket){mlp->dlayer[0].bias, n1, {NULL}}, err);
    return s;
}

/* A rank without a gradient to give (no rows in this batch, or a loss that
 * is not finite: failed) sends zeros; a failed one also a NaN in the first
 * value of the first bucket (the channel: the last layer's W[0][0], or
 * dW_0[0][0] without hidden layers; the whole buffer's first value when
 * deterministic), which the sum brings to every rank: they must all stop. */
static void no_gradient(dn_mlp *mlp, int failed, int deterministic)
{
    dn_mlp_zero_grad(mlp);
    if (failed) *(deterministic ? mlp->grads : mlp->dlayer[mlp->nlayers - 1].weight) = NAN;
}

/* The parameters of a bucket, once its sum is in. */
static void bucket_step(dn_mlp *mlp, const sync_bucket *b, const dn_mlp_step *step)
{
    const size_t at = (size_t)(b->grad - mlp->grads);
    dn_mlp_step_span_(mlp, step, at, at + b->n);
}

/* Deterministic: the whole gradient buffer summed at once in rank order. */
static dn_status sum_ordered(dn_mlp *mlp, sync_epoch_state *st, dn_error *err)
{
    dn_status s = dn_comm_allreduce_sum_ordered_f32(st->comm, mlp->grads, mlp->nparams, err);
    dn_lap_(mlp, DN_PHASE_COMM);
    st->bucket[0] = (sync_bucket){mlp->grads, mlp->nparams, {NULL}}, st->nbuckets = 1;
    return s;
}

/* The transport's verdict first (an error: the job is broken, return at
 * once), then whether the step goes on, the same on every rank: *refusal
 * gets a failing rank's error, or DN_ERR_NUMERIC for a non-finite value in
 * the channel (the first value of the first bucket, summed already); else
 * the batch's sums are in (the loss over all ranks, the stop votes). */
static dn_status step_verdict(dn_mlp *mlp, sync_epoch_state *st, size_t B, dn_status local, const dn_error *local_err,
                              double lr, dn_status *refusal, dn_error *err)
{
    dn_status s = dn_comm_wait(st->comm, &st->bucket[0].request, err);
    if (!s) s = dn_comm_wait(st->comm, &st->sums_request, err);
    dn_lap_(mlp, DN_PHASE_COMM);
    if (s) return s;
    *refusal = local;
    if (local) *err = *local_err;
    /* other non-finite values end in parameters that the check at the end
     * of the epoch finds, as in dn_mlp_train_epoch */
    else if (!isfinite(st->bucket[0].grad[0]))
        *refusal = dn_fail(err, DN_ERR_NUMERIC,
                           "epoch %d: another rank's loss or the summed gradient is not finite at learning rate %g: "
                           "training diverged, lower the learning rate (lr)",
                           mlp->epochs_done + 1, lr);
    else if (st->progress && st->sums[1] > 0)
        st->stopped = 1; /* a vote to stop drops this batch before its update, on every rank */
    st->batch_loss = st->progress ? st->sums[0] / (double)B : 0;
    return DN_OK;
}

/* This rank's part of the batch forward, and its gradient made and started
 * on its way bucket by bucket (see The step above); *loss gets the part's
 * loss sum. local: this rank's own failure (a loss that is not finite). */
static dn_status part_gradient(dn_mlp *mlp, sync_epoch_state *st, size_t first, size_t B, double *loss,
                               size_t *correct, dn_status *local, dn_error *local_err, dn_error *err)
{
    int K = dn_comm_size(st->comm), rank = dn_comm_rank(st->comm);
    size_t part = dn_shard_size(B, K, rank);
    dn_mlp_rows_load_(mlp, st->train, st->order, first + part_first(B, K, rank), part);
    dn_lap_(mlp, DN_PHASE_DATA);
    if (part) dn_mlp_rows_forward_(mlp, part);
    dn_lap_(mlp, DN_PHASE_FORWARD);
    *loss = part ? dn_mlp_rows_loss_(mlp, part, B, correct) : 0;
    dn_lap_(mlp, DN_PHASE_ELEMENTWISE);
    if (!isfinite(*loss))
        *local = dn_fail(local_err, DN_ERR_NUMERIC, "epoch %d: the loss is not finite: training diverged, lower "
                         "the learning rate (lr)", mlp->epochs_done + 1);
    const int none = *local != DN_OK || !part;
    if (none) no_gradient(mlp, *local != DN_OK, st->deterministic);
    dn_status s = DN_OK;
    if (st->progress) {
        /* One small sum carries this batch's loss and the stop votes of the
         * callbacks called after the previous batch. */
        st->sums[0] = isfinite(*loss) ? *loss : 0, st->sums[1] = st->vote;
        s = dn_comm_iallreduce(st->comm, st->sums, 2, DN_COMM_F64, DN_COMM_SUM, &st->sums_request, err);
    }
    float *da1 = NULL;
    if (!s) s = upper_buckets(mlp, st, part, none, &da1, err);
    if (!s) s = input_buckets(mlp, st, da1, part, none, err);
    if (!s && st->deterministic) s = sum_ordered(mlp, st, err);
    return s;
}

/* Batch [first, first + B) of the order: this rank's part, the sums, the
 * update bucket by bucket as the sums come in. */
static dn_status sync_batch(dn_mlp *mlp, sync_epoch_state *st, size_t first, size_t B, double lr, dn_error *err)
{
    dn_lap_start_(mlp);
    st->nbuckets = 0, st->sums_request.handle = NULL;
    double loss = 0;
    size_t correct = 0;
    dn_status local = DN_OK, refusal = DN_OK;
    dn_error local_err = {0};
    dn_status s = part_gradient(mlp, st, first, B, &loss, &correct, &local, &local_err, err);
    if (!s) s = step_verdict(mlp, st, B, local, &local_err, lr, &refusal, err);
    if (s) return s; /* the transport failed: nothing more to wait for */
    dn_mlp_step step;
    if (!refusal && !st->stopped) refusal = dn_mlp_step_begin_(mlp, lr, &step, err);
    for (int i = 0; i < st->nbuckets && !s; i++) {
        s = dn_comm_wait(st->comm, &st->bucket[i].request, err);
        dn_lap_(mlp, DN_PHASE_COMM);
        if (s || refusal || st->stopped) continue; /* the sums are waited for all the same */
        bucket_step(mlp, &st->bucket[i], &step);
        dn_lap_(mlp, DN_PHASE_UPDATE);
    }
    if (s || refusal || st->stopped) return s ? s : refusal;
    if (mlp->profile) mlp->profile->steps++;
    st->loss_sum += loss;
    st->correct += correct;
    st->samples += B;
    st->all_loss += st->batch_loss * (double)B;
    st->vote = 0;
    return DN_OK;
}

static dn_status sync_batches(dn_mlp *mlp, sync_epoch_state *st, dn_error *err)
{
    const size_t n = st->train->count, batch = dn_mlp_batch_of_(mlp, n), nbatches = (n + batch - 1) / batch;
    const int K = dn_comm_size(st->comm), rank = dn_comm_rank(st->comm);
    dn_status s = DN_OK;
    for (size_t i = 0; i < nbatches && !s && !st->stopped; i++) {
        size_t first = i * batch, B = n - first < batch ? n - first : batch;
        double lr = dn_mlp_scheduled_lr(&mlp->opt, mlp->epochs_done + (double)i / (double)nbatches);
        const size_t next = n - first - B < batch ? n - first - B : batch; /* its part of the next batch */
        dn_mlp_prefetch_rows_(st->train, st->order, first + B + part_first(next, K, rank),
                              dn_shard_size(next, K, rank));
        s = sync_batch(mlp, st, first, B, lr, err);
        if (s || st->stopped) break;
        st->lr = lr;
        if (mlp->on_batch)
            st->vote = dn_mlp_batch_notify_(mlp, i, nbatches, st->samples, n, st->batch_loss,
                                            st->all_loss, lr, st->t0);
    }
    return s;
}

/* Loss and accuracy over every rank's parts: one small allreduce. */
static dn_status sync_report(dn_mlp *mlp, sync_epoch_state *st, double t0, dn_mlp_epoch_report *report,
                             dn_error *err)
{
    /* counts stay exact in double; the third value: the votes of the callbacks
     * called after the last batch, when no batch came after to carry them */
    double sums[3] = {st->loss_sum, (double)st->correct, st->vote};
    dn_status s = dn_comm_allreduce(st->comm, sums, 3, DN_COMM_F64, DN_COMM_SUM, err);
    if (s || !report) return s;
    size_t n = st->samples;
    *report = (dn_mlp_epoch_report){mlp->epochs_done - 1, n, sums[0] / (double)n, sums[1] / (double)n, st->lr,
                                    dn_now_seconds() - t0, st->stopped || sums[2] > 0};
    return DN_OK;
}

/* ---------------------------------------------------------- layer 0 split
 *
 * With SGD on BLAS (dn_mlp_split_applies_) the ranks cut layer 0 by units
 * instead of cutting the batch: rank r holds units U_r of W_0ᵀ
 * (mlp_input_t.c's part r), computes a_1 at U_r for the whole batch, and
 * steps those units from dz at U_r for the whole batch; one exchange a
 * step gives every rank all of a_1, and every rank runs the layers above
 * on the whole batch (31 k of the 266 k parameters of 784-300-100-10: the
 * same work on each rank, no sum). Why: an MPI_Allreduce of dW_0 alone
 * (235 k floats, 0.9 MB) took 164–179 µs on two ranks here (a stand-alone
 * loop), and bench_mpi.sh's summed step scaled 1.06× one rank; a_1's
 * blocks (B × n_1 floats: 77 KB at B = 64) take a few µs; and each rank steps
 * only its part of W_0 and its velocity, the step's largest memory stream.
 * Nothing is summed, so the bits do not depend on the transport: the
 * epoch is deterministic as it is, and every rank computes the same loss
 * and reaches the same verdict. At the epoch's end each rank's units of
 * W_0, b_0 and their velocity go to every rank (a broadcast per rank). */
typedef struct split_state {
    dn_comm *comm;
    const dn_mlp *mlp;
    float *blocks;  /* (B, n_1): rank r's units as a (B, |U_r|) block from B · u0_r */
    int other;      /* this rank's loss was finite, another's was not */
    dn_status failed; /* the transport failed in split_agree (err says why) */
    dn_error err;
} split_state;

/* The exchange (dn_mlp_split): this rank's columns of a1 into its block,
 * every rank's block broadcast from it, the others' columns back into a1;
 * or (a1 NULL) z_1's partial sums, slot r (B, n_2) from rank r. */
static dn_status split_exchange(void *user, float *a1, size_t B, int *sum_slot, dn_error *err)
{
    const split_state *x = user;
    const int K = dn_comm_size(x->comm), me = dn_comm_rank(x->comm);
    const size_t n1 = x->mlp->width[1];
    if (!a1) {
        const size_t n = B * x->mlp->width[2], slot = x->mlp->partials_rows * x->mlp->width[2];
        dn_status s = DN_OK;
        if (K == 2) {
            /* Two ranks: their sum is one addition per value, the same bits
             * in either order (IEEE addition commutes), so any transport's
             * sum is the one in rank order, and the same on both ranks.
             * Through a non-blocking allreduce, which on one machine is the
             * shared-memory ring (no message, no system call) where each
             * broadcast was MPI's rendezvous of B × n_2 floats. */
            dn_comm_request sum;
            s = dn_comm_iallreduce(x->comm, x->mlp->partials + (size_t)me * slot, n, DN_COMM_F32, DN_COMM_SUM, &sum,
                                   err);
            if (!s) s = dn_comm_wait(x->comm, &sum, err);
            *sum_slot = me;
            return s;
        }
        /* more ranks: every rank's partial sums to all, added in rank order after */
        for (int r = 0; r < K && !s; r++)
            s = dn_comm_broadcast(x->comm, x->mlp->partials + (size_t)r * slot, n, DN_COMM_F32, r, err);
        return s;
    }
    for (int r = 0; r < K; r++) {
        size_t u0, u1;
        dn_input_t_slice_(x->mlp, K, r, &u0, &u1);
        float *block = x->blocks + B * u0;
        const size_t w = u1 - u0;
        if (r == me)
            for (size_t b = 0; b < B; b++) memcpy(block + b * w, a1 + b * n1 + u0, w * sizeof *a1);
        dn_status s = dn_comm_broadcast(x->comm, block, B * w, DN_COMM_F32, r, err);
        if (s) return s;
        if (r != me)
            for (size_t b = 0; b < B; b++) memcpy(a1 + b * n1 + u0, block + b * w, w * sizeof *a1);
    }
    return DN_OK;
}

/* The verdict on a batch (dn_mlp_split.agree): one small allreduce a step.
 * The layers above 0 are the same on every rank only while their
 * parameters are (a rank given others, or BLAS kernels that round
 * differently on another machine), so no rank's loss is trusted alone. */
static double split_agree(void *user, double loss)
{
    split_state *x = user;
    /* the ranks whose loss is not finite, counted as a float sum (exact in
     * any order): the non-blocking allreduce's path, the shared-memory ring
     * on one machine, where a blocking one goes through MPI */
    float bad = isfinite(loss) ? 0.0f : 1.0f;
    if (x->failed) return NAN;
    dn_comm_request count;
    if (!(x->failed = dn_comm_iallreduce(x->comm, &bad, 1, DN_COMM_F32, DN_COMM_SUM, &count, &x->err)))
        x->failed = dn_comm_wait(x->comm, &count, &x->err);
    if (x->failed) return NAN;
    if (bad > 0 && isfinite(loss)) x->other = 1;
    return bad > 0 ? NAN : loss;
}

/* W_1's columns [u0, u1) (n_2 rows of n_1) of w1, from rank r to all,
 * through blocks (packed there on rank r, unpacked on the others). */
static dn_status columns_from(const dn_mlp *mlp, dn_comm *comm, float *w1, float *blocks, int r, size_t u0,
                              size_t u1, dn_error *err)
{
    const size_t n1 = mlp->width[1], n2 = mlp->width[2], w = u1 - u0;
    const int me = dn_comm_rank(comm);
    if (me == r)
        for (size_t o = 0; o < n2; o++) memcpy(blocks + o * w, w1 + o * n1 + u0, w * sizeof *w1);
    dn_status s = dn_comm_broadcast(comm, blocks, n2 * w, DN_COMM_F32, r, err);
    if (!s && me != r)
        for (size_t o = 0; o < n2; o++) memcpy(w1 + o * n1 + u0, blocks + o * w, w * sizeof *w1);
    return s;
}

/* After a split epoch: each rank's units of W_0 (rows of n_0 inputs), b_0
 * and, with momentum, their velocity, from that rank to all; and rank 0's
 * layers above 0 to all, so that ranks whose kernels round differently do
 * not drift apart over the epochs — but for W_1 with a second hidden
 * layer, whose columns at a rank's units that rank alone stepped (with
 * its velocity): those come from it. */
static dn_status split_bring_in(dn_mlp *mlp, dn_comm *comm, float *blocks, dn_error *err)
{
    const int K = dn_comm_size(comm), by_columns = mlp->nlayers >= 3;
    float *held[2] = {mlp->params, mlp->moment1};
    const size_t upper = (size_t)(mlp->layer[1].weight - mlp->params);
    const size_t above = by_columns ? (size_t)(mlp->layer[1].bias - mlp->params) : upper; /* b_1 on, when W_1 is cut */
    dn_status s = DN_OK;
    for (int h = 0; h < 2 && !s; h++)
        if (held[h]) s = dn_comm_broadcast(comm, held[h] + above, mlp->nparams - above, DN_COMM_F32, 0, err);
    for (int r = 0; r < K && !s; r++) {
        size_t u0, u1;
        dn_input_t_slice_(mlp, K, r, &u0, &u1);
        for (int h = 0; h < 2 && !s; h++) {
            if (!held[h]) continue;
            float *w0 = held[h] + (mlp->layer[0].weight - mlp->params), *b0 = held[h] + (mlp->layer[0].bias - mlp->params);
            s = dn_comm_broadcast(comm, w0 + u0 * DN_IMAGE_PIXELS, (u1 - u0) * DN_IMAGE_PIXELS, DN_COMM_F32, r, err);
            if (!s) s = dn_comm_broadcast(comm, b0 + u0, u1 - u0, DN_COMM_F32, r, err);
            if (!s && by_columns) s = columns_from(mlp, comm, held[h] + upper, blocks, r, u0, u1, err);
        }
    }
    return s;
}

/* The epoch with layer 0 split (blocks: B × n_1 floats, agreed on). */
static dn_status split_epoch(dn_mlp *mlp, const dn_dataset *train, dn_comm *comm, float *blocks,
                             dn_mlp_epoch_report *report, dn_error *err)
{
    const double t0 = dn_now_seconds();
    split_state x = {comm, mlp, blocks, 0, DN_OK, {0}};
    const dn_mlp_split split = {dn_comm_size(comm), dn_comm_rank(comm), split_exchange, split_agree, &x};
    const dn_mlp_local_epoch how = {NULL, train->count, NULL, NULL, &split};
    dn_mlp_epoch_report r;
    /* a failure is the same on every rank (split_agree), or the transport's */
    dn_status s = dn_mlp_train_epoch_on_(mlp, train, &how, &r, err);
    if (x.failed) {
        *err = x.err;
        return x.failed;
    }
    if (s == DN_ERR_NUMERIC && x.other)
        return dn_fail(err, DN_ERR_NUMERIC, "epoch %d: another rank's loss is not finite: training diverged, lower "
                       "the learning rate (lr)", mlp->epochs_done + 1);
    if (!s) s = split_bring_in(mlp, comm, blocks, err);
    if (s) return s;
    if (dn_first_nonfinite_f32(mlp->params, mlp->nparams) < mlp->nparams) {
        mlp->epochs_done--; /* as the summing epoch: a diverged epoch does not count */
        return dn_fail(err, DN_ERR_NUMERIC, "epoch %d: a parameter became NaN or Inf: lower the learning rate (lr)",
                       mlp->epochs_done + 1);
    }
    r.seconds = dn_now_seconds() - t0;
    if (report) *report = r;
    return DN_OK;
}

dn_status dn_mlp_sync_epoch(dn_mlp *mlp, const dn_dataset *train, dn_comm *comm, int deterministic,
                            dn_mlp_epoch_report *report, dn_error *err)
{
    const size_t n = train->count, batch = dn_mlp_batch_of_(mlp, n);
    if (dn_mlp_regularised_(&mlp->opt) || dn_augment_active(&mlp->opt.augment)) return dn_fail(err, DN_ERR_USAGE, NOT_REGULARISED);
    if (n == 0) return dn_fail(err, DN_ERR_USAGE, "the training set is empty");
    if (n > UINT32_MAX) return dn_fail(err, DN_ERR_USAGE, "at most %u training samples", UINT32_MAX);
    if (!mlp->opt.batch && n > DN_MLP_BATCH_MAX)
        return dn_fail(err, DN_ERR_USAGE, "a full batch (batch 0) takes at most %d samples: this set has %zu",
                       DN_MLP_BATCH_MAX, n);
    double t0 = dn_now_seconds();
    size_t rows = dn_shard_size(n < batch ? n : batch, dn_comm_size(comm), 0); /* rank 0's part is the largest */
    sync_epoch_state st = {.comm = comm, .deterministic = deterministic, .train = train,
                           .order = malloc(n * sizeof(uint32_t)), .t0 = t0};
    dn_error why = {0};
    const int K = dn_comm_size(comm);
    /* the options are the same on every rank but for the batch callback, which flags[1] brings in */
    int split = dn_mlp_split_applies_(mlp, n < batch ? n : batch, K);
    /* a_1's blocks a step; W_1's columns at the epoch's end (n_2 rows) */
    const size_t block_rows = n < batch ? n : batch, w1_rows = mlp->nlayers >= 3 ? mlp->width[2] : 0;
    float *blocks = split ? dn_mlp_alloc_floats_((block_rows > w1_rows ? block_rows : w1_rows) * mlp->width[1]) : NULL;
    int no_room = !st.order || (split && !blocks) || dn_mlp_reserve_rows_(mlp, rows ? rows : 1, &why);
    /* Agree on memory before the first collective of the epoch, and on
     * whether any rank has a batch callback (then each batch carries the
     * stop votes: see dn_mlp_set_batch_callback). */
    int flags[2] = {no_room, mlp->on_batch != NULL};
    dn_status s = dn_comm_allreduce(comm, flags, 2, DN_COMM_INT, DN_COMM_MAX, err);
    st.progress = flags[1];
    if (!s && flags[0]) s = dn_fail(err, DN_ERR_NOMEM, "out of memory for the epoch's order of %zu samples", n);
    if (!s && split && !flags[1]) {
        free(st.order);
        s = split_epoch(mlp, train, comm, blocks, report, err);
        free(blocks);
        return s;
    }
    free(blocks);
    if (!s) {
        /* The order one process visits, so K ranks walk the batches one process
         * walks: tests/cli_mpi_mlp.sh checks one rank against `digitnet mlp` bit
         * for bit. */
        dn_mlp_epoch_order_(mlp->opt.seed, mlp->epochs_done, st.order, n);
        int restore = dn_blas_threads_set_(mlp->opt.threads);
        s = sync_batches(mlp, &st, err);
        if (restore > 0) dn_blas_threads_set_(restore);
    }
    free(st.order);
    if (s) return s;
    /* Every rank holds the same parameters, so every rank reaches the same verdict. */
    if (dn_first_nonfinite_f32(mlp->params, mlp->nparams) < mlp->nparams)
        return dn_fail(err, DN_ERR_NUMERIC, "epoch %d: a parameter became NaN or Inf: lower the learning rate (lr)",
                       mlp->epochs_done + 1);
    mlp->epochs_done++;
    mlp->train_size = n;
    return sync_report(mlp, &st, t0, report, err);
}

/* ---------------------------------------------------------------- fedavg */

void dn_fedavg_options_default(dn_fedavg_options *opt)
{
    opt->local_epochs = 1;
    dn_aggregate_options_default(&opt->aggregate);
    opt->fault = (dn_fault){DN_FAULT_NONE, 1};
    opt->prox_mu = 0;
    opt->server = DN_FEDAVG_SERVER_PLAIN;
    opt->server_lr = 1;
    opt->server_momentum = 0;
    opt->server_beta1 = 0.9, opt->server_beta2 = 0.99, opt->server_tau = 1e-3; /* Reddi et al. 2021 */
    opt->stragglers = 0;
    opt->straggler_policy = DN_STRAGGLER_DROP;
    opt->dropout_rate = 0;
    opt->attack = (dn_attack){DN_ATTACK_NONE, 0};
    opt->malicious = 0;
    opt->detect = (dn_detect_options){DN_DETECT_NONE, 0, 0};
    opt->root = NULL;
}

static const char *const straggler_policies[] = {"drop", "partial", NULL};

const char *dn_straggler_policy_name(dn_straggler_policy policy)
{
    return policy == DN_STRAGGLER_DROP || policy == DN_STRAGGLER_PARTIAL ? straggler_policies[policy] : "?";
}

const char *const *dn_straggler_policy_choices(void) { return straggler_policies; }

static const char *const server_names[] = {"plain", "momentum", "adam"};

const char *dn_fedavg_server_name(dn_fedavg_server server)
{
    return (int)server >= 0 && (size_t)server < sizeof server_names / sizeof *server_names ? server_names[server]
                                                                                            : "?";
}

/* 1 when the rule or detection is FLTrust's: the server trains on its root set. */
static int needs_root(const dn_fedavg_options *opt)
{
    return opt->aggregate.rule == DN_AGG_FLTRUST || opt->detect.method == DN_DETECT_FLTRUST;
}

/* x in [0, 1) */
static int unit_interval(double x) { return x >= 0 && x < 1; }

static dn_status heterogeneity_check(const dn_fedavg_options *opt, dn_error *err)
{
    if (!(opt->stragglers >= 0 && opt->stragglers <= 1))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: stragglers %g: the fraction must lie in [0, 1]", opt->stragglers);
    if (opt->straggler_policy != DN_STRAGGLER_DROP && opt->straggler_policy != DN_STRAGGLER_PARTIAL)
        return dn_fail(err, DN_ERR_USAGE, "fedavg: straggler policy %d: must be drop (0) or partial (1)",
                       (int)opt->straggler_policy);
    if (!(opt->dropout_rate >= 0 && opt->dropout_rate <= 1))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: dropout rate %g: the probability must lie in [0, 1]",
                       opt->dropout_rate);
    return DN_OK;
}

static dn_status adversary_check(const dn_fedavg_options *opt, dn_error *err)
{
    if (!unit_interval(opt->malicious))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: malicious %g: the fraction must lie in [0, 1)", opt->malicious);
    if (!strcmp(dn_attack_name(opt->attack.kind), "?"))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: attack %d: unknown", (int)opt->attack.kind);
    if (!isfinite(opt->attack.param))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: the attack's parameter %g must be finite", opt->attack.param);
    const dn_detect_options *d = &opt->detect;
    if (!strcmp(dn_detect_method_name(d->method), "?"))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: detection method %d: unknown", (int)d->method);
    if (!(d->threshold >= 0) || !isfinite(d->threshold))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: detection threshold %g: must be finite and at least 0 (0: the "
                                          "method's default)", d->threshold);
    if (d->reputation < 0)
        return dn_fail(err, DN_ERR_USAGE, "fedavg: reputation %d: must be at least 0 (0: no bans)", d->reputation);
    return DN_OK;
}

dn_status dn_fedavg_options_check(const dn_fedavg_options *opt, dn_error *err)
{
    if (opt->local_epochs < 1) return dn_fail(err, DN_ERR_USAGE, "fedavg: local epochs must be ≥ 1");
    if (heterogeneity_check(opt, err) || adversary_check(opt, err)) return err ? err->code : DN_ERR_USAGE;
    if (!(opt->prox_mu >= 0) || !isfinite(opt->prox_mu))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: prox_mu %g: the proximal weight μ must be finite and at least 0",
                       opt->prox_mu);
    if (!(opt->server_lr > 0) || !isfinite(opt->server_lr))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: server_lr %g: the server's step size must be finite and above 0",
                       opt->server_lr);
    switch (opt->server) {
    case DN_FEDAVG_SERVER_PLAIN: return DN_OK;
    case DN_FEDAVG_SERVER_MOMENTUM:
        if (!unit_interval(opt->server_momentum))
            return dn_fail(err, DN_ERR_USAGE, "fedavg: server_momentum %g: must lie in [0, 1)", opt->server_momentum);
        return DN_OK;
    case DN_FEDAVG_SERVER_ADAM:
        if (!unit_interval(opt->server_beta1) || !unit_interval(opt->server_beta2))
            return dn_fail(err, DN_ERR_USAGE, "fedavg: server_beta1 %g, server_beta2 %g: both must lie in [0, 1)",
                           opt->server_beta1, opt->server_beta2);
        if (!(opt->server_tau > 0) || !isfinite(opt->server_tau))
            return dn_fail(err, DN_ERR_USAGE, "fedavg: server_tau %g: must be finite and above 0", opt->server_tau);
        return DN_OK;
    }
    return dn_fail(err, DN_ERR_USAGE, "fedavg: server %d: must be plain (0), momentum (1) or adam (2)",
                   (int)opt->server);
}

/* The fewest significant digits that read back as x, after sep. */
static int put_number(char *buf, size_t size, const char *sep, double x)
{
    char text[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, x);
        if (strtod(text, NULL) == x) break;
    }
    return snprintf(buf, size, "%s%s", sep, text);
}

void dn_fedavg_options_describe(const dn_fedavg_options *opt, char *buf, size_t size)
{
    if (!buf || size == 0) return;
    char text[256];
    size_t used = 0;
    text[0] = '\0';
#define PUT(call)                                                                                                      \
    do {                                                                                                               \
        int n_ = (call);                                                                                               \
        if (n_ > 0 && used + (size_t)n_ < sizeof text) used += (size_t)n_;                                            \
    } while (0)
    if (opt->prox_mu > 0) PUT(put_number(text + used, sizeof text - used, " prox:", opt->prox_mu));
    if (opt->server != DN_FEDAVG_SERVER_PLAIN || opt->server_lr != 1) {
        PUT(snprintf(text + used, sizeof text - used, " server:%s", dn_fedavg_server_name(opt->server)));
        if (opt->server == DN_FEDAVG_SERVER_MOMENTUM)
            PUT(put_number(text + used, sizeof text - used, ":", opt->server_momentum));
        if (opt->server == DN_FEDAVG_SERVER_ADAM) {
            PUT(put_number(text + used, sizeof text - used, ":", opt->server_beta1));
            PUT(put_number(text + used, sizeof text - used, ":", opt->server_beta2));
            PUT(put_number(text + used, sizeof text - used, ":", opt->server_tau));
        }
        PUT(put_number(text + used, sizeof text - used, ":", opt->server_lr));
    }
    if (opt->stragglers > 0) {
        PUT(put_number(text + used, sizeof text - used, " stragglers:", opt->stragglers));
        PUT(snprintf(text + used, sizeof text - used, ":%s", dn_straggler_policy_name(opt->straggler_policy)));
    }
    if (opt->dropout_rate > 0) PUT(put_number(text + used, sizeof text - used, " dropout:", opt->dropout_rate));
    if (opt->malicious > 0 && opt->attack.kind != DN_ATTACK_NONE) {
        char attack[64];
        dn_attack_format(&opt->attack, attack, sizeof attack);
        PUT(snprintf(text + used, sizeof text - used, " attack:%s", attack));
        PUT(put_number(text + used, sizeof text - used, ":", opt->malicious));
    }
    if (opt->detect.method != DN_DETECT_NONE) {
        double t = opt->detect.threshold > 0 ? opt->detect.threshold : dn_detect_default_threshold(opt->detect.method);
        PUT(snprintf(text + used, sizeof text - used, " detect:%s", dn_detect_method_name(opt->detect.method)));
        PUT(put_number(text + used, sizeof text - used, ":", t));
        PUT(snprintf(text + used, sizeof text - used, ":%d", opt->detect.reputation));
    }
    if (opt->root && needs_root(opt)) PUT(snprintf(text + used, sizeof text - used, " root:%zu", opt->root->count));
#undef PUT
    snprintf(buf, size, "%s", text);
}

/* Each round starts from the master's model with no memory of the last
 * round's steps: FedAvg's local SGD, and nothing per worker to checkpoint. */
static void reset_optimizer(dn_mlp *mlp)
{
    if (mlp->moment1) memset(mlp->moment1, 0, mlp->nparams * sizeof(float));
    if (mlp->moment2) memset(mlp->moment2, 0, mlp->nparams * sizeof(float));
    mlp->adam_t = 0;
}

/* What one rank or client trains on: the samples (a virtual client's rows
 * of the training set, not a copy of them) and, for a virtual client, the
 * round's model it starts from and its slot, which its final model goes
 * into (see dn_mlp_local_epoch). */
typedef struct local_set {
    const dn_dataset *set;
    dn_mlp_local_epoch how;
} local_set;

/* E local epochs on the shard, the first from shard->how.from, the model
 * after the last into shard->how.into (when given). *diverged is set (and
 * the rest skipped) when the loss or a parameter went non-finite; other
 * failures are returned. */
static dn_status local_training(dn_mlp *mlp, const local_set *shard, int epochs, double *loss, int *diverged,
                                dn_error *err)
{
    *loss = 0, *diverged = 0;
    int filled = 0; /* shard->how.into holds the model */
    for (int e = 0; e < epochs; e++) {
        dn_mlp_epoch_report r;
        dn_error local = {0};
        dn_mlp_local_epoch how = shard->how;
        how.from = e == 0 ? how.from : NULL;
        how.into = e == epochs - 1 ? how.into : NULL;
        dn_status s = dn_mlp_train_epoch_on_(mlp, shard->set, &how, &r, &local);
        if (s == DN_ERR_NUMERIC) {
            *diverged = 1;
            return DN_OK;
        }
        if (s) {
            *err = local;
            return s;
        }
        *loss = r.train_loss;
        filled = how.into != NULL;
        if (r.stopped) break; /* this rank's batch callback: its local training ends for the round */
    }
    if (shard->how.into && !filled) memcpy(shard->how.into, mlp->params, mlp->nparams * sizeof *mlp->params);
    return DN_OK;
}

/* FedProx around the local epochs: anchor is the round's global model, or
 * NULL (μ = 0) for FedAvg's plain steps. */
static dn_status proximal_training(dn_mlp *mlp, const local_set *shard, const dn_fedavg_options *opt, int epochs,
                                   const float *anchor, double *loss, int *diverged, dn_error *err)
{
    mlp->prox_anchor = anchor, mlp->prox_mu = anchor ? (float)opt->prox_mu : 0.0f;
    dn_status s = local_training(mlp, shard, epochs, loss, diverged, err);
    mlp->prox_anchor = NULL, mlp->prox_mu = 0.0f;
    return s;
}

/* Buffers the master needs for the merge. */
typedef struct fedavg_master {
    float *models;   /* (K, P) gathered */
    float *previous; /* (P) the model broadcast this round */
    float *trusted;  /* (P) FLTrust: the server's model on its root set, else NULL */
    double *info;    /* (K, 2) gathered: shard size, loss × shard size */
    double *weights; /* (K) */
} fedavg_master;

/* m->models is mlp's (master_models), not freed here. */
static void master_free(fedavg_master *m)
{
    free(m->previous), free(m->trusted), free(m->info), free(m->weights);
    memset(m, 0, sizeof *m);
}

/* n floats (free with free()), in transparent huge pages where Linux offers
 * them on request: the first round writes every one of the models' pages,
 * 2048 faults for ten 2NN models in 4 KiB pages: measured on a virtual
 * machine, ~17 ms of a first round of ~70 ms (the next ones take ~45). */
static float *huge_floats(size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    enum { HUGE = 2 << 20 };
    if (n * sizeof(float) >= HUGE) {
        size_t bytes = (n * sizeof(float) + HUGE - 1) / HUGE * HUGE;
        float *v = aligned_alloc(HUGE, bytes);
        if (v) madvise(v, bytes, MADV_HUGEPAGE); /* a hint: 4 KiB pages if refused */
        return v;
    }
#endif
    return malloc(n * sizeof(float));
}

/* mlp->fed_models with room for n floats: kept from round to round, since
 * a fresh buffer each round is a fresh mapping (glibc maps blocks this
 * large) whose pages all fault in again — measured, 7–10 % of a 2NN round
 * of 10 clients. NULL when out of memory. */
static float *master_models(dn_mlp *mlp, size_t n)
{
    if (mlp->fed_models_n >= n) return mlp->fed_models;
    free(mlp->fed_models);
    mlp->fed_models_n = 0;
    if ((mlp->fed_models = huge_floats(n))) mlp->fed_models_n = n;
    return mlp->fed_models;
}

static int master_alloc(fedavg_master *m, dn_mlp *mlp, size_t K, size_t P, int trusted)
{
    size_t n, bytes;
    memset(m, 0, sizeof *m);
    if (dn_mul_overflows(K, P, &n) || dn_mul_overflows(n, sizeof(float), &bytes)) return 0;
    m->models = master_models(mlp, n);
    m->previous = malloc(P * sizeof(float));
    m->info = malloc(2 * K * sizeof(double));
    m->weights = malloc(K * sizeof(double));
    if (trusted) m->trusted = malloc(P * sizeof(float));
    return m->models && m->previous && m->info && m->weights && (!trusted || m->trusted);
}

/* After the mean failed: when a model is not finite (the mean scans the
 * models only then), the refusal names its rank or client — the mean itself
 * would only say "model r" — and out gets the previous model. 0 when every
 * model is finite (the mean overflowed). */
static int mean_refused(const fedavg_master *m, size_t K, size_t P, const size_t *ids, float *out,
                        dn_fedavg_report *report)
{
    for (size_t r = 0; r < K; r++)
        if (dn_first_nonfinite_f32(m->models + r * P, P) < P) {
            size_t who = ids ? ids[r] : r;
            report->refused = 1, report->bad_rank = (int)who;
            snprintf(report->reason, sizeof report->reason,
                     "%s %zu sent a non-finite model: refused under mean, previous model kept",
                     ids ? "client" : "rank", who);
            memcpy(out, m->previous, P * sizeof *out);
            return 1;
        }
    return 0;
}

/* The merge on the master: out = aggregate of the K gathered models, or the
 * previous model when that fails (report says why). ids (may be NULL): the
 * client each model comes from (dn_fedavg_clients_round), else model r is
 * rank r's. */
static dn_status master_merge(const fedavg_master *m, const dn_aggregate_options *agg, size_t K, size_t P,
                              const size_t *ids, float *out, dn_fedavg_report *report)
{
    size_t samples = 0;
    double loss = 0;
    for (size_t r = 0; r < K; r++) {
        m->weights[r] = m->info[2 * r];
        samples += (size_t)m->info[2 * r];
        loss += m->info[2 * r + 1];
    }
    report->samples = samples;
    report->train_loss = samples ? loss / (double)samples : 0;
    dn_error why = {0};
    size_t chosen = K;
    dn_status s = dn_aggregate(agg, m->models, K, P, m->weights, out, &chosen, &why);
    if (s == DN_ERR_USAGE || s == DN_ERR_NOMEM) return s;
    if (s == DN_ERR_NUMERIC && (agg->rule == DN_AGG_MEAN || agg->rule == DN_AGG_CLIP) &&
        mean_refused(m, K, P, ids, out, report))
        return DN_OK;
    if (chosen < K) report->chosen_rank = (int)(ids ? ids[chosen] : chosen);
    if (s) {
        report->refused = 1;
        /* The rule's message, cut if need be to leave room for the outcome. */
        snprintf(report->reason, sizeof report->reason, "%.480s: previous model kept", why.message);
        memcpy(out, m->previous, P * sizeof *out);
    }
    return DN_OK;
}

/* ------------------------------------------------ the server optimiser */

/* The master's server state for opt: allocated zeroed when first needed,
 * freed when opt no longer uses it. 0 when out of memory. */
static int server_state(dn_mlp *mlp, const dn_fedavg_options *opt)
{
    int need_m = opt->server != DN_FEDAVG_SERVER_PLAIN, need_v = opt->server == DN_FEDAVG_SERVER_ADAM;
    if (!need_m) free(mlp->server_m), mlp->server_m = NULL;
    if (!need_v) free(mlp->server_v), mlp->server_v = NULL;
    if (need_m && !mlp->server_m) mlp->server_m = calloc(mlp->nparams, sizeof(double));
    if (need_v && !mlp->server_v) mlp->server_v = calloc(mlp->nparams, sizeof(double));
    return (!need_m || mlp->server_m) && (!need_v || mlp->server_v);
}

/* Step 5 on the master: w holds the aggregate x̄, previous the broadcast
 * w_g. Per coordinate, in double: Δ = x̄ − w_g, the direction u (Δ, the
 * velocity, or Adam's m/(√v + τ)), then w = x̄ + (η_s u − Δ) — which is
 * w_g + η_s u — rounded once to float, and left at x̄ where the correction
 * is exactly 0 (momentum β = 0 with η_s = 1: plain FedAvg, bit for bit,
 * -0 included). Plain with η_s = 1 is w = x̄: no pass at all. */
static void server_step(dn_mlp *mlp, const dn_fedavg_options *opt, const float *previous, dn_fedavg_report *report)
{
    const size_t P = mlp->nparams;
    const double lr = opt->server_lr;
    float *w = mlp->params;
    double *m = mlp->server_m, *v = mlp->server_v;
    if (opt->server == DN_FEDAVG_SERVER_PLAIN && lr == 1) return;
    if (opt->server == DN_FEDAVG_SERVER_PLAIN) {
        for (size_t i = 0; i < P; i++) {
            double x = w[i], delta = x - (double)previous[i], c = lr * delta - delta;
            if (c != 0) w[i] = (float)(x + c);
        }
    } else if (opt->server == DN_FEDAVG_SERVER_MOMENTUM) {
        const double beta = opt->server_momentum;
        for (size_t i = 0; i < P; i++) {
            double x = w[i], delta = x - (double)previous[i];
            m[i] = beta * m[i] + delta;
            double c = lr * m[i] - delta;
            if (c != 0) w[i] = (float)(x + c);
        }
    } else {
        const double b1 = opt->server_beta1, b2 = opt->server_beta2, tau = opt->server_tau;
        for (size_t i = 0; i < P; i++) {
            double x = w[i], delta = x - (double)previous[i];
            m[i] = b1 * m[i] + (1 - b1) * delta;
            v[i] = b2 * v[i] + (1 - b2) * delta * delta;
            double c = lr * (m[i] / (sqrt(v[i]) + tau)) - delta;
            if (c != 0) w[i] = (float)(x + c);
        }
    }
    if (dn_first_nonfinite_f32(w, P) < P) {
        report->refused = 1;
        snprintf(report->reason, sizeof report->reason,
                 "the server step (%s, server_lr %g) gave a non-finite model: previous model kept",
                 dn_fedavg_server_name(opt->server), lr);
        memcpy(w, previous, P * sizeof *w);
    }
}

/* Steps 4–5 on the master, shared by both kinds of round: the K models
 * gathered in m (ids as master_merge takes them) merged into the network's
 * parameters, then the server optimiser's step. */
static dn_status master_finish(dn_mlp *mlp, const fedavg_master *m, const dn_fedavg_options *opt,
                               const dn_aggregate_options *agg, size_t K, const size_t *ids,
                               dn_fedavg_report *report, dn_error *err)
{
    dn_status s = master_merge(m, agg, K, mlp->nparams, ids, mlp->params, report);
    if (s) return dn_fail(err, s, "fedavg: the merge failed");
    if (!report->refused) server_step(mlp, opt, m->previous, report);
    mlp->train_size = report->samples;
    return DN_OK;
}

/* What this rank sends: its parameters, or a corrupted copy on a faulty
 * rank, or NaN when its local training diverged. *copy is malloc'd when
 * the parameters themselves cannot be sent. */
static dn_status outgoing(float *params, size_t P, const dn_fedavg_options *opt, int diverged, dn_rng *fault_rng,
                          float **send, float **copy, dn_error *err)
{
    *send = params, *copy = NULL;
    if (opt->fault.kind == DN_FAULT_NONE && !diverged) return DN_OK;
    if (!(*copy = malloc(P * sizeof **copy))) return dn_fail(err, DN_ERR_NOMEM, "out of memory for the model to send");
    memcpy(*copy, params, P * sizeof **copy);
    dn_fault nan_fault = {DN_FAULT_NAN, 1};
    dn_fault_apply_f32(diverged ? &nan_fault : &opt->fault, *copy, P, fault_rng);
    *send = *copy;
    return DN_OK;
}

/* Steps 2–3 on every rank, step 4 on the master. */
static dn_status fedavg_exchange(dn_mlp *mlp, const dn_dataset *shard, dn_comm *comm, const dn_fedavg_options *opt,
                                 dn_rng *fault_rng, const float *anchor, fedavg_master *m, dn_fedavg_report *report,
                                 dn_error *err)
{
    size_t P, K = (size_t)dn_comm_size(comm);
    float *params = dn_mlp_params(mlp, &P), *send = NULL, *copy = NULL;
    int round = mlp->epochs_done / opt->local_epochs, diverged = 0;
    double loss = 0;
    reset_optimizer(mlp);
    dn_error local_err = {0};
    const local_set own = {shard, {NULL, shard->count, NULL, NULL, NULL}};
    dn_status local = proximal_training(mlp, &own, opt, opt->local_epochs, anchor, &loss, &diverged, &local_err);
    if (!local) local = outgoing(params, P, opt, diverged, fault_rng, &send, &copy, &local_err);
    /* Ranks agree on failures first, so none waits in a gather another left. */
    int failed = local != DN_OK;
    dn_status s = dn_comm_allreduce(comm, &failed, 1, DN_COMM_INT, DN_COMM_MAX, err);
    if (!s && failed && local) *err = local_err, s = local;
    else if (!s && failed) s = dn_fail(err, DN_ERR_MPI, "another rank failed in round %d", round + 1);
    double info[2] = {(double)shard->count, loss * (double)shard->count};
    if (!s) s = dn_comm_gather(comm, send, P, DN_COMM_F32, m->models, 0, err);
    if (!s) s = dn_comm_gather(comm, info, 2, DN_COMM_F64, m->info, 0, err);
    free(copy);
    mlp->epochs_done = (round + 1) * opt->local_epochs; /* the same on every rank, diverged or not */
    if (s || dn_comm_rank(comm) != 0) return s;
    dn_aggregate_options agg = opt->aggregate;
    agg.reference = m->previous; /* clip's */
    return master_finish(mlp, m, opt, &agg, K, NULL, report, err);
}

/* Step 1, shared by both kinds of round: the master's buffers for `models`
 * models and its server state, a copy of w_g of its own on every other rank
 * when need_copy (FedProx's anchor, a virtual client's starting point), all
 * agreed on before the broadcast of w_g. *global gets the master's
 * m->previous or the rank's copy (NULL when neither). */
static dn_status round_begin(dn_mlp *mlp, dn_comm *comm, const dn_fedavg_options *opt, size_t models, int need_copy,
                             fedavg_master *m, float **own_copy, float **global, dn_error *err)
{
    size_t P = mlp->nparams;
    int master = dn_comm_rank(comm) == 0;
    *own_copy = *global = NULL;
    int failed[2] = {master && (!master_alloc(m, mlp, models, P, needs_root(opt)) || !server_state(mlp, opt)),
                     need_copy && !master && !(*own_copy = malloc(P * sizeof **own_copy))};
    dn_status s = dn_comm_allreduce(comm, failed, 2, DN_COMM_INT, DN_COMM_MAX, err);
    if (s) return s;
    if (failed[0])
        return dn_fail(err, DN_ERR_NOMEM, "fedavg: the master is out of memory for %zu models of %zu values "
                                          "and the server state", models, P);
    if (failed[1]) return dn_fail(err, DN_ERR_NOMEM, "fedavg: a rank is out of memory for its copy of the model");
    if ((s = dn_comm_broadcast(comm, mlp->params, P, DN_COMM_F32, 0, err))) return s;
    *global = master ? m->previous : *own_copy;
    if (*global) memcpy(*global, mlp->params, P * sizeof *mlp->params);
    return DN_OK;
}

static dn_fedavg_report report_start(int round)
{
    return (dn_fedavg_report){.round = round, .bad_rank = -1, .chosen_rank = -1};
}

dn_status dn_fedavg_round(dn_mlp *mlp, const dn_dataset *shard, dn_comm *comm, const dn_fedavg_options *opt,
                          dn_rng *fault_rng, dn_fedavg_report *report, dn_error *err)
{
    dn_fedavg_report local_report;
    if (!report) report = &local_report;
    if (dn_mlp_regularised_(&mlp->opt) || dn_augment_active(&mlp->opt.augment)) return dn_fail(err, DN_ERR_USAGE, NOT_REGULARISED);
    double t0 = dn_now_seconds();
    size_t K = (size_t)dn_comm_size(comm);
    float *own_anchor = NULL, *global = NULL;
    dn_status s = dn_fedavg_options_check(opt, err);
    if (!s) s = dn_aggregate_options_check(&opt->aggregate, K, err);
    if (s) return s;
    if (opt->stragglers > 0 || opt->dropout_rate > 0)
        return dn_fail(err, DN_ERR_USAGE, "fedavg: stragglers and dropout apply to virtual clients "
                                          "(dn_fedavg_clients_round), not to one client per rank");
    if (dn_fedavg_screens_(opt) || needs_root(opt))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: attacks, detection and fltrust apply to virtual clients "
                                          "(dn_fedavg_clients_round), not to one client per rank");
    *report = report_start(mlp->epochs_done / opt->local_epochs);
    report->clients_sampled = report->clients_reported = K;
    report->bytes_sent = report->bytes_received = (uint64_t)K * mlp->nparams * sizeof(float);
    fedavg_master m = {0};
    int prox = opt->prox_mu > 0;
    /* FedProx's anchor: the master's copy of w_g, a copy of its own elsewhere */
    s = round_begin(mlp, comm, opt, K, prox, &m, &own_anchor, &global, err);
    if (!s) s = fedavg_exchange(mlp, shard, comm, opt, fault_rng, prox ? global : NULL, &m, report, err);
    free(own_anchor);
    master_free(&m);
    report->seconds = dn_now_seconds() - t0;
    return s;
}

/* ------------------------------------------------------- virtual clients */

#define SAMPLE_TAG 0x53414D504C45ULL /* "SAMPLE" */
#define CLIENT_TAG 0x434C49454E54ULL /* "CLIENT" */
#define STRAGGLE_TAG 0x53545241474CULL /* "STRAGL" */
#define DROPOUT_TAG 0x44524F504F55ULL /* "DROPOU" */

size_t dn_fedavg_sample_count(size_t clients, double fraction)
{
    if (clients == 0) return 0;
    if (!(fraction > 0)) return 1;
    if (fraction >= 1) return clients;
    double m = floor(fraction * (double)clients + 0.5);
    return m < 1 ? 1 : m > (double)clients ? clients : (size_t)m;
}

uint64_t dn_fedavg_client_seed(uint64_t seed, int round, size_t client)
{
    return dn_seed_derive_(seed, CLIENT_TAG, (uint64_t)(int64_t)round, (uint64_t)client);
}

size_t dn_fedavg_sample_clients(size_t clients, double fraction, uint64_t seed, int round, size_t *out)
{
    size_t m = dn_fedavg_sample_count(clients, fraction), taken = 0;
    dn_rng rng;
    dn_rng_seed(&rng, dn_seed_derive_(seed, SAMPLE_TAG, (uint64_t)(int64_t)round, 0));
    /* Knuth's selection sampling (TAOCP 3.4.2, Algorithm S): client i is
     * taken with probability (m − taken) / (K − i), exactly m in all, each
     * m-subset equally likely, in ascending order. */
    for (size_t i = 0; i < clients && taken < m; i++)
        if (dn_rng_below(&rng, clients - i) < m - taken) out[taken++] = i;
    return m;
}

size_t dn_fedavg_plan_round(const dn_fedavg_options *opt, const size_t *draw, size_t m, uint64_t seed, int round,
                             int *epochs, size_t *stragglers, size_t *dropped_out)
{
    const int E = opt->local_epochs;
    double share = floor(opt->stragglers * (double)m + 0.5); /* round(P·m), half up */
    size_t slow = share <= 0 ? 0 : share >= (double)m ? m : (size_t)share, taken = 0, gone = 0, reporting = 0;
    dn_rng rng;
    dn_rng_seed(&rng, dn_seed_derive_(seed, STRAGGLE_TAG, (uint64_t)(int64_t)round, 0));
    for (size_t i = 0; i < m; i++) {
        int straggles = taken < slow && dn_rng_below(&rng, m - i) < slow - taken; /* Algorithm S again */
        taken += (size_t)straggles;
        /* the epochs drawn for every client, straggler or not, so one client's
         * draw does not depend on which others straggle */
        int partial = 1 + (int)dn_rng_below(&rng, (uint64_t)E);
        dn_rng own;
        dn_rng_seed(&own, dn_seed_derive_(seed, DROPOUT_TAG, (uint64_t)(int64_t)round, (uint64_t)draw[i]));
        int drops = opt->dropout_rate > 0 && dn_rng_uniform(&own) < opt->dropout_rate;
        gone += (size_t)drops;
        epochs[i] = drops ? 0 : !straggles ? E : opt->straggler_policy == DN_STRAGGLER_PARTIAL ? partial : 0;
        reporting += epochs[i] > 0;
    }
    if (stragglers) *stragglers = slow;
    if (dropped_out) *dropped_out = gone;
    return reporting;
}

/* What every rank knows about a round of virtual clients. */
typedef struct clients_round {
    const dn_dataset *train;        /* the clients' samples */
    const dn_dataset *flipped;      /* train with labels l → 9 − l for label-flip attackers, else NULL */
    const dn_partition *part;
    const dn_fedavg_options *opt;
    const unsigned char *malicious; /* (K) the ground truth, or NULL without adversaries */
    const size_t *draw;             /* (mcount) the sampled clients, ascending */
    const int *plan;                /* (mcount) their local epochs, 0: no report */
    size_t mcount;
    const float *global;            /* w_g */
    uint64_t seed;
    int round;
} clients_round;

/* The set client k trains on: flipped labels for a label-flip attacker. */
static const dn_dataset *client_data(const clients_round *cr, size_t k)
{
    return cr->flipped && cr->malicious[k] ? cr->flipped : cr->train;
}

/* E local epochs from the round's w_g with a fresh optimiser and the
 * round's epochs done, on `set` (indices NULL: its first n samples),
 * shuffled by shuffle_seed; the model goes to slot (NaN when it diverged),
 * n and loss × n to info. */
static dn_status train_from_global(dn_mlp *mlp, const clients_round *cr, const dn_dataset *set,
                                   const size_t *indices, size_t n, int epochs, uint64_t shuffle_seed, float *slot,
                                   double *info, dn_error *err)
{
    const dn_fedavg_options *opt = cr->opt;
    /* the training starts from w_g and ends in the slot: no copy through mlp->params */
    const local_set local = {set, {indices, n, cr->global, slot, NULL}};
    reset_optimizer(mlp);
    mlp->epochs_done = cr->round * opt->local_epochs;
    uint64_t run_seed = mlp->opt.seed;
    mlp->opt.seed = shuffle_seed;
    double loss = 0;
    int diverged = 0;
    dn_status s = proximal_training(mlp, &local, opt, epochs, opt->prox_mu > 0 ? cr->global : NULL, &loss, &diverged,
                                    err);
    mlp->opt.seed = run_seed;
    if (!s) {
        if (diverged) {
            dn_fault nan_fault = {DN_FAULT_NAN, 1};
            dn_fault_apply_f32(&nan_fault, slot, mlp->nparams, NULL); /* every value: what the slot held does not matter */
        }
        info[0] = (double)n, info[1] = loss * (double)n;
    }
    return s;
}

/* One virtual client's job on this rank: its plan's epochs on client k's
 * samples, shuffled by (seed, round, k). */
static dn_status client_job(dn_mlp *mlp, const clients_round *cr, size_t k, int epochs, float *slot, double *info,
                            dn_error *err)
{
    /* k < the partition's clients, its rows < train->count: the round checked both */
    return train_from_global(mlp, cr, client_data(cr, k), dn_partition_client_indices(cr->part, k),
                             dn_partition_client_size(cr->part, k), epochs, dn_fedavg_client_seed(cr->seed, cr->round, k),
                             slot, info, err);
}

/* The master's own model on its root set (FLTrust), into trusted: as many
 * SGD steps as a client of average size takes (Cao et al. give the server
 * the clients' local iterations), so E · round(n̄ / N) epochs over the N
 * root samples, at least E. */
static dn_status root_job(dn_mlp *mlp, const clients_round *cr, float *trusted, dn_error *err)
{
    double info[2], mean_client = (double)dn_partition_train_size(cr->part) / (double)dn_partition_clients(cr->part);
    double ratio = floor(mean_client / (double)cr->opt->root->count + 0.5);
    int epochs = cr->opt->local_epochs * (ratio > 1 ? (ratio < 1000 ? (int)ratio : 1000) : 1);
    uint64_t shuffle = dn_seed_derive_(cr->seed, DN_ROOT_TAG, (uint64_t)(int64_t)cr->round, 0);
    int done = mlp->epochs_done; /* the round's count, which the server's own epochs must not move */
    dn_status s = train_from_global(mlp, cr, cr->opt->root, NULL, cr->opt->root->count, epochs, shuffle, trusted,
                                    info, err);
    mlp->epochs_done = done;
    return s;
}

/* Block entry i (draw[first + i]) trained by `net` into its slot; a client
 * that does not report, or that the master (mlp) knows is banned, is
 * skipped (its slot zeroed, never read). */
static dn_status block_client(dn_mlp *mlp, dn_mlp *net, const clients_round *cr, size_t first, size_t i,
                              float *slots, double *info, dn_error *err)
{
    const size_t P = mlp->nparams, k = cr->draw[first + i];
    if (cr->plan[first + i] > 0 && !dn_fedavg_banned_(mlp, cr->opt, k))
        return client_job(net, cr, k, cr->plan[first + i], slots + i * P, info + 2 * i, err);
    memset(slots + i * P, 0, P * sizeof *slots);
    return DN_OK;
}

/* Virtual clients at once. A client's model depends on nothing but w_g,
 * its samples, its seed and the options, so with --threads T ≥ 2 a block's
 * clients train T at a time, each on one thread and its own copy of the
 * network (the master's and T − 1 workers kept in mlp), and every slot
 * holds the same bits as when they train one after another with one
 * thread (test_vclients, test_clients_at_once). Not with a batch
 * callback (it would run on several threads at once, and a stop vote
 * ends the rank's local training), a profile (training thread 0's clock),
 * EMA or augmentation (state and threads of their own): there the clients
 * take turns, each step on the threads as --threads says. Measured: the
 * FedAvg 2NN client update (B = 10, 100 clients, 10 a round) 4.4 → 2.6 ms
 * with two at once on two cores (bench/bench_fedavg.sh; medians of three
 * runs each, alternated). */
enum { MOST_AT_ONCE = 64 };

static int clients_at_once(const dn_mlp *mlp, size_t count)
{
    if (count < 2 || mlp->on_batch || mlp->profile || mlp->opt.ema > 0 || dn_augment_active(&mlp->opt.augment))
        return 1;
    int T = dn_mlp_threads_(mlp);
    if (T > MOST_AT_ONCE) T = MOST_AT_ONCE;
    return T < 2 ? 1 : (size_t)T > count ? (int)count : T;
}

/* The T − 1 workers, cloned from mlp on first use and kept; each takes the
 * master's options (threads 1) before a round. */
static dn_status client_workers(dn_mlp *mlp, int T, dn_error *err)
{
    if (mlp->client_workers_n < T - 1) {
        dn_mlp **w = realloc(mlp->client_workers, (size_t)(T - 1) * sizeof *w);
        if (!w) return dn_fail(err, DN_ERR_NOMEM, "out of memory for %d virtual clients at once", T);
        mlp->client_workers = w;
        while (mlp->client_workers_n < T - 1) {
            dn_mlp *c = dn_mlp_clone_(mlp, err);
            if (!c) return err->code;
            w[mlp->client_workers_n++] = c;
        }
    }
    for (int i = 0; i < T - 1; i++) {
        dn_mlp *c = mlp->client_workers[i];
        c->opt = mlp->opt, c->opt.threads = 1;
        c->train_size = mlp->train_size;
    }
    return DN_OK;
}

/* The block's entries i ≡ t (mod the threads OpenMP gives, at most T) on
 * thread t; the first failure in client order is returned. */
static dn_status train_at_once(dn_mlp *mlp, const clients_round *cr, size_t first, size_t count, int T, float *slots,
                               double *info, dn_error *err)
{
    dn_status s = client_workers(mlp, T, err);
    if (s) return s;
    dn_status status[MOST_AT_ONCE] = {0};
    size_t failed_at[MOST_AT_ONCE];
    dn_error errs[MOST_AT_ONCE];
    const int threads = mlp->opt.threads, restore = dn_blas_threads_set_(1);
    mlp->opt.threads = 1;
#pragma omp parallel num_threads(T)
    {
        int t = 0, given = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), given = omp_get_num_threads();
#endif
        dn_mlp *net = t == 0 ? mlp : mlp->client_workers[t - 1];
        memset(&errs[t], 0, sizeof errs[t]);
        for (size_t i = (size_t)t; i < count && !status[t]; i += (size_t)given) {
            status[t] = block_client(mlp, net, cr, first, i, slots, info, &errs[t]);
            failed_at[t] = i;
        }
    }
    mlp->opt.threads = threads;
    if (restore > 0) dn_blas_threads_set_(restore);
    int worst = -1;
    for (int t = 0; t < T; t++)
        if (status[t] && (worst < 0 || failed_at[t] < failed_at[worst])) worst = t;
    if (worst < 0) return DN_OK;
    *err = errs[worst];
    return status[worst];
}

/* Trains this rank's block of the draw into slots (block_client), the
 * clients one after another or several at once (clients_at_once). */
static dn_status train_block(dn_mlp *mlp, const clients_round *cr, size_t first, size_t count, size_t c, float *slots,
                             double *info, dn_error *err)
{
    const size_t P = mlp->nparams;
    dn_status s = DN_OK;
    memset(info, 0, 2 * c * sizeof *info);
    const int T = clients_at_once(mlp, count);
    if (T > 1)
        s = train_at_once(mlp, cr, first, count, T, slots, info, err);
    else
        for (size_t i = 0; i < count && !s; i++) s = block_client(mlp, mlp, cr, first, i, slots, info, err);
    for (size_t t = count; t < c; t++) memset(slots + t * P, 0, P * sizeof *slots); /* padding, never read */
    return s;
}

/* The sampled clients' jobs on every rank, gathered on the master in
 * client-id order. rank r trains draw[first … first + count) (contiguous
 * blocks, sizes dn_shard_size(m, ranks, r)) into its `slots` blocks of at
 * most c = ⌈m / ranks⌉ models, which the master gathers into m->models
 * (ranks × c slots) and then moves left into m consecutive models. */
static dn_status clients_exchange(dn_mlp *mlp, const clients_round *cr, dn_comm *comm, size_t c, fedavg_master *m,
                                  float *slots, double *info, dn_error *err)
{
    size_t P = mlp->nparams, mcount = cr->mcount;
    int ranks = dn_comm_size(comm), rank = dn_comm_rank(comm);
    dn_error local_err = {0};
    dn_status local = train_block(mlp, cr, part_first(mcount, ranks, rank), dn_shard_size(mcount, ranks, rank), c,
                                  slots, info, &local_err);
    int failed = local != DN_OK;
    dn_status s = dn_comm_allreduce(comm, &failed, 1, DN_COMM_INT, DN_COMM_MAX, err);
    if (!s && failed && local) *err = local_err, s = local;
    else if (!s && failed) s = dn_fail(err, DN_ERR_MPI, "another rank failed in round %d", cr->round + 1);
    if (!s && ranks > 1) s = dn_comm_gather(comm, slots, c * P, DN_COMM_F32, m->models, 0, err);
    if (!s && ranks > 1) s = dn_comm_gather(comm, info, 2 * c, DN_COMM_F64, m->info, 0, err);
    mlp->epochs_done = (cr->round + 1) * cr->opt->local_epochs; /* the same on every rank, diverged or not */
    if (s || rank != 0) return s;
    /* rank r's block starts at slot r·c and holds draw[part_first(m, ranks, r) …]: move it there (left) */
    for (int r = 1; r < ranks; r++) {
        size_t at = part_first(mcount, ranks, r), n = dn_shard_size(mcount, ranks, r);
        memmove(m->models + at * P, m->models + (size_t)r * c * P, n * P * sizeof *m->models);
        memmove(m->info + 2 * at, m->info + 2 * (size_t)r * c, 2 * n * sizeof *m->info);
    }
    return DN_OK;
}

/* On the master: the reporting clients' models and info moved left into
 * consecutive slots, their ids into ids (in place over draw is fine). */
static size_t keep_reporting(fedavg_master *m, size_t P, const size_t *draw, const int *plan, size_t mcount,
                             size_t *ids)
{
    size_t kept = 0;
    for (size_t i = 0; i < mcount; i++) {
        if (plan[i] <= 0) continue;
        if (kept != i) {
            memmove(m->models + kept * P, m->models + i * P, P * sizeof *m->models);
            memmove(m->info + 2 * kept, m->info + 2 * i, 2 * sizeof *m->info);
        }
        ids[kept++] = draw[i];
    }
    return kept;
}

/* Why nobody is merged: the round's refusal reason. */
static void nobody_reason(const dn_fedavg_options *opt, size_t reporting, size_t kept, size_t mcount,
                          dn_fedavg_report *report)
{
    if (reporting && kept == 0)
        snprintf(report->reason, sizeof report->reason,
                 "every participant was flagged (%zu of %zu sampled; %zu banned): previous model kept",
                 report->flagged, mcount, report->banned);
    else if (kept == 0 && opt->straggler_policy == DN_STRAGGLER_DROP && report->clients_straggling)
        snprintf(report->reason, sizeof report->reason,
                 "no client reported (of %zu sampled, %zu dropped out and %zu stragglers were dropped): previous "
                 "model kept", mcount, report->clients_dropped_out, report->clients_straggling);
    else if (kept == 0)
        snprintf(report->reason, sizeof report->reason,
                 "no client reported (all %zu sampled dropped out): previous model kept", mcount);
    else
        snprintf(report->reason, sizeof report->reason, "%zu clients %s, too few for %s: previous model kept", kept,
                 kept < reporting ? "left after detection" : "reported", dn_aggregate_rule_name(opt->aggregate.rule));
}

/* Steps 4–5 for the clients that reported (screened when adversaries are
 * simulated), or w_g kept when none is left or too few for the rule. */
static dn_status clients_finish(dn_mlp *mlp, fedavg_master *m, const clients_round *cr, size_t *ids,
                                dn_fedavg_report *report, dn_error *err)
{
    const dn_fedavg_options *opt = cr->opt;
    const size_t P = mlp->nparams;
    const size_t reporting = keep_reporting(m, P, cr->draw, cr->plan, cr->mcount, ids);
    size_t kept = reporting;
    report->bytes_received = (uint64_t)reporting * P * sizeof(float);
    dn_aggregate_options agg = opt->aggregate;
    agg.reference = m->previous, agg.trusted = m->trusted;
    dn_status s = DN_OK;
    if (kept && needs_root(opt)) s = root_job(mlp, cr, m->trusted, err);
    if (!s && dn_fedavg_screens_(opt)) {
        dn_round_models r = {m->models, m->info, ids, kept, m->previous, m->trusted};
        s = dn_fedavg_screen_(mlp, opt, cr->malicious, dn_partition_clients(cr->part), cr->seed, cr->round, &r,
                              report, err);
        kept = r.count;
    }
    if (s) return s;
    report->clients_reported = kept;
    dn_error why = {0};
    if (kept && !dn_aggregate_options_check(&agg, kept, &why))
        return master_finish(mlp, m, opt, &agg, kept, ids, report, err);
    report->refused = 1;
    nobody_reason(opt, reporting, kept, cr->mcount, report);
    report->clients_reported = 0, report->bytes_received = 0;
    memcpy(mlp->params, m->previous, P * sizeof *mlp->params);
    return DN_OK;
}

/* The round's checks that need no buffer; DN_ERR_USAGE. */
static dn_status clients_check(const dn_dataset *train, const dn_partition *part, const dn_fedavg_options *opt,
                               double client_fraction, dn_error *err)
{
    dn_status s = dn_fedavg_options_check(opt, err);
    if (s) return s;
    if (!part) return dn_fail(err, DN_ERR_USAGE, "fedavg clients: no partition");
    if (!(client_fraction >= 0 && client_fraction <= 1))
        return dn_fail(err, DN_ERR_USAGE, "fedavg clients: client fraction %g must lie in [0, 1]", client_fraction);
    if (opt->fault.kind != DN_FAULT_NONE)
        return dn_fail(err, DN_ERR_USAGE, "fedavg clients: faults are per rank and not defined for virtual clients");
    if (needs_root(opt) && (!opt->root || opt->root->count == 0))
        return dn_fail(err, DN_ERR_USAGE, "fedavg clients: FLTrust (the fltrust rule or detection) needs the "
                                          "server's root set: give a non-empty root");
    if (train->count < dn_partition_train_size(part))
        return dn_fail(err, DN_ERR_USAGE, "fedavg clients: the set has %zu samples, the partition covers %zu",
                       train->count, dn_partition_train_size(part));
    return DN_OK;
}

/* The ground truth and the label-flip attackers' labels, the same on every
 * rank (seeded by the round's seed). NULLs without adversaries; 0 when out
 * of memory. */
static int adversaries(const dn_fedavg_options *opt, const dn_dataset *train, size_t clients, uint64_t seed,
                       unsigned char **malicious, uint8_t **flipped_labels)
{
    *malicious = NULL, *flipped_labels = NULL;
    if (!dn_fedavg_screens_(opt)) return 1;
    if (!(*malicious = calloc(clients ? clients : 1, 1))) return 0;
    if (opt->malicious > 0 && opt->attack.kind != DN_ATTACK_NONE)
        dn_malicious_clients(clients, opt->malicious, seed, *malicious);
    if (opt->attack.kind != DN_ATTACK_LABEL_FLIP || !(opt->malicious > 0)) return 1;
    if (!(*flipped_labels = malloc(train->count ? train->count : 1))) return 0;
    for (size_t i = 0; i < train->count; i++) (*flipped_labels)[i] = (uint8_t)(DN_CLASSES - 1 - train->labels[i]);
    return 1;
}

dn_status dn_fedavg_clients_round(dn_mlp *mlp, const dn_dataset *train, const dn_partition *part, dn_comm *comm,
                                  const dn_fedavg_options *opt, double client_fraction, uint64_t seed,
                                  dn_fedavg_report *report, dn_error *err)
{
    dn_fedavg_report local_report;
    if (!report) report = &local_report;
    if (dn_mlp_regularised_(&mlp->opt) || dn_augment_active(&mlp->opt.augment)) return dn_fail(err, DN_ERR_USAGE, NOT_REGULARISED);
    double t0 = dn_now_seconds();
    dn_status s = clients_check(train, part, opt, client_fraction, err);
    if (s) return s;
    dn_comm *own_comm = NULL;
    if (!comm) {
        dn_error why = {0};
        if (!(comm = own_comm = dn_comm_local(&why))) {
            if (err) *err = why;
            return why.code ? why.code : DN_ERR_NOMEM;
        }
    }
    const size_t K = dn_partition_clients(part), mcount = dn_fedavg_sample_count(K, client_fraction),
                 P = mlp->nparams, ranks = (size_t)dn_comm_size(comm);
    const size_t c = dn_shard_size(mcount, (int)ranks, 0); /* the most clients one rank trains: rank 0's */
    const int round = mlp->epochs_done / opt->local_epochs;
    *report = report_start(round);
    report->clients_sampled = mcount;
    fedavg_master m = {0};
    float *own_copy = NULL, *global = NULL, *slots = NULL;
    double *info = NULL;
    size_t *draw = malloc(mcount * sizeof *draw);
    int *plan = malloc(mcount * sizeof *plan);
    unsigned char *malicious = NULL;
    uint8_t *flipped_labels = NULL;
    dn_aggregate_options rule = opt->aggregate;
    rule.reference = rule.trusted = mlp->params; /* stand-ins for the check: the round sets both */
    if ((s = dn_aggregate_options_check(&rule, mcount, err))) goto done;
    /* one process trains straight into the master's slots: no gather, no copy */
    size_t slot_bytes;
    if (dn_mul_overflows(c, P, &slot_bytes) || dn_mul_overflows(slot_bytes, sizeof(float), &slot_bytes)) {
        s = dn_fail(err, DN_ERR_NOMEM, "fedavg clients: %zu models of %zu values overflow", c, P);
        goto done;
    }
    if (ranks > 1) slots = malloc(slot_bytes), info = malloc(2 * c * sizeof *info);
    int failed = !draw || !plan || (ranks > 1 && (!slots || !info)) ||
                 !adversaries(opt, train, K, seed, &malicious, &flipped_labels);
    if ((s = dn_comm_allreduce(comm, &failed, 1, DN_COMM_INT, DN_COMM_MAX, err))) goto done;
    if (failed) {
        s = dn_fail(err, DN_ERR_NOMEM, "fedavg clients: a rank is out of memory for %zu models of %zu values", c, P);
        goto done;
    }
    if ((s = round_begin(mlp, comm, opt, ranks * c, 1, &m, &own_copy, &global, err))) goto done;
    if (ranks == 1) slots = m.models, info = m.info;
    /* every rank draws and plans the same */
    dn_fedavg_sample_clients(K, client_fraction, seed, round, draw);
    dn_fedavg_plan_round(opt, draw, mcount, seed, round, plan, &report->clients_straggling,
                         &report->clients_dropped_out);
    report->bytes_sent = (uint64_t)mcount * P * sizeof(float);
    const dn_dataset flipped = {train->count, train->images, flipped_labels, 0, NULL};
    const clients_round cr = {train, flipped_labels ? &flipped : NULL, part, opt, malicious, draw, plan, mcount,
                              global, seed, round};
    s = clients_exchange(mlp, &cr, comm, c, &m, slots, info, err);
    if (!s && dn_comm_rank(comm) == 0) s = clients_finish(mlp, &m, &cr, draw, report, err);
done:
    if (ranks > 1) free(slots), free(info);
    free(draw), free(plan), free(malicious), free(flipped_labels);
    free(own_copy);
    master_free(&m);
    dn_comm_free(own_comm);
    report->seconds = dn_now_seconds() - t0;
    return s;
}
