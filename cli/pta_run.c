/* pta_run.c — see pta_run.h. */
#include <stdlib.h>
#include <string.h>

#include "pta_checkpoint.h" /* checkpoints (issue 7) */
#include "pta_run.h"

static int record_epoch(const dn_pta_epoch_report *r, void *user)
{
    pta_run *run = user;
    size_t *errors = realloc(run->errors, (size_t)(run->epochs + 1) * sizeof *errors);
    if (errors) run->errors = errors;
    double *seconds = realloc(run->seconds, (size_t)(run->epochs + 1) * sizeof *seconds);
    if (seconds) run->seconds = seconds;
    if (!errors || !seconds) return 1; /* out of memory: stop rather than lose the curve silently */
    run->errors[run->epochs] = r->errors;
    run->seconds[run->epochs] = r->seconds;
    run->epochs++;
    if (run->on_epoch) run->on_epoch(run, r, run->on_epoch_user);
    if (run->ckpt) return pta_ckpt_after_epoch(run->ckpt, run, r); /* checkpoints (issue 7): save, stop */
    return 0;
}

static dn_status load_initial_weights(dn_pta *pta, const char *path, dn_error *err)
{
    double *w = NULL;
    size_t shape[4];
    int ndim;
    dn_status s = dn_npy_read_f64(path, &w, shape, &ndim, err);
    if (s) return s;
    if (ndim != 2 || shape[0] != DN_CLASSES || shape[1] != DN_IMAGE_PIXELS) {
        free(w);
        return cli_fail(err, DN_ERR_INPUT, "%s: initial weights must have shape (10, 784), this file has %d dimensions",
                        path, ndim);
    }
    dn_pta_set_weights(pta, w);
    free(w);
    return DN_OK;
}

static size_t test_errors_of(const double *w, const dn_dataset *test, uint8_t *pred)
{
    dn_linear_predict(w, test->images, test->count, pred);
    size_t errors = 0;
    for (size_t i = 0; i < test->count; i++) errors += pred[i] != test->labels[i];
    return errors;
}

static dn_status evaluate(pta_run *run, const dn_dataset *test, dn_error *err)
{
    run->test_count = test->count;
    run->test_errors = dn_pta_count_errors(run->pta, test, test->count);
    if (!run->opt.average) return DN_OK;
    double *w = malloc(sizeof(double) * DN_CLASSES * DN_IMAGE_PIXELS);
    uint8_t *pred = malloc(test->count ? test->count : 1);
    dn_status s = DN_OK;
    if (!w || !pred)
        s = cli_fail(err, DN_ERR_NOMEM, "out of memory evaluating the averaged perceptron");
    else if (!(s = dn_pta_get_average(run->pta, w, err))) {
        run->test_errors_average = test_errors_of(w, test, pred);
    }
    free(w);
    free(pred);
    return s;
}

dn_status pta_run_execute(pta_run *run, const dn_dataset *train, const dn_dataset *test, dn_error *err)
{
    dn_status s = dn_pta_options_check(&run->opt, train->count, err);
    if (s) return s;
    if (run->ckpt && (s = pta_ckpt_start(run->ckpt, run, train, err))) return s; /* checkpoints (issue 7) */
    if (!run->pta) { /* not resumed from a checkpoint */
        if (!(run->pta = dn_pta_create(&run->opt, err))) return err->code;
        if (run->init_weights && (s = load_initial_weights(run->pta, run->init_weights, err))) return s;
    }
    double t0 = cli_now_seconds();
    if (pta_ckpt_epochs_left(run->ckpt, run) && (s = dn_pta_train(run->pta, train, record_epoch, run, &run->result, err)))
        return s;
    run->train_seconds = cli_now_seconds() - t0;
    if (run->ckpt && (s = pta_ckpt_finish(run->ckpt, run, err))) return s; /* checkpoints (issue 7) */
    if (run->epochs != run->result.epochs)
        return cli_fail(err, DN_ERR_NOMEM, "out of memory recording the training curve");
    return evaluate(run, test, err);
}

dn_status pta_run_write_metrics(const pta_run *run, const char *path, dn_error *err)
{
    cli_text t;
    if (cli_text_open(&t)) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    fprintf(t.fp, "epoch,errors,error_rate,seconds\n");
    for (int e = 0; e < run->epochs; e++)
        fprintf(t.fp, "%d,%zu,%.6f,%.6f\n", e, run->errors[e], (double)run->errors[e] / (double)run->opt.train_size,
                run->seconds[e]);
    return cli_text_commit(&t, path, err);
}

double *pta_run_curve(const pta_run *run, int rate)
{
    double *y = malloc((run->epochs ? (size_t)run->epochs : 1) * sizeof *y);
    for (int e = 0; y && e < run->epochs; e++)
        y[e] = rate ? 100.0 * (double)run->errors[e] / (double)run->opt.train_size : (double)run->errors[e];
    return y;
}

void pta_run_free(pta_run *run)
{
    free(run->errors);
    free(run->seconds);
    dn_pta_free(run->pta);
    run->errors = NULL;
    run->seconds = NULL;
    run->pta = NULL;
}
