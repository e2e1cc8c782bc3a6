/* test_comm.c — the communicator over a backend the program brings
 * (dn_comm_create), without MPI: the trainers run on any transport.
 *
 * The "mirror" backend plays rank 0 of a job of K identical replicas in one
 * process: an allreduce sums K equal values (×K; max and min unchanged), a
 * broadcast from any rank changes nothing, a gather yields K copies. With
 * every rank on the same samples, parameter mixing and FedAvg over K such
 * replicas must land exactly where a local run lands (the mean of K equal
 * models is the model), with K times the error counts — the same checks
 * test_dist_trainers makes under mpirun. A "broken" backend fails every
 * collective: the failure comes back from the trainer with its message. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digitnet.h"
#include "lib/synthetic.h"

#define COUNT 240
#define K 3
#define DN_MIRROR_K K
#include "lib/mirror_comm.h"

static int setup(void **state) { return dn_test_fixture_setup(state, COUNT, 3, 4, "dn_comm"); }
static int teardown(void **state) { return dn_test_fixture_free(*state); }

static void test_create_checks_the_backend(void **state)
{
    (void)state;
    dn_error err = {0};
    dn_test_mirror m = {0};
    dn_comm_backend b = {.rank = 3, .size = 3, .state = &m, .finish = dn_test_mirror_finish};
    assert_null(dn_comm_create(&b, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "rank 3"));
    b.rank = 0; /* a job of three without collectives */
    assert_null(dn_comm_create(&b, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    assert_int_equal(m.finished, 0); /* a refused backend is still the caller's */
    b.size = 1;                      /* a job of one needs none */
    dn_comm *one = dn_comm_create(&b, &err);
    assert_non_null(one);
    int x[2] = {4, 5}, y[2];
    assert_int_equal(dn_comm_allreduce(one, x, 2, DN_COMM_INT, DN_COMM_SUM, &err), DN_OK);
    assert_int_equal(dn_comm_gather(one, x, 2, DN_COMM_INT, y, 0, &err), DN_OK);
    assert_int_equal(y[1], 5);
    assert_int_equal(dn_comm_broadcast(one, x, 2, DN_COMM_INT, 1, &err), DN_ERR_USAGE); /* no rank 1 */
    dn_comm_free(one);
    assert_int_equal(m.finished, 1);
}

static void test_collectives_reach_the_backend(void **state)
{
    (void)state;
    dn_test_mirror m = {0};
    dn_comm *comm = dn_test_mirror_comm(&m);
    dn_error err = {0};
    assert_int_equal(dn_comm_rank(comm), 0);
    assert_int_equal(dn_comm_size(comm), K);
    float v[2] = {1.5f, -2.0f};
    assert_int_equal(dn_comm_allreduce_sum_ordered_f32(comm, v, 2, &err), DN_OK); /* gather, sum, broadcast */
    assert_true(v[0] == 1.5f * K && v[1] == -2.0f * K);
    uint8_t bytes[1] = {7};
    assert_int_equal(dn_comm_allreduce(comm, bytes, 1, DN_COMM_BYTE, DN_COMM_SUM, &err), DN_ERR_USAGE);
    dn_comm_abort(comm, 9);
    assert_int_equal(m.aborted, 9);
    dn_comm_free(comm);
    assert_int_equal(m.finished, 1);
    assert_true(m.collectives >= 3);
}

/* A mirror whose non-blocking allreduce completes at the second test (or
 * at a wait): the requests must travel through dn_comm_test and
 * dn_comm_wait to the backend and come back done. */
typedef struct deferred {
    dn_test_mirror mirror;
    void *buf; /* the one sum in flight, NULL when none */
    size_t n;
    dn_comm_type type;
    int tests;
} deferred;

static dn_status deferred_start(void *state, void *buf, size_t n, dn_comm_type type, dn_comm_op op, void **request,
                                dn_error *err)
{
    deferred *d = state;
    (void)op, (void)err;
    assert_null(d->buf); /* one at a time here */
    d->buf = buf, d->n = n, d->type = type, d->tests = 0;
    *request = d;
    return DN_OK;
}

static dn_status deferred_finish(deferred *d, void **request, dn_error *err)
{
    dn_status s = dn_test_mirror_allreduce(&d->mirror, d->buf, d->n, d->type, DN_COMM_SUM, err);
    d->buf = NULL, *request = NULL;
    return s;
}

static dn_status deferred_test(void *state, void **request, int *done, dn_error *err)
{
    deferred *d = state;
    assert_ptr_equal(*request, d);
    *done = ++d->tests >= 2;
    return *done ? deferred_finish(d, request, err) : DN_OK;
}

static dn_status deferred_wait(void *state, void **request, dn_error *err)
{
    assert_ptr_equal(*request, state);
    return deferred_finish(state, request, err);
}

static void test_nonblocking_allreduce(void **state)
{
    (void)state;
    dn_error err = {0};
    deferred d = {0};
    dn_comm_backend b = dn_test_mirror_backend(&d.mirror);
    b.state = &d;
    b.iallreduce = deferred_start; /* without test and wait: refused */
    assert_null(dn_comm_create(&b, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    b.test = deferred_test, b.wait = deferred_wait;
    dn_comm *comm = dn_comm_create(&b, &err);
    assert_non_null(comm);
    float v[3] = {1, 2, 3};
    dn_comm_request r;
    int done = -1;
    assert_int_equal(dn_comm_iallreduce(comm, v, 3, DN_COMM_F32, DN_COMM_SUM, &r, &err), DN_OK);
    assert_true(v[0] == 1); /* not yet */
    assert_int_equal(dn_comm_test(comm, &r, &done, &err), DN_OK);
    assert_int_equal(done, 0);
    assert_int_equal(dn_comm_test(comm, &r, &done, &err), DN_OK);
    assert_int_equal(done, 1);
    assert_null(r.handle);
    assert_true(v[0] == 1 * K && v[2] == 3 * K);
    assert_int_equal(dn_comm_wait(comm, &r, &err), DN_OK); /* done already: nothing more */
    assert_true(v[2] == 3 * K);
    assert_int_equal(dn_comm_iallreduce(comm, v, 3, DN_COMM_F32, DN_COMM_SUM, &r, &err), DN_OK);
    assert_int_equal(dn_comm_wait(comm, &r, &err), DN_OK);
    assert_true(v[1] == 2 * K * K);
    uint8_t bytes[1] = {7};
    assert_int_equal(dn_comm_iallreduce(comm, bytes, 1, DN_COMM_BYTE, DN_COMM_SUM, &r, &err), DN_ERR_USAGE);
    dn_comm_free(comm);
    /* without a non-blocking allreduce (the mirror) or alone (the local
     * job), the sum is done when the call returns */
    dn_test_mirror m = {0};
    comm = dn_test_mirror_comm(&m);
    assert_int_equal(dn_comm_iallreduce(comm, v, 3, DN_COMM_F32, DN_COMM_SUM, &r, &err), DN_OK);
    assert_null(r.handle);
    assert_true(v[0] == 1 * K * K * K && m.collectives == 1);
    assert_int_equal(dn_comm_test(comm, &r, &done, &err), DN_OK);
    assert_int_equal(done, 1);
    dn_comm_free(comm);
    comm = dn_comm_local(&err);
    assert_non_null(comm);
    float one[1] = {5};
    assert_int_equal(dn_comm_iallreduce(comm, one, 1, DN_COMM_F32, DN_COMM_SUM, &r, &err), DN_OK);
    assert_int_equal(dn_comm_wait(comm, &r, &err), DN_OK);
    assert_true(one[0] == 5);
    dn_comm_free(comm);
}

static void test_mixing_over_replicas_is_the_local_run(void **state)
{
    dn_test_fixture *f = *state;
    dn_test_mirror m = {0};
    dn_comm *comm = dn_test_mirror_comm(&m);
    dn_pta_run_options o;
    dn_pta_run_options_default(&o);
    o.pta.train_size = COUNT, o.pta.max_epochs = 5, o.pta.threads = 1;
    o.dist.shard = DN_SHARD_REPLICATE;
    dn_pta_run mixed = {0}, local = {0};
    dn_error err = {0};
    o.dist.comm = comm;
    assert_int_equal(dn_pta_run_train(&o, &f->set, &mixed, &err), DN_OK);
    o.dist.comm = NULL;
    assert_int_equal(dn_pta_run_train(&o, &f->set, &local, &err), DN_OK);
    assert_int_equal(mixed.curve.epochs, local.curve.epochs);
    for (int e = 0; e < local.curve.epochs; e++) assert_int_equal(mixed.curve.errors[e], K * local.curve.errors[e]);
    static double wa[DN_CLASSES * DN_IMAGE_PIXELS], wb[DN_CLASSES * DN_IMAGE_PIXELS];
    dn_pta_get_weights(mixed.pta, wa);
    dn_pta_get_weights(local.pta, wb);
    assert_memory_equal(wa, wb, sizeof wa);
    assert_true(m.collectives > 0);
    dn_pta_run_free(&mixed);
    dn_pta_run_free(&local);
    dn_comm_free(comm);
}

static dn_mlp *network(void)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    dn_error err = {0};
    assert_int_equal(dn_mlp_parse_hidden("12", &o, &err), DN_OK);
    o.epochs = 2, o.batch = 30, o.threads = 1;
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    assert_non_null(mlp);
    return mlp;
}

static void fedavg(dn_mlp *mlp, dn_comm *comm, const dn_dataset *set)
{
    dn_mlp_run_options o;
    dn_mlp_run_options_default(&o);
    o.mode = DN_MLP_RUN_FEDAVG, o.rounds = 2, o.dist.shard = DN_SHARD_REPLICATE, o.dist.comm = comm;
    dn_error err = {0};
    dn_mlp_run *run = dn_mlp_run_create(mlp, &o, set, &err);
    assert_non_null(run);
    assert_int_equal(dn_mlp_run_train(run, &err), DN_OK);
    dn_mlp_run_free(run);
}

static void test_fedavg_over_replicas_is_the_local_run(void **state)
{
    dn_test_fixture *f = *state;
    dn_test_mirror m = {0};
    dn_comm *comm = dn_test_mirror_comm(&m);
    dn_mlp *a = network(), *b = network();
    fedavg(a, comm, &f->set);
    fedavg(b, NULL, &f->set);
    size_t na, nb;
    const float *pa = dn_mlp_params(a, &na), *pb = dn_mlp_params(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na * sizeof *pa); /* the weighted mean of K equal models, in double, is the model */
    dn_mlp_free(a);
    dn_mlp_free(b);
    dn_comm_free(comm);
}

static dn_status broken_allreduce(void *s, void *buf, size_t n, dn_comm_type t, dn_comm_op op, dn_error *err)
{
    (void)s, (void)buf, (void)n, (void)t, (void)op;
    err->code = DN_ERR_MPI;
    snprintf(err->message, sizeof err->message, "link to rank 1 is down");
    return DN_ERR_MPI;
}

static void test_a_failing_transport_fails_the_trainer(void **state)
{
    dn_test_fixture *f = *state;
    dn_test_mirror m = {0};
    dn_comm_backend b = dn_test_mirror_backend(&m);
    b.allreduce = broken_allreduce, b.abort = NULL;
    dn_error err = {0};
    dn_comm *comm = dn_comm_create(&b, &err);
    assert_non_null(comm);
    dn_pta_run_options o;
    dn_pta_run_options_default(&o);
    o.pta.train_size = COUNT, o.pta.max_epochs = 3, o.pta.threads = 1, o.dist.comm = comm;
    dn_pta_run run = {0};
    assert_int_equal(dn_pta_run_train(&o, &f->set, &run, &err), DN_ERR_MPI);
    assert_non_null(strstr(err.message, "link to rank 1 is down"));
    dn_pta_run_free(&run);
    dn_comm_abort(comm, 3); /* no abort in this backend: nothing happens */
    assert_int_equal(m.aborted, 0);
    dn_comm_free(comm);
    assert_int_equal(m.finished, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_checks_the_backend),
        cmocka_unit_test(test_collectives_reach_the_backend),
        cmocka_unit_test(test_nonblocking_allreduce),
        cmocka_unit_test_setup_teardown(test_mixing_over_replicas_is_the_local_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fedavg_over_replicas_is_the_local_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failing_transport_fails_the_trainer, setup, teardown),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
