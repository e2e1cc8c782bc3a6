/* test_heterogeneity.c — system heterogeneity in federated rounds over
 * virtual clients: stragglers (dropped or partial) and clients that drop
 * out (dn_fedavg_plan_round, dn_fedavg_clients_round), in one process:
 *   - the plan: exactly round(P·m) stragglers, seeded by (seed, round), a
 *     straggler's partial epochs uniform over 1 … E, drop-outs at rate Q
 *     and decided per client id, whichever others are drawn;
 *   - P = 0 under either policy and Q = 0 are plain FedAvg, bit for bit;
 *   - dropped stragglers are left out of the merge: with C = 1, E = 1, each
 *     client's batch its whole set and plain SGD at rate η, the round is one
 *     full-batch step on the union of the reporting clients' samples (the
 *     FedSGD identity of test_vclients, on a subset), within float rounding;
 *   - a partial straggler trains its planned e < E epochs: the round equals
 *     a plain round of E = e, bit for bit, and differs from one of E;
 *   - a round nobody reports (Q = 1, or P = 1 under drop), or too few for
 *     Krum, keeps the model bit for bit, says so, and still counts;
 *   - the report's counts and bytes; the refusals; the job description.
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
#include "lib/synthetic.h"
#include "lib/vclients.h"

static dn_fedavg_options options(double stragglers, dn_straggler_policy policy, double dropout, int epochs)
{
    dn_fedavg_options opt;
    dn_fedavg_options_default(&opt);
    opt.stragglers = stragglers, opt.straggler_policy = policy, opt.dropout_rate = dropout;
    opt.local_epochs = epochs;
    return opt;
}

/* ----------------------------------------------------------------- the plan */

static void test_plan_stragglers(void **state)
{
    (void)state;
    size_t draw[50], slow, gone;
    int a[50], b[50], seen[5] = {0};
    for (size_t i = 0; i < 50; i++) draw[i] = 2 * i + 1;
    dn_fedavg_options drop = options(0.3, DN_STRAGGLER_DROP, 0, 4), partial = drop;
    partial.straggler_policy = DN_STRAGGLER_PARTIAL;
    for (int round = 0; round < 40; round++) {
        assert_int_equal(dn_fedavg_plan_round(&drop, draw, 50, 9, round, a, &slow, &gone), 35);
        assert_int_equal(slow, 15); /* round(0.3 · 50) */
        assert_int_equal(gone, 0);
        assert_int_equal(dn_fedavg_plan_round(&partial, draw, 50, 9, round, b, &slow, NULL), 50);
        for (int i = 0; i < 50; i++) {
            assert_true(a[i] == 0 || a[i] == 4);
            /* the same clients straggle under either policy; a partial one trains 1 … E epochs */
            if (a[i] == 4) assert_int_equal(b[i], 4);
            else assert_true(b[i] >= 1 && b[i] <= 4), seen[b[i]]++;
        }
    }
    print_message("partial stragglers' epochs over 600: 1: %d, 2: %d, 3: %d, 4: %d\n", seen[1], seen[2], seen[3],
                  seen[4]);
    for (int e = 1; e <= 4; e++) assert_true(seen[e] > 100 && seen[e] < 200); /* 150 ± ~4σ */
    /* seeded by (seed, round): the same again, another for another round or seed */
    dn_fedavg_plan_round(&drop, draw, 50, 9, 3, a, NULL, NULL);
    dn_fedavg_plan_round(&drop, draw, 50, 9, 3, b, NULL, NULL);
    assert_memory_equal(a, b, sizeof a);
    dn_fedavg_plan_round(&drop, draw, 50, 9, 4, b, NULL, NULL);
    assert_memory_not_equal(a, b, sizeof a);
    dn_fedavg_plan_round(&drop, draw, 50, 10, 3, b, NULL, NULL);
    assert_memory_not_equal(a, b, sizeof a);
    /* round(P·m) half up, and nobody at P = 0 */
    drop.stragglers = 0.25;
    dn_fedavg_plan_round(&drop, draw, 10, 9, 0, a, &slow, NULL);
    assert_int_equal(slow, 3); /* 2.5 */
    drop.stragglers = 0.04;
    dn_fedavg_plan_round(&drop, draw, 10, 9, 0, a, &slow, NULL);
    assert_int_equal(slow, 0); /* 0.4: no minimum of one */
    drop.stragglers = 0;
    assert_int_equal(dn_fedavg_plan_round(&drop, draw, 50, 9, 0, a, &slow, &gone), 50);
    assert_int_equal(slow + gone, 0);
    for (int i = 0; i < 50; i++) assert_int_equal(a[i], 4);
}

static void test_plan_dropout(void **state)
{
    (void)state;
    size_t draw[100], other[3] = {5, 40, 77}, gone, total = 0;
    int plan[100], mine[3];
    for (size_t i = 0; i < 100; i++) draw[i] = i;
    dn_fedavg_options opt = options(0, DN_STRAGGLER_DROP, 0.25, 2);
    for (int round = 0; round < 400; round++) {
        size_t reporting = dn_fedavg_plan_round(&opt, draw, 100, 3, round, plan, NULL, &gone);
        assert_int_equal(reporting + gone, 100);
        total += gone;
        /* a client's fate is its own: drawn with other clients, the same */
        dn_fedavg_plan_round(&opt, other, 3, 3, round, mine, NULL, NULL);
        for (int i = 0; i < 3; i++) assert_int_equal(mine[i], plan[other[i]]);
    }
    double rate = (double)total / 40000.0;
    print_message("drop-out rate %.4f over 40000 client-rounds at Q = 0.25\n", rate);
    assert_true(fabs(rate - 0.25) < 0.011); /* ~5σ */
    opt.dropout_rate = 1;
    assert_int_equal(dn_fedavg_plan_round(&opt, draw, 100, 3, 0, plan, NULL, &gone), 0);
    assert_int_equal(gone, 100);
}

/* ------------------------------------------------------------------ rounds */

static void three_rounds(dn_mlp *mlp, const dn_dataset *set, const dn_partition *part, const dn_fedavg_options *opt)
{
    dn_error err = {0};
    for (int r = 0; r < 3; r++)
        assert_int_equal(dn_fedavg_clients_round(mlp, set, part, NULL, opt, 0.5, 21, NULL, &err), DN_OK);
}

static void test_zero_is_plain(void **state)
{
    (void)state;
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 6, "shards:2");
    dn_fedavg_options plain = options(0, DN_STRAGGLER_DROP, 0, 2), drop0 = plain, partial0 = plain, some = plain;
    dn_fedavg_options_default(&plain);
    plain.local_epochs = 2;
    partial0.straggler_policy = DN_STRAGGLER_PARTIAL;
    some.dropout_rate = 0.5;
    dn_mlp *a = vclients_network(3, 8, 0), *b = vclients_network(3, 8, 0), *c = vclients_network(3, 8, 0),
           *d = vclients_network(3, 8, 0);
    three_rounds(a, set, part, &plain);
    three_rounds(b, set, part, &drop0);
    three_rounds(c, set, part, &partial0);
    three_rounds(d, set, part, &some);
    vclients_same_params(a, b); /* drop with P = 0 is no stragglers */
    vclients_same_params(a, c);
    size_t n;
    /* n is read only after both calls: an argument list does not order them */
    const float *pa = dn_mlp_params(a, &n), *pd = dn_mlp_params(d, &n);
    assert_memory_not_equal(pa, pd, n * sizeof(float)); /* Q = 0.5 is not */
    dn_mlp_free(a), dn_mlp_free(b), dn_mlp_free(c), dn_mlp_free(d);
    dn_partition_free(part);
    dn_dataset_free(set);
}

/* The samples of the clients whose plan is > 0, as one set (owned). */
static dn_dataset *reporting_union(const dn_dataset *set, const dn_partition *part, const size_t *draw,
                                   const int *plan, size_t m)
{
    dn_dataset *all = calloc(1, sizeof *all);
    uint8_t *images = malloc(set->count * DN_IMAGE_PIXELS), *labels = malloc(set->count);
    assert_true(all && images && labels);
    size_t count = 0;
    dn_error err = {0};
    for (size_t i = 0; i < m; i++) {
        if (plan[i] <= 0) continue;
        dn_dataset *one = dn_partition_client_set(part, set, draw[i], &err);
        assert_non_null(one);
        memcpy(images + count * DN_IMAGE_PIXELS, one->images, one->count * DN_IMAGE_PIXELS);
        memcpy(labels + count, one->labels, one->count);
        count += one->count;
        dn_dataset_free(one);
    }
    *all = (dn_dataset){count, images, labels, 1, NULL};
    return all;
}

static void test_dropped_left_out(void **state)
{
    (void)state;
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 6, "quantity:1");
    size_t largest = 0, draw[6], np;
    for (size_t k = 0; k < 6; k++) largest = fmax(largest, dn_partition_client_size(part, k));
    dn_fedavg_options opt = options(0.5, DN_STRAGGLER_DROP, 0.2, 1);
    int plan[6];
    dn_fedavg_sample_clients(6, 1.0, 5, 0, draw);
    size_t reporting = dn_fedavg_plan_round(&opt, draw, 6, 5, 0, plan, NULL, NULL);
    assert_true(reporting >= 1 && reporting <= 3); /* 3 stragglers dropped, maybe a drop-out too */
    dn_dataset *subset = reporting_union(set, part, draw, plan, 6);
    dn_mlp *fed = vclients_network(3, largest, 1), *whole = vclients_network(3, subset->count, 1);
    dn_error err = {0};
    dn_fedavg_report report;
    assert_int_equal(dn_fedavg_clients_round(fed, set, part, NULL, &opt, 1.0, 5, &report, &err), DN_OK);
    assert_int_equal(report.clients_sampled, 6);
    assert_int_equal(report.clients_reported, reporting);
    assert_int_equal(report.clients_straggling, 3);
    assert_int_equal(report.samples, subset->count);
    assert_int_equal(report.refused, 0);
    dn_mlp_params(fed, &np);
    assert_true(report.bytes_sent == 6 * np * sizeof(float) && report.bytes_received == reporting * np * sizeof(float));
    dn_mlp_zero_grad(whole);
    assert_int_equal(dn_mlp_backprop(whole, subset->images, subset->labels, subset->count, NULL, &err), DN_OK);
    assert_int_equal(dn_mlp_update(whole, dn_mlp_get_options(whole)->lr, &err), DN_OK);
    const float *a = dn_mlp_params(fed, &np), *b = dn_mlp_params(whole, &np);
    double worst = 0;
    for (size_t i = 0; i < np; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        worst = fmax(worst, d);
        assert_true(d <= 1e-6 + 1e-5 * fabs((double)b[i]));
    }
    print_message("%zu of 6 clients reported; FedSGD on their samples: largest |difference| %.3g\n", reporting,
                  worst);
    dn_mlp_free(fed), dn_mlp_free(whole);
    dn_dataset_free(subset);
    dn_partition_free(part);
    dn_dataset_free(set);
}

static void test_partial_epochs(void **state)
{
    (void)state;
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 1, "iid");
    dn_fedavg_options partial = options(1, DN_STRAGGLER_PARTIAL, 0, 3);
    size_t zero = 0;
    int e = 3;
    uint64_t seed = 0;
    while (e == 3) dn_fedavg_plan_round(&partial, &zero, 1, ++seed, 0, &e, NULL, NULL); /* a plan of e < E */
    dn_fedavg_options short_plain = options(0, DN_STRAGGLER_DROP, 0, e), full = options(0, DN_STRAGGLER_DROP, 0, 3);
    dn_mlp *a = vclients_network(3, 8, 1), *b = vclients_network(3, 8, 1), *c = vclients_network(3, 8, 1);
    dn_error err = {0};
    dn_fedavg_report report;
    assert_int_equal(dn_fedavg_clients_round(a, set, part, NULL, &partial, 1, seed, &report, &err), DN_OK);
    assert_true(report.clients_reported == 1 && report.clients_straggling == 1 && !report.refused);
    assert_int_equal(dn_fedavg_clients_round(b, set, part, NULL, &short_plain, 1, seed, NULL, &err), DN_OK);
    assert_int_equal(dn_fedavg_clients_round(c, set, part, NULL, &full, 1, seed, NULL, &err), DN_OK);
    print_message("seed %llu: the straggler trains %d of 3 epochs\n", (unsigned long long)seed, e);
    vclients_same_params(a, b);
    size_t n;
    /* n is read only after both calls: an argument list does not order them */
    const float *pa = dn_mlp_params(a, &n), *pc = dn_mlp_params(c, &n);
    assert_memory_not_equal(pa, pc, n * sizeof(float));
    assert_int_equal(dn_mlp_epochs_done(a), 3); /* the schedule counts the round's E */
    dn_mlp_free(a), dn_mlp_free(b), dn_mlp_free(c);
    dn_partition_free(part);
    dn_dataset_free(set);
}

/* One round that must keep the model: refused, the reason, the counts. */
static void kept_round(dn_fedavg_options *opt, double fraction, const char *reason)
{
    dn_dataset *set = vclients_set();
    dn_partition *part = vclients_partition(set, 6, "iid");
    dn_mlp *mlp = vclients_network(3, 8, 0), *before = vclients_network(3, 8, 0);
    dn_error err = {0};
    dn_fedavg_report report;
    assert_int_equal(dn_fedavg_clients_round(mlp, set, part, NULL, opt, fraction, 4, &report, &err), DN_OK);
    print_message("%s\n", report.reason);
    assert_int_equal(report.refused, 1);
    assert_non_null(strstr(report.reason, reason));
    assert_non_null(strstr(report.reason, "previous model kept"));
    assert_true(report.clients_reported == 0 && report.bytes_received == 0 && report.bytes_sent > 0);
    vclients_same_params(mlp, before);
    assert_int_equal(dn_mlp_epochs_done(mlp), opt->local_epochs); /* the round counts */
    dn_mlp_free(mlp), dn_mlp_free(before);
    dn_partition_free(part);
    dn_dataset_free(set);
}

static void test_nobody_reports(void **state)
{
    (void)state;
    dn_fedavg_options opt = options(0, DN_STRAGGLER_DROP, 1, 1);
    kept_round(&opt, 0.5, "no client reported (all 3 sampled dropped out)");
    opt = options(1, DN_STRAGGLER_DROP, 0, 2);
    opt.server = DN_FEDAVG_SERVER_MOMENTUM, opt.server_momentum = 0.9;
    kept_round(&opt, 1, "no client reported (of 6 sampled, 0 dropped out and 6 stragglers were dropped)");
    /* Krum with f = 0 needs 3 models: 6 drawn, 4 dropped */
    opt = options(4.0 / 6, DN_STRAGGLER_DROP, 0, 1);
    opt.aggregate.rule = DN_AGG_KRUM, opt.aggregate.faulty = 0;
    kept_round(&opt, 1, "2 clients reported, too few for krum");
}

static void test_refusals_and_description(void **state)
{
    (void)state;
    dn_error err = {0};
    const double bad[] = {-0.1, 1.5, NAN};
    for (int i = 0; i < 3; i++) {
        dn_fedavg_options opt = options(bad[i], DN_STRAGGLER_DROP, 0, 1);
        assert_int_equal(dn_fedavg_options_check(&opt, &err), DN_ERR_USAGE);
        assert_non_null(strstr(err.message, "stragglers"));
        opt = options(0, DN_STRAGGLER_DROP, bad[i], 1);
        assert_int_equal(dn_fedavg_options_check(&opt, &err), DN_ERR_USAGE);
        assert_non_null(strstr(err.message, "dropout"));
    }
    dn_fedavg_options opt = options(0.5, (dn_straggler_policy)7, 0, 1);
    assert_int_equal(dn_fedavg_options_check(&opt, &err), DN_ERR_USAGE);
    assert_string_equal(dn_straggler_policy_name((dn_straggler_policy)7), "?");
    assert_string_equal(dn_straggler_policy_choices()[1], "partial");
    /* one client per rank has no stragglers to plan */
    dn_dataset *set = vclients_set();
    dn_mlp *mlp = vclients_network(3, 8, 0);
    dn_comm *one = dn_comm_local(&err);
    assert_non_null(one);
    opt = options(0, DN_STRAGGLER_DROP, 0.1, 1);
    assert_int_equal(dn_fedavg_round(mlp, set, one, &opt, NULL, NULL, &err), DN_ERR_USAGE);
    dn_comm_free(one);
    assert_non_null(strstr(err.message, "virtual clients"));
    assert_int_equal(dn_mlp_epochs_done(mlp), 0);
    /* what a checkpoint's job description records, so a resume with others is refused */
    char text[128];
    opt = options(0.5, DN_STRAGGLER_PARTIAL, 0.1, 1);
    dn_fedavg_options_describe(&opt, text, sizeof text);
    assert_string_equal(text, " stragglers:0.5:partial dropout:0.1");
    opt = options(0, DN_STRAGGLER_PARTIAL, 0, 1);
    dn_fedavg_options_describe(&opt, text, sizeof text);
    assert_string_equal(text, "");
    dn_mlp_free(mlp);
    dn_dataset_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_stragglers),       cmocka_unit_test(test_plan_dropout),
        cmocka_unit_test(test_zero_is_plain),         cmocka_unit_test(test_dropped_left_out),
        cmocka_unit_test(test_partial_epochs),        cmocka_unit_test(test_nobody_reports),
        cmocka_unit_test(test_refusals_and_description),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
