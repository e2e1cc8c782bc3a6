/*
 * pta.c — the multicategory Perceptron Training Algorithm (see digitnet.h
 * for the exact definition this file implements).
 *
 * Averaging. With W_t the weights after step t (one step per visited
 * sample) and Δ_s the change made at step s, the mean over T steps is
 *   (1/T) Σ_t W_t = W_T − (1/T) Σ_s (s − 1) Δ_s,
 * so the trainer keeps avg_acc = Σ_s (s − 1) Δ_s, touched only where an
 * update touches W, instead of adding W into a sum at every step.
 */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "pta_internal.h"

/* The non-zero pixels of each of the first n images, in groups of four:
 * image i owns groups [start[i], start[i+1]). Both passes read only this
 * (about 28 MB for MNIST's 60000 images, 150 non-zero pixels each, against
 * 36 MB for the 4-byte entries it replaced, and 47 MB of images); the
 * images themselves stay uint8 and are never expanded to floats.
 *
 * The order is the one W x has always been summed in (pta_kernel.h): with
 * nnz = 4q + r, the first q groups hold terms 0..4q-1, term t in slot
 * t mod 4; each of the r remaining terms, which go to partial sum 0, gets
 * a group of its own, slot 0, with padding in slots 1..3. Padding points
 * at the zero row PTA_PAD_ROW with value 0. The dot product is then one
 * loop of whole groups (no tail loop, whose variable length the branch
 * predictor misses once an image) at 3% more terms. */
typedef struct pta_group {
    uint16_t offset[4]; /* where each pixel's weights start in W: k · PTA_LANES */
    uint8_t value[4];   /* each pixel's value, 1..255; 0 for padding */
} pta_group;

typedef struct pta_sparse {
    const uint8_t *images; /* the images this index describes (a sanity check, not the cache key) */
    size_t n;
    uint32_t *start;   /* n + 1 */
    pta_group *groups; /* start[n] */
} pta_sparse;

#define PTA_PAD_ROW DN_IMAGE_PIXELS /* the zero row after the pixels' rows */
#define PTA_PAD_OFFSET (PTA_PAD_ROW * PTA_LANES)
#define PTA_ROWS_VALUES ((DN_IMAGE_PIXELS + 1) * PTA_LANES) /* values in wt and snapshot: W and the zero row */
#define PTA_COUNT_CHUNK 1024 /* samples a counting thread takes at a time */

/* A group's four offsets in one 8-byte load and its four values in one
 * 4-byte load: loads, not arithmetic, bound the inner loop, and one load
 * per term for the offset alone cost a quarter of its time. Slot j sits at
 * the j-th lowest address, so its bits depend on the byte order. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define PTA_SLOT_SHIFT(j, bits) ((3 - (j)) * (bits))
#else
#define PTA_SLOT_SHIFT(j, bits) ((j) * (bits))
#endif

static inline uint64_t pta_group_offsets(const pta_group *g)
{
    uint64_t offsets;
    memcpy(&offsets, g->offset, sizeof offsets);
    return offsets;
}

static inline uint32_t pta_group_values(const pta_group *g)
{
    uint32_t values;
    memcpy(&values, g->value, sizeof values);
    return values;
}

/* Whether any of the bytes (a multiple of 8, at most 64) is not zero: an
 * OR of whole 64-bit words, where a loop over a vector's lanes compiles
 * to one extraction and test per lane. */
static inline int pta_any_bit(const void *p, size_t bytes)
{
    uint64_t word[8] = {0}, any = 0;
    memcpy(word, p, bytes);
    for (int k = 0; k < 8; k++) any |= word[k];
    return any != 0;
}

static inline size_t pta_group_offset(uint64_t offsets, int j) { return (uint16_t)(offsets >> PTA_SLOT_SHIFT(j, 16)); }
static inline unsigned pta_group_value(uint32_t values, int j) { return (uint8_t)(values >> PTA_SLOT_SHIFT(j, 8)); }

struct dn_pta {
    dn_pta_options opt;
    int epochs_done;
    uint64_t steps;  /* update-pass steps since W was last set */
    float *wt_f32;   /* (785, PTA_LANES) when precision is float32, else NULL: W, then the zero row */
    double *wt_f64;  /* (785, PTA_LANES) when precision is float64, else NULL: W, then the zero row */
    void *snapshot;  /* room for one more W and zero row: what the count pass reads while W is updated */
    double *avg_acc; /* (784, PTA_LANES) Σ (s−1) Δ_s, when averaging */
    float lut_f32[256];
    double lut_f64[256]; /* pixel p → p / 255, the exact x values */
};

/* float64 first: both instances accumulate the average with its helpers.
 * Lanes per vector (pta_kernel.h): float64 8 + 2, float32 16. */
#define PTA_HEAD_F64 8
#define REAL double
#define PTA_INT int64_t /* the integer of REAL's width: what a vector comparison gives */
#define SFX f64
#define PTA_HEAD PTA_HEAD_F64
#define PTA_TAIL 2
#include "pta_kernel.h"
#undef REAL
#undef PTA_INT
#undef SFX
#undef PTA_HEAD
#undef PTA_TAIL
#define REAL float
#define PTA_INT int32_t
#define SFX f32
#define PTA_HEAD 16
#define PTA_TAIL 0
#include "pta_kernel.h"
#undef REAL
#undef PTA_INT
#undef SFX
#undef PTA_HEAD
#undef PTA_TAIL

/* Entry i names precision i; NULL-terminated for the CLI's choice list. */
static const char *const precision_names[] = {"float", "double", NULL};

const char *dn_precision_name(dn_precision precision)
{
    return precision == DN_FLOAT32 || precision == DN_FLOAT64 ? precision_names[precision] : "?";
}

const char *const *dn_precision_choices(void) { return precision_names; }

void dn_pta_options_default(dn_pta_options *opt)
{
    opt->train_size = 60000;
    opt->eta = 1.0;
    opt->epsilon = 0.0;
    opt->max_epochs = 100;
    opt->seed = 1;
    opt->precision = DN_FLOAT32;
    opt->average = 0;
    opt->threads = 0;
}

dn_status dn_pta_options_check(const dn_pta_options *opt, size_t available, dn_error *err)
{
    if (opt->train_size < 1)
        return dn_fail(err, DN_ERR_USAGE, "train size must be at least 1");
    if (available > 0 && opt->train_size > available)
        return dn_fail(err, DN_ERR_USAGE, "train size %zu is larger than the training set (valid: 1 to %zu)",
                       opt->train_size, available);
    if (!(opt->eta > 0) || !isfinite(opt->eta))
        return dn_fail(err, DN_ERR_USAGE, "eta must be a finite number > 0 (got %g)", opt->eta);
    if (!(opt->epsilon >= 0 && opt->epsilon <= 1))
        return dn_fail(err, DN_ERR_USAGE, "epsilon must be in [0, 1] (got %g)", opt->epsilon);
    if (opt->max_epochs < 1)
        return dn_fail(err, DN_ERR_USAGE, "max epochs must be at least 1 (got %d)", opt->max_epochs);
    if (opt->precision != DN_FLOAT32 && opt->precision != DN_FLOAT64)
        return dn_fail(err, DN_ERR_USAGE, "precision must be float or double");
    if (opt->threads < 0 || opt->threads > 1024)
        return dn_fail(err, DN_ERR_USAGE, "threads must be in [0, 1024], 0 meaning all cores (got %d)",
                       opt->threads);
    return DN_OK;
}

static int pta_threads(const dn_pta *pta)
{
#ifdef _OPENMP
    return pta->opt.threads > 0 ? pta->opt.threads : omp_get_num_procs();
#else
    (void)pta;
    return 1;
#endif
}

static void sparse_free(pta_sparse *sp)
{
    free(sp->start);
    free(sp->groups);
    memset(sp, 0, sizeof *sp);
}

/* Groups image i takes: q whole ones, one for each of the r left over. */
static size_t groups_of(const uint8_t *image)
{
    unsigned nnz = 0; /* 32-bit lanes: the loop compiles to vector compares */
    for (int k = 0; k < DN_IMAGE_PIXELS; k++) nnz += image[k] != 0;
    return nnz / 4 + nnz % 4;
}

/* Image's groups into g (pta_sparse). Eight pixels at a time: most runs of
 * eight are all zero (the margins, the space between strokes) and are
 * skipped whole; within the others each pixel is written and the cursor
 * advances past the non-zero ones, without a branch a pixel, whose outcome
 * (non-zero about one time in five) the predictor could not learn. Measured
 * for MNIST's 60000 images: 21 ms, against 47 ms without the skipping. */
static void fill_groups(pta_group *g, const uint8_t *image)
{
    uint16_t offset[DN_IMAGE_PIXELS];
    uint8_t value[DN_IMAGE_PIXELS];
    size_t nnz = 0;
    _Static_assert(DN_IMAGE_PIXELS % 8 == 0, "whole runs of eight pixels");
    for (int k0 = 0; k0 < DN_IMAGE_PIXELS; k0 += 8) {
        uint64_t eight;
        memcpy(&eight, image + k0, sizeof eight);
        if (!eight) continue;
        for (int k = k0; k < k0 + 8; k++) {
            offset[nnz] = (uint16_t)(k * PTA_LANES);
            value[nnz] = image[k];
            nnz += image[k] != 0;
        }
    }
    size_t whole = nnz / 4 * 4;
    for (size_t t = 0; t < nnz; t++) {
        size_t at = t < whole ? t : whole + 4 * (t - whole); /* group, slot: t/4, t%4, or its own group */
        g[at / 4].offset[at % 4] = offset[t];
        g[at / 4].value[at % 4] = value[t];
    }
    for (size_t at = whole; at < whole + 4 * (nnz - whole); at++)
        if (at % 4) g[at / 4].offset[at % 4] = PTA_PAD_OFFSET, g[at / 4].value[at % 4] = 0;
}

/* Room for the groups (freed with free). An index of a few MB and more
 * sits in 2 MB pages where the system allows: in 4 KB pages, faulting in
 * MNIST's 28 MB of groups (7000 zeroed pages) cost twice the building
 * itself, most of a short run's time, and the passes walk it with fewer TLB
 * misses. */
static void *groups_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < 2 * huge) return malloc(bytes);
    size_t rounded = (bytes + huge - 1) / huge * huge; /* aligned_alloc: a multiple of the alignment */
    void *p = aligned_alloc(huge, rounded);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, rounded, MADV_HUGEPAGE); /* a hint: without it, 4 KB pages as before */
#endif
    return p;
}

static dn_status sparse_build(pta_sparse *sp, const uint8_t *images, size_t n, dn_error *err)
{
    memset(sp, 0, sizeof *sp);
    sp->start = malloc((n + 1) * sizeof *sp->start);
    if (!sp->start) return dn_fail(err, DN_ERR_NOMEM, "out of memory for the pixel index of %zu images", n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        sp->start[i] = (uint32_t)total;
        total += groups_of(images + i * DN_IMAGE_PIXELS);
        if (total > UINT32_MAX) {
            sparse_free(sp);
            return dn_fail(err, DN_ERR_USAGE, "too many non-zero pixels for the PTA index");
        }
    }
    sp->start[n] = (uint32_t)total;
    sp->groups = groups_alloc((total ? total : 1) * sizeof *sp->groups);
    if (!sp->groups) {
        sparse_free(sp);
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the pixel index of %zu images", n);
    }
    for (size_t i = 0; i < n; i++) fill_groups(sp->groups + sp->start[i], images + i * DN_IMAGE_PIXELS);
    sp->images = images;
    sp->n = n;
    return DN_OK;
}

/* The index a dataset keeps (dn_dataset.cache): for all the images of the
 * set that owns the cache, so that every view from its first sample and
 * every n can use it. */
typedef struct pta_kept_index {
    dn_dataset_derived base; /* first: the cache holds a pointer to it */
    pta_sparse sparse;
} pta_kept_index;

static void kept_index_release(dn_dataset_derived *derived)
{
    pta_kept_index *kept = (pta_kept_index *)derived;
    sparse_free(&kept->sparse);
    free(kept);
}

/* The set's kept index, built on first use. Two threads may get here at
 * once: each builds one, the first to store it wins, the other frees its
 * own; the stored index never changes after, so readers need no lock. */
static dn_status kept_index(const dn_dataset *set, const pta_sparse **out, dn_error *err)
{
    struct dn_dataset_cache *cache = set->cache;
    dn_dataset_derived *derived = atomic_load(&cache->pta_index);
    if (!derived) {
        pta_kept_index *kept = malloc(sizeof *kept);
        if (!kept)
            return dn_fail(err, DN_ERR_NOMEM, "out of memory for the pixel index of %zu images", cache->covers);
        kept->base.release = kept_index_release;
        dn_status s = sparse_build(&kept->sparse, set->images, cache->covers, err);
        if (s) {
            free(kept);
            return s;
        }
        dn_dataset_derived *expected = NULL;
        if (atomic_compare_exchange_strong(&cache->pta_index, &expected, &kept->base)) {
            derived = &kept->base;
        } else {
            kept_index_release(&kept->base);
            derived = expected;
        }
    }
    *out = &((const pta_kept_index *)derived)->sparse;
    return DN_OK;
}

/* *out = the index of set's first n images: the one the set keeps when it
 * has a cache, else one built into *own. The caller frees *own with
 * sparse_free (harmless when it was not used). */
static dn_status index_for(const dn_dataset *set, size_t n, pta_sparse *own, const pta_sparse **out, dn_error *err)
{
    memset(own, 0, sizeof *own);
    *out = own;
    if (set->cache && n <= set->cache->covers) {
        dn_status s = kept_index(set, out, err);
        if (s) return s;
        if ((*out)->images == set->images && (*out)->n >= n) return DN_OK;
    }
    *out = own;
    return sparse_build(own, set->images, n, err);
}

/* Where W[row][pixel] lives in the trainer's layout (pta_internal.h). */
static size_t lane_of(int row, int pixel) { return (size_t)pixel * PTA_LANES + (size_t)row; }

void dn_pta_set_weights(dn_pta *pta, const double *w)
{
    if (pta->wt_f32) memset(pta->wt_f32, 0, PTA_STATE_VALUES * sizeof(float));
    else memset(pta->wt_f64, 0, PTA_STATE_VALUES * sizeof(double));
    for (int j = 0; j < DN_CLASSES; j++)
        for (int k = 0; k < DN_IMAGE_PIXELS; k++) {
            double value = w[j * DN_IMAGE_PIXELS + k];
            if (pta->wt_f32) pta->wt_f32[lane_of(j, k)] = (float)value;
            else pta->wt_f64[lane_of(j, k)] = value;
        }
    if (pta->avg_acc) memset(pta->avg_acc, 0, PTA_STATE_VALUES * sizeof(double));
    pta->steps = 0;
}

void dn_pta_get_weights(const dn_pta *pta, double *w_out)
{
    for (int j = 0; j < DN_CLASSES; j++)
        for (int k = 0; k < DN_IMAGE_PIXELS; k++)
            w_out[j * DN_IMAGE_PIXELS + k] = pta->wt_f32 ? (double)pta->wt_f32[lane_of(j, k)]
                                                         : pta->wt_f64[lane_of(j, k)];
}

dn_status dn_pta_get_average(const dn_pta *pta, double *w_out, dn_error *err)
{
    if (!pta->avg_acc) return dn_fail(err, DN_ERR_USAGE, "the averaged perceptron was not kept (train with the option average)");
    if (pta->steps == 0) return dn_fail(err, DN_ERR_USAGE, "no update step taken yet: the average is undefined");
    dn_pta_get_weights(pta, w_out);
    double inv_steps = 1.0 / (double)pta->steps;
    for (int j = 0; j < DN_CLASSES; j++)
        for (int k = 0; k < DN_IMAGE_PIXELS; k++)
            w_out[j * DN_IMAGE_PIXELS + k] -= pta->avg_acc[lane_of(j, k)] * inv_steps;
    return DN_OK;
}

static void *aligned_calloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64); /* C11: a multiple of the alignment */
    if (p) memset(p, 0, bytes);
    return p;
}

dn_pta *dn_pta_create(const dn_pta_options *opt, dn_error *err)
{
    if (dn_pta_options_check(opt, 0, err)) return NULL;
    dn_pta *pta = calloc(1, sizeof *pta);
    double *w = malloc(sizeof(double) * DN_CLASSES * DN_IMAGE_PIXELS);
    size_t lanes = PTA_STATE_VALUES;
    if (pta) {
        pta->opt = *opt;
        size_t real = opt->precision == DN_FLOAT32 ? sizeof(float) : sizeof(double);
        /* calloc for the zero rows: nothing writes them after (PTA_FOR_PIXELS skips padding). The
         * rows are 64 or 128 bytes; 64-byte alignment keeps each in whole cache lines. */
        if (real == sizeof(float)) pta->wt_f32 = aligned_calloc(PTA_ROWS_VALUES * real);
        else pta->wt_f64 = aligned_calloc(PTA_ROWS_VALUES * real);
        pta->snapshot = aligned_calloc(PTA_ROWS_VALUES * real);
        if (opt->average) pta->avg_acc = calloc(lanes, sizeof(double));
    }
    if (!pta || !w || !(pta->wt_f32 || pta->wt_f64) || !pta->snapshot || (opt->average && !pta->avg_acc)) {
        free(w);
        dn_pta_free(pta);
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the perceptron");
        return NULL;
    }
    for (int p = 0; p < 256; p++) {
        pta->lut_f64[p] = p / 255.0;
        pta->lut_f32[p] = (float)(p / 255.0);
    }
    dn_rng rng;
    dn_rng_seed(&rng, opt->seed);
    for (int i = 0; i < DN_CLASSES * DN_IMAGE_PIXELS; i++) w[i] = dn_rng_uniform(&rng);
    dn_pta_set_weights(pta, w);
    free(w);
    return pta;
}

void dn_pta_free(dn_pta *pta)
{
    if (!pta) return;
    free(pta->wt_f32);
    free(pta->wt_f64);
    free(pta->snapshot);
    free(pta->avg_acc);
    free(pta);
}

const dn_pta_options *dn_pta_get_options(const dn_pta *pta) { return &pta->opt; }

dn_pta_state dn_pta_state_of_(dn_pta *pta)
{
    return (dn_pta_state){&pta->opt, &pta->epochs_done, &pta->steps, pta->wt_f32, pta->wt_f64, pta->avg_acc};
}
int dn_pta_epochs_done(const dn_pta *pta) { return pta->epochs_done; }

static size_t count_with_index(const dn_pta *pta, const pta_sparse *sp, const dn_dataset *set, size_t n)
{
    if (pta->wt_f32)
        return pta_count_f32(pta->wt_f32, sp, set->labels, n, pta->lut_f32, pta_threads(pta));
    return pta_count_f64(pta->wt_f64, sp, set->labels, n, pta->lut_f64, pta_threads(pta));
}

size_t dn_pta_count_errors(const dn_pta *pta, const dn_dataset *set, size_t n)
{
    if (n > set->count) n = set->count;
    pta_sparse own;
    const pta_sparse *sp;
    if (index_for(set, n, &own, &sp, NULL) != DN_OK) {
        /* Without memory for an index, fall back to the dense definition. */
        double *w = malloc(sizeof(double) * DN_CLASSES * DN_IMAGE_PIXELS);
        uint8_t *pred = malloc(n ? n : 1);
        size_t errors = SIZE_MAX;
        if (w && pred) {
            dn_pta_get_weights(pta, w);
            dn_linear_predict(w, set->images, n, pred);
            errors = 0;
            for (size_t i = 0; i < n; i++) errors += pred[i] != set->labels[i];
        }
        free(w);
        free(pred);
        return errors;
    }
    size_t errors = count_with_index(pta, sp, set, n);
    sparse_free(&own);
    return errors;
}

static size_t epoch_with_index(dn_pta *pta, const pta_sparse *sp, const dn_dataset *set, size_t n)
{
    size_t errors = pta->wt_f32 ? pta_epoch_f32(pta->wt_f32, pta->snapshot, pta->avg_acc, &pta->steps, sp,
                                                set->labels, n, pta->lut_f32, (float)pta->opt.eta, pta_threads(pta))
                                  : pta_epoch_f64(pta->wt_f64, pta->snapshot, pta->avg_acc, &pta->steps, sp,
                                                  set->labels, n, pta->lut_f64, pta->opt.eta, pta_threads(pta));
    pta->epochs_done++;
    return errors;
}

size_t dn_pta_epoch(dn_pta *pta, const dn_dataset *set, size_t n)
{
    if (n > set->count) n = set->count;
    pta_sparse own;
    const pta_sparse *sp;
    if (index_for(set, n, &own, &sp, NULL) != DN_OK) return SIZE_MAX;
    size_t errors = epoch_with_index(pta, sp, set, n);
    sparse_free(&own);
    return errors;
}

dn_status dn_pta_update_pass_(dn_pta *pta, const dn_dataset *set, size_t n, dn_error *err)
{
    if (n > set->count) n = set->count;
    pta_sparse own;
    const pta_sparse *sp;
    dn_status s = index_for(set, n, &own, &sp, err);
    if (s) return s;
    if (pta->wt_f32) pta_update_f32(pta->wt_f32, pta->avg_acc, pta->steps, sp, set->labels, n, pta->lut_f32,
                                    (float)pta->opt.eta);
    else pta_update_f64(pta->wt_f64, pta->avg_acc, pta->steps, sp, set->labels, n, pta->lut_f64, pta->opt.eta);
    pta->steps += n;
    sparse_free(&own);
    return DN_OK;
}

dn_status dn_pta_index_build_(const dn_dataset *set, size_t n, dn_error *err)
{
    pta_sparse sp;
    dn_status s = sparse_build(&sp, set->images, n < set->count ? n : set->count, err);
    if (!s) sparse_free(&sp);
    return s;
}
