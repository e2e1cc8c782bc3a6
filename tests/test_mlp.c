/* test_mlp.c — the multi-layer network against its definition: gradients by
 * central differences, BLAS against the plain-C reference, the optimiser
 * formulas, schedules, options, determinism and divergence. */
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
#include "mlp_internal.h"
#include "lib/synthetic.h"

/* ---------------------------------------------------------------- helpers */

static dn_mlp *make_mlp(const char *hidden, dn_activation act, dn_loss loss, uint64_t seed)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    assert_int_equal(dn_mlp_parse_hidden(hidden, &opt, NULL), DN_OK);
    opt.activation = act;
    opt.loss = loss;
    opt.init = act == DN_ACT_RELU ? DN_INIT_HE : DN_INIT_XAVIER;
    opt.seed = seed;
    opt.threads = 1;
    dn_error err;
    dn_mlp *mlp = dn_mlp_create(&opt, &err);
    if (!mlp) fail_msg("%s", err.message);
    return mlp;
}


/* ---------------------------------------------------------------- reference */

/* An independent forward pass in double, written from the header's math,
 * over a double copy of the parameter buffer (W_0 b_0 W_1 b_1 …). */
static double ref_act(dn_activation a, double z)
{
    switch (a) {
    case DN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case DN_ACT_TANH: return tanh(z);
    case DN_ACT_RELU: return z > 0 ? z : 0;
    default: return z;
    }
}

typedef struct ref_net {
    int L;
    size_t width[DN_MLP_MAX_LAYERS + 1];
    dn_activation hidden;
    dn_loss loss;
} ref_net;

static ref_net ref_of(const dn_mlp *mlp)
{
    ref_net n = {dn_mlp_layer_count(mlp), {0}, dn_mlp_get_options(mlp)->activation, dn_mlp_get_options(mlp)->loss};
    for (int k = 0; k < n.L; k++) n.width[k] = dn_mlp_layer_inputs(mlp, k);
    n.width[n.L] = DN_CLASSES;
    return n;
}

/* Mean loss over count samples; out (may be NULL) gets the last layer's
 * values (probabilities or sigmoid outputs) of every sample. */
static double ref_loss(const ref_net *n, const double *p, const uint8_t *images, const uint8_t *labels, size_t count,
                       double *out)
{
    double a[2][1024], total = 0;
    size_t nz[DN_IMAGE_PIXELS];
    for (size_t i = 0; i < count; i++) {
        size_t nnz = 0; /* the non-zero inputs: skipping the zeros keeps this quick */
        for (size_t k = 0; k < DN_IMAGE_PIXELS; k++) {
            a[0][k] = (double)((float)images[i * DN_IMAGE_PIXELS + k] / 255.0f);
            if (a[0][k] != 0) nz[nnz++] = k;
        }
        const double *w = p;
        int cur = 0;
        for (int k = 0; k < n->L; k++) {
            size_t in = n->width[k], outw = n->width[k + 1];
            const double *b = w + in * outw;
            int last = k == n->L - 1;
            for (size_t o = 0; o < outw; o++) {
                double z = b[o];
                if (k == 0)
                    for (size_t j = 0; j < nnz; j++) z += w[o * in + nz[j]] * a[cur][nz[j]];
                else
                    for (size_t c = 0; c < in; c++) z += w[o * in + c] * a[cur][c];
                a[1 - cur][o] = last ? (n->loss == DN_LOSS_CE ? z : ref_act(DN_ACT_SIGMOID, z)) : ref_act(n->hidden, z);
            }
            w = b + outw;
            cur = 1 - cur;
        }
        double *y = a[cur];
        if (n->loss == DN_LOSS_CE) {
            double max = y[0], sum = 0;
            for (int j = 1; j < DN_CLASSES; j++) max = fmax(max, y[j]);
            for (int j = 0; j < DN_CLASSES; j++) sum += exp(y[j] - max);
            total += -(y[labels[i]] - max - log(sum));
            for (int j = 0; j < DN_CLASSES; j++) y[j] = exp(y[j] - max) / sum;
        } else {
            for (int j = 0; j < DN_CLASSES; j++) total += 0.5 * pow(y[j] - (j == labels[i]), 2);
        }
        if (out) memcpy(out + i * DN_CLASSES, y, DN_CLASSES * sizeof *y);
    }
    return total / (double)count;
}

/* ---------------------------------------------------------------- gradients */

/* Central differences, in double, of the reference loss with respect to
 * every parameter, against the library's float backprop.
 *   numeric_i = (ℓ(θ + h e_i) − ℓ(θ − h e_i)) / 2h,  h = 1e-6
 * In double the truncation error is ~h²·ℓ''' ≈ 1e-12 and the rounding
 * error ~1e-16/h = 1e-10, so the numeric value is exact to far below the
 * tolerance; the tolerance 3e-5 + 1e-3·|numeric| is the float arithmetic
 * of the analytic side. */
static void gradient_check(const char *hidden, dn_activation act, dn_loss loss)
{
    enum { COUNT = 4, INK = 60 };
    uint8_t images[COUNT * DN_IMAGE_PIXELS], labels[COUNT];
    dn_test_random_images(images, labels, COUNT, INK, 99);
    dn_mlp *mlp = make_mlp(hidden, act, loss, 5);
    size_t np = 0;
    float *params = dn_mlp_params(mlp, &np);
    dn_rng rng;
    dn_rng_seed(&rng, 17);
    for (int k = 0; k < dn_mlp_layer_count(mlp); k++) /* non-zero biases, so every bias path carries signal */
        for (size_t o = 0; o < dn_mlp_layer_outputs(mlp, k); o++)
            ((float *)dn_mlp_bias(mlp, k))[o] = (float)(0.2 * (dn_rng_uniform(&rng) - 0.5));
    dn_mlp_batch_stats stats;
    dn_mlp_zero_grad(mlp);
    assert_int_equal(dn_mlp_backprop(mlp, images, labels, COUNT, &stats, NULL), DN_OK);
    const float *grads = dn_mlp_grads(mlp, NULL);

    ref_net net = ref_of(mlp);
    double *p = calloc(np, sizeof *p);
    for (size_t i = 0; i < np; i++) p[i] = params[i];
    double loss0 = ref_loss(&net, p, images, labels, COUNT, NULL);
    if (fabs(loss0 - stats.loss) > 1e-5 * fmax(1, loss0)) fail_msg("loss %.9g, reference %.9g", stats.loss, loss0);
    const double h = 1e-6;
    double max_numeric = 0, max_err = 0;
    size_t nonzero = 0;
    for (size_t i = 0; i < np; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double up = ref_loss(&net, p, images, labels, COUNT, NULL);
        p[i] = keep - h;
        double down = ref_loss(&net, p, images, labels, COUNT, NULL);
        p[i] = keep;
        double numeric = (up - down) / (2 * h), diff = fabs(numeric - grads[i]);
        if (diff > 3e-5 + 1e-3 * fabs(numeric))
            fail_msg("%s %s %s: parameter %zu: backprop %.8g, central difference %.8g", hidden, dn_activation_name(act),
                     dn_loss_name(loss), i, (double)grads[i], numeric);
        max_numeric = fmax(max_numeric, fabs(numeric));
        max_err = fmax(max_err, diff);
        nonzero += fabs(numeric) > 1e-6;
    }
    /* Guard against a vacuous pass: the gradients must be real signal, in
     * every layer (both the weights and the biases of each). */
    assert_true(max_numeric > 1e-2);
    assert_true(nonzero > np / 20);
    for (int k = 0; k < dn_mlp_layer_count(mlp); k++) {
        const float *gb = grads + (dn_mlp_bias(mlp, k) - params), *gw = grads + (dn_mlp_weights(mlp, k) - params);
        double bmax = 0, wmax = 0;
        for (size_t o = 0; o < dn_mlp_layer_outputs(mlp, k); o++) bmax = fmax(bmax, fabs(gb[o]));
        for (size_t i = 0; i < dn_mlp_layer_outputs(mlp, k) * dn_mlp_layer_inputs(mlp, k); i++) wmax = fmax(wmax, fabs(gw[i]));
        assert_true(bmax > 1e-4 && wmax > 1e-4);
    }
    print_message("gradient check %-5s %-7s %-3s: %zu parameters, max |grad| %.3g, max error %.2g\n", hidden,
                  dn_activation_name(act), dn_loss_name(loss), np, max_numeric, max_err);
    free(p);
    dn_mlp_free(mlp);
}

static void test_gradients_every_activation_and_loss(void **state)
{
    (void)state;
    const dn_activation acts[] = {DN_ACT_SIGMOID, DN_ACT_TANH, DN_ACT_RELU};
    for (int a = 0; a < 3; a++)
        for (int l = 0; l < 2; l++) gradient_check("6,5", acts[a], (dn_loss)l);
}

static void test_gradients_single_layer(void **state)
{
    (void)state;
    gradient_check("", DN_ACT_RELU, DN_LOSS_CE);
    gradient_check("", DN_ACT_RELU, DN_LOSS_MSE);
}

/* Gradients are accumulated: two backprops without zero_grad add up. */
static void test_gradients_accumulate(void **state)
{
    (void)state;
    uint8_t images[3 * DN_IMAGE_PIXELS], labels[3];
    dn_test_random_images(images, labels, 3, 100, 3);
    dn_mlp *mlp = make_mlp("7", DN_ACT_TANH, DN_LOSS_CE, 2);
    size_t np;
    float *g = dn_mlp_grads(mlp, &np), *once = malloc(np * sizeof *once);
    dn_mlp_zero_grad(mlp);
    dn_mlp_backprop(mlp, images, labels, 3, NULL, NULL);
    memcpy(once, g, np * sizeof *g);
    dn_mlp_backprop(mlp, images, labels, 3, NULL, NULL);
    for (size_t i = 0; i < np; i++) assert_true(fabsf(g[i] - 2 * once[i]) <= 1e-6f * (1 + fabsf(once[i])));
    dn_mlp_zero_grad(mlp);
    for (size_t i = 0; i < np; i++) assert_true(g[i] == 0.0f);
    free(once);
    dn_mlp_free(mlp);
}

/* ---------------------------------------------------------------- BLAS vs plain */

static double max_abs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* The three products the layers use, odd sizes, against the reference:
 * |BLAS − plain| ≤ 1e-5 · Σ|a·b| bound, here 1e-5 · K · max|a| · max|b|. */
static void test_sgemm_blas_matches_plain(void **state)
{
    (void)state;
    enum { M = 37, N = 29, K = 53 };
    float A[K * M], B[K * N], C1[M * N], C2[M * N];
    dn_rng rng;
    dn_rng_seed(&rng, 8);
    for (int i = 0; i < K * M; i++) A[i] = (float)(dn_rng_uniform(&rng) - 0.5);
    for (int i = 0; i < K * N; i++) B[i] = (float)(dn_rng_uniform(&rng) - 0.5);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int beta = 0; beta < 2; beta++) {
                for (int i = 0; i < M * N; i++) C1[i] = C2[i] = (float)i / (M * N);
                size_t lda = ta ? M : K, ldb = tb ? K : N;
                dn_sgemm_(DN_MATMUL_BLAS, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, (float)beta, C1, N);
                dn_sgemm_(DN_MATMUL_PLAIN, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, (float)beta, C2, N);
                assert_true(max_diff(C1, C2, M * N) <= 1e-5 * K * 0.25);
                assert_true(max_abs(C2, M * N) > 0.1); /* not a product of zeros */
            }
}

/* A whole network both ways: each layer's activations, the gradients and
 * three SGD steps agree within 1e-4 relative to the largest magnitude. The
 * images have a blank 5-pixel border, as MNIST's, so the BLAS path runs
 * layer 0 on the used pixels only (mlp_train.c) and the plain path on all. */
static void test_network_blas_matches_plain(void **state)
{
    (void)state;
    enum { COUNT = 50 };
    uint8_t images[COUNT * DN_IMAGE_PIXELS], labels[COUNT];
    dn_test_random_images(images, labels, COUNT, 200, 21);
    for (int i = 0; i < COUNT; i++)
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
                if (y < 5 || y >= 23 || x < 5 || x >= 23) images[i * DN_IMAGE_PIXELS + y * 28 + x] = 0;
    dn_mlp *m[2] = {make_mlp("64,32", DN_ACT_RELU, DN_LOSS_CE, 4), make_mlp("64,32", DN_ACT_RELU, DN_LOSS_CE, 4)};
    dn_mlp_set_matmul(m[1], DN_MATMUL_PLAIN);
    for (int k = 0; k < 3; k++) {
        size_t n = COUNT * dn_mlp_layer_outputs(m[0], k);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        assert_int_equal(dn_mlp_forward(m[0], images, COUNT, k, a, NULL), DN_OK);
        assert_int_equal(dn_mlp_forward(m[1], images, COUNT, k, b, NULL), DN_OK);
        assert_true(max_diff(a, b, n) <= 1e-4 * max_abs(b, n));
        free(a), free(b);
    }
    size_t np;
    for (int step = 0; step < 3; step++)
        for (int i = 0; i < 2; i++) {
            dn_mlp_zero_grad(m[i]);
            assert_int_equal(dn_mlp_backprop(m[i], images, labels, COUNT, NULL, NULL), DN_OK);
            if (i == 1) {
                const float *g0 = dn_mlp_grads(m[0], &np), *g1 = dn_mlp_grads(m[1], NULL);
                double scale = max_abs(g1, np);
                assert_true(scale > 1e-3);
                assert_true(max_diff(g0, g1, np) <= 1e-4 * scale);
            }
            dn_mlp_update(m[i], 0.05, NULL);
        }
    assert_true(max_diff(dn_mlp_params(m[0], NULL), dn_mlp_params(m[1], NULL), np) <= 1e-4 * max_abs(dn_mlp_params(m[1], NULL), np));
    dn_mlp_free(m[0]);
    dn_mlp_free(m[1]);
}

/* ---------------------------------------------------------------- reach */

/* Shapes, views and forward activations match the documented math. */
static void test_layers_are_reachable(void **state)
{
    (void)state;
    enum { COUNT = 3 };
    uint8_t images[COUNT * DN_IMAGE_PIXELS], labels[COUNT];
    dn_test_random_images(images, labels, COUNT, 300, 5);
    dn_mlp *mlp = make_mlp("12,8", DN_ACT_SIGMOID, DN_LOSS_MSE, 6);
    assert_int_equal(dn_mlp_layer_count(mlp), 3);
    assert_int_equal(dn_mlp_layer_inputs(mlp, 0), 784);
    assert_int_equal(dn_mlp_layer_outputs(mlp, 0), 12);
    assert_int_equal(dn_mlp_layer_inputs(mlp, 2), 8);
    assert_int_equal(dn_mlp_layer_outputs(mlp, 2), 10);
    assert_int_equal(dn_mlp_layer_outputs(mlp, 3), 0);
    assert_null(dn_mlp_weights(mlp, 3));
    assert_int_equal(dn_mlp_layer_activation(mlp, 1), DN_ACT_SIGMOID);
    assert_int_equal(dn_mlp_layer_activation(mlp, 2), DN_ACT_SIGMOID); /* MSE output */
    size_t np;
    const float *p = dn_mlp_params(mlp, &np);
    assert_int_equal(np, 784 * 12 + 12 + 12 * 8 + 8 + 8 * 10 + 10);
    assert_ptr_equal(dn_mlp_weights(mlp, 0), p);
    assert_ptr_equal(dn_mlp_bias(mlp, 0), p + 784 * 12);
    assert_ptr_equal(dn_mlp_weights(mlp, 1), p + 784 * 12 + 12);
    /* layer 0 by hand: a = sigmoid(W_0 x + b_0), W_0 (12, 784) */
    float a0[COUNT * 12];
    assert_int_equal(dn_mlp_forward(mlp, images, COUNT, 0, a0, NULL), DN_OK);
    for (int i = 0; i < COUNT; i++)
        for (int o = 0; o < 12; o++) {
            double z = dn_mlp_bias(mlp, 0)[o];
            for (int c = 0; c < 784; c++) z += dn_mlp_weights(mlp, 0)[o * 784 + c] * (images[i * 784 + c] / 255.0);
            assert_true(fabs(a0[i * 12 + o] - 1 / (1 + exp(-z))) < 1e-5);
        }
    /* the last layer against the reference and against classify's scores */
    ref_net net = ref_of(mlp);
    double *pd = malloc(np * sizeof *pd), ref_out[COUNT * DN_CLASSES];
    for (size_t i = 0; i < np; i++) pd[i] = p[i];
    ref_loss(&net, pd, images, labels, COUNT, ref_out);
    float out[COUNT * DN_CLASSES], scores[COUNT * DN_CLASSES];
    uint8_t pred[COUNT];
    assert_int_equal(dn_mlp_forward(mlp, images, COUNT, 2, out, NULL), DN_OK);
    assert_int_equal(dn_mlp_classify(mlp, images, COUNT, pred, scores, NULL), DN_OK);
    for (int i = 0; i < COUNT; i++) {
        double sum = 0;
        int best = 0;
        for (int j = 0; j < DN_CLASSES; j++) {
            assert_true(fabs(out[i * 10 + j] - ref_out[i * 10 + j]) < 1e-5);
            sum += out[i * 10 + j];
            if (out[i * 10 + j] > out[i * 10 + best]) best = j;
        }
        for (int j = 0; j < DN_CLASSES; j++) assert_true(fabs(scores[i * 10 + j] - out[i * 10 + j] / sum) < 1e-6);
        assert_int_equal(pred[i], best);
    }
    dn_error err;
    assert_int_equal(dn_mlp_forward(mlp, images, COUNT, 3, out, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "0 to 2"));
    free(pd);
    dn_mlp_free(mlp);
}

/* One pass for every layer gives what one dn_mlp_forward per layer gives,
 * bit for bit (the same products on the same rows), for 1 image (below
 * DN_MLP_SMALL_FORWARD: the BLAS thread count is left alone) and for 40;
 * a NULL entry is skipped. */
static void test_forward_layers_is_forward_per_layer(void **state)
{
    (void)state;
    enum { COUNT = 40 };
    uint8_t *images = malloc(COUNT * DN_IMAGE_PIXELS), labels[COUNT];
    dn_test_random_images(images, labels, COUNT, 300, 9);
    dn_mlp *mlp = make_mlp("24,16", DN_ACT_RELU, DN_LOSS_CE, 3);
    const size_t width[3] = {24, 16, DN_CLASSES};
    const size_t counts[2] = {1, COUNT};
    for (int c = 0; c < 2; c++) {
        size_t n = counts[c];
        float *all[3], *one = malloc(n * 24 * sizeof *one);
        for (int k = 0; k < 3; k++) all[k] = malloc(n * width[k] * sizeof(float));
        float *skip_middle[3] = {all[0], NULL, all[2]};
        assert_int_equal(dn_mlp_forward_layers(mlp, images, n, all, NULL), DN_OK);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(dn_mlp_forward(mlp, images, n, k, one, NULL), DN_OK);
            assert_memory_equal(one, all[k], n * width[k] * sizeof(float));
        }
        memset(all[1], 0, n * width[1] * sizeof(float));
        assert_int_equal(dn_mlp_forward_layers(mlp, images, n, skip_middle, NULL), DN_OK);
        for (size_t i = 0; i < n * width[1]; i++) assert_true(all[1][i] == 0.0f);
        for (int k = 0; k < 3; k++) free(all[k]);
        free(one);
    }
    free(images);
    dn_mlp_free(mlp);
}

/* ---------------------------------------------------------------- optimisers */

/* A 784-10 network with every parameter and gradient set by hand, two
 * updates, each parameter compared with the formula in the header. */
typedef struct opt_case {
    dn_optimizer optimizer;
    double momentum, weight_decay;
    int nesterov;
} opt_case;

static void check_optimizer(opt_case c)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    opt.n_hidden = 0;
    opt.optimizer = c.optimizer, opt.momentum = c.momentum, opt.nesterov = c.nesterov;
    opt.weight_decay = c.weight_decay;
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    size_t np, nw = 7840;
    float *p = dn_mlp_params(mlp, &np), *g = dn_mlp_grads(mlp, NULL);
    double *ep = malloc(np * sizeof *ep), *v = calloc(np, sizeof *v), *s = calloc(np, sizeof *s);
    for (size_t i = 0; i < np; i++) ep[i] = p[i] = (float)(0.01 * (double)(i % 97) - 0.3);
    const double lrs[2] = {0.1, 0.05};
    for (int t = 1; t <= 2; t++) {
        for (size_t i = 0; i < np; i++) g[i] = (float)(0.02 * (double)((i * 31 + (size_t)t) % 41) - 0.4);
        assert_int_equal(dn_mlp_update(mlp, lrs[t - 1], NULL), DN_OK);
        for (size_t i = 0; i < np; i++) {
            double lr = lrs[t - 1], gi = g[i] + (i < nw ? c.weight_decay * ep[i] : 0.0); /* biases do not decay */
            if (c.optimizer == DN_OPTIMIZER_ADAM) {
                v[i] = 0.9 * v[i] + 0.1 * gi;
                s[i] = 0.999 * s[i] + 0.001 * gi * gi;
                ep[i] -= lr * (v[i] / (1 - pow(0.9, t))) / (sqrt(s[i] / (1 - pow(0.999, t))) + 1e-8);
            } else {
                v[i] = c.momentum * v[i] + gi;
                ep[i] -= lr * (c.momentum == 0 ? gi : c.nesterov ? gi + c.momentum * v[i] : v[i]);
            }
            if (fabs(p[i] - ep[i]) > 1e-5)
                fail_msg("%s step %d parameter %zu: %.8f, expected %.8f", dn_optimizer_name(c.optimizer), t, i, p[i],
                         ep[i]);
        }
    }
    free(ep), free(v), free(s);
    dn_mlp_free(mlp);
}

static void test_optimizer_formulas(void **state)
{
    (void)state;
    check_optimizer((opt_case){DN_OPTIMIZER_SGD, 0.0, 0.0, 0});
    check_optimizer((opt_case){DN_OPTIMIZER_SGD, 0.9, 0.0, 0});
    check_optimizer((opt_case){DN_OPTIMIZER_SGD, 0.9, 0.01, 1});
    check_optimizer((opt_case){DN_OPTIMIZER_SGD, 0.0, 0.1, 0});
    check_optimizer((opt_case){DN_OPTIMIZER_ADAM, 0.9, 0.01, 0});
}

static void test_schedules(void **state)
{
    (void)state;
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    opt.lr = 0.2, opt.epochs = 10;
    opt.schedule = DN_SCHEDULE_NONE;
    assert_true(dn_mlp_scheduled_lr(&opt, 7.5) == 0.2);
    opt.schedule = DN_SCHEDULE_COSINE;
    assert_true(fabs(dn_mlp_scheduled_lr(&opt, 0) - 0.2) < 1e-15);
    assert_true(fabs(dn_mlp_scheduled_lr(&opt, 5) - 0.1) < 1e-15);
    assert_true(fabs(dn_mlp_scheduled_lr(&opt, 10)) < 1e-15);
    assert_true(fabs(dn_mlp_scheduled_lr(&opt, 12)) < 1e-15);
    opt.schedule = DN_SCHEDULE_STEP, opt.step_epochs = 3, opt.step_gamma = 0.5;
    assert_true(dn_mlp_scheduled_lr(&opt, 2.9) == 0.2);
    assert_true(dn_mlp_scheduled_lr(&opt, 3.0) == 0.1);
    assert_true(dn_mlp_scheduled_lr(&opt, 6.5) == 0.05);
}

/* ---------------------------------------------------------------- options */

static void expect_usage(dn_mlp_options *opt, const char *needle)
{
    dn_error err;
    assert_int_equal(dn_mlp_options_check(opt, &err), DN_ERR_USAGE);
    if (!strstr(err.message, needle)) fail_msg("message '%s' lacks '%s'", err.message, needle);
    assert_null(dn_mlp_create(opt, NULL));
    dn_mlp_options_default(opt);
}

static void test_options_rejected_with_range(void **state)
{
    (void)state;
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    assert_int_equal(dn_mlp_options_check(&opt, NULL), DN_OK);
    opt.lr = 0;
    expect_usage(&opt, "above 0");
    opt.lr = NAN;
    expect_usage(&opt, "learning rate");
    opt.momentum = 1;
    expect_usage(&opt, "[0, 1)");
    opt.batch = DN_MLP_BATCH_MAX + 1; /* 0 is the full batch */
    expect_usage(&opt, "1 to 65536, or 0 for the full batch");
    opt.epochs = 0;
    expect_usage(&opt, "1 to 1000000");
    opt.hidden[1] = 0;
    expect_usage(&opt, "1 to 65536");
    opt.momentum = 0, opt.nesterov = 1;
    expect_usage(&opt, "Nesterov");
    opt.weight_decay = -1;
    expect_usage(&opt, "[0, 1]");
    opt.n_hidden = 1, opt.hidden[0] = 65536;
    opt.n_hidden = 3, opt.hidden[1] = 65536, opt.hidden[2] = 65536;
    expect_usage(&opt, "parameters");

    dn_error err;
    assert_int_equal(dn_mlp_parse_hidden("300,100", &opt, NULL), DN_OK);
    assert_int_equal(opt.n_hidden, 2);
    assert_int_equal(opt.hidden[1], 100);
    assert_int_equal(dn_mlp_parse_hidden("", &opt, NULL), DN_OK);
    assert_int_equal(opt.n_hidden, 0);
    const char *bad[] = {"300,", ",3", "3,,4", "a", "-5", "0", "65537", "1,2,3,4,5,6,7,8,9", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        opt.n_hidden = 1;
        if (dn_mlp_parse_hidden(bad[i], &opt, &err) != DN_ERR_USAGE) fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(opt.n_hidden, 1); /* untouched on failure */
        assert_non_null(strstr(err.message, bad[i]));
    }
}

/* ---------------------------------------------------------------- training */

static dn_dataset *two_class_set(size_t count, uint64_t seed) { return dn_test_two_class_set(count, seed, 30); }

static void learn_two_classes(dn_activation act, dn_loss loss, double lr, int epochs)
{
    dn_dataset *train = two_class_set(200, 1), *fresh = two_class_set(100, 2);
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden("16", &opt, NULL);
    opt.activation = act, opt.loss = loss, opt.lr = lr, opt.epochs = epochs, opt.batch = 10, opt.threads = 1;
    opt.init = act == DN_ACT_RELU ? DN_INIT_HE : DN_INIT_XAVIER;
    dn_error err;
    dn_mlp *mlp = dn_mlp_create(&opt, &err);
    if (dn_mlp_train(mlp, train, NULL, NULL, &err)) fail_msg("%s", err.message);
    dn_mlp_eval on_train, on_fresh;
    assert_int_equal(dn_mlp_evaluate(mlp, train, &on_train, NULL), DN_OK);
    assert_int_equal(dn_mlp_evaluate(mlp, fresh, &on_fresh, NULL), DN_OK);
    if (on_train.correct != 200 || on_fresh.correct != 100)
        fail_msg("%s %s: %zu of 200 training, %zu of 100 fresh samples right", dn_activation_name(act),
                 dn_loss_name(loss), on_train.correct, on_fresh.correct);
    assert_int_equal(dn_mlp_epochs_done(mlp), epochs);
    assert_int_equal(dn_mlp_train_size(mlp), 200);
    dn_mlp_free(mlp);
    dn_dataset_free(train);
    dn_dataset_free(fresh);
}

static void test_two_classes_learned_perfectly(void **state)
{
    (void)state;
    learn_two_classes(DN_ACT_RELU, DN_LOSS_CE, 0.05, 5);
    learn_two_classes(DN_ACT_SIGMOID, DN_LOSS_MSE, 1.0, 20); /* the classic course setting */
}

static void train_copy(int threads, uint64_t seed, float *out, const dn_dataset *set)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden("32,16", &opt, NULL);
    opt.epochs = 2, opt.batch = 16, opt.seed = seed, opt.threads = threads, opt.nesterov = 1;
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    assert_int_equal(dn_mlp_train(mlp, set, NULL, NULL, NULL), DN_OK);
    size_t np;
    const float *params = dn_mlp_params(mlp, &np);
    memcpy(out, params, np * sizeof *out);
    dn_mlp_free(mlp);
}

/* Same seed, same thread count → the same parameters bit for bit. */
static void test_seeded_runs_identical(void **state)
{
    (void)state;
    dn_dataset *set = two_class_set(300, 4);
    size_t np = 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10;
    float *a = malloc(np * sizeof *a), *b = malloc(np * sizeof *b);
    for (int threads = 1; threads <= 2; threads++) {
        train_copy(threads, 7, a, set);
        train_copy(threads, 7, b, set);
        assert_memory_equal(a, b, np * sizeof *a);
    }
    train_copy(1, 8, b, set);
    assert_true(memcmp(a, b, np * sizeof *a) != 0); /* another seed, another network */
    free(a), free(b);
    dn_dataset_free(set);
}

/* Threads split layer 0 by its units (mlp_train.c): 1, 2 and 3 threads, on
 * nets whose layer 0 has 40 units (slices of 16, one thread gets none with
 * 3) and none hidden, agree after an epoch within float rounding. */
static void test_threads_match_one_thread(void **state)
{
    (void)state;
    dn_dataset *set = two_class_set(200, 9);
    const char *hidden[] = {"40,12", ""};
    for (int h = 0; h < 2; h++) {
        float *p[3];
        size_t np = 0;
        for (int threads = 1; threads <= 3; threads++) {
            dn_mlp_options opt;
            dn_mlp_options_default(&opt);
            dn_mlp_parse_hidden(hidden[h], &opt, NULL);
            opt.epochs = 1, opt.batch = 20, opt.threads = threads, opt.optimizer = h ? DN_OPTIMIZER_ADAM : DN_OPTIMIZER_SGD;
            opt.weight_decay = 1e-3, opt.lr = h ? 0.01 : 0.1;
            dn_mlp *mlp = dn_mlp_create(&opt, NULL);
            dn_error err;
            if (dn_mlp_train(mlp, set, NULL, NULL, &err)) fail_msg("%s", err.message);
            const float *params = dn_mlp_params(mlp, &np);
            p[threads - 1] = malloc(np * sizeof *p[0]);
            memcpy(p[threads - 1], params, np * sizeof *p[0]);
            dn_mlp_free(mlp);
        }
        double moved = 0; /* the epoch changed the weights, so agreeing means something */
        dn_mlp_options opt;
        dn_mlp_options_default(&opt);
        dn_mlp_parse_hidden(hidden[h], &opt, NULL);
        dn_mlp *init = dn_mlp_create(&opt, NULL);
        moved = max_diff(p[0], dn_mlp_params(init, NULL), np);
        dn_mlp_free(init);
        assert_true(moved > 1e-3);
        for (int t = 1; t < 3; t++) assert_true(max_diff(p[0], p[t], np) <= 1e-4 * max_abs(p[0], np));
        for (int t = 0; t < 3; t++) free(p[t]);
    }
    dn_dataset_free(set);
}

/* A learning rate far too large: training stops with DN_ERR_NUMERIC and a
 * message that says what to change, not with silent NaN weights. */
static void test_divergence_stopped_with_advice(void **state)
{
    (void)state;
    enum { COUNT = 300 };
    dn_dataset set = {COUNT, malloc(COUNT * DN_IMAGE_PIXELS), malloc(COUNT), 0, NULL};
    dn_test_random_images(set.images, set.labels, COUNT, 150, 5);
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden("64,64,32", &opt, NULL); /* deep enough for relu to blow up rather than die */
    opt.lr = 1e4, opt.epochs = 3, opt.batch = 10, opt.schedule = DN_SCHEDULE_NONE, opt.threads = 1;
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    dn_error err;
    assert_int_equal(dn_mlp_train(mlp, &set, NULL, NULL, &err), DN_ERR_NUMERIC);
    assert_int_equal(err.code, DN_ERR_NUMERIC);
    assert_non_null(strstr(err.message, "lower the learning rate (lr)"));
    assert_non_null(strstr(err.message, "initialisation"));
    assert_non_null(strstr(err.message, "epoch 1"));
    assert_int_equal(dn_mlp_epochs_done(mlp), 0);
    print_message("diverged as expected: %s\n", err.message);
    dn_mlp_free(mlp);
    free(set.images), free(set.labels);
}

/* ---------------------------------------------------------- batch callback */

typedef struct batch_log {
    dn_mlp *mlp;       /* the network the callback watches */
    size_t calls;      /* batches reported */
    size_t stop_after; /* stop at this many calls (0: never) */
    size_t snapshot_at; /* copy the parameters at this many calls (0: never) */
    float *snapshot;
    int last_epoch;
    size_t last_batch, last_samples;
    int bad; /* a report broke a rule */
} batch_log;

static int log_batch(const dn_mlp_batch_report *r, void *user)
{
    batch_log *log = user;
    log->calls++;
    size_t batch = dn_mlp_get_options(log->mlp)->batch;
    size_t expect_samples = r->batch + 1 == r->batches ? r->total : (r->batch + 1) * batch;
    if (r->samples != expect_samples || !isfinite(r->mean_loss) || !isfinite(r->loss) || r->mean_loss <= 0 ||
        r->lr <= 0 || r->batch >= r->batches || r->epoch != dn_mlp_epochs_done(log->mlp))
        log->bad = 1;
    log->last_epoch = r->epoch, log->last_batch = r->batch, log->last_samples = r->samples;
    if (log->calls == log->snapshot_at) {
        size_t np;
        const float *p = dn_mlp_params(log->mlp, &np);
        memcpy(log->snapshot, p, np * sizeof *p);
    }
    return log->stop_after && log->calls == log->stop_after;
}

static int count_epochs(const dn_mlp_epoch_report *r, void *user)
{
    (void)r;
    ++*(int *)user;
    return 0;
}

/* ⌈n/batch⌉ reports per epoch with the running loss finite; a stop after k
 * batches ends the epoch with exactly k·batch samples trained, the
 * parameters those a full run holds after its k-th batch, and dn_mlp_train
 * stopped there; and a run watched batch by batch ends with the bits of
 * one without a callback (the steps that hold W_0 elsewhere during an
 * epoch write it back for every callback). With hidden, momentum and threads as given. */
static void check_batch_callback(const char *hidden, double momentum, int threads)
{
    enum { N = 300, BATCH = 64, EPOCHS = 3, K = 3 };
    const size_t per_epoch = (N + BATCH - 1) / BATCH; /* 5, the last of 44 samples */
    dn_dataset *set = two_class_set(N, 5);
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden(hidden, &opt, NULL);
    opt.epochs = EPOCHS, opt.batch = BATCH, opt.threads = threads, opt.momentum = momentum;
    size_t np;

    /* A full run, counting and taking a snapshot after batch K of epoch 2. */
    dn_mlp *full = dn_mlp_create(&opt, NULL);
    dn_mlp_params(full, &np);
    batch_log a = {full, 0, 0, per_epoch + K, malloc(np * sizeof(float)), 0, 0, 0, 0};
    dn_mlp_set_batch_callback(full, log_batch, &a);
    int epochs_seen = 0;
    assert_int_equal(dn_mlp_train(full, set, count_epochs, &epochs_seen, NULL), DN_OK);
    assert_false(a.bad);
    assert_int_equal(a.calls, EPOCHS * per_epoch);
    assert_int_equal(a.last_epoch, EPOCHS - 1);
    assert_int_equal(a.last_batch, per_epoch - 1);
    assert_int_equal(a.last_samples, N);
    assert_int_equal(epochs_seen, EPOCHS);

    /* The same run stopped after batch K of epoch 2 (0-based epoch 1). */
    dn_mlp *cut = dn_mlp_create(&opt, NULL);
    batch_log b = {cut, 0, per_epoch + K, 0, NULL, 0, 0, 0, 0};
    dn_mlp_set_batch_callback(cut, log_batch, &b);
    epochs_seen = 0;
    assert_int_equal(dn_mlp_train(cut, set, count_epochs, &epochs_seen, NULL), DN_OK);
    assert_false(b.bad);
    assert_int_equal(b.calls, per_epoch + K);
    assert_int_equal(epochs_seen, 2);              /* on_epoch saw the stopped epoch, then training ended */
    assert_int_equal(dn_mlp_epochs_done(cut), 2); /* the stopped epoch counts as done */
    assert_memory_equal(dn_mlp_params(cut, &np), a.snapshot, np * sizeof(float));

    /* The full run again without a callback, and with a progress callback
     * (which reads the report only): the same parameters, the same calls. */
    dn_mlp *unwatched = dn_mlp_create(&opt, NULL), *progress = dn_mlp_create(&opt, NULL);
    assert_int_equal(dn_mlp_train(unwatched, set, NULL, NULL, NULL), DN_OK);
    assert_memory_equal(dn_mlp_params(unwatched, &np), dn_mlp_params(full, &np), np * sizeof(float));
    batch_log d = {progress, 0, 0, 0, NULL, 0, 0, 0, 0};
    dn_mlp_set_progress_callback(progress, log_batch, &d);
    assert_int_equal(dn_mlp_train(progress, set, NULL, NULL, NULL), DN_OK);
    assert_false(d.bad);
    assert_int_equal(d.calls, EPOCHS * per_epoch);
    assert_memory_equal(dn_mlp_params(progress, &np), dn_mlp_params(full, &np), np * sizeof(float));
    dn_mlp_free(unwatched), dn_mlp_free(progress);

    /* The stopped epoch's report, from dn_mlp_train_epoch directly. */
    dn_mlp *one = dn_mlp_create(&opt, NULL);
    batch_log c = {one, 0, K, 0, NULL, 0, 0, 0, 0};
    dn_mlp_set_batch_callback(one, log_batch, &c);
    dn_mlp_epoch_report r;
    assert_int_equal(dn_mlp_train_epoch(one, set, &r, NULL), DN_OK);
    assert_int_equal(r.stopped, 1);
    assert_int_equal(r.samples, K * BATCH);
    assert_true(isfinite(r.train_loss));
    /* Removed, the callback is no longer called and epochs run whole. */
    dn_mlp_set_batch_callback(one, NULL, &c);
    assert_int_equal(dn_mlp_train_epoch(one, set, &r, NULL), DN_OK);
    assert_int_equal(r.stopped, 0);
    assert_int_equal(r.samples, N);
    assert_int_equal(c.calls, K);

    free(a.snapshot);
    dn_mlp_free(full), dn_mlp_free(cut), dn_mlp_free(one);
    dn_dataset_free(set);
}

static void test_batch_callback_counts_and_stops(void **state)
{
    (void)state;
    check_batch_callback("24", 0.9, 1);
}

/* The same on the replicated step (two threads, SGD with momentum, two
 * hidden layers): W_0 comes back from W_0ᵀ, and W_1 from the threads'
 * copies, which each step only their own columns of (mlp_train.c,
 * "Replicas", "Layer 1 by columns"); watched or not, the same bits. */
static void test_batch_callback_replicated(void **state)
{
    (void)state;
    check_batch_callback("40,16", 0.9, 2);
}

/* The same on the small-batch step (plain SGD), two ReLU hidden layers:
 * the callback reads W_0 and W_1 back from their transposed copies. */
static void test_batch_callback_small_step(void **state)
{
    (void)state;
    check_batch_callback("24,16", 0.0, 1);
}

/* dn_mlp_set_profile: a step a batch, the phases of the fused step (and
 * of the small step) filled and summing to no more than the epochs' wall
 * time, nothing in "comm" in one process; NULL turns it off. */
static void check_profile(double momentum, int threads)
{
    enum { N = 300, BATCH = 32, EPOCHS = 2 };
    dn_dataset *set = two_class_set(N, 9);
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden("40,20", &opt, NULL);
    opt.batch = BATCH, opt.threads = threads, opt.momentum = momentum;
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    dn_profile p = {{0}, 0};
    dn_mlp_set_profile(mlp, &p);
    double wall = 0;
    for (int e = 0; e < EPOCHS; e++) {
        dn_mlp_epoch_report r;
        assert_int_equal(dn_mlp_train_epoch(mlp, set, &r, NULL), DN_OK);
        wall += r.seconds;
    }
    assert_int_equal(p.steps, EPOCHS * ((N + BATCH - 1) / BATCH));
    double sum = 0;
    for (int i = 0; i < DN_PHASE_COUNT; i++) {
        assert_true(p.seconds[i] >= 0);
        sum += p.seconds[i];
    }
    assert_true(sum > 0 && sum <= wall);
    assert_true(p.seconds[DN_PHASE_FORWARD] > 0 && p.seconds[DN_PHASE_BACKWARD] > 0);
    assert_true(p.seconds[DN_PHASE_COMM] == 0);
    if (momentum > 0) assert_true(p.seconds[DN_PHASE_UPDATE] > 0); /* the small step fuses it into backward */
    dn_mlp_set_profile(mlp, NULL);
    const dn_profile before = p;
    assert_int_equal(dn_mlp_train_epoch(mlp, set, NULL, NULL), DN_OK);
    assert_memory_equal(&p, &before, sizeof p);
    assert_string_equal(dn_phase_name(DN_PHASE_WAIT), "wait");
    assert_string_equal(dn_phase_name(DN_PHASE_COUNT), "?");
    /* the kernels' name; OPENBLAS_CORETYPE, when set to a core OpenBLAS
     * knows, is the one it ran (OpenBLAS spells them Haswell, SkylakeX, ...) */
    const char *kernel = dn_blas_kernel(), *forced = getenv("OPENBLAS_CORETYPE");
    assert_true(kernel != NULL && kernel[0] != '\0');
    if (forced && (strcmp(forced, "Haswell") == 0 || strcmp(forced, "SkylakeX") == 0))
        assert_string_equal(kernel, forced);
    dn_mlp_free(mlp);
    dn_dataset_free(set);
}

static void test_profile_phases(void **state)
{
    (void)state;
    check_profile(0.9, 1);
    check_profile(0.9, 2);
    check_profile(0.0, 1); /* the small-batch step */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_every_activation_and_loss),
        cmocka_unit_test(test_gradients_single_layer),
        cmocka_unit_test(test_gradients_accumulate),
        cmocka_unit_test(test_sgemm_blas_matches_plain),
        cmocka_unit_test(test_network_blas_matches_plain),
        cmocka_unit_test(test_layers_are_reachable),
        cmocka_unit_test(test_forward_layers_is_forward_per_layer),
        cmocka_unit_test(test_optimizer_formulas),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_options_rejected_with_range),
        cmocka_unit_test(test_two_classes_learned_perfectly),
        cmocka_unit_test(test_seeded_runs_identical),
        cmocka_unit_test(test_threads_match_one_thread),
        cmocka_unit_test(test_divergence_stopped_with_advice),
        cmocka_unit_test(test_batch_callback_counts_and_stops),
        cmocka_unit_test(test_batch_callback_replicated),
        cmocka_unit_test(test_batch_callback_small_step),
        cmocka_unit_test(test_profile_phases),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
