/*
 * mlp_layers.c — the kernels of the MLP: a dense layer's forward and
 * backward pass, the two output losses, and the matrix product they share.
 *
 * Layout (as llm.c and KANN): activations are (B, C) row-major, one sample
 * per row; weights are (OC, C) row-major, one output unit per row, so a
 * layer computes out = inp · weightᵀ + bias. The rules of the backward
 * pass, stated once for Z = X Wᵀ + b:
 *     dW = dZᵀ X        (OC, C) = (OC, B)(B, C)
 *     db = Σ_rows dZ    (OC)
 *     dX = dZ W         (B, C)  = (B, OC)(OC, C)
 * Forward passes overwrite their output. Backward passes ADD to parameter
 * gradients (zeroed by dn_mlp_zero_grad) and OVERWRITE the input gradient:
 * each activation has exactly one consumer, so nothing needs summing there
 * and the clearing pass is saved.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "mlp_internal.h"

/* ---------------------------------------------------------------- matmul */

/* The reference product: every C element one dot product accumulated in
 * double, in index order. Slow (strided reads for transposed operands) but
 * obviously right, which is its job. */
static void sgemm_plain(int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha, const float *A,
                        size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double sum = 0;
            for (size_t p = 0; p < K; p++) {
                double a = trans_a ? A[p * lda + i] : A[i * lda + p];
                double b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
                sum += a * b;
            }
            /* beta = 0 must ignore C, as BLAS does: it may hold garbage. */
            double before = beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)(alpha * sum + before);
        }
}

void dn_sgemm_(dn_matmul mm, int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha, const float *A,
               size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (M == 0 || N == 0) return;
    if (mm == DN_MATMUL_PLAIN) {
        sgemm_plain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* Sizes are capped (DN_MLP_MAX_WIDTH, batch ≤ 65536, forward chunks) far
     * below INT_MAX, the range of blasint. */
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

int dn_blas_threads_set_(int threads)
{
#ifdef OPENBLAS_VERSION
    int before = openblas_get_num_threads();
    int want = threads > 0 ? threads : openblas_get_num_procs();
    if (want != before) openblas_set_num_threads(want);
    return before;
#else
    (void)threads;
    return -1;
#endif
}

const char *dn_blas_kernel(void)
{
#ifdef OPENBLAS_VERSION
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
#else
    return "unknown";
#endif
}

/* ---------------------------------------------------------------- dense */

static float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

/* out[o] = act(out[o] + bias[o]) for one row; one loop per function so the
 * compiler vectorises each without a branch inside. */
void dn_bias_act_row_(float *out, const float *bias, size_t OC, dn_act act)
{
    switch (act) {
    case DN_ACT_FN_IDENTITY:
        for (size_t o = 0; o < OC; o++) out[o] += bias[o];
        return;
    case DN_ACT_FN_RELU:
        for (size_t o = 0; o < OC; o++) {
            float z = out[o] + bias[o];
            out[o] = z > 0.0f ? z : 0.0f;
        }
        return;
    case DN_ACT_FN_SIGMOID:
        for (size_t o = 0; o < OC; o++) out[o] = sigmoidf(out[o] + bias[o]);
        return;
    case DN_ACT_FN_TANH:
        for (size_t o = 0; o < OC; o++) out[o] = tanhf(out[o] + bias[o]);
        return;
    }
}

void dn_dense_forward_units(float *out, const float *inp, const float *weight, const float *bias, size_t B, size_t C,
                            size_t OC, size_t o0, size_t o1, dn_act act, dn_matmul mm)
{
    if (o1 <= o0) return;
    /* out (B, OC) = inp (B, C) · weightᵀ (C, OC): out[b][o] = Σ_c inp[b][c] weight[o][c],
     * here for the columns o0 … o1 − 1 of out, i.e. the rows o0 … o1 − 1 of weight */
    dn_sgemm_(mm, 0, 1, B, o1 - o0, C, 1.0f, inp, C, weight + o0 * C, C, 0.0f, out + o0, OC);
    /* out[b][o] = act(out[b][o] + bias[o]): bias and activation fused in one
     * pass over the output while it is still in cache. */
    for (size_t b = 0; b < B; b++) dn_bias_act_row_(out + b * OC + o0, bias + o0, o1 - o0, act);
}

void dn_dense_forward(float *out, const float *inp, const float *weight, const float *bias, size_t B, size_t C,
                      size_t OC, dn_act act, dn_matmul mm)
{
    dn_dense_forward_units(out, inp, weight, bias, B, C, OC, 0, OC, act, mm);
}

/* dz = dout ⊙ act'(z) for one row, in place. The derivative comes from
 * the output alone, so z need not be kept:
 *   relu' = [out > 0],  sigmoid' = out (1 − out),  tanh' = 1 − out². */
void dn_act_grad_row_(float *dout, const float *out, size_t OC, dn_act act)
{
    switch (act) {
    case DN_ACT_FN_IDENTITY: break;
    case DN_ACT_FN_RELU:
        for (size_t o = 0; o < OC; o++) dout[o] = out[o] > 0.0f ? dout[o] : 0.0f;
        break;
    case DN_ACT_FN_SIGMOID:
        for (size_t o = 0; o < OC; o++) dout[o] *= out[o] * (1.0f - out[o]);
        break;
    case DN_ACT_FN_TANH:
        for (size_t o = 0; o < OC; o++) dout[o] *= 1.0f - out[o] * out[o];
        break;
    }
}

void dn_dense_dz_units_(float *dbias, float *dout, const float *out, size_t B, size_t OC, size_t o0, size_t o1,
                        dn_act act)
{
    /* forward: out[b][o] = act(z[b][o]),  z[b][o] = bias[o] + Σ_c inp[b][c] weight[o][c] */
    /* dz[b][o] = dout[b][o] act'(z[b][o]);  dbias[o] += Σ_b dz[b][o]   (dz replaces dout) */
    for (size_t b = 0; b < B; b++) {
        float *dz = dout + b * OC + o0;
        dn_act_grad_row_(dz, out + b * OC + o0, o1 - o0, act);
        for (size_t o = 0; o < o1 - o0; o++) dbias[o0 + o] += dz[o];
    }
}

void dn_dense_backward_units(float *dweight, float *dbias, float *dout, const float *out, const float *inp, size_t B,
                             size_t C, size_t OC, size_t o0, size_t o1, dn_act act, dn_matmul mm)
{
    if (o1 <= o0) return;
    dn_dense_dz_units_(dbias, dout, out, B, OC, o0, o1, act);
    /* dweight[o][c] += Σ_b dz[b][o] inp[b][c]:  dweight (OC, C) += dzᵀ (OC, B) · inp (B, C), rows o0 … o1 − 1 */
    dn_sgemm_(mm, 1, 0, o1 - o0, C, B, 1.0f, dout + o0, OC, inp, C, 1.0f, dweight + o0 * C, C);
}

/* ---------------------------------------------------------------- losses */

static size_t argmax_row(const float *v, size_t V)
{
    size_t best = 0;
    for (size_t j = 1; j < V; j++)
        if (v[j] > v[best]) best = j; /* strict: the lowest index wins ties */
    return best;
}

double dn_softmax_ce(float *probs, float *dlogits, const uint8_t *labels, size_t B, size_t V, size_t *correct)
{
    double loss = 0;
    size_t right = 0;
    for (size_t b = 0; b < B; b++) {
        float *row = probs + b * V; /* logits on entry, probabilities on return */
        size_t best = argmax_row(row, V);
        /* Subtracting the largest logit keeps every exp ≤ 1 (no overflow);
         * NaN or ±Inf logits still make the loss NaN, which the caller sees. */
        float max = row[best];
        double sum = 0;
        for (size_t j = 0; j < V; j++) sum += exp((double)row[j] - max);
        if (labels) {
            size_t y = labels[b];
            right += best == y;
            /* −log p_y = log Σ_j e^(z_j − max) − (z_y − max): no log(0) */
            loss += log(sum) - ((double)row[y] - max);
        }
        for (size_t j = 0; j < V; j++) row[j] = (float)(exp((double)row[j] - max) / sum);
        if (dlogits && labels)
            for (size_t j = 0; j < V; j++) /* ∂(mean ℓ)/∂z = (p − d) / B */
                dlogits[b * V + j] = (row[j] - (j == labels[b] ? 1.0f : 0.0f)) / (float)B;
    }
    if (correct) *correct += right;
    return loss;
}

double dn_softmax_ce_smooth(float *probs, float *dlogits, const uint8_t *labels, size_t B, size_t V, size_t *correct,
                            float eps)
{
    if (eps == 0.0f || !labels) return dn_softmax_ce(probs, dlogits, labels, B, V, correct);
    const double off = (double)eps / (double)V, on = 1.0 - (double)eps + off; /* t_j off the label, t_y */
    double loss = 0;
    size_t right = 0;
    for (size_t b = 0; b < B; b++) {
        float *row = probs + b * V; /* logits on entry, probabilities on return */
        size_t best = argmax_row(row, V), y = labels[b];
        float max = row[best];
        double sum = 0, dot = 0;
        for (size_t j = 0; j < V; j++) {
            sum += exp((double)row[j] - max);
            dot += (j == y ? on : off) * ((double)row[j] - max);
        }
        right += best == y;
        /* −Σ_j t_j log p_j = −Σ_j t_j (z_j − max − log Σ) = log Σ − Σ_j t_j (z_j − max),
         * as Σ_j t_j = 1 */
        loss += log(sum) - dot;
        for (size_t j = 0; j < V; j++) row[j] = (float)(exp((double)row[j] - max) / sum);
        if (dlogits)
            for (size_t j = 0; j < V; j++) /* ∂(mean ℓ)/∂z = (p − t) / B */
                dlogits[b * V + j] = (float)(((double)row[j] - (j == y ? on : off)) / (double)B);
    }
    if (correct) *correct += right;
    return loss;
}

double dn_sigmoid_mse(const float *a, float *dout, const uint8_t *labels, size_t B, size_t V, size_t *correct)
{
    double loss = 0;
    size_t right = 0;
    for (size_t b = 0; b < B; b++) {
        const float *row = a + b * V;
        size_t y = labels[b];
        right += argmax_row(row, V) == y;
        for (size_t j = 0; j < V; j++) {
            float diff = row[j] - (j == y ? 1.0f : 0.0f);
            loss += 0.5 * (double)diff * diff; /* ℓ = ½ Σ_j (a_j − d_j)² */
            if (dout) dout[b * V + j] = diff / (float)B; /* ∂(mean ℓ)/∂a = (a − d) / B */
        }
    }
    if (correct) *correct += right;
    return loss;
}

/* ---------------------------------------------------------------- dropout */

/* splitmix64's finaliser: a bijection of 64 bits whose every output bit
 * depends on every input bit, so consecutive counters give independent-
 * looking values (a counter-based generator: no state to carry or save). */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t dn_dropout_key_(uint64_t seed, int epoch, size_t position, int layer)
{
    uint64_t k = mix64(seed ^ 0x44524f50ULL); /* "DROP" */
    k = mix64(k ^ (uint64_t)(unsigned)epoch);
    k = mix64(k ^ (uint64_t)position);
    return mix64(k ^ (uint64_t)(unsigned)layer);
}

uint32_t dn_dropout_keep_(double p)
{
    double keep = (1.0 - p) * 4294967296.0;
    return keep >= 4294967295.0 ? UINT32_MAX : (uint32_t)(keep + 0.5);
}

float dn_dropout_mask_(uint64_t key, size_t u, uint32_t keep, float scale)
{
    return (uint32_t)(mix64(key + (uint64_t)u * 0xd1342543de82ef95ULL) >> 32) < keep ? scale : 0.0f;
}

void dn_dropout_row_(float *a, float *mask, size_t n, size_t u0, uint64_t key, uint32_t keep, float scale)
{
    for (size_t o = 0; o < n; o++) {
        float m = dn_dropout_mask_(key, u0 + o, keep, scale);
        a[o] *= m;
        if (mask) mask[o] = m;
    }
}

void dn_dropout_grad_row_(float *dout, const float *out, const float *mask, size_t n, dn_act act)
{
    /* forward: out = m · f(z);  ∂L/∂z = ∂L/∂out · m · f'(z), f' from a = f(z) = out / m.
     * One loop per function, without a branch inside, so each vectorises. */
    switch (act) {
    case DN_ACT_FN_IDENTITY:
        for (size_t o = 0; o < n; o++) dout[o] *= mask[o];
        return;
    case DN_ACT_FN_RELU: /* out > 0 only where m > 0 and z > 0: relu' m = [out > 0] m */
        for (size_t o = 0; o < n; o++) dout[o] = out[o] > 0.0f ? dout[o] * mask[o] : 0.0f;
        return;
    case DN_ACT_FN_SIGMOID:
        for (size_t o = 0; o < n; o++) {
            float m = mask[o], a = m != 0.0f ? out[o] / m : 0.0f;
            dout[o] *= m * (a * (1.0f - a));
        }
        return;
    case DN_ACT_FN_TANH:
        for (size_t o = 0; o < n; o++) {
            float m = mask[o], a = m != 0.0f ? out[o] / m : 0.0f;
            dout[o] *= m * (1.0f - a * a);
        }
        return;
    }
}

/* ---------------------------------------------------------------- input */

void dn_images_to_floats(float *x, const uint8_t *images, const uint32_t *order, size_t first, size_t B)
{
    for (size_t b = 0; b < B; b++) {
        size_t row = order ? order[first + b] : first + b;
        const uint8_t *image = images + row * DN_IMAGE_PIXELS;
        float *x_b = x + b * DN_IMAGE_PIXELS;
        /* a correctly rounded division of exact small integers: the same x
         * on every path, and it vectorises (a table lookup would not) */
        for (size_t k = 0; k < DN_IMAGE_PIXELS; k++) x_b[k] = (float)image[k] / 255.0f;
    }
}
