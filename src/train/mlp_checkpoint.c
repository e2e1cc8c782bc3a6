/*
 * mlp_checkpoint.c — checkpoints of a network's training run (see
 * dn_mlp_checkpoint_save in digitnet.h), on the shared checkpoint container
 * (checkpoint_internal.h). One kind, "mlp-distributed-checkpoint", for a
 * single process too: without a communicator the pair runs as a job of one
 * (dn_comm_local), so the file and the code are the same either way.
 *
 * Only rank 0 touches the file. Saving gathers what differs between ranks
 * (each rank's fault generator) to rank 0 first; loading broadcasts
 * everything rank 0 read, so a cluster without a shared folder resumes too.
 * Either way the outcome is broadcast, so every rank returns the same status
 * and none is left waiting in a collective (the collective steps are
 * checkpoint.c's, shared with the PTA's pta_checkpoint.c).
 *
 * Tensors: "params" F32 (P), "moment1" / "moment2" F32 (P) when the
 * optimiser has them, "server_moment1" / "server_moment2" F64 (P) when
 * rank 0 holds a federated server optimiser's state (FedAvgM's velocity or
 * FedAdam's m; FedAdam's v), "client_flags" I64 (K) when rank 0 counts
 * the rounds each virtual client was flagged in (detection's reputation),
 * "rng" U8 (K, 32): each rank's xoshiro state
 * as four little-endian u64. The server state stays on rank 0, the only
 * rank that uses it (the flags too): a load neither broadcasts it nor gives it to others.
 * Files without it (older ones, plain runs) load with no server state: a
 * run that needs one starts it at zero.
 *
 * Regularisation and model selection (digitnet.h), in format version 2
 * (checkpoint_internal.h), written only by a run that uses any of them, so
 * that a reader of version 1 refuses what it would silently drop: the
 * options as metadata ("dropout_input", "dropout_hidden", "max_norm",
 * "label_smoothing", "ema", "keep_best", "patience", and the augmentation's
 * "augment_elastic", "augment_sigma", "augment_alpha", "augment_affine",
 * "augment_rotate", "augment_scale", "augment_shear", "augment_shift", the
 * values of a part that is off written 0; a resume with others is
 * refused; a version-1 file has them all 0), the state as metadata
 * ("ema_live", "best_epoch", "best_accuracy", "last_accuracy",
 * "since_best") and tensors "ema" F32 (P) when the EMA is live, "best" F32
 * (P) when keep_best holds a best epoch. Dropout has no generator state to
 * keep: its masks are a hash of (seed, epoch, position, layer, unit);
 * nor has augmentation: each distortion is a hash of (seed, epoch, row). All
 * of it is rank 0's, like the server state: these runs are of one process
 * (the distributed epochs refuse them).
 */
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "mlp_internal.h"

#define DIST_CKPT_KIND "mlp-distributed-checkpoint"
#define RNG_BYTES DN_CKPT_RNG_BYTES
#define DEFAULT_MODE "sync"

/* ------------------------------------------ regularisation and model selection */

#define NREG 15
static const char *const reg_keys[NREG] = {
    "dropout_input",   "dropout_hidden",  "max_norm",       "label_smoothing", "ema",
    "keep_best",       "patience",        "augment_elastic", "augment_sigma",  "augment_alpha",
    "augment_affine",  "augment_rotate",  "augment_scale",  "augment_shear",   "augment_shift"};

static void reg_values(const dn_mlp_options *o, double v[NREG])
{
    const dn_augment *a = &o->augment;
    v[0] = o->dropout_input, v[1] = o->dropout_hidden, v[2] = o->max_norm, v[3] = o->label_smoothing;
    v[4] = o->ema, v[5] = o->keep_best, v[6] = o->patience;
    v[7] = a->elastic, v[8] = a->elastic ? a->sigma : 0, v[9] = a->elastic ? a->alpha : 0;
    v[10] = a->affine, v[11] = a->affine ? a->rotate : 0, v[12] = a->affine ? a->scale : 0;
    v[13] = a->affine ? a->shear : 0, v[14] = a->affine ? a->shift : 0;
}

static int needs_version_2(const dn_mlp *mlp)
{
    return dn_mlp_regularised_(&mlp->opt) || dn_augment_active(&mlp->opt.augment) || mlp->opt.keep_best ||
           mlp->opt.patience > 0 || mlp->best_epoch > 0;
}

static void put_regularisation(dn_ckpt_meta *m, const dn_mlp *mlp)
{
    double v[NREG];
    reg_values(&mlp->opt, v);
    for (int i = 0; i < NREG; i++) dn_ckpt_put_double(m, reg_keys[i], v[i]);
    dn_ckpt_put_u64(m, "ema_live", (uint64_t)mlp->ema_live);
    dn_ckpt_put_u64(m, "best_epoch", (uint64_t)mlp->best_epoch);
    dn_ckpt_put_double(m, "best_accuracy", mlp->best_accuracy);
    dn_ckpt_put_double(m, "last_accuracy", mlp->last_accuracy);
    dn_ckpt_put_u64(m, "since_best", (uint64_t)mlp->since_best);
}

/* key's value, or 0 when the file lacks it (version 1: all off). */
static dn_status get_double_or_0(const dn_st_file *f, const char *path, const char *key, double *out, dn_error *err)
{
    *out = 0;
    return dn_st_meta(f, key) ? dn_ckpt_get_double(f, path, key, out, err) : DN_OK;
}

static dn_status get_u64_or_0(const dn_st_file *f, const char *path, const char *key, uint64_t *out, dn_error *err)
{
    *out = 0;
    return dn_st_meta(f, key) ? dn_ckpt_get_u64(f, path, key, 1u << 30, out, err) : DN_OK;
}

/* A resume must regularise and select as the run it continues did. */
static dn_status check_regularisation(const dn_st_file *f, const char *path, const dn_mlp *mlp, dn_error *err)
{
    double want[NREG], found;
    reg_values(&mlp->opt, want);
    for (int i = 0; i < NREG; i++) {
        dn_status s = get_double_or_0(f, path, reg_keys[i], &found, err);
        if (s) return s;
        if (found != want[i])
            return dn_fail(err, DN_ERR_INPUT, "%s: written by a run with %s %g, this one has %g: resume with the "
                           "options the run started with", path, reg_keys[i], found, want[i]);
    }
    return DN_OK;
}

/* Rank 0: a parameter-shaped tensor of the file into *buf (allocated when
 * NULL), or *buf freed when the file has none. */
static dn_status take_params_tensor(float **buf, const dn_st_file *f, const char *path, const char *name, size_t P,
                                    int required, dn_error *err)
{
    const dn_tensor *t = NULL;
    size_t shape[1] = {P};
    dn_status s = dn_ckpt_get_tensor(f, path, name, DN_DTYPE_F32, 1, shape, required, &t, err);
    if (s) return s;
    if (!t) {
        free(*buf);
        *buf = NULL;
        return DN_OK;
    }
    if (!*buf && !(*buf = dn_mlp_alloc_floats_(P))) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    memcpy(*buf, t->data, P * sizeof(float));
    return DN_OK;
}

/* Rank 0: the EMA and the model selection's state as the file has them. */
static dn_status read_selection(dn_mlp *mlp, const dn_st_file *f, const char *path, dn_error *err)
{
    uint64_t ema_live, best_epoch, since_best;
    double best_accuracy, last_accuracy;
    dn_status s = get_u64_or_0(f, path, "ema_live", &ema_live, err);
    if (!s) s = get_u64_or_0(f, path, "best_epoch", &best_epoch, err);
    if (!s) s = get_u64_or_0(f, path, "since_best", &since_best, err);
    if (!s) s = get_double_or_0(f, path, "best_accuracy", &best_accuracy, err);
    if (!s) s = get_double_or_0(f, path, "last_accuracy", &last_accuracy, err);
    if (!s) s = take_params_tensor(&mlp->ema, f, path, "ema", mlp->nparams, ema_live != 0, err);
    int has_best = mlp->opt.keep_best && best_epoch > 0;
    if (!s) s = take_params_tensor(&mlp->best, f, path, "best", mlp->nparams, has_best, err);
    if (s) return s;
    mlp->ema_live = mlp->ema != NULL;
    mlp->best_epoch = (int)best_epoch, mlp->since_best = (int)since_best;
    mlp->best_accuracy = best_accuracy, mlp->last_accuracy = last_accuracy;
    return DN_OK;
}

/* ---------------------------------------------------------------- saving */

static dn_status write_file(dn_mlp *mlp, const char *path, const char *mode, int K, const uint8_t *rng,
                            dn_error *err)
{
    char hidden[DN_CKPT_VALUE_MAX];
    dn_mlp_hidden_text_(&mlp->opt, hidden, sizeof hidden);
    dn_ckpt_meta m;
    const int v2 = needs_version_2(mlp);
    dn_ckpt_meta_init_version(&m, DIST_CKPT_KIND, v2 ? DN_CKPT_FORMAT_VERSION_2 : DN_CKPT_FORMAT_VERSION);
    dn_ckpt_put_string(&m, "mode", mode);
    dn_ckpt_put_u64(&m, "ranks", (uint64_t)K);
    dn_ckpt_put_string(&m, "hidden", hidden);
    dn_ckpt_put_u64(&m, "params", mlp->nparams);
    dn_ckpt_put_u64(&m, "seed", mlp->opt.seed);
    dn_ckpt_put_u64(&m, "epochs_done", (uint64_t)mlp->epochs_done);
    dn_ckpt_put_u64(&m, "train_size", mlp->train_size);
    dn_ckpt_put_u64(&m, "adam_t", mlp->adam_t);
    if (v2) put_regularisation(&m, mlp);
    dn_tensor t[9];
    size_t n = 0;
    t[n++] = (dn_tensor){"params", DN_DTYPE_F32, 1, {mlp->nparams}, mlp->params};
    if (mlp->moment1) t[n++] = (dn_tensor){"moment1", DN_DTYPE_F32, 1, {mlp->nparams}, mlp->moment1};
    if (mlp->moment2) t[n++] = (dn_tensor){"moment2", DN_DTYPE_F32, 1, {mlp->nparams}, mlp->moment2};
    if (mlp->server_m) t[n++] = (dn_tensor){"server_moment1", DN_DTYPE_F64, 1, {mlp->nparams}, mlp->server_m};
    if (mlp->server_v) t[n++] = (dn_tensor){"server_moment2", DN_DTYPE_F64, 1, {mlp->nparams}, mlp->server_v};
    if (mlp->client_flags)
        t[n++] = (dn_tensor){"client_flags", DN_DTYPE_I64, 1, {mlp->client_flags_n}, mlp->client_flags};
    if (v2 && mlp->ema_live) t[n++] = (dn_tensor){"ema", DN_DTYPE_F32, 1, {mlp->nparams}, mlp->ema};
    if (v2 && mlp->best) t[n++] = (dn_tensor){"best", DN_DTYPE_F32, 1, {mlp->nparams}, mlp->best};
    t[n++] = (dn_tensor){"rng", DN_DTYPE_U8, 2, {(size_t)K, RNG_BYTES}, rng};
    return dn_ckpt_write(path, t, n, &m, err);
}

static dn_status save(dn_mlp *mlp, dn_comm *comm, const char *path, const char *mode, const dn_rng *rng,
                      dn_error *err)
{
    uint8_t *all = NULL;
    dn_status s = dn_ckpt_gather_rng(comm, rng, &all, path, err);
    if (s) return s;
    dn_status written = all ? write_file(mlp, path, mode, dn_comm_size(comm), all, err) : DN_OK; /* rank 0 */
    free(all);
    return dn_ckpt_share_outcome(comm, written, err);
}

/* --------------------------------------------------------------- loading */

/* What rank 0 read, in the order it is broadcast. */
typedef struct dist_saved {
    uint64_t has_moment1, has_moment2, adam_t, epochs_done, train_size;
} dist_saved;

static dn_status check_meta(const dn_st_file *f, const char *path, const dn_mlp *mlp, const char *mode, int K,
                            dist_saved *saved, dn_error *err)
{
    const char *found_mode, *found_hidden;
    uint64_t ranks, params;
    char hidden[DN_CKPT_VALUE_MAX];
    dn_mlp_hidden_text_(&mlp->opt, hidden, sizeof hidden);
    dn_status s = dn_ckpt_get_string(f, path, "mode", &found_mode, err);
    if (!s) s = dn_ckpt_get_string(f, path, "hidden", &found_hidden, err);
    if (!s) s = dn_ckpt_get_u64(f, path, "ranks", 1u << 20, &ranks, err);
    if (!s) s = dn_ckpt_get_u64(f, path, "params", DN_MLP_MAX_PARAMS, &params, err);
    if (!s) s = dn_ckpt_get_u64(f, path, "epochs_done", 1u << 30, &saved->epochs_done, err);
    if (!s) s = dn_ckpt_get_u64(f, path, "train_size", DN_DATASET_MAX_COUNT, &saved->train_size, err);
    if (!s) s = dn_ckpt_get_u64(f, path, "adam_t", UINT64_MAX, &saved->adam_t, err);
    if (s) return s;
    if (strcmp(found_mode, mode) != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: written by a job run as '%s', this one runs as '%s': resume with the "
                       "settings the job started with", path, found_mode, mode);
    if (ranks != (uint64_t)K)
        return dn_fail(err, DN_ERR_INPUT, "%s: written by a job of %llu ranks; resume it with mpirun -np %llu", path,
                       (unsigned long long)ranks, (unsigned long long)ranks);
    if (strcmp(found_hidden, hidden) != 0 || params != mlp->nparams)
        return dn_fail(err, DN_ERR_INPUT, "%s: a network with hidden layers \"%s\", not \"%s\"", path, found_hidden,
                       hidden);
    return DN_OK;
}

/* Rank 0: the server state as the file has it: copied in, or absent (freed). */
static int take_server_state(double **state, const dn_tensor *t, size_t P)
{
    if (!t) {
        free(*state);
        *state = NULL;
        return 1;
    }
    if (!*state && !(*state = malloc(P * sizeof(double)))) return 0;
    memcpy(*state, t->data, P * sizeof(double));
    return 1;
}

/* Rank 0: the reputation's counters as the file has them (any number of
 * clients: the job description fixes K), or none. */
static dn_status take_client_flags(dn_mlp *mlp, const dn_st_file *f, const char *path, dn_error *err)
{
    const dn_tensor *found = dn_st_find(f, "client_flags"), *t = NULL;
    free(mlp->client_flags);
    mlp->client_flags = NULL, mlp->client_flags_n = 0;
    if (!found) return DN_OK;
    size_t shape[1] = {found->ndim == 1 ? found->shape[0] : 0};
    dn_status s = dn_ckpt_get_tensor(f, path, "client_flags", DN_DTYPE_I64, 1, shape, 1, &t, err);
    if (s) return s;
    int64_t *flags = malloc((shape[0] ? shape[0] : 1) * sizeof *flags);
    if (!flags) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for the clients' flags", path);
    memcpy(flags, t->data, shape[0] * sizeof *flags);
    for (size_t k = 0; k < shape[0]; k++)
        if (flags[k] < 0) {
            long long bad = (long long)flags[k];
            free(flags);
            return dn_fail(err, DN_ERR_INPUT, "%s: client %zu's flag count is %lld: counts are at least 0", path, k,
                           bad);
        }
    mlp->client_flags = flags, mlp->client_flags_n = shape[0];
    return DN_OK;
}

/* Rank 0: reads path into mlp (params, moments, server state) and *saved, rng into all. */
static dn_status read_file(dn_mlp *mlp, const char *path, const char *mode, int K, dist_saved *saved, uint8_t *all,
                           dn_error *err)
{
    dn_st_file *f = dn_ckpt_read_v2(path, DIST_CKPT_KIND, 1, err);
    if (!f) return err ? err->code : DN_ERR_INPUT;
    const dn_tensor *params, *m1, *m2, *sm1, *sm2, *rng;
    size_t p_shape[1] = {mlp->nparams}, rng_shape[2] = {(size_t)K, RNG_BYTES};
    dn_status s = check_meta(f, path, mlp, mode, K, saved, err);
    if (!s) s = check_regularisation(f, path, mlp, err);
    if (!s) s = dn_ckpt_get_tensor(f, path, "params", DN_DTYPE_F32, 1, p_shape, 1, &params, err);
    if (!s) s = dn_ckpt_get_tensor(f, path, "moment1", DN_DTYPE_F32, 1, p_shape, 0, &m1, err);
    if (!s) s = dn_ckpt_get_tensor(f, path, "moment2", DN_DTYPE_F32, 1, p_shape, 0, &m2, err);
    if (!s) s = dn_ckpt_get_tensor(f, path, "server_moment1", DN_DTYPE_F64, 1, p_shape, 0, &sm1, err);
    if (!s) s = dn_ckpt_get_tensor(f, path, "server_moment2", DN_DTYPE_F64, 1, p_shape, 0, &sm2, err);
    if (!s && sm2 && !sm1)
        s = dn_fail(err, DN_ERR_INPUT, "%s: \"server_moment2\" without \"server_moment1\": FedAdam keeps both", path);
    if (!s) s = dn_ckpt_get_tensor(f, path, "rng", DN_DTYPE_U8, 2, rng_shape, 1, &rng, err);
    if (!s) {
        memcpy(mlp->params, params->data, mlp->nparams * sizeof(float));
        saved->has_moment1 = m1 != NULL, saved->has_moment2 = m2 != NULL;
        if (m1 && (mlp->moment1 || (mlp->moment1 = malloc(mlp->nparams * sizeof(float)))))
            memcpy(mlp->moment1, m1->data, mlp->nparams * sizeof(float));
        if (m2 && (mlp->moment2 || (mlp->moment2 = malloc(mlp->nparams * sizeof(float)))))
            memcpy(mlp->moment2, m2->data, mlp->nparams * sizeof(float));
        if ((m1 && !mlp->moment1) || (m2 && !mlp->moment2))
            s = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for the optimiser state", path);
        if (!take_server_state(&mlp->server_m, sm1, mlp->nparams) ||
            !take_server_state(&mlp->server_v, sm2, mlp->nparams))
            s = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for the server optimiser's state", path);
        memcpy(all, rng->data, (size_t)K * RNG_BYTES);
    }
    if (!s) s = take_client_flags(mlp, f, path, err);
    if (!s) s = read_selection(mlp, f, path, err);
    dn_st_free(f);
    return s;
}

/* A moment buffer as the checkpoint says: received, or absent (freed). */
static dn_status receive_moment(dn_comm *comm, float **moment, size_t P, uint64_t present, dn_error *err)
{
    if (!present) {
        free(*moment); /* the optimiser allocates it again, zeroed, on its next update */
        *moment = NULL;
        return DN_OK;
    }
    int failed = !*moment && !(*moment = malloc(P * sizeof(float)));
    dn_status s = dn_comm_allreduce(comm, &failed, 1, DN_COMM_INT, DN_COMM_MAX, err);
    if (!s && failed) s = dn_fail(err, DN_ERR_NOMEM, "out of memory for the optimiser state");
    if (!s) s = dn_comm_broadcast(comm, *moment, P, DN_COMM_F32, 0, err);
    return s;
}

static dn_status receive_state(dn_mlp *mlp, dn_comm *comm, dist_saved *saved, dn_error *err)
{
    dn_status s = dn_comm_broadcast(comm, saved, 5, DN_COMM_U64, 0, err);
    if (!s) s = dn_comm_broadcast(comm, mlp->params, mlp->nparams, DN_COMM_F32, 0, err);
    if (!s) s = receive_moment(comm, &mlp->moment1, mlp->nparams, saved->has_moment1, err);
    if (!s) s = receive_moment(comm, &mlp->moment2, mlp->nparams, saved->has_moment2, err);
    if (s) return s;
    mlp->adam_t = saved->adam_t;
    mlp->epochs_done = (int)saved->epochs_done;
    mlp->train_size = (size_t)saved->train_size;
    return DN_OK;
}

static dn_status load(dn_mlp *mlp, dn_comm *comm, const char *path, const char *mode, dn_rng *rng, dn_error *err)
{
    int K = dn_comm_size(comm), rank = dn_comm_rank(comm);
    uint8_t *all = calloc((size_t)K, RNG_BYTES);
    dist_saved saved = {0, 0, 0, 0, 0};
    dn_status s = all ? DN_OK : dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    if (!s && rank == 0) s = read_file(mlp, path, mode, K, &saved, all, err);
    /* The outcome of reading decides for everyone; a rank short of memory
     * for the table above still joins (and then fails with the others). */
    dn_status shared = dn_ckpt_agree(comm, s, path, err);
    if (!shared) shared = receive_state(mlp, comm, &saved, err);
    if (!shared) shared = dn_ckpt_scatter_rng(comm, all, rng, err);
    free(all);
    return shared;
}

/* ------------------------------------------------------- the public pair */

/* comm NULL: a job of one, made and freed here (no MPI). */
dn_status dn_mlp_checkpoint_save(dn_mlp *mlp, dn_comm *comm, const char *path, const char *mode, const dn_rng *rng,
                                 dn_error *err)
{
    if (comm) return save(mlp, comm, path, mode ? mode : DEFAULT_MODE, rng, err);
    dn_comm *one = dn_comm_local(err);
    if (!one) return err ? err->code : DN_ERR_NOMEM;
    dn_status s = save(mlp, one, path, mode ? mode : DEFAULT_MODE, rng, err);
    dn_comm_free(one);
    return s;
}

dn_status dn_mlp_checkpoint_load(dn_mlp *mlp, dn_comm *comm, const char *path, const char *mode, dn_rng *rng,
                                 dn_error *err)
{
    if (comm) return load(mlp, comm, path, mode ? mode : DEFAULT_MODE, rng, err);
    dn_comm *one = dn_comm_local(err);
    if (!one) return err ? err->code : DN_ERR_NOMEM;
    dn_status s = load(mlp, one, path, mode ? mode : DEFAULT_MODE, rng, err);
    dn_comm_free(one);
    return s;
}
