/*
 * checkpoint_internal.h — what every model kind's checkpoint shares
 * (checkpoint.c): the safetensors container with "format" = "digitnet",
 * "format_version", "kind" = "<model>[-distributed]-checkpoint", metadata
 * values read back strictly, and the collective steps of a save or load
 * given a communicator. pta_checkpoint.c and mlp_checkpoint.c each build
 * their kind's public pair (dn_<model>_checkpoint_save / _load) on top.
 * Not installed.
 */
#ifndef DN_CHECKPOINT_INTERNAL_H
#define DN_CHECKPOINT_INTERNAL_H

#include "internal.h"

#define DN_CKPT_FORMAT "digitnet"
#define DN_CKPT_FORMAT_VERSION "1"
/* Version 2: a file that holds state a version-1 reader would silently
 * drop (an MLP's regularisation and model selection, mlp_checkpoint.c), so
 * that such a reader refuses it. Files without it stay version 1. Only
 * that kind reads it (dn_ckpt_read_v2); the others refuse it as before. */
#define DN_CKPT_FORMAT_VERSION_2 "2"
#define DN_CKPT_MAX_META 48 /* a regularised, augmented mlp run writes 31 */
#define DN_CKPT_VALUE_MAX 96 /* "%.17g" of any double, a u64, or a distributed job's description fits */

/* Metadata being built for a checkpoint: the format keys first, then
 * entries added with the dn_ckpt_put_* helpers (values copied in place). */
typedef struct dn_ckpt_meta {
    dn_meta_entry entries[DN_CKPT_MAX_META];
    char values[DN_CKPT_MAX_META][DN_CKPT_VALUE_MAX];
    size_t count;
    int overflow; /* an entry did not fit: dn_ckpt_write refuses */
} dn_ckpt_meta;

void dn_ckpt_meta_init(dn_ckpt_meta *m, const char *kind);
/* The same with another format_version (DN_CKPT_FORMAT_VERSION_2). */
void dn_ckpt_meta_init_version(dn_ckpt_meta *m, const char *kind, const char *version);
/* key must be a string literal (or outlive m). */
void dn_ckpt_put_string(dn_ckpt_meta *m, const char *key, const char *value);
void dn_ckpt_put_u64(dn_ckpt_meta *m, const char *key, uint64_t value);
/* "%.17g": strtod gives back the same double. */
void dn_ckpt_put_double(dn_ckpt_meta *m, const char *key, double value);

/* Writes tensors and m to path atomically (dn_st_write). */
dn_status dn_ckpt_write(const char *path, const dn_tensor *tensors, size_t ntensors, const dn_ckpt_meta *m,
                        dn_error *err);

/* Reads path and checks that it is a digitnet checkpoint of this kind with
 * a payload CRC. A model file gets a message saying it is not a checkpoint. */
dn_st_file *dn_ckpt_read(const char *path, const char *kind, dn_error *err);
/* The same, also reading format version 2 when reads_2 (a kind that writes it). */
dn_st_file *dn_ckpt_read_v2(const char *path, const char *kind, int reads_2, dn_error *err);

/* The value of key as an integer in [0, max]: decimal digits only, no sign,
 * space or overflow. DN_ERR_INPUT naming the file and key otherwise. */
dn_status dn_ckpt_get_u64(const dn_st_file *file, const char *path, const char *key, uint64_t max, uint64_t *out,
                          dn_error *err);
/* The value of key as a finite double (the whole string must parse). */
dn_status dn_ckpt_get_double(const dn_st_file *file, const char *path, const char *key, double *out, dn_error *err);
/* The value of key, which must be present. */
dn_status dn_ckpt_get_string(const dn_st_file *file, const char *path, const char *key, const char **out,
                             dn_error *err);

/* The tensor called name with exactly this dtype and shape (ndim values),
 * every value finite for F32 and F64. *out is NULL when it is absent and
 * not required. */
dn_status dn_ckpt_get_tensor(const dn_st_file *file, const char *path, const char *name, dn_dtype dtype, int ndim,
                             const size_t *shape, int required, const dn_tensor **out, dn_error *err);

/* ---- the collective steps, when a pair is given a communicator ----
 * Only rank 0 touches the file. What differs between ranks (each rank's
 * fault generator) is gathered to rank 0 before a save and broadcast after
 * a load; every step ends with an outcome all ranks share, so none is left
 * waiting in a collective another rank skipped. */

#define DN_CKPT_RNG_BYTES 32 /* a dn_rng as four little-endian u64 */

/* Collective. Rank 0's *all gets a malloc'd (K, DN_CKPT_RNG_BYTES) table,
 * row r = rank r's rng (zeros where rng is NULL); NULL elsewhere. The
 * status is the same on every rank. */
dn_status dn_ckpt_gather_rng(dn_comm *comm, const dn_rng *rng, uint8_t **all, const char *path, dn_error *err);

/* Collective. all (K × DN_CKPT_RNG_BYTES bytes on every rank) is rank 0's
 * table after the call; rng (may be NULL) gets this rank's row. */
dn_status dn_ckpt_scatter_rng(dn_comm *comm, uint8_t *all, dn_rng *rng, dn_error *err);

/* Collective: every rank gets rank 0's status local and its message. */
dn_status dn_ckpt_share_outcome(dn_comm *comm, dn_status local, dn_error *err);

/* Collective, after each rank did its part of a step (status local): DN_OK
 * everywhere when all succeeded; else rank 0's error on every rank when
 * rank 0 failed, and otherwise each failed rank keeps its own error and
 * the others get "a rank is out of memory" (a rank other than 0 only
 * allocates). */
dn_status dn_ckpt_agree(dn_comm *comm, dn_status local, const char *path, dn_error *err);

#endif /* DN_CHECKPOINT_INTERNAL_H */
