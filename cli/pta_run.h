/* pta_run.h — one perceptron run as the CLI shows it: train, record the
 * curve, measure test errors. Shared by `pta` and `reproduce`. */
#ifndef DN_PTA_RUN_H
#define DN_PTA_RUN_H

#include "cli.h"

typedef struct pta_run {
    dn_pta_options opt;
    const char *init_weights; /* .npy path or NULL */
    int print_epochs;         /* one line per epoch on stdout */
    /* results */
    size_t *errors;  /* errors[e] = count-pass errors of epoch e */
    double *seconds; /* seconds[e] */
    int epochs;
    dn_pta_result result;
    size_t test_errors, test_count;
    size_t test_errors_average; /* when opt.average */
    double train_seconds;
    dn_pta *pta; /* the trained perceptron (owned) */
} pta_run;

/* Runs training on train and evaluates on test; returns a dn_status and fills err. */
dn_status pta_run_execute(pta_run *run, const dn_dataset *train, const dn_dataset *test, dn_error *err);
/* Writes the metrics CSV: epoch,errors,error_rate,seconds. */
dn_status pta_run_write_metrics(const pta_run *run, const char *path, dn_error *err);
void pta_run_free(pta_run *run);

#endif
