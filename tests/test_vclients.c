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
 *     B = 0 (the full batch) is B = n bit for bit, and refused beyond
 *     DN_MLP_BATCH_MAX samples;
 *   - FedProx with μ = 0 is plain FedAvg bit for bit, μ > 0 keeps the clients
 *     nearer w_g;
 *   - comm NULL and a job of one (dn_comm_local) give the same bits, and the
 *     result does not depend on the network's own seed beyond its initial
 *     weights; the report; the refusals.
 *   - the run loop with clients (dn_mlp_run_options.clients): R rounds of
 *     dn_mlp_run are R dn_fedavg_clients_round calls by hand, bit for bit; a
 *     run stopped by its callback and resumed from its checkpoint ends with
 *     the uninterrupted run's bits; a resume with another fraction, seed or
 *     partition is refused (the job description records them).
 *   - clients at once: with threads 2 a round's clients train two at a time
 *     (each on one thread and its own copy of the network), and every
 *     round's model is the one-thread model bit for bit, with momentum,
 *     batches large enough for a split step, partial stragglers, an odd
 *     number of clients; with a batch callback the clients take turns,
 *     their steps split over the two threads (within 1e-5 of one thread);
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
#include <unistd.h>

#include "digitnet.h"
#include "mlp_internal.h" /* client_workers_n: the clients did train at once */
#include "lib/skip.h"
#include "lib/synthetic.h"
#include "lib/vclients.h"

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

static void test_fedsgd_identity(void **state)
{
    (void)state;
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 5, "quantity:1");
    size_t sizes[5];
    for (size_t k = 0; k < 5; k++) sizes[k] = dn_partition_client_size(part, k);
    assert_true(sizes[0] != sizes[1] || sizes[1] != sizes[2]); /* unbalanced: the weights matter */
    const double lr = 0.1;
    /* B = 0: each client's whole set is its one batch */
    dn_mlp *fed = vclients_network(3, 0, 1), *whole = vclients_network(3, VCLIENTS_COUNT, 1);
    dn_error err = {0};
    dn_fedavg_options opt;
    dn_fedavg_options_default(&opt);
    dn_fedavg_report report;
    /* the network's rate: set through the options at creation */
    assert_true(dn_mlp_get_options(fed)->lr == lr);
    assert_int_equal(dn_fedavg_clients_round(fed, set, part, NULL, &opt, 1.0, 5, &report, &err), DN_OK);
    assert_int_equal(report.clients_sampled, 5);
    assert_int_equal(report.clients_reported, 5);
    assert_int_equal(report.samples, VCLIENTS_COUNT);
    assert_int_equal(report.refused, 0);
    dn_mlp_zero_grad(whole);
    assert_int_equal(dn_mlp_backprop(whole, set->images, set->labels, VCLIENTS_COUNT, NULL, &err), DN_OK);
    assert_int_equal(dn_mlp_update(whole, lr, &err), DN_OK);
    size_t n;
    const float *a = dn_mlp_params(fed, &n), *b = dn_mlp_params(whole, &n);
    double worst = 0, moved = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst) worst = d;
        assert_true(d <= 1e-6 + 1e-5 * fabs((double)b[i]));
    }
    dn_mlp *start = vclients_network(3, VCLIENTS_COUNT, 1);
    const float *w0 = dn_mlp_params(start, &n);
    for (size_t i = 0; i < n; i++) moved = fmax(moved, fabs((double)b[i] - (double)w0[i]));
    print_message("FedSGD identity: largest |difference| %.3g, largest step %.3g\n", worst, moved);
    assert_true(moved > 1e-4); /* the step is real */
    dn_mlp_free(start);
    dn_mlp_free(fed), dn_mlp_free(whole);
    dn_partition_free(part);
    dn_dataset_free(set);
}

/* B = 0 is one batch of the whole set: the same bits as B = n, and a set
 * larger than the largest batch is refused before anything is read. */
static void test_full_batch(void **state)
{
    (void)state;
    dn_dataset *set = vclients_set();
    dn_mlp *zero = vclients_network(3, 0, 1), *n = vclients_network(3, VCLIENTS_COUNT, 1);
    dn_error err = {0};
    dn_mlp_epoch_report a, b;
    for (int e = 0; e < 2; e++) {
        assert_int_equal(dn_mlp_train_epoch(zero, set, &a, &err), DN_OK);
        assert_int_equal(dn_mlp_train_epoch(n, set, &b, &err), DN_OK);
        assert_true(a.train_loss == b.train_loss);
    }
    vclients_same_params(zero, n);
    dn_dataset huge = *set;
    huge.count = DN_MLP_BATCH_MAX + 1, huge.owns_buffers = 0; /* never read: refused first */
    assert_int_equal(dn_mlp_train_epoch(zero, &huge, &a, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "full batch"));
    dn_mlp_free(zero), dn_mlp_free(n);
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
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 6, "shards:2");
    dn_fedavg_options plain, prox0, prox;
    dn_fedavg_options_default(&plain);
    plain.local_epochs = 2;
    prox0 = plain, prox0.prox_mu = 0.0;
    prox = plain, prox.prox_mu = 1.0;
    dn_mlp *a = vclients_network(3, 8, 0), *b = vclients_network(3, 8, 0), *c = vclients_network(3, 8, 0), *d = vclients_network(3, 8, 0);
    three_rounds(a, set, part, NULL, &plain, 21);
    three_rounds(b, set, part, NULL, &prox0, 21);
    vclients_same_params(a, b); /* μ = 0 is FedAvg */
    dn_error err = {0};
    dn_comm *one = dn_comm_local(&err);
    assert_non_null(one);
    three_rounds(c, set, part, one, &plain, 21);
    vclients_same_params(a, c); /* comm NULL is a job of one */
    dn_comm_free(one);
    /* μ > 0 pulls each client towards w_g: the round moves less */
    dn_mlp *g = vclients_network(3, 8, 0), *e = vclients_network(3, 8, 0);
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
    /* n is read only after both calls: an argument list does not order them */
    const float *pa = dn_mlp_params(a, &n), *pd = dn_mlp_params(d, &n);
    assert_memory_not_equal(pa, pd, n * sizeof(float));
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
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 6, "iid");
    dn_mlp *mlp = vclients_network(3, 8, 0);
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
    small.count = VCLIENTS_COUNT / 2, small.owns_buffers = 0;
    dn_fedavg_options_default(&opt);
    assert_int_equal(dn_fedavg_clients_round(mlp, &small, part, NULL, &opt, 0.5, 1, NULL, &err), DN_ERR_USAGE);
    dn_mlp_free(mlp);
    dn_partition_free(part);
    dn_dataset_free(set);
}

/* ------------------------------------------------------------ the run loop */

#define RUN_ROUNDS 4

static void run_options(dn_mlp_run_options *o, const dn_partition *part, double fraction, uint64_t seed)
{
    dn_mlp_run_options_default(o);
    o->mode = DN_MLP_RUN_FEDAVG;
    o->rounds = RUN_ROUNDS;
    o->fedavg.local_epochs = 2;
    o->clients = part;
    o->client_fraction = fraction;
    o->client_seed = seed;
}

typedef struct seen_rounds {
    int steps, stop_at;
    size_t sampled[RUN_ROUNDS];
} seen_rounds;

static int note_round(const dn_mlp_run_report *r, void *user)
{
    seen_rounds *seen = user;
    assert_non_null(r->round);
    assert_null(r->epoch);
    assert_int_equal(r->round->round + 1, r->step);
    assert_int_equal(r->round->clients_reported, r->round->clients_sampled);
    seen->sampled[r->step - 1] = r->round->clients_sampled;
    seen->steps = r->step;
    return r->step == seen->stop_at;
}

static void test_run_is_rounds_by_hand(void **state)
{
    (void)state;
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 6, "shards:2");
    dn_mlp *loop = vclients_network(3, 8, 0), *hand = vclients_network(3, 8, 0);
    dn_mlp_run_options o;
    run_options(&o, part, 0.5, 21);
    seen_rounds seen = {0, 0, {0}};
    o.on_step = note_round, o.user = &seen;
    dn_error err = {0};
    assert_int_equal(vclients_run_loop(loop, &o, set, &err), DN_OK);
    assert_int_equal(seen.steps, RUN_ROUNDS);
    for (int r = 0; r < RUN_ROUNDS; r++) {
        assert_int_equal(seen.sampled[r], 3);
        assert_int_equal(dn_fedavg_clients_round(hand, set, part, NULL, &o.fedavg, 0.5, 21, NULL, &err), DN_OK);
    }
    vclients_same_params(loop, hand);
    dn_mlp_free(loop), dn_mlp_free(hand);
    dn_partition_free(part);
    dn_dataset_free(set);
}

static void test_run_stop_and_resume(void **state)
{
    (void)state;
    char path[] = "/tmp/dn_vclients_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 6, "shards:2"), *other = vclients_partition(set, 5, "shards:2");
    dn_mlp *whole = vclients_network(3, 8, 0), *first = vclients_network(3, 8, 0), *second = vclients_network(3, 8, 0);
    dn_mlp_run_options o;
    run_options(&o, part, 0.5, 21);
    dn_error err = {0};
    assert_int_equal(vclients_run_loop(whole, &o, set, &err), DN_OK);

    seen_rounds seen = {0, 2, {0}};
    o.checkpoint = (dn_checkpoint_policy){path, 3, NULL}; /* not due at 2: the stop saves */
    o.on_step = note_round, o.user = &seen;
    assert_int_equal(vclients_run_loop(first, &o, set, &err), DN_OK);
    assert_int_equal(seen.steps, 2);
    assert_int_equal(dn_mlp_epochs_done(first), 4);

    /* another fraction, seed or partition: refused, nothing loaded */
    dn_mlp_run_options bad = o;
    bad.checkpoint.resume = path, bad.checkpoint.path = NULL, bad.on_step = NULL;
    bad.client_fraction = 0.3;
    assert_int_not_equal(vclients_run_loop(second, &bad, set, &err), DN_OK);
    print_message("refused: %s\n", err.message);
    assert_non_null(strstr(err.message, "C:0.3"));
    bad.client_fraction = 0.5, bad.client_seed = 22;
    assert_int_not_equal(vclients_run_loop(second, &bad, set, &err), DN_OK);
    bad.client_seed = 21, bad.clients = other;
    assert_int_not_equal(vclients_run_loop(second, &bad, set, &err), DN_OK);
    bad.clients = NULL; /* one client per rank */
    assert_int_not_equal(vclients_run_loop(second, &bad, set, &err), DN_OK);
    assert_int_equal(dn_mlp_epochs_done(second), 0);

    o.checkpoint.resume = path;
    o.on_step = NULL;
    assert_int_equal(vclients_run_loop(second, &o, set, &err), DN_OK);
    assert_int_equal(dn_mlp_epochs_done(second), RUN_ROUNDS * 2);
    vclients_same_params(second, whole);
    remove(path);
    dn_mlp_free(whole), dn_mlp_free(first), dn_mlp_free(second);
    dn_partition_free(part), dn_partition_free(other);
    dn_dataset_free(set);
}

/* The loop's own refusals: C out of range, a fault rank, sync mode, a set
 * smaller than the partition's. */
static void test_run_refusals(void **state)
{
    (void)state;
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 6, "iid");
    dn_mlp *mlp = vclients_network(3, 8, 0);
    dn_mlp_run_options o;
    dn_error err = {0};
    run_options(&o, part, 1.5, 1);
    assert_null(dn_mlp_run_create(mlp, &o, set, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    run_options(&o, part, 0.5, 1);
    o.dist.fault_rank = 0, o.dist.fault = (dn_fault){DN_FAULT_NAN, 1};
    assert_null(dn_mlp_run_create(mlp, &o, set, &err));
    run_options(&o, part, 0.5, 1);
    o.mode = DN_MLP_RUN_SYNC;
    assert_null(dn_mlp_run_create(mlp, &o, set, &err));
    run_options(&o, part, 0.5, 1);
    dn_dataset small = *set;
    small.count = VCLIENTS_COUNT / 2, small.owns_buffers = 0;
    assert_null(dn_mlp_run_create(mlp, &o, &small, &err));
    assert_int_equal(dn_mlp_epochs_done(mlp), 0);
    dn_mlp_free(mlp);
    dn_partition_free(part);
    dn_dataset_free(set);
}

/* ------------------------------------------------------- clients at once */

static int count_batches(const dn_mlp_batch_report *report, void *user)
{
    (void)report;
    ++*(int *)user;
    return 0;
}

static void test_clients_at_once(void **state)
{
    (void)state;
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 7, "quantity:1");
    dn_mlp *one = vclients_network(3, 16, 0); /* momentum 0.9; at B = 16 two threads would split a step */
    dn_mlp_options o = *dn_mlp_get_options(one);
    o.threads = 2;
    dn_error err = {0};
    dn_mlp *two = dn_mlp_create(&o, &err);
    assert_non_null(two);
    dn_fedavg_options opt;
    dn_fedavg_options_default(&opt);
    opt.local_epochs = 2, opt.stragglers = 0.3, opt.straggler_policy = DN_STRAGGLER_PARTIAL;
    int batches = 0;
    for (int round = 0; round < 4; round++) {
        if (round == 3) dn_mlp_set_batch_callback(two, count_batches, &batches); /* turns, not at once */
        assert_int_equal(dn_fedavg_clients_round(one, set, part, NULL, &opt, round == 1 ? 0.5 : 1.0, 9, NULL, &err),
                         DN_OK);
        assert_int_equal(dn_fedavg_clients_round(two, set, part, NULL, &opt, round == 1 ? 0.5 : 1.0, 9, NULL, &err),
                         DN_OK);
        if (round < 3) {
            vclients_same_params(one, two);
        } else { /* the clients' steps split over two threads: the same within the threads' 1e-5 */
            size_t n;
            const float *a = dn_mlp_params(one, &n), *b = dn_mlp_params(two, &n);
            for (size_t i = 0; i < n; i++) assert_true(fabs((double)a[i] - b[i]) <= 1e-5 * (1 + fabs(a[i])));
        }
        if (round == 0) assert_int_equal(two->client_workers_n, 1); /* the second thread's copy */
    }
    assert_true(batches > 0);
    assert_int_equal(one->client_workers_n, 0); /* one thread: no copies */
    dn_mlp_free(one);
    dn_mlp_free(two);
    dn_partition_free(part);
    dn_dataset_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_count),     cmocka_unit_test(test_sample_draw),
        cmocka_unit_test(test_sample_coverage),  cmocka_unit_test(test_fedsgd_identity), cmocka_unit_test(test_full_batch),
        cmocka_unit_test(test_prox_zero_and_comm), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_run_is_rounds_by_hand), cmocka_unit_test(test_run_stop_and_resume),
        cmocka_unit_test(test_run_refusals),      cmocka_unit_test(test_clients_at_once),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
