/* mlp_run.c — the network's training run with checkpoints (see "the
 * network's training run" in digitnet.h): one loop for a single process
 * and for the ranks of a job, by epochs or by rounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_job_internal.h"

struct dn_mlp_run {
    dn_mlp *mlp;            /* the caller's */
    dn_mlp_run_options opt; /* opt.dist.comm is the job's, or NULL */
    dn_comm *comm;          /* the job's, or own_comm */
    dn_comm *own_comm;      /* a local job of one (owned) */
    const dn_dataset *train; /* sync: the caller's; fedavg: shard */
    dn_dataset *shard;      /* owned */
    dn_rng fault_rng;       /* this rank's fault draws, saved in checkpoints */
    char job[384];          /* the description checkpoints record (job_of) */
    int saved_step;         /* the step of the last checkpoint written */
    dn_mlp_selection selection; /* with a validation set: after the last epoch */
    int failed_alike;
};

void dn_mlp_run_options_default(dn_mlp_run_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->mode = DN_MLP_RUN_SYNC;
    opt->rounds = 10;
    dn_fedavg_options_default(&opt->fedavg);
    opt->checkpoint.every = 1;
    dn_dist_options_default(&opt->dist);
    opt->client_fraction = 1;
    opt->client_seed = 1;
}

static dn_status check_options(const dn_mlp_run_options *opt, int ranks, dn_error *err)
{
    if (opt->mode != DN_MLP_RUN_SYNC && opt->mode != DN_MLP_RUN_FEDAVG)
        return dn_fail(err, DN_ERR_USAGE, "run mode %d: must be sync (0) or fedavg (1)", (int)opt->mode);
    if (opt->checkpoint.every < 1)
        return dn_fail(err, DN_ERR_USAGE, "checkpoint every %d steps: must be at least 1", opt->checkpoint.every);
    if (opt->mode == DN_MLP_RUN_FEDAVG && (opt->rounds < 1 || opt->fedavg.local_epochs < 1))
        return dn_fail(err, DN_ERR_USAGE, "fedavg: %d rounds of %d local epochs: both must be at least 1",
                       opt->rounds, opt->fedavg.local_epochs);
    dn_status s = opt->mode == DN_MLP_RUN_FEDAVG ? dn_fedavg_options_check(&opt->fedavg, err) : DN_OK;
    if (s || !opt->clients) return s ? s : dn_dist_check(&opt->dist, ranks, err);
    if (opt->mode != DN_MLP_RUN_FEDAVG)
        return dn_fail(err, DN_ERR_USAGE, "virtual clients: the run mode must be fedavg");
    if (!(opt->client_fraction >= 0 && opt->client_fraction <= 1))
        return dn_fail(err, DN_ERR_USAGE, "client fraction %g: must be in [0, 1]", opt->client_fraction);
    if (opt->dist.fault_rank >= 0)
        return dn_fail(err, DN_ERR_USAGE, "virtual clients: no fault rank (faults are per rank): fault_rank must be -1");
    return DN_OK;
}

/* Model selection and the regularisers need the run of one process: its
 * epochs are dn_mlp_train_epoch's, the only ones that apply them. */
static dn_status check_selection(const dn_mlp_run *run, dn_error *err)
{
    const dn_mlp_options *m = dn_mlp_get_options(run->mlp);
    const int alone = run->opt.mode == DN_MLP_RUN_SYNC && !run->opt.dist.comm;
    if (run->opt.validation && !alone)
        return dn_fail(err, DN_ERR_USAGE, "a validation set (model selection) needs a sync run of one process");
    if ((m->keep_best || m->patience > 0) && !run->opt.validation)
        return dn_fail(err, DN_ERR_USAGE, "keep_best and patience choose epochs by their validation accuracy: give "
                       "the run a validation set");
    return DN_OK;
}

/* x in the fewest digits (up to 17) that read back exactly. */
static void put_shortest(char *buf, size_t size, double x)
{
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) return;
    }
}

/* " clients:K:SPEC:PSEED C:FRACTION seed:SEED", or "" without clients. */
static void describe_clients(const dn_mlp_run_options *o, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!o->clients) return;
    char spec[64], fraction[32];
    dn_partition_format(dn_partition_get_spec(o->clients), spec, sizeof spec);
    put_shortest(fraction, sizeof fraction, o->client_fraction);
    snprintf(buf, size, " clients:%zu:%s:%llu C:%s seed:%llu", dn_partition_clients(o->clients), spec,
             (unsigned long long)dn_partition_seed(o->clients), fraction, (unsigned long long)o->client_seed);
}

#define JOB_MAX 95 /* the longest description a checkpoint stores (DN_CKPT_VALUE_MAX − 1) */

/* The job's description: dist.job (or the mode's name), and in fedavg what
 * of FedProx and the server optimiser is not the default, so that a resume
 * with other settings is refused (dn_fedavg_options_describe). */
static dn_status describe_job(dn_mlp_run *run, dn_error *err)
{
    const dn_mlp_run_options *o = &run->opt;
    char fedavg[128] = "", clients[160];
    if (o->mode == DN_MLP_RUN_FEDAVG) dn_fedavg_options_describe(&o->fedavg, fedavg, sizeof fedavg);
    describe_clients(o, clients, sizeof clients);
    snprintf(run->job, sizeof run->job, "%s%s%s", dn_dist_job(&o->dist, dn_mlp_run_mode_name(o->mode)), fedavg,
             clients);
    if (strlen(run->job) > JOB_MAX && (o->checkpoint.path || o->checkpoint.resume))
        return dn_fail(err, DN_ERR_USAGE, "the job's description \"%.60s...\" is longer than the %d characters a "
                       "checkpoint stores: shorten the job", run->job, JOB_MAX);
    return DN_OK;
}

/* fedavg trains on this rank's shard of the caller's n samples; with
 * virtual clients every rank holds them all (the clients' sets are cut
 * from it each round). */
static dn_status pick_training_set(dn_mlp_run *run, const dn_dataset *train, dn_error *err)
{
    run->train = train;
    if (run->opt.clients) {
        size_t n = dn_partition_train_size(run->opt.clients);
        if (train->count < n)
            return dn_fail(err, DN_ERR_USAGE, "virtual clients: the partition covers %zu samples, the training set "
                           "holds %zu", n, train->count);
        return DN_OK;
    }
    if (run->opt.mode != DN_MLP_RUN_FEDAVG) return DN_OK;
    run->train = run->shard = dn_dist_shard(&run->opt.dist, run->comm, train, train->count, err);
    return run->shard ? DN_OK : err->code;
}

dn_mlp_run *dn_mlp_run_create(dn_mlp *mlp, const dn_mlp_run_options *opt, const dn_dataset *train, dn_error *err)
{
    dn_error unreported;
    if (!err) err = &unreported; /* the steps below read err->code */
    dn_mlp_run *run = calloc(1, sizeof *run);
    if (!run) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the training run");
        return NULL;
    }
    run->mlp = mlp;
    run->opt = *opt;
    run->comm = opt->dist.comm ? opt->dist.comm : (run->own_comm = dn_comm_local(err));
    dn_status s = run->comm ? check_options(opt, dn_comm_size(run->comm), err) : err->code;
    if (!s) s = check_selection(run, err);
    if (!s) s = describe_job(run, err);
    if (!s) s = pick_training_set(run, train, err);
    if (s) {
        dn_mlp_run_free(run);
        return NULL;
    }
    dn_dist_seed_fault_rng(&run->fault_rng, dn_comm_rank(run->comm));
    run->saved_step = dn_mlp_run_steps_done(run);
    return run;
}

void dn_mlp_run_free(dn_mlp_run *run)
{
    if (!run) return;
    dn_dataset_free(run->shard);
    dn_comm_free(run->own_comm);
    free(run);
}

int dn_mlp_run_steps_done(const dn_mlp_run *run)
{
    int epochs = dn_mlp_epochs_done(run->mlp);
    return run->opt.mode == DN_MLP_RUN_SYNC ? epochs : epochs / run->opt.fedavg.local_epochs;
}

int dn_mlp_run_steps_total(const dn_mlp_run *run)
{
    return run->opt.mode == DN_MLP_RUN_SYNC ? dn_mlp_get_options(run->mlp)->epochs : run->opt.rounds;
}

int dn_mlp_run_failed_alike(const dn_mlp_run *run) { return run->failed_alike; }

static const char *const run_mode_names[] = {"sync", "fedavg", NULL};

const char *dn_mlp_run_mode_name(dn_mlp_run_mode mode)
{
    return (int)mode >= 0 && (size_t)mode < sizeof run_mode_names / sizeof *run_mode_names - 1 ? run_mode_names[mode]
                                                                                                : "?";
}

const char *const *dn_mlp_run_mode_choices(void) { return run_mode_names; }

static const char *job_of(const dn_mlp_run *run) { return run->job; }

dn_status dn_mlp_run_resume(dn_mlp_run *run, dn_error *err)
{
    const char *path = run->opt.checkpoint.resume;
    if (!path) return DN_OK;
    dn_status s = dn_mlp_checkpoint_load(run->mlp, run->comm, path, job_of(run), &run->fault_rng, err);
    run->failed_alike = s != DN_OK; /* every rank returns rank 0's outcome */
    run->saved_step = dn_mlp_run_steps_done(run);
    return s;
}

static dn_status save(dn_mlp_run *run, dn_error *err)
{
    dn_status s = dn_mlp_checkpoint_save(run->mlp, run->comm, run->opt.checkpoint.path, job_of(run), &run->fault_rng,
                                         err);
    run->failed_alike = s != DN_OK; /* every rank returns the status of the write */
    if (!s) run->saved_step = dn_mlp_run_steps_done(run);
    return s;
}

/* One epoch (sync) or round (fedavg); r points at the step's report. */
static dn_status one_step(dn_mlp_run *run, dn_mlp_epoch_report *epoch, dn_fedavg_report *round,
                          dn_mlp_run_report *r, dn_error *err)
{
    const dn_mlp_run_options *o = &run->opt;
    dn_status s;
    if (o->mode == DN_MLP_RUN_SYNC) {
        /* Without a communicator: the epoch of dn_mlp_train_epoch, its
         * threads splitting each layer. With one: the sync epoch, whose
         * whole-batch backprop is the faster step for one thread per rank.
         * The two agree bit for bit with one thread (tests/test_mlp_step.c). */
        s = o->dist.comm ? dn_mlp_sync_epoch(run->mlp, run->train, run->comm, o->deterministic, epoch, err)
                         : dn_mlp_train_epoch(run->mlp, run->train, epoch, err);
        r->epoch = epoch;
        if (!s && o->validation && !(s = dn_mlp_select_epoch(run->mlp, o->validation, &run->selection, err)))
            r->selection = &run->selection;
    } else {
        dn_fedavg_options fo = o->fedavg;
        fo.fault = dn_dist_fault_of(&o->dist, r->rank);
        s = o->clients ? dn_fedavg_clients_round(run->mlp, run->train, o->clients, o->dist.comm, &fo,
                                                 o->client_fraction, o->client_seed, round, err)
                       : dn_fedavg_round(run->mlp, run->train, run->comm, &fo, &run->fault_rng, round, err);
        r->round = round;
    }
    r->step = dn_mlp_run_steps_done(run);
    return s;
}

dn_status dn_mlp_run_train(dn_mlp_run *run, dn_error *err)
{
    const dn_mlp_run_options *o = &run->opt;
    int total = dn_mlp_run_steps_total(run);
    dn_mlp_get_selection(run->mlp, &run->selection); /* a resumed run may have run out of patience already */
    while (dn_mlp_run_steps_done(run) < total && !(o->validation && run->selection.stop)) {
        dn_mlp_epoch_report epoch = {0};
        dn_fedavg_report round = {0};
        dn_mlp_run_report r = {0, dn_comm_rank(run->comm), NULL, NULL, NULL};
        dn_status s = one_step(run, &epoch, &round, &r, err);
        if (s) return s;
        if (o->checkpoint.path && (r.step % o->checkpoint.every == 0 || r.step == total)) s = save(run, err);
        int stop = o->on_step && o->on_step(&r, o->user);
        if (epoch.stopped) stop = 1; /* the batch callback stopped it: every rank alike (dn_mlp_sync_epoch) */
        if (s) return s; /* no use training on when the state cannot be kept */
        if (stop) break;
    }
    dn_status s = DN_OK;
    if (o->checkpoint.path && run->saved_step != dn_mlp_run_steps_done(run)) s = save(run, err);
    /* after the last checkpoint, which keeps the training state itself, so
     * that a run resumed from it trains on from where this one was */
    if (!s && o->validation) dn_mlp_restore_best(run->mlp);
    return s;
}

/* ------------------------------------------------------------ dn_mlp_train */

/* dn_mlp_train is the run of one process without checkpoints, each step
 * handed on as its epoch's report. */
typedef struct epoch_relay {
    dn_mlp_epoch_fn on_epoch;
    void *user;
} epoch_relay;

static int relay_epoch(const dn_mlp_run_report *r, void *user)
{
    const epoch_relay *relay = user;
    return relay->on_epoch && relay->on_epoch(r->epoch, relay->user);
}

dn_status dn_mlp_train(dn_mlp *mlp, const dn_dataset *train, dn_mlp_epoch_fn on_epoch, void *user, dn_error *err)
{
    dn_error unreported;
    if (!err) err = &unreported;
    dn_mlp_run_options opt;
    dn_mlp_run_options_default(&opt);
    epoch_relay relay = {on_epoch, user};
    opt.on_step = relay_epoch, opt.user = &relay;
    dn_mlp_run *run = dn_mlp_run_create(mlp, &opt, train, err);
    dn_status s = run ? dn_mlp_run_train(run, err) : err->code;
    dn_mlp_run_free(run);
    return s;
}
