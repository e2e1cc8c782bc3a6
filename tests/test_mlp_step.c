/* test_mlp_step.c — the two implementations of one MLP training step agree:
 * the fused, threaded step of dn_mlp_train_epoch, and the public
 * dn_mlp_zero_grad → dn_mlp_backprop → dn_mlp_update driven by hand over the
 * same sample order (dn_mlp_epoch_order_) at the same scheduled learning
 * rate; and dn_mlp_sync_epoch on dn_comm_local, the trainer built on the
 * second. Every hidden activation, loss and matmul, SGD with and without
 * momentum and Adam, weight decay off and on, 1 and 2 threads; two epochs
 * each, so the optimiser state and the schedule carry over an epoch.
 *
 * Tolerance. With one thread, or with the plain-C products (one sum per
 * element however the work is split), both paths do the same arithmetic:
 * parameters bit for bit, accuracy exact, and the epoch loss within 1e-12
 * relative — the one place the sums differ: the epoch adds each batch's loss
 * sum, the hand path gets the batch mean (sum / B) and multiplies it back,
 * a rounding or two of a double per batch. With 2 threads and BLAS the epoch
 * splits each product by columns over the threads while backprop hands the
 * whole product to OpenBLAS (the faster way for one thread and for the ranks
 * of a job), which rounds the two differently: the parameters then agree
 * within ‖a − b‖ ≤ 1e-5 ‖a‖ (measured: 4e-7 after an epoch of Adam, which
 * turns near-zero gradients into full steps), the loss within the same.
 * Small batches of plain SGD with BLAS (B ≤ DN_MLP_SMALL_BATCH_THREADED,
 * or ≤ DN_MLP_SMALL_BATCH_MAX on one thread; no momentum, no decay) take
 * the epoch's small-batch step (mlp_small.c), whose hand-written sums skip
 * zeros and run in their own order, with FMAs: the same 1e-5 then, at any
 * thread count. Other SGD with BLAS (momentum, weight decay) runs layer 0
 * on W_0ᵀ (mlp_input_t.c), whose gradient sums skip the samples without ink
 * at a pixel, also with FMAs: the same 1e-5 there, at any thread count.
 * Batches of 16 and, for plain SGD, of 10 (the FedAvg client's B) are run. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
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
#include "mlp_internal.h" /* dn_mlp_epoch_order_ */

#define COUNT 40 /* batches of 16: the last one has 8 samples */
#define EPOCHS 2
#define LOSS_RTOL 1e-12
#define ROUNDING_RTOL 1e-5 /* threads with BLAS: see check_config */

typedef dn_test_fixture fixture;

/* About one pixel in 40 lit: a batch uses ~300 of the 784 pixels, so the
 * BLAS path compacts layer 0 (as on MNIST). */
static int setup(void **state) { return dn_test_fixture_setup(state, COUNT, 11, 40, "dn_mlpstep"); }

static int teardown(void **state) { return dn_test_fixture_free(*state); }

typedef struct config {
    dn_activation act;
    dn_loss loss;
    int optim; /* 0 SGD, 1 SGD with momentum, 2 Adam */
    double weight_decay;
    int threads;
    dn_matmul matmul;
    size_t batch;
} config;

static const char *optim_name(int optim) { return optim == 0 ? "sgd" : optim == 1 ? "momentum" : "adam"; }

static void describe(const config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/%s/wd=%g/threads=%d/%s/batch=%zu", dn_activation_name(c->act), dn_loss_name(c->loss),
             optim_name(c->optim), c->weight_decay, c->threads, dn_matmul_name(c->matmul), c->batch);
}

/* Hidden widths 40 and 36 (200 and 72 at batch 10): with 2 threads each layer splits 16 + the rest
 * (slices end on multiples of 16), and the hidden-to-hidden layer runs the
 * threaded hidden_backward. */
static dn_mlp *network(const config *c)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    dn_error err = {0};
    /* batch 10 also runs the small-batch step's 200-column passes (AVX-512; the
     * 2NN's width) and its 64-column blocks (72 = 64 + 8) */
    assert_int_equal(dn_mlp_parse_hidden(c->batch == 10 ? "200,72" : "40,36", &o, &err), DN_OK);
    o.activation = c->act;
    o.loss = c->loss;
    o.init = c->act == DN_ACT_RELU ? DN_INIT_HE : DN_INIT_XAVIER;
    o.seed = 7;
    o.epochs = EPOCHS; /* the cosine schedule (default) changes the rate every batch */
    o.batch = c->batch;
    o.optimizer = c->optim == 2 ? DN_OPTIMIZER_ADAM : DN_OPTIMIZER_SGD;
    o.lr = c->optim == 2 ? 0.005 : 0.05;
    o.momentum = c->optim == 1 ? 0.9 : 0.0;
    o.weight_decay = c->weight_decay;
    o.threads = c->threads;
    o.matmul = c->matmul;
    assert_int_equal(dn_mlp_options_check(&o, &err), DN_OK);
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    assert_non_null(mlp);
    return mlp;
}

/* One epoch of zero_grad → backprop → update, in dn_mlp_train_epoch's order
 * and batches; the report's loss and accuracy as dn_mlp_train_epoch sums them. */
static void epoch_by_hand(dn_mlp *mlp, const dn_dataset *set, int epoch, dn_mlp_epoch_report *report)
{
    const dn_mlp_options *o = dn_mlp_get_options(mlp);
    const size_t n = set->count, nbatches = (n + o->batch - 1) / o->batch;
    uint32_t order[COUNT];
    uint8_t images[16 * DN_IMAGE_PIXELS], labels[16];
    assert_true(n <= COUNT && o->batch <= 16);
    dn_mlp_epoch_order_(o->seed, epoch, order, n);
    double loss_sum = 0, lr = 0;
    size_t correct = 0;
    for (size_t i = 0; i < nbatches; i++) {
        size_t first = i * o->batch, B = n - first < o->batch ? n - first : o->batch;
        for (size_t b = 0; b < B; b++) {
            memcpy(images + b * DN_IMAGE_PIXELS, set->images + order[first + b] * DN_IMAGE_PIXELS, DN_IMAGE_PIXELS);
            labels[b] = set->labels[order[first + b]];
        }
        dn_error err = {0};
        dn_mlp_batch_stats stats;
        lr = dn_mlp_scheduled_lr(o, epoch + (double)i / (double)nbatches);
        dn_mlp_zero_grad(mlp);
        assert_int_equal(dn_mlp_backprop(mlp, images, labels, B, &stats, &err), DN_OK);
        assert_int_equal(dn_mlp_update(mlp, lr, &err), DN_OK);
        loss_sum += stats.loss * (double)B;
        correct += stats.correct;
    }
    *report = (dn_mlp_epoch_report){epoch, n, loss_sum / (double)n, (double)correct / (double)n, lr, 0, 0};
}

/* mb's parameters against ma's (dn_mlp_train_epoch's): bit for bit when
 * rtol is 0, else ‖a − b‖ ≤ rtol · ‖a‖ over all of them (Adam turns a
 * gradient that rounding moves near zero into a full step of either sign,
 * so single weights may differ by up to lr where the whole does not). */
static void assert_same_params(const char *name, const char *path, int e, dn_mlp *ma, dn_mlp *mb, double rtol)
{
    size_t n, nb;
    const float *p = dn_mlp_params(ma, &n), *q = dn_mlp_params(mb, &nb);
    assert_int_equal(n, nb);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        if (rtol == 0 && memcmp(&p[i], &q[i], sizeof *p))
            fail_msg("%s, epoch %d: parameter %zu of %zu is %.9g (train_epoch) vs %.9g (%s)", name, e, i, n, p[i],
                     q[i], path);
        diff += ((double)p[i] - q[i]) * ((double)p[i] - q[i]);
        norm += (double)p[i] * p[i];
    }
    if (sqrt(diff) > rtol * sqrt(norm))
        fail_msg("%s, epoch %d: parameters %.3g apart relative to their norm (%s; allowed %.0e)", name, e,
                 sqrt(diff / norm), path, rtol);
}

/* b's report against a's (dn_mlp_train_epoch's); the loss within loss_rtol. */
static void assert_same_report(const char *name, const char *path, int e, const dn_mlp_epoch_report *a,
                               const dn_mlp_epoch_report *b, double loss_rtol)
{
    if (fabs(a->train_loss - b->train_loss) > loss_rtol * fabs(a->train_loss))
        fail_msg("%s, epoch %d: loss %.17g (train_epoch) vs %.17g (%s)", name, e, a->train_loss, b->train_loss, path);
    if (a->lr != b->lr || a->samples != b->samples)
        fail_msg("%s, epoch %d: lr %g vs %g, samples %zu vs %zu (%s)", name, e, a->lr, b->lr, a->samples, b->samples,
                 path);
}

/* Whether dn_mlp_train_epoch takes the small-batch SGD step (mlp_train.c). */
static int small_step(const config *c)
{
    size_t most = c->threads == 1 ? DN_MLP_SMALL_BATCH_MAX : DN_MLP_SMALL_BATCH_THREADED;
    return c->matmul == DN_MATMUL_BLAS && c->optim == 0 && c->weight_decay == 0 && c->batch <= most;
}

/* Whether it takes the threaded step with layer 0 on W_0ᵀ (SGD with BLAS, the rest). */
static int input_t_step(const config *c) { return c->matmul == DN_MATMUL_BLAS && c->optim != 2 && !small_step(c); }

static void check_config(const fixture *f, dn_comm *local, const config *c)
{
    char name[96];
    describe(c, name, sizeof name);
    dn_mlp *fused = network(c), *hand = network(c), *sync = network(c);
    assert_same_params(name, "dn_mlp_create", -1, fused, hand, 0); /* same seed, same start */
    /* One thread, or plain C products (a sum per element, however split):
     * the same arithmetic. Threads with BLAS: the epoch splits each product by
     * columns over the threads, backprop hands the whole product to OpenBLAS,
     * which rounds the two differently. */
    const int exact = (c->threads == 1 || c->matmul == DN_MATMUL_PLAIN) && !small_step(c) && !input_t_step(c);
    for (int e = 0; e < EPOCHS; e++) {
        dn_mlp_epoch_report a, b, s;
        dn_error err = {0};
        assert_int_equal(dn_mlp_train_epoch(fused, &f->set, &a, &err), DN_OK);
        epoch_by_hand(hand, &f->set, e, &b);
        assert_int_equal(dn_mlp_sync_epoch(sync, &f->set, local, 1, &s, &err), DN_OK);
        assert_same_report(name, "backprop", e, &a, &b, exact ? LOSS_RTOL : ROUNDING_RTOL);
        assert_same_report(name, "sync_epoch", e, &a, &s, exact ? LOSS_RTOL : ROUNDING_RTOL);
        if (exact) { /* counts: exact; with rounding apart a sample may tip */
            assert_true(a.train_accuracy == b.train_accuracy && a.train_accuracy == s.train_accuracy);
        }
        assert_same_params(name, "backprop", e, fused, hand, exact ? 0 : ROUNDING_RTOL);
        assert_same_params(name, "sync_epoch", e, fused, sync, exact ? 0 : ROUNDING_RTOL);
    }
    dn_mlp_free(fused);
    dn_mlp_free(hand);
    dn_mlp_free(sync);
}

static size_t count_of(const char *const *names)
{
    size_t k = 0;
    while (names[k]) k++;
    return k;
}

static void test_step_paths_agree(void **state)
{
    const fixture *f = *state;
    dn_error err = {0};
    dn_comm *local = dn_comm_local(&err);
    assert_non_null(local);
    size_t acts = count_of(dn_activation_choices()), losses = count_of(dn_loss_choices()),
           matmuls = count_of(dn_matmul_choices());
    for (size_t a = 0; a < acts; a++)
        for (size_t l = 0; l < losses; l++)
            for (int optim = 0; optim < 3; optim++)
                for (int wd = 0; wd < 2; wd++)
                    for (int threads = 1; threads <= 2; threads++)
                        for (size_t m = 0; m < matmuls; m++)
                            for (size_t batch = 16; batch >= 10; batch -= 6) {
                                if (batch == 10 && optim != 0) continue; /* B = 10: the FedAvg client's SGD */
                                config c = {(dn_activation)a, (dn_loss)l, optim, wd ? 1e-2 : 0.0, threads,
                                            (dn_matmul)m, batch};
                                check_config(f, local, &c);
                            }
    dn_comm_free(local);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_step_paths_agree, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
