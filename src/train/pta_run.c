/* pta_run.c — dn_pta_run_train: the one perceptron training loop, local or
 * mixed (pta_mix.c), fresh or resumed (see digitnet.h). */
#include <stdlib.h>
#include <string.h>

#include "dist_job_internal.h"
#include "pta_mix_internal.h"

void dn_pta_run_options_default(dn_pta_run_options *opt)
{
    memset(opt, 0, sizeof *opt);
    dn_pta_options_default(&opt->pta);
    opt->checkpoint.every = 1;
    dn_dist_options_default(&opt->dist);
}

void dn_pta_run_free(dn_pta_run *run)
{
    if (!run) return;
    dn_pta_free(run->pta);
    dn_pta_curve_free(&run->curve);
    memset(run, 0, sizeof *run);
}

static dn_status check_options(const dn_pta_run_options *opt, const dn_dataset *train, dn_error *err)
{
    dn_status s = dn_pta_options_check(&opt->pta, train->count, err);
    if (s) return s;
    if (opt->checkpoint.every < 1)
        return dn_fail(err, DN_ERR_USAGE, "checkpoint every %d epochs: must be at least 1", opt->checkpoint.every);
    if (opt->dist.comm && opt->pta.average)
        return dn_fail(err, DN_ERR_USAGE,
                       "the averaged perceptron cannot be kept while mixing: mixing replaces W after every epoch, "
                       "so no trainer's update steps describe the mixed W's history");
    return DN_OK;
}

/* The training set this rank works on: all n samples when local or
 * replicated, else its shard (a copy, *owned). */
static const dn_dataset *working_set(const dn_pta_run_options *opt, const dn_dataset *train, dn_dataset **owned,
                                     dn_error *err)
{
    if (!opt->dist.comm) return train;
    return *owned = dn_dist_shard(&opt->dist, opt->dist.comm, train, opt->pta.train_size, err);
}

/* The result after an epoch whose count pass found errors of the first n. */
static dn_pta_result result_after(const dn_pta *pta, size_t errors, const dn_pta_options *opt)
{
    return (dn_pta_result){dn_pta_epochs_done(pta), (double)errors / (double)opt->train_size <= opt->epsilon, errors};
}

static dn_status load_initial_weights(dn_pta *pta, const char *path, dn_error *err)
{
    double *w = NULL;
    size_t shape[4];
    int ndim;
    dn_status s = dn_npy_read_f64(path, &w, shape, &ndim, err);
    if (s) return s;
    if (ndim != 2 || shape[0] != DN_CLASSES || shape[1] != DN_IMAGE_PIXELS)
        s = dn_fail(err, DN_ERR_INPUT, "%s: initial weights must have shape (10, 784), this file has %d dimensions",
                    path, ndim);
    else
        dn_pta_set_weights(pta, w);
    free(w);
    return s;
}

/* The data must be the checkpoint's on every rank: they agree on the verdict. */
static dn_status check_data(const dn_pta_run_options *opt, dn_pta_run *run, dn_error *err)
{
    int differs = run->checkpoint_crc32 != run->data_crc32;
    dn_comm *comm = opt->dist.comm;
    if (comm && dn_comm_allreduce(comm, &differs, 1, DN_COMM_INT, DN_COMM_MAX, err)) return err->code;
    if (!differs) return DN_OK;
    const char *path = opt->checkpoint.resume;
    unsigned long crc = run->checkpoint_crc32;
    size_t n = opt->pta.train_size;
    if (run->checkpoint_crc32 == run->data_crc32) {
        run->refusal = DN_PTA_RESUME_OTHER_RANK_DATA;
        return dn_fail(err, DN_ERR_USAGE,
                       "%s: another rank's training data differs from the data the checkpoint was trained on "
                       "(CRC-32 %08lx of the first %zu samples)", path, crc, n);
    }
    run->refusal = DN_PTA_RESUME_OTHER_DATA;
    return dn_fail(err, DN_ERR_USAGE,
                   "%s: the checkpoint was trained on other data (CRC-32 %08lx of the first %zu samples; this "
                   "training data gives %08lx)", path, crc, n, (unsigned long)run->data_crc32);
}

/* The job's description a mixing run's checkpoints record; NULL when local
 * (a single process's checkpoint takes no mode). */
static const char *job_of(const dn_dist_options *d)
{
    return d->comm ? dn_dist_job(d, "mix") : NULL;
}

/* The trainer and curve from the resume file, checked against the options
 * and the data. Collective when mixing. */
static dn_status resume(const dn_pta_run_options *opt, dn_pta_run *run, dn_error *err)
{
    const char *path = opt->checkpoint.resume;
    const dn_dist_options *d = &opt->dist;
    run->pta = dn_pta_checkpoint_load(d->comm, path, job_of(d), &opt->pta, &run->curve, &run->checkpoint_crc32,
                                      d->comm ? &run->fault_rng : NULL, err);
    if (!run->pta) return err->code;
    if (run->curve.epochs != dn_pta_epochs_done(run->pta)) {
        run->refusal = DN_PTA_RESUME_NO_CURVE;
        return dn_fail(err, DN_ERR_INPUT, "%s: the checkpoint holds no training curve, which resuming needs", path);
    }
    return check_data(opt, run, err);
}

/* The trainer the run starts from: resumed (a failure is the same on every
 * rank), else the seed's W or the initial weights. */
static dn_status start(const dn_pta_run_options *opt, const dn_dataset *train, dn_pta_run *run, dn_error *err)
{
    const dn_checkpoint_policy *c = &opt->checkpoint;
    if (opt->dist.comm) dn_dist_seed_fault_rng(&run->fault_rng, dn_comm_rank(opt->dist.comm));
    if (c->path || c->resume) {
        dn_dataset used = dn_dataset_view(train, 0, opt->pta.train_size);
        run->data_crc32 = dn_dataset_crc32(&used);
    }
    if (c->resume) {
        dn_status s = resume(opt, run, err);
        run->collective_error = s != DN_OK;
        return s;
    }
    if (!(run->pta = dn_pta_create(&opt->pta, err))) return err->code;
    return opt->init_weights ? load_initial_weights(run->pta, opt->init_weights, err) : DN_OK;
}

static dn_status save(const dn_pta_run_options *opt, dn_pta_run *run, int *saved, dn_error *err)
{
    const char *path = opt->checkpoint.path;
    const dn_dist_options *d = &opt->dist;
    dn_status s = dn_pta_checkpoint_save(run->pta, d->comm, &run->curve, run->data_crc32, path, job_of(d),
                                         d->comm ? &run->fault_rng : NULL, err);
    run->collective_error = s != DN_OK; /* every rank returns the status of the write */
    if (!s) *saved = run->curve.epochs;
    return s;
}

/* The curve's arrays grow by one epoch: one owner, the run. */
static dn_status record(dn_pta_curve *curve, const dn_pta_run_report *r, dn_error *err)
{
    size_t *errors = realloc(curve->errors, (size_t)(curve->epochs + 1) * sizeof *errors);
    if (errors) curve->errors = errors;
    double *seconds = realloc(curve->seconds, (size_t)(curve->epochs + 1) * sizeof *seconds);
    if (seconds) curve->seconds = seconds;
    if (!errors || !seconds) return dn_fail(err, DN_ERR_NOMEM, "out of memory recording the training curve");
    curve->errors[curve->epochs] = r->errors;
    curve->seconds[curve->epochs] = r->seconds;
    curve->epochs++;
    return DN_OK;
}

static dn_status one_epoch(dn_pta_mixer *mx, dn_pta *pta, const dn_dataset *set, dn_pta_run_report *r,
                           dn_error *err)
{
    if (mx) return dn_pta_mix_epoch(mx, pta, set, r, err);
    r->errors = dn_pta_epoch(pta, set, r->n);
    return r->errors == SIZE_MAX ? dn_fail(err, DN_ERR_NOMEM, "out of memory for the pixel index") : DN_OK;
}

/* Epochs until the cap (counting resumed ones), ε, a failed save or the
 * callback's stop; then the last save when the final epoch has none yet,
 * so a stopped run resumes from where it stopped. run->result goes along. */
static dn_status epochs(const dn_pta_run_options *opt, const dn_dataset *set, dn_pta_run *run, dn_pta_mixer *mx,
                        dn_error *err)
{
    int saved = dn_pta_epochs_done(run->pta);
    dn_status s = DN_OK;
    while (dn_pta_epochs_done(run->pta) < opt->pta.max_epochs && !run->result.converged) {
        dn_pta_run_report r = {dn_pta_epochs_done(run->pta), 0, opt->pta.train_size, 0, mx ? mx->rank : 0, 0, ""};
        double t0 = dn_now_seconds();
        if ((s = one_epoch(mx, run->pta, set, &r, err))) return s;
        r.seconds = dn_now_seconds() - t0;
        if ((s = record(&run->curve, &r, err))) return s;
        run->result = result_after(run->pta, r.errors, &opt->pta);
        if (opt->checkpoint.path && run->result.epochs % opt->checkpoint.every == 0) s = save(opt, run, &saved, err);
        int stop = opt->on_epoch && opt->on_epoch(&r, opt->user);
        if (s) return s; /* no use training on when the state cannot be kept */
        if (stop) break;
    }
    if (opt->checkpoint.path && saved != run->result.epochs) return save(opt, run, &saved, err);
    return DN_OK;
}

/* Where a resumed curve left the run (nothing done: not converged). */
static dn_pta_result result_of_curve(const dn_pta_run *run, const dn_pta_options *opt)
{
    int e = run->curve.epochs;
    return e ? result_after(run->pta, run->curve.errors[e - 1], opt) : (dn_pta_result){0, 0, 0};
}

dn_status dn_pta_run_train(const dn_pta_run_options *opt, const dn_dataset *train, dn_pta_run *run, dn_error *err)
{
    dn_error unreported;
    if (!err) err = &unreported; /* the steps below read err->code */
    dn_dataset *owned = NULL;
    dn_pta_mixer mixer = {0}, *mx = opt->dist.comm ? &mixer : NULL; /* mixing, or a local run */
    dn_status s = check_options(opt, train, err);
    const dn_dataset *set = s ? NULL : working_set(opt, train, &owned, err);
    if (!s && !set) s = err->code;
    if (!s && mx) s = dn_pta_mixer_init(mx, opt, &run->fault_rng, err);
    if (!s) s = start(opt, train, run, err);
    if (!s && mx) dn_pta_mixer_start(mx, run->pta);
    if (!s) run->result = result_of_curve(run, &opt->pta);
    double t0 = dn_now_seconds();
    if (!s) s = epochs(opt, set, run, mx, err);
    run->seconds = dn_now_seconds() - t0;
    if (mx) dn_pta_mixer_free(mx);
    dn_dataset_free(owned);
    return s;
}

/* ------------------------------------------------------------ dn_pta_train */

/* dn_pta_train is the local run of a trainer the caller made, without
 * checkpoints, each epoch handed on as its report. */
typedef struct epoch_relay {
    dn_pta_epoch_fn on_epoch;
    void *user;
} epoch_relay;

static int relay_epoch(const dn_pta_run_report *r, void *user)
{
    const epoch_relay *relay = user;
    dn_pta_epoch_report e = {r->epoch, r->errors, r->n, r->seconds};
    return relay->on_epoch && relay->on_epoch(&e, relay->user);
}

dn_status dn_pta_train(dn_pta *pta, const dn_dataset *train, dn_pta_epoch_fn on_epoch, void *user,
                       dn_pta_result *result, dn_error *err)
{
    dn_error unreported;
    if (!err) err = &unreported;
    dn_pta_run_options opt;
    dn_pta_run_options_default(&opt);
    opt.pta = *dn_pta_get_options(pta);
    epoch_relay relay = {on_epoch, user};
    opt.on_epoch = relay_epoch, opt.user = &relay;
    /* The trainer's earlier epochs count towards the cap; none is known to have converged. */
    dn_pta_run run = {.pta = pta, .result = {dn_pta_epochs_done(pta), 0, 0}};
    dn_status s = check_options(&opt, train, err);
    if (!s) s = epochs(&opt, train, &run, NULL, err);
    dn_pta_curve_free(&run.curve);
    if (result) *result = run.result;
    return s;
}
