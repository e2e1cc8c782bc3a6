/*
 * pta_kernel.h — the two passes of a PTA epoch, written once for both
 * precisions: included by pta.c with REAL (float or double) and SFX
 * (f32 or f64) defined.
 *
 * Layout. W is kept transposed in two halves of PTA_HALF_ROWS neurons:
 *   wt[(h * 784 + k) * PTA_LANES + l] = W[h * PTA_HALF_ROWS + l][k]
 * for half h = 0, 1, pixel k, lane l < PTA_HALF_ROWS; lanes 5..7 are zero.
 * One pixel's weights of a half are then one short vector, and both W x and
 * the update become loops over the non-zero pixels of x only (x_k = 0 adds
 * nothing to either). Rows are independent perceptrons, so the update pass
 * gives each half to its own thread, and each half (25 KB in float32) stays
 * in that core's L1 cache; no thread ever waits for the other.
 */

#define PTA_CAT_(a, b) a##_##b
#define PTA_CAT(a, b) PTA_CAT_(a, b)
#define PTA_FN(name) PTA_CAT(name, SFX)

/* One half's lanes as a GCC vector. The kernels are written as whole-vector
 * arithmetic because the autovectoriser, seeing that only five lanes are
 * read, turns lane loops into scalar code. */
typedef REAL PTA_FN(pta_vec) __attribute__((vector_size(PTA_LANES * sizeof(REAL))));

static inline PTA_FN(pta_vec) PTA_FN(pta_load)(const REAL *p)
{
    PTA_FN(pta_vec) v;
    memcpy(&v, p, sizeof v); /* alias-safe; compiles to one vector load */
    return v;
}

/* The term W_half x_k · x_k of one packed non-zero pixel p (see pta_sparse). */
#define PTA_TERM(half, p) (PTA_FN(pta_load)((half) + ((p) >> 8)) * lut[(p)&255])

/* W_half x_i. Four partial sums break the add latency chain. */
static PTA_FN(pta_vec) PTA_FN(pta_dot_half)(const REAL *restrict half, const pta_sparse *sp, const REAL *restrict lut,
                                            size_t i)
{
    PTA_FN(pta_vec) a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    const uint32_t *restrict px = sp->packed + sp->start[i];
    size_t nnz = sp->start[i + 1] - sp->start[i], t = 0;
    for (; t + 4 <= nnz; t += 4) {
        a0 += PTA_TERM(half, px[t]);
        a1 += PTA_TERM(half, px[t + 1]);
        a2 += PTA_TERM(half, px[t + 2]);
        a3 += PTA_TERM(half, px[t + 3]);
    }
    for (; t < nnz; t++) a0 += PTA_TERM(half, px[t]);
    return (a0 + a1) + (a2 + a3);
}

/* W_0 x_i and W_1 x_i in one walk over the non-zero pixels (the count pass
 * needs all ten neurons). */
static void PTA_FN(pta_dot_both)(const REAL *restrict wt, const pta_sparse *sp, const REAL *restrict lut, size_t i,
                                 PTA_FN(pta_vec) *lo, PTA_FN(pta_vec) *hi)
{
    const REAL *restrict upper = wt + (size_t)DN_IMAGE_PIXELS * PTA_LANES;
    PTA_FN(pta_vec) a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
    const uint32_t *restrict px = sp->packed + sp->start[i];
    size_t nnz = sp->start[i + 1] - sp->start[i], t = 0;
    for (; t + 2 <= nnz; t += 2) {
        a0 += PTA_TERM(wt, px[t]);
        b0 += PTA_TERM(upper, px[t]);
        a1 += PTA_TERM(wt, px[t + 1]);
        b1 += PTA_TERM(upper, px[t + 1]);
    }
    for (; t < nnz; t++) {
        a0 += PTA_TERM(wt, px[t]);
        b0 += PTA_TERM(upper, px[t]);
    }
    *lo = a0 + a1;
    *hi = b0 + b1;
}

/* w[0..7] += s·x: a product then a sum, each rounded, as the reference does
 * (C11 mode compiles without FMA contraction). memcpy keeps it alias-safe and
 * compiles to plain vector loads and stores. */
static inline void PTA_FN(pta_axpy)(REAL *restrict w, PTA_FN(pta_vec) s, REAL x)
{
    PTA_FN(pta_vec) v;
    memcpy(&v, w, sizeof v);
    v += s * x;
    memcpy(w, &v, sizeof v);
}

/* Count pass: misclassifications of samples [0, n) with the current W;
 * argmax over the ten neurons, the lowest index winning ties. */
static size_t PTA_FN(pta_count)(const REAL *wt, const pta_sparse *sp, const uint8_t *labels, size_t n,
                                const REAL *lut, int threads)
{
    size_t errors = 0;
    long long count = (long long)n;
#pragma omp parallel for num_threads(threads) reduction(+ : errors) schedule(static)
    for (long long i = 0; i < count; i++) {
        PTA_FN(pta_vec) lo, hi;
        REAL v[DN_CLASSES];
        PTA_FN(pta_dot_both)(wt, sp, lut, (size_t)i, &lo, &hi);
        for (int j = 0; j < PTA_HALF_ROWS; j++) v[j] = lo[j], v[PTA_HALF_ROWS + j] = hi[j];
        int best = 0;
        for (int j = 1; j < DN_CLASSES; j++)
            if (v[j] > v[best]) best = j;
        errors += best != labels[i];
    }
    return errors;
}

/* avg_acc += (step − 1)·Δ for the update Δ = scale xᵀ just applied to a half. */
static void PTA_FN(pta_average_step)(double *restrict avg_half, const uint32_t *px, size_t nnz, const REAL *scale,
                                     const REAL *lut, uint64_t step)
{
    pta_vec_f64 weighted;
    for (int l = 0; l < PTA_LANES; l++) weighted[l] = (double)(step - 1) * (double)scale[l];
    for (size_t t = 0; t < nnz; t++) pta_axpy_f64(avg_half + (px[t] >> 8), weighted, (double)lut[px[t] & 255]);
}

/* Update pass of one half (rows first_row .. first_row + 4): for i = 0..n-1
 * in order, W_r ← W_r + η (d_r(x_i) − u(W_r x_i)) x_i for each of its rows.
 * Returns the number of steps taken (n). When avg_half is not NULL it also
 * accumulates Σ (step − 1)·ΔW (see pta.c); steps count from first_step. */
static void PTA_FN(pta_update_half)(REAL *restrict half, double *restrict avg_half, uint64_t first_step,
                                    const pta_sparse *sp, const uint8_t *labels, size_t n, const REAL *restrict lut,
                                    REAL eta, int first_row)
{
    for (size_t i = 0; i < n; i++) {
        REAL scale[PTA_LANES] = {0};
        PTA_FN(pta_vec) v = PTA_FN(pta_dot_half)(half, sp, lut, i);
        int changed = 0;
        for (int l = 0; l < PTA_HALF_ROWS; l++) {
            REAL d = (first_row + l == labels[i]) ? 1 : 0, u = v[l] > 0 ? 1 : 0;
            scale[l] = eta * (d - u);
            changed |= d != u;
        }
        if (!changed) continue; /* u(W x) = d(x) on these rows: the rule adds nothing */
        const uint32_t *px = sp->packed + sp->start[i];
        size_t nnz = sp->start[i + 1] - sp->start[i];
        PTA_FN(pta_vec) scale_v;
        memcpy(&scale_v, scale, sizeof scale_v);
        for (size_t t = 0; t < nnz; t++) PTA_FN(pta_axpy)(half + (px[t] >> 8), scale_v, lut[px[t] & 255]);
        if (avg_half) PTA_FN(pta_average_step)(avg_half, px, nnz, scale, lut, first_step + i + 1);
    }
}

/* The whole update pass: the two halves run side by side when two threads
 * are allowed, one after the other otherwise — the result is the same. */
static void PTA_FN(pta_update)(REAL *wt, double *avg_acc, uint64_t *steps, const pta_sparse *sp,
                               const uint8_t *labels, size_t n, const REAL *lut, REAL eta, int threads)
{
    const size_t half_size = (size_t)DN_IMAGE_PIXELS * PTA_LANES;
#pragma omp parallel for num_threads(threads < 2 ? 1 : 2) schedule(static, 1)
    for (int h = 0; h < 2; h++)
        PTA_FN(pta_update_half)(wt + h * half_size, avg_acc ? avg_acc + h * half_size : NULL, *steps, sp, labels, n,
                                lut, eta, h * PTA_HALF_ROWS);
    *steps += n;
}

#undef PTA_TERM
#undef PTA_FN
#undef PTA_CAT
#undef PTA_CAT_
