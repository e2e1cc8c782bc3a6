/* test_mlp_run.c — the library's network loop (dn_mlp_run_*) on one
 * process, without MPI (never initialised): it trains as sync epochs of
 * one do, bit for bit; a run
 * stopped by its callback and resumed from its checkpoint ends with the
 * parameters of a run that never stopped; bad options are refused. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digitnet.h"
#include "lib/synthetic.h"
#ifdef DN_HAVE_MPI
#include <mpi.h>
#endif

#define COUNT 240
#define EPOCHS 4

typedef dn_test_fixture fixture;

/* Sparse random "digits": about one pixel in 4 lit. */
static int setup(void **state) { return dn_test_fixture_setup(state, COUNT, 5, 4, "dn_mlprun"); }

static int teardown(void **state) { return dn_test_fixture_free(*state); }

/* Momentum SGD: the optimiser state must survive the checkpoint too. With
 * matmul (BLAS, the default, or the plain-C products). */
static dn_mlp *network_with(dn_matmul matmul)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    dn_error err = {0};
    assert_int_equal(dn_mlp_parse_hidden("16", &o, &err), DN_OK);
    o.epochs = EPOCHS;
    o.batch = 32;
    o.threads = 1;
    o.momentum = 0.9;
    o.matmul = matmul;
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    assert_non_null(mlp);
    return mlp;
}

static dn_mlp *network(void) { return network_with(DN_MATMUL_BLAS); }

static void assert_same_params(dn_mlp *a, dn_mlp *b)
{
    size_t na, nb;
    const float *pa = dn_mlp_params(a, &na), *pb = dn_mlp_params(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na * sizeof *pa);
}

static void run_to_end(dn_mlp *mlp, const dn_mlp_run_options *o, const dn_dataset *set)
{
    dn_error err = {0};
    dn_mlp_run *run = dn_mlp_run_create(mlp, o, set, &err);
    assert_non_null(run);
    assert_int_equal(dn_mlp_run_resume(run, &err), DN_OK);
    assert_int_equal(dn_mlp_run_train(run, &err), DN_OK);
    dn_mlp_run_free(run);
}

static int stop_at_two(const dn_mlp_run_report *r, void *user)
{
    int *seen = user;
    assert_non_null(r->epoch); /* sync: the epoch's report */
    assert_int_equal(r->rank, 0);
    *seen = r->step;
    return r->step == 2;
}

/* Without a communicator the loop (dn_mlp_train is that loop; err may be
 * NULL) trains on the fused step: the bits of sync epochs in a job of one,
 * whose backprop and update are separate calls. On the plain-C products:
 * with BLAS the fused step's layer 0 sums its gradient in its own order
 * (mlp_input_t.c; test_mlp_step compares the two within rounding). */
static void test_local_is_sync_of_one(void **state)
{
    fixture *f = *state;
    dn_mlp *a = network_with(DN_MATMUL_PLAIN), *b = network_with(DN_MATMUL_PLAIN);
    dn_mlp_run_options o;
    dn_mlp_run_options_default(&o);
    run_to_end(a, &o, &f->set);
    dn_error err = {0};
    dn_comm *one = dn_comm_local(&err);
    assert_non_null(one);
    for (int e = 0; e < EPOCHS; e++) assert_int_equal(dn_mlp_sync_epoch(b, &f->set, one, 0, NULL, &err), DN_OK);
    dn_comm_free(one);
    assert_int_equal(dn_mlp_epochs_done(a), EPOCHS);
    assert_same_params(a, b);
    dn_mlp *c = network_with(DN_MATMUL_PLAIN);
    assert_int_equal(dn_mlp_train(c, &f->set, NULL, NULL, NULL), DN_OK);
    assert_same_params(a, c);
#ifdef DN_HAVE_MPI
    int initialised = 1;
    MPI_Initialized(&initialised);
    assert_false(initialised); /* a job of one on dn_comm_local */
#endif
    dn_mlp_free(a);
    dn_mlp_free(b);
    dn_mlp_free(c);
}

/* Stopped after 2 of 4 epochs, saved, resumed into a new network: the
 * parameters of the uninterrupted run. */
static void test_stop_and_resume(void **state)
{
    fixture *f = *state;
    dn_mlp *whole = network(), *first = network(), *second = network();
    dn_mlp_run_options o;
    dn_mlp_run_options_default(&o);
    run_to_end(whole, &o, &f->set);

    int seen = 0;
    o.checkpoint = (dn_checkpoint_policy){f->path, 3, NULL}; /* not due at 2: the stop saves */
    o.on_step = stop_at_two;
    o.user = &seen;
    run_to_end(first, &o, &f->set);
    assert_int_equal(seen, 2);
    assert_int_equal(dn_mlp_epochs_done(first), 2);

    o.checkpoint.resume = f->path;
    o.on_step = NULL;
    dn_error err = {0};
    dn_mlp_run *run = dn_mlp_run_create(second, &o, &f->set, &err);
    assert_non_null(run);
    assert_int_equal(dn_mlp_run_resume(run, &err), DN_OK);
    assert_int_equal(dn_mlp_run_steps_done(run), 2);
    assert_int_equal(dn_mlp_run_steps_total(run), EPOCHS);
    assert_int_equal(dn_mlp_run_train(run, &err), DN_OK);
    assert_int_equal(dn_mlp_run_steps_done(run), EPOCHS);
    dn_mlp_run_free(run);
    assert_same_params(second, whole);
    dn_mlp_free(whole);
    dn_mlp_free(first);
    dn_mlp_free(second);
}

/* A missing checkpoint: refused naming the file, the same on every rank. */
static void test_missing_resume_refused(void **state)
{
    fixture *f = *state;
    dn_mlp *mlp = network();
    dn_mlp_run_options o;
    dn_mlp_run_options_default(&o);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.ck", f->dir);
    o.checkpoint.resume = missing;
    dn_error err = {0};
    dn_mlp_run *run = dn_mlp_run_create(mlp, &o, &f->set, &err);
    assert_non_null(run);
    assert_int_not_equal(dn_mlp_run_resume(run, &err), DN_OK);
    assert_true(dn_mlp_run_failed_alike(run));
    assert_non_null(strstr(err.message, "missing.ck"));
    dn_mlp_run_free(run);
    dn_mlp_free(mlp);
}

static void test_bad_options_refused(void **state)
{
    fixture *f = *state;
    dn_mlp *mlp = network();
    dn_mlp_run_options o;
    dn_mlp_run_options_default(&o);
    dn_error err = {0};
    o.checkpoint.every = 0;
    assert_null(dn_mlp_run_create(mlp, &o, &f->set, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    dn_mlp_run_options_default(&o);
    o.dist.fault_rank = 1; /* a job of one has rank 0 only */
    assert_null(dn_mlp_run_create(mlp, &o, &f->set, &err));
    assert_null(strstr(err.message, "--"));
    assert_null(dn_mlp_run_create(mlp, &o, &f->set, NULL)); /* no error wanted: still refused */
    dn_mlp_free(mlp);
}

/* The run modes' names: entry i names dn_mlp_run_mode i (the CLI offers them). */
static void test_run_mode_names(void **state)
{
    (void)state;
    const char *const *names = dn_mlp_run_mode_choices();
    assert_string_equal(names[DN_MLP_RUN_SYNC], "sync");
    assert_string_equal(names[DN_MLP_RUN_FEDAVG], "fedavg");
    assert_null(names[2]);
    for (int m = 0; names[m]; m++) assert_string_equal(dn_mlp_run_mode_name((dn_mlp_run_mode)m), names[m]);
    assert_string_equal(dn_mlp_run_mode_name((dn_mlp_run_mode)2), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_is_sync_of_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_resume_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options_refused, setup, teardown),
        cmocka_unit_test(test_run_mode_names),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
