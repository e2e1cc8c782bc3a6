/*
 * pta_kernel.h — the two passes of a PTA epoch, written once for both
 * precisions: included by pta.c with REAL (float or double) and SFX
 * (f32 or f64) defined.
 *
 * Layout. W is kept transposed:
 *   wt[k * PTA_LANES + l] = W[l][k]
 * for pixel k and neuron l < 10; lanes 10..15 are zero. One pixel's weights
 * are then one vector (64 bytes in float32, an AVX-512 register), and both
 * W x and the update become loops over the non-zero pixels of x only
 * (x_k = 0 adds nothing to either). W (50 KB in float32) stays in the L1 or
 * L2 cache of the core that updates it. The count pass and the update pass
 * of an epoch start from the same W, so they run on different cores at the
 * same time (pta_epoch).
 */

#define PTA_CAT_(a, b) a##_##b
#define PTA_CAT(a, b) PTA_CAT_(a, b)
#define PTA_FN(name) PTA_CAT(name, SFX)

/* The ten neurons' values at one pixel as GCC vectors: a head of PTA_HEAD
 * lanes and, when PTA_TAIL is not 0, a tail of PTA_TAIL more (float32: one
 * 16-lane head; float64: 8 + 2 lanes, so that no work is spent on padding
 * a whole second 64-byte vector would hold). The kernels are written as
 * whole-vector arithmetic because the autovectoriser, seeing that only ten
 * lanes are read, turns lane loops into scalar code. */
typedef REAL PTA_FN(pta_head) __attribute__((vector_size(PTA_HEAD * sizeof(REAL))));
#if PTA_TAIL
typedef REAL PTA_FN(pta_tail) __attribute__((vector_size(PTA_TAIL * sizeof(REAL))));
#endif
typedef struct PTA_FN(pta_vec) {
    PTA_FN(pta_head) head;
#if PTA_TAIL
    PTA_FN(pta_tail) tail;
#endif
} PTA_FN(pta_vec);

/* acc += w x for the neurons' weights w at one pixel, lane by lane: a
 * product then a sum, each rounded, as the reference does (C11 mode
 * compiles without FMA contraction). memcpy keeps it alias-safe and
 * compiles to plain vector loads. */
static inline void PTA_FN(pta_add_term)(PTA_FN(pta_vec) *acc, const REAL *w, REAL x)
{
    PTA_FN(pta_head) h;
    memcpy(&h, w, sizeof h);
    acc->head += h * x;
#if PTA_TAIL
    PTA_FN(pta_tail) t;
    memcpy(&t, w + PTA_HEAD, sizeof t);
    acc->tail += t * x;
#endif
}

static inline PTA_FN(pta_vec) PTA_FN(pta_sum)(PTA_FN(pta_vec) a, PTA_FN(pta_vec) b)
{
    a.head += b.head;
#if PTA_TAIL
    a.tail += b.tail;
#endif
    return a;
}

static inline REAL PTA_FN(pta_lane)(const PTA_FN(pta_vec) *v, int l)
{
#if PTA_TAIL
    if (l >= PTA_HEAD) return v->tail[l - PTA_HEAD];
#endif
    return v->head[l];
}

/* w += s x: the update of one pixel's weights, s holding η (d − u) per neuron. */
static inline void PTA_FN(pta_axpy)(REAL *restrict w, const PTA_FN(pta_vec) *s, REAL x)
{
    PTA_FN(pta_vec) v;
    memcpy(&v.head, w, sizeof v.head);
    v.head += s->head * x;
    memcpy(w, &v.head, sizeof v.head);
#if PTA_TAIL
    memcpy(&v.tail, w + PTA_HEAD, sizeof v.tail);
    v.tail += s->tail * x;
    memcpy(w + PTA_HEAD, &v.tail, sizeof v.tail);
#endif
}

/* The packed non-zero pixel p (see pta_sparse) added into acc. */
#define PTA_TERM(acc, wt, p) PTA_FN(pta_add_term)(&(acc), (wt) + ((p) >> 8), lut[(p)&255])

/* W x_i, all ten neurons in one walk over the non-zero pixels. Four partial
 * sums break the add latency chain. */
static PTA_FN(pta_vec) PTA_FN(pta_dot)(const REAL *restrict wt, const pta_sparse *sp, const REAL *restrict lut, size_t i)
{
    PTA_FN(pta_vec) a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    const uint32_t *restrict px = sp->packed + sp->start[i];
    size_t nnz = sp->start[i + 1] - sp->start[i], t = 0;
    for (; t + 4 <= nnz; t += 4) {
        PTA_TERM(a0, wt, px[t]);
        PTA_TERM(a1, wt, px[t + 1]);
        PTA_TERM(a2, wt, px[t + 2]);
        PTA_TERM(a3, wt, px[t + 3]);
    }
    for (; t < nnz; t++) PTA_TERM(a0, wt, px[t]);
    return PTA_FN(pta_sum)(PTA_FN(pta_sum)(a0, a1), PTA_FN(pta_sum)(a2, a3));
}

/* Misclassifications of samples [lo, hi) with W = wt: argmax over the ten
 * neurons, the lowest index winning ties. */
static size_t PTA_FN(pta_count_range)(const REAL *wt, const pta_sparse *sp, const uint8_t *labels, size_t lo,
                                      size_t hi, const REAL *lut)
{
    size_t errors = 0;
    for (size_t i = lo; i < hi; i++) {
        PTA_FN(pta_vec) v = PTA_FN(pta_dot)(wt, sp, lut, i);
        REAL value[DN_CLASSES];
        for (int j = 0; j < DN_CLASSES; j++) value[j] = PTA_FN(pta_lane)(&v, j);
        int best = 0;
        for (int j = 1; j < DN_CLASSES; j++)
            if (value[j] > value[best]) best = j;
        errors += best != labels[i];
    }
    return errors;
}

/* Count pass alone (dn_pta_count_errors): samples split over the threads. */
static size_t PTA_FN(pta_count)(const REAL *wt, const pta_sparse *sp, const uint8_t *labels, size_t n,
                                const REAL *lut, int threads)
{
    size_t errors = 0;
#ifndef _OPENMP
    (void)threads; /* one thread without OpenMP */
#endif
#pragma omp parallel num_threads(threads) reduction(+ : errors)
    {
        size_t t = 0, T = 1;
#ifdef _OPENMP
        t = (size_t)omp_get_thread_num(), T = (size_t)omp_get_num_threads();
#endif
        errors += PTA_FN(pta_count_range)(wt, sp, labels, n * t / T, n * (t + 1) / T, lut);
    }
    return errors;
}

/* avg_acc += (step − 1)·Δ for the update Δ = scale xᵀ just applied to W. */
static void PTA_FN(pta_average_step)(double *restrict avg_acc, const uint32_t *px, size_t nnz, const REAL *scale,
                                     const REAL *lut, uint64_t step)
{
    double weighted[PTA_LANES] = {0};
    for (int l = 0; l < DN_CLASSES; l++) weighted[l] = (double)(step - 1) * (double)scale[l];
    pta_vec_f64 w;
    memcpy(&w.head, weighted, sizeof w.head);
    memcpy(&w.tail, weighted + PTA_HEAD_F64, sizeof w.tail);
    for (size_t t = 0; t < nnz; t++) pta_axpy_f64(avg_acc + (px[t] >> 8), &w, (double)lut[px[t] & 255]);
}

/* Update pass: for i = 0..n-1 in order, W ← W + η (d(x_i) − u(W x_i)) x_iᵀ.
 * When avg_acc is not NULL it also accumulates Σ (step − 1)·ΔW (see
 * pta.c); steps count from first_step. */
static void PTA_FN(pta_update)(REAL *restrict wt, double *restrict avg_acc, uint64_t first_step, const pta_sparse *sp,
                               const uint8_t *labels, size_t n, const REAL *restrict lut, REAL eta)
{
    for (size_t i = 0; i < n; i++) {
        REAL scale[PTA_LANES] = {0};
        PTA_FN(pta_vec) v = PTA_FN(pta_dot)(wt, sp, lut, i);
        int changed = 0;
        for (int l = 0; l < DN_CLASSES; l++) {
            REAL d = l == labels[i] ? 1 : 0, u = PTA_FN(pta_lane)(&v, l) > 0 ? 1 : 0;
            scale[l] = eta * (d - u);
            changed |= d != u;
        }
        if (!changed) continue; /* u(W x) = d(x) on every row: the rule adds nothing */
        const uint32_t *px = sp->packed + sp->start[i];
        size_t nnz = sp->start[i + 1] - sp->start[i];
        PTA_FN(pta_vec) scale_v;
        memcpy(&scale_v.head, scale, sizeof scale_v.head);
#if PTA_TAIL
        memcpy(&scale_v.tail, scale + PTA_HEAD, sizeof scale_v.tail);
#endif
        for (size_t t = 0; t < nnz; t++) PTA_FN(pta_axpy)(wt + (px[t] >> 8), &scale_v, lut[px[t] & 255]);
        if (avg_acc) PTA_FN(pta_average_step)(avg_acc, px, nnz, scale, lut, first_step + i + 1);
    }
}

/* One epoch: the count pass with the W the epoch starts from, then the
 * update pass. Both start from the same W, so with two or more threads they
 * run side by side: thread 0 updates W while the others count with a copy
 * of it (snapshot) — the same counts and the same W as one after the other. */
static size_t PTA_FN(pta_epoch)(REAL *wt, REAL *snapshot, double *avg_acc, uint64_t *steps, const pta_sparse *sp,
                                const uint8_t *labels, size_t n, const REAL *lut, REAL eta, int threads)
{
    size_t errors = 0;
    if (threads < 2) {
        errors = PTA_FN(pta_count_range)(wt, sp, labels, 0, n, lut);
        PTA_FN(pta_update)(wt, avg_acc, *steps, sp, labels, n, lut, eta);
    } else {
        memcpy(snapshot, wt, PTA_STATE_VALUES * sizeof *wt);
        int counted = 0;
#pragma omp parallel num_threads(threads) reduction(+ : errors, counted)
        {
            size_t t = 0, T = 1;
#ifdef _OPENMP
            t = (size_t)omp_get_thread_num(), T = (size_t)omp_get_num_threads();
#endif
            if (t == 0) PTA_FN(pta_update)(wt, avg_acc, *steps, sp, labels, n, lut, eta);
            else errors += PTA_FN(pta_count_range)(snapshot, sp, labels, n * (t - 1) / (T - 1), n * t / (T - 1), lut);
            counted += t > 0;
        }
        if (!counted) errors = PTA_FN(pta_count_range)(snapshot, sp, labels, 0, n, lut); /* OpenMP gave one thread */
    }
    *steps += n;
    return errors;
}

#undef PTA_TERM
#undef PTA_FN
#undef PTA_CAT
#undef PTA_CAT_
