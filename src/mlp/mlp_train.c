/*
 * mlp_train.c — backpropagation and the epoch loop that shuffles, batches
 * and schedules the learning rate (formulas in digitnet.h; the optimisers
 * are in mlp_optim.c).
 *
 * Nothing is allocated per sample or per batch: the workspaces are sized
 * for a batch once, the optimiser state on the first update.
 *
 * Threads. With T > 1 threads a training step splits every layer but the
 * last by output unit: thread t owns rows [o0, o1) of W_k — it computes
 * those units' activations for the whole batch, later their gradients, and
 * updates them. No two threads write the same memory and no gradient needs
 * summing. Thread 0 alone runs the last layer (10 units) and the loss. Going
 * back down, ∂L/∂a_k = dz_k W_k is split by column, each thread taking the
 * columns that are its units of the layer below, so it goes on without
 * waiting. One barrier per layer each way, BLAS single-threaded inside each
 * thread: multi-threaded BLAS would fork and join every product and leave
 * everything else on one core. (Measured on 784-300-100-10, batch 64, two
 * cores: running layer 1 on thread 0 alone left the other core waiting at
 * the barrier for a quarter of the step.) With SGD on W_0ᵀ (most runs) the
 * step is replicated instead (see Replicas below): layer 0 split by units
 * as here, every layer above run whole by every thread on its own copy.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mlp_internal.h"

/* What to tell a user whose training produced NaN or Inf. */
#define DIVERGED_ADVICE                                                                                                \
    "training diverged: lower the learning rate (lr), or change the initialisation (init: he for relu, "        \
    "xavier for sigmoid/tanh)"

static const char *nonfinite_name(double v) { return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"; }

void dn_mlp_zero_grad(dn_mlp *mlp) { memset(mlp->grads, 0, mlp->nparams * sizeof(float)); }

/* ---------------------------------------------------------------- the batch */

/* Sample i of a batch: row order[i] of the set, or row i without an order. */
static size_t row_of(const uint32_t *order, size_t i) { return order ? order[i] : i; }

/* The profile's clock is training thread 0's (dn_mlp_set_profile). */
static void lap(dn_mlp *mlp, int t, dn_phase ended)
{
    if (t == 0) dn_lap_(mlp, ended);
}

/* Layer 0 on the pixels a batch uses. MNIST is mostly blank: of the 784
 * pixels only ~150 are ink in an image and ~494 in some image of a batch of
 * 64 (the border is always 0). A zero input adds nothing to z = W_0 x and
 * gets a zero gradient, so on the BLAS path layer 0 runs on x, W_0 and
 * dW_0 restricted to the used columns: about 37% fewer multiply-adds in the
 * two largest products of a step, for a gather and a scatter of W_0. The
 * plain-C reference never compacts, so the tests compare the two. */
#define COMPACT_MAX_SHARE 0.85 /* above this share of used pixels the gather costs more than it saves */

/* The pixels non-zero in any of the batch's images, as runs of consecutive
 * indices (about 20, one per image row with ink), so that W_0's used
 * columns are copied run by run rather than one by one. Returns their count. */
static size_t find_used_pixels(dn_batch_plan *plan, const uint8_t *images, const uint32_t *order, size_t first,
                               size_t B)
{
    /* OR-ed 64 pixels a vector, in registers across the images (byte by
     * byte GCC left the loop scalar, and eight bytes a word it kept the
     * words in memory: ~1 byte a cycle, 3.5 % of a one-thread step) */
    typedef uint8_t v64 __attribute__((vector_size(64)));
    typedef uint8_t v16 __attribute__((vector_size(16)));
    enum { WHOLE = DN_IMAGE_PIXELS / 64, TAIL = DN_IMAGE_PIXELS % 64 };
    _Static_assert(TAIL == 16, "784 = 12 · 64 + 16");
    v64 acc[WHOLE] = {{0}};
    v16 tail = {0};
    for (size_t b = 0; b < B; b++) {
        const uint8_t *image = images + row_of(order, first + b) * DN_IMAGE_PIXELS;
        for (size_t w = 0; w < WHOLE; w++) {
            v64 v;
            memcpy(&v, image + 64 * w, sizeof v);
            acc[w] |= v;
        }
        v16 v;
        memcpy(&v, image + 64 * WHOLE, sizeof v);
        tail |= v;
    }
    uint8_t any[DN_IMAGE_PIXELS];
    memcpy(any, acc, sizeof acc);
    memcpy(any + 64 * WHOLE, &tail, sizeof tail);
    size_t n = 0;
    plan->nruns = 0;
    for (size_t k = 0; k < DN_IMAGE_PIXELS; k++) {
        if (!any[k]) continue;
        if (k == 0 || !any[k - 1]) { /* a run starts */
            plan->run_start[plan->nruns] = (uint16_t)k;
            plan->run_len[plan->nruns++] = 0;
        }
        plan->run_len[plan->nruns - 1]++;
        n++;
    }
    return n;
}

/* Decides for a batch whether layer 0 is compacted (plan->nused, runs). */
static void plan_batch(const dn_mlp *mlp, dn_batch_plan *plan, const uint8_t *images, const uint32_t *order,
                       size_t first, size_t B)
{
    size_t n = mlp->opt.matmul == DN_MATMUL_BLAS && mlp->w0_used ? find_used_pixels(plan, images, order, first, B) : 0;
    plan->nused = n > 0 && n <= COMPACT_MAX_SHARE * DN_IMAGE_PIXELS ? n : DN_IMAGE_PIXELS;
    if (plan->nused == DN_IMAGE_PIXELS) plan->nruns = 0;
}

/* w0_used rows [o0, o1): the columns of W_0 at plan's pixels, run by run. */
static void gather_w0(dn_mlp *mlp, const dn_batch_plan *plan, size_t o0, size_t o1)
{
    for (size_t o = o0; o < o1; o++) dn_mlp_gather_w0_row_(mlp, plan, o);
}

/* ---------------------------------------------------------------- dropout */

/* Dropout (digitnet.h, Regularisation). Each mask value is a hash of the
 * sample's key and the unit, so a thread computing its units' slice draws
 * what any other split would: the masks depend on (seed, epoch, position
 * in the epoch's order, layer, unit) alone. */

/* 1 when layer k's output a_{k+1} is a hidden layer that drops units. */
static int drops_output(const dn_mlp *mlp, int k) { return mlp->opt.dropout_hidden > 0 && k < mlp->nlayers - 1; }

static float dropout_scale(double p) { return (float)(1.0 / (1.0 - p)); }

/* Layer k's masks, (drop_rows, n_{k+1}). */
static float *mask_of(const dn_mlp *mlp, int k)
{
    size_t at = 0;
    for (int j = 1; j <= k; j++) at += mlp->width[j];
    return mlp->drop_mask + mlp->drop_rows * at;
}

/* Rows [r0, r1) of a batch's x (see batch_rows): dropout on the pixels,
 * each keyed by its image index so that layer 0's compaction does not
 * change the mask. No mask is kept: x gets no gradient. */
static void drop_input_rows(const dn_mlp *mlp, float *x, const dn_batch_plan *plan, size_t position, size_t r0,
                            size_t r1)
{
    const double p = mlp->opt.dropout_input;
    if (!(p > 0)) return;
    const uint32_t keep = dn_dropout_keep_(p);
    const float scale = dropout_scale(p);
    for (size_t b = r0; b < r1; b++) {
        uint64_t key = dn_dropout_key_(mlp->opt.seed, mlp->drop_epoch, position + b, 0);
        float *x_b = x + b * plan->nused;
        if (plan->nused == DN_IMAGE_PIXELS) {
            dn_dropout_row_(x_b, NULL, DN_IMAGE_PIXELS, 0, key, keep, scale);
            continue;
        }
        for (size_t r = 0; r < plan->nruns; r++) {
            dn_dropout_row_(x_b, NULL, plan->run_len[r], plan->run_start[r], key, keep, scale);
            x_b += plan->run_len[r];
        }
    }
}

/* Units [u0, u1) of a_{k+1} (layer k's output) for the B rows: dropped,
 * their masks kept for the backward pass. */
static void drop_units(dn_mlp *mlp, int k, size_t B, size_t u0, size_t u1)
{
    if (!drops_output(mlp, k) || u1 <= u0) return;
    const double p = mlp->opt.dropout_hidden;
    const uint32_t keep = dn_dropout_keep_(p);
    const float scale = dropout_scale(p);
    const size_t OC = mlp->width[k + 1];
    float *a = mlp->ws.act[k + 1], *mask = mask_of(mlp, k);
    for (size_t b = 0; b < B; b++) {
        uint64_t key = dn_dropout_key_(mlp->opt.seed, mlp->drop_epoch, mlp->drop_first + b, k + 1);
        dn_dropout_row_(a + b * OC + u0, mask + b * OC + u0, u1 - u0, u0, key, keep, scale);
    }
}

/* The activation layer k's backward applies to dout, columns [o0, o1): its
 * own, or, when its output drops units, IDENTITY after dout has been
 * turned into ∂L/∂z here (dropout's mask and the activation together). */
static dn_act backward_act(dn_mlp *mlp, int k, float *dout, size_t B, size_t o0, size_t o1)
{
    if (!drops_output(mlp, k)) return dn_mlp_act_(mlp, k);
    const size_t OC = mlp->width[k + 1];
    const float *out = mlp->ws.act[k + 1], *mask = mask_of(mlp, k);
    for (size_t b = 0; b < B; b++)
        dn_dropout_grad_row_(dout + b * OC + o0, out + b * OC + o0, mask + b * OC + o0, o1 - o0, dn_mlp_act_(mlp, k));
    return DN_ACT_FN_IDENTITY;
}

/* The mask buffer for rows samples, when hidden units drop. */
static dn_status ensure_drop_mask(dn_mlp *mlp, size_t rows, dn_error *err)
{
    if (!(mlp->opt.dropout_hidden > 0) || mlp->nlayers < 2 || (mlp->drop_mask && mlp->drop_rows >= rows))
        return DN_OK;
    size_t units = 0;
    for (int k = 1; k < mlp->nlayers; k++) units += mlp->width[k];
    free(mlp->drop_mask);
    mlp->drop_rows = 0;
    if (!(mlp->drop_mask = dn_mlp_alloc_floats_(rows * units)))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the dropout masks of %zu samples", rows);
    mlp->drop_rows = rows;
    return DN_OK;
}

/* Where a batch's rows go: x (B, plan->nused) row-major and labels (B),
 * for the batch whose first sample is at `position` of the epoch's order
 * (its dropout keys). */
typedef struct batch_rows {
    float *x;
    uint8_t *labels;
    const dn_batch_plan *plan;
    size_t position;
} batch_rows;

/* The workspace's own x (act[0]) and labels for the batch in training. */
static batch_rows current_rows(dn_mlp *mlp)
{
    return (batch_rows){mlp->ws.act[0], mlp->ws.labels, &mlp->plan, mlp->drop_first};
}

/* Rows [r0, r1) of dst, from samples first + r0 … of the order. */
static void load_rows(const dn_mlp *mlp, const batch_rows *dst, const uint8_t *images, const uint8_t *labels,
                      const uint32_t *order, size_t first, size_t r0, size_t r1)
{
    const dn_batch_plan *plan = dst->plan;
    for (size_t b = r0; b < r1; b++) dst->labels[b] = labels[row_of(order, first + b)];
    if (mlp->input_t.live) return; /* layer 0 reads xᵀ, made with the transposed bytes (dn_input_t_pixels_) */
    if (plan->nused == DN_IMAGE_PIXELS) {
        dn_images_to_floats(dst->x + r0 * DN_IMAGE_PIXELS, images, order, first + r0, r1 - r0);
    } else {
        /* a byte's value looked up, not divided: the runs are short (~20
         * pixels), the compiler left the division scalar, and it was ~7 % of
         * a sync rank's time (perf, 784-300-100-10, batch 64) */
        float value[256];
        for (int v = 0; v < 256; v++) value[v] = (float)v / 255.0f;
        for (size_t b = r0; b < r1; b++) {
            const uint8_t *image = images + row_of(order, first + b) * DN_IMAGE_PIXELS;
            float *x_b = dst->x + b * plan->nused;
            for (size_t r = 0; r < plan->nruns; r++) {
                const uint8_t *src = image + plan->run_start[r];
                for (size_t i = 0; i < plan->run_len[r]; i++) x_b[i] = value[src[i]];
                x_b += plan->run_len[r];
            }
        }
    }
    drop_input_rows(mlp, dst->x, plan, dst->position, r0, r1);
}

/* ---------------------------------------------------------------- backprop */

/* Units [o0, o1) of layer k: the bias, the activation and dropout on the
 * product in a_{k+1}'s columns (thread t's clock). */
static void forward_finish(dn_mlp *mlp, int t, int k, size_t B, size_t o0, size_t o1)
{
    lap(mlp, t, DN_PHASE_FORWARD);
    const size_t OC = mlp->width[k + 1];
    float *out = mlp->ws.act[k + 1];
    for (size_t b = 0; b < B; b++) dn_bias_act_row_(out + b * OC + o0, mlp->layer[k].bias + o0, o1 - o0, dn_mlp_act_(mlp, k));
    drop_units(mlp, k, B, o0, o1);
    lap(mlp, t, DN_PHASE_ELEMENTWISE);
}

/* Units [o0, o1) of layer 0 on W_0ᵀ (input_t): xᵀ (nused, Bp) of copy
 * `copy` times W_0ᵀ's rows at the used pixels (nused, stride), finished. */
static void forward_input_t(dn_mlp *mlp, int t, int copy, size_t B, size_t o0, size_t o1)
{
    if (o1 <= o0) return;
    const dn_input_t *it = &mlp->input_t;
    dn_sgemm_(mlp->opt.matmul, 1, 0, B, o1 - o0, mlp->plan.nused, 1.0f, it->xt[copy][0], dn_input_t_pixel_row_(B),
              it->used[0] + o0, it->stride, 0.0f, mlp->ws.act[1] + o0, mlp->width[1]);
    forward_finish(mlp, t, 0, B, o0, o1);
}

/* Units [o0, o1) of layer k, forward, for the B rows of the workspace:
 * a_{k+1} = act(a_k Wᵀ + b) on those columns, then dropout; the product
 * and the rest timed apart (thread t). Layer 0 reads its compacted
 * columns when the batch has them (nused). */
static void forward_units(dn_mlp *mlp, int t, int k, size_t B, size_t o0, size_t o1)
{
    if (o1 <= o0) return;
    if (k == 0 && mlp->input_t.live) {
        forward_input_t(mlp, t, 0, B, o0, o1);
        return;
    }
    const size_t C = k == 0 ? mlp->plan.nused : mlp->width[k], OC = mlp->width[k + 1];
    const float *w = k == 0 && mlp->plan.nused < DN_IMAGE_PIXELS ? mlp->w0_used : mlp->layer[k].weight;
    dn_sgemm_(mlp->opt.matmul, 0, 1, B, o1 - o0, C, 1.0f, mlp->ws.act[k], C, w + o0 * C, C, 0.0f,
              mlp->ws.act[k + 1] + o0, OC);
    forward_finish(mlp, t, k, B, o0, o1);
}

/* Units [o0, o1) of layer k, backward, for the B rows: dout's columns
 * become dz, their sums go to db_k, and dweight (dW_k, or layer 0's
 * compacted dW_0) becomes dzᵀ a_k + beta · dweight: beta 1 ADDS (the
 * gradient API), beta 0 overwrites (a fused step: no zeroing first) —
 * timed apart like forward_units. */
static void backward_units(dn_mlp *mlp, int t, int k, float *dweight, float *dout, size_t B, size_t o0, size_t o1,
                           float beta)
{
    if (o1 <= o0) return;
    const size_t C = k == 0 ? mlp->plan.nused : mlp->width[k], OC = mlp->width[k + 1];
    dn_act act = backward_act(mlp, k, dout, B, o0, o1);
    dn_dense_dz_units_(mlp->dlayer[k].bias, dout, mlp->ws.act[k + 1], B, OC, o0, o1, act);
    lap(mlp, t, DN_PHASE_ELEMENTWISE);
    dn_sgemm_(mlp->opt.matmul, 1, 0, o1 - o0, C, B, 1.0f, dout + o0, OC, mlp->ws.act[k], C, beta, dweight + o0 * C, C);
    lap(mlp, t, DN_PHASE_BACKWARD);
}

/* Columns [c0, c1) of ∂L/∂a_k = dz W_k (B, C) into dinp, from dz (B, OC). */
static void input_grad_columns(dn_mlp *mlp, int t, int k, float *dinp, const float *dz, size_t B, size_t c0, size_t c1)
{
    const size_t C = mlp->width[k], OC = mlp->width[k + 1];
    if (c1 > c0)
        dn_sgemm_(mlp->opt.matmul, 0, 0, B, c1 - c0, OC, 1.0f, dz, OC, mlp->layer[k].weight + c0, C, 0.0f, dinp + c0,
                  C);
    lap(mlp, t, DN_PHASE_BACKWARD);
}

/* The loss of the B rows in act[L] and ∂(mean loss)/∂(output) into
 * delta[0] — for CE already ∂/∂z: the softmax is fused in. */
static double output_loss(dn_mlp *mlp, size_t B, size_t *correct)
{
    dn_mlp_workspace *ws = &mlp->ws;
    float *out = ws->act[mlp->nlayers];
    double loss = mlp->opt.loss == DN_LOSS_CE
                      ? dn_softmax_ce_smooth(out, ws->delta[0], ws->labels, B, DN_CLASSES, correct,
                                             (float)mlp->opt.label_smoothing)
                      : dn_sigmoid_mse(out, ws->delta[0], ws->labels, B, DN_CLASSES, correct);
    dn_lap_(mlp, DN_PHASE_ELEMENTWISE);
    return loss;
}

/* Layer k (≥ 1) backward for the whole batch: ADDS its gradients (beta 1)
 * or overwrites dW_k (beta 0: see backward_units), and writes ∂L/∂a_k into
 * the delta buffer dout is not in. Returns that buffer. */
static float *layer_backward(dn_mlp *mlp, int k, float *dout, size_t B, float beta)
{
    dn_mlp_workspace *ws = &mlp->ws;
    float *dinp = dout == ws->delta[0] ? ws->delta[1] : ws->delta[0];
    backward_units(mlp, 0, k, mlp->dlayer[k].weight, dout, B, 0, mlp->width[k + 1], beta);
    input_grad_columns(mlp, 0, k, dinp, dout, B, 0, mlp->width[k]);
    return dinp;
}

/* Layers 1 … L−1 forward, the loss, and their backward, ADDING to their
 * gradients (skipped when the loss is NaN or Inf). Returns the sum of the
 * B samples' losses; ∂L/∂a_1 is left in *da1 (layer 0's dout). */
static double upper_layers(dn_mlp *mlp, size_t B, size_t *correct, float **da1)
{
    dn_mlp_workspace *ws = &mlp->ws;
    const int L = mlp->nlayers;
    for (int k = 1; k < L; k++) forward_units(mlp, 0, k, B, 0, mlp->width[k + 1]);
    double loss = output_loss(mlp, B, correct);
    if (!isfinite(loss)) return loss;
    float *dout = ws->delta[0];
    for (int k = L - 1; k >= 1; k--) dout = layer_backward(mlp, k, dout, B, 1.0f);
    *da1 = dout;
    return loss;
}

/* Units [o0, o1) of layer 0, backward: their b_0 gradient, and their rows
 * of dW_0 — directly (ADDED when add, else overwritten), or, on a batch
 * with compacted columns, into dw0_used, then ADDED back into dW_0 when
 * add (the unused columns' gradient is 0: nothing to add); a fused step
 * reads dw0_used itself (dn_mlp_step_w0_used_). No ∂L/∂x: x is data. */
static void input_backward(dn_mlp *mlp, int t, float *da1, size_t B, size_t o0, size_t o1, int add)
{
    const size_t n = mlp->plan.nused;
    dn_dense_view *d0 = &mlp->dlayer[0];
    if (n == DN_IMAGE_PIXELS) {
        backward_units(mlp, t, 0, d0->weight, da1, B, o0, o1, add ? 1.0f : 0.0f);
        return;
    }
    backward_units(mlp, t, 0, mlp->dw0_used, da1, B, o0, o1, 0.0f);
    if (!add) return;
    for (size_t o = o0; o < o1; o++) {
        float *dw0_o = d0->weight + o * DN_IMAGE_PIXELS;
        const float *src = mlp->dw0_used + o * n;
        for (size_t r = 0; r < mlp->plan.nruns; r++) {
            float *dst = dw0_o + mlp->plan.run_start[r];
            for (size_t i = 0; i < mlp->plan.run_len[r]; i++) dst[i] += src[i];
            src += mlp->plan.run_len[r];
        }
    }
    lap(mlp, t, DN_PHASE_ELEMENTWISE);
}

static dn_status ensure_compaction_buffers(dn_mlp *mlp, dn_error *err)
{
    size_t n = mlp->width[1] * DN_IMAGE_PIXELS;
    if (!mlp->w0_used) mlp->w0_used = malloc(n * sizeof(float));
    if (!mlp->dw0_used) mlp->dw0_used = malloc(n * sizeof(float));
    if (!mlp->w0_used || !mlp->dw0_used) return dn_fail(err, DN_ERR_NOMEM, "out of memory for the input layer");
    return DN_OK;
}

/* The workspace for rows samples, and the compaction buffers. */
static dn_status reserve_training(dn_mlp *mlp, size_t rows, dn_error *err)
{
    dn_status s = dn_mlp_workspace_reserve_(mlp, rows, err);
    if (!s) s = ensure_drop_mask(mlp, rows, err);
    return s ? s : ensure_compaction_buffers(mlp, err);
}

dn_status dn_mlp_backprop(dn_mlp *mlp, const uint8_t *images, const uint8_t *labels, size_t count,
                          dn_mlp_batch_stats *stats, dn_error *err)
{
    if (stats) *stats = (dn_mlp_batch_stats){0.0, 0};
    if (count == 0) return DN_OK;
    dn_status s = reserve_training(mlp, count, err);
    if (s) return s;
    const size_t n1 = mlp->width[1];
    dn_lap_start_(mlp);
    plan_batch(mlp, &mlp->plan, images, NULL, 0, count);
    if (mlp->plan.nused < DN_IMAGE_PIXELS) gather_w0(mlp, &mlp->plan, 0, n1);
    mlp->drop_epoch = mlp->epochs_done, mlp->drop_first = 0; /* the same masks for the same call (digitnet.h) */
    mlp->next_ready = mlp->next_gathered = 0; /* this call's rows take the workspace's x */
    const batch_rows rows = current_rows(mlp);
    load_rows(mlp, &rows, images, labels, NULL, 0, 0, count);
    dn_lap_(mlp, DN_PHASE_DATA);
    int restore = dn_blas_threads_set_(mlp->opt.threads);
    size_t correct = 0;
    float *da1 = NULL;
    forward_units(mlp, 0, 0, count, 0, n1);
    double loss = upper_layers(mlp, count, &correct, &da1) / (double)count;
    if (isfinite(loss)) input_backward(mlp, 0, da1, count, 0, n1, 1);
    if (restore > 0) dn_blas_threads_set_(restore);
    if (stats) *stats = (dn_mlp_batch_stats){loss, correct};
    if (!isfinite(loss)) return dn_fail(err, DN_ERR_NUMERIC, "the loss is %s: " DIVERGED_ADVICE, nonfinite_name(loss));
    return DN_OK;
}

/* ---------------------------------------------------------------- a step */

#define MAX_THREADS 64 /* training threads used at most */

/* T = opt.threads (0: all cores). */
static int thread_count(const dn_mlp *mlp)
{
#ifdef _OPENMP
    int t = mlp->opt.threads > 0 ? mlp->opt.threads : omp_get_num_procs();
    return t > MAX_THREADS ? MAX_THREADS : t;
#else
    (void)mlp;
    return 1;
#endif
}

int dn_mlp_threads_(const dn_mlp *mlp) { return thread_count(mlp); }

/* Rows a thread needs at least for a split step to pay: below, fewer
 * threads. A split step costs barriers (one per layer each way) whose wait
 * grows with any load on the other cores, and the work per thread shrinks
 * with B. Measured on the 784-300-100-10 net, two cores shared with
 * another busy process: at B = 10 two threads took 13× one thread's time,
 * at B = 16 2.4×, at B = 64 1.9×. The jump below 16 is the batch's; what
 * is left above is the neighbour's load, and the split is kept there for
 * machines with cores to spare. So at most B / 8 threads: with two, B < 16
 * runs on one thread and B ≥ 16 keeps both, as before. */
#define MIN_ROWS_PER_THREAD 8

/* The threads a step of B rows runs on: thread_count, fewer for small B. */
static int step_threads(const dn_mlp *mlp, size_t B)
{
    int T = thread_count(mlp);
    size_t most = B / MIN_ROWS_PER_THREAD;
    return most < 1 ? 1 : (size_t)T > most ? (int)most : T;
}

/* Part t of T of [0, n), the parts as equal as can be. (Ends rounded to
 * multiples of 16, a cache line of floats, gave the last thread 156 of
 * layer 0's 300 units: measured, the other waited ~20 µs at each barrier
 * of layer 0; the line the two share in each row of a_1 cost nothing seen.) */
static void slice(size_t n, int T, int t, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)t / (size_t)T;
    *hi = n * (size_t)(t + 1) / (size_t)T;
}

/* Thread t's units of layer k: part t of T, but for layer 0 on W_0ᵀ
 * (input_t) whole 16-float vectors, the layout its rows are kept in. */
static void unit_slice(const dn_mlp *mlp, int k, int T, int t, size_t *u0, size_t *u1)
{
    if (k == 0 && mlp->split) dn_input_t_slice_(mlp, mlp->split->parts, mlp->split->part, u0, u1);
    else if (k == 0 && mlp->input_t.live) dn_input_t_slice_(mlp, T, t, u0, u1);
    else slice(mlp->width[k + 1], T, t, u0, u1);
}

/* Who layer 0's parts of W_0ᵀ are cut for: the step's T threads (thread
 * t), or, with layer 0 split across ranks (one thread each), the ranks. */
static void layer0_team(const dn_mlp *mlp, int T, int t, int *LT, int *lt)
{
    *LT = mlp->split ? mlp->split->parts : T;
    *lt = mlp->split ? mlp->split->part : t;
}

typedef struct batch {
    const dn_dataset *set;
    const uint32_t *order;
    size_t first, B;
    size_t position; /* of its first sample in the epoch's order: the dropout keys' */
} batch;

typedef struct step_result {
    double loss; /* sum over the batch */
    size_t correct;
    float *dout; /* ∂L/∂(the last layer's input), for the threads going back down */
    dn_status failed; /* the split's exchange failed (err says why): the step stopped */
    dn_error err;
} step_result;

/* The parameter offsets of layer k's weight and bias in params (= in grads). */
static size_t weight_at(const dn_mlp *mlp, int k) { return (size_t)(mlp->layer[k].weight - mlp->params); }
static size_t bias_at(const dn_mlp *mlp, int k) { return (size_t)(mlp->layer[k].bias - mlp->params); }

/* The gradient of units [u0, u1) of layer k's bias, zeroed for the sums
 * of a fused step (whose weight products overwrite dW_k: beta 0). */
static void zero_bias_units(dn_mlp *mlp, int k, size_t u0, size_t u1)
{
    memset(mlp->grads + bias_at(mlp, k) + u0, 0, (u1 - u0) * sizeof(float));
}

static void step_units(dn_mlp *mlp, const dn_mlp_step *st, int k, size_t u0, size_t u1)
{
    const size_t C = mlp->width[k];
    dn_mlp_step_span_(mlp, st, weight_at(mlp, k) + u0 * C, weight_at(mlp, k) + u1 * C);
    dn_mlp_step_span_(mlp, st, bias_at(mlp, k) + u0, bias_at(mlp, k) + u1);
}

/* The step on columns [c0, c1) of every row of W_k: the part of W_k that
 * this thread alone reads while computing ∂L/∂a_k[:, c0:c1]. */
static void step_columns(dn_mlp *mlp, const dn_mlp_step *st, int k, size_t c0, size_t c1)
{
    const size_t C = mlp->width[k], at = weight_at(mlp, k);
    for (size_t o = 0; o < mlp->width[k + 1]; o++) dn_mlp_step_span_(mlp, st, at + o * C + c0, at + o * C + c1);
}

/* Thread 0's part: the last layer L−1 forward (when above layer 0, which
 * the threads ran already), the loss, and the last layer's backward and
 * update. Returns the loss sum; *dout gets ∂L/∂a_{L−1} (∂L/∂z of layer 0
 * when it is the last layer). */
static double output_layer(dn_mlp *mlp, const dn_mlp_step *st, size_t B, size_t *correct, float **dout)
{
    dn_mlp_workspace *ws = &mlp->ws;
    const int k = mlp->nlayers - 1;
    if (k > 0) {
        zero_bias_units(mlp, k, 0, mlp->width[k + 1]);
        forward_units(mlp, 0, k, B, 0, mlp->width[k + 1]);
    }
    double loss = output_loss(mlp, B, correct);
    if (mlp->split) loss = mlp->split->agree(mlp->split->user, loss);
    *dout = ws->delta[0];
    if (!isfinite(loss) || k == 0) return loss;
    *dout = layer_backward(mlp, k, *dout, B, 0.0f);
    step_units(mlp, st, k, 0, mlp->width[k + 1]);
    dn_lap_(mlp, DN_PHASE_UPDATE);
    return loss;
}

/* Hidden layer k (1 ≤ k ≤ L−2) backward, thread t's share: its units'
 * dz and gradients; after the barrier (all of dz is needed) its columns of
 * ∂L/∂a_k = dz W_k, computed before those columns of W_k are updated. The
 * columns are the units of layer k−1 that this thread runs next, so no
 * barrier separates the two. Returns the buffer holding ∂L/∂a_k. */
static float *hidden_backward(dn_mlp *mlp, const dn_mlp_step *st, int k, float *dout, size_t B, int T, int t)
{
    dn_mlp_workspace *ws = &mlp->ws;
    const size_t OC = mlp->width[k + 1];
    size_t u0, u1, c0, c1;
    slice(OC, T, t, &u0, &u1);
    unit_slice(mlp, k - 1, T, t, &c0, &c1); /* layer k's inputs: layer k − 1's units */
    backward_units(mlp, t, k, mlp->dlayer[k].weight, dout, B, u0, u1, 0.0f);
#pragma omp barrier
    lap(mlp, t, DN_PHASE_WAIT);
    float *dinp = dout == ws->delta[0] ? ws->delta[1] : ws->delta[0];
    /* dinp[b][c] = Σ_o dz[b][o] W_k[o][c] for c in [c0, c1) */
    input_grad_columns(mlp, t, k, dinp, dout, B, c0, c1);
    step_columns(mlp, st, k, c0, c1);
    dn_mlp_step_span_(mlp, st, bias_at(mlp, k) + u0, bias_at(mlp, k) + u1);
    lap(mlp, t, DN_PHASE_UPDATE);
    return dinp;
}

/* ---------------------------------------------------------------- the next batch */

/* Asks for the next batch's images (random rows of a set larger than the
 * cache) while this batch computes, on the thread that plans it (plan_next),
 * into its caches (locality 1, which the products of a step do not flush).
 * (Prefetched by thread 0 a step ahead, the plan on the other thread still
 * took ~35 µs, the images coming from the other core.) */
static void prefetch_rows(const uint8_t *images, const uint32_t *order, size_t first, size_t B)
{
    for (size_t b = 0; b < B; b++) {
        const uint8_t *image = images + row_of(order, first + b) * DN_IMAGE_PIXELS;
        for (size_t k = 0; k < DN_IMAGE_PIXELS; k += 64) __builtin_prefetch(image + k, 0, 1);
        __builtin_prefetch(image + DN_IMAGE_PIXELS - 1, 0, 1); /* a row may straddle one more line */
    }
}

const char *dn_phase_name(dn_phase phase)
{
    static const char *const names[DN_PHASE_COUNT] = {"data",   "forward", "backward", "elementwise",
                                                      "update", "wait",    "comm"};
    return (unsigned)phase < DN_PHASE_COUNT ? names[phase] : "?";
}

void dn_mlp_set_profile(dn_mlp *mlp, dn_profile *profile) { mlp->profile = profile; }


/* While thread 0 runs the last layer and the loss, the other threads wait;
 * the last of them plans the next batch meanwhile (with one thread, thread
 * 0 does it there). Layer 0's update then writes each row of W_0 it steps
 * into w0_used at the next batch's pixels too, while the row is in cache
 * (unless a max-norm after the step changes W_0 again), and each thread
 * ends the step with its share of the next batch's rows, into the
 * workspace's spare x and labels. The next step starts with all of it in
 * place: no plan, gather or load, no barrier before layer 0. (Measured,
 * 784-300-100-10, batch 64, two threads: the plan and the rows had cost
 * thread 0 ~70 µs of a ~650 µs step, half of it with the other thread idle;
 * the whole preparation on the last thread made thread 0 wait ~75 µs.) */

/* 1 when layer 0's update fills w0_used for the next batch. */
static int gathers_next(const dn_mlp *mlp)
{
    return mlp->next_plan.nused < DN_IMAGE_PIXELS && !(mlp->opt.max_norm > 0);
}

static void plan_next(dn_mlp *mlp, int t, const batch *next)
{
    plan_batch(mlp, &mlp->next_plan, next->set->images, next->order, next->first, next->B);
    lap(mlp, t, DN_PHASE_DATA);
}

/* Thread t's share of the next batch's rows (after plan_next). */
static void load_next(dn_mlp *mlp, int T, int t, const batch *next, int own_copy)
{
    const batch_rows rows = {mlp->ws.x_spare, mlp->ws.labels_spare, &mlp->next_plan, next->position};
    load_rows(mlp, &rows, next->set->images, next->set->labels, next->order, next->first,
              next->B * (size_t)t / (size_t)T, next->B * (size_t)(t + 1) / (size_t)T);
    if (mlp->input_t.live) { /* its bytes at its pixels, transposed: split by pixel, not by row */
        size_t j0, j1;
        slice(mlp->next_plan.nused, T, t, &j0, &j1);
        if (own_copy) j0 = 0, j1 = mlp->next_plan.nused; /* thread t's copy, all of it (see Replicas) */
        dn_input_t_pixels_(mlp, own_copy ? t : 0, 1, &mlp->next_plan, next->set->images, next->order, next->first,
                           next->B, j0, j1);
    }
    lap(mlp, t, DN_PHASE_DATA);
}

/* After a step: the prepared batch (ready) takes the place of the one
 * trained, or nothing is prepared. */
static void next_becomes_current(dn_mlp *mlp, int ready)
{
    mlp->next_ready = ready;
    mlp->next_gathered = ready && gathers_next(mlp);
    if (!ready) return;
    mlp->plan = mlp->next_plan;
    float *x = mlp->ws.act[0];
    mlp->ws.act[0] = mlp->ws.x_spare, mlp->ws.x_spare = x;
    uint8_t *labels = mlp->ws.labels;
    mlp->ws.labels = mlp->ws.labels_spare, mlp->ws.labels_spare = labels;
    if (mlp->input_t.live) { /* its compact W_0ᵀ, written by the step, and its pixels */
        dn_input_t *it = &mlp->input_t;
        float *used = it->used[0];
        it->used[0] = it->used[1], it->used[1] = used;
        for (int c = 0; c < it->copies; c++) {
            uint8_t *pix = it->pix[c][0];
            it->pix[c][0] = it->pix[c][1], it->pix[c][1] = pix;
            float *xt = it->xt[c][0];
            it->xt[c][0] = it->xt[c][1], it->xt[c][1] = xt;
        }
    }
}

/* Units [o0, o1) of layer 0 on W_0ᵀ (input_t), backward and step: their
 * dz and b_0 gradient, then the weight gradient and step fused pixel by
 * pixel (mlp_input_t.c), each row also into the next batch's compact W_0ᵀ
 * at next's pixels (next may be NULL). dW_0 in grads is left as it was. */
static void input_t_backward(dn_mlp *mlp, int T, int t, int copy, const dn_mlp_step *st, float *da1, size_t B,
                             size_t o0, size_t o1, const dn_batch_plan *next)
{
    if (o1 <= o0) return;
    int LT, lt;
    layer0_team(mlp, T, t, &LT, &lt);
    dn_act act = backward_act(mlp, 0, da1, B, o0, o1);
    dn_dense_dz_units_(mlp->dlayer[0].bias, da1, mlp->ws.act[1], B, mlp->width[1], o0, o1, act);
    dn_input_t_dz_(mlp, da1, B, LT, lt);
    lap(mlp, t, DN_PHASE_ELEMENTWISE);
    dn_input_t_step_(mlp, st, B, LT, lt, copy, next);
    dn_mlp_step_span_(mlp, st, bias_at(mlp, 0) + o0, bias_at(mlp, 0) + o1);
    lap(mlp, t, DN_PHASE_UPDATE);
}

/* Thread t's share of a step (see Threads above). Every layer but the last
 * runs split by output unit, one barrier after each; thread 0 runs the last
 * layer, the loss and the last layer's update; the hidden layers go back
 * down as hidden_backward says, and layer 0's units end the step. All
 * threads skip the update alike when the loss is not finite. */
static void replicas_merge(dn_mlp *mlp);
static int columns_split(const dn_mlp *mlp);
static void layer1_partial(const dn_mlp *mlp, const dn_mlp *M, int t, size_t B, size_t u0, size_t u1);
static void layer1_sum(const dn_mlp *mlp, dn_mlp *M, int t, int first, int count, size_t B);
static float *layer1_backward(dn_mlp *M, const dn_mlp_step *st, float *dout, size_t B, int t, size_t u0, size_t u1);

static void step_thread(dn_mlp *mlp, const batch *bt, const batch *next, int T, int t, const dn_mlp_step *st,
                        step_result *res)
{
    const size_t B = bt->B;
    const int L = mlp->nlayers;
    size_t o0, o1, u0, u1;
    if (t == 0) replicas_merge(mlp); /* W_1 whole again before a barrier: nobody reads it before layer 1 */
    lap(mlp, t, DN_PHASE_WAIT); /* the threads' start */
    if (t == T - 1 && next) prefetch_rows(next->set->images, next->order, next->first, next->B);
    unit_slice(mlp, 0, T, t, &o0, &o1);
    if (mlp->input_t.live) {
        int LT, lt;
        layer0_team(mlp, T, t, &LT, &lt);
        if (!mlp->next_ready) dn_input_t_gather_(mlp, 0, &mlp->plan, LT, lt); /* its own units */
    } else if (mlp->plan.nused < DN_IMAGE_PIXELS && !mlp->next_gathered) {
        gather_w0(mlp, &mlp->plan, o0, o1); /* its own rows */
    }
    if (!mlp->next_ready) { /* x and labels, split by rows: all of them are needed below, hence the barrier */
        const batch_rows rows = current_rows(mlp);
        load_rows(mlp, &rows, bt->set->images, bt->set->labels, bt->order, bt->first, B * (size_t)t / (size_t)T,
                  B * (size_t)(t + 1) / (size_t)T);
        if (mlp->input_t.live) {
            size_t j0, j1;
            slice(mlp->plan.nused, T, t, &j0, &j1);
            dn_input_t_pixels_(mlp, 0, 0, &mlp->plan, bt->set->images, bt->order, bt->first, B, j0, j1);
        }
#pragma omp barrier
    }
    lap(mlp, t, DN_PHASE_DATA);
    for (int k = 0; k < L - 1 || k == 0; k++) { /* the bias sums, by owner; thread 0 owns the last layer */
        unit_slice(mlp, k, T, t, &u0, &u1);
        zero_bias_units(mlp, k, u0, u1);
    }
    forward_units(mlp, t, 0, B, o0, o1);
    /* one thread a rank: with a second hidden layer, z_1's partial sums
     * from the ranks (as the replicated threads do: see Layer 1 by
     * columns), else a_1's other units from the ranks that own them */
    const int by_columns = mlp->split && columns_split(mlp);
    if (mlp->split) {
        if (by_columns) layer1_partial(mlp, mlp, mlp->split->part, B, o0, o1);
        lap(mlp, t, DN_PHASE_FORWARD);
        int sum_slot = -1;
        res->failed = mlp->split->exchange(mlp->split->user, by_columns ? NULL : mlp->ws.act[1], B, &sum_slot,
                                           &res->err);
        dn_lap_(mlp, DN_PHASE_COMM);
        if (res->failed) return;
        if (by_columns) layer1_sum(mlp, mlp, t, sum_slot < 0 ? 0 : sum_slot, sum_slot < 0 ? mlp->split->parts : 1, B);
    }
#pragma omp barrier
    lap(mlp, t, DN_PHASE_WAIT);
    for (int k = by_columns ? 2 : 1; k < L - 1; k++) {
        slice(mlp->width[k + 1], T, t, &u0, &u1);
        forward_units(mlp, t, k, B, u0, u1);
#pragma omp barrier
        lap(mlp, t, DN_PHASE_WAIT);
    }
    if (t == 0) {
        res->correct = 0;
        res->loss = output_layer(mlp, st, B, &res->correct, &res->dout);
    }
    if (t == T - 1 && next) plan_next(mlp, t, next); /* the last thread has nothing else to do here */
#pragma omp barrier
    lap(mlp, t, DN_PHASE_WAIT);
    if (!isfinite(res->loss)) return;
    float *dout = res->dout;
    for (int k = L - 2; k >= (by_columns ? 2 : 1); k--) dout = hidden_backward(mlp, st, k, dout, B, T, t);
    if (by_columns) dout = layer1_backward(mlp, st, dout, B, t, o0, o1);
    if (mlp->input_t.live) {
        input_t_backward(mlp, T, t, 0, st, dout, B, o0, o1, next ? &mlp->next_plan : NULL);
        if (next) load_next(mlp, T, t, next, 0);
        return;
    }
    input_backward(mlp, t, dout, B, o0, o1, 0);
    const dn_batch_plan *gather = next && gathers_next(mlp) ? &mlp->next_plan : NULL;
    if (mlp->plan.nused < DN_IMAGE_PIXELS) {
        dn_mlp_step_w0_used_(mlp, st, o0, o1, gather);
        dn_mlp_step_span_(mlp, st, bias_at(mlp, 0) + o0, bias_at(mlp, 0) + o1);
    } else {
        step_units(mlp, st, 0, o0, o1);
        if (gather) gather_w0(mlp, gather, o0, o1);
    }
    lap(mlp, t, DN_PHASE_UPDATE);
    if (next) load_next(mlp, T, t, next, 0);
}

/* ---------------------------------------------------------------- replicas */

/* Replicas. The step above splits every layer among the threads, one
 * barrier per layer each way, and hands a_1, a_2, the deltas and W_1's
 * columns from core to core at each, with the other threads idle while
 * thread 0 runs the last layer. On two cores two MPI ranks running layer
 * 0 split and the layers above on every rank (distributed_mlp.c, "Layer 0
 * split") took 0.29 s an epoch where two threads of that step took 0.36
 * (784-300-100-10, batch 64, four alternated pairs). So with SGD on W_0ᵀ
 * every thread runs the layers above 0 on the whole batch itself, on its
 * own copy of their parameters — thread 0 on mlp's, thread t on
 * mlp->replica[t − 1]'s — the same operations on the same values, so the
 * copies stay equal bit for bit; thread t computes and steps only its
 * units of layer 0, and only their columns of ∂L/∂a_1. One barrier inside
 * the step (a_1 whole), where the split step has one per layer each way. */
static int replicas_wanted(const dn_mlp *mlp, int T)
{
    return T >= 2 && !mlp->split && mlp->nlayers >= 2 && !(mlp->opt.dropout_hidden > 0);
}

/* 1 when a step on T threads runs replicated (the epoch made ready for T
 * threads, one part of layer 0 each). */
static int replicated(const dn_mlp *mlp, int T)
{
    return mlp->input_t.live && replicas_wanted(mlp, T) && T == mlp->input_t.parts && T <= mlp->input_t.copies &&
           T - 1 <= mlp->replica_n;
}

/* W_1 cut by columns too: a second hidden layer (layer 1 not the last). */
static int columns_split(const dn_mlp *mlp) { return mlp->nlayers >= 3; }

/* z_1's partial sums for T parts of batches of up to rows (kept). */
static dn_status partials_reserve(dn_mlp *mlp, int T, size_t rows, dn_error *err)
{
    if (!columns_split(mlp) || mlp->partials_rows >= rows) return DN_OK;
    free(mlp->partials);
    mlp->partials_rows = 0;
    if (!(mlp->partials = dn_mlp_alloc_floats_((size_t)T * rows * mlp->width[2])))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the partial sums of layer 1");
    mlp->partials_rows = rows;
    return DN_OK;
}

/* Replicas for threads 1 … T − 1 and batches of up to rows (made on first
 * use, kept), each to take mlp's layers above 0 on its first step. */
static dn_status replicas_reserve(dn_mlp *mlp, int T, size_t rows, dn_error *err)
{
    if (mlp->replica_n < T - 1) {
        dn_mlp **r = realloc(mlp->replica, (size_t)(T - 1) * sizeof *r);
        if (!r) return dn_fail(err, DN_ERR_NOMEM, "out of memory for the training threads' copies of the network");
        mlp->replica = r;
        while (mlp->replica_n < T - 1) {
            dn_mlp *c = dn_mlp_clone_(mlp, err);
            if (!c) return err->code;
            mlp->replica[mlp->replica_n++] = c;
        }
    }
    dn_status ps = partials_reserve(mlp, T, rows, err);
    if (ps) return ps;
    for (int i = 0; i < T - 1; i++) {
        dn_mlp *r = mlp->replica[i];
        dn_status s = dn_mlp_workspace_reserve_(r, rows, err);
        if (!s && mlp->opt.momentum > 0 && !r->moment1 && !(r->moment1 = dn_mlp_alloc_floats_(r->nparams)))
            s = dn_fail(err, DN_ERR_NOMEM, "out of memory for the training threads' copies of the network");
        if (s) return s;
        r->upper_steps = UINT64_MAX;
    }
    return DN_OK;
}

/* Replica r's layers above 0 and their velocity made mlp's, when it has
 * not had all of mlp's steps (the epoch's first step, or a step on fewer
 * threads). Before the step's barrier: nobody steps mlp's meanwhile. */
static void replica_catch_up(const dn_mlp *mlp, dn_mlp *r)
{
    if (r->upper_steps == mlp->upper_steps) return;
    const size_t at = (size_t)(mlp->layer[1].weight - mlp->params), n = mlp->nparams - at;
    memcpy(r->params + at, mlp->params + at, n * sizeof(float));
    if (r->moment1) {
        if (mlp->moment1) memcpy(r->moment1 + at, mlp->moment1 + at, n * sizeof(float));
        else memset(r->moment1 + at, 0, n * sizeof(float));
    }
    r->upper_steps = mlp->upper_steps;
}

/* mlp's W_1 (and its velocity) made whole: each replica's columns of its
 * thread's units copied in (see Layer 1 by columns below). */
static void replicas_merge(dn_mlp *mlp)
{
    if (!mlp->w1_scattered) return;
    const size_t C = mlp->width[1], at = weight_at(mlp, 1);
    for (int t = 1; t <= mlp->replica_n && t < mlp->input_t.parts; t++) {
        const dn_mlp *r = mlp->replica[t - 1];
        size_t u0, u1;
        dn_input_t_slice_(mlp, mlp->input_t.parts, t, &u0, &u1);
        for (size_t o = 0; o < mlp->width[2]; o++) {
            const size_t i = at + o * C + u0;
            memcpy(mlp->params + i, r->params + i, (u1 - u0) * sizeof(float));
            if (mlp->moment1 && r->moment1) memcpy(mlp->moment1 + i, r->moment1 + i, (u1 - u0) * sizeof(float));
        }
    }
    mlp->w1_scattered = 0;
}

/* Layer 1 by columns. With a second hidden layer, thread t uses only the
 * columns of W_1 at its own units of layer 0: z_1 = Σ_t a_1[:, U_t]
 * W_1[:, U_t]ᵀ, each thread's term a partial sum of its own (the a_1 it
 * reads is the one it computed: no core hands it to another), added up in
 * thread order by every thread after the barrier (the same bits on each);
 * going back, dW_1[:, U_t] and ∂L/∂a_1[:, U_t] need nothing but thread
 * t's columns either. So each thread steps only its columns of W_1, on its
 * own copy, and the copies are made whole (replicas_merge) when anyone
 * reads W_1 from outside the step: the epoch's end, a batch callback, a
 * step not replicated. Layer 1's products are halved on two threads. */
static void layer1_partial(const dn_mlp *mlp, const dn_mlp *M, int t, size_t B, size_t u0, size_t u1)
{
    const size_t C = mlp->width[1], OC = mlp->width[2];
    float *part = mlp->partials + (size_t)t * mlp->partials_rows * OC;
    dn_sgemm_(mlp->opt.matmul, 0, 1, B, OC, u1 - u0, 1.0f, mlp->ws.act[1] + u0, C, M->layer[1].weight + u0, C, 0.0f,
              part, OC);
}

/* After the barrier: z_1 = the partial sums in slots first … first +
 * count − 1 added in slot order, then the bias and activation, into M's a_2. */
static void layer1_sum(const dn_mlp *mlp, dn_mlp *M, int t, int first, int count, size_t B)
{
    const size_t OC = mlp->width[2], n = B * OC, stride = mlp->partials_rows * OC;
    float *z = M->ws.act[2];
    memcpy(z, mlp->partials + (size_t)first * stride, n * sizeof *z);
    for (int s = first + 1; s < first + count; s++) {
        const float *p = mlp->partials + (size_t)s * stride;
        for (size_t i = 0; i < n; i++) z[i] += p[i];
    }
    zero_bias_units(M, 1, 0, OC);
    forward_finish(M, t, 1, B, 0, OC);
}

/* Layer 1 backward on thread t's copy M: dz_1 and db_1 whole, dW_1 and
 * ∂L/∂a_1 at columns [u0, u1) only, then those columns of W_1 and all of
 * b_1 stepped. Returns the buffer holding ∂L/∂a_1. */
static float *layer1_backward(dn_mlp *M, const dn_mlp_step *st, float *dout, size_t B, int t, size_t u0, size_t u1)
{
    const size_t C = M->width[1], OC = M->width[2];
    dn_act act = backward_act(M, 1, dout, B, 0, OC);
    dn_dense_dz_units_(M->dlayer[1].bias, dout, M->ws.act[2], B, OC, 0, OC, act);
    lap(M, t, DN_PHASE_ELEMENTWISE);
    dn_sgemm_(M->opt.matmul, 1, 0, OC, u1 - u0, B, 1.0f, dout, OC, M->ws.act[1] + u0, C, 0.0f,
              M->dlayer[1].weight + u0, C);
    lap(M, t, DN_PHASE_BACKWARD);
    float *dinp = dout == M->ws.delta[0] ? M->ws.delta[1] : M->ws.delta[0];
    input_grad_columns(M, t, 1, dinp, dout, B, u0, u1);
    step_columns(M, st, 1, u0, u1);
    dn_mlp_step_span_(M, st, bias_at(M, 1), bias_at(M, 1) + OC);
    lap(M, t, DN_PHASE_UPDATE);
    return dinp;
}

/* Layer k (2 ≤ k ≤ L−2) backward and step on one thread's copy M, all of
 * it (layer 1 is cut by columns: layer1_backward), ∂L/∂a_k computed before
 * W_k is stepped. Returns the buffer holding ∂L/∂a_k. */
static float *replica_backward(dn_mlp *M, const dn_mlp_step *st, int k, float *dout, size_t B, int t)
{
    backward_units(M, t, k, M->dlayer[k].weight, dout, B, 0, M->width[k + 1], 0.0f);
    float *dinp = dout == M->ws.delta[0] ? M->ws.delta[1] : M->ws.delta[0];
    input_grad_columns(M, t, k, dinp, dout, B, 0, M->width[k]);
    step_units(M, st, k, 0, M->width[k + 1]);
    lap(M, t, DN_PHASE_UPDATE);
    return dinp;
}

/* Thread t's share of a replicated step (see Replicas above). */
static void replicated_thread(dn_mlp *mlp, const batch *bt, const batch *next, int T, int t, const dn_mlp_step *st,
                              step_result *res)
{
    const size_t B = bt->B;
    const int L = mlp->nlayers;
    dn_mlp *M = t == 0 ? mlp : mlp->replica[t - 1];
    size_t o0, o1;
    lap(mlp, t, DN_PHASE_WAIT); /* the threads' start */
    /* each thread the next batch's images into its own caches: it builds
     * its own copy of their bytes at the step's end (prefetched by thread 0
     * alone, thread 1's share of the step took ~45 µs longer than thread 0's) */
    if (next) prefetch_rows(next->set->images, next->order, next->first, next->B);
    unit_slice(mlp, 0, T, t, &o0, &o1);
    if (t > 0) replica_catch_up(mlp, M);
    /* the copy of the batch's bytes this thread reads: its own, made
     * during the last step; or, when no step made it (the epoch's first),
     * one copy made now by all threads, a share of
     * pixels each, rather than each thread all of them while the others
     * wait at the barrier */
    int copy = t;
    if (!mlp->next_ready || mlp->input_t.prepared < T) {
        if (!mlp->next_ready) dn_input_t_gather_(mlp, 0, &mlp->plan, T, t);
        const batch_rows rows = current_rows(mlp);
        load_rows(mlp, &rows, bt->set->images, bt->set->labels, bt->order, bt->first, B * (size_t)t / (size_t)T,
                  B * (size_t)(t + 1) / (size_t)T);
        size_t j0, j1;
        slice(mlp->plan.nused, T, t, &j0, &j1);
        dn_input_t_pixels_(mlp, 0, 0, &mlp->plan, bt->set->images, bt->order, bt->first, B, j0, j1);
        copy = 0;
#pragma omp barrier
    }
    lap(mlp, t, DN_PHASE_DATA);
    zero_bias_units(mlp, 0, o0, o1);
    forward_input_t(mlp, t, copy, B, o0, o1);
    const int by_columns = columns_split(mlp); /* layer 1 by columns too (see Layer 1 by columns) */
    if (by_columns) layer1_partial(mlp, M, t, B, o0, o1);
    lap(mlp, t, DN_PHASE_FORWARD);
    /* thread 0, with the smallest part of layer 0, plans the next batch:
     * read after the barrier by every thread's layer-0 step */
    if (t == 0 && next) plan_next(mlp, t, next);
#pragma omp barrier
    lap(mlp, t, DN_PHASE_WAIT);
    M->ws.act[1] = mlp->ws.act[1], M->ws.labels = mlp->ws.labels; /* a_1 (whole, or its own columns), the labels */
    if (by_columns) layer1_sum(mlp, M, t, 0, T, B);
    for (int k = 2; k < L - 1; k++) { /* none without a second hidden layer */
        zero_bias_units(M, k, 0, M->width[k + 1]);
        forward_units(M, t, k, B, 0, M->width[k + 1]);
    }
    size_t correct = 0;
    float *dout = NULL;
    const double loss = output_layer(M, st, B, &correct, &dout); /* the same on every thread */
    if (t == 0) res->loss = loss, res->correct = correct, res->dout = dout;
    if (!isfinite(loss)) return;
    for (int k = L - 2; k >= 2; k--) dout = replica_backward(M, st, k, dout, B, t); /* none without a second hidden layer */
    if (by_columns) dout = layer1_backward(M, st, dout, B, t, o0, o1);
    input_t_backward(mlp, T, t, copy, st, dout, B, o0, o1, next ? &mlp->next_plan : NULL);
    if (t > 0) M->upper_steps = mlp->upper_steps + 1; /* mlp's counts this step once the threads are done */
    if (next) load_next(mlp, T, t, next, 1);
}

/* zero_grad → backprop → update for one batch, over step_threads threads;
 * next (may be NULL) is the batch after it, prepared meanwhile. */
static dn_status train_step(dn_mlp *mlp, const batch *bt, const batch *next, double lr, step_result *res,
                            dn_error *err)
{
    dn_mlp_step st;
    dn_status s = dn_mlp_step_begin_(mlp, lr, &st, err);
    if (s) return s;
    const int T = mlp->split ? 1 : step_threads(mlp, bt->B);
    dn_lap_start_(mlp);
    if (!mlp->next_ready) plan_batch(mlp, &mlp->plan, bt->set->images, bt->order, bt->first, bt->B);
    mlp->drop_epoch = mlp->epochs_done, mlp->drop_first = bt->position;
    if (mlp->input_t.live) dn_input_t_lr_(mlp, st.lr);
    dn_lap_(mlp, DN_PHASE_DATA);
    /* The slices are cut for the team OpenMP gives, which may be smaller
     * than T (OMP_THREAD_LIMIT, or a caller's parallel region around this
     * one: nested regions get one thread): cut for T, a missing thread's
     * units were left untrained. */
    int team_of_step = 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = 0, team = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), team = omp_get_num_threads();
#endif
        if (t == 0) team_of_step = team;
        /* each thread its own copy of the step's constants, read for every
         * vector it steps: st sits in thread 0's stack, among the lines its
         * calls below write (measured: the layer-0 step took twice as long
         * on thread 1 as in a process of its own) */
        const dn_mlp_step own = st;
        if (replicated(mlp, team)) replicated_thread(mlp, bt, next, team, t, &own, res);
        else step_thread(mlp, bt, next, team, t, &own, res);
    }
    dn_lap_(mlp, DN_PHASE_WAIT); /* the threads' end */
    if (res->failed) {
        *err = res->err;
        return res->failed;
    }
    if (mlp->profile) mlp->profile->steps++;
    if (mlp->input_t.live && isfinite(res->loss)) mlp->input_t.steps++;
    if (isfinite(res->loss)) mlp->upper_steps++;
    /* the copies of the next batch's bytes that the step prepared, and
     * whether W_1's columns now wait in the replicas */
    const int was_replicated = replicated(mlp, team_of_step);
    mlp->input_t.prepared = was_replicated ? team_of_step : 1;
    if (was_replicated && columns_split(mlp) && isfinite(res->loss)) mlp->w1_scattered = 1;
    next_becomes_current(mlp, next && isfinite(res->loss));
    if (!dn_mlp_has_post_step_(mlp) || !isfinite(res->loss)) return DN_OK;
    /* max-norm and EMA once the whole step is done (its rows are updated
     * column by column in hidden_backward), each thread on its rows */
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = 0, team = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), team = omp_get_num_threads();
#endif
        for (int k = 0; k < mlp->nlayers; k++) {
            size_t u0, u1;
            slice(mlp->width[k + 1], team, t, &u0, &u1);
            dn_mlp_post_step_rows_(mlp, k, u0, u1);
        }
    }
    dn_lap_(mlp, DN_PHASE_UPDATE);
    return DN_OK;
}

/* ---------------------------------------------------------------- small batches */

/* Small batches of plain SGD (no momentum, no weight decay, no FedProx
 * term, BLAS products, B ≤ DN_MLP_SMALL_BATCH_THREADED, or ≤
 * DN_MLP_SMALL_BATCH_MAX where the step runs on one thread anyway — the
 * FedAvg client's E = 1, B = 10 epoch) take a step of their own, on one thread: each
 * layer's gradient goes straight into its weights (mlp_small.c), with no
 * gradient buffer to zero, fill and read back, and layer 0 works on W_0ᵀ,
 * which the epoch keeps in mlp->w0t from its first batch to its last
 * (copied back for a batch callback, which may read the parameters), and
 * a ReLU hidden-to-hidden layer 1 likewise on W_1ᵀ (mlp->w1t). The
 * gradient buffer (dn_mlp_grads) is left as it was. The reference
 * (dn_mlp_backprop, the plain-C products) never takes this step. */
static int small_sgd_applies(const dn_mlp *mlp, size_t B)
{
    const dn_mlp_options *o = &mlp->opt;
    const int small = B <= DN_MLP_SMALL_BATCH_THREADED ||
                      (B <= DN_MLP_SMALL_BATCH_MAX && step_threads(mlp, B) == 1);
    return small && o->matmul == DN_MATMUL_BLAS && o->optimizer == DN_OPTIMIZER_SGD && o->momentum == 0 &&
           o->weight_decay == 0 && !(mlp->prox_anchor && mlp->prox_mu > 0) && !dn_mlp_regularised_(o) &&
           !mlp->ema_live;
}

/* W_0 (w0: (n_1, 784), mlp->layer[0].weight or a caller's copy) into
 * mlp->w0t, which holds it from now on (w0t_live). */
static dn_status w0t_begin(dn_mlp *mlp, const float *w0, dn_error *err)
{
    if (!mlp->w0t && !(mlp->w0t = dn_mlp_alloc_floats_(mlp->width[1] * DN_IMAGE_PIXELS)))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the input layer");
    dn_transpose_(mlp->w0t, w0, mlp->width[1], DN_IMAGE_PIXELS);
    mlp->w0t_live = 1;
    return DN_OK;
}

/* W_1 of a 2-hidden-layer ReLU network into mlp->w1t (w1t_live) for the
 * small step's sparse forward (dn_small_hidden_forward: a hidden unit is
 * zero for about half the samples), when small. */
static dn_status w1t_begin(dn_mlp *mlp, int small, dn_error *err)
{
    if (!small || mlp->nlayers < 3 || dn_mlp_act_(mlp, 0) != DN_ACT_FN_RELU || dn_mlp_act_(mlp, 1) != DN_ACT_FN_RELU)
        return DN_OK;
    if (!mlp->w1t && !(mlp->w1t = dn_mlp_alloc_floats_(mlp->width[1] * mlp->width[2])))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the second layer");
    dn_transpose_(mlp->w1t, mlp->layer[1].weight, mlp->width[2], mlp->width[1]);
    mlp->w1t_live = 1;
    return DN_OK;
}

/* W_1 back into mlp->params from mlp->w1t; w1t stays valid. */
static void w1t_sync(dn_mlp *mlp)
{
    if (mlp->w1t_live) dn_transpose_(mlp->layer[1].weight, mlp->w1t, mlp->width[1], mlp->width[2]);
}

/* W_0 (and W_1) from where the epoch holds them (input_t, or w0t and w1t),
 * for whoever reads the parameters; those copies stay valid. */
static void w0t_sync(dn_mlp *mlp)
{
    replicas_merge(mlp);
    if (mlp->input_t.live) dn_input_t_sync_(mlp, mlp->layer[0].weight, NULL);
    if (mlp->w0t_live) dn_transpose_(mlp->layer[0].weight, mlp->w0t, DN_IMAGE_PIXELS, mlp->width[1]);
    w1t_sync(mlp);
}

/* dst = src for parameter-shaped buffers, but for W_0 (held in w0t). */
static void copy_but_w0(const dn_mlp *mlp, float *dst, const float *src)
{
    const size_t w0 = (size_t)(mlp->layer[0].weight - mlp->params), end = w0 + mlp->width[1] * DN_IMAGE_PIXELS;
    memcpy(dst, src, w0 * sizeof *dst);
    memcpy(dst + end, src + end, (mlp->nparams - end) * sizeof *dst);
}

/* Where an epoch keeps W_0: in params (the BLAS step), in w0t (the small
 * step), or in input_t (the threaded SGD step's layer 0 on W_0ᵀ). */
typedef enum w0_home { W0_PARAMS, W0_SMALL, W0_INPUT_T } w0_home;

/* The epoch's starting parameters: from (when given) into mlp->params, W_0
 * straight into w0t or input_t (home) rather than through params; input_t
 * takes W_0's velocity from moment1 too, for batches of up to rows. */
static dn_status epoch_start(dn_mlp *mlp, const float *from, w0_home home, size_t rows, size_t steps, dn_error *err)
{
    const float *w0 = mlp->layer[0].weight;
    const size_t at = (size_t)(w0 - mlp->params);
    if (from && home != W0_PARAMS) {
        copy_but_w0(mlp, mlp->params, from);
        w0 = from + at; /* from's W_0 */
    } else if (from)
        memcpy(mlp->params, from, mlp->nparams * sizeof *from);
    dn_status s = w1t_begin(mlp, home == W0_SMALL, err);
    if (!s && home == W0_SMALL) s = w0t_begin(mlp, w0, err);
    if (!s && home == W0_INPUT_T) {
        const int T = step_threads(mlp, rows);
        s = dn_input_t_begin_(mlp, w0, mlp->moment1 ? mlp->moment1 + at : NULL, rows, mlp->split ? mlp->split->parts : T,
                              replicas_wanted(mlp, T) ? T : 1, steps, err);
    }
    if (s) mlp->w1t_live = 0; /* params' W_1 is still current */
    return s;
}

/* The epoch's final parameters into `into` (when given: W_0 straight from
 * w0t, params' W_0 then left as it was), else W_0 back into params. */
static void epoch_finish(dn_mlp *mlp, float *into)
{
    replicas_merge(mlp);
    if (mlp->input_t.live) { /* W_0 and its velocity back from W_0ᵀ */
        const size_t at = (size_t)(mlp->layer[0].weight - mlp->params);
        if (into) copy_but_w0(mlp, into, mlp->params);
        dn_input_t_sync_(mlp, (into ? into : mlp->params) + at, mlp->moment1 ? mlp->moment1 + at : NULL);
        mlp->input_t.live = 0;
        return;
    }
    if (into && mlp->w0t_live) {
        w1t_sync(mlp);
        copy_but_w0(mlp, into, mlp->params);
        dn_transpose_(into + (mlp->layer[0].weight - mlp->params), mlp->w0t, DN_IMAGE_PIXELS, mlp->width[1]);
    } else if (into)
        memcpy(into, mlp->params, mlp->nparams * sizeof *into);
    else
        w0t_sync(mlp);
    mlp->w0t_live = mlp->w1t_live = 0;
}

/* The batch as the small step reads it: x (B, nused) on the pixels some
 * sample uses, used_pixel[j] = the image pixel of column j, and labels.
 * No runs (nothing is copied run by run here) and no branch per pixel; x
 * through a table of v / 255, the values dn_images_to_floats computes. */
static void small_load(dn_mlp *mlp, const batch *bt)
{
    const size_t B = bt->B;
    const uint8_t *image[DN_MLP_SMALL_BATCH_MAX];
    uint8_t any[DN_IMAGE_PIXELS] = {0};
    float value[256];
    for (size_t b = 0; b < B; b++) {
        size_t row = row_of(bt->order, bt->first + b);
        image[b] = bt->set->images + row * DN_IMAGE_PIXELS;
        mlp->ws.labels[b] = bt->set->labels[row];
        for (size_t k = 0; k < DN_IMAGE_PIXELS; k++) any[k] |= image[b][k];
    }
    size_t n = 0;
    for (size_t k = 0; k < DN_IMAGE_PIXELS; k++) {
        mlp->used_pixel[n] = (uint16_t)k;
        n += any[k] != 0;
    }
    for (int v = 0; v < 256; v++) value[v] = (float)v / 255.0f;
    for (size_t b = 0; b < B; b++) {
        float *x_b = mlp->ws.act[0] + b * n;
        for (size_t j = 0; j < n; j++) x_b[j] = value[image[b][mlp->used_pixel[j]]];
    }
    mlp->plan.nused = n;
}

/* Layer k ≥ 1's forward on the small step: on W_1ᵀ for layer 1 while the
 * epoch holds it (w1t_live), else on W_k. */
static void small_layer_forward(dn_mlp *mlp, int k, size_t B)
{
    float *const *act = mlp->ws.act;
    const dn_dense_view *l = &mlp->layer[k];
    if (k == 1 && mlp->w1t_live)
        dn_small_hidden_forward(act[2], act[1], mlp->w1t, l->bias, B, mlp->width[1], mlp->width[2],
                                dn_mlp_act_(mlp, 1));
    else
        dn_small_dense_forward(act[k + 1], act[k], l->weight, l->bias, B, mlp->width[k], mlp->width[k + 1],
                               dn_mlp_act_(mlp, k));
}

/* Layer k ≥ 1's backward and step, likewise. */
static void small_layer_sgd(dn_mlp *mlp, int k, float *dinp, float *dout, size_t B, float lr)
{
    float *const *act = mlp->ws.act;
    const dn_dense_view *l = &mlp->layer[k];
    if (k == 1 && mlp->w1t_live)
        dn_small_hidden_sgd(dinp, mlp->w1t, l->bias, dout, act[2], act[1], B, mlp->width[1], mlp->width[2],
                            dn_mlp_act_(mlp, 1), lr);
    else
        dn_small_dense_sgd(dinp, l->weight, l->bias, dout, act[k + 1], act[k], B, mlp->width[k], mlp->width[k + 1],
                           dn_mlp_act_(mlp, k), lr);
}

/* zero_grad → backprop → update for one small batch of plain SGD, on the
 * calling thread (see above). Skips the update when the loss is not finite. */
static void small_step(dn_mlp *mlp, const batch *bt, float lr, step_result *res)
{
    dn_mlp_workspace *ws = &mlp->ws;
    const size_t B = bt->B;
    const int L = mlp->nlayers;
    dn_lap_start_(mlp);
    small_load(mlp, bt);
    dn_lap_(mlp, DN_PHASE_DATA);
    /* the small step's kernels fuse bias and activation into their products,
     * and each layer's update into its backward: timed as products */
    dn_small_input_forward(ws->act[1], ws->act[0], mlp->used_pixel, mlp->plan.nused, mlp->w0t, mlp->layer[0].bias, B,
                           mlp->width[1], dn_mlp_act_(mlp, 0));
    for (int k = 1; k < L; k++) small_layer_forward(mlp, k, B);
    dn_lap_(mlp, DN_PHASE_FORWARD);
    if (mlp->profile) mlp->profile->steps++;
    res->correct = 0;
    res->loss = output_loss(mlp, B, &res->correct);
    if (!isfinite(res->loss)) return;
    float *dout = ws->delta[0];
    for (int k = L - 1; k >= 1; k--) {
        float *dinp = dout == ws->delta[0] ? ws->delta[1] : ws->delta[0];
        small_layer_sgd(mlp, k, dinp, dout, B, lr);
        dout = dinp;
    }
    dn_small_input_sgd(mlp->w0t, mlp->layer[0].bias, dout, ws->act[1], ws->act[0], mlp->used_pixel, mlp->plan.nused, B,
                       mlp->width[1], dn_mlp_act_(mlp, 0), lr);
    dn_lap_(mlp, DN_PHASE_BACKWARD);
}

/* train_step's counterpart for the small-batch step. */
static dn_status small_train_step(dn_mlp *mlp, const batch *bt, double lr, step_result *res, dn_error *err)
{
    dn_mlp_step st; /* checks lr */
    dn_status s = dn_mlp_step_begin_(mlp, lr, &st, err);
    if (!s) small_step(mlp, bt, st.lr, res);
    return s;
}

/* ---------------------------------------------------------------- epochs */

/* The epoch's sample order: a Fisher–Yates shuffle from a generator seeded
 * by (seed, epoch) alone, so epoch e is the same whether or not training
 * was resumed, and the synchronous distributed epoch (distributed_mlp.c)
 * walks the batches one process walks. */
void dn_mlp_epoch_order_(uint64_t seed, int epoch, uint32_t *order, size_t n)
{
    if (n == 0) return;
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    dn_rng rng;
    dn_rng_seed(&rng, seed ^ (0x5348554646ULL * (uint64_t)(epoch + 1))); /* "SHUFF" × (e+1) */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)dn_rng_below(&rng, i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Sizes mlp->order for n samples and fills it with epoch's order: of the
 * set's rows rows[0 … n), or of its first n rows when rows is NULL. */
static dn_status shuffle_order(dn_mlp *mlp, const size_t *rows, size_t n, int epoch, dn_error *err)
{
    if (mlp->order_n != n) {
        free(mlp->order);
        mlp->order_n = 0;
        if (!(mlp->order = malloc(n * sizeof *mlp->order)))
            return dn_fail(err, DN_ERR_NOMEM, "out of memory for the order of %zu samples", n);
        mlp->order_n = n;
    }
    dn_mlp_epoch_order_(mlp->opt.seed, epoch, mlp->order, n);
    if (rows)
        for (size_t i = 0; i < n; i++) mlp->order[i] = (uint32_t)rows[mlp->order[i]];
    return DN_OK;
}

static int params_finite(const dn_mlp *mlp, const float *params)
{
    return dn_first_nonfinite_f32(params, mlp->nparams) == mlp->nparams;
}

void dn_mlp_set_batch_callback(dn_mlp *mlp, dn_mlp_batch_fn fn, void *user)
{
    mlp->on_batch = fn;
    mlp->batch_user = fn ? user : NULL;
    mlp->on_batch_reads = 1;
}

void dn_mlp_set_progress_callback(dn_mlp *mlp, dn_mlp_batch_fn fn, void *user)
{
    dn_mlp_set_batch_callback(mlp, fn, user);
    mlp->on_batch_reads = 0;
}

int dn_mlp_batch_notify_(const dn_mlp *mlp, size_t i, size_t nbatches, size_t samples, size_t total,
                         double batch_loss, double loss_sum, double lr, double t0)
{
    dn_mlp_batch_report r = {mlp->epochs_done, i, nbatches, samples, total, batch_loss,
                             loss_sum / (double)samples, lr, dn_now_seconds() - t0};
    return mlp->on_batch(&r, mlp->batch_user) != 0;
}

/* Batch i of the epoch (batch_size samples from position i · batch_size
 * of the order): the set's rows through the order, or, augmenting, its
 * distorted images in the order's rows (distorted on the training threads,
 * or the pipeline's next batch). */
static void augment_inline(dn_mlp *mlp, const dn_dataset *train, size_t n, size_t batch_size, size_t i);

static batch batch_at(dn_mlp *mlp, const dn_dataset *train, size_t n, size_t batch_size, size_t i)
{
    const size_t first = i * batch_size, B = n - first < batch_size ? n - first : batch_size;
    if (mlp->augment_images) {
        augment_inline(mlp, train, n, batch_size, i); /* unless the step before did */
        return (batch){&mlp->augment_view[i % 2], NULL, 0, B, first};
    }
    if (!mlp->augment_pipe) {
        return (batch){train, mlp->order, first, B, first}; /* its images were prefetched by the step before */
    }
    const dn_dataset *distorted = dn_augment_pipeline_next(mlp->augment_pipe); /* count = B */
    return (batch){distorted, NULL, 0, distorted->count, first};
}

/* Batch i as batch_at gives it, without taking it, for the step before to
 * prepare (augmenting: the pipeline's batch after the one in hand, which
 * stays in its slot until then); NULL past the last. */
static const batch *batch_ahead(dn_mlp *mlp, const dn_dataset *train, size_t n, size_t batch_size, size_t i,
                                batch *out)
{
    const size_t first = i * batch_size;
    if (first >= n) return NULL;
    if (!mlp->augment_pipe) {
        *out = batch_at(mlp, train, n, batch_size, i); /* takes nothing: batch_at asks again, gets the same */
        return out;
    }
    const dn_dataset *distorted = dn_augment_pipeline_peek(mlp->augment_pipe);
    if (!distorted) return NULL;
    *out = (batch){distorted, NULL, 0, distorted->count, first};
    return out;
}

/* Every batch of the epoch; sums the per-sample losses and correct counts.
 * *samples gets the samples trained: n, or fewer when the batch callback
 * stopped the epoch (*stopped = 1). */
static dn_status run_batches(dn_mlp *mlp, const dn_dataset *train, size_t n, double t0, double *loss_sum,
                             size_t *correct, double *lr, size_t *samples, int *stopped, dn_error *err)
{
    const size_t batch_size = dn_mlp_batch_of_(mlp, n), nbatches = (n + batch_size - 1) / batch_size;
    mlp->next_ready = mlp->next_gathered = 0;
    for (size_t i = 0; i < nbatches; i++) {
        const batch bt = batch_at(mlp, train, n, batch_size, i);
        /* the next batch, prepared during this step (augmenting too: measured,
         * 784-1024-1024-10 with elastic + affine, two threads, the data
         * phase went from ~520 to ~60 µs a step, the epoch ~3 % faster) */
        batch next;
        const batch *ahead = mlp->w0t_live ? NULL : batch_ahead(mlp, train, n, batch_size, i + 1, &next);
        *lr = dn_mlp_scheduled_lr(&mlp->opt, mlp->epochs_done + (double)i / (double)nbatches);
        step_result res = {0.0, 0, NULL, DN_OK, {0}};
        dn_status s = mlp->w0t_live ? small_train_step(mlp, &bt, *lr, &res, err)
                                    : train_step(mlp, &bt, ahead, *lr, &res, err);
        if (s) return s;
        double loss = res.loss / (double)bt.B;
        *loss_sum += res.loss;
        *correct += res.correct;
        if (!isfinite(loss))
            return dn_fail(err, DN_ERR_NUMERIC, "epoch %d, batch %zu of %zu: the loss is %s at learning rate %g: "
                           DIVERGED_ADVICE, mlp->epochs_done + 1, i + 1, nbatches, nonfinite_name(loss), *lr);
        *samples = bt.position + bt.B;
        if (mlp->on_batch && mlp->on_batch_reads) w0t_sync(mlp); /* the callback may read the parameters */
        if (mlp->on_batch && dn_mlp_batch_notify_(mlp, i, nbatches, *samples, n, loss, *loss_sum, *lr, t0)) {
            *stopped = 1;
            break;
        }
    }
    return DN_OK;
}

/* The augmentation pipeline's workers: one — distorting a batch costs a
 * small fraction of a step (bench/bench_augment.sh) — and one more per
 * four training threads on machines with many cores. */
static int augment_workers(const dn_mlp *mlp)
{
    const int T = thread_count(mlp);
    return T >= 8 ? T / 4 : 1;
}

#define AUGMENT_DEPTH 4 /* batches in the pipeline: the one trained on, the next, and two of slack */

/* Batch i of the epoch distorted into half i % 2 of the inline buffers, on
 * the training threads, each a share of its images (once: batch_at and
 * batch_ahead both ask). The images are the pipeline's, byte for byte (each
 * keyed by its row: dn_augment_key(seed, epoch, row)). Timed as data. */
static void augment_inline(dn_mlp *mlp, const dn_dataset *train, size_t n, size_t batch_size, size_t i)
{
    if (i < mlp->augment_done) return;
    const size_t first = i * batch_size, B = n - first < batch_size ? n - first : batch_size;
    uint8_t *images = mlp->augment_images + (i % 2) * mlp->augment_batch * DN_IMAGE_PIXELS;
    uint8_t *labels = mlp->augment_labels + (i % 2) * mlp->augment_batch;
    const dn_augment aug = mlp->opt.augment;
    const uint64_t seed = mlp->opt.seed;
    const int epoch = mlp->epochs_done, T = step_threads(mlp, B);
    dn_lap_start_(mlp);
#pragma omp parallel for num_threads(T) schedule(static) if (T > 1)
    for (size_t b = 0; b < B; b++) {
        const size_t row = mlp->order[first + b];
        dn_augment_image(&aug, dn_augment_key(seed, epoch, row), train->images + row * DN_IMAGE_PIXELS,
                         images + b * DN_IMAGE_PIXELS);
        labels[b] = train->labels[row];
    }
    dn_lap_(mlp, DN_PHASE_DATA);
    mlp->augment_view[i % 2] = (dn_dataset){B, images, labels, 0, NULL};
    mlp->augment_done = i + 1;
}

/* 1 when the training threads distort the images themselves: when they
 * take every core. A worker thread beside them then only takes their time
 * slices (measured, 784-1024-1024-10, two threads on two cores: the
 * pipeline with images unchanged cost its epoch 1.18×, the work itself
 * ~3 µs an image); with a core to spare, the pipeline uses it. */
static int augments_inline(const dn_mlp *mlp)
{
#ifdef _OPENMP
    return thread_count(mlp) >= omp_get_num_procs();
#else
    (void)mlp;
    return 1;
#endif
}

/* When augmenting: the inline buffers (augments_inline) or the pipeline
 * (created on the first epoch, again when the batch outgrows either)
 * started on this epoch's order. */
static dn_status augment_start(dn_mlp *mlp, const dn_dataset *train, size_t n, size_t B, dn_error *err)
{
    if (!dn_augment_active(&mlp->opt.augment)) return DN_OK;
    const size_t batch = n < B ? n : B;
    const int inline_now = augments_inline(mlp);
    if ((mlp->augment_pipe || mlp->augment_images) &&
        (mlp->augment_batch < batch || inline_now != (mlp->augment_images != NULL))) {
        dn_augment_pipeline_free(mlp->augment_pipe);
        free(mlp->augment_images);
        free(mlp->augment_labels);
        mlp->augment_pipe = NULL, mlp->augment_images = mlp->augment_labels = NULL;
    }
    mlp->augment_done = 0;
    if (inline_now) {
        if (!mlp->augment_images) {
            mlp->augment_images = malloc(2 * batch * DN_IMAGE_PIXELS);
            mlp->augment_labels = malloc(2 * batch);
            if (!mlp->augment_images || !mlp->augment_labels) {
                free(mlp->augment_images), free(mlp->augment_labels);
                mlp->augment_images = mlp->augment_labels = NULL;
                return dn_fail(err, DN_ERR_NOMEM, "out of memory for two batches of %zu distorted images", batch);
            }
            mlp->augment_batch = batch;
        }
        return DN_OK;
    }
    if (!mlp->augment_pipe) {
        mlp->augment_pipe = dn_augment_pipeline_create(&mlp->opt.augment, mlp->opt.seed, augment_workers(mlp),
                                                       AUGMENT_DEPTH, batch, err);
        if (!mlp->augment_pipe) return err->code;
        mlp->augment_batch = batch;
    }
    return dn_augment_pipeline_start(mlp->augment_pipe, train, mlp->order, n, batch, mlp->epochs_done, err);
}

dn_status dn_mlp_train_epoch(dn_mlp *mlp, const dn_dataset *train, dn_mlp_epoch_report *report, dn_error *err)
{
    const dn_mlp_local_epoch all = {NULL, train->count, NULL, NULL, NULL};
    return dn_mlp_train_epoch_on_(mlp, train, &all, report, err);
}

dn_status dn_mlp_train_epoch_on_(dn_mlp *mlp, const dn_dataset *train, const dn_mlp_local_epoch *how,
                                 dn_mlp_epoch_report *report, dn_error *err)
{
    const size_t n = how->n, *rows = how->rows;
    if (n == 0) return dn_fail(err, DN_ERR_USAGE, "the training set is empty");
    if (train->count > UINT32_MAX) return dn_fail(err, DN_ERR_USAGE, "at most %u training samples", UINT32_MAX);
    if (!mlp->opt.batch && n > DN_MLP_BATCH_MAX)
        return dn_fail(err, DN_ERR_USAGE, "a full batch (batch 0) takes at most %d samples: this set has %zu",
                       DN_MLP_BATCH_MAX, n);
    double t0 = dn_now_seconds(), loss_sum = 0, lr = 0;
    size_t correct = 0, samples = 0;
    int stopped = 0;
    const size_t B = dn_mlp_batch_of_(mlp, n); /* 0: the full batch */
    dn_status s = reserve_training(mlp, n < B ? n : B, err);
    if (!s) s = shuffle_order(mlp, rows, n, mlp->epochs_done, err);
    if (s) return s;
    if ((s = augment_start(mlp, train, n, B, err))) return s;
    if (how->split && !dn_mlp_split_applies_(mlp, B, how->split->parts))
        return dn_fail(err, DN_ERR_USAGE, "layer 0 cannot be split across ranks for these options");
    mlp->split = how->split;
    const int small = small_sgd_applies(mlp, B);
    const w0_home home = small ? W0_SMALL : dn_input_t_applies_(mlp) ? W0_INPUT_T : W0_PARAMS;
    s = epoch_start(mlp, how->from, home, n < B ? n : B, (n + B - 1) / B, err);
    if (!s && mlp->input_t.live && replicas_wanted(mlp, step_threads(mlp, n < B ? n : B)))
        s = replicas_reserve(mlp, step_threads(mlp, n < B ? n : B), n < B ? n : B, err);
    if (!s && mlp->split) s = partials_reserve(mlp, mlp->split->parts, n < B ? n : B, err);
    if (s) {
        epoch_finish(mlp, NULL);
        mlp->split = NULL;
        return s;
    }
    /* every thread runs its own products: BLAS itself stays on one thread */
    int restore = dn_blas_threads_set_(1);
    s = run_batches(mlp, train, n, t0, &loss_sum, &correct, &lr, &samples, &stopped, err);
    if (restore > 0) dn_blas_threads_set_(restore);
    if (mlp->augment_pipe) dn_augment_pipeline_finish(mlp->augment_pipe); /* before the order changes */
    epoch_finish(mlp, how->into);
    mlp->split = NULL;
    /* split: this rank's parameters are whole only once the caller brought
     * the other ranks' units in; it checks them then */
    if (!s && !how->split && !params_finite(mlp, how->into ? how->into : mlp->params))
        s = dn_fail(err, DN_ERR_NUMERIC, "epoch %d: a parameter became NaN or Inf at learning rate %g: " DIVERGED_ADVICE,
                    mlp->epochs_done + 1, lr);
    if (s) return s;
    mlp->epochs_done++;
    mlp->train_size = n;
    if (report)
        *report = (dn_mlp_epoch_report){mlp->epochs_done - 1, samples, loss_sum / (double)samples,
                                        (double)correct / (double)samples, lr, dn_now_seconds() - t0, stopped};
    return DN_OK;
}

/* ---------------------------------------------------------------- the sync step's pieces */

int dn_mlp_split_applies_(const dn_mlp *mlp, size_t B, int parts)
{
    return parts >= 1 && parts <= DN_INPUT_T_MAX_PARTS && mlp->nlayers >= 2 && dn_input_t_applies_(mlp) &&
           !small_sgd_applies(mlp, B) && !dn_augment_active(&mlp->opt.augment) && !mlp->on_batch;
}

/* The synchronous distributed step (distributed_mlp.c) runs the layers one
 * by one, so that each layer's gradient can be summed over the ranks while
 * the layers below it go on. Every piece overwrites the gradient it makes:
 * nothing zeroes the whole buffer first. */

dn_status dn_mlp_reserve_rows_(dn_mlp *mlp, size_t rows, dn_error *err) { return reserve_training(mlp, rows, err); }

void dn_mlp_rows_load_(dn_mlp *mlp, const dn_dataset *set, const uint32_t *order, size_t first, size_t n)
{
    plan_batch(mlp, &mlp->plan, set->images, order, first, n);
    if (mlp->plan.nused < DN_IMAGE_PIXELS) gather_w0(mlp, &mlp->plan, 0, mlp->width[1]);
    mlp->drop_epoch = mlp->epochs_done, mlp->drop_first = first;
    mlp->next_ready = mlp->next_gathered = 0; /* these rows take the workspace's own x */
    const batch_rows rows = current_rows(mlp);
    load_rows(mlp, &rows, set->images, set->labels, order, first, 0, n);
}

void dn_mlp_rows_forward_(dn_mlp *mlp, size_t n)
{
    for (int k = 0; k < mlp->nlayers; k++) forward_units(mlp, 0, k, n, 0, mlp->width[k + 1]);
}

double dn_mlp_rows_loss_(dn_mlp *mlp, size_t n, size_t B, size_t *correct)
{
    dn_mlp_workspace *ws = &mlp->ws;
    double loss = output_loss(mlp, n, correct);
    if (n != B) { /* ∂(Σ loss / n) → ∂(Σ loss / B): the rows' share of the batch's mean, here once for all layers */
        const float share = (float)n / (float)B;
        for (size_t i = 0; i < n * DN_CLASSES; i++) ws->delta[0][i] *= share;
    }
    return loss;
}

float *dn_mlp_rows_backward_(dn_mlp *mlp, int k, float *dout, size_t n)
{
    zero_bias_units(mlp, k, 0, mlp->width[k + 1]);
    return layer_backward(mlp, k, dout, n, 0.0f);
}

/* dW_0's rows [o0, o1) from the compacted rows in dw0_used: the used
 * columns copied, the others 0 (one pass, no zeroing first). */
static void scatter_input_rows(dn_mlp *mlp, size_t o0, size_t o1)
{
    const dn_batch_plan *plan = &mlp->plan;
    const size_t used = plan->nused;
    for (size_t o = o0; o < o1; o++) {
        float *dst = mlp->dlayer[0].weight + o * DN_IMAGE_PIXELS;
        const float *src = mlp->dw0_used + o * used;
        size_t at = 0; /* the next pixel of the row to write */
        for (size_t r = 0; r < plan->nruns; r++) {
            memset(dst + at, 0, (plan->run_start[r] - at) * sizeof(float));
            memcpy(dst + plan->run_start[r], src, plan->run_len[r] * sizeof(float));
            src += plan->run_len[r];
            at = (size_t)plan->run_start[r] + plan->run_len[r];
        }
        memset(dst + at, 0, (DN_IMAGE_PIXELS - at) * sizeof(float));
    }
}

void dn_mlp_input_rows_backward_(dn_mlp *mlp, float *da1, size_t n, size_t o0, size_t o1)
{
    const size_t used = mlp->plan.nused, OC = mlp->width[1];
    const int compact = used < DN_IMAGE_PIXELS;
    float *dw = compact ? mlp->dw0_used : mlp->dlayer[0].weight;
    memset(dw + o0 * used, 0, (o1 - o0) * used * sizeof(float));
    memset(mlp->dlayer[0].bias + o0, 0, (o1 - o0) * sizeof(float));
    dn_dense_backward_units(dw, mlp->dlayer[0].bias, da1, mlp->ws.act[1], mlp->ws.act[0], n, used, OC, o0, o1,
                            dn_mlp_act_(mlp, 0), mlp->opt.matmul);
    if (compact) scatter_input_rows(mlp, o0, o1);
}

void dn_mlp_prefetch_rows_(const dn_dataset *set, const uint32_t *order, size_t first, size_t B)
{
    prefetch_rows(set->images, order, first, B);
}
