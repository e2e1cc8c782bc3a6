/* test_vclients.c — federated averaging over virtual clients
 * (dn_fedavg_clients_round) in one process:
 *   - sampling: m = max(round(C·K), 1) per round, the same draw for the same
 *     (seed, round) and another for another round, no repeats, ascending ids,
 *     every client drawn within a few rounds at C = 0.3, and about C of the
 *     rounds for each client over many;
 *   - the FedSGD identity: C = 1, E = 1, each client's batch its whole set,
 *     plain SGD at a constant rate η: the round gives w − η Σ_k (n_k/n) g_k,
 *     which is one full-batch step w − η g on the union of the clients'
 *     samples (dn_mlp_backprop + dn_mlp_update on the whole set), within
 *     float rounding (the sums run in another order): |Δ| ≤ 1e-6 + 1e-5·|w|;
 *     the clients are unbalanced (quantity:1), so an unweighted mean fails it;
 *   - FedProx with μ = 0 is plain FedAvg bit for bit, μ > 0 keeps the clients
 *     nearer w_g;
 *   - comm NULL and a job of one (dn_comm_local) give the same bits, and the
 *     result does not depend on the network's own seed beyond its initial
 *     weights; the report; the refusals.
 * The same model for P = 1, 2, 3 ranks is checked under mpirun by
 * test_dist_trainers. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digitnet.h"
#include "lib/skip.h"
#include "lib/synthetic.h"

#define COUNT 120

static dn_dataset *synthetic(void)
{
    dn_dataset *set = calloc(1, sizeof *set);
    uint8_t *images = calloc(COUNT, DN_IMAGE_PIXELS), *labels = malloc(COUNT);
    assert_true(set && images && labels);
    dn_test_fill_synthetic(images, labels, COUNT, 5, 4);
    *set = (dn_dataset){COUNT, images, labels, 1, NULL};
    return set;
}

static dn_partition *partition(const dn_dataset *set, size_t k, const char *spec_text)
{
    dn_partition_spec spec;
    dn_error err = {0};
    assert_int_equal(dn_partition_parse(spec_text, &spec, &err), DN_OK);
    dn_partition *part = dn_partition_make(set, set->count, k, &spec, 11, &err);
    assert_non_null(part);
    return part;
}

/* A small network; sgd: plain SGD (no momentum) at a constant rate. */
static dn_mlp *network(uint64_t seed, size_t batch, int sgd)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    dn_error err = {0};
    assert_int_equal(dn_mlp_parse_hidden("16", &o, &err), DN_OK);
    o.seed = seed;
    o.epochs = 10;
    o.batch = batch;
    o.threads = 1;
    if (sgd) o.momentum = 0, o.schedule = DN_SCHEDULE_NONE;
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    assert_non_null(mlp);
    return mlp;
}

/* ------------------------------------------------------------- sampling */

static void test_sample_count(void **state)
{
    (void)state;
    assert_int_equal(dn_fedavg_sample_count(100, 0.1), 10);
    assert_int_equal(dn_fedavg_sample_count(100, 0), 1);    /* C = 0: one client per round */
    assert_int_equal(dn_fedavg_sample_count(100, 0.001), 1);
    assert_int_equal(dn_fedavg_sample_count(100, 1), 100);
    assert_int_equal(dn_fedavg_sample_count(6, 0.5), 3);
    assert_int_equal(dn_fedavg_sample_count(6, 0.25), 2);   /* 1.5 rounds half up */
    assert_int_equal(dn_fedavg_sample_count(10, 0.3), 3);
    assert_int_equal(dn_fedavg_sample_count(0, 0.5), 0);
}

static void test_sample_draw(void **state)
{
    (void)state;
    const size_t K = 100;
    size_t a[100], b[100];
    for (int round = 0; round < 50; round++) {
        for (double C = 0; C <= 1.0; C += 0.25) {
            size_t m = dn_fedavg_sample_clients(K, C, 42, round, a);
            assert_int_equal(m, dn_fedavg_sample_count(K, C));
            for (size_t i = 0; i < m; i++) {
                assert_true(a[i] < K);
                if (i) assert_true(a[i - 1] < a[i]); /* ascending: no repeats */
            }
            assert_int_equal(dn_fedavg_sample_clients(K, C, 42, round, b), m);
            assert_memory_equal(a, b, m * sizeof *a); /* seeded */
        }
    }
    /* another round, another seed: another draw */
    size_t m = dn_fedavg_sample_clients(K, 0.1, 42, 0, a);
    dn_fedavg_sample_clients(K, 0.1, 42, 1, b);
    assert_memory_not_equal(a, b, m * sizeof *a);
    dn_fedavg_sample_clients(K, 0.1, 43, 0, b);
    assert_memory_not_equal(a, b, m * sizeof *a);
}

static void test_sample_coverage(void **state)
{
    (void)state;
    /* K = 10, C = 0.3: every client within a few rounds */
    size_t draw[10], rounds_to_all = 0;
    int seen[10] = {0}, left = 10;
    for (int round = 0; round < 100 && left; round++) {
        size_t m = dn_fedavg_sample_clients(10, 0.3, 7, round, draw);
        assert_int_equal(m, 3);
        for (size_t i = 0; i < m; i++)
            if (!seen[draw[i]]++) left--;
        rounds_to_all = (size_t)round + 1;
    }
    print_message("every one of 10 clients drawn within %zu rounds at C = 0.3\n", rounds_to_all);
    assert_int_equal(left, 0);
    assert_true(rounds_to_all <= 15);
    /* over 2000 rounds each client is drawn about C = 0.3 of the time */
    size_t counts[10] = {0};
    for (int round = 0; round < 2000; round++) {
        size_t m = dn_fedavg_sample_clients(10, 0.3, 9, round, draw);
        for (size_t i = 0; i < m; i++) counts[draw[i]]++;
    }
    for (int k = 0; k < 10; k++) assert_true(counts[k] > 520 && counts[k] < 680); /* 600 ± ~5σ */
}

/* ------------------------------------------------------------- rounds */

static void copy_params(dn_mlp *mlp, float *out)
{
    size_t n;
    const float *p = dn_mlp_params(mlp, &n);
    memcpy(out, p, n * sizeof *p);
}

static void same_params(dn_mlp *a, dn_mlp *b)
{
    size_t na, nb;
    const float *pa = dn_mlp_params(a, &na), *pb = dn_mlp_params(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na * sizeof *pa);
}

static void test_fedsgd_identity(void **state)
{
    (void)state;
    dn_dataset *set = synthetic();
    dn_partition *part = partition(set, 5, "quantity:1");
    size_t sizes[5], largest = 0;
    for (size_t k = 0; k < 5; k++) {
        sizes[k] = dn_partition_client_size(part, k);
        if (sizes[k] > largest) largest = sizes[k];
    }
    assert_true(sizes[0] != sizes[1] || sizes[1] != sizes[2]); /* unbalanced: the weights matter */
    const double lr = 0.1;
    dn_mlp *fed = network(3, largest, 1), *whole = network(3, COUNT, 1);
    dn_error err = {0};
    dn_fedavg_options opt;
    dn_fedavg_options_default(&opt);
    dn_fedavg_report report;
    /* the network's rate: set through the options at creation */
    assert_true(dn_mlp_get_options(fed)->lr == lr);
    assert_int_equal(dn_fedavg_clients_round(fed, set, part, NULL, &opt, 1.0, 5, &report, &err), DN_OK);
    assert_int_equal(report.clients_sampled, 5);
    assert_int_equal(report.clients_reported, 5);
    assert_int_equal(report.samples, COUNT);
    assert_int_equal(report.refused, 0);
    dn_mlp_zero_grad(whole);
    assert_int_equal(dn_mlp_backprop(whole, set->images, set->labels, COUNT, NULL, &err), DN_OK);
    assert_int_equal(dn_mlp_update(whole, lr, &err), DN_OK);
    size_t n;
    const float *a = dn_mlp_params(fed, &n), *b = dn_mlp_params(whole, &n);
    double worst = 0, moved = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst) worst = d;
        assert_true(d <= 1e-6 + 1e-5 * fabs((double)b[i]));
    }
    dn_mlp *start = network(3, COUNT, 1);
    const float *w0 = dn_mlp_params(start, &n);
    for (size_t i = 0; i < n; i++) moved = fmax(moved, fabs((double)b[i] - (double)w0[i]));
    print_message("FedSGD identity: largest |difference| %.3g, largest step %.3g\n", worst, moved);
    assert_true(moved > 1e-4); /* the step is real */
    dn_mlp_free(start);
    dn_mlp_free(fed), dn_mlp_free(whole);
    dn_partition_free(part);
    dn_dataset_free(set);
}

/* three rounds of C = 0.5 over 6 clients, E = 2, batch 8 */
static void three_rounds(dn_mlp *mlp, const dn_dataset *set, const dn_partition *part, dn_comm *comm,
                         const dn_fedavg_options *opt, uint64_t seed)
{
    dn_error err = {0};
    for (int r = 0; r < 3; r++) {
        dn_fedavg_report report;
        assert_int_equal(dn_fedavg_clients_round(mlp, set, part, comm, opt, 0.5, seed, &report, &err), DN_OK);
        assert_int_equal(report.round, r);
        assert_int_equal(report.clients_sampled, 3);
        assert_int_equal(report.clients_reported, 3);
        assert_int_equal(report.refused, 0);
        assert_true(isfinite(report.train_loss) && report.train_loss > 0);
        size_t draw[3], samples = 0;
        dn_fedavg_sample_clients(6, 0.5, seed, r, draw);
        for (int i = 0; i < 3; i++) samples += dn_partition_client_size(part, draw[i]);
        assert_int_equal(report.samples, samples);
        assert_int_equal(dn_mlp_epochs_done(mlp), (r + 1) * opt->local_epochs);
    }
}

static void test_prox_zero_and_comm(void **state)
{
    (void)state;
    dn_dataset *set = synthetic();
    dn_partition *part = partition(set, 6, "shards:2");
    dn_fedavg_options plain, prox0, prox;
    dn_fedavg_options_default(&plain);
    plain.local_epochs = 2;
    prox0 = plain, prox0.prox_mu = 0.0;
    prox = plain, prox.prox_mu = 1.0;
    dn_mlp *a = network(3, 8, 0), *b = network(3, 8, 0), *c = network(3, 8, 0), *d = network(3, 8, 0);
    three_rounds(a, set, part, NULL, &plain, 21);
    three_rounds(b, set, part, NULL, &prox0, 21);
    same_params(a, b); /* μ = 0 is FedAvg */
    dn_error err = {0};
    dn_comm *one = dn_comm_local(&err);
    assert_non_null(one);
    three_rounds(c, set, part, one, &plain, 21);
    same_params(a, c); /* comm NULL is a job of one */
    dn_comm_free(one);
    /* μ > 0 pulls each client towards w_g: the round moves less */
    dn_mlp *g = network(3, 8, 0), *e = network(3, 8, 0);
    size_t n;
    dn_mlp_params(g, &n);
    float *w0 = malloc(n * sizeof *w0);
    assert_non_null(w0);
    copy_params(g, w0);
    assert_int_equal(dn_fedavg_clients_round(g, set, part, NULL, &plain, 1.0, 21, NULL, &err), DN_OK);
    assert_int_equal(dn_fedavg_clients_round(e, set, part, NULL, &prox, 1.0, 21, NULL, &err), DN_OK);
    const float *pg = dn_mlp_params(g, &n), *pe = dn_mlp_params(e, &n);
    double dg = 0, de = 0;
    for (size_t i = 0; i < n; i++) {
        dg += ((double)pg[i] - w0[i]) * ((double)pg[i] - w0[i]);
        de += ((double)pe[i] - w0[i]) * ((double)pe[i] - w0[i]);
    }
    print_message("round's move: plain %.4g, FedProx mu = 1 %.4g\n", sqrt(dg), sqrt(de));
    assert_true(de < dg && de > 0);
    /* another seed, another trajectory; the same seed, the same */
    three_rounds(d, set, part, NULL, &plain, 22);
    assert_memory_not_equal(dn_mlp_params(a, &n), dn_mlp_params(d, &n), n * sizeof(float));
    free(w0);
    dn_mlp_free(a), dn_mlp_free(b), dn_mlp_free(c), dn_mlp_free(d), dn_mlp_free(g), dn_mlp_free(e);
    dn_partition_free(part);
    dn_dataset_free(set);
}

/* Refused before anything is trained: C outside [0, 1], a fault, a rule
 * the m drawn clients cannot satisfy, a set smaller than the partition's.
 * Krum with f = 0 over the 3 drawn clients picks one whole: its client id
 * is reported. */
static void test_refusals(void **state)
{
    (void)state;
    dn_dataset *set = synthetic();
    dn_partition *part = partition(set, 6, "iid");
    dn_mlp *mlp = network(3, 8, 0);
    dn_fedavg_options opt;
    dn_fedavg_options_default(&opt);
    dn_error err = {0};
    assert_int_equal(dn_fedavg_clients_round(mlp, set, part, NULL, &opt, 1.5, 1, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_fedavg_clients_round(mlp, set, part, NULL, &opt, NAN, 1, NULL, &err), DN_ERR_USAGE);
    opt.fault = (dn_fault){DN_FAULT_NAN, 1};
    assert_int_equal(dn_fedavg_clients_round(mlp, set, part, NULL, &opt, 0.5, 1, NULL, &err), DN_ERR_USAGE);
    dn_fedavg_options_default(&opt);
    opt.aggregate.rule = DN_AGG_KRUM, opt.aggregate.faulty = 1; /* needs m ≥ 5: 3 are drawn */
    assert_int_equal(dn_fedavg_clients_round(mlp, set, part, NULL, &opt, 0.5, 1, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_mlp_epochs_done(mlp), 0);
    /* Krum with f = 0 over 3 clients picks one client's model: its id is reported */
    opt.aggregate.faulty = 0;
    dn_fedavg_report report;
    assert_int_equal(dn_fedavg_clients_round(mlp, set, part, NULL, &opt, 0.5, 1, &report, &err), DN_OK);
    size_t draw[3];
    dn_fedavg_sample_clients(6, 0.5, 1, 0, draw);
    assert_true(report.chosen_rank == (int)draw[0] || report.chosen_rank == (int)draw[1] ||
                report.chosen_rank == (int)draw[2]);
    /* a set smaller than the partition's */
    dn_dataset small = *set;
    small.count = COUNT / 2, small.owns_buffers = 0;
    dn_fedavg_options_default(&opt);
    assert_int_equal(dn_fedavg_clients_round(mlp, &small, part, NULL, &opt, 0.5, 1, NULL, &err), DN_ERR_USAGE);
    dn_mlp_free(mlp);
    dn_partition_free(part);
    dn_dataset_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_count),     cmocka_unit_test(test_sample_draw),
        cmocka_unit_test(test_sample_coverage),  cmocka_unit_test(test_fedsgd_identity),
        cmocka_unit_test(test_prox_zero_and_comm), cmocka_unit_test(test_refusals),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
