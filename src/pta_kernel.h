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

/* acc[0..15] += W x_k for one non-zero pixel k with value x. */
#define PTA_ACCUMULATE(acc, wt, k, x)                                                                                 \
    do {                                                                                                               \
        const REAL *restrict w_ = (wt) + (size_t)(k) * PTA_LANES;                                                     \
        for (int j = 0; j < PTA_LANES; j++) (acc)[j] = PTA_FMA(w_[j], (x), (acc)[j]);                                \
    } while (0)

/* v[0..15] = W x for sample i. Four named partial sums break the FMA latency
 * chain; named (not acc[4][16]) so that the compiler keeps them in registers. */
static void PTA_FN(pta_dot)(const REAL *restrict wt, const pta_sparse *sp, const REAL *restrict lut, size_t i,
                            REAL v[PTA_LANES])
{
    REAL a0[PTA_LANES] = {0}, a1[PTA_LANES] = {0}, a2[PTA_LANES] = {0}, a3[PTA_LANES] = {0};
    const uint16_t *restrict idx = sp->index + sp->start[i];
    const uint8_t *restrict val = sp->value + sp->start[i];
    size_t nnz = sp->start[i + 1] - sp->start[i], t = 0;
    for (; t + 4 <= nnz; t += 4) {
        PTA_ACCUMULATE(a0, wt, idx[t], lut[val[t]]);
        PTA_ACCUMULATE(a1, wt, idx[t + 1], lut[val[t + 1]]);
        PTA_ACCUMULATE(a2, wt, idx[t + 2], lut[val[t + 2]]);
        PTA_ACCUMULATE(a3, wt, idx[t + 3], lut[val[t + 3]]);
    }
    for (; t < nnz; t++) PTA_ACCUMULATE(a0, wt, idx[t], lut[val[t]]);
    for (int j = 0; j < PTA_LANES; j++) v[j] = (a0[j] + a1[j]) + (a2[j] + a3[j]);
}

/* One pixel's 16 lanes as a GCC vector: the update written as whole-vector
 * arithmetic, since the autovectoriser leaves the unrolled lane loop scalar. */
typedef REAL PTA_FN(pta_vec) __attribute__((vector_size(PTA_LANES * sizeof(REAL))));

/* w[0..15] += s·x: a product then a sum, each rounded, as the reference does
 * (C11 mode compiles without FMA contraction). memcpy keeps it alias-safe and
 * compiles to plain vector loads and stores. */
static inline void PTA_FN(pta_axpy)(REAL *restrict w, PTA_FN(pta_vec) s, REAL x)
{
    PTA_FN(pta_vec) v;
    memcpy(&v, w, sizeof v);
    v += s * x;
    memcpy(w, &v, sizeof v);
}

static int PTA_FN(pta_argmax)(const REAL v[PTA_LANES])
{
    int best = 0; /* strict > keeps the lowest index on ties */
    for (int j = 1; j < DN_CLASSES; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* avg_acc += (step − 1)·Δ for the update Δ = scale xᵀ just applied. */
static void PTA_FN(pta_average_step)(double *restrict avg_acc, const uint16_t *idx, const uint8_t *val, size_t nnz,
                                     const REAL *scale, const REAL *lut, uint64_t step)
{
    pta_vec_f64 weighted;
    for (int j = 0; j < PTA_LANES; j++) weighted[j] = (double)(step - 1) * (double)scale[j];
    for (size_t t = 0; t < nnz; t++) pta_axpy_f64(avg_acc + (size_t)idx[t] * PTA_LANES, weighted, (double)lut[val[t]]);
}

/* Count pass: misclassifications of samples [0, n) with the current W. */
static size_t PTA_FN(pta_count)(const REAL *wt, const pta_sparse *sp, const uint8_t *labels, size_t n,
                                const REAL *lut, int threads)
{
    size_t errors = 0;
    long long count = (long long)n;
#pragma omp parallel for num_threads(threads) reduction(+ : errors) schedule(static)
    for (long long i = 0; i < count; i++) {
        REAL v[PTA_LANES];
        PTA_FN(pta_dot)(wt, sp, lut, (size_t)i, v);
        errors += PTA_FN(pta_argmax)(v) != labels[i];
    }
    return errors;
}

/* Update pass: W ← W + η (d(x_i) − u(W x_i)) x_iᵀ for i = 0..n-1, in order.
 * The product and the sum are rounded separately (no FMA), as a reference
 * written W += eta * outer(d - u, x) rounds them.
 * When avg_acc is not NULL it also accumulates Σ (step − 1)·ΔW (see pta.c). */
static void PTA_FN(pta_update)(REAL *restrict wt, double *restrict avg_acc, uint64_t *steps, const pta_sparse *sp,
                               const uint8_t *labels, size_t n, const REAL *restrict lut, REAL eta)
{
    for (size_t i = 0; i < n; i++) {
        REAL v[PTA_LANES], scale[PTA_LANES] = {0};
        PTA_FN(pta_vec) scale_v;
        PTA_FN(pta_dot)(wt, sp, lut, i, v);
        int changed = 0;
        for (int j = 0; j < DN_CLASSES; j++) {
            REAL d = (j == labels[i]) ? 1 : 0, u = v[j] > 0 ? 1 : 0;
            scale[j] = eta * (d - u);
            changed |= d != u;
        }
        uint64_t step = ++*steps;
        if (!changed) continue; /* u(W x) = d(x): the rule adds nothing */
        const uint16_t *idx = sp->index + sp->start[i];
        const uint8_t *val = sp->value + sp->start[i];
        size_t nnz = sp->start[i + 1] - sp->start[i];
        memcpy(&scale_v, scale, sizeof scale_v);
        for (size_t t = 0; t < nnz; t++) PTA_FN(pta_axpy)(wt + (size_t)idx[t] * PTA_LANES, scale_v, lut[val[t]]);
        if (avg_acc) PTA_FN(pta_average_step)(avg_acc, idx, val, nnz, scale, lut, step);
    }
}

#undef PTA_ACCUMULATE
#undef PTA_FN
#undef PTA_CAT
#undef PTA_CAT_
