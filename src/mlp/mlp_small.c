/*
 * mlp_small.c — the kernels of the small-batch SGD step (mlp_train.c,
 * "Small batches"): plain SGD, no momentum, no weight decay, small B
 * (DN_MLP_SMALL_BATCH_MAX). Then the step is W ← W − η ∂L/∂W and nothing
 * else, so each layer's gradient goes straight into its weights, one row
 * at a time, and no gradient buffer is zeroed, written or read again.
 *
 * At such batches the products are too small for BLAS to amortise its
 * packing (at B = 10 a step of the 784-200-200-10 2NN is ~2.6 M
 * multiply-adds), and what the dense formulation wastes is large: an MNIST
 * image has ~150 ink pixels of 784, and a ReLU unit is zero for about half
 * the samples. These loops skip both:
 *   - layer 0 runs on W_0ᵀ (784, n_1), kept transposed for the epoch, so
 *     that each non-zero pixel of a sample is one contiguous row to add
 *     (forward) or to step (backward: only the rows of pixels some sample
 *     of the batch uses);
 *   - the upper layers' weight rows take Σ_b dz[b][o] a[b] over the samples
 *     where dz[b][o] ≠ 0, and ∂L/∂a = dz W sums the rows of W where
 *     dz[b][o] ≠ 0;
 *   - their forward pass, dense, is dot products, each weight row read
 *     once per four samples (at B = 10 faster than BLAS, which packs W
 *     anew for every product);
 *   - but a ReLU hidden-to-hidden layer 1 (the 2NN's 200 → 200) runs on
 *     W_1ᵀ, kept for the epoch like W_0ᵀ (dn_small_hidden_*): its forward
 *     adds one row per active input unit (half the multiply-adds of the
 *     dense dots), ∂L/∂a_1 is only computed where a_1 > 0 (dot products,
 *     the ReLU's derivative zeroes the rest), and each row of W_1ᵀ steps
 *     by the samples where its unit is active, right after its dots.
 * The sums run in another order than BLAS's, with FMAs: the results agree
 * with the reference step to rounding (test_mlp_step states the tolerance).
 * Measured, one shared core, a 600-sample epoch of the 2NN at B = 10 (the
 * FedAvg client): 11.4 ms with the BLAS step, 4.4 ms with this one; with
 * W_1ᵀ and the 200-column passes of combine_rows the per-round seconds of
 * a FedAvg run (2NN, B = 10, C = 0.1) went 4.7 → 4.3 ms per client
 * (medians of eight runs each, alternated on a shared core).
 */
#include <string.h>

#include "mlp_internal.h"
#include "mlp_vec.h"

/* The kernels are written with the vectors of mlp_vec.h: the compiler
 * otherwise vectorises combine_rows across its rows, with gathers, and keeps
 * the sums in memory. combine_rows runs sixteen wide: half the
 * instructions, the 600-sample epoch above 4.8 → 4.4 ms (dot_rows gained
 * nothing from it). */

/* combine_rows (below) on the 200 columns [c0, c0 + 200) in one pass over
 * the rows (200 = 12 · 16 + 8: thirteen sums in registers, of the 32
 * AVX-512 ones):
 * the 2NN's layers are 200 wide, and the 64-column blocks below went over
 * each row's pointer and coefficient four times, the last time for 8
 * columns (measured: the FedAvg 2NN client update 6.0 → 5.7 ms, medians
 * of ten runs side by side on a shared core). Only with AVX-512: with 16
 * registers the sums would spill. */
#ifdef __AVX512F__
enum { WIDE = 200, WIDE16 = 12 };

static void combine_wide(float *dst, int keep, float scale, const float *coef, const float *const *rows, size_t m,
                         size_t c0)
{
    vec16 s[WIDE16] = {{0}};
    vec8 t = {0};
    for (size_t i = 0; i < m; i++) {
        const float *r = rows[i] + c0;
        const vec16 a = (vec16){0} + coef[i];
        for (int q = 0; q < WIDE16; q++) s[q] += a * load16(r + 16 * q);
        t += ((vec8){0} + coef[i]) * load8(r + 16 * WIDE16);
    }
    for (int q = 0; q < WIDE16; q++) {
        float *d = dst + c0 + 16 * q;
        store16(d, (keep ? load16(d) : (vec16){0}) + scale * s[q]);
    }
    float *d = dst + c0 + 16 * WIDE16;
    store8(d, (keep ? load8(d) : (vec8){0}) + scale * t);
}
#endif

/* dst[c] = (keep ? dst[c] : 0) + scale Σ_i coef[i] rows[i][c] for c in
 * [0, n), the sum over i in order. 64 columns at a time, their sums in
 * four wide registers (eight AVX ones) while the m rows stream past:
 * independent chains of multiply-adds, enough to cover the latency of each. */
static void combine_rows(float *dst, int keep, float scale, const float *coef, const float *const *rows, size_t m,
                         size_t n)
{
    size_t c0 = 0; /* first in passes of 200 (combine_wide), then of 64 */
#ifdef __AVX512F__
    for (; c0 + WIDE <= n; c0 += WIDE) combine_wide(dst, keep, scale, coef, rows, m, c0);
#endif
    for (; c0 + 64 <= n; c0 += 64) {
        vec16 s[4] = {{0}};
        for (size_t i = 0; i < m; i++) {
            const float *r = rows[i] + c0;
            const vec16 a = (vec16){0} + coef[i];
            for (int q = 0; q < 4; q++) s[q] += a * load16(r + 16 * q);
        }
        for (int q = 0; q < 4; q++) {
            float *d = dst + c0 + 16 * q;
            store16(d, (keep ? load16(d) : (vec16){0}) + scale * s[q]);
        }
    }
    /* The last columns (200 = 3 · 64 + 8): one register wide, so the rows
     * go round four partial sums, or each multiply-add would wait on the
     * one before (measured: the 600-sample epoch 2 % faster). */
    for (; c0 + 8 <= n; c0 += 8) {
        vec8 s[4] = {{0}};
        size_t i = 0;
        for (; i + 4 <= m; i += 4)
            for (int q = 0; q < 4; q++) s[q] += ((vec8){0} + coef[i + q]) * load8(rows[i + q] + c0);
        for (; i < m; i++) s[0] += ((vec8){0} + coef[i]) * load8(rows[i] + c0);
        store8(dst + c0, (keep ? load8(dst + c0) : (vec8){0}) + scale * ((s[0] + s[1]) + (s[2] + s[3])));
    }
    for (; c0 < n; c0++) {
        float sum = 0;
        for (size_t i = 0; i < m; i++) sum += coef[i] * rows[i][c0];
        dst[c0] = (keep ? dst[c0] : 0.0f) + scale * sum;
    }
}

/* Appends (v, row) as entry m of a combine_rows list when v ≠ 0; returns
 * the new length. Without a branch: whether a pixel is ink or a ReLU unit
 * is active is a coin toss the branch predictor loses (measured: the lists
 * cost more than the arithmetic with an if). */
static size_t keep_nonzero(float *coef, const float **rows, size_t m, float v, const float *row)
{
    coef[m] = v, rows[m] = row;
    return m + (v != 0.0f);
}

/* w[c] −= lr Σ_i coef[i] rows[i][c]: one SGD step of a weight row from the
 * m samples that reach it. */
static void step_row(float *w, const float *coef, const float *const *rows, size_t m, size_t n, float lr)
{
    if (m > 0) /* else no sample reaches the row (a unit inactive for the whole batch) */
        combine_rows(w, 1, -lr, coef, rows, m, n);
}

/* Without AVX the eight-float shuffles are split in SSE halves and lose to
 * the scalar tiles (measured: 76 µs against 51 for W_0 on -O3 x86-64). */
#if defined(__AVX__) && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define HAVE_SHUFFLEVECTOR 1
#endif
#endif

#ifdef HAVE_SHUFFLEVECTOR
/* The 8 × 8 block at src (row stride ss) transposed to dst (row stride ds)
 * in registers: pairs of rows interleaved by one, two, then four floats (the
 * unpack / shuffle / permute steps of an AVX transpose). The scalar tiles
 * below moved one float per instruction and showed as ~2 % of a FedAvg
 * client's epoch, which transposes W_0 twice. */
static void transpose8(float *dst, size_t ds, const float *src, size_t ss)
{
    vec8 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = load8(src + (size_t)i * ss);
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            u[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int i = 0; i < 4; i++) {
        store8(dst + (size_t)i * ds, __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11));
        store8(dst + (size_t)(i + 4) * ds, __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15));
    }
}
#endif

/* dst[c][r] = src[r][c] over [r0, r1) × [c0, c1). */
static void transpose_scalar(float *dst, const float *src, size_t rows, size_t cols, size_t r0, size_t r1, size_t c0,
                             size_t c1)
{
    for (size_t r = r0; r < r1; r++)
        for (size_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
}

void dn_transpose_(float *dst, const float *src, size_t rows, size_t cols)
{
    enum { TILE = 16 }; /* a 16 × 16 tile of floats: both sides' cache lines used whole */
    size_t r8 = 0, c8 = 0; /* the part covered by whole 8 × 8 blocks */
#ifdef HAVE_SHUFFLEVECTOR
    r8 = rows - rows % 8, c8 = cols - cols % 8;
    /* the inner loop along the shorter side: measured on W_0's 200 × 784,
     * both ways round, ~1.5× faster than along the longer one */
    if (rows <= cols)
        for (size_t c0 = 0; c0 < c8; c0 += 8)
            for (size_t r0 = 0; r0 < r8; r0 += 8) transpose8(dst + c0 * rows + r0, rows, src + r0 * cols + c0, cols);
    else
        for (size_t r0 = 0; r0 < r8; r0 += 8)
            for (size_t c0 = 0; c0 < c8; c0 += 8) transpose8(dst + c0 * rows + r0, rows, src + r0 * cols + c0, cols);
#endif
    transpose_scalar(dst, src, rows, cols, 0, r8, c8, cols);
    for (size_t r0 = r8; r0 < rows; r0 += TILE)
        for (size_t c0 = 0; c0 < cols; c0 += TILE)
            transpose_scalar(dst, src, rows, cols, r0, r0 + TILE < rows ? r0 + TILE : rows, c0,
                             c0 + TILE < cols ? c0 + TILE : cols);
}

/* bias[o] −= lr Σ_b dz[b][o]. */
static void step_bias(float *bias, const float *dz, size_t B, size_t OC, float lr)
{
    for (size_t o = 0; o < OC; o++) {
        float sum = 0;
        for (size_t b = 0; b < B; b++) sum += dz[b * OC + o];
        bias[o] -= lr * sum;
    }
}

void dn_small_input_forward(float *a1, const float *x, const uint16_t *pixel, size_t nused, const float *w0t,
                            const float *b0, size_t B, size_t n1, dn_act act)
{
    float coef[DN_IMAGE_PIXELS];
    const float *rows[DN_IMAGE_PIXELS];
    for (size_t b = 0; b < B; b++) {
        const float *x_b = x + b * nused;
        size_t m = 0;
        for (size_t j = 0; j < nused; j++) /* blank pixels add nothing */
            m = keep_nonzero(coef, rows, m, x_b[j], w0t + (size_t)pixel[j] * n1);
        combine_rows(a1 + b * n1, 0, 1.0f, coef, rows, m, n1);
        dn_bias_act_row_(a1 + b * n1, b0, n1, act);
    }
}

void dn_small_input_sgd(float *w0t, float *b0, float *da1, const float *a1, const float *x, const uint16_t *pixel,
                        size_t nused, size_t B, size_t n1, dn_act act, float lr)
{
    float coef[DN_MLP_SMALL_BATCH_MAX];
    const float *rows[DN_MLP_SMALL_BATCH_MAX];
    for (size_t b = 0; b < B; b++) dn_act_grad_row_(da1 + b * n1, a1 + b * n1, n1, act);
    /* ∂L/∂W_0ᵀ[c] = Σ_b x[b][c] dz[b]: the samples where pixel c is ink */
    for (size_t j = 0; j < nused; j++) {
        size_t m = 0;
        for (size_t b = 0; b < B; b++)
            m = keep_nonzero(coef, rows, m, x[b * nused + j], da1 + b * n1);
        step_row(w0t + (size_t)pixel[j] * n1, coef, rows, m, n1, lr);
    }
    step_bias(b0, da1, B, n1, lr);
}

/* The sum of a register's eight floats. */
static float sum8(vec8 v)
{
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* out[b][o] = Σ_c inp[b][c] w[c] for the ns ≤ 4 samples from b0: one
 * weight row against up to four input rows, the row loaded once; even and
 * odd blocks of 8 columns in separate sums, eight chains of multiply-adds
 * (four would wait on each other's latency). */
static void dot_rows(float *out, const float *inp, const float *w, size_t b0, size_t ns, size_t C, size_t OC)
{
    vec8 s[4] = {{0}}, u[4] = {{0}};
    size_t c = 0;
    for (; c + 16 <= C; c += 16) {
        const vec8 w0 = load8(w + c), w1 = load8(w + c + 8);
        for (size_t i = 0; i < 4; i++)
            if (i < ns) {
                const float *x = inp + (b0 + i) * C + c;
                s[i] += w0 * load8(x), u[i] += w1 * load8(x + 8);
            }
    }
    for (; c + 8 <= C; c += 8) {
        const vec8 w0 = load8(w + c);
        for (size_t i = 0; i < 4; i++)
            if (i < ns) s[i] += w0 * load8(inp + (b0 + i) * C + c);
    }
    for (size_t i = 0; i < ns; i++) {
        float sum = sum8(s[i] + u[i]);
        for (size_t t = c; t < C; t++) sum += w[t] * inp[(b0 + i) * C + t];
        out[(b0 + i) * OC] = sum;
    }
}

void dn_small_dense_forward(float *out, const float *inp, const float *weight, const float *bias, size_t B, size_t C,
                            size_t OC, dn_act act)
{
    for (size_t o = 0; o < OC; o++)
        for (size_t b0 = 0; b0 < B; b0 += 4) dot_rows(out + o, inp, weight + o * C, b0, B - b0 < 4 ? B - b0 : 4, C, OC);
    for (size_t b = 0; b < B; b++) dn_bias_act_row_(out + b * OC, bias, OC, act);
}

/* Units whose weight rows input_gradient lists at once (on the stack). */
#define UNIT_BLOCK 256

/* dinp (B, C) = dz (B, OC) · weight (OC, C): per sample, the weight rows of
 * the units with a non-zero dz[b][o], UNIT_BLOCK units at a time. */
static void input_gradient(float *dinp, const float *dz, const float *weight, size_t B, size_t C, size_t OC)
{
    float coef[UNIT_BLOCK];
    const float *rows[UNIT_BLOCK];
    for (size_t b = 0; b < B; b++)
        for (size_t o0 = 0; o0 < OC; o0 += UNIT_BLOCK) {
            size_t o1 = o0 + UNIT_BLOCK < OC ? o0 + UNIT_BLOCK : OC, m = 0;
            for (size_t o = o0; o < o1; o++)
                m = keep_nonzero(coef, rows, m, dz[b * OC + o], weight + o * C);
            combine_rows(dinp + b * C, o0 > 0, 1.0f, coef, rows, m, C);
        }
}

void dn_small_dense_sgd(float *dinp, float *weight, float *bias, float *dout, const float *out, const float *inp,
                        size_t B, size_t C, size_t OC, dn_act act, float lr)
{
    float coef[DN_MLP_SMALL_BATCH_MAX];
    const float *rows[DN_MLP_SMALL_BATCH_MAX];
    for (size_t b = 0; b < B; b++) dn_act_grad_row_(dout + b * OC, out + b * OC, OC, act);
    if (dinp) input_gradient(dinp, dout, weight, B, C, OC); /* before W changes */
    /* ∂L/∂W[o] = Σ_b dz[b][o] inp[b]: the samples where unit o has a gradient */
    for (size_t o = 0; o < OC; o++) {
        size_t m = 0;
        for (size_t b = 0; b < B; b++)
            m = keep_nonzero(coef, rows, m, dout[b * OC + o], inp + b * C);
        step_row(weight + o * C, coef, rows, m, C, lr);
    }
    step_bias(bias, dout, B, OC, lr);
}

void dn_small_hidden_forward(float *out, const float *inp, const float *wt, const float *bias, size_t B, size_t C,
                             size_t OC, dn_act act)
{
    float coef[UNIT_BLOCK];
    const float *rows[UNIT_BLOCK];
    for (size_t b = 0; b < B; b++) {
        for (size_t c0 = 0; c0 < C; c0 += UNIT_BLOCK) {
            size_t c1 = c0 + UNIT_BLOCK < C ? c0 + UNIT_BLOCK : C, m = 0;
            for (size_t c = c0; c < c1; c++) /* inactive units add nothing */
                m = keep_nonzero(coef, rows, m, inp[b * C + c], wt + c * OC);
            combine_rows(out + b * OC, c0 > 0, 1.0f, coef, rows, m, OC);
        }
        dn_bias_act_row_(out + b * OC, bias, OC, act);
    }
}

/* The sum of a wide register's sixteen floats. */
static float sum16(vec16 v)
{
    vec8 lo, hi;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (const char *)&v + sizeof lo, sizeof hi);
    return sum8(lo + hi);
}

/* dinp[b][c] = dz[b] · w for the NS ≤ 4 samples b = sample[i] (NS a
 * constant where this is inlined): the row w (OC) loaded once for them all,
 * even and odd blocks of 16 in separate sums (two chains of multiply-adds
 * per sample, even for one), the last 8 columns one AVX register wide. */
static inline __attribute__((always_inline)) void dot_samples(float *dinp, const float *dz, const float *w,
                                                              const size_t *sample, size_t NS, size_t C, size_t OC,
                                                              size_t c)
{
    vec16 s[4] = {{0}}, u[4] = {{0}};
    vec8 t[4] = {{0}};
    size_t o = 0;
    for (; o + 32 <= OC; o += 32) {
        const vec16 w0 = load16(w + o), w1 = load16(w + o + 16);
        for (size_t i = 0; i < NS; i++) {
            const float *z = dz + sample[i] * OC + o;
            s[i] += w0 * load16(z), u[i] += w1 * load16(z + 16);
        }
    }
    for (; o + 16 <= OC; o += 16)
        for (size_t i = 0; i < NS; i++) s[i] += load16(w + o) * load16(dz + sample[i] * OC + o);
    for (; o + 8 <= OC; o += 8)
        for (size_t i = 0; i < NS; i++) t[i] += load8(w + o) * load8(dz + sample[i] * OC + o);
    for (size_t i = 0; i < NS; i++) {
        float sum = sum16(s[i] + u[i]) + sum8(t[i]);
        for (size_t k = o; k < OC; k++) sum += w[k] * dz[sample[i] * OC + k];
        dinp[sample[i] * C + c] = sum;
    }
}

/* dot_samples over all m samples, four at a time, then two, then one: no
 * lanes computed for nothing (about half the batch reaches a unit). */
static void dot_all(float *dinp, const float *dz, const float *w, const size_t *sample, size_t m, size_t C, size_t OC,
                    size_t c)
{
    size_t i = 0;
    for (; i + 4 <= m; i += 4) dot_samples(dinp, dz, w, sample + i, 4, C, OC, c);
    if (i + 2 <= m) dot_samples(dinp, dz, w, sample + i, 2, C, OC, c), i += 2;
    if (i < m) dot_samples(dinp, dz, w, sample + i, 1, C, OC, c);
}

void dn_small_hidden_sgd(float *dinp, float *wt, float *bias, float *dout, const float *out, const float *inp,
                         size_t B, size_t C, size_t OC, dn_act act, float lr)
{
    float coef[DN_MLP_SMALL_BATCH_MAX];
    const float *rows[DN_MLP_SMALL_BATCH_MAX];
    size_t sample[DN_MLP_SMALL_BATCH_MAX];
    for (size_t b = 0; b < B; b++) dn_act_grad_row_(dout + b * OC, out + b * OC, OC, act);
    memset(dinp, 0, B * C * sizeof *dinp);
    /* per input unit c, the samples where it is active: its ∂L/∂a from
     * the row before the step, then ∂L/∂Wᵀ[c] = Σ_b inp[b][c] dz[b] */
    for (size_t c = 0; c < C; c++) {
        size_t m = 0;
        for (size_t b = 0; b < B; b++) {
            sample[m] = b;
            m = keep_nonzero(coef, rows, m, inp[b * C + c], dout + b * OC);
        }
        dot_all(dinp, dout, wt + c * OC, sample, m, C, OC, c);
        step_row(wt + c * OC, coef, rows, m, OC, lr);
    }
    step_bias(bias, dout, B, OC, lr);
}
