/* pta_distributed.c — see pta_distributed.h. */
#include "pta_distributed.h"

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

int pta_dist_is_root(const pta_dist *d) { return !d || !d->mode || d->job.rank == 0; }

int pta_dist_report(const pta_dist *d, const dn_error *err)
{
    if (!d->mode || !d->agreed) return dist_report(&d->job, err);
    return dist_report_once(&d->job, err);
}

int pta_dist_end(pta_dist *d, int rc) { return d->agreed ? dist_job_leave(&d->job, rc) : dist_job_end(&d->job, rc); }

void pta_dist_options(pta_dist *d, dn_pta_run_options *o)
{
    dist_job_text(d->job_text, sizeof d->job_text, pta_dist_modes[d->mode], &d->flags);
    dist_options(&d->job, &d->flags, d->job_text, &o->dist);
}

void pta_dist_outcome(pta_dist *d, int collective_error) { d->agreed = collective_error; }

/* The library prints nothing: rank 0 says here what the mix met. */
void pta_dist_say_refused(const dn_pta_run_report *r)
{
    if (r->mix_refused && r->rank == 0)
        fprintf(stderr, "digitnet: epoch %d: non-finite W from rank %s: mix refused, previous W kept\n", r->epoch,
                r->bad_ranks);
}

void pta_dist_after_epoch(const pta_dist *d, const dn_pta_run_report *r) { dist_test_kill_at(&d->job, r->epoch + 1); }
