/* pta_distributed.c — see pta_distributed.h.
 *
 * One epoch is one MPI_Allreduce (SUM, float64) over a single buffer:
 *   [ W (10·784) | count-pass errors | out-of-memory flag | non-finite flag per rank ]
 * so the mix, the global error count and the agreement on failures travel
 * together and every rank leaves the collective knowing the same things.
 *
 * Exactness. W is read out as float64 (exact for either precision), summed
 * in float64 and divided by K; for a float32 W the sum of K floats in
 * float64 is exact unless the values span more than 29 − log2 K binary
 * orders of magnitude, so the mix is the correctly rounded mean whatever
 * order MPI adds in. With K = 1 the sum is W itself and the mix changes
 * nothing. Every rank receives the same sum (Open MPI's reductions hand one
 * result to all ranks), so all ranks hold identical W after each epoch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pta_checkpoint.h" /* checkpoints (issue 7) */
#include "pta_distributed.h"

#define W_VALUES (DN_CLASSES * DN_IMAGE_PIXELS)
#define SLOT_ERRORS W_VALUES
#define SLOT_NOMEM (W_VALUES + 1)
#define SLOT_FLAGS (W_VALUES + 2) /* + rank */

const char *const pta_dist_modes[] = {"off", "mix", NULL};

int pta_dist_check(pta_dist *d, pta_run *run)
{
    dn_error err = {0};
    if (!d->mode) {
        if (!d->flags.fault && d->flags.fault_rank < 0) return CLI_EXIT_OK;
        cli_fail(&err, DN_ERR_USAGE, "--fault and --fault-rank need --distributed mix");
    } else if (run->opt.average)
        cli_fail(&err, DN_ERR_USAGE,
                 "--average cannot be combined with --distributed mix: mixing replaces W after every epoch, so no "
                 "trainer's update steps describe the mixed W's history");
    else
        dist_check_flags(&d->flags, &err);
    if (err.code) return cli_report(&err);
    if (!d->mode) return CLI_EXIT_OK;
    /* K ranks share the cores: one thread each unless asked otherwise. */
    if (run->opt.threads == 0) run->opt.threads = 1;
    return CLI_EXIT_OK;
}

int pta_dist_begin(pta_dist *d, const pta_run *run, int *quiet, const char **metrics, const char **save,
                   const char **plot)
{
    if (!d->mode) return CLI_EXIT_OK;
    dn_error err = {0};
    if (dist_job_begin(&d->job, &d->flags, &err)) /* all ranks fail alike here: rank 0 says why */
        return dist_report_once(&d->job, &err);
    if (d->job.rank != 0) {
        *quiet = 1;
        *metrics = *save = *plot = NULL;
    }
    if (!*quiet) dist_print_shards(&d->job, &d->flags, run->opt.train_size);
    return CLI_EXIT_OK;
}

int pta_dist_is_root(const pta_dist *d) { return !d->mode || d->job.rank == 0; }

int pta_dist_report(const pta_dist *d, const dn_error *err)
{
    if (!d->mode || !d->agreed) return dist_report(&d->job, err);
    return dist_report_once(&d->job, err);
}

int pta_dist_end(pta_dist *d, int rc) { return d->agreed ? dist_job_leave(&d->job, rc) : dist_job_end(&d->job, rc); }

/* --init-weights: every rank reads the same (10, 784) file. */
static dn_status load_initial_weights(dn_pta *pta, const char *path, dn_error *err)
{
    double *w = NULL;
    size_t shape[4];
    int ndim;
    dn_status s = dn_npy_read_f64(path, &w, shape, &ndim, err);
    if (s) return s;
    if (ndim != 2 || shape[0] != DN_CLASSES || shape[1] != DN_IMAGE_PIXELS)
        s = cli_fail(err, DN_ERR_INPUT, "%s: initial weights must have shape (10, 784)", path);
    else
        dn_pta_set_weights(pta, w);
    free(w);
    return s;
}

static dn_status record_epoch(pta_run *run, const dn_pta_epoch_report *r, dn_error *err)
{
    size_t *errors = realloc(run->errors, (size_t)(run->epochs + 1) * sizeof *errors);
    if (errors) run->errors = errors;
    double *seconds = realloc(run->seconds, (size_t)(run->epochs + 1) * sizeof *seconds);
    if (seconds) run->seconds = seconds;
    if (!errors || !seconds) return cli_fail(err, DN_ERR_NOMEM, "out of memory recording the training curve");
    run->errors[run->epochs] = r->errors;
    run->seconds[run->epochs] = r->seconds;
    run->epochs++;
    if (run->on_epoch) run->on_epoch(run, r, run->on_epoch_user);
    return DN_OK;
}

/* The ranks whose contribution held a non-finite value, for the message. */
static void name_bad_ranks(const double *buf, int size, char *text, size_t cap)
{
    size_t used = 0;
    text[0] = '\0';
    for (int r = 0; r < size && used < cap; r++)
        if (buf[SLOT_FLAGS + r] > 0)
            used += (size_t)snprintf(text + used, cap - used, "%s%d", used ? ", " : "", r);
    if (!used) snprintf(text, cap, "none alone (the sum overflowed)");
}

/* One epoch: local PTA epoch on the shard, then the mix. *errors gets the
 * global count-pass errors. prev holds the last accepted mixed W; it is
 * restored when the mix is refused. */
static dn_status mix_epoch(pta_dist *d, pta_run *run, const dn_dataset *shard, double *buf, double *prev, int epoch,
                           size_t *errors, dn_error *err)
{
    dist_job *job = &d->job;
    size_t local = dn_pta_epoch(run->pta, shard, shard->count);
    dn_pta_get_weights(run->pta, buf);
    dist_inject_f64(job, buf, W_VALUES);
    memset(buf + W_VALUES, 0, (size_t)(2 + job->size) * sizeof *buf);
    buf[SLOT_NOMEM] = local == SIZE_MAX;
    buf[SLOT_ERRORS] = local == SIZE_MAX ? 0 : (double)local; /* exact: counts are far below 2^53 */
    buf[SLOT_FLAGS + job->rank] = dn_first_nonfinite_f64(buf, W_VALUES) < W_VALUES;
    dn_status s = dn_comm_allreduce(job->comm, buf, (size_t)SLOT_FLAGS + (size_t)job->size, DN_COMM_F64, DN_COMM_SUM,
                                    err);
    if (s) return s;
    if (buf[SLOT_NOMEM] > 0) return cli_fail(err, DN_ERR_NOMEM, "a rank ran out of memory for its pixel index");
    *errors = (size_t)buf[SLOT_ERRORS];
    if (dn_first_nonfinite_f64(buf, W_VALUES) < W_VALUES) {
        /* A mean lets one NaN poison all of W: refuse the mix, keep the last good W. */
        char ranks[256];
        name_bad_ranks(buf, job->size, ranks, sizeof ranks);
        if (job->rank == 0)
            fprintf(stderr, "digitnet: epoch %d: non-finite W from rank %s: mix refused, previous W kept\n", epoch,
                    ranks);
        dn_pta_set_weights(run->pta, prev);
        return DN_OK;
    }
    for (size_t i = 0; i < W_VALUES; i++) buf[i] /= (double)job->size;
    dn_pta_set_weights(run->pta, buf);
    memcpy(prev, buf, W_VALUES * sizeof *prev);
    return DN_OK;
}

/* After an epoch is recorded: the result so far, a checkpoint when due
 * (collective), then the DN_TEST_KILL_AT hook. Non-zero ends training: ε
 * met, the epoch cap reached or a checkpoint failed (on every rank alike). */
static int epoch_done(pta_dist *d, pta_run *run, const dn_pta_epoch_report *r)
{
    run->result.epochs++;
    run->result.final_errors = r->errors;
    run->result.converged = (double)r->errors / (double)r->n <= run->opt.epsilon;
    int stop = run->ckpt && pta_ckpt_after_epoch(run->ckpt, run, r); /* checkpoints (issue 7) */
    dist_test_kill_at(&d->job, run->epochs);
    return stop || run->result.converged;
}

/* The epoch loop of dn_pta_train with a mix after every epoch; run->epochs
 * counts the epochs of a resumed checkpoint too, so max_epochs caps them all. */
static dn_status mix_train(pta_dist *d, pta_run *run, const dn_dataset *shard, dn_error *err)
{
    size_t n = run->opt.train_size;
    double *buf = malloc((W_VALUES + 2 + (size_t)d->job.size) * sizeof *buf);
    double *prev = malloc(W_VALUES * sizeof *prev);
    dn_status s = buf && prev ? DN_OK : cli_fail(err, DN_ERR_NOMEM, "out of memory for the mixing buffers");
    if (!s) dn_pta_get_weights(run->pta, prev);
    while (!s && run->epochs < run->opt.max_epochs) {
        double t0 = cli_now_seconds();
        size_t errors = 0;
        if ((s = mix_epoch(d, run, shard, buf, prev, run->epochs, &errors, err))) break;
        dn_pta_epoch_report report = {run->epochs, errors, n, cli_now_seconds() - t0};
        if ((s = record_epoch(run, &report, err)) || epoch_done(d, run, &report)) break;
    }
    free(buf);
    free(prev);
    return s;
}

/* The trainer every rank starts from: resumed from --resume (collective),
 * else the seed's W or --init-weights. */
static dn_status prepare(pta_dist *d, pta_run *run, const dn_dataset *train, dn_error *err)
{
    pta_ckpt *c = run->ckpt; /* checkpoints (issue 7) */
    if (c) {
        c->comm = d->job.comm;
        c->rng = &d->job.fault_rng;
        dist_job_text(d->job_text, sizeof d->job_text, pta_dist_modes[d->mode], &d->flags);
        c->mode = d->job_text;
    }
    dn_status s = c ? pta_ckpt_start(c, run, train, err) : DN_OK;
    d->agreed = s != DN_OK; /* a resume fails on every rank alike */
    if (s || run->pta) return s;
    if (!(run->pta = dn_pta_create(&run->opt, err))) return err->code;
    return run->init_weights ? load_initial_weights(run->pta, run->init_weights, err) : DN_OK;
}

dn_status pta_dist_execute(pta_dist *d, pta_run *run, const dn_dataset *train, const dn_dataset *test,
                           dn_error *err)
{
    dn_status s = dn_pta_options_check(&run->opt, train->count, err);
    if (s) return s;
    dn_dataset *shard = dist_load_shard(&d->job, &d->flags, train, run->opt.train_size, err);
    if (!shard) return err->code;
    s = prepare(d, run, train, err);
    double t0 = cli_now_seconds();
    if (!s && pta_ckpt_epochs_left(run->ckpt, run)) s = mix_train(d, run, shard, err);
    run->train_seconds = cli_now_seconds() - t0;
    if (!s && run->ckpt) { /* checkpoints (issue 7): a failed save (on every rank alike), the last save, totals */
        s = pta_ckpt_finish(run->ckpt, run, err);
        d->agreed = s != DN_OK;
    }
    dn_dataset_free(shard);
    if (s || d->job.rank != 0) return s;
    run->test_count = test->count;
    run->test_errors = dn_pta_count_errors(run->pta, test, test->count);
    return DN_OK;
}
