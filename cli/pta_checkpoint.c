/* pta_checkpoint.c — see pta_checkpoint.h. */
#include <stdlib.h>

#include "pta_checkpoint.h"
#include "pta_run.h"

static int converged(const pta_run *run)
{
    if (run->epochs == 0) return 0;
    return (double)run->errors[run->epochs - 1] / (double)run->opt.train_size <= run->opt.epsilon;
}

/* The data must be the checkpoint's (crc: its CRC-32 of the first n
 * samples), on every rank of a distributed run: they agree on the verdict. */
static dn_status check_data(const pta_ckpt *c, const pta_run *run, uint32_t crc, dn_error *err)
{
    int differs = crc != c->data_crc32;
    if (c->comm && dn_comm_allreduce(c->comm, &differs, 1, DN_COMM_INT, DN_COMM_MAX, err)) return err->code;
    if (!differs) return DN_OK;
    if (crc == c->data_crc32)
        return cli_fail(err, DN_ERR_USAGE,
                        "%s: another rank's --data differs from the data the checkpoint was trained on (CRC-32 "
                        "%08lx of the first %zu samples): resume with the same --data on every rank",
                        c->resume, (unsigned long)crc, run->opt.train_size);
    return cli_fail(err, DN_ERR_USAGE,
                    "%s: the checkpoint was trained on other data (CRC-32 %08lx of the first %zu samples; "
                    "this --data gives %08lx): resume with the same --data",
                    c->resume, (unsigned long)crc, run->opt.train_size, (unsigned long)c->data_crc32);
}

/* The trainer and curve from c->resume, checked against this run's
 * settings and data. */
static dn_status resume(pta_ckpt *c, pta_run *run, dn_error *err)
{
    dn_pta_curve curve;
    uint32_t crc = 0;
    run->pta = c->comm ? dn_pta_dist_checkpoint_load(c->comm, c->resume, c->mode, &run->opt, &curve, &crc, c->rng, err)
                       : dn_pta_checkpoint_load(c->resume, &run->opt, &curve, &crc, err);
    if (!run->pta) return err->code;
    int done = dn_pta_epochs_done(run->pta);
    if (curve.epochs != done) {
        dn_pta_curve_free(&curve);
        return cli_fail(err, DN_ERR_INPUT, "%s: the checkpoint holds no training curve, which --resume needs",
                        c->resume);
    }
    dn_status s = check_data(c, run, crc, err);
    if (s) {
        dn_pta_curve_free(&curve);
        return s;
    }
    /* The curve's arrays become the run's: record_epoch grows them with realloc. */
    run->errors = curve.errors;
    run->seconds = curve.seconds;
    run->epochs = done;
    c->resumed_epochs = done;
    c->saved_epochs = done;
    run->result = (dn_pta_result){0, converged(run), done ? run->errors[done - 1] : 0};
    return DN_OK;
}

dn_status pta_ckpt_start(pta_ckpt *c, pta_run *run, const dn_dataset *train, dn_error *err)
{
    if (!c->path && !c->resume) return DN_OK;
    dn_dataset used = dn_dataset_view(train, 0, run->opt.train_size);
    c->data_crc32 = dn_dataset_crc32(&used);
    return c->resume ? resume(c, run, err) : DN_OK;
}

int pta_ckpt_epochs_left(const pta_ckpt *c, const pta_run *run)
{
    if (!c || !c->resume) return 1;
    return run->epochs < run->opt.max_epochs && !converged(run);
}

static dn_status save(pta_ckpt *c, const pta_run *run, dn_error *err)
{
    dn_pta_curve curve = {run->epochs, run->errors, run->seconds};
    dn_status s = c->comm ? dn_pta_dist_checkpoint_save(run->pta, c->comm, &curve, c->data_crc32, c->path, c->mode,
                                                        c->rng, err)
                          : dn_pta_checkpoint_save(run->pta, &curve, c->data_crc32, c->path, err);
    if (!s) c->saved_epochs = run->epochs;
    return s;
}

int pta_ckpt_after_epoch(pta_ckpt *c, pta_run *run, const dn_pta_epoch_report *report)
{
    if (c->path && run->epochs % c->every == 0 && (c->status = save(c, run, &c->err)))
        return 1; /* no use training on when the state cannot be kept */
    /* dn_pta_train counts only its own epochs; the cap counts them all. */
    return report->epoch + 1 >= run->opt.max_epochs;
}

dn_status pta_ckpt_finish(pta_ckpt *c, pta_run *run, dn_error *err)
{
    if (c->status) {
        *err = c->err;
        return c->status;
    }
    run->result.epochs += c->resumed_epochs;
    if (c->path && c->saved_epochs != run->epochs) return save(c, run, err);
    return DN_OK;
}
