/*
 * pta_distributed_checkpoint.c — checkpoints of a distributed perceptron
 * run (`pta --distributed mix`; see dn_pta_dist_checkpoint_save in
 * digitnet.h).
 *
 * The file is the single-process checkpoint (pta_checkpoint_internal.h)
 * under its own kind, "pta-distributed-checkpoint", with "mode", "ranks"
 * and the tensor "rng" U8 (K, 32): each rank's fault generator. After every
 * mix all ranks hold the same W, so rank 0's trainer is the job's.
 *
 * Only rank 0 touches the file (checkpoint_comm.c has the collective
 * steps). After a load rank 0 broadcasts the trainer's options, counters,
 * raw state (W and avg_acc in the trainer's own layout: every rank runs the
 * same build) and curve, so every rank ends with the same trainer and a
 * cluster without a shared folder resumes too.
 */
#include <stdlib.h>
#include <string.h>

#include "pta_checkpoint_internal.h"
#include "pta_internal.h"

#define PTA_DIST_CKPT_KIND "pta-distributed-checkpoint"
#define MAX_RANKS (1u << 20)

dn_status dn_pta_dist_checkpoint_save(const dn_pta *pta, dn_comm *comm, const dn_pta_curve *curve,
                                      uint32_t data_crc32, const char *path, const char *mode, const dn_rng *rng,
                                      dn_error *err)
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
        written = dn_pta_ckpt_write(pta, curve, data_crc32, path, &m, &t, 1, err);
    }
    free(all);
    return dn_ckpt_share_outcome(comm, written, err);
}

/* --------------------------------------------------------------- loading */

/* The job shape: the same mode and number of ranks. */
static dn_status check_shape(const dn_st_file *f, const char *path, const char *mode, int K, dn_error *err)
{
    const char *found;
    uint64_t ranks;
    dn_status s = dn_ckpt_get_string(f, path, "mode", &found, err);
    if (!s) s = dn_ckpt_get_u64(f, path, "ranks", MAX_RANKS, &ranks, err);
    if (s) return s;
    if (strcmp(found, mode) != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: written by a job run as --distributed %s, this one runs as %s: resume with the "
                       "flags the job started with", path, found, mode);
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
    if (!s) s = dn_pta_ckpt_restore(f, path, expect, pta, curve, crc, err);
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

dn_pta *dn_pta_dist_checkpoint_load(dn_comm *comm, const char *path, const char *mode, const dn_pta_options *expect,
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
