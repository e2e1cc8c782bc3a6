/* test_fedopt.c — FedProx and the server optimisers of federated averaging
 * (dn_fedavg_round's prox_mu and server options), in one process: a job of
 * one (comm NULL) or the "mirror" backend (tests/lib/mirror_comm.h), which plays K
 * identical replicas (a gather yields K copies), so FedAvg runs without MPI.
 *
 *   - FedProx with μ = 0 is FedAvg bit for bit (and FedAvg of one client is
 *     plain local training); μ > 0 changes the run, pulls the local model
 *     toward the round's global model the more the larger μ, and its
 *     gradient is the local one plus μ (w − w_global);
 *   - server momentum β = 0 with server lr 1 is plain FedAvg bit for bit;
 *     plain with η_s, momentum and Adam follow their formulas (a reference
 *     written here from the clients' models, within float rounding);
 *     FedAdam moves no coordinate by more than η_s in the first round;
 *   - the robust rules feed the server optimiser like the mean does;
 *   - a fedavg run with FedProx and server momentum or Adam, stopped and
 *     resumed from its checkpoint, ends bit for bit where the uninterrupted
 *     run ends; a resume with other settings is refused; bad options are
 *     refused; the job's description names the settings. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digitnet.h"
#include "lib/synthetic.h"

#define COUNT 240
#define K 3
#define DN_MIRROR_K K
#include "lib/mirror_comm.h"

/* The mirror (tests/lib/mirror_comm.h): K identical replicas in one process. */
static dn_test_mirror mirror_state;
static dn_comm *mirror_comm(void) { return dn_test_mirror_comm(&mirror_state); }

/* ------------------------------------------------------------- helpers */

static int setup(void **state) { return dn_test_fixture_setup(state, COUNT, 7, 4, "dn_fedopt"); }
static int teardown(void **state) { return dn_test_fixture_free(*state); }

/* momentum: the local optimiser's (0: stateless SGD, which the references
 * below can replay round by round). */
static dn_mlp *network(int epochs, double momentum)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    dn_error err = {0};
    assert_int_equal(dn_mlp_parse_hidden("12", &o, &err), DN_OK);
    o.epochs = epochs, o.batch = 30, o.threads = 1, o.momentum = momentum;
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    assert_non_null(mlp);
    return mlp;
}

static void fedavg_options(dn_mlp_run_options *o, dn_comm *comm, int rounds)
{
    dn_mlp_run_options_default(o);
    o->mode = DN_MLP_RUN_FEDAVG, o->rounds = rounds, o->dist.comm = comm;
    if (comm) o->dist.shard = DN_SHARD_REPLICATE;
}

static void run(dn_mlp *mlp, const dn_mlp_run_options *o, const dn_dataset *set)
{
    dn_error err = {0};
    dn_mlp_run *r = dn_mlp_run_create(mlp, o, set, &err);
    assert_non_null(r);
    assert_int_equal(dn_mlp_run_resume(r, &err), DN_OK);
    assert_int_equal(dn_mlp_run_train(r, &err), DN_OK);
    dn_mlp_run_free(r);
}

static const float *params(dn_mlp *mlp, size_t *n) { return dn_mlp_params(mlp, n); }

static int same_params(dn_mlp *a, dn_mlp *b)
{
    size_t na, nb;
    const float *pa = params(a, &na), *pb = params(b, &nb);
    return na == nb && memcmp(pa, pb, na * sizeof *pa) == 0;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static double distance(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

/* ------------------------------------------------------------- FedProx */

static void test_prox_zero_is_fedavg(void **state)
{
    dn_test_fixture *f = *state;
    dn_comm *comm = mirror_comm();
    dn_mlp_run_options o;
    /* over the replicas: μ = 0 is the default run, μ > 0 is not */
    dn_mlp *plain = network(2, 0.9), *zero = network(2, 0.9), *prox = network(2, 0.9);
    fedavg_options(&o, comm, 2);
    run(plain, &o, &f->set);
    o.fedavg.prox_mu = 0.0;
    run(zero, &o, &f->set);
    assert_true(same_params(plain, zero));
    o.fedavg.prox_mu = 0.5;
    run(prox, &o, &f->set);
    assert_false(same_params(plain, prox));
    /* FedAvg of one client with a stateless optimiser is local training itself */
    dn_mlp *fed = network(3, 0), *local = network(3, 0);
    fedavg_options(&o, NULL, 3);
    o.fedavg.prox_mu = 0.0;
    run(fed, &o, &f->set);
    dn_error err = {0};
    assert_int_equal(dn_mlp_train(local, &f->set, NULL, NULL, &err), DN_OK);
    assert_true(same_params(fed, local));
    dn_mlp_free(plain), dn_mlp_free(zero), dn_mlp_free(prox), dn_mlp_free(fed), dn_mlp_free(local);
    dn_comm_free(comm);
}

/* One round of one client (the merge of one model is that model): the
 * distance its local training travels from w_global shrinks as μ grows. */
static void test_prox_pulls_toward_the_global_model(void **state)
{
    dn_test_fixture *f = *state;
    const double mus[] = {0, 0.3, 1, 3};
    double last = INFINITY;
    for (size_t i = 0; i < sizeof mus / sizeof *mus; i++) {
        dn_mlp *mlp = network(1, 0.9);
        size_t n;
        const float *p = params(mlp, &n);
        float *start = malloc(n * sizeof *start);
        assert_non_null(start);
        memcpy(start, p, n * sizeof *start);
        dn_mlp_run_options o;
        fedavg_options(&o, NULL, 1);
        o.fedavg.local_epochs = 1;
        o.fedavg.prox_mu = mus[i];
        run(mlp, &o, &f->set);
        double d = distance(params(mlp, &n), start, n);
        print_message("prox_mu %g: ||w_local - w_global|| = %.6f\n", mus[i], d);
        assert_true(d > 0 && d < last);
        last = d;
        free(start);
        dn_mlp_free(mlp);
    }
}

/* The proximal gradient itself: one full batch per epoch, plain SGD at a
 * constant rate, two local epochs. The first step starts at w_global (no
 * pull); the second is w1 − η (∇L(w1) + μ (w1 − w0)). */
static void test_prox_gradient_is_mu_times_the_distance(void **state)
{
    dn_test_fixture *f = *state;
    const double mu = 2.0, lr = 0.1;
    dn_mlp_options mo;
    dn_mlp_options_default(&mo);
    dn_error err = {0};
    assert_int_equal(dn_mlp_parse_hidden("12", &mo, &err), DN_OK);
    mo.epochs = 2, mo.batch = COUNT, mo.threads = 1, mo.momentum = 0, mo.lr = lr;
    mo.schedule = DN_SCHEDULE_NONE;
    dn_mlp *fed = dn_mlp_create(&mo, &err), *ref = dn_mlp_create(&mo, &err);
    assert_non_null(fed), assert_non_null(ref);
    dn_mlp_run_options o;
    fedavg_options(&o, NULL, 1);
    o.fedavg.local_epochs = 2, o.fedavg.prox_mu = mu;
    run(fed, &o, &f->set);
    /* the reference: backprop by hand on the whole set (in data order, so
     * the sums differ from the epoch's shuffled order by rounding only) */
    size_t n;
    float *w = dn_mlp_params(ref, &n), *w0 = malloc(n * sizeof *w0);
    assert_non_null(w0);
    memcpy(w0, w, n * sizeof *w0);
    for (int step = 0; step < 2; step++) {
        dn_mlp_zero_grad(ref);
        assert_int_equal(dn_mlp_backprop(ref, f->set.images, f->set.labels, COUNT, NULL, &err), DN_OK);
        size_t ng;
        const float *g = dn_mlp_grads(ref, &ng);
        for (size_t i = 0; i < n; i++) w[i] = (float)(w[i] - lr * (g[i] + mu * ((double)w[i] - w0[i])));
    }
    double diff = max_abs_diff(params(fed, &n), w, n);
    print_message("FedProx two steps vs the hand-made ones: max difference %.3g\n", diff);
    assert_true(diff < 1e-5);
    assert_true(distance(w, w0, n) > 1e-2); /* the steps did move */
    free(w0);
    dn_mlp_free(fed), dn_mlp_free(ref);
}

/* ------------------------------------------------- the server optimisers */

static void test_momentum_zero_is_plain(void **state)
{
    dn_test_fixture *f = *state;
    dn_comm *comm = mirror_comm();
    dn_mlp_run_options o;
    dn_mlp *plain = network(3, 0.9), *m0 = network(3, 0.9), *m9 = network(3, 0.9);
    fedavg_options(&o, comm, 3);
    run(plain, &o, &f->set);
    o.fedavg.server = DN_FEDAVG_SERVER_MOMENTUM, o.fedavg.server_momentum = 0, o.fedavg.server_lr = 1;
    run(m0, &o, &f->set);
    assert_true(same_params(plain, m0));
    o.fedavg.server_momentum = 0.9;
    run(m9, &o, &f->set);
    assert_false(same_params(plain, m9));
    dn_mlp_free(plain), dn_mlp_free(m0), dn_mlp_free(m9);
    dn_comm_free(comm);
}

/* The reference server, round by round, from a client that trains one
 * local epoch from each global model (stateless SGD: the client's own
 * epoch count keeps the schedule and the sample order of the run's). */
static void reference_rounds(const dn_fedavg_options *fo, int rounds, const dn_dataset *set, float *out, size_t n)
{
    dn_mlp *client = network(rounds, 0);
    size_t nc;
    float *w = dn_mlp_params(client, &nc);
    assert_int_equal(nc, n);
    float *global = malloc(n * sizeof *global);
    double *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
    assert_true(global && m && v);
    memcpy(global, w, n * sizeof *global);
    dn_error err = {0};
    for (int r = 0; r < rounds; r++) {
        memcpy(w, global, n * sizeof *w);
        assert_int_equal(dn_mlp_train_epoch(client, set, NULL, &err), DN_OK);
        for (size_t i = 0; i < n; i++) {
            double delta = (double)w[i] - global[i], u = delta;
            if (fo->server == DN_FEDAVG_SERVER_MOMENTUM) u = m[i] = fo->server_momentum * m[i] + delta;
            if (fo->server == DN_FEDAVG_SERVER_ADAM) {
                m[i] = fo->server_beta1 * m[i] + (1 - fo->server_beta1) * delta;
                v[i] = fo->server_beta2 * v[i] + (1 - fo->server_beta2) * delta * delta;
                u = m[i] / (sqrt(v[i]) + fo->server_tau);
            }
            global[i] = (float)(global[i] + fo->server_lr * u);
        }
    }
    memcpy(out, global, n * sizeof *out);
    free(global), free(m), free(v);
    dn_mlp_free(client);
}

static void check_against_reference(const dn_dataset *set, dn_fedavg_server server, double lr, double beta)
{
    const int rounds = 3;
    dn_mlp *mlp = network(rounds, 0);
    dn_mlp_run_options o;
    fedavg_options(&o, NULL, rounds);
    o.fedavg.server = server, o.fedavg.server_lr = lr, o.fedavg.server_momentum = beta;
    run(mlp, &o, set);
    size_t n;
    const float *p = params(mlp, &n);
    float *ref = malloc(n * sizeof *ref);
    assert_non_null(ref);
    reference_rounds(&o.fedavg, rounds, set, ref, n);
    double diff = max_abs_diff(p, ref, n);
    print_message("%s (server lr %g): max difference from the reference %.3g\n", dn_fedavg_server_name(server), lr,
                  diff);
    assert_true(diff < 1e-5);
    free(ref);
    dn_mlp_free(mlp);
}

static void test_servers_follow_their_formulas(void **state)
{
    dn_test_fixture *f = *state;
    check_against_reference(&f->set, DN_FEDAVG_SERVER_PLAIN, 1.5, 0);
    check_against_reference(&f->set, DN_FEDAVG_SERVER_MOMENTUM, 1, 0.9);
    check_against_reference(&f->set, DN_FEDAVG_SERVER_MOMENTUM, 0.5, 0.5);
    check_against_reference(&f->set, DN_FEDAVG_SERVER_ADAM, 0.01, 0);
}

/* m/(√v + τ) < 1 in the first round (m = 0.1 Δ, √v = 0.1 |Δ|): no
 * coordinate moves more than η_s, and the large ones move nearly that. */
static void test_fedadam_first_round_is_bounded(void **state)
{
    dn_test_fixture *f = *state;
    const double lr = 0.01;
    dn_mlp *mlp = network(1, 0.9);
    size_t n;
    const float *p = params(mlp, &n);
    float *start = malloc(n * sizeof *start);
    assert_non_null(start);
    memcpy(start, p, n * sizeof *start);
    dn_mlp_run_options o;
    fedavg_options(&o, NULL, 1);
    o.fedavg.server = DN_FEDAVG_SERVER_ADAM, o.fedavg.server_lr = lr;
    run(mlp, &o, &f->set);
    double moved = max_abs_diff(params(mlp, &n), start, n);
    print_message("FedAdam round 1, server lr %g: largest move %.9f\n", lr, moved);
    assert_true(moved <= lr * (1 + 1e-5));
    assert_true(moved > 0.5 * lr);
    free(start);
    dn_mlp_free(mlp);
}

/* The mirror's K equal models: every rule's aggregate is the model, so
 * momentum after the median or Krum is momentum after the mean. */
static void test_robust_rules_feed_the_server(void **state)
{
    dn_test_fixture *f = *state;
    dn_comm *comm = mirror_comm();
    dn_mlp_run_options o;
    fedavg_options(&o, comm, 2);
    o.fedavg.server = DN_FEDAVG_SERVER_MOMENTUM, o.fedavg.server_momentum = 0.9;
    dn_mlp *mean = network(2, 0.9);
    run(mean, &o, &f->set);
    const dn_aggregate_rule rules[] = {DN_AGG_MEDIAN, DN_AGG_TRIMMED_MEAN, DN_AGG_KRUM};
    for (size_t i = 0; i < 3; i++) {
        dn_mlp *mlp = network(2, 0.9);
        o.fedavg.aggregate.rule = rules[i];
        o.fedavg.aggregate.trim = 0.3;
        o.fedavg.aggregate.faulty = 0;
        run(mlp, &o, &f->set);
        assert_true(same_params(mean, mlp));
        dn_mlp_free(mlp);
    }
    dn_mlp_free(mean);
    dn_comm_free(comm);
}

/* ------------------------------------------------------ checkpoints */

static int stop_at_two(const dn_mlp_run_report *r, void *user) { return (void)user, r->step == 2; }

static void check_resume(dn_test_fixture *f, const dn_fedavg_options *fo)
{
    const int rounds = 4;
    dn_mlp_run_options o;
    fedavg_options(&o, NULL, rounds);
    o.fedavg = *fo;
    dn_mlp *whole = network(rounds, 0.9), *first = network(rounds, 0.9), *second = network(rounds, 0.9);
    run(whole, &o, &f->set);
    o.checkpoint = (dn_checkpoint_policy){f->path, 1, NULL};
    o.on_step = stop_at_two;
    run(first, &o, &f->set);
    assert_int_equal(dn_mlp_epochs_done(first), 2);
    o.checkpoint.resume = f->path;
    o.on_step = NULL;
    run(second, &o, &f->set);
    assert_true(same_params(whole, second));
    assert_false(same_params(whole, first));
    dn_mlp_free(whole), dn_mlp_free(first), dn_mlp_free(second);
}

static void test_resume_equals_the_uninterrupted_run(void **state)
{
    dn_test_fixture *f = *state;
    dn_fedavg_options fo;
    dn_fedavg_options_default(&fo);
    fo.server = DN_FEDAVG_SERVER_MOMENTUM, fo.server_momentum = 0.9, fo.prox_mu = 0.1;
    check_resume(f, &fo);
    dn_fedavg_options_default(&fo);
    fo.server = DN_FEDAVG_SERVER_ADAM, fo.server_lr = 0.01;
    check_resume(f, &fo);
}

/* Round 2 of a checkpointed run, resumed with settings a, b: refused. */
static void check_refused(dn_test_fixture *f, const dn_fedavg_options *saved, const dn_fedavg_options *resumed,
                          const char *found, const char *wanted)
{
    dn_mlp_run_options o;
    fedavg_options(&o, NULL, 3);
    o.fedavg = *saved;
    o.checkpoint = (dn_checkpoint_policy){f->path, 1, NULL};
    o.on_step = stop_at_two;
    dn_mlp *a = network(3, 0.9), *b = network(3, 0.9);
    run(a, &o, &f->set);
    o.fedavg = *resumed;
    o.checkpoint.resume = f->path;
    dn_error err = {0};
    dn_mlp_run *r = dn_mlp_run_create(b, &o, &f->set, &err);
    assert_non_null(r);
    assert_int_equal(dn_mlp_run_resume(r, &err), DN_ERR_INPUT);
    print_message("%s\n", err.message);
    assert_non_null(strstr(err.message, found));
    assert_non_null(strstr(err.message, wanted));
    dn_mlp_run_free(r);
    dn_mlp_free(a), dn_mlp_free(b);
}

static void test_resume_with_other_settings_is_refused(void **state)
{
    dn_test_fixture *f = *state;
    dn_fedavg_options plain, adam, momentum;
    dn_fedavg_options_default(&plain);
    adam = momentum = plain;
    adam.server = DN_FEDAVG_SERVER_ADAM, adam.server_lr = 0.01;
    momentum.server = DN_FEDAVG_SERVER_MOMENTUM, momentum.server_momentum = 0.9;
    check_refused(f, &plain, &adam, "'fedavg'", "'fedavg server:adam:0.9:0.99:0.001:0.01'");
    check_refused(f, &adam, &momentum, "server:adam", "'fedavg server:momentum:0.9:1'");
    momentum.prox_mu = 0.25;
    check_refused(f, &momentum, &plain, "'fedavg prox:0.25 server:momentum:0.9:1'", "'fedavg'");
}

/* ------------------------------------------------------------ options */

static void test_options_are_checked_and_described(void **state)
{
    dn_test_fixture *f = *state;
    dn_fedavg_options o;
    dn_error err = {0};
    char text[128];
    dn_fedavg_options_default(&o);
    assert_int_equal(dn_fedavg_options_check(&o, &err), DN_OK);
    assert_true(o.server == DN_FEDAVG_SERVER_PLAIN && o.server_lr == 1 && o.prox_mu == 0);
    assert_true(o.server_beta1 == 0.9 && o.server_beta2 == 0.99 && o.server_tau == 1e-3);
    dn_fedavg_options_describe(&o, text, sizeof text);
    assert_string_equal(text, "");
    o.prox_mu = 0.01, o.server = DN_FEDAVG_SERVER_ADAM, o.server_lr = 0.03;
    dn_fedavg_options_describe(&o, text, sizeof text);
    assert_string_equal(text, " prox:0.01 server:adam:0.9:0.99:0.001:0.03");
    dn_fedavg_options_describe(&o, text, 12); /* cut, terminated */
    assert_string_equal(text, " prox:0.01 ");
    dn_fedavg_options_default(&o);
    o.server_lr = 0.1 + 0.2; /* 0.30000000000000004: told apart from 0.3 */
    dn_fedavg_options_describe(&o, text, sizeof text);
    assert_string_equal(text, " server:plain:0.30000000000000004");
    assert_string_equal(dn_fedavg_server_name(DN_FEDAVG_SERVER_MOMENTUM), "momentum");
    assert_string_equal(dn_fedavg_server_name((dn_fedavg_server)7), "?");

    dn_fedavg_options bad;
    dn_fedavg_options_default(&bad), bad.prox_mu = -1;
    assert_int_equal(dn_fedavg_options_check(&bad, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "prox_mu"));
    dn_fedavg_options_default(&bad), bad.prox_mu = NAN;
    assert_int_equal(dn_fedavg_options_check(&bad, &err), DN_ERR_USAGE);
    dn_fedavg_options_default(&bad), bad.server_lr = 0;
    assert_int_equal(dn_fedavg_options_check(&bad, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "server_lr"));
    dn_fedavg_options_default(&bad), bad.server = DN_FEDAVG_SERVER_MOMENTUM, bad.server_momentum = 1;
    assert_int_equal(dn_fedavg_options_check(&bad, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "server_momentum"));
    dn_fedavg_options_default(&bad), bad.server = DN_FEDAVG_SERVER_ADAM, bad.server_tau = 0;
    assert_int_equal(dn_fedavg_options_check(&bad, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "server_tau"));
    dn_fedavg_options_default(&bad), bad.server = DN_FEDAVG_SERVER_ADAM, bad.server_beta2 = 1;
    assert_int_equal(dn_fedavg_options_check(&bad, &err), DN_ERR_USAGE);
    dn_fedavg_options_default(&bad), bad.server = (dn_fedavg_server)3;
    assert_int_equal(dn_fedavg_options_check(&bad, &err), DN_ERR_USAGE);
    /* the run refuses them before training */
    dn_mlp_run_options ro;
    fedavg_options(&ro, NULL, 1);
    ro.fedavg.server = DN_FEDAVG_SERVER_MOMENTUM, ro.fedavg.server_momentum = -0.5;
    dn_mlp *mlp = network(1, 0.9);
    assert_null(dn_mlp_run_create(mlp, &ro, &f->set, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    dn_mlp_free(mlp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prox_zero_is_fedavg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prox_pulls_toward_the_global_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prox_gradient_is_mu_times_the_distance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_momentum_zero_is_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_servers_follow_their_formulas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fedadam_first_round_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_robust_rules_feed_the_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_equals_the_uninterrupted_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_with_other_settings_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_are_checked_and_described, setup, teardown),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
