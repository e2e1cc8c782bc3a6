/* test_mlp_regularise.c — dropout, max-norm, label smoothing, the EMA of the
 * weights and model selection against their definitions (digitnet.h,
 * "Regularisation" and "Model selection"). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, for lib/synthetic.h */
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
#include "mlp_internal.h"
#include "lib/synthetic.h"

/* ---------------------------------------------------------------- helpers */

static dn_mlp_options options_for(const char *hidden, dn_activation act, uint64_t seed)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    assert_int_equal(dn_mlp_parse_hidden(hidden, &opt, NULL), DN_OK);
    opt.activation = act;
    opt.init = act == DN_ACT_RELU ? DN_INIT_HE : DN_INIT_XAVIER;
    opt.seed = seed;
    opt.threads = 1;
    return opt;
}

static dn_mlp *create(const dn_mlp_options *opt)
{
    dn_error err;
    dn_mlp *mlp = dn_mlp_create(opt, &err);
    if (!mlp) fail_msg("%s", err.message);
    return mlp;
}


static dn_dataset *random_set(size_t count, uint64_t seed)
{
    dn_dataset *set = calloc(1, sizeof *set);
    set->count = count;
    set->images = calloc(count, DN_IMAGE_PIXELS);
    set->labels = calloc(count, 1);
    set->owns_buffers = 1;
    dn_test_random_images(set->images, set->labels, count, 80, seed);
    return set;
}

static dn_dataset *two_class_set(size_t count, uint64_t seed) { return dn_test_two_class_set(count, seed, 0); }

static double row_norm(const float *w, size_t n)
{
    double sq = 0;
    for (size_t i = 0; i < n; i++) sq += (double)w[i] * w[i];
    return sqrt(sq);
}

/* ---------------------------------------------------------------- dropout */

/* Evaluation never drops: forward (every layer), classify and evaluate of
 * a network with dropout equal, bit for bit, those of the same weights
 * without it — also after a training step has drawn masks. */
static void test_dropout_is_identity_at_evaluation(void **state)
{
    (void)state;
    enum { COUNT = 50 };
    dn_dataset *set = random_set(COUNT, 3);
    dn_mlp_options plain = options_for("32,16", DN_ACT_RELU, 7), dropped = plain;
    dropped.dropout_input = 0.3, dropped.dropout_hidden = 0.5;
    dn_mlp *a = create(&plain), *b = create(&dropped);
    assert_int_equal(dn_mlp_backprop(b, set->images, set->labels, COUNT, NULL, NULL), DN_OK); /* masks drawn */
    for (int k = 0; k < dn_mlp_layer_count(a); k++) {
        size_t width = dn_mlp_layer_outputs(a, k);
        float *oa = malloc(COUNT * width * sizeof *oa), *ob = malloc(COUNT * width * sizeof *ob);
        assert_int_equal(dn_mlp_forward(a, set->images, COUNT, k, oa, NULL), DN_OK);
        assert_int_equal(dn_mlp_forward(b, set->images, COUNT, k, ob, NULL), DN_OK);
        assert_memory_equal(oa, ob, COUNT * width * sizeof *oa);
        free(oa), free(ob);
    }
    dn_mlp_eval ea, eb;
    assert_int_equal(dn_mlp_evaluate(a, set, &ea, NULL), DN_OK);
    assert_int_equal(dn_mlp_evaluate(b, set, &eb, NULL), DN_OK);
    assert_true(ea.loss == eb.loss && ea.correct == eb.correct);
    dn_mlp_free(a), dn_mlp_free(b);
    dn_dataset_free(set);
}

/* Over N = 1000 samples × 500 units of a layer, the kept fraction lies
 * within 3σ of q = 1 − p (σ = √(N p q) kept units), and the mean of the
 * dropped activations ã = m a / q, for activations a uniform in [0, 1),
 * is the mean of a within 3 standard errors: E[ã] = a. Also: a row drawn
 * in two pieces (as two threads draw it) gets the same masks. */
static void test_dropout_keeps_fraction_and_mean(void **state)
{
    (void)state;
    enum { SAMPLES = 1000, UNITS = 500 };
    const double ps[] = {0.2, 0.5};
    for (size_t t = 0; t < 2; t++) {
        const double p = ps[t], q = 1 - p, N = (double)SAMPLES * UNITS;
        const uint32_t keep = dn_dropout_keep_(p);
        const float scale = (float)(1 / q);
        dn_rng rng;
        dn_rng_seed(&rng, 11);
        double kept = 0, sum_a = 0, sum_dropped = 0, sum_sq = 0;
        float a[UNITS], whole[UNITS], mask[UNITS], split[UNITS];
        for (size_t s = 0; s < SAMPLES; s++) {
            for (size_t o = 0; o < UNITS; o++) a[o] = (float)dn_rng_uniform(&rng);
            memcpy(whole, a, sizeof a);
            memcpy(split, a, sizeof a);
            uint64_t key = dn_dropout_key_(5, 2, s, 1);
            dn_dropout_row_(whole, mask, UNITS, 0, key, keep, scale);
            dn_dropout_row_(split, NULL, 160, 0, key, keep, scale);            /* thread 0's units */
            dn_dropout_row_(split + 160, NULL, UNITS - 160, 160, key, keep, scale); /* thread 1's */
            assert_memory_equal(whole, split, sizeof whole);
            for (size_t o = 0; o < UNITS; o++) {
                kept += mask[o] != 0;
                sum_a += a[o], sum_dropped += whole[o], sum_sq += (double)whole[o] * whole[o];
            }
        }
        double sigma = sqrt(N * p * q);
        if (fabs(kept - N * q) > 3 * sigma)
            fail_msg("p %g: kept %.0f of %.0f, expected %.0f ± %.0f", p, kept, N, N * q, 3 * sigma);
        double mean_a = sum_a / N, mean_d = sum_dropped / N;
        double se = sqrt((sum_sq / N - mean_d * mean_d) / N); /* the standard error of mean_d */
        if (fabs(mean_d - mean_a) > 3 * se)
            fail_msg("p %g: mean activation %.5f after dropout, %.5f before (tolerance 3 se = %.5f)", p, mean_d,
                     mean_a, 3 * se);
        print_message("dropout p %.1f: kept %.4f (q %.1f, 3 sigma %.4f), mean %.5f -> %.5f (3 se %.5f)\n", p,
                      kept / N, q, 3 * sigma / N, mean_a, mean_d, 3 * se);
    }
}

/* The masks do not depend on the thread count: an epoch with dropout on
 * two threads ends with the weights of one thread, up to the float
 * rounding that OpenBLAS's column split brings (another mask would move
 * many weights by whole learning-rate steps). */
static void test_dropout_same_masks_any_thread_count(void **state)
{
    (void)state;
    dn_dataset *set = random_set(256, 4);
    dn_mlp_options o = options_for("64,32", DN_ACT_RELU, 9);
    o.dropout_input = 0.2, o.dropout_hidden = 0.5, o.batch = 64, o.epochs = 1;
    dn_mlp *one = create(&o);
    o.threads = 2;
    dn_mlp *two = create(&o);
    assert_int_equal(dn_mlp_train_epoch(one, set, NULL, NULL), DN_OK);
    assert_int_equal(dn_mlp_train_epoch(two, set, NULL, NULL), DN_OK);
    size_t np;
    const float *p1 = dn_mlp_params(one, &np), *p2 = dn_mlp_params(two, NULL);
    double diff = 0;
    for (size_t i = 0; i < np; i++) diff = fmax(diff, fabs((double)p1[i] - p2[i]));
    if (diff > 1e-4) fail_msg("one thread and two differ by %g", diff);
    dn_mlp_free(one), dn_mlp_free(two);
    dn_dataset_free(set);
}

/* ---------------------------------------------------------------- gradients */

/* A forward pass in double from the header's math, with the masks that
 * dn_mlp_backprop draws (keys: epoch 0, the sample's index in the call)
 * and the smoothed target; mean loss over count samples. */
typedef struct ref_net {
    int L;
    size_t width[DN_MLP_MAX_LAYERS + 1];
    dn_activation hidden;
    uint64_t seed;
    double p_in, p_hid, eps;
} ref_net;

static double ref_act(dn_activation a, double z)
{
    return a == DN_ACT_SIGMOID ? 1 / (1 + exp(-z)) : a == DN_ACT_TANH ? tanh(z) : z > 0 ? z : 0;
}

static double ref_mask(const ref_net *n, size_t sample, int layer, size_t unit)
{
    double p = layer == 0 ? n->p_in : n->p_hid;
    if (!(p > 0)) return 1;
    uint64_t key = dn_dropout_key_(n->seed, 0, sample, layer);
    return dn_dropout_mask_(key, unit, dn_dropout_keep_(p), (float)(1 / (1 - p)));
}

static double ref_loss(const ref_net *n, const double *p, const uint8_t *images, const uint8_t *labels, size_t count)
{
    double a[2][64], x[DN_IMAGE_PIXELS], total = 0;
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < DN_IMAGE_PIXELS; k++)
            x[k] = (double)((float)images[i * DN_IMAGE_PIXELS + k] / 255.0f) * ref_mask(n, i, 0, k);
        const double *w = p, *in = x;
        int cur = 0;
        for (int k = 0; k < n->L; k++) {
            size_t nin = n->width[k], nout = n->width[k + 1];
            const double *b = w + nin * nout;
            int last = k == n->L - 1;
            for (size_t o = 0; o < nout; o++) {
                double z = b[o];
                for (size_t c = 0; c < nin; c++) z += w[o * nin + c] * in[c];
                a[cur][o] = last ? z : ref_act(n->hidden, z) * ref_mask(n, i, k + 1, o);
            }
            in = a[cur];
            cur = 1 - cur;
            w = b + nout;
        }
        double max = in[0], sum = 0;
        for (int j = 1; j < DN_CLASSES; j++) max = fmax(max, in[j]);
        for (int j = 0; j < DN_CLASSES; j++) sum += exp(in[j] - max);
        for (int j = 0; j < DN_CLASSES; j++) { /* −Σ_j t_j log p_j, t = (1 − ε) d + ε / 10 */
            double t = (j == labels[i] ? 1 - n->eps : 0) + n->eps / DN_CLASSES;
            total -= t * (in[j] - max - log(sum));
        }
    }
    return total / (double)count;
}

/* Central differences (h = 1e-6, in double) of the reference loss with the
 * same fixed masks, against dn_mlp_backprop on every parameter; tolerance
 * 3e-5 + 1e-3 |numeric| for the float arithmetic (as test_mlp.c). */
static void gradient_check(dn_activation act, double p_in, double p_hid, double eps)
{
    enum { COUNT = 4, INK = 60 };
    uint8_t images[COUNT * DN_IMAGE_PIXELS], labels[COUNT];
    dn_test_random_images(images, labels, COUNT, INK, 99);
    dn_mlp_options o = options_for("6,5", act, 5);
    o.dropout_input = p_in, o.dropout_hidden = p_hid, o.label_smoothing = eps;
    dn_mlp *mlp = create(&o);
    size_t np = 0;
    float *params = dn_mlp_params(mlp, &np);
    dn_rng rng;
    dn_rng_seed(&rng, 17);
    for (int k = 0; k < dn_mlp_layer_count(mlp); k++)
        for (size_t u = 0; u < dn_mlp_layer_outputs(mlp, k); u++)
            ((float *)dn_mlp_bias(mlp, k))[u] = (float)(0.2 * (dn_rng_uniform(&rng) - 0.5));
    dn_mlp_batch_stats stats, again;
    dn_mlp_zero_grad(mlp);
    assert_int_equal(dn_mlp_backprop(mlp, images, labels, COUNT, &stats, NULL), DN_OK);
    dn_mlp_backprop(mlp, images, labels, COUNT, &again, NULL); /* the same call drops the same units */
    assert_true(stats.loss == again.loss);
    dn_mlp_zero_grad(mlp);
    dn_mlp_backprop(mlp, images, labels, COUNT, NULL, NULL);
    const float *grads = dn_mlp_grads(mlp, NULL);
    ref_net net = {dn_mlp_layer_count(mlp), {0}, act, o.seed, p_in, p_hid, eps};
    for (int k = 0; k < net.L; k++) net.width[k] = dn_mlp_layer_inputs(mlp, k);
    net.width[net.L] = DN_CLASSES;
    double *p = calloc(np, sizeof *p);
    for (size_t i = 0; i < np; i++) p[i] = params[i];
    double loss0 = ref_loss(&net, p, images, labels, COUNT);
    if (fabs(loss0 - stats.loss) > 1e-5 * fmax(1, loss0)) fail_msg("loss %.9g, reference %.9g", stats.loss, loss0);
    const double h = 1e-6;
    double max_numeric = 0, max_err = 0;
    size_t dropped_zero = 0;
    for (size_t i = 0; i < np; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double up = ref_loss(&net, p, images, labels, COUNT);
        p[i] = keep - h;
        double down = ref_loss(&net, p, images, labels, COUNT);
        p[i] = keep;
        double numeric = (up - down) / (2 * h), diff = fabs(numeric - grads[i]);
        if (diff > 3e-5 + 1e-3 * fabs(numeric))
            fail_msg("%s p %g,%g eps %g: parameter %zu: backprop %.8g, central difference %.8g",
                     dn_activation_name(act), p_in, p_hid, eps, i, (double)grads[i], numeric);
        max_numeric = fmax(max_numeric, fabs(numeric));
        max_err = fmax(max_err, diff);
        dropped_zero += numeric == 0 && grads[i] == 0;
    }
    assert_true(max_numeric > 1e-2); /* real signal, not a vacuous pass */
    /* with hidden dropout whole units are cut off: their weights get no gradient */
    if (p_hid > 0) assert_true(dropped_zero > 0);
    print_message("gradient check %-7s dropout %.1f,%.1f smoothing %.1f: max |grad| %.3g, max error %.2g\n",
                  dn_activation_name(act), p_in, p_hid, eps, max_numeric, max_err);
    free(p);
    dn_mlp_free(mlp);
}

static void test_gradients_with_fixed_dropout_mask(void **state)
{
    (void)state;
    gradient_check(DN_ACT_RELU, 0.3, 0.4, 0);
    gradient_check(DN_ACT_TANH, 0.3, 0.4, 0);
    gradient_check(DN_ACT_SIGMOID, 0.0, 0.5, 0);
}

static void test_gradients_with_label_smoothing(void **state)
{
    (void)state;
    gradient_check(DN_ACT_RELU, 0, 0, 0.1);
    gradient_check(DN_ACT_TANH, 0.2, 0.3, 0.2);
}

/* ε = 0 is plain cross-entropy bit for bit; ε > 0 is (1 − ε) CE + ε · the
 * mean over classes of −log p_j, and its gradient p − t sums to 0. */
static void test_label_smoothing_formula(void **state)
{
    (void)state;
    enum { B = 3, V = DN_CLASSES };
    float logits[B * V], a[B * V], b[B * V], ga[B * V], gb[B * V];
    uint8_t labels[B] = {0, 4, 9};
    for (int i = 0; i < B * V; i++) logits[i] = (float)sin(1.7 * i) * 3;
    memcpy(a, logits, sizeof a), memcpy(b, logits, sizeof b);
    double la = dn_softmax_ce(a, ga, labels, B, V, NULL), lb = dn_softmax_ce_smooth(b, gb, labels, B, V, NULL, 0.0f);
    assert_true(la == lb);
    assert_memory_equal(ga, gb, sizeof ga);
    const float eps = 0.1f;
    memcpy(b, logits, sizeof b);
    double ls = dn_softmax_ce_smooth(b, gb, labels, B, V, NULL, eps), expect = 0;
    for (int s = 0; s < B; s++) {
        double mean_nll = 0;
        for (int j = 0; j < V; j++) mean_nll += -log((double)a[s * V + j]) / V;
        expect += (1 - eps) * -log((double)a[s * V + labels[s]]) + eps * mean_nll;
        double gsum = 0;
        for (int j = 0; j < V; j++) gsum += gb[s * V + j];
        assert_true(fabs(gsum) < 1e-6);
    }
    if (fabs(ls - expect) > 1e-5 * expect) fail_msg("smoothed loss %.9g, expected %.9g", ls, expect);
}

/* ---------------------------------------------------------------- max-norm */

/* After a step, no row of any W_k is longer than C (+1e-6); rows shorter
 * than C are left exactly as the step made them, and the biases (not part
 * of a row) are never scaled. A step with a zero gradient leaves every
 * weight as it was but for the max-norm, so the rows can be checked alone. */
static void test_max_norm_caps_rows(void **state)
{
    (void)state;
    dn_mlp_options o = options_for("8", DN_ACT_RELU, 3);
    o.max_norm = 1.0, o.momentum = 0;
    dn_mlp *mlp = create(&o);
    size_t np;
    float *params = dn_mlp_params(mlp, &np);
    float *before = malloc(np * sizeof *before);
    for (int k = 0; k < 2; k++) { /* rows alternately of norm 3 and 0.5; biases 10 */
        size_t C = dn_mlp_layer_inputs(mlp, k);
        float *w = (float *)dn_mlp_weights(mlp, k), *b = (float *)dn_mlp_bias(mlp, k);
        for (size_t u = 0; u < dn_mlp_layer_outputs(mlp, k); u++) {
            double n = row_norm(w + u * C, C), want = u % 2 ? 0.5 : 3.0;
            for (size_t c = 0; c < C; c++) w[u * C + c] = (float)(w[u * C + c] * want / n);
            b[u] = 10;
        }
    }
    memcpy(before, params, np * sizeof *before);
    dn_mlp_zero_grad(mlp);
    assert_int_equal(dn_mlp_update(mlp, 0.1, NULL), DN_OK);
    for (int k = 0; k < 2; k++) {
        size_t C = dn_mlp_layer_inputs(mlp, k), at = (size_t)(dn_mlp_weights(mlp, k) - params);
        const float *w = dn_mlp_weights(mlp, k), *b = dn_mlp_bias(mlp, k);
        for (size_t u = 0; u < dn_mlp_layer_outputs(mlp, k); u++) {
            double n = row_norm(w + u * C, C);
            assert_true(n <= 1.0 + 1e-6);
            if (u % 2) assert_memory_equal(w + u * C, before + at + u * C, C * sizeof *w); /* under C: unchanged */
            else assert_true(n > 1.0 - 1e-6);                                               /* over C: scaled to C */
            assert_true(b[u] == 10.0f);
        }
    }
    free(before);
    dn_mlp_free(mlp);
}

/* The same through training epochs on two threads: after each, every row's
 * norm is at most C + 1e-6 while without the constraint some row grows
 * beyond C (so the check is not vacuous). */
static void test_max_norm_holds_in_training(void **state)
{
    (void)state;
    dn_dataset *set = random_set(256, 8);
    for (int on = 0; on < 2; on++) {
        dn_mlp_options o = options_for("32,16", DN_ACT_RELU, 4);
        o.max_norm = on ? 0.6 : 0, o.threads = 2, o.batch = 32, o.lr = 0.2;
        dn_mlp *mlp = create(&o);
        double most = 0;
        for (int e = 0; e < 2; e++) {
            assert_int_equal(dn_mlp_train_epoch(mlp, set, NULL, NULL), DN_OK);
            for (int k = 0; k < dn_mlp_layer_count(mlp); k++) {
                size_t C = dn_mlp_layer_inputs(mlp, k);
                for (size_t u = 0; u < dn_mlp_layer_outputs(mlp, k); u++)
                    most = fmax(most, row_norm(dn_mlp_weights(mlp, k) + u * C, C));
            }
        }
        if (on) assert_true(most <= 0.6 + 1e-6);
        else assert_true(most > 0.6);
        dn_mlp_free(mlp);
    }
    dn_dataset_free(set);
}

/* ---------------------------------------------------------------- EMA */

/* By hand, on 784-10 with SGD (lr 1, no momentum), decay 0.5, every
 * parameter 1 and a gradient of 0.5 then 0.25:
 *   θ₁ = 0.5, θ̄₁ = 0.5 · 1 + 0.5 · 0.5 = 0.75;  θ₂ = 0.25, θ̄₂ = 0.5 · 0.75 + 0.5 · 0.25 = 0.5
 * (every value exact in float). Evaluation and the saved model use θ̄. */
static void test_ema_two_steps_by_hand(void **state)
{
    (void)state;
    dn_mlp_options o = options_for("", DN_ACT_RELU, 1);
    o.ema = 0.5, o.momentum = 0;
    dn_mlp *mlp = create(&o);
    size_t np;
    float *p = dn_mlp_params(mlp, &np), *g = dn_mlp_grads(mlp, NULL);
    assert_ptr_equal(dn_mlp_eval_params(mlp), p); /* before any step: the weights themselves */
    const float grad[2] = {0.5f, 0.25f}, theta[2] = {0.5f, 0.25f}, shadow[2] = {0.75f, 0.5f};
    for (size_t i = 0; i < np; i++) p[i] = 1;
    for (int step = 0; step < 2; step++) {
        for (size_t i = 0; i < np; i++) g[i] = grad[step];
        assert_int_equal(dn_mlp_update(mlp, 1.0, NULL), DN_OK);
        const float *e = dn_mlp_eval_params(mlp);
        for (size_t i = 0; i < np; i++)
            if (p[i] != theta[step] || e[i] != shadow[step])
                fail_msg("step %d, parameter %zu: θ %g θ̄ %g, expected %g %g", step + 1, i, p[i], e[i], theta[step],
                         shadow[step]);
    }
    dn_model *model = dn_model_from_mlp(mlp, 0, NULL);
    assert_non_null(model);
    size_t nsaved;
    const float *saved = dn_mlp_params((dn_mlp *)dn_model_get_mlp(model), &nsaved);
    assert_int_equal(nsaved, np);
    for (size_t i = 0; i < np; i++) assert_true(saved[i] == 0.5f);
    dn_model_free(model);
    dn_mlp_free(mlp);
}

/* Decay 0: the shadow follows the weights exactly (θ̄ ← 0 · θ̄ + 1 · θ), so
 * after training epochs it equals them bit for bit and evaluation matches
 * a network without EMA. The shadow is made live with a decay > 0 and the
 * decay then set to 0 (a decay of 0 in the options means "no EMA"). */
static void test_ema_decay_zero_equals_weights(void **state)
{
    (void)state;
    dn_dataset *set = random_set(200, 6);
    dn_mlp_options o = options_for("16", DN_ACT_RELU, 2);
    o.ema = 0.9;
    dn_mlp *mlp = create(&o);
    dn_mlp_zero_grad(mlp);
    assert_int_equal(dn_mlp_update(mlp, 0.0, NULL), DN_OK); /* the shadow starts: θ̄ = θ */
    mlp->opt.ema = 0;                                        /* and from now on follows with decay 0 */
    assert_true(mlp->ema_live);
    for (int e = 0; e < 2; e++) assert_int_equal(dn_mlp_train_epoch(mlp, set, NULL, NULL), DN_OK);
    size_t np;
    const float *p = dn_mlp_params(mlp, &np), *ema = dn_mlp_eval_params(mlp);
    assert_ptr_not_equal(ema, p);
    assert_memory_equal(ema, p, np * sizeof *p);
    dn_mlp_free(mlp);
    dn_dataset_free(set);
}

/* ---------------------------------------------------------------- model selection */

/* A run whose epoch 1 learns the two classes (validation accuracy 1) and
 * whose weights are then spoiled after epoch 1 (the output layer negated,
 * as a learning rate that diverges would) while the rate falls 10⁶-fold
 * (step schedule), so that later epochs stay worse. keep_best must end
 * with epoch 1's weights, patience 2 must stop after epoch 3. */
typedef struct spoil {
    dn_mlp *mlp;
    float *best; /* epoch 1's evaluation weights, as the run saw them */
    size_t np;
    int steps;
} spoil;

static int spoil_after_first(const dn_mlp_run_report *r, void *user)
{
    spoil *s = user;
    s->steps++;
    assert_non_null(r->selection);
    if (r->step != 1) return 0;
    assert_int_equal(r->selection->best_epoch, 1);
    memcpy(s->best, dn_mlp_eval_params(s->mlp), s->np * sizeof *s->best);
    float *p = dn_mlp_params(s->mlp, NULL);
    int L = dn_mlp_layer_count(s->mlp);
    const float *w = dn_mlp_weights(s->mlp, L - 1);
    size_t n = dn_mlp_layer_outputs(s->mlp, L - 1) * (dn_mlp_layer_inputs(s->mlp, L - 1) + 1); /* W and b */
    for (size_t i = 0; i < n; i++) p[(w - p) + i] = -p[(w - p) + i];
    return 0;
}

static void select_run(int keep_best, int patience, double ema, int *epochs, dn_mlp_selection *sel, int *restored)
{
    dn_dataset *train = two_class_set(200, 1), *val = two_class_set(100, 2);
    dn_mlp_options o = options_for("16", DN_ACT_RELU, 3);
    o.lr = 0.05, o.batch = 10, o.epochs = 6, o.schedule = DN_SCHEDULE_STEP, o.step_epochs = 1, o.step_gamma = 1e-6;
    o.keep_best = keep_best, o.patience = patience, o.ema = ema;
    dn_mlp *mlp = create(&o);
    size_t np;
    dn_mlp_params(mlp, &np);
    spoil s = {mlp, malloc(np * sizeof(float)), np, 0};
    dn_mlp_run_options ro;
    dn_mlp_run_options_default(&ro);
    ro.validation = val, ro.on_step = spoil_after_first, ro.user = &s;
    dn_error err;
    dn_mlp_run *run = dn_mlp_run_create(mlp, &ro, train, &err);
    if (!run) fail_msg("%s", err.message);
    if (dn_mlp_run_train(run, &err)) fail_msg("%s", err.message);
    *epochs = dn_mlp_epochs_done(mlp);
    dn_mlp_get_selection(mlp, sel);
    assert_int_equal(s.steps, *epochs);
    *restored = memcmp(dn_mlp_params(mlp, NULL), s.best, np * sizeof *s.best) == 0 &&
                memcmp(dn_mlp_eval_params(mlp), s.best, np * sizeof *s.best) == 0;
    dn_mlp_eval e;
    assert_int_equal(dn_mlp_evaluate(mlp, val, &e, NULL), DN_OK);
    if (*restored) assert_true(e.accuracy == sel->best_accuracy);
    dn_mlp_run_free(run);
    free(s.best);
    dn_mlp_free(mlp);
    dn_dataset_free(train);
    dn_dataset_free(val);
}

static void test_keep_best_restores_best_epoch(void **state)
{
    (void)state;
    int epochs, restored;
    dn_mlp_selection sel;
    select_run(1, 0, 0, &epochs, &sel, &restored);
    assert_int_equal(epochs, 6); /* no patience: every epoch */
    assert_int_equal(sel.best_epoch, 1);
    assert_true(sel.best_accuracy == 1.0);
    assert_true(sel.accuracy < 0.5); /* the spoiled epochs really were worse */
    assert_int_equal(sel.since_best, 5);
    assert_true(restored);
    select_run(1, 0, 0.5, &epochs, &sel, &restored); /* with EMA: the best EMA weights come back */
    assert_int_equal(sel.best_epoch, 1);
    assert_true(restored);
    select_run(0, 0, 0, &epochs, &sel, &restored); /* without keep_best the last weights stay */
    assert_int_equal(sel.best_epoch, 1);
    assert_false(restored);
}

static void test_patience_stops_at_the_right_epoch(void **state)
{
    (void)state;
    int epochs, restored;
    dn_mlp_selection sel;
    select_run(0, 2, 0, &epochs, &sel, &restored);
    assert_int_equal(epochs, 3); /* best at 1, no better at 2 and 3: stop after 3 */
    assert_int_equal(sel.since_best, 2);
    assert_true(sel.stop);
    select_run(1, 4, 0, &epochs, &sel, &restored);
    assert_int_equal(epochs, 5);
    assert_true(sel.stop && restored);
}

/* Without a validation set keep_best and patience are refused, as are the
 * regularisers in a distributed run's epoch. */
static void test_selection_needs_validation(void **state)
{
    (void)state;
    dn_dataset *train = two_class_set(20, 1);
    dn_mlp_options o = options_for("4", DN_ACT_RELU, 3);
    o.patience = 2;
    dn_mlp *mlp = create(&o);
    dn_mlp_run_options ro;
    dn_mlp_run_options_default(&ro);
    dn_error err;
    assert_null(dn_mlp_run_create(mlp, &ro, train, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "validation"));
    dn_mlp_free(mlp);
    o.patience = 0, o.dropout_hidden = 0.5;
    mlp = create(&o);
    dn_comm *one = dn_comm_local(NULL);
    assert_int_equal(dn_mlp_sync_epoch(mlp, train, one, 0, NULL, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "one process"));
    dn_comm_free(one);
    dn_mlp_free(mlp);
    dn_dataset_free(train);
}

/* The options' ranges, each refusal naming the setting. */
static void test_options_checked(void **state)
{
    (void)state;
    struct {
        double din, dhid, maxn, ls, ema;
        int patience;
        dn_loss loss;
        const char *needle;
    } cases[] = {
        {1.0, 0, 0, 0, 0, 0, DN_LOSS_CE, "dropout"},  {0, -0.1, 0, 0, 0, 0, DN_LOSS_CE, "dropout"},
        {0, 0, -1, 0, 0, 0, DN_LOSS_CE, "max-norm"},  {0, 0, 0, 1.0, 0, 0, DN_LOSS_CE, "smoothing"},
        {0, 0, 0, 0.1, 0, 0, DN_LOSS_MSE, "cross-entropy"}, {0, 0, 0, 0, 1.0, 0, DN_LOSS_CE, "EMA"},
        {0, 0, 0, 0, 0, -1, DN_LOSS_CE, "patience"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dn_mlp_options o = options_for("4", DN_ACT_RELU, 1);
        o.dropout_input = cases[i].din, o.dropout_hidden = cases[i].dhid, o.max_norm = cases[i].maxn;
        o.label_smoothing = cases[i].ls, o.ema = cases[i].ema, o.patience = cases[i].patience, o.loss = cases[i].loss;
        dn_error err;
        assert_int_equal(dn_mlp_options_check(&o, &err), DN_ERR_USAGE);
        if (!strstr(err.message, cases[i].needle))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i].needle);
    }
}

/* ---------------------------------------------------------------- presets */

/* Every preset is a valid set of options; "quick" is the defaults byte for
 * byte; the two best ones regularise as digitnet.h says, and only "best"
 * distorts. */
static void test_presets(void **state)
{
    (void)state;
    dn_mlp_options def, opt;
    dn_error err;
    dn_mlp_options_default(&def);
    const char *const *names = dn_mlp_preset_choices();
    int count = 0;
    for (; names[count]; count++) {
        assert_int_equal(dn_mlp_options_preset(&opt, names[count], &err), DN_OK);
        assert_int_equal(dn_mlp_options_check(&opt, &err), DN_OK);
    }
    assert_int_equal(count, 3);
    assert_int_equal(dn_mlp_options_preset(&opt, "quick", &err), DN_OK);
    assert_memory_equal(&opt, &def, sizeof opt);
    assert_int_equal(dn_mlp_options_preset(&opt, "best-noaug", &err), DN_OK);
    assert_true(opt.dropout_input > 0 && opt.dropout_hidden > 0 && opt.max_norm > 0 && opt.ema > 0);
    assert_int_equal(opt.n_hidden, 2);
    assert_false(dn_augment_active(&opt.augment));
    assert_int_equal(dn_mlp_options_preset(&opt, "best", &err), DN_OK);
    assert_true(opt.augment.elastic && opt.augment.affine);
    assert_int_equal(dn_augment_check(&opt.augment, &err), DN_OK);
    assert_int_equal(dn_mlp_options_preset(&opt, "fast", &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "\"fast\""));
    assert_int_equal(dn_mlp_options_preset(&opt, NULL, &err), DN_ERR_USAGE);
}

/* "none" turns a preset's distortions off. */
static void test_augment_none(void **state)
{
    (void)state;
    dn_mlp_options opt;
    dn_error err;
    assert_int_equal(dn_mlp_options_preset(&opt, "best", &err), DN_OK);
    assert_int_equal(dn_augment_parse("none", &opt.augment, &err), DN_OK);
    assert_false(dn_augment_active(&opt.augment));
    assert_int_equal(opt.augment.alpha, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropout_is_identity_at_evaluation),
        cmocka_unit_test(test_dropout_keeps_fraction_and_mean),
        cmocka_unit_test(test_dropout_same_masks_any_thread_count),
        cmocka_unit_test(test_gradients_with_fixed_dropout_mask),
        cmocka_unit_test(test_gradients_with_label_smoothing),
        cmocka_unit_test(test_label_smoothing_formula),
        cmocka_unit_test(test_max_norm_caps_rows),
        cmocka_unit_test(test_max_norm_holds_in_training),
        cmocka_unit_test(test_ema_two_steps_by_hand),
        cmocka_unit_test(test_ema_decay_zero_equals_weights),
        cmocka_unit_test(test_keep_best_restores_best_epoch),
        cmocka_unit_test(test_patience_stops_at_the_right_epoch),
        cmocka_unit_test(test_selection_needs_validation),
        cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_augment_none),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
