/* test_dist_trainers.c — the library's distributed loops called from C
 * (not through the CLI) under `mpirun -np 2` and `-np 3`.
 *
 * Started by CTest, the program is the launcher: it runs itself under
 * mpirun for each size and reports skipped when mpirun or MPI is missing.
 * Started by mpirun (OMPI_COMM_WORLD_SIZE or PMI_SIZE set), each rank runs
 * the checks below and exits non-zero naming the first that failed:
 *   - parameter mixing with every rank on all n samples is the local run
 *     (the mean of K equal W is W) and counts K times the errors;
 *   - a mixing run, a sync run and a fedavg run (plain, and with FedProx
 *     and FedAdam), each stopped by its callback and resumed from its
 *     checkpoint, end exactly where the uninterrupted run ends;
 *   - a sync epoch stopped by one rank's batch callback stops on every rank
 *     after the same batch, with the parameters of a full run there;
 *   - dn_comm_iallreduce gives the exact sums of small integers (several in
 *     flight, waited out of order, round the shared-memory arena and past
 *     it), the same bits on every rank for inexact values; the overlapped
 *     sync epoch (summed with Adam, split with SGD) follows one process and
 *     the deterministic epoch within float rounding, the same bits on every
 *     rank; one rank's NaN loss
 *     stops every rank before any update — these three also with the sums
 *     through MPI_Iallreduce (DIGITNET_MPI_SHM=0, -np 2);
 *   - virtual clients (dn_fedavg_clients_round, K = 6 clients of an
 *     unbalanced partition): the job's model after 3 rounds is the one
 *     process's (comm NULL) bit for bit, for C = 0.5 (m = 3), plain and with
 *     FedProx and FedAdam, for C = 0.1 (m = 1: ranks without a client), and
 *     for C = 1 with partial stragglers and drop-outs (ranks with clients
 *     that do not report). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digitnet_dist.h"
#include "lib/synthetic.h"

#define COUNT 240
#define W_SIZE (DN_CLASSES * DN_IMAGE_PIXELS)

/* ------------------------------------------------------------- one rank */

/* The same synthetic set on every rank. */
static dn_dataset *synthetic(void)
{
    dn_dataset *set = calloc(1, sizeof *set);
    uint8_t *images = calloc(COUNT, DN_IMAGE_PIXELS), *labels = malloc(COUNT);
    if (!set || !images || !labels) exit(2);
    dn_test_fill_synthetic(images, labels, COUNT, 3, 4);
    *set = (dn_dataset){COUNT, images, labels, 1, NULL};
    return set;
}

#define CHECK(rank, cond)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s\n", rank, __FILE__, __LINE__, #cond);                  \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

static int stop_pta_at_two(const dn_pta_run_report *r, void *user) { return (void)user, r->epoch == 1; }
static int stop_mlp_at_one(const dn_mlp_run_report *r, void *user) { return (void)user, r->step == 1; }

static void pta_options(dn_pta_run_options *o, dn_comm *comm)
{
    dn_pta_run_options_default(o);
    o->pta.train_size = COUNT;
    o->pta.max_epochs = 5;
    o->pta.threads = 1;
    o->dist.comm = comm;
}

static void same_w(int rank, const dn_pta *a, const dn_pta *b)
{
    static double wa[W_SIZE], wb[W_SIZE];
    dn_pta_get_weights(a, wa);
    dn_pta_get_weights(b, wb);
    CHECK(rank, memcmp(wa, wb, sizeof wa) == 0);
}

static void check_mix_replicated(dn_comm *comm, const dn_dataset *set)
{
    int rank = dn_comm_rank(comm), k = dn_comm_size(comm);
    dn_pta_run_options o;
    dn_error err = {0};
    dn_pta_run mixed = {0}, local = {0};
    pta_options(&o, comm);
    o.dist.shard = DN_SHARD_REPLICATE;
    CHECK(rank, dn_pta_run_train(&o, set, &mixed, &err) == DN_OK);
    o.dist.comm = NULL;
    CHECK(rank, dn_pta_run_train(&o, set, &local, &err) == DN_OK);
    CHECK(rank, mixed.curve.epochs == local.curve.epochs);
    for (int e = 0; e < local.curve.epochs; e++) CHECK(rank, mixed.curve.errors[e] == (size_t)k * local.curve.errors[e]);
    same_w(rank, mixed.pta, local.pta);
    dn_pta_run_free(&mixed);
    dn_pta_run_free(&local);
}

static void check_mix_resume(dn_comm *comm, const dn_dataset *set, const char *dir)
{
    int rank = dn_comm_rank(comm);
    char path[4096];
    snprintf(path, sizeof path, "%s/mix.ck", dir);
    dn_pta_run_options o;
    dn_error err = {0};
    dn_pta_run whole = {0}, first = {0}, second = {0};
    pta_options(&o, comm);
    CHECK(rank, dn_pta_run_train(&o, set, &whole, &err) == DN_OK);
    o.checkpoint = (dn_checkpoint_policy){path, 1, NULL};
    o.on_epoch = stop_pta_at_two;
    CHECK(rank, dn_pta_run_train(&o, set, &first, &err) == DN_OK);
    CHECK(rank, first.result.epochs == 2);
    o.checkpoint.resume = path;
    o.on_epoch = NULL;
    CHECK(rank, dn_pta_run_train(&o, set, &second, &err) == DN_OK);
    CHECK(rank, second.result.epochs == whole.result.epochs);
    CHECK(rank, memcmp(second.curve.errors, whole.curve.errors, (size_t)whole.curve.epochs * sizeof(size_t)) == 0);
    same_w(rank, second.pta, whole.pta);
    dn_pta_run_free(&whole);
    dn_pta_run_free(&first);
    dn_pta_run_free(&second);
}

static dn_mlp *network(int epochs)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    dn_error err = {0};
    if (dn_mlp_parse_hidden("12", &o, &err)) exit(2);
    o.epochs = epochs;
    o.batch = 30;
    o.threads = 1;
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    if (!mlp) exit(2);
    return mlp;
}

static void mlp_run(int rank, dn_mlp *mlp, const dn_mlp_run_options *o, const dn_dataset *set)
{
    dn_error err = {0};
    dn_mlp_run *run = dn_mlp_run_create(mlp, o, set, &err);
    CHECK(rank, run != NULL);
    CHECK(rank, dn_mlp_run_resume(run, &err) == DN_OK);
    CHECK(rank, dn_mlp_run_train(run, &err) == DN_OK);
    dn_mlp_run_free(run);
}

/* mode: sync (deterministic sums) or fedavg over 3 rounds; rank 0's
 * network is the job's after a fedavg round. fedopt (fedavg): FedProx and
 * FedAdam, whose server state lives on rank 0 alone. */
static void check_mlp_resume(dn_comm *comm, const dn_dataset *set, const char *dir, dn_mlp_run_mode mode, int fedopt)
{
    int rank = dn_comm_rank(comm);
    char path[4096];
    snprintf(path, sizeof path, "%s/mlp%d%d.ck", dir, (int)mode, fedopt);
    dn_mlp_run_options o;
    dn_mlp_run_options_default(&o);
    o.dist.comm = comm;
    o.mode = mode;
    o.deterministic = 1;
    o.rounds = 3;
    if (fedopt) o.fedavg.prox_mu = 0.1, o.fedavg.server = DN_FEDAVG_SERVER_ADAM, o.fedavg.server_lr = 0.01;
    o.dist.job = mode == DN_MLP_RUN_SYNC ? "sync deterministic" : "fedavg";
    int epochs = mode == DN_MLP_RUN_SYNC ? 3 : o.rounds * o.fedavg.local_epochs;
    dn_mlp *whole = network(epochs), *first = network(epochs), *second = network(epochs);
    mlp_run(rank, whole, &o, set);
    o.checkpoint = (dn_checkpoint_policy){path, 2, NULL};
    o.on_step = stop_mlp_at_one;
    mlp_run(rank, first, &o, set);
    o.checkpoint.resume = path;
    o.on_step = NULL;
    mlp_run(rank, second, &o, set);
    size_t na, nb;
    const float *pa = dn_mlp_params(whole, &na), *pb = dn_mlp_params(second, &nb);
    CHECK(rank, na == nb);
    if (mode == DN_MLP_RUN_SYNC || rank == 0) CHECK(rank, memcmp(pa, pb, na * sizeof *pa) == 0);
    dn_mlp_free(whole);
    dn_mlp_free(first);
    dn_mlp_free(second);
}

/* ------------------------------------------------- batch callbacks in sync */

typedef struct sync_watch {
    dn_mlp *mlp;
    int calls, stop_at, snapshot_at; /* stop / copy the parameters at this call (0: never) */
    float *snapshot;
    int bad;
} sync_watch;

static int watch_batch(const dn_mlp_batch_report *r, void *user)
{
    sync_watch *w = user;
    w->calls++;
    if (!isfinite(r->mean_loss) || !isfinite(r->loss) || r->samples != (r->batch + 1) * 30 || r->batches != COUNT / 30)
        w->bad = 1;
    if (w->calls == w->snapshot_at) {
        size_t np;
        const float *p = dn_mlp_params(w->mlp, &np);
        memcpy(w->snapshot, p, np * sizeof *p);
    }
    return w->calls == w->stop_at;
}

/* A stop is collective: the last rank's callback stops after batch 3 of the
 * second epoch, rank 0's only watches, a middle rank (with 3) has none. Every
 * rank's epoch then stops with 3 batches trained and the parameters a full
 * run holds after that batch. The ordered sums, and the overlapped ones
 * (whose vote and loss travel in a non-blocking sum of their own). */
static void check_sync_batch_stop(dn_comm *comm, const dn_dataset *set, int deterministic)
{
    int rank = dn_comm_rank(comm), last = dn_comm_size(comm) - 1;
    const int per_epoch = COUNT / 30, k = 3;
    dn_error err = {0};
    dn_mlp *full = network(2), *cut = network(2);
    size_t np;
    dn_mlp_params(full, &np);
    float *snapshot = malloc(np * sizeof *snapshot), *theirs = malloc(np * sizeof *theirs);
    CHECK(rank, snapshot && theirs);
    sync_watch wf = {full, 0, 0, per_epoch + k, snapshot, 0};
    if (rank == 0) dn_mlp_set_batch_callback(full, watch_batch, &wf);
    dn_mlp_epoch_report r;
    for (int e = 0; e < 2; e++) {
        CHECK(rank, dn_mlp_sync_epoch(full, set, comm, deterministic, &r, &err) == DN_OK);
        CHECK(rank, r.stopped == 0 && r.samples == COUNT);
    }
    CHECK(rank, rank != 0 || (wf.calls == 2 * per_epoch && !wf.bad));
    sync_watch wc = {cut, 0, rank == last ? per_epoch + k : 0, 0, NULL, 0};
    if (rank == 0 || rank == last) dn_mlp_set_batch_callback(cut, watch_batch, &wc);
    CHECK(rank, dn_mlp_sync_epoch(cut, set, comm, deterministic, &r, &err) == DN_OK);
    CHECK(rank, r.stopped == 0 && r.samples == COUNT);
    CHECK(rank, dn_mlp_sync_epoch(cut, set, comm, deterministic, &r, &err) == DN_OK);
    CHECK(rank, r.stopped == 1 && r.samples == (size_t)k * 30 && isfinite(r.train_loss));
    CHECK(rank, dn_mlp_epochs_done(cut) == 2);
    CHECK(rank, !wc.bad && (!(rank == 0 || rank == last) || wc.calls == per_epoch + k));
    /* every rank holds rank 0's snapshot of the full run after that batch */
    if (rank == 0) memcpy(theirs, snapshot, np * sizeof *theirs);
    CHECK(rank, dn_comm_broadcast(comm, theirs, np, DN_COMM_F32, 0, &err) == DN_OK);
    CHECK(rank, memcmp(dn_mlp_params(cut, &np), theirs, np * sizeof *theirs) == 0);
    free(snapshot), free(theirs);
    dn_mlp_free(full), dn_mlp_free(cut);
}

/* ------------------------------------------- non-blocking sums, the sync step */

/* Rank r's value i, and the sum over K ranks: small integers, exact in
 * float in any order, so every transport must give these bits. */
static float value_at(size_t i, int r) { return (float)((i * 7 + (size_t)r * 13) % 1024); }
static float sum_at(size_t i, int K)
{
    float s = 0;
    for (int r = 0; r < K; r++) s += value_at(i, r);
    return s;
}

/* dn_comm_iallreduce against the known sums: several in flight, waited in
 * another order than started, tested meanwhile, large and small, floats,
 * doubles and ints; rounds enough to go round the shared-memory arena
 * several times; and on real (inexact) values, the same bits on every rank
 * and the blocking sum's within rounding. */
static void check_iallreduce(dn_comm *comm)
{
    const int rank = dn_comm_rank(comm), K = dn_comm_size(comm);
    const size_t sizes[4] = {1, 1000, 400000, 1500000}; /* the last exceeds the arena: MPI's own */
    float *buf[4];
    dn_error err = {0};
    for (int round = 0; round < 12; round++) {
        dn_comm_request req[4];
        for (int j = 0; j < 4; j++) {
            if (round == 0) CHECK(rank, (buf[j] = malloc(sizes[j] * sizeof(float))) != NULL);
            for (size_t i = 0; i < sizes[j]; i++) buf[j][i] = value_at(i + (size_t)round, rank);
            CHECK(rank, dn_comm_iallreduce(comm, buf[j], sizes[j], DN_COMM_F32, DN_COMM_SUM, &req[j], &err) == DN_OK);
        }
        int done = 0;
        CHECK(rank, dn_comm_test(comm, &req[1], &done, &err) == DN_OK);
        for (int j = 3; j >= 0; j--) {
            CHECK(rank, dn_comm_wait(comm, &req[j], &err) == DN_OK && req[j].handle == NULL);
            for (size_t i = 0; i < sizes[j]; i++)
                if (buf[j][i] != sum_at(i + (size_t)round, K)) {
                    fprintf(stderr, "rank %d: round %d, sum %d, value %zu: %g, not %g\n", rank, round, j, i,
                            buf[j][i], sum_at(i + (size_t)round, K));
                    exit(1);
                }
        }
    }
    double d[2] = {0.25 * (rank + 1), 1e300};
    int most[1] = {rank * 5};
    dn_comm_request rd, ri;
    CHECK(rank, dn_comm_iallreduce(comm, d, 2, DN_COMM_F64, DN_COMM_SUM, &rd, &err) == DN_OK);
    CHECK(rank, dn_comm_iallreduce(comm, most, 1, DN_COMM_INT, DN_COMM_MAX, &ri, &err) == DN_OK);
    CHECK(rank, dn_comm_wait(comm, &ri, &err) == DN_OK && dn_comm_wait(comm, &rd, &err) == DN_OK);
    CHECK(rank, d[0] == 0.125 * K * (K + 1) && d[1] == 1e300 * K && most[0] == 5 * (K - 1));
    /* inexact values: every rank the same bits, the blocking sum's within rounding */
    const size_t n = sizes[2];
    float *mine = buf[2], *theirs = buf[3];
    for (size_t i = 0; i < n; i++) mine[i] = theirs[i] = 1.0f / (float)(i + 1 + (size_t)rank * 3);
    dn_comm_request r;
    CHECK(rank, dn_comm_iallreduce(comm, mine, n, DN_COMM_F32, DN_COMM_SUM, &r, &err) == DN_OK);
    CHECK(rank, dn_comm_wait(comm, &r, &err) == DN_OK);
    CHECK(rank, dn_comm_allreduce(comm, theirs, n, DN_COMM_F32, DN_COMM_SUM, &err) == DN_OK);
    for (size_t i = 0; i < n; i++) CHECK(rank, fabsf(mine[i] - theirs[i]) <= 1e-6f * fabsf(theirs[i]));
    memcpy(theirs, mine, n * sizeof *mine);
    CHECK(rank, dn_comm_broadcast(comm, theirs, n, DN_COMM_F32, 0, &err) == DN_OK);
    CHECK(rank, memcmp(mine, theirs, n * sizeof *mine) == 0);
    for (int j = 0; j < 4; j++) free(buf[j]);
}

/* A network whose layer 0 has several blocks of units (64 units): with
 * SGD (the default) the sync epoch cuts it across the ranks (split), with
 * Adam (summed) it sums the gradient in several row blocks. */
static dn_mlp *wide_network(int summed)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    dn_error err = {0};
    if (dn_mlp_parse_hidden("64,16", &o, &err)) exit(2);
    o.epochs = 2, o.batch = 40, o.threads = 1;
    if (summed) o.optimizer = DN_OPTIMIZER_ADAM, o.lr = 0.001;
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    if (!mlp) exit(2);
    return mlp;
}

/* ‖a − b‖ ≤ rtol ‖a‖ */
static int close_to(const float *a, const float *b, size_t n, double rtol)
{
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), norm += (double)a[i] * a[i];
    return sqrt(diff) <= rtol * sqrt(norm);
}

/* The sync epoch — summed: overlapped (layer by layer, layer 0 in blocks,
 * each summed while the next computes); or split (layer 0's units cut
 * across the ranks) — against one process's dn_mlp_train_epoch and against
 * the deterministic sync epoch (one ordered sum a step, or the split epoch
 * again): within float rounding; every rank ends with the same bits; the
 * losses of the reports agree; its profile counts every step and times
 * each phase. */
static void check_sync_overlap(dn_comm *comm, const dn_dataset *set, int summed)
{
    const int rank = dn_comm_rank(comm);
    dn_mlp *alone = wide_network(summed), *overlap = wide_network(summed), *ordered = wide_network(summed);
    dn_error err = {0};
    dn_profile profile = {{0}, 0};
    dn_mlp_set_profile(overlap, &profile);
    double seconds = 0;
    for (int e = 0; e < 2; e++) {
        dn_mlp_epoch_report ra, ro, rd;
        CHECK(rank, dn_mlp_train_epoch(alone, set, &ra, &err) == DN_OK);
        CHECK(rank, dn_mlp_sync_epoch(overlap, set, comm, 0, &ro, &err) == DN_OK);
        seconds += ro.seconds;
        CHECK(rank, dn_mlp_sync_epoch(ordered, set, comm, 1, &rd, &err) == DN_OK);
        CHECK(rank, ro.samples == COUNT && rd.samples == COUNT);
        CHECK(rank, fabs(ro.train_loss - ra.train_loss) <= 1e-5 * ra.train_loss);
        CHECK(rank, fabs(rd.train_loss - ra.train_loss) <= 1e-5 * ra.train_loss);
    }
    /* the profile: every step, every phase the step has, within the epochs' time */
    double phases = 0;
    for (int i = 0; i < DN_PHASE_COUNT; i++) phases += profile.seconds[i];
    CHECK(rank, profile.steps == 2 * (COUNT / 40));
    CHECK(rank, profile.seconds[DN_PHASE_DATA] > 0 && profile.seconds[DN_PHASE_FORWARD] > 0 &&
                    profile.seconds[DN_PHASE_BACKWARD] > 0 && profile.seconds[DN_PHASE_UPDATE] > 0 &&
                    profile.seconds[DN_PHASE_COMM] > 0);
    /* summed: no thread waits for another (split: the one-thread step's
     * own laps, whose "wait" is the team of one's start and end) */
    if (summed) CHECK(rank, profile.seconds[DN_PHASE_WAIT] == 0);
    CHECK(rank, phases <= seconds);
    size_t n;
    float *a = dn_mlp_params(alone, &n), *o = dn_mlp_params(overlap, &n), *d = dn_mlp_params(ordered, &n);
    CHECK(rank, close_to(a, o, n, 1e-5) && close_to(a, d, n, 1e-5));
    float *zero = malloc(n * sizeof *zero);
    CHECK(rank, zero != NULL);
    memcpy(zero, o, n * sizeof *o);
    CHECK(rank, dn_comm_broadcast(comm, zero, n, DN_COMM_F32, 0, &err) == DN_OK);
    CHECK(rank, memcmp(zero, o, n * sizeof *o) == 0);
    free(zero);
    dn_mlp_free(alone), dn_mlp_free(overlap), dn_mlp_free(ordered);
}

/* One rank's loss turns NaN (a NaN weight on the last rank alone): every
 * rank's epoch fails with DN_ERR_NUMERIC at the same batch, none waits
 * for ever, none updates; overlapped and ordered alike. */
static void check_sync_nan(dn_comm *comm, const dn_dataset *set, int summed)
{
    const int rank = dn_comm_rank(comm), last = dn_comm_size(comm) - 1;
    for (int deterministic = 0; deterministic < 2; deterministic++) {
        dn_mlp *mlp = wide_network(summed);
        size_t n;
        float *p = dn_mlp_params(mlp, &n);
        const size_t last_bias = n - 1; /* an output bias: every sample's loss */
        if (rank == last) p[last_bias] = NAN;
        dn_error err = {0};
        dn_mlp_epoch_report r;
        CHECK(rank, dn_mlp_sync_epoch(mlp, set, comm, deterministic, &r, &err) == DN_ERR_NUMERIC);
        if (rank != last) CHECK(rank, strstr(err.message, "another rank") != NULL);
        CHECK(rank, dn_mlp_epochs_done(mlp) == 0);
        /* the first batch was refused before any update: the other ranks' parameters are as made */
        dn_mlp *fresh = wide_network(summed);
        if (rank != last) CHECK(rank, memcmp(dn_mlp_params(fresh, &n), p, n * sizeof *p) == 0);
        dn_mlp_free(fresh), dn_mlp_free(mlp);
    }
}

/* ------------------------------------------------------ virtual clients */

enum { PLAIN_FEDAVG, FEDPROX_ADAM, HETEROGENEOUS }; /* what check_clients_p_independent adds to FedAvg */

static void check_clients_p_independent(dn_comm *comm, const dn_dataset *set, double fraction, int variant)
{
    int rank = dn_comm_rank(comm);
    dn_error err = {0};
    dn_partition_spec spec;
    CHECK(rank, dn_partition_parse("quantity:1", &spec, &err) == DN_OK);
    dn_partition *part = dn_partition_make(set, COUNT, 6, &spec, 5, &err);
    CHECK(rank, part != NULL);
    dn_fedavg_options opt;
    dn_fedavg_options_default(&opt);
    opt.local_epochs = 2;
    if (variant == FEDPROX_ADAM) opt.prox_mu = 0.1, opt.server = DN_FEDAVG_SERVER_ADAM, opt.server_lr = 0.01;
    if (variant == HETEROGENEOUS)
        opt.stragglers = 0.5, opt.straggler_policy = DN_STRAGGLER_PARTIAL, opt.dropout_rate = 0.3;
    dn_mlp *alone = network(6), *job = network(6);
    for (int r = 0; r < 3; r++) {
        dn_fedavg_report ra, rj;
        CHECK(rank, dn_fedavg_clients_round(alone, set, part, NULL, &opt, fraction, 77, &ra, &err) == DN_OK);
        CHECK(rank, dn_fedavg_clients_round(job, set, part, comm, &opt, fraction, 77, &rj, &err) == DN_OK);
        CHECK(rank, dn_mlp_epochs_done(job) == (r + 1) * 2);
        if (rank == 0) {
            CHECK(rank, rj.round == r && rj.clients_sampled == ra.clients_sampled && rj.samples == ra.samples);
            CHECK(rank, rj.train_loss == ra.train_loss && rj.refused == ra.refused);
            CHECK(rank, rj.clients_reported == ra.clients_reported && rj.clients_dropped_out == ra.clients_dropped_out);
        }
    }
    size_t na, nb;
    const float *pa = dn_mlp_params(alone, &na), *pb = dn_mlp_params(job, &nb);
    CHECK(rank, na == nb);
    if (rank == 0) CHECK(rank, memcmp(pa, pb, na * sizeof *pa) == 0);
    dn_mlp_free(alone), dn_mlp_free(job);
    dn_partition_free(part);
}

/* comm_only: the non-blocking sums and the sync step alone (the run with
 * DIGITNET_MPI_SHM=0, whose sums go through MPI_Iallreduce). */
static int rank_main(const char *dir, int comm_only)
{
    dn_error err = {0};
    dn_comm *comm = dn_comm_init(&err);
    if (!comm) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    dn_dataset *set = synthetic();
    check_iallreduce(comm);
    for (int summed = 0; summed < 2; summed++) {
        check_sync_overlap(comm, set, summed);
        check_sync_nan(comm, set, summed);
    }
    check_sync_batch_stop(comm, set, 0);
    if (comm_only) {
        dn_dataset_free(set);
        dn_comm_free(comm);
        return 0;
    }
    check_mix_replicated(comm, set);
    check_mix_resume(comm, set, dir);
    check_mlp_resume(comm, set, dir, DN_MLP_RUN_SYNC, 0);
    check_mlp_resume(comm, set, dir, DN_MLP_RUN_FEDAVG, 0);
    check_mlp_resume(comm, set, dir, DN_MLP_RUN_FEDAVG, 1);
    check_sync_batch_stop(comm, set, 1);
    check_clients_p_independent(comm, set, 0.5, PLAIN_FEDAVG);
    check_clients_p_independent(comm, set, 0.5, FEDPROX_ADAM);
    check_clients_p_independent(comm, set, 0.1, PLAIN_FEDAVG);
    check_clients_p_independent(comm, set, 1.0, HETEROGENEOUS);
    dn_dataset_free(set);
    dn_comm_free(comm);
    return 0;
}

/* ------------------------------------------------------------- launcher */

static int under_mpirun(void) { return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE"); }

static void run_ranks(int np, const char *env)
{
    if (!dn_comm_mpi_available()) DN_SKIP("built without MPI");
    if (system("command -v mpirun >/dev/null 2>&1") != 0) DN_SKIP("mpirun not found (scripts/deps.sh installs openmpi-bin)");
    char self[4096], dir[] = "/tmp/dn_dist_XXXXXX", cmd[8400];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "%s mpirun -np %d '%s' '%s' %s && rm -rf '%s'", env ? env : "", np, self, dir,
             env ? "comm" : "", dir);
    int rc = system(cmd);
    assert_int_equal(rc, 0);
}

static void test_two_ranks(void **state) { (void)state, run_ranks(2, NULL); }
static void test_three_ranks(void **state) { (void)state, run_ranks(3, NULL); }
static void test_sums_through_mpi(void **state) { (void)state, run_ranks(2, "DIGITNET_MPI_SHM=0"); }

int main(int argc, char **argv)
{
    if (under_mpirun()) return argc == 2 || argc == 3 ? rank_main(argv[1], argc == 3) : 2;
    /* Open MPI refuses root and more ranks than cores unless told through its environment. */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    /* Under ASan Open MPI's own allocations are reported as leaks: not ours. */
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_ranks),
        cmocka_unit_test(test_three_ranks),
        cmocka_unit_test(test_sums_through_mpi),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
