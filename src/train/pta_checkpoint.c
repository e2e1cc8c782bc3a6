/* pta_checkpoint.c — the perceptron trainer's exact state in a file, so that
 * a resumed run ends with the same W, bit for bit, as one that never stopped
 * (see "checkpoints" in digitnet.h): dn_pta_checkpoint_save / _load, by a
 * single process (comm NULL: kind "pta-checkpoint") or collectively by the
 * ranks of a mixing job (kind "pta-distributed-checkpoint").
 *
 * What "exact" takes: W in the precision it is trained in (float32 values
 * survive the trip through double unchanged), the averaging accumulator
 * avg_acc and the step counter it is divided by, and the epoch count. The
 * PTA draws no random numbers after creation, so there is no RNG state
 * of its own (a mixing job's fault generators are saved by the job's kind).
 *
 * Tensors are stored as (10, 784) rows, not in the trainer's vector layout,
 * so a checkpoint outlives layout changes and any safetensors reader can
 * open it. pta_write and pta_restore do the work for both kinds.
 *
 * The job's kind is the same file with "mode", "ranks" and the tensor "rng"
 * U8 (K, 32): each rank's fault generator. After every mix all ranks hold
 * the same W, so rank 0's trainer is the job's. Only rank 0 touches the
 * file (checkpoint.c has the collective steps). After a load rank 0
 * broadcasts the trainer's options, counters, raw state (W and avg_acc in
 * the trainer's own layout: every rank runs the same build) and curve, so
 * every rank ends with the same trainer and a cluster without a shared
 * folder resumes too. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "pta_internal.h"

#define PTA_CKPT_KIND "pta-checkpoint"
#define PTA_DIST_CKPT_KIND "pta-distributed-checkpoint"
#define PTA_DEFAULT_MODE "mix" /* the one way a perceptron job trains across ranks */
#define MAX_RANKS (1u << 20)
#define MAX_EXTRA 4 /* tensors a kind may add */
#define W_VALUES ((size_t)DN_CLASSES * DN_IMAGE_PIXELS)

static const size_t w_shape[2] = {DN_CLASSES, DN_IMAGE_PIXELS};

/* What the metadata says, before it is trusted. */
typedef struct pta_saved {
    dn_pta_options opt;
    int epochs_done;
    uint64_t steps;
    uint32_t data_crc32;
} pta_saved;

void dn_pta_curve_free(dn_pta_curve *curve)
{
    if (!curve) return;
    free(curve->errors);
    free(curve->seconds);
    curve->errors = NULL;
    curve->seconds = NULL;
    curve->epochs = 0;
}

/* ------------------------------------------------------- avg_acc layout */

/* avg_acc has the layout of W inside the trainer (pta_internal.h). The
 * get/set weights of a float64 scratch trainer convert between that layout
 * and (10, 784) rows, so this file never repeats the layout's arithmetic. */
static dn_pta *layout_scratch(dn_error *err)
{
    dn_pta_options o;
    dn_pta_options_default(&o);
    o.precision = DN_FLOAT64;
    o.threads = 1;
    return dn_pta_create(&o, err);
}

static dn_status avg_to_rows(const double *avg_acc, double *rows, dn_error *err)
{
    dn_pta *scratch = layout_scratch(err);
    if (!scratch) return err ? err->code : DN_ERR_NOMEM;
    memcpy(dn_pta_state_of_(scratch).wt_f64, avg_acc, PTA_STATE_VALUES * sizeof(double));
    dn_pta_get_weights(scratch, rows);
    dn_pta_free(scratch);
    return DN_OK;
}

static dn_status avg_from_rows(double *avg_acc, const double *rows, dn_error *err)
{
    dn_pta *scratch = layout_scratch(err);
    if (!scratch) return err ? err->code : DN_ERR_NOMEM;
    dn_pta_set_weights(scratch, rows); /* also zeroes the padding lanes */
    memcpy(avg_acc, dn_pta_state_of_(scratch).wt_f64, PTA_STATE_VALUES * sizeof(double));
    dn_pta_free(scratch);
    return DN_OK;
}

/* ---------------------------------------------------------------- saving */

static void put_options(dn_ckpt_meta *m, const dn_pta_state *st, uint32_t data_crc32)
{
    const dn_pta_options *o = st->opt;
    char crc[16];
    snprintf(crc, sizeof crc, "%08lx", (unsigned long)data_crc32);
    dn_ckpt_put_string(m, "precision", dn_precision_name(o->precision));
    dn_ckpt_put_u64(m, "train_size", o->train_size);
    dn_ckpt_put_double(m, "eta", o->eta);
    dn_ckpt_put_double(m, "epsilon", o->epsilon);
    dn_ckpt_put_u64(m, "max_epochs", (uint64_t)o->max_epochs);
    dn_ckpt_put_u64(m, "seed", o->seed);
    dn_ckpt_put_u64(m, "average", o->average ? 1 : 0);
    dn_ckpt_put_u64(m, "threads", (uint64_t)o->threads);
    dn_ckpt_put_u64(m, "epochs_done", (uint64_t)*st->epochs_done);
    dn_ckpt_put_u64(m, "steps", *st->steps);
    dn_ckpt_put_string(m, "data_crc32", crc);
}

static dn_tensor tensor_of(const char *name, dn_dtype dtype, int ndim, const size_t *shape, const void *data)
{
    dn_tensor t = {.dtype = dtype, .ndim = ndim, .data = data};
    snprintf(t.name, sizeof t.name, "%s", name);
    for (int d = 0; d < ndim; d++) t.shape[d] = shape[d];
    return t;
}

/* Buffers of one save: W as rows (and as float32 when trained so), the
 * average accumulator as rows, the error curve as float64. */
typedef struct save_buffers {
    double *w, *avg, *errors;
    float *w32;
} save_buffers;

static void buffers_free(save_buffers *b)
{
    free(b->w);
    free(b->avg);
    free(b->errors);
    free(b->w32);
}

static dn_status fill_buffers(const dn_pta *pta, const dn_pta_state *st, const dn_pta_curve *curve, int epochs,
                              save_buffers *b, const char *path, dn_error *err)
{
    b->w = malloc(W_VALUES * sizeof *b->w);
    b->avg = st->avg_acc ? malloc(W_VALUES * sizeof *b->avg) : NULL;
    b->errors = malloc((epochs ? (size_t)epochs : 1) * sizeof *b->errors);
    b->w32 = st->wt_f32 ? malloc(W_VALUES * sizeof *b->w32) : NULL;
    if (!b->w || (st->avg_acc && !b->avg) || !b->errors || (st->wt_f32 && !b->w32))
        return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory writing the checkpoint", path);
    dn_pta_get_weights(pta, b->w);
    if (b->w32)
        for (size_t i = 0; i < W_VALUES; i++) b->w32[i] = (float)b->w[i]; /* exact: they were floats */
    for (int e = 0; e < epochs; e++) b->errors[e] = (double)curve->errors[e]; /* exact below 2^53 */
    return b->avg ? avg_to_rows(st->avg_acc, b->avg, err) : DN_OK;
}

/* The tensors of a save: W, avg_acc when averaging, the curve when given;
 * returns their count. */
static size_t pta_tensors(const save_buffers *b, const dn_pta_curve *curve, int epochs, dn_tensor *t)
{
    size_t nt = 0, curve_shape[1] = {(size_t)epochs};
    t[nt++] = b->w32 ? tensor_of("W", DN_DTYPE_F32, 2, w_shape, b->w32)
                     : tensor_of("W", DN_DTYPE_F64, 2, w_shape, b->w);
    if (b->avg) t[nt++] = tensor_of("avg_acc", DN_DTYPE_F64, 2, w_shape, b->avg);
    if (epochs) {
        t[nt++] = tensor_of("errors", DN_DTYPE_F64, 1, curve_shape, b->errors);
        t[nt++] = tensor_of("seconds", DN_DTYPE_F64, 1, curve_shape, curve->seconds);
    }
    return nt;
}

/* Writes pta's state to path atomically under m: made by dn_ckpt_meta_init
 * with the kind, holding the kind's own entries, which stay first. extra
 * (nextra <= MAX_EXTRA tensors, may be NULL when 0) follow the PTA's. */
static dn_status pta_write(const dn_pta *pta, const dn_pta_curve *curve, uint32_t data_crc32, const char *path,
                           dn_ckpt_meta *m, const dn_tensor *extra, size_t nextra, dn_error *err)
{
    /* The state accessor takes a mutable trainer; nothing here writes through it. */
    dn_pta_state st = dn_pta_state_of_((dn_pta *)pta);
    int epochs = curve ? curve->epochs : 0;
    if (epochs != 0 && (epochs != *st.epochs_done || !curve->errors || !curve->seconds))
        return dn_fail(err, DN_ERR_USAGE, "%s: the curve holds %d epochs but the trainer has done %d", path, epochs,
                       *st.epochs_done);
    if (nextra > MAX_EXTRA)
        return dn_fail(err, DN_ERR_USAGE, "%s: %zu extra tensors, at most %d", path, nextra, MAX_EXTRA);
    save_buffers b = {0};
    dn_status s = fill_buffers(pta, &st, curve, epochs, &b, path, err);
    if (s == DN_OK) {
        dn_tensor t[4 + MAX_EXTRA];
        size_t nt = pta_tensors(&b, curve, epochs, t);
        for (size_t i = 0; i < nextra; i++) t[nt++] = extra[i];
        put_options(m, &st, data_crc32);
        s = dn_ckpt_write(path, t, nt, m, err);
    }
    buffers_free(&b);
    return s;
}

static dn_status save_local(const dn_pta *pta, const dn_pta_curve *curve, uint32_t data_crc32, const char *path,
                            dn_error *err)
{
    dn_ckpt_meta m;
    dn_ckpt_meta_init(&m, PTA_CKPT_KIND);
    return pta_write(pta, curve, data_crc32, path, &m, NULL, 0, err);
}

/* --------------------------------------------------------------- loading */

static dn_status read_precision(const dn_st_file *file, const char *path, dn_precision *out, dn_error *err)
{
    const char *text;
    dn_status s = dn_ckpt_get_string(file, path, "precision", &text, err);
    if (s) return s;
    const char *const *names = dn_precision_choices();
    for (int p = 0; names[p]; p++)
        if (strcmp(text, names[p]) == 0) {
            *out = (dn_precision)p;
            return DN_OK;
        }
    return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint metadata 'precision' must be float or double", path);
}

static dn_status read_crc(const dn_st_file *file, const char *path, uint32_t *out, dn_error *err)
{
    const char *text;
    dn_status s = dn_ckpt_get_string(file, path, "data_crc32", &text, err);
    if (s) return s;
    uint32_t v = 0;
    size_t i = 0;
    for (; text[i] && i < 8; i++) {
        char c = text[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) break;
        v = v << 4 | (uint32_t)d;
    }
    if (i != 8 || text[8] != '\0')
        return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint metadata 'data_crc32' must be 8 lowercase hex digits", path);
    *out = v;
    return DN_OK;
}

/* The options, then the library's own range checks on them: a hostile file
 * must not create a trainer the API would have refused. */
static dn_status read_options(const dn_st_file *file, const char *path, dn_pta_options *o, dn_error *err)
{
    uint64_t n = 0, max_epochs = 0, average = 0, threads = 0;
    dn_pta_options_default(o);
    dn_status s = read_precision(file, path, &o->precision, err);
    if (!s) s = dn_ckpt_get_u64(file, path, "train_size", DN_DATASET_MAX_COUNT, &n, err);
    if (!s) s = dn_ckpt_get_double(file, path, "eta", &o->eta, err);
    if (!s) s = dn_ckpt_get_double(file, path, "epsilon", &o->epsilon, err);
    if (!s) s = dn_ckpt_get_u64(file, path, "max_epochs", INT_MAX, &max_epochs, err);
    if (!s) s = dn_ckpt_get_u64(file, path, "seed", UINT64_MAX, &o->seed, err);
    if (!s) s = dn_ckpt_get_u64(file, path, "average", 1, &average, err);
    if (!s) s = dn_ckpt_get_u64(file, path, "threads", 1024, &threads, err);
    if (s) return s;
    o->train_size = (size_t)n;
    o->max_epochs = (int)max_epochs;
    o->average = (int)average;
    o->threads = (int)threads;
    dn_error why;
    if (dn_pta_options_check(o, 0, &why) != DN_OK)
        return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint settings are invalid: %s", path, why.message);
    return DN_OK;
}

static dn_status read_saved(const dn_st_file *file, const char *path, pta_saved *sv, dn_error *err)
{
    uint64_t epochs = 0;
    dn_status s = read_options(file, path, &sv->opt, err);
    if (!s) s = dn_ckpt_get_u64(file, path, "epochs_done", INT_MAX, &epochs, err);
    if (!s) s = dn_ckpt_get_u64(file, path, "steps", UINT64_MAX, &sv->steps, err);
    if (!s) s = read_crc(file, path, &sv->data_crc32, err);
    if (s) return s;
    sv->epochs_done = (int)epochs;
    /* One step per sample per epoch; fewer only when W was set mid-run.
     * epochs < 2^31 and n ≤ 10^6, so the product fits in 64 bits. */
    if (sv->steps > epochs * (uint64_t)sv->opt.train_size)
        return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint claims %llu steps, more than %llu epochs of %zu samples allow",
                       path, (unsigned long long)sv->steps, (unsigned long long)epochs, sv->opt.train_size);
    return DN_OK;
}

static dn_status mismatch(const char *path, const char *what, const char *saved, const char *asked, dn_error *err)
{
    return dn_fail(err, DN_ERR_USAGE,
                   "%s: the checkpoint was made with %s %s, this run asks for %s (resume with the checkpoint's settings)",
                   path, what, saved, asked);
}

/* The settings that decide the trained W must be the checkpoint's. */
static dn_status match_expected(const char *path, const dn_pta_options *saved, const dn_pta_options *want, dn_error *err)
{
    char a[48], b[48];
#define DN_CKPT_DIFF(cond, what, fmt, x, y)                                                                             \
    if (cond) {                                                                                                        \
        snprintf(a, sizeof a, fmt, x);                                                                                 \
        snprintf(b, sizeof b, fmt, y);                                                                                 \
        return mismatch(path, what, a, b, err);                                                                        \
    }
    DN_CKPT_DIFF(saved->train_size != want->train_size, "train size", "%zu", saved->train_size, want->train_size)
    DN_CKPT_DIFF(saved->eta != want->eta, "eta", "%.17g", saved->eta, want->eta)
    DN_CKPT_DIFF(saved->epsilon != want->epsilon, "epsilon", "%.17g", saved->epsilon, want->epsilon)
    DN_CKPT_DIFF(saved->seed != want->seed, "seed", "%llu", (unsigned long long)saved->seed,
                 (unsigned long long)want->seed)
    DN_CKPT_DIFF(saved->precision != want->precision, "precision", "%s",
                 dn_precision_name(saved->precision), dn_precision_name(want->precision))
    DN_CKPT_DIFF(!saved->average != !want->average, "averaging", "%s", saved->average ? "on" : "off",
                 want->average ? "on" : "off")
#undef DN_CKPT_DIFF
    return DN_OK;
}

/* W (in the trained precision) and, when averaging, avg_acc into pta. */
static dn_status restore_weights(dn_pta *pta, const dn_st_file *file, const char *path, dn_error *err)
{
    dn_pta_state st = dn_pta_state_of_(pta);
    const dn_tensor *w, *avg;
    dn_dtype wtype = st.wt_f32 ? DN_DTYPE_F32 : DN_DTYPE_F64;
    dn_status s = dn_ckpt_get_tensor(file, path, "W", wtype, 2, w_shape, 1, &w, err);
    if (!s) s = dn_ckpt_get_tensor(file, path, "avg_acc", DN_DTYPE_F64, 2, w_shape, st.avg_acc != NULL, &avg, err);
    if (s) return s;
    if (avg && !st.avg_acc)
        return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint holds avg_acc but says averaging was off", path);
    double *rows = malloc(W_VALUES * sizeof *rows);
    if (!rows) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < W_VALUES; i++)
        rows[i] = wtype == DN_DTYPE_F32 ? (double)((const float *)w->data)[i] : ((const double *)w->data)[i];
    dn_pta_set_weights(pta, rows); /* resets avg_acc and steps: restored next */
    free(rows);
    return avg ? avg_from_rows(st.avg_acc, avg->data, err) : DN_OK;
}

/* The curve: both tensors or neither; one entry per epoch done. */
static dn_status read_curve(const dn_st_file *file, const char *path, const pta_saved *sv, dn_pta_curve *curve,
                            dn_error *err)
{
    const dn_tensor *errors = NULL, *seconds = NULL;
    size_t shape[1] = {(size_t)sv->epochs_done};
    int present = dn_st_find(file, "errors") || dn_st_find(file, "seconds");
    dn_status s = DN_OK;
    if (present) s = dn_ckpt_get_tensor(file, path, "errors", DN_DTYPE_F64, 1, shape, 1, &errors, err);
    if (present && !s) s = dn_ckpt_get_tensor(file, path, "seconds", DN_DTYPE_F64, 1, shape, 1, &seconds, err);
    if (s || !present) return s;
    const double *e = errors->data, *t = seconds->data;
    for (size_t i = 0; i < shape[0]; i++)
        if (e[i] < 0 || e[i] > (double)sv->opt.train_size || e[i] != (double)(size_t)e[i] || t[i] < 0)
            return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint curve entry %zu (errors %g, seconds %g) is impossible",
                           path, i, e[i], t[i]);
    if (!curve || shape[0] == 0) return DN_OK;
    curve->errors = malloc(shape[0] * sizeof *curve->errors);
    curve->seconds = malloc(shape[0] * sizeof *curve->seconds);
    if (!curve->errors || !curve->seconds) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < shape[0]; i++) curve->errors[i] = (size_t)e[i];
    memcpy(curve->seconds, t, shape[0] * sizeof *t);
    curve->epochs = sv->epochs_done;
    return DN_OK;
}

static dn_status restore(dn_pta **out, const dn_st_file *file, const char *path, const dn_pta_options *expect,
                         pta_saved *sv, dn_pta_curve *curve, dn_error *err)
{
    dn_status s = read_saved(file, path, sv, err);
    if (!s && expect) s = match_expected(path, &sv->opt, expect, err);
    if (s) return s;
    if (expect) {
        sv->opt.max_epochs = expect->max_epochs; /* free to change: neither alters the trajectory */
        sv->opt.threads = expect->threads;
    }
    if (!(*out = dn_pta_create(&sv->opt, err))) return err ? err->code : DN_ERR_NOMEM;
    if ((s = restore_weights(*out, file, path, err))) return s;
    dn_pta_state st = dn_pta_state_of_(*out);
    *st.steps = sv->steps;
    *st.epochs_done = sv->epochs_done;
    return read_curve(file, path, sv, curve, err);
}

/* *out gets a new trainer in the state file (from dn_ckpt_read, either kind)
 * holds, with every check and the expect rules of dn_pta_checkpoint_load.
 * On failure *out is NULL and curve emptied. */
static dn_status pta_restore(const dn_st_file *file, const char *path, const dn_pta_options *expect, dn_pta **out,
                             dn_pta_curve *curve, uint32_t *data_crc32, dn_error *err)
{
    if (curve) *curve = (dn_pta_curve){0, NULL, NULL};
    *out = NULL;
    pta_saved sv;
    dn_status s = restore(out, file, path, expect, &sv, curve, err);
    if (s) {
        dn_pta_free(*out);
        *out = NULL;
        dn_pta_curve_free(curve);
        return s;
    }
    if (data_crc32) *data_crc32 = sv.data_crc32;
    return DN_OK;
}

static dn_pta *load_local(const char *path, const dn_pta_options *expect, dn_pta_curve *curve, uint32_t *data_crc32,
                          dn_error *err)
{
    if (curve) *curve = (dn_pta_curve){0, NULL, NULL};
    dn_st_file *file = dn_ckpt_read(path, PTA_CKPT_KIND, err);
    if (!file) return NULL;
    dn_pta *pta = NULL;
    pta_restore(file, path, expect, &pta, curve, data_crc32, err);
    dn_st_free(file);
    return pta;
}

/* --------------------------------------------- a job's checkpoint: saving */

/* Rank 0 writes from its own trainer and curve, with every rank's rng. */
static dn_status save_collective(const dn_pta *pta, dn_comm *comm, const dn_pta_curve *curve, uint32_t data_crc32,
                                 const char *path, const char *mode, const dn_rng *rng, dn_error *err)
{
    uint8_t *all = NULL;
    dn_status s = dn_ckpt_gather_rng(comm, rng, &all, path, err);
    if (s) return s;
    dn_status written = DN_OK;
    if (all) { /* rank 0 */
        size_t K = (size_t)dn_comm_size(comm);
        dn_ckpt_meta m;
        dn_ckpt_meta_init(&m, PTA_DIST_CKPT_KIND);
        dn_ckpt_put_string(&m, "mode", mode);
        dn_ckpt_put_u64(&m, "ranks", K);
        dn_tensor t = {"rng", DN_DTYPE_U8, 2, {K, DN_CKPT_RNG_BYTES}, all};
        written = pta_write(pta, curve, data_crc32, path, &m, &t, 1, err);
    }
    free(all);
    return dn_ckpt_share_outcome(comm, written, err);
}

/* -------------------------------------------- a job's checkpoint: loading */

/* The job shape: the same mode and number of ranks. */
static dn_status check_shape(const dn_st_file *f, const char *path, const char *mode, int K, dn_error *err)
{
    const char *found;
    uint64_t ranks;
    dn_status s = dn_ckpt_get_string(f, path, "mode", &found, err);
    if (!s) s = dn_ckpt_get_u64(f, path, "ranks", MAX_RANKS, &ranks, err);
    if (s) return s;
    if (strcmp(found, mode) != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: written by a job run as '%s', this one runs as '%s': resume with the "
                       "settings the job started with", path, found, mode);
    if (ranks != (uint64_t)K)
        return dn_fail(err, DN_ERR_INPUT,
                       "%s: written by a job of %llu ranks, this job has %d: resume it with mpirun -np %llu", path,
                       (unsigned long long)ranks, K, (unsigned long long)ranks);
    return DN_OK;
}

/* Rank 0: the trainer and curve from path, the rng table into all. */
static dn_status read_root(const char *path, const char *mode, int K, const dn_pta_options *expect, dn_pta **pta,
                           dn_pta_curve *curve, uint32_t *crc, uint8_t *all, dn_error *err)
{
    dn_st_file *f = dn_ckpt_read(path, PTA_DIST_CKPT_KIND, err);
    if (!f) return err ? err->code : DN_ERR_INPUT;
    const size_t shape[2] = {(size_t)K, DN_CKPT_RNG_BYTES};
    const dn_tensor *rng;
    dn_status s = check_shape(f, path, mode, K, err);
    if (!s) s = dn_ckpt_get_tensor(f, path, "rng", DN_DTYPE_U8, 2, shape, 1, &rng, err);
    if (!s) memcpy(all, rng->data, (size_t)K * DN_CKPT_RNG_BYTES);
    if (!s) s = pta_restore(f, path, expect, pta, curve, crc, err);
    dn_st_free(f);
    return s;
}

/* What rank 0 broadcasts before the arrays, as plain values (no padding
 * bytes travel). */
enum { H_TRAIN_SIZE, H_MAX_EPOCHS, H_SEED, H_PRECISION, H_AVERAGE, H_THREADS, H_STEPS, H_EPOCHS, H_CURVE, H_CRC, H_N };
typedef struct dist_header {
    uint64_t v[H_N];
    double d[2]; /* eta, epsilon */
} dist_header;

static void pack_header(dist_header *h, dn_pta *pta, const dn_pta_curve *curve, uint32_t crc)
{
    dn_pta_state st = dn_pta_state_of_(pta);
    const dn_pta_options *o = st.opt;
    const uint64_t v[H_N] = {o->train_size,  (uint64_t)o->max_epochs, o->seed,
                             (uint64_t)o->precision, (uint64_t)o->average, (uint64_t)o->threads,
                             *st.steps,      (uint64_t)*st.epochs_done, curve ? (uint64_t)curve->epochs : 0,
                             crc};
    memcpy(h->v, v, sizeof v);
    h->d[0] = o->eta;
    h->d[1] = o->epsilon;
}

/* Ranks other than 0: a trainer of the broadcast options, room for the curve. */
static dn_status make_receiver(const dist_header *h, dn_pta **pta, dn_pta_curve *curve, dn_error *err)
{
    dn_pta_options o;
    dn_pta_options_default(&o);
    o.train_size = (size_t)h->v[H_TRAIN_SIZE];
    o.eta = h->d[0];
    o.epsilon = h->d[1];
    o.max_epochs = (int)h->v[H_MAX_EPOCHS];
    o.seed = h->v[H_SEED];
    o.precision = (dn_precision)h->v[H_PRECISION];
    o.average = (int)h->v[H_AVERAGE];
    o.threads = (int)h->v[H_THREADS];
    if (!(*pta = dn_pta_create(&o, err))) return err ? err->code : DN_ERR_NOMEM;
    size_t n = (size_t)h->v[H_CURVE];
    if (!curve || n == 0) return DN_OK;
    curve->errors = malloc(n * sizeof *curve->errors);
    curve->seconds = malloc(n * sizeof *curve->seconds);
    if (!curve->errors || !curve->seconds) return dn_fail(err, DN_ERR_NOMEM, "out of memory for the curve");
    curve->epochs = (int)n;
    return DN_OK;
}

/* Rank 0's trainer state and curve to every rank. */
static dn_status share_state(dn_comm *comm, dn_pta *pta, dn_pta_curve *curve, const dist_header *h, dn_error *err)
{
    dn_pta_state st = dn_pta_state_of_(pta);
    dn_status s = st.wt_f32 ? dn_comm_broadcast(comm, st.wt_f32, PTA_STATE_VALUES, DN_COMM_F32, 0, err)
                            : dn_comm_broadcast(comm, st.wt_f64, PTA_STATE_VALUES, DN_COMM_F64, 0, err);
    if (!s && st.avg_acc) s = dn_comm_broadcast(comm, st.avg_acc, PTA_STATE_VALUES, DN_COMM_F64, 0, err);
    size_t n = (size_t)h->v[H_CURVE];
    if (!s && curve && n) s = dn_comm_broadcast(comm, curve->errors, n * sizeof *curve->errors, DN_COMM_BYTE, 0, err);
    if (!s && curve && n) s = dn_comm_broadcast(comm, curve->seconds, n, DN_COMM_F64, 0, err);
    if (s) return s;
    *st.steps = h->v[H_STEPS];
    *st.epochs_done = (int)h->v[H_EPOCHS];
    return DN_OK;
}

static dn_pta *load_collective(dn_comm *comm, const char *path, const char *mode, const dn_pta_options *expect,
                               dn_pta_curve *curve, uint32_t *data_crc32, dn_rng *rng, dn_error *err)
{
    int K = dn_comm_size(comm), root = dn_comm_rank(comm) == 0;
    if (curve) *curve = (dn_pta_curve){0, NULL, NULL};
    uint8_t *all = calloc((size_t)K, DN_CKPT_RNG_BYTES);
    dist_header h = {{0}, {0, 0}};
    uint32_t crc = 0;
    dn_pta *pta = NULL;
    dn_status s = all ? DN_OK : dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    if (!s && root) s = read_root(path, mode, K, expect, &pta, curve, &crc, all, err);
    if (!s && root) pack_header(&h, pta, curve, crc);
    /* The outcome of reading decides for everyone; a rank short of memory
     * for the table above still joins (and then fails with the others). */
    s = dn_ckpt_agree(comm, s, path, err);
    if (!s) s = dn_comm_broadcast(comm, h.v, H_N, DN_COMM_U64, 0, err);
    if (!s) s = dn_comm_broadcast(comm, h.d, 2, DN_COMM_F64, 0, err);
    if (!s) s = dn_ckpt_agree(comm, root ? DN_OK : make_receiver(&h, &pta, curve, err), path, err);
    if (!s) s = share_state(comm, pta, curve, &h, err);
    if (!s) s = dn_ckpt_scatter_rng(comm, all, rng, err);
    free(all);
    if (s) {
        dn_pta_free(pta);
        dn_pta_curve_free(curve);
        return NULL;
    }
    if (data_crc32) *data_crc32 = (uint32_t)h.v[H_CRC];
    return pta;
}

/* ------------------------------------------------------- the public pair */

/* Without a communicator there is no job to describe and no rank's
 * generator to keep: a mode or rng then is a mistake, not a no-op. */
static dn_status check_local_args(const char *path, const char *mode, const void *rng, dn_error *err)
{
    if (mode || rng)
        return dn_fail(err, DN_ERR_USAGE, "%s: a single-process perceptron checkpoint (comm NULL) takes no %s", path,
                       mode ? "mode" : "rng");
    return DN_OK;
}

dn_status dn_pta_checkpoint_save(const dn_pta *pta, dn_comm *comm, const dn_pta_curve *curve, uint32_t data_crc32,
                                 const char *path, const char *mode, const dn_rng *rng, dn_error *err)
{
    if (comm) return save_collective(pta, comm, curve, data_crc32, path, mode ? mode : PTA_DEFAULT_MODE, rng, err);
    dn_status s = check_local_args(path, mode, rng, err);
    return s ? s : save_local(pta, curve, data_crc32, path, err);
}

dn_pta *dn_pta_checkpoint_load(dn_comm *comm, const char *path, const char *mode, const dn_pta_options *expect,
                               dn_pta_curve *curve, uint32_t *data_crc32, dn_rng *rng, dn_error *err)
{
    if (comm)
        return load_collective(comm, path, mode ? mode : PTA_DEFAULT_MODE, expect, curve, data_crc32, rng, err);
    if (curve) *curve = (dn_pta_curve){0, NULL, NULL};
    if (check_local_args(path, mode, rng, err)) return NULL;
    return load_local(path, expect, curve, data_crc32, err);
}
