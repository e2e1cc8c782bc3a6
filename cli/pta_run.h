/* pta_run.h — one perceptron run as the CLI shows it: train, record the
 * curve, measure test errors. Shared by `pta` and `reproduce`. */
#ifndef DN_PTA_RUN_H
#define DN_PTA_RUN_H

#include "cli.h"

typedef struct pta_run pta_run;

/* Called after every epoch, once the epoch is recorded (for progress). */
typedef void (*pta_run_epoch_fn)(const pta_run *run, const dn_pta_run_report *report, void *user);

struct pta_run {
    dn_pta_options opt;
    const char *init_weights; /* .npy path or NULL */
    pta_run_epoch_fn on_epoch; /* may be NULL */
    void *on_epoch_user;
    const dn_checkpoint_policy *ckpt; /* checkpoints: --checkpoint/--resume, or NULL (see pta_checkpoint.h) */
    struct pta_dist *dist; /* --distributed mix, or NULL for one process (see pta_distributed.h) */
    /* results */
    size_t *errors;  /* errors[e] = count-pass errors of epoch e */
    double *seconds; /* seconds[e] */
    int epochs; /* during training: the epochs done so far, for on_epoch */
    dn_pta_result result;
    size_t test_errors, test_count;
    size_t test_errors_average; /* when opt.average */
    double train_seconds;
    dn_pta *pta; /* the trained perceptron (owned) */
};

/* Trains on train with the library's loop (dn_pta_run_train: local, or
 * mixed when run->dist is set) and evaluates on test (rank 0 only when
 * distributed); returns a dn_status and fills err, worded with the CLI's
 * flags. */
dn_status pta_run_execute(pta_run *run, const dn_dataset *train, const dn_dataset *test, dn_error *err);
/* Writes the metrics CSV: epoch,errors,error_rate,seconds. */
dn_status pta_run_write_metrics(const pta_run *run, const char *path, dn_error *err);
/* The curve as plot values: errors (or, with rate, errors/n in percent)
 * per epoch, epoch 0 first. A malloc'd array of run->epochs values, or NULL
 * when out of memory. */
double *pta_run_curve(const pta_run *run, int rate);
void pta_run_free(pta_run *run);

#endif
