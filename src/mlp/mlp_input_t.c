/*
 * mlp_input_t.c — layer 0 of the threaded SGD step on W_0ᵀ (mlp_train.c,
 * "Layer 0 on W_0ᵀ"): its weight gradient and its optimiser step fused, one
 * pixel at a time, from the samples that have ink there.
 *
 * Why. On the BLAS step layer 0's gradient dW_0 = dzᵀ x is a product over
 * the batch's used pixels (~486 of 784 at B = 64), written to a buffer that
 * the optimiser then reads row by row with W_0 and its velocity (1.9 MB for
 * 784-300, beyond a core's L2): measured at B = 64, two threads, ~55 µs of
 * product and ~75 µs of update a step. But x is 80 % zeros even on the used
 * pixels (~150 ink pixels an image): Σ_b x[b][k] dz[b] for pixel k has ~20
 * terms at B = 64, not 64. Kept transposed, W_0ᵀ[k] (the pixel's weights to
 * every unit) is contiguous, so the step computes that sum in registers,
 * steps the row and its velocity while they are in cache, and copies the
 * row to the next batch's compact W_0ᵀ when the next batch uses the pixel:
 * no gradient buffer, no gather of W_0.
 *
 * Lazy rows. A pixel no sample of this batch or the next uses (~40 % of
 * them on MNIST at B = 64) has gradient 0, and its row is read by nobody
 * before a later batch uses it: the step leaves it, and done[k] counts the
 * steps row k has had. When a batch uses it again (or the epoch ends, or a
 * batch callback may read the parameters: dn_input_t_sync_) the missed
 * steps are applied then, one by one with gradient 0 and each step's own
 * rate (it->lr) — the very operations, in the same order, that the steps
 * would have made, with the row in registers instead of a trip through
 * memory each step. The step is memory-bound (W_0ᵀ and its velocity, 1.9
 * MB), so skipping the rows nobody reads is skipping most of its cost.
 *
 * Layout. The units are cut into it->parts parts of whole 16-float vectors
 * (one 64-byte vector; the epoch's thread count of them): part s holds
 * units [u0, u1) of every pixel as one block (784, width) at it->w +
 * it->base[s], width = u1 − u0 rounded up to 16, the padding lanes zero. A
 * thread steps whole parts (dn_input_t_slice_), each one contiguous stream
 * of memory: with one (784, n_1) array the threads' halves of every row
 * interleaved, and the step took ~1.4× as long (measured, two threads).
 * it->v is the velocity of SGD with momentum, in the same layout. S is n_1
 * rounded up to 16, the row length of the buffers below. it->used[0] holds the
 * rows of w at the batch's used pixels (nused, S), the B matrix of the
 * forward product; it->used[1] the next batch's. it->pix[0] holds the
 * batch's bytes at its used pixels transposed, (nused, Bp) with Bp = B
 * rounded up to 64 (padding 0): one 64-byte load gives which of 64 samples
 * have ink at a pixel; it->xt[0] the same values as floats (x = byte /
 * 255), the forward product's A matrix (xᵀ, read transposed), made from
 * pix while its rows are in cache: the batch's rows are not converted
 * again for layer 0. it->dz is layer 0's dz, part by part: part s's
 * units a block (rows, width) of their own, the padding lanes 0.
 *
 * Sums. Σ_b runs over the samples in order, with FMAs where AVX-512 has
 * them (fma16): not BLAS's order, so the trajectory differs from the BLAS
 * step to rounding (test_mlp_step states the tolerance). Each unit's sum
 * is the same whichever thread computes it: layer 0 does not depend on how
 * the threads cut the units. The step itself is sgd_segment's formula
 * (mlp_optim.c), lane by lane.
 */
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__) || defined(__AVX512BW__)
#include <immintrin.h>
#endif

#include "mlp_internal.h"
#include "mlp_vec.h"

/* g + a r, rounded once where AVX-512 has the instruction. Explicit: this
 * file is compiled without contraction, because the step's arithmetic must
 * be the same operations wherever it is inlined — contracted, the compiler
 * chose which product to fuse by context, and a row caught up later
 * (catch_up) differed in the last bit from one stepped at once. */
static inline vec16 fma16(vec16 a, vec16 r, vec16 g)
{
#ifdef __AVX512F__
    return (vec16)_mm512_fmadd_ps((__m512)a, (__m512)r, (__m512)g);
#else
    return g + a * r;
#endif
}

#define LANES 16
#define CHUNK 16 /* vectors of a row summed in registers at once (of 32 with AVX-512) */
#define CHUNK_CASES(CASE) \
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) \
    CASE(14) CASE(15) CASE(16)

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* One SGD step of one vector of a row: sgd_segment's formula (mlp_optim.c)
 * lane by lane; vel unused without momentum. */
static inline __attribute__((always_inline)) void sgd16(vec16 *p, vec16 *vel, vec16 g, float lr,
                                                       const dn_mlp_step *st, int momentum)
{
    const vec16 step = g + st->weight_decay * *p;
    if (!momentum) {
        *p -= lr * step;
        return;
    }
    *vel = st->momentum * *vel + step;
    *p -= st->nesterov ? lr * (step + st->momentum * *vel) : lr * *vel;
}

/* The steps [from, to) a row missed (lazy, see dn_input_t_step_) on NV
 * vectors at w (and v): gradient 0, each step's own rate. */
static inline __attribute__((always_inline)) void catch_up(float *w, float *v, const float *lr, uint32_t from,
                                                          uint32_t to, const dn_mlp_step *st, const int NV)
{
    const vec16 zero = {0};
    for (int q = 0; q < NV; q++) {
        vec16 p = load16(w + LANES * q), vel = v ? load16(v + LANES * q) : zero;
        for (uint32_t i = from; i < to; i++) sgd16(&p, &vel, zero, lr[i], st, v != NULL);
        store16(w + LANES * q, p);
        if (v) store16(v + LANES * q, vel);
    }
}

static size_t pixel_row(size_t B) { return dn_input_t_pixel_row_(B); }

int dn_input_t_applies_(const dn_mlp *mlp)
{
    const dn_mlp_options *o = &mlp->opt;
    return o->matmul == DN_MATMUL_BLAS && o->optimizer == DN_OPTIMIZER_SGD && !(mlp->prox_anchor && mlp->prox_mu > 0) &&
           !(o->max_norm > 0) && !(o->ema > 0) && !mlp->ema_live && !(o->dropout_input > 0);
}

/* Part s's units [u0, u1) of n1 cut in `parts` parts of whole vectors, the
 * first ones rounded down: 784-300-100-10 on two threads, 144 + 156 units
 * were 4 % faster an epoch than 160 + 140, and 128 + 172 3.6 % slower
 * (seven alternated pairs each); in the replicated step (mlp_train.c,
 * "Replicas") thread 0 plans the next batch, and the smaller part stays its
 * (160 + 140 there: ~3 % slower an epoch, four alternated pairs). */
static void part_units(size_t n1, int parts, int s, size_t *u0, size_t *u1)
{
    const size_t vectors = round_up(n1, LANES) / LANES;
    *u0 = vectors * (size_t)s / (size_t)parts * LANES; /* thread 0, which also runs the last layer, the smaller */
    *u1 = vectors * (size_t)(s + 1) / (size_t)parts * LANES;
    if (*u1 > n1) *u1 = n1;
    if (*u0 > *u1) *u0 = *u1;
}

/* Thread t of T steps parts [s0, s1): all of them between the threads. */
static void thread_parts(const dn_input_t *it, int T, int t, int *s0, int *s1)
{
    *s0 = it->parts * t / T;
    *s1 = it->parts * (t + 1) / T;
}

void dn_input_t_slice_(const dn_mlp *mlp, int T, int t, size_t *a0, size_t *a1)
{
    const dn_input_t *it = &mlp->input_t;
    int s0, s1;
    thread_parts(it, T, t, &s0, &s1);
    size_t end;
    part_units(mlp->width[1], it->parts, s0, a0, &end);
    if (s1 <= s0) *a1 = *a0;
    else part_units(mlp->width[1], it->parts, s1 - 1, &end, a1);
}

void dn_input_t_free_(dn_input_t *it)
{
    free(it->w);
    free(it->v);
    free(it->used[0]);
    free(it->used[1]);
    for (int c = 0; c < it->copies; c++)
        for (int i = 0; i < 2; i++) free(it->pix[c][i]), free(it->xt[c][i]);
    free(it->dz);
    free(it->done);
    free(it->lr);
    memset(it, 0, sizeof *it);
}

/* Where W_0ᵀ[k][o] lives in the parts' layout: part s's block, row k. */
typedef struct part_view {
    size_t u0, u1, width; /* its units, and its rows' length */
    size_t base;          /* its block's offset in w (and v) */
} part_view;

static part_view part_of(const dn_input_t *it, size_t n1, int s)
{
    part_view p;
    part_units(n1, it->parts, s, &p.u0, &p.u1);
    p.width = round_up(p.u1 - p.u0, LANES);
    p.base = it->base[s];
    return p;
}

/* dst (parts' layout) = src (n1, 784) transposed, tile by tile, padding
 * lanes 0; src NULL: all 0. Once an epoch. */
static void transpose_in(const dn_input_t *it, float *dst, const float *src, size_t n1)
{
    memset(dst, 0, DN_IMAGE_PIXELS * it->stride * sizeof *dst);
    if (!src) return;
    enum { TILE = 16 };
    for (int s = 0; s < it->parts; s++) {
        const part_view p = part_of(it, n1, s);
        for (size_t o0 = p.u0; o0 < p.u1; o0 += TILE)
            for (size_t k0 = 0; k0 < DN_IMAGE_PIXELS; k0 += TILE)
                for (size_t o = o0; o < o0 + TILE && o < p.u1; o++)
                    for (size_t k = k0; k < k0 + TILE && k < DN_IMAGE_PIXELS; k++)
                        dst[p.base + k * p.width + (o - p.u0)] = src[o * DN_IMAGE_PIXELS + k];
    }
}

/* Copies [it->copies, copies) of the batches' bytes and values, each
 * (784, Bp) for batches of up to it->rows. */
static dn_status add_copies(dn_input_t *it, int copies, dn_error *err)
{
    const size_t Bp = pixel_row(it->rows);
    for (; it->copies < copies; it->copies++) {
        const int c = it->copies;
        for (int i = 0; i < 2; i++) {
            it->pix[c][i] = aligned_alloc(64, DN_IMAGE_PIXELS * Bp);
            it->xt[c][i] = dn_mlp_alloc_floats_(DN_IMAGE_PIXELS * Bp);
        }
        if (!it->pix[c][0] || !it->pix[c][1] || !it->xt[c][0] || !it->xt[c][1]) {
            it->copies++; /* freed with the others */
            return dn_fail(err, DN_ERR_NOMEM, "out of memory for the input layer's copies of the batch");
        }
    }
    return DN_OK;
}

dn_status dn_input_t_begin_(dn_mlp *mlp, const float *w0, const float *v0, size_t rows, int parts, int copies,
                           size_t steps, dn_error *err)
{
    dn_input_t *it = &mlp->input_t;
    const size_t n1 = mlp->width[1], S = round_up(n1, LANES);
    const int momentum = mlp->opt.momentum > 0;
    if (parts < 1) parts = 1;
    if (parts > DN_INPUT_T_MAX_PARTS) parts = DN_INPUT_T_MAX_PARTS;
    if (copies < 1) copies = 1;
    if (copies > parts) copies = parts;
    if (it->stride != S || it->rows < rows || (momentum && !it->v)) {
        dn_input_t_free_(it);
        const size_t rowsz = DN_IMAGE_PIXELS * S;
        it->w = dn_mlp_alloc_floats_(rowsz);
        it->v = momentum ? dn_mlp_alloc_floats_(rowsz) : NULL;
        it->used[0] = dn_mlp_alloc_floats_(rowsz);
        it->used[1] = dn_mlp_alloc_floats_(rowsz);
        it->dz = dn_mlp_alloc_floats_(rows * S);
        it->done = malloc(S / LANES * DN_IMAGE_PIXELS * sizeof *it->done);
        if (!it->w || (momentum && !it->v) || !it->used[0] || !it->used[1] || !it->dz || !it->done) {
            dn_input_t_free_(it);
            return dn_fail(err, DN_ERR_NOMEM, "out of memory for the input layer's transposed weights");
        }
        it->stride = S;
        it->rows = rows;
    }
    if (it->lr_cap < steps) {
        free(it->lr);
        it->lr_cap = 0;
        if (!(it->lr = malloc((steps ? steps : 1) * sizeof *it->lr)))
            return dn_fail(err, DN_ERR_NOMEM, "out of memory for the learning rates of %zu steps", steps);
        it->lr_cap = steps;
    }
    dn_status s = add_copies(it, copies, err);
    if (s) return s;
    memset(it->dz, 0, it->rows * S * sizeof *it->dz); /* the padding lanes stay 0 */
    memset(it->done, 0, S / LANES * DN_IMAGE_PIXELS * sizeof *it->done);
    it->steps = 0;
    it->parts = parts; /* the blocks fill w: Σ width = S, whole vectors each */
    size_t base = 0;
    for (int s = 0; s < parts; s++) {
        size_t u0, u1;
        part_units(n1, parts, s, &u0, &u1);
        it->base[s] = base;
        base += DN_IMAGE_PIXELS * round_up(u1 - u0, LANES);
    }
    transpose_in(it, it->w, w0, n1);
    if (it->v) transpose_in(it, it->v, v0, n1);
    it->live = 1;
    return DN_OK;
}

/* The used pixels of a plan in order: all 784 when it is not compacted. */
typedef struct used_walk {
    const dn_batch_plan *plan;
    size_t run, left, j; /* the run being walked, its pixels left, the index of the next used pixel */
    size_t pixel;        /* the next used pixel (DN_IMAGE_PIXELS when none is left) */
} used_walk;

static void walk_start(used_walk *w, const dn_batch_plan *plan)
{
    *w = (used_walk){plan, 0, 0, 0, DN_IMAGE_PIXELS};
    if (!plan) return;
    if (plan->nused == DN_IMAGE_PIXELS) {
        w->pixel = 0, w->left = DN_IMAGE_PIXELS;
    } else if (plan->nruns > 0) {
        w->pixel = plan->run_start[0], w->left = plan->run_len[0];
    }
}

/* After pixel w->pixel: the next used one. */
static void walk_next(used_walk *w)
{
    w->j++;
    if (--w->left > 0) {
        w->pixel++;
    } else if (w->plan->nused != DN_IMAGE_PIXELS && ++w->run < w->plan->nruns) {
        w->pixel = w->plan->run_start[w->run], w->left = w->plan->run_len[w->run];
    } else {
        w->pixel = DN_IMAGE_PIXELS;
    }
}

/* out[p · stride + q] = image[q][k + p] for p, q < 8: eight pixels of
 * eight images, transposed in one 64-byte vector (one byte permutation
 * with AVX-512 VBMI). */
static inline void transpose8x8(uint8_t *out, size_t stride, const uint8_t *const image[8], size_t k)
{
    typedef uint8_t bytes64 __attribute__((vector_size(64)));
    typedef uint64_t words8 __attribute__((vector_size(64)));
    uint64_t w[8];
    for (int q = 0; q < 8; q++) memcpy(&w[q], image[q] + k, 8);
    /* built in registers: eight 8-byte stores then one 64-byte load stalled on store forwarding */
    const words8 rows8 = {w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]};
    bytes64 pick;
    for (int p = 0; p < 8; p++)
        for (int q = 0; q < 8; q++) pick[8 * p + q] = (uint8_t)(8 * q + p);
    const bytes64 t = __builtin_shuffle((bytes64)rows8, pick);
    for (int p = 0; p < 8; p++) memcpy(out + (size_t)p * stride, (const uint8_t *)&t + 8 * p, 8);
}

void dn_input_t_pixels_(dn_mlp *mlp, int copy, int which, const dn_batch_plan *plan, const uint8_t *images,
                        const uint32_t *order, size_t first, size_t B, size_t j0, size_t j1)
{
    dn_input_t *it = &mlp->input_t;
    const size_t Bp = pixel_row(B);
    uint16_t pixel[DN_IMAGE_PIXELS]; /* used pixel j0 + i is image pixel pixel[i] */
    size_t n = 0;
    used_walk w;
    for (walk_start(&w, plan); w.j < j1 && w.pixel < DN_IMAGE_PIXELS; walk_next(&w))
        if (w.j >= j0) pixel[n++] = (uint16_t)w.pixel;
    uint8_t *rows = it->pix[copy][which] + j0 * Bp;
    const uint8_t *image[64];
    for (size_t b0 = 0; b0 < Bp; b0 += 64) { /* 64 samples a block: a row's 64 bytes */
        const size_t nb = B > b0 ? (B - b0 < 64 ? B - b0 : 64) : 0;
        for (size_t b = 0; b < 64; b++) /* past B: a blank image (pixel 0 of any image is read, then zeroed) */
            image[b] = b < nb ? images + (size_t)(order ? order[first + b0 + b] : first + b0 + b) * DN_IMAGE_PIXELS
                              : images;
        /* eight used pixels that are eight neighbours in the image (most
         * of a run of ink) as 8 × 8 blocks, one transposition each; the
         * others pixel by pixel, eight samples a store. The images' lines
         * stay in L1 along a run of pixels, and each row is written whole
         * (measured: a byte store per sample, sample by sample, was ~70 %
         * of this function; byte by byte, eight samples a store, ~4 % of a
         * two-thread step) */
        for (size_t i = 0; i < n;) {
            uint8_t *row = rows + i * Bp + b0;
            if (i + 8 <= n && pixel[i + 7] == pixel[i] + 7) {
                for (size_t b = 0; b < 64; b += 8) transpose8x8(row + b, Bp, image + b, pixel[i]);
                for (size_t p = 0; p < 8 && nb < 64; p++) memset(row + p * Bp + nb, 0, 64 - nb);
                i += 8;
                continue;
            }
            for (size_t b = 0; b < 64; b += 8) {
                uint8_t eight[8];
                for (size_t q = 0; q < 8; q++) eight[q] = image[b + q][pixel[i]];
                memcpy(row + b, eight, sizeof eight);
            }
            if (nb < 64) memset(row + nb, 0, 64 - nb);
            i++;
        }
    }
    /* xᵀ for the forward product, from the rows just written (in cache):
     * one straight loop the compiler vectorises, where the batch's rows
     * cut into runs of used pixels (load_rows) went a float at a time */
    float *xt = it->xt[copy][which] + j0 * Bp;
    for (size_t i = 0; i < (j1 - j0) * Bp; i++) xt[i] = (float)rows[i] / 255.0f;
}

/* Parts [s0, s1)'s rows at plan's used pixels (plan NULL: every pixel)
 * caught up with the steps taken (catch_up). */
static void catch_up_rows(dn_mlp *mlp, const dn_batch_plan *plan, int s0, int s1)
{
    dn_input_t *it = &mlp->input_t;
    const dn_mlp_options *o = &mlp->opt; /* the step's constants, as dn_mlp_step_begin_ takes them */
    dn_mlp_step st = {0};
    st.weight_decay = (float)o->weight_decay, st.momentum = (float)o->momentum, st.nesterov = o->nesterov;
    const dn_batch_plan all = {.nused = DN_IMAGE_PIXELS};
    const uint32_t to = (uint32_t)it->steps;
    for (int s = s0; s < s1; s++) {
        const part_view p = part_of(it, mlp->width[1], s);
        const size_t vectors = p.width / LANES;
        for (size_t c0 = p.u0, first = 0; first < vectors; c0 += CHUNK * LANES, first += CHUNK) {
            const int nv = (int)(vectors - first < CHUNK ? vectors - first : CHUNK);
            const size_t at = p.base + (c0 - p.u0);
            uint32_t *done = it->done + c0 / LANES * DN_IMAGE_PIXELS;
            used_walk w;
            for (walk_start(&w, plan ? plan : &all); w.pixel < DN_IMAGE_PIXELS; walk_next(&w)) {
                const size_t k = w.pixel;
                float *v = it->v && st.momentum > 0 ? it->v + at + k * p.width : NULL;
                catch_up(it->w + at + k * p.width, v, it->lr, done[k], to, &st, nv);
                done[k] = to;
            }
        }
    }
}

void dn_input_t_gather_(dn_mlp *mlp, int which, const dn_batch_plan *plan, int T, int t)
{
    dn_input_t *it = &mlp->input_t;
    const size_t S = it->stride;
    int s0, s1;
    thread_parts(it, T, t, &s0, &s1);
    catch_up_rows(mlp, plan, s0, s1); /* rows the steps since the pixel's last use left as they were */
    for (int s = s0; s < s1; s++) {
        const part_view p = part_of(it, mlp->width[1], s);
        used_walk w;
        for (walk_start(&w, plan); w.pixel < DN_IMAGE_PIXELS; walk_next(&w))
            memcpy(it->used[which] + w.j * S + p.u0, it->w + p.base + w.pixel * p.width, p.width * sizeof(float));
    }
}

/* Part p's block of dz: (rows, p.width), its own cache lines. */
static float *dz_block(const dn_input_t *it, const part_view *p)
{
    return it->dz + it->rows * (p->base / DN_IMAGE_PIXELS);
}

void dn_input_t_dz_(dn_mlp *mlp, const float *dz, size_t B, int T, int t)
{
    dn_input_t *it = &mlp->input_t;
    const size_t n1 = mlp->width[1];
    int s0, s1;
    thread_parts(it, T, t, &s0, &s1);
    for (int s = s0; s < s1; s++) {
        const part_view p = part_of(it, n1, s);
        float *block = dz_block(it, &p);
        for (size_t b = 0; b < B; b++) memcpy(block + b * p.width, dz + b * n1 + p.u0, (p.u1 - p.u0) * sizeof(float));
    }
}

/* Bit b of the result: row[b] ≠ 0, for the 64 bytes at row (64-aligned). */
static uint64_t ink_mask(const uint8_t *row)
{
#ifdef __AVX512BW__
    __m512i v = _mm512_load_si512((const void *)row);
    return (uint64_t)_mm512_test_epi8_mask(v, v);
#else
    uint64_t m = 0;
    for (int b = 0; b < 64; b++) m |= (uint64_t)(row[b] != 0) << b;
    return m;
#endif
}

/* One pixel's row, NV vectors: g = Σ_b x[b][k] dz[b] over the samples with
 * ink there (pix NULL: none), then the steps the row missed since step
 * `from` (gradient 0) and this step s, then (dst not NULL) the row into the
 * next batch's compact W_0ᵀ. One vector at a time through the steps, so
 * that only g waits in registers. */
static inline __attribute__((always_inline)) void step_pixel(const dn_mlp_step *st, const float *coef,
                                                            const uint8_t *pix, size_t B, const float *dz,
                                                            size_t dz_stride, float *w, float *v, float *dst,
                                                            const float *lr, uint32_t from, uint32_t s, const int NV)
{
    vec16 g[CHUNK];
    for (int q = 0; q < NV; q++) g[q] = (vec16){0};
    for (size_t b0 = 0; pix && b0 < B; b0 += 64) {
        for (uint64_t m = ink_mask(pix + b0); m; m &= m - 1) {
            const size_t b = b0 + (size_t)__builtin_ctzll(m);
            const vec16 a = (vec16){0} + coef[pix[b]];
            const float *r = dz + b * dz_stride;
            for (int q = 0; q < NV; q++) g[q] = fma16(a, load16(r + LANES * q), g[q]);
        }
    }
    const vec16 zero = {0};
    for (int q = 0; q < NV; q++) {
        vec16 p = load16(w + LANES * q), vel = v ? load16(v + LANES * q) : zero;
        for (uint32_t i = from; i < s; i++) sgd16(&p, &vel, zero, lr[i], st, v != NULL);
        sgd16(&p, &vel, g[q], lr[s], st, v != NULL);
        store16(w + LANES * q, p);
        if (v) store16(v + LANES * q, vel);
        if (dst) store16(dst + LANES * q, p);
    }
}

/* Part p's rows, NV vectors from column c0: the steps of this step's pixels
 * and of the next batch's (whose rows the next forward reads); the others
 * wait (done[k] says how many steps row k has had). */
static inline __attribute__((always_inline)) void step_columns(dn_mlp *mlp, const dn_mlp_step *st, const float *coef,
                                                              size_t B, const dn_batch_plan *next, const part_view *p,
                                                              size_t c0, const uint8_t *pix0, const int NV)
{
    dn_input_t *it = &mlp->input_t;
    const size_t S = it->stride, Bp = pixel_row(B), at = p->base + (c0 - p->u0);
    const float *dz = dz_block(it, p) + (c0 - p->u0);
    uint32_t *done = it->done + c0 / LANES * DN_IMAGE_PIXELS, s = (uint32_t)it->steps;
    used_walk cur, nxt;
    walk_start(&cur, &mlp->plan);
    walk_start(&nxt, next);
    for (size_t k = 0; k < DN_IMAGE_PIXELS; k++) {
        const uint8_t *pix = NULL;
        float *dst = NULL;
        if (cur.pixel == k) pix = pix0 + cur.j * Bp, walk_next(&cur);
        if (nxt.pixel == k) dst = it->used[1] + nxt.j * S + c0, walk_next(&nxt);
        if (!pix && !dst) continue; /* nobody reads the row before it is caught up */
        float *v = it->v && st->momentum > 0 ? it->v + at + k * p->width : NULL; /* as sgd_segment: moment1 then */
        step_pixel(st, coef, pix, B, dz, p->width, it->w + at + k * p->width, v, dst, it->lr, done[k], s, NV);
        done[k] = s + 1;
    }
}

#define STEP_CASE(n) \
    case n: step_columns(mlp, st, coef, B, next, &p, c0, pix0, n); break;

void dn_input_t_step_(dn_mlp *mlp, const dn_mlp_step *st, size_t B, int T, int t, int copy, const dn_batch_plan *next)
{
    float coef[256]; /* pixel byte → x, as load_rows computes it */
    for (int v = 0; v < 256; v++) coef[v] = (float)v / 255.0f;
    int s0, s1;
    thread_parts(&mlp->input_t, T, t, &s0, &s1);
    const uint8_t *pix0 = mlp->input_t.pix[copy][0];
    for (int s = s0; s < s1; s++) {
        const part_view p = part_of(&mlp->input_t, mlp->width[1], s);
        const size_t vectors = p.width / LANES;
        for (size_t c0 = p.u0, done = 0; done < vectors; c0 += CHUNK * LANES, done += CHUNK) {
            const size_t nv = vectors - done < CHUNK ? vectors - done : CHUNK;
            switch (nv) { /* each a loop with its sums in registers */
                CHUNK_CASES(STEP_CASE)
            }
        }
    }
}

void dn_input_t_lr_(dn_mlp *mlp, float lr)
{
    dn_input_t *it = &mlp->input_t;
    if (it->steps < it->lr_cap) it->lr[it->steps] = lr;
}

/* dst (n1, 784) = src (parts' layout) transposed, parts [s0, s1): each part's block by
 * dn_transpose_'s 8 × 8 register blocks into used[1] (free between steps:
 * the next batch's rows are in used[0] by now), its units' rows then copied
 * out. A batch callback that may read the network makes this every step. */
static void transpose_out(dn_mlp *mlp, float *dst, const float *src, int s0, int s1)
{
    dn_input_t *it = &mlp->input_t;
    for (int s = s0; s < s1; s++) {
        const part_view p = part_of(it, mlp->width[1], s);
        dn_transpose_(it->used[1], src + p.base, DN_IMAGE_PIXELS, p.width);
        memcpy(dst + p.u0 * DN_IMAGE_PIXELS, it->used[1], (p.u1 - p.u0) * DN_IMAGE_PIXELS * sizeof *dst);
    }
}

void dn_input_t_sync_(dn_mlp *mlp, float *w0, float *v0)
{
    const dn_input_t *it = &mlp->input_t;
    /* split across ranks: only this rank's part is current here */
    const int s0 = mlp->split ? mlp->split->part : 0, s1 = mlp->split ? s0 + 1 : it->parts;
    catch_up_rows(mlp, NULL, s0, s1);
    transpose_out(mlp, w0, it->w, s0, s1);
    if (v0 && it->v) transpose_out(mlp, v0, it->v, s0, s1);
}
