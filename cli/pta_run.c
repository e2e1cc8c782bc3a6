/* pta_run.c — see pta_run.h. */
#include <stdlib.h>
#include <string.h>

#include "pta_distributed.h"
#include "pta_run.h"

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

/* The library's report of each epoch, shown as the run's progress. */
static int forward_epoch(const dn_pta_run_report *r, void *user)
{
    pta_run *run = user;
    run->epochs = r->epoch + 1;
    if (run->dist) pta_dist_say_refused(r);
    if (run->on_epoch) run->on_epoch(run, r, run->on_epoch_user);
    if (run->dist) pta_dist_after_epoch(run->dist, r);
    return 0;
}

/* A refused resume in the words of the flags (the library names no flag). */
static void word_refusal(const dn_pta_run *out, const pta_run *run, dn_error *err)
{
    const char *path = run->ckpt->resume;
    unsigned long crc = out->checkpoint_crc32;
    if (out->refusal == DN_PTA_RESUME_NO_CURVE)
        cli_fail(err, err->code, "%s: the checkpoint holds no training curve, which --resume needs", path);
    else if (out->refusal == DN_PTA_RESUME_OTHER_RANK_DATA)
        cli_fail(err, err->code,
                 "%s: another rank's --data differs from the data the checkpoint was trained on (CRC-32 "
                 "%08lx of the first %zu samples): resume with the same --data on every rank",
                 path, crc, run->opt.train_size);
    else if (out->refusal == DN_PTA_RESUME_OTHER_DATA)
        cli_fail(err, err->code,
                 "%s: the checkpoint was trained on other data (CRC-32 %08lx of the first %zu samples; "
                 "this --data gives %08lx): resume with the same --data",
                 path, crc, run->opt.train_size, (unsigned long)out->data_crc32);
}

/* The library's outcome becomes the run's: the curve's arrays change owner. */
static void take(pta_run *run, dn_pta_run *out)
{
    run->pta = out->pta;
    run->errors = out->curve.errors;
    run->seconds = out->curve.seconds;
    run->epochs = out->curve.epochs;
    run->result = out->result;
    run->train_seconds = out->seconds;
    out->pta = NULL;
    out->curve = (dn_pta_curve){0, NULL, NULL};
}

dn_status pta_run_execute(pta_run *run, const dn_dataset *train, const dn_dataset *test, dn_error *err)
{
    dn_pta_run_options o;
    dn_pta_run_options_default(&o);
    o.pta = run->opt;
    o.init_weights = run->init_weights;
    if (run->ckpt) o.checkpoint = *run->ckpt;
    o.on_epoch = forward_epoch;
    o.user = run;
    if (run->dist) pta_dist_options(run->dist, &o);
    dn_pta_run out = {0};
    dn_status s = dn_pta_run_train(&o, train, &out, err);
    if (s && out.refusal) word_refusal(&out, run, err);
    if (run->dist) pta_dist_outcome(run->dist, out.collective_error);
    take(run, &out);
    dn_pta_run_free(&out);
    if (s || !pta_dist_is_root(run->dist)) return s;
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
