/* test_pta_run.c — the library's perceptron loop (dn_pta_run_train), local:
 * the same run as dn_pta_train; a run stopped by its callback and resumed
 * from its checkpoint ends, curve and result included, exactly as one that
 * never stopped; a resume on other data is refused without naming a flag;
 * dn_pta_train on a resumed trainer counts and caps the whole run. */
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

#define W_SIZE (DN_CLASSES * DN_IMAGE_PIXELS)
#define COUNT 300
#define MAX_EPOCHS 8

typedef dn_test_fixture fixture;

/* Sparse random "digits": about one pixel in 5 lit. */
static int setup(void **state) { return dn_test_fixture_setup(state, COUNT, 11, 5, "dn_ptarun"); }

static int teardown(void **state) { return dn_test_fixture_free(*state); }

static void options(dn_pta_run_options *o)
{
    dn_pta_run_options_default(o);
    o->pta.train_size = COUNT;
    o->pta.max_epochs = MAX_EPOCHS;
    o->pta.average = 1;
    o->pta.threads = 1;
}

static int stop_after_third(const dn_pta_run_report *r, void *user)
{
    (void)user;
    return r->epoch == 2;
}

static void assert_same_w(const dn_pta *a, const dn_pta *b)
{
    double *wa = malloc(W_SIZE * sizeof *wa), *wb = malloc(W_SIZE * sizeof *wb);
    assert_non_null(wa);
    assert_non_null(wb);
    dn_pta_get_weights(a, wa);
    dn_pta_get_weights(b, wb);
    assert_memory_equal(wa, wb, W_SIZE * sizeof *wa);
    dn_error err = {0};
    assert_int_equal(dn_pta_get_average(a, wa, &err), DN_OK);
    assert_int_equal(dn_pta_get_average(b, wb, &err), DN_OK);
    assert_memory_equal(wa, wb, W_SIZE * sizeof *wa);
    free(wa);
    free(wb);
}

/* A local run is the classic loop written out by hand — count and update
 * (dn_pta_epoch), then stop when errors/n <= epsilon or at the cap — epoch
 * for epoch; dn_pta_train, the same run on a trainer the caller made, too. */
static void test_local_is_the_classic_loop(void **state)
{
    fixture *f = *state;
    dn_pta_run_options o;
    options(&o);
    dn_error err = {0};
    dn_pta_run run = {0};
    assert_int_equal(dn_pta_run_train(&o, &f->set, &run, &err), DN_OK);
    dn_pta *hand = dn_pta_create(&o.pta, &err), *trained = dn_pta_create(&o.pta, &err);
    assert_non_null(hand);
    assert_non_null(trained);
    size_t n = o.pta.train_size, errors = 0;
    int epochs = 0;
    do {
        errors = dn_pta_epoch(hand, &f->set, n);
        assert_int_equal(run.curve.errors[epochs], errors);
        epochs++;
    } while (epochs < o.pta.max_epochs && (double)errors / (double)n > o.pta.epsilon);
    assert_int_equal(run.result.epochs, epochs);
    assert_int_equal(run.result.converged, (double)errors / (double)n <= o.pta.epsilon);
    assert_int_equal(run.result.final_errors, errors);
    assert_int_equal(run.curve.epochs, epochs);
    assert_same_w(run.pta, hand);
    dn_pta_result res;
    assert_int_equal(dn_pta_train(trained, &f->set, NULL, NULL, &res, NULL), DN_OK);
    assert_memory_equal(&res, &run.result, sizeof res);
    assert_same_w(trained, hand);
    dn_pta_free(hand);
    dn_pta_free(trained);
    dn_pta_run_free(&run);
}

/* Stopped after 3 epochs (its checkpoint every 2 and at the end), then
 * resumed: the W, average, curve and result of the run that went straight through. */
static void test_stop_and_resume(void **state)
{
    fixture *f = *state;
    dn_pta_run_options o;
    options(&o);
    dn_error err = {0};
    dn_pta_run whole = {0}, first = {0}, second = {0};
    assert_int_equal(dn_pta_run_train(&o, &f->set, &whole, &err), DN_OK);
    assert_true(whole.curve.epochs > 3); /* else the test proves nothing */

    o.checkpoint = (dn_checkpoint_policy){f->path, 2, NULL};
    o.on_epoch = stop_after_third;
    assert_int_equal(dn_pta_run_train(&o, &f->set, &first, &err), DN_OK);
    assert_int_equal(first.result.epochs, 3);

    o.checkpoint.resume = f->path;
    o.on_epoch = NULL;
    assert_int_equal(dn_pta_run_train(&o, &f->set, &second, &err), DN_OK);
    assert_int_equal(second.result.epochs, whole.result.epochs); /* the whole run's, not this call's */
    assert_int_equal(second.result.final_errors, whole.result.final_errors);
    assert_int_equal(second.curve.epochs, whole.curve.epochs);
    assert_memory_equal(second.curve.errors, whole.curve.errors, (size_t)whole.curve.epochs * sizeof(size_t));
    assert_same_w(second.pta, whole.pta);
    dn_pta_run_free(&whole);
    dn_pta_run_free(&first);
    dn_pta_run_free(&second);
}

/* Other data: refused, the refusal told apart, the message naming the file and no flag. */
static void test_resume_other_data_refused(void **state)
{
    fixture *f = *state;
    dn_pta_run_options o;
    options(&o);
    o.pta.max_epochs = 2;
    o.checkpoint = (dn_checkpoint_policy){f->path, 1, NULL};
    dn_error err = {0};
    dn_pta_run run = {0};
    assert_int_equal(dn_pta_run_train(&o, &f->set, &run, &err), DN_OK);
    dn_pta_run_free(&run);
    f->labels[0] = (uint8_t)((f->labels[0] + 1) % 10);
    o.checkpoint.resume = f->path;
    assert_int_equal(dn_pta_run_train(&o, &f->set, &run, &err), DN_ERR_USAGE);
    dn_pta_run quiet = {0};
    assert_int_equal(dn_pta_run_train(&o, &f->set, &quiet, NULL), DN_ERR_USAGE); /* err may be NULL */
    dn_pta_run_free(&quiet);
    f->labels[0] = (uint8_t)((f->labels[0] + 9) % 10);
    assert_int_equal(run.refusal, DN_PTA_RESUME_OTHER_DATA);
    assert_non_null(strstr(err.message, f->path));
    assert_non_null(strstr(err.message, "other data"));
    assert_null(strstr(err.message, "--"));
    dn_pta_run_free(&run);
}

/* 3 epochs, saved, loaded with a cap of 8: dn_pta_train goes on to 8 in
 * all and says so, as the straight run does. */
static void test_pta_train_counts_whole_run(void **state)
{
    fixture *f = *state;
    dn_pta_run_options o;
    options(&o);
    dn_error err = {0};
    dn_pta *straight = dn_pta_create(&o.pta, &err);
    dn_pta_result whole, rest;
    assert_int_equal(dn_pta_train(straight, &f->set, NULL, NULL, &whole, &err), DN_OK);
    assert_false(whole.converged); /* else the cap is not what stops it */
    dn_pta_options three = o.pta;
    three.max_epochs = 3;
    dn_pta *part = dn_pta_create(&three, &err);
    assert_int_equal(dn_pta_train(part, &f->set, NULL, NULL, NULL, &err), DN_OK);
    assert_int_equal(dn_pta_checkpoint_save(part, NULL, NULL, 0, f->path, NULL, NULL, &err), DN_OK);
    dn_pta *resumed = dn_pta_checkpoint_load(NULL, f->path, NULL, &o.pta, NULL, NULL, NULL, &err);
    assert_non_null(resumed);
    assert_int_equal(dn_pta_train(resumed, &f->set, NULL, NULL, &rest, &err), DN_OK);
    assert_int_equal(rest.epochs, MAX_EPOCHS);
    assert_int_equal(rest.final_errors, whole.final_errors);
    assert_same_w(resumed, straight);
    dn_pta_free(straight);
    dn_pta_free(part);
    dn_pta_free(resumed);
}

/* Options the loop adds to the trainer's are checked. */
static void test_bad_policy_refused(void **state)
{
    fixture *f = *state;
    dn_pta_run_options o;
    options(&o);
    o.checkpoint = (dn_checkpoint_policy){f->path, 0, NULL};
    dn_error err = {0};
    dn_pta_run run = {0};
    assert_int_equal(dn_pta_run_train(&o, &f->set, &run, &err), DN_ERR_USAGE);
    assert_null(run.pta);
    dn_pta_run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_is_the_classic_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_other_data_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pta_train_counts_whole_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_policy_refused, setup, teardown),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
