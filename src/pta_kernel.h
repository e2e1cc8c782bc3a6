/*
 * pta_kernel.h — the two passes of a PTA epoch, written once for both
 * precisions: included by pta.c with REAL (float or double) and SFX
 * (f32 or f64) defined.
 *
 * Layout. W is kept transposed and padded: wt[k * PTA_LANES + j] holds
 * W[j][k], k = pixel 0..783, j = neuron 0..9 in lanes 0..9, lanes 10..15
 * zero. PTA_FMA is fmaf or fma. One pixel's ten weights are then one contiguous vector, and both
 * W x and the update x-scaled by (d − u) become loops over the non-zero
 * pixels of x only (x_k = 0 adds nothing to either). The inner loops over
 * PTA_LANES are what the compiler turns into one or two vector operations.
 */

#define PTA_CAT_(a, b) a##_##b
#define PTA_CAT(a, b) PTA_CAT_(a, b)
#define PTA_FN(name) PTA_CAT(name, SFX)

/* v[0..15] = W x for sample i; four partial sums break the FMA latency chain. */
static void PTA_FN(pta_dot)(const REAL *restrict wt, const pta_sparse *sp, const uint8_t *restrict image,
                            const REAL *restrict lut, size_t i, REAL v[PTA_LANES])
{
    REAL acc[4][PTA_LANES] = {{0}};
    const uint16_t *restrict idx = sp->index + sp->start[i];
    size_t nnz = sp->start[i + 1] - sp->start[i], t = 0;
    for (; t + 4 <= nnz; t += 4) {
        for (int u = 0; u < 4; u++) {
            const REAL *restrict w = wt + (size_t)idx[t + u] * PTA_LANES;
            REAL x = lut[image[idx[t + u]]];
            for (int j = 0; j < PTA_LANES; j++) acc[u][j] = PTA_FMA(w[j], x, acc[u][j]);
        }
    }
    for (; t < nnz; t++) {
        const REAL *restrict w = wt + (size_t)idx[t] * PTA_LANES;
        REAL x = lut[image[idx[t]]];
        for (int j = 0; j < PTA_LANES; j++) acc[0][j] = PTA_FMA(w[j], x, acc[0][j]);
    }
    for (int j = 0; j < PTA_LANES; j++) v[j] = (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]);
}

static int PTA_FN(pta_argmax)(const REAL v[PTA_LANES])
{
    int best = 0; /* strict > keeps the lowest index on ties */
    for (int j = 1; j < DN_CLASSES; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* Count pass: misclassifications of samples [0, n) with the current W. */
static size_t PTA_FN(pta_count)(const REAL *wt, const pta_sparse *sp, const uint8_t *images,
                                const uint8_t *labels, size_t n, const REAL *lut, int threads)
{
    size_t errors = 0;
    long long count = (long long)n;
#pragma omp parallel for num_threads(threads) reduction(+ : errors) schedule(static)
    for (long long i = 0; i < count; i++) {
        REAL v[PTA_LANES];
        PTA_FN(pta_dot)(wt, sp, images + (size_t)i * DN_IMAGE_PIXELS, lut, (size_t)i, v);
        errors += PTA_FN(pta_argmax)(v) != labels[i];
    }
    return errors;
}

/* Update pass: W ← W + η (d(x_i) − u(W x_i)) x_iᵀ for i = 0..n-1, in order.
 * The product and the sum are rounded separately (no FMA), as a reference
 * written W += eta * outer(d - u, x) rounds them.
 * When avg_acc is not NULL it also accumulates Σ (step − 1)·ΔW (see pta.c). */
static void PTA_FN(pta_update)(REAL *restrict wt, double *restrict avg_acc, uint64_t *steps, const pta_sparse *sp,
                               const uint8_t *images, const uint8_t *labels, size_t n, const REAL *restrict lut,
                               REAL eta)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *image = images + i * DN_IMAGE_PIXELS;
        REAL v[PTA_LANES], scale[PTA_LANES] = {0};
        PTA_FN(pta_dot)(wt, sp, image, lut, i, v);
        int changed = 0;
        for (int j = 0; j < DN_CLASSES; j++) {
            REAL d = (j == labels[i]) ? 1 : 0, u = v[j] > 0 ? 1 : 0;
            scale[j] = eta * (d - u);
            changed |= d != u;
        }
        uint64_t step = ++*steps;
        if (!changed) continue; /* u(W x) = d(x): the rule adds nothing */
        const uint16_t *idx = sp->index + sp->start[i];
        size_t nnz = sp->start[i + 1] - sp->start[i];
        for (size_t t = 0; t < nnz; t++) {
            REAL *restrict w = wt + (size_t)idx[t] * PTA_LANES;
            REAL x = lut[image[idx[t]]];
            for (int j = 0; j < PTA_LANES; j++) w[j] += scale[j] * x;
        }
        if (!avg_acc) continue;
        double weight = (double)(step - 1);
        for (size_t t = 0; t < nnz; t++) {
            double *restrict a = avg_acc + (size_t)idx[t] * PTA_LANES;
            double x = (double)lut[image[idx[t]]];
            for (int j = 0; j < PTA_LANES; j++) a[j] += weight * (double)scale[j] * x;
        }
    }
}

#undef PTA_FN
#undef PTA_CAT
#undef PTA_CAT_
