/*
 * mlp_train.c — backpropagation and the optimisers (see digitnet.h for the
 * formulas): zero_grad → backprop (accumulate) → update, and the epoch loop
 * that shuffles, batches and schedules the learning rate.
 *
 * Nothing is allocated per sample or per batch: the workspace is sized for
 * a batch once, the optimiser state on the first update.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlp_internal.h"

/* What to tell a user whose training produced NaN or Inf. */
#define DIVERGED_ADVICE                                                                                                \
    "training diverged: lower the learning rate (--lr), or change the initialisation (--init he for relu, "        \
    "xavier for sigmoid/tanh)"

static const char *nonfinite_name(double v) { return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"; }

void dn_mlp_zero_grad(dn_mlp *mlp) { memset(mlp->grads, 0, mlp->nparams * sizeof(float)); }

/* ---------------------------------------------------------------- the batch */

/* Sample i of a batch: row order[i] of the set, or row i without an order. */
static size_t row_of(const uint32_t *order, size_t i) { return order ? order[i] : i; }

/* Layer 0 on the pixels a batch uses. MNIST is mostly blank: of the 784
 * pixels only ~150 are ink in an image and ~494 in some image of a batch of
 * 64 (the border is always 0). A zero input adds nothing to z = W_0 x and
 * gets a zero gradient, so on the BLAS path layer 0 runs on x, W_0 and
 * dW_0 restricted to the used columns: about 37% fewer multiply-adds in the
 * two largest products of a step, for a gather and a scatter of W_0. The
 * plain-C reference never compacts, so the tests compare the two. */
#define COMPACT_MAX_SHARE 0.85 /* above this share of used pixels the gather costs more than it saves */

static dn_status ensure_compaction_buffers(dn_mlp *mlp, dn_error *err)
{
    size_t n = mlp->width[1] * DN_IMAGE_PIXELS;
    if (!mlp->w0_used) mlp->w0_used = malloc(n * sizeof(float));
    if (!mlp->dw0_used) mlp->dw0_used = malloc(n * sizeof(float));
    if (!mlp->w0_used || !mlp->dw0_used) return dn_fail(err, DN_ERR_NOMEM, "out of memory for the input layer");
    return DN_OK;
}

/* The pixels non-zero in any of the batch's images, as runs of consecutive
 * indices (about 20, one per image row with ink), so that W_0's used
 * columns are copied run by run rather than one by one. Returns their count. */
static size_t find_used_pixels(dn_mlp *mlp, const uint8_t *images, const uint32_t *order, size_t first, size_t B)
{
    uint8_t any[DN_IMAGE_PIXELS] = {0};
    for (size_t b = 0; b < B; b++) {
        const uint8_t *image = images + row_of(order, first + b) * DN_IMAGE_PIXELS;
        for (size_t k = 0; k < DN_IMAGE_PIXELS; k++) any[k] |= image[k];
    }
    size_t n = 0;
    mlp->nruns = 0;
    for (size_t k = 0; k < DN_IMAGE_PIXELS; k++) {
        if (!any[k]) continue;
        if (k == 0 || !any[k - 1]) { /* a run starts */
            mlp->run_start[mlp->nruns] = (uint16_t)k;
            mlp->run_len[mlp->nruns++] = 0;
        }
        mlp->run_len[mlp->nruns - 1]++;
        n++;
    }
    return n;
}

/* x (B, nused) from the used pixels of each image, run by run. */
static void load_used_pixels(const dn_mlp *mlp, const uint8_t *images, const uint32_t *order, size_t first, size_t B,
                             float *x)
{
    for (size_t b = 0; b < B; b++) {
        const uint8_t *image = images + row_of(order, first + b) * DN_IMAGE_PIXELS;
        float *x_b = x + b * mlp->nused;
        for (size_t r = 0; r < mlp->nruns; r++) {
            const uint8_t *src = image + mlp->run_start[r];
            for (size_t t = 0; t < mlp->run_len[r]; t++) x_b[t] = (float)src[t] / 255.0f;
            x_b += mlp->run_len[r];
        }
    }
}

/* Fills ws->act[0] (x, (B, nused) row-major) and ws->labels with rows
 * order[first …] of images and labels (order NULL: rows first …), and, when
 * compacting, w0_used with the used columns of W_0. */
static void load_batch(dn_mlp *mlp, const uint8_t *images, const uint8_t *labels, const uint32_t *order, size_t first,
                       size_t B)
{
    dn_mlp_workspace *ws = &mlp->ws;
    for (size_t b = 0; b < B; b++) ws->labels[b] = labels[row_of(order, first + b)];
    size_t n = mlp->opt.matmul == DN_MATMUL_BLAS && mlp->w0_used ? find_used_pixels(mlp, images, order, first, B) : 0;
    mlp->nused = n > 0 && n <= COMPACT_MAX_SHARE * DN_IMAGE_PIXELS ? n : DN_IMAGE_PIXELS;
    if (mlp->nused == DN_IMAGE_PIXELS) {
        dn_images_to_floats(ws->act[0], images, order, first, B);
        return;
    }
    load_used_pixels(mlp, images, order, first, B, ws->act[0]);
    for (size_t o = 0; o < mlp->width[1]; o++) {
        const float *w0_o = mlp->layer[0].weight + o * DN_IMAGE_PIXELS;
        float *dst = mlp->w0_used + o * n;
        for (size_t r = 0; r < mlp->nruns; r++) {
            memcpy(dst, w0_o + mlp->run_start[r], mlp->run_len[r] * sizeof(float));
            dst += mlp->run_len[r];
        }
    }
}

/* ---------------------------------------------------------------- backprop */

static void train_forward(dn_mlp *mlp, size_t B)
{
    dn_mlp_workspace *ws = &mlp->ws;
    const float *w0 = mlp->nused < DN_IMAGE_PIXELS ? mlp->w0_used : mlp->layer[0].weight;
    dn_dense_forward(ws->act[1], ws->act[0], w0, mlp->layer[0].bias, B, mlp->nused, mlp->width[1],
                     dn_mlp_act_(mlp, 0), mlp->opt.matmul);
    for (int k = 1; k < mlp->nlayers; k++)
        dn_dense_forward(ws->act[k + 1], ws->act[k], mlp->layer[k].weight, mlp->layer[k].bias, B, mlp->width[k],
                         mlp->width[k + 1], dn_mlp_act_(mlp, k), mlp->opt.matmul);
}

/* Layer 0's backward: into dW_0 directly, or through the compacted columns
 * and then scattered back (the unused columns' gradient is 0: nothing to add). */
static void input_backward(dn_mlp *mlp, float *dout, size_t B)
{
    dn_mlp_workspace *ws = &mlp->ws;
    const size_t n = mlp->nused, OC = mlp->width[1];
    if (n == DN_IMAGE_PIXELS) {
        dn_dense_backward(NULL, mlp->dlayer[0].weight, mlp->dlayer[0].bias, dout, ws->act[1], ws->act[0],
                          mlp->layer[0].weight, B, n, OC, dn_mlp_act_(mlp, 0), mlp->opt.matmul);
        return;
    }
    memset(mlp->dw0_used, 0, OC * n * sizeof(float));
    dn_dense_backward(NULL, mlp->dw0_used, mlp->dlayer[0].bias, dout, ws->act[1], ws->act[0], mlp->w0_used, B, n, OC,
                      dn_mlp_act_(mlp, 0), mlp->opt.matmul);
    for (size_t o = 0; o < OC; o++) {
        float *dw0_o = mlp->dlayer[0].weight + o * DN_IMAGE_PIXELS;
        const float *src = mlp->dw0_used + o * n;
        for (size_t r = 0; r < mlp->nruns; r++) {
            float *dst = dw0_o + mlp->run_start[r];
            for (size_t t = 0; t < mlp->run_len[r]; t++) dst[t] += src[t];
            src += mlp->run_len[r];
        }
    }
}

/* Forward and backward over the B samples load_batch put in the workspace.
 * The gradient buffer is touched only when the loss is finite. */
static dn_status backprop_ws(dn_mlp *mlp, size_t B, dn_mlp_batch_stats *stats, dn_error *err)
{
    dn_mlp_workspace *ws = &mlp->ws;
    const int L = mlp->nlayers;
    train_forward(mlp, B);
    /* the loss and ∂(mean loss)/∂(output) — for CE already ∂/∂z: the softmax is fused in */
    float *dout = ws->delta[0];
    size_t correct = 0;
    double loss = mlp->opt.loss == DN_LOSS_CE ? dn_softmax_ce(ws->act[L], dout, ws->labels, B, DN_CLASSES, &correct)
                                              : dn_sigmoid_mse(ws->act[L], dout, ws->labels, B, DN_CLASSES, &correct);
    loss /= (double)B;
    if (stats) *stats = (dn_mlp_batch_stats){loss, correct};
    if (!isfinite(loss)) return dn_fail(err, DN_ERR_NUMERIC, "the loss is %s: " DIVERGED_ADVICE, nonfinite_name(loss));
    for (int k = L - 1; k >= 1; k--) {
        float *dinp = ws->delta[(L - k) % 2]; /* ∂L/∂a_k goes to the other delta buffer */
        dn_dense_backward(dinp, mlp->dlayer[k].weight, mlp->dlayer[k].bias, dout, ws->act[k + 1], ws->act[k],
                          mlp->layer[k].weight, B, mlp->width[k], mlp->width[k + 1], dn_mlp_act_(mlp, k),
                          mlp->opt.matmul);
        dout = dinp;
    }
    input_backward(mlp, dout, B); /* layer 0 needs no ∂L/∂x: x is data */
    return DN_OK;
}

/* The training workspace for rows samples, and the compaction buffers. */
static dn_status reserve_training(dn_mlp *mlp, size_t rows, dn_error *err)
{
    dn_status s = dn_mlp_workspace_reserve_(mlp, rows, err);
    return s ? s : ensure_compaction_buffers(mlp, err);
}

dn_status dn_mlp_backprop(dn_mlp *mlp, const uint8_t *images, const uint8_t *labels, size_t count,
                          dn_mlp_batch_stats *stats, dn_error *err)
{
    if (stats) *stats = (dn_mlp_batch_stats){0.0, 0};
    if (count == 0) return DN_OK;
    dn_status s = reserve_training(mlp, count, err);
    if (s) return s;
    load_batch(mlp, images, labels, NULL, 0, count);
    int restore = dn_blas_threads_set_(mlp->opt.threads);
    s = backprop_ws(mlp, count, stats, err);
    if (restore > 0) dn_blas_threads_set_(restore);
    return s;
}

/* ---------------------------------------------------------------- optimisers */

/* SGD over one segment of the flat buffers; v is NULL without momentum.
 *   g ← g + λθ;  v ← μ v + g;  θ ← θ − η v   (Nesterov: θ ← θ − η (g + μ v))
 * One loop per case, so each vectorises without a branch inside. */
static void sgd_segment(float *p, const float *g, float *v, size_t n, float lr, float wd, float mu, int nesterov)
{
    if (!v) {
        for (size_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (!nesterov) {
        for (size_t i = 0; i < n; i++) {
            v[i] = mu * v[i] + (g[i] + wd * p[i]);
            p[i] -= lr * v[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float step = g[i] + wd * p[i];
            v[i] = mu * v[i] + step;
            p[i] -= lr * (step + mu * v[i]);
        }
    }
}

typedef struct adam_consts {
    float lr, wd, beta1, beta2, eps;
    float inv_c1, inv_c2; /* 1 / (1 − β^t), the bias corrections */
} adam_consts;

/* m ← β1 m + (1−β1) g;  s ← β2 s + (1−β2) g²;  θ ← θ − η (m/c1) / (√(s/c2) + ε) */
static void adam_segment(float *p, const float *g, float *m, float *s, size_t n, const adam_consts *c, float wd)
{
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * gi;
        s[i] = c->beta2 * s[i] + (1.0f - c->beta2) * gi * gi;
        p[i] -= c->lr * (m[i] * c->inv_c1) / (sqrtf(s[i] * c->inv_c2) + c->eps);
    }
}

/* The optimiser's buffers, zeroed, on the first update that needs them. */
static dn_status ensure_moments(dn_mlp *mlp, dn_error *err)
{
    int adam = mlp->opt.optimizer == DN_OPTIMIZER_ADAM;
    int need1 = adam || mlp->opt.momentum > 0, need2 = adam;
    if (need1 && !mlp->moment1 && !(mlp->moment1 = calloc(mlp->nparams, sizeof(float))))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the optimiser state");
    if (need2 && !mlp->moment2 && !(mlp->moment2 = calloc(mlp->nparams, sizeof(float))))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the optimiser state");
    return DN_OK;
}

/* Layer by layer, because weights decay and biases do not. A view's offset
 * into params is its offset into grads and both moment buffers too. */
dn_status dn_mlp_update(dn_mlp *mlp, double lr, dn_error *err)
{
    if (!(lr >= 0) || !isfinite(lr)) return dn_fail(err, DN_ERR_USAGE, "learning rate must be finite and ≥ 0 (got %g)", lr);
    dn_status s = ensure_moments(mlp, err);
    if (s) return s;
    const dn_mlp_options *o = &mlp->opt;
    adam_consts c = {(float)lr, (float)o->weight_decay, (float)o->beta1, (float)o->beta2, (float)o->adam_eps, 1, 1};
    if (o->optimizer == DN_OPTIMIZER_ADAM) {
        mlp->adam_t++;
        c.inv_c1 = (float)(1.0 / (1.0 - pow(o->beta1, (double)mlp->adam_t)));
        c.inv_c2 = (float)(1.0 / (1.0 - pow(o->beta2, (double)mlp->adam_t)));
    }
    for (int k = 0; k < mlp->nlayers; k++) {
        size_t nw = mlp->width[k] * mlp->width[k + 1], nb = mlp->width[k + 1];
        size_t at_w = (size_t)(mlp->layer[k].weight - mlp->params), at_b = (size_t)(mlp->layer[k].bias - mlp->params);
        float *m_w = mlp->moment1 ? mlp->moment1 + at_w : NULL, *m_b = mlp->moment1 ? mlp->moment1 + at_b : NULL;
        if (o->optimizer == DN_OPTIMIZER_ADAM) {
            adam_segment(mlp->params + at_w, mlp->grads + at_w, m_w, mlp->moment2 + at_w, nw, &c, c.wd);
            adam_segment(mlp->params + at_b, mlp->grads + at_b, m_b, mlp->moment2 + at_b, nb, &c, 0.0f);
        } else {
            float mu = (float)o->momentum;
            sgd_segment(mlp->params + at_w, mlp->grads + at_w, m_w, nw, c.lr, c.wd, mu, o->nesterov);
            sgd_segment(mlp->params + at_b, mlp->grads + at_b, m_b, nb, c.lr, 0.0f, mu, o->nesterov);
        }
    }
    return DN_OK;
}

/* ---------------------------------------------------------------- epochs */

/* The epoch's sample order: a Fisher–Yates shuffle from a generator seeded
 * by (seed, epoch) alone, so epoch e is the same whether or not training
 * was resumed. */
static dn_status shuffle_order(dn_mlp *mlp, size_t n, int epoch, dn_error *err)
{
    if (mlp->order_n != n) {
        free(mlp->order);
        mlp->order_n = 0;
        if (!(mlp->order = malloc(n * sizeof *mlp->order)))
            return dn_fail(err, DN_ERR_NOMEM, "out of memory for the order of %zu samples", n);
        mlp->order_n = n;
    }
    for (size_t i = 0; i < n; i++) mlp->order[i] = (uint32_t)i;
    dn_rng rng;
    dn_rng_seed(&rng, mlp->opt.seed ^ (0x5348554646ULL * (uint64_t)(epoch + 1))); /* "SHUFF" × (e+1) */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)dn_rng_below(&rng, i + 1);
        uint32_t t = mlp->order[i];
        mlp->order[i] = mlp->order[j];
        mlp->order[j] = t;
    }
    return DN_OK;
}

static int params_finite(const dn_mlp *mlp)
{
    for (size_t i = 0; i < mlp->nparams; i++)
        if (!isfinite(mlp->params[i])) return 0;
    return 1;
}

/* Asks for the next batch's images (random rows of a set larger than the
 * cache) while this batch computes; into L3 (locality 1), which the
 * products of a step do not flush. */
static void prefetch_rows(const uint8_t *images, const uint32_t *order, size_t first, size_t B)
{
    for (size_t b = 0; b < B; b++) {
        const uint8_t *image = images + (size_t)order[first + b] * DN_IMAGE_PIXELS;
        for (size_t k = 0; k < DN_IMAGE_PIXELS; k += 64) __builtin_prefetch(image + k, 0, 1);
        __builtin_prefetch(image + DN_IMAGE_PIXELS - 1, 0, 1); /* a row may straddle one more line */
    }
}

/* Every batch of the epoch; sums the per-sample losses and correct counts. */
static dn_status run_batches(dn_mlp *mlp, const dn_dataset *train, double *loss_sum, size_t *correct, double *lr,
                             dn_error *err)
{
    const size_t n = train->count, batch = mlp->opt.batch, nbatches = (n + batch - 1) / batch;
    dn_status s = DN_OK;
    for (size_t i = 0; i < nbatches && !s; i++) {
        size_t first = i * batch, B = n - first < batch ? n - first : batch;
        load_batch(mlp, train->images, train->labels, mlp->order, first, B);
        prefetch_rows(train->images, mlp->order, first + B, n - first - B < batch ? n - first - B : batch);
        *lr = dn_mlp_scheduled_lr(&mlp->opt, mlp->epochs_done + (double)i / (double)nbatches);
        dn_mlp_batch_stats stats;
        dn_mlp_zero_grad(mlp);
        s = backprop_ws(mlp, B, &stats, err);
        if (s == DN_ERR_NUMERIC)
            return dn_fail(err, s, "epoch %d, batch %zu of %zu: the loss is %s at learning rate %g: " DIVERGED_ADVICE,
                           mlp->epochs_done + 1, i + 1, nbatches, nonfinite_name(stats.loss), *lr);
        if (!s) s = dn_mlp_update(mlp, *lr, err);
        *loss_sum += stats.loss * (double)B;
        *correct += stats.correct;
    }
    return s;
}

dn_status dn_mlp_train_epoch(dn_mlp *mlp, const dn_dataset *train, dn_mlp_epoch_report *report, dn_error *err)
{
    const size_t n = train->count;
    if (n == 0) return dn_fail(err, DN_ERR_USAGE, "the training set is empty");
    if (n > UINT32_MAX) return dn_fail(err, DN_ERR_USAGE, "at most %u training samples", UINT32_MAX);
    double t0 = dn_now_seconds(), loss_sum = 0, lr = 0;
    size_t correct = 0;
    dn_status s = reserve_training(mlp, n < mlp->opt.batch ? n : mlp->opt.batch, err);
    if (!s) s = shuffle_order(mlp, n, mlp->epochs_done, err);
    if (s) return s;
    int restore = dn_blas_threads_set_(mlp->opt.threads);
    s = run_batches(mlp, train, &loss_sum, &correct, &lr, err);
    if (restore > 0) dn_blas_threads_set_(restore);
    if (!s && !params_finite(mlp))
        s = dn_fail(err, DN_ERR_NUMERIC, "epoch %d: a parameter became NaN or Inf at learning rate %g: " DIVERGED_ADVICE,
                    mlp->epochs_done + 1, lr);
    if (s) return s;
    mlp->epochs_done++;
    mlp->train_size = n;
    if (report)
        *report = (dn_mlp_epoch_report){mlp->epochs_done - 1, n, loss_sum / (double)n, (double)correct / (double)n,
                                        lr, dn_now_seconds() - t0};
    return DN_OK;
}

dn_status dn_mlp_train(dn_mlp *mlp, const dn_dataset *train, dn_mlp_epoch_fn on_epoch, void *user, dn_error *err)
{
    while (mlp->epochs_done < mlp->opt.epochs) {
        dn_mlp_epoch_report report;
        dn_status s = dn_mlp_train_epoch(mlp, train, &report, err);
        if (s) return s;
        if (on_epoch && on_epoch(&report, user)) break;
    }
    return DN_OK;
}
