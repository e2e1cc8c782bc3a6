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
 * (x_k = 0 adds nothing to either). Row PTA_PAD_ROW, after the 784 pixels,
 * stays zero: the padding entries of the index (pta.c) point at it. W
 * (50 KB in float32) stays in the L1 or L2 cache of the core that updates
 * it. The count pass and the update pass of an epoch start from the same W,
 * so they run on different cores at the same time (pta_epoch).
 *
 * Exactness. W x is summed in four partial sums, term t of an image into
 * sum t mod 4, the last nnz mod 4 terms into sum 0, then (s0 + s1) + (s2 +
 * s3): the order every earlier version used, so W's trajectory is the same
 * bit for bit. The index lays the terms out so that one loop of four-term
 * groups follows that order with no tail loop (pta.c, pta_group).
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
typedef PTA_INT PTA_FN(pta_ihead) __attribute__((vector_size(PTA_HEAD * sizeof(REAL))));
#if PTA_TAIL
typedef PTA_INT PTA_FN(pta_itail) __attribute__((vector_size(PTA_TAIL * sizeof(REAL))));
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

/* Term j (0..3) of a group: pixel offset and value unpacked from the
 * group's two loads (pta_group_offset, pta_group_value). */
#define PTA_TERM(acc, wt, off, val, j) \
    PTA_FN(pta_add_term)(&(acc), (wt) + pta_group_offset(off, j), lut[pta_group_value(val, j)])

/* W x_i, all ten neurons in one walk over the groups of image i. The four
 * partial sums break the add latency chain; a padding term adds +0 (the
 * zero row times 0), which leaves every sum as it was but for the sign of
 * a zero sum, which no comparison made with W x can see. Inlined into both
 * passes (the update pass then overlaps its decision with the next walk:
 * 4% faster measured). */
static inline __attribute__((always_inline)) PTA_FN(pta_vec)
    PTA_FN(pta_dot)(const REAL *restrict wt, const pta_sparse *sp, const REAL *restrict lut, size_t i)
{
    PTA_FN(pta_vec) a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (const pta_group *g = sp->groups + sp->start[i], *end = sp->groups + sp->start[i + 1]; g < end; g++) {
        uint64_t off = pta_group_offsets(g);
        uint32_t val = pta_group_values(g);
        PTA_TERM(a0, wt, off, val, 0);
        PTA_TERM(a1, wt, off, val, 1);
        PTA_TERM(a2, wt, off, val, 2);
        PTA_TERM(a3, wt, off, val, 3);
    }
    return PTA_FN(pta_sum)(PTA_FN(pta_sum)(a0, a1), PTA_FN(pta_sum)(a2, a3));
}

/* The neuron with the largest output, the lowest index winning ties: the
 * comparisons of a plain scan (`if (v[j] > v[best]) best = j`, NaN
 * included), written as selects because the winner is data the branch
 * predictor cannot guess. */
static int PTA_FN(pta_argmax)(const PTA_FN(pta_vec) *v)
{
    int best = 0;
    REAL top = PTA_FN(pta_lane)(v, 0);
    for (int j = 1; j < DN_CLASSES; j++) {
        REAL value = PTA_FN(pta_lane)(v, j);
        int above = value > top;
        best = above ? j : best;
        top = above ? value : top;
    }
    return best;
}

/* Misclassifications of samples [lo, hi) with W = wt. */
static size_t PTA_FN(pta_count_range)(const REAL *wt, const pta_sparse *sp, const uint8_t *labels, size_t lo,
                                      size_t hi, const REAL *lut)
{
    size_t errors = 0;
    for (size_t i = lo; i < hi; i++) {
        PTA_FN(pta_vec) v = PTA_FN(pta_dot)(wt, sp, lut, i);
        errors += PTA_FN(pta_argmax)(&v) != labels[i];
    }
    return errors;
}

/* The count pass over samples [0, n) in chunks of PTA_COUNT_CHUNK that the
 * threads of the enclosing parallel region take as they come free
 * (dynamic schedule): a thread that arrives late, as the updating one does
 * in pta_epoch, takes only what is left. Returns this thread's share. */
static size_t PTA_FN(pta_count_shared)(const REAL *wt, const pta_sparse *sp, const uint8_t *labels, size_t n,
                                       const REAL *lut)
{
    size_t errors = 0;
    long chunks = (long)((n + PTA_COUNT_CHUNK - 1) / PTA_COUNT_CHUNK);
#pragma omp for schedule(dynamic, 1) nowait
    for (long c = 0; c < chunks; c++) {
        size_t lo = (size_t)c * PTA_COUNT_CHUNK, hi = lo + PTA_COUNT_CHUNK < n ? lo + PTA_COUNT_CHUNK : n;
        errors += PTA_FN(pta_count_range)(wt, sp, labels, lo, hi, lut);
    }
    return errors;
}

/* Count pass alone (dn_pta_count_errors): samples shared by the threads. */
static size_t PTA_FN(pta_count)(const REAL *wt, const pta_sparse *sp, const uint8_t *labels, size_t n,
                                const REAL *lut, int threads)
{
    size_t errors = 0;
#ifndef _OPENMP
    (void)threads; /* one thread without OpenMP */
#endif
#pragma omp parallel num_threads(threads) reduction(+ : errors)
    errors += PTA_FN(pta_count_shared)(wt, sp, labels, n, lut);
    return errors;
}

/* TERM(offset, value) for each pixel of image i: all four slots of a
 * whole group, slot 0 of a remainder group. The padding is skipped, not
 * updated: the zero row would stop being zero once a scale is not finite
 * (η = inf in float32 makes it NaN), and the dot products read it. */
#define PTA_FOR_PIXELS(sp, i, TERM)                                                                      \
    for (const pta_group *g_ = (sp)->groups + (sp)->start[i], *end_ = (sp)->groups + (sp)->start[(i) + 1]; \
         g_ < end_; g_++) {                                                                              \
        uint64_t off_ = pta_group_offsets(g_);                                                           \
        uint32_t val_ = pta_group_values(g_);                                                            \
        TERM(pta_group_offset(off_, 0), pta_group_value(val_, 0));                                       \
        if (pta_group_offset(off_, 1) == PTA_PAD_OFFSET) continue; /* a remainder group */               \
        TERM(pta_group_offset(off_, 1), pta_group_value(val_, 1));                                       \
        TERM(pta_group_offset(off_, 2), pta_group_value(val_, 2));                                       \
        TERM(pta_group_offset(off_, 3), pta_group_value(val_, 3));                                       \
    }

/* avg_acc += (step − 1)·Δ for the update Δ = scale xᵀ just applied to W. */
static void PTA_FN(pta_average_step)(double *restrict avg_acc, const pta_sparse *sp, size_t i, const REAL *scale,
                                     const REAL *lut, uint64_t step)
{
    double weighted[PTA_LANES] = {0};
    for (int l = 0; l < DN_CLASSES; l++) weighted[l] = (double)(step - 1) * (double)scale[l];
    pta_vec_f64 w;
    memcpy(&w.head, weighted, sizeof w.head);
    memcpy(&w.tail, weighted + PTA_HEAD_F64, sizeof w.tail);
#define PTA_AVG_TERM(offset, value) pta_axpy_f64(avg_acc + (offset), &w, (double)lut[value])
    PTA_FOR_PIXELS(sp, i, PTA_AVG_TERM)
#undef PTA_AVG_TERM
}

/* The rule's scale for one part (head or tail) of the lanes, FIRST the
 * part's first lane: scale = η (d − u) with d = 1 on the label's lane and
 * u = 1 where W x > 0, both 0 elsewhere, forced to 0 in the padding lanes
 * (η (0 − 0) is NaN for η = inf); *wrong |= some neuron's u ≠ d. Vector
 * comparisons give −1 for true: negated and converted, exactly 1 or 0, so
 * the lanes hold what the scalar loop this replaced computed. */
#define PTA_SCALE_PART(ITYPE, VTYPE, LANES, FIRST, v, label, eta, scale, wrong) \
    do {                                                                         \
        ITYPE lane_;                                                             \
        for (int l_ = 0; l_ < (LANES); l_++) lane_[l_] = (FIRST) + l_;           \
        ITYPE neuron_ = lane_ < DN_CLASSES, target_ = lane_ == (label), fires_ = (v) > 0; \
        VTYPE d_ = __builtin_convertvector(-target_, VTYPE);                     \
        VTYPE u_ = __builtin_convertvector(-fires_, VTYPE);                      \
        VTYPE s_ = (eta) * (d_ - u_);                                            \
        (scale) = (VTYPE)((ITYPE)s_ & neuron_);                                  \
        ITYPE miss_ = (target_ ^ fires_) & neuron_;                              \
        *(wrong) |= pta_any_bit(&miss_, sizeof miss_);                           \
    } while (0)

/* Sample's scale vector (PTA_SCALE_PART); returns whether W changes. */
static inline int PTA_FN(pta_step_scale)(const PTA_FN(pta_vec) *v, int label, REAL eta, PTA_FN(pta_vec) *scale)
{
    int wrong = 0;
    PTA_SCALE_PART(PTA_FN(pta_ihead), PTA_FN(pta_head), PTA_HEAD, 0, v->head, label, eta, scale->head, &wrong);
#if PTA_TAIL
    PTA_SCALE_PART(PTA_FN(pta_itail), PTA_FN(pta_tail), PTA_TAIL, PTA_HEAD, v->tail, label, eta, scale->tail, &wrong);
#endif
    return wrong;
}

/* Update pass: for i = 0..n-1 in order, W ← W + η (d(x_i) − u(W x_i)) x_iᵀ.
 * When avg_acc is not NULL it also accumulates Σ (step − 1)·ΔW (see
 * pta.c); steps count from first_step. */
static void PTA_FN(pta_update)(REAL *restrict wt, double *restrict avg_acc, uint64_t first_step, const pta_sparse *sp,
                               const uint8_t *labels, size_t n, const REAL *restrict lut, REAL eta)
{
    for (size_t i = 0; i < n; i++) {
        PTA_FN(pta_vec) v = PTA_FN(pta_dot)(wt, sp, lut, i), scale_v;
        if (!PTA_FN(pta_step_scale)(&v, labels[i], eta, &scale_v))
            continue; /* u(W x) = d(x) on every row: the rule adds nothing */
#define PTA_UPDATE_TERM(offset, value) PTA_FN(pta_axpy)(wt + (offset), &scale_v, lut[value])
        PTA_FOR_PIXELS(sp, i, PTA_UPDATE_TERM)
#undef PTA_UPDATE_TERM
        if (avg_acc) {
            REAL scale[PTA_LANES] = {0};
            memcpy(scale, &scale_v.head, sizeof scale_v.head);
#if PTA_TAIL
            memcpy(scale + PTA_HEAD, &scale_v.tail, sizeof scale_v.tail);
#endif
            PTA_FN(pta_average_step)(avg_acc, sp, i, scale, lut, first_step + i + 1);
        }
    }
}

/* One epoch: the count pass with the W the epoch starts from, then the
 * update pass. Both start from the same W, so with two or more threads they
 * run side by side: thread 0 updates W while the others count with a copy
 * of it (snapshot) — the same counts and the same W as one after the other.
 * Thread 0 joins the count when its update is done, so that no core idles
 * while there is counting left (pta_count_shared). */
static size_t PTA_FN(pta_epoch)(REAL *wt, REAL *snapshot, double *avg_acc, uint64_t *steps, const pta_sparse *sp,
                                const uint8_t *labels, size_t n, const REAL *lut, REAL eta, int threads)
{
    size_t errors = 0;
    if (threads < 2) {
        errors = PTA_FN(pta_count_range)(wt, sp, labels, 0, n, lut);
        PTA_FN(pta_update)(wt, avg_acc, *steps, sp, labels, n, lut, eta);
    } else {
        memcpy(snapshot, wt, PTA_STATE_VALUES * sizeof *wt);
#pragma omp parallel num_threads(threads) reduction(+ : errors)
        {
#ifdef _OPENMP
            if (omp_get_thread_num() == 0)
#endif
                PTA_FN(pta_update)(wt, avg_acc, *steps, sp, labels, n, lut, eta);
            errors += PTA_FN(pta_count_shared)(snapshot, sp, labels, n, lut);
        }
    }
    *steps += n;
    return errors;
}

#undef PTA_FOR_PIXELS
#undef PTA_SCALE_PART
#undef PTA_TERM
#undef PTA_FN
#undef PTA_CAT
#undef PTA_CAT_
