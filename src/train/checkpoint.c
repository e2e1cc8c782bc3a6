/* checkpoint.c — the parts every checkpoint kind shares (checkpoint_internal.h):
 * the container and its strict reading, then the collective steps of a save
 * or load given a communicator (moving the ranks' fault generators to and
 * from rank 0, agreeing on an outcome). pta_checkpoint.c and
 * mlp_checkpoint.c build each model kind's pair on top.
 *
 * A checkpoint is read back to rebuild a trainer, so every metadata value is
 * parsed strictly (a whole decimal string, a finite double) and every tensor
 * must have exactly the dtype and shape the trainer needs: a file that a
 * person or a fuzzer edited is refused with a message naming the key, never
 * half-trusted. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "text_cursor.h"

void dn_ckpt_meta_init_version(dn_ckpt_meta *m, const char *kind, const char *version)
{
    m->count = 0;
    m->overflow = 0;
    dn_ckpt_put_string(m, "format", DN_CKPT_FORMAT);
    dn_ckpt_put_string(m, "format_version", version);
    dn_ckpt_put_string(m, "kind", kind);
}

void dn_ckpt_meta_init(dn_ckpt_meta *m, const char *kind)
{
    dn_ckpt_meta_init_version(m, kind, DN_CKPT_FORMAT_VERSION);
}

void dn_ckpt_put_string(dn_ckpt_meta *m, const char *key, const char *value)
{
    if (m->count == DN_CKPT_MAX_META || strlen(value) >= DN_CKPT_VALUE_MAX) {
        m->overflow = 1;
        return;
    }
    char *slot = m->values[m->count];
    snprintf(slot, DN_CKPT_VALUE_MAX, "%s", value);
    m->entries[m->count++] = (dn_meta_entry){key, slot};
}

void dn_ckpt_put_u64(dn_ckpt_meta *m, const char *key, uint64_t value)
{
    char text[DN_CKPT_VALUE_MAX];
    snprintf(text, sizeof text, "%" PRIu64, value);
    dn_ckpt_put_string(m, key, text);
}

void dn_ckpt_put_double(dn_ckpt_meta *m, const char *key, double value)
{
    char text[DN_CKPT_VALUE_MAX];
    snprintf(text, sizeof text, "%.17g", value);
    dn_ckpt_put_string(m, key, text);
}

dn_status dn_ckpt_write(const char *path, const dn_tensor *tensors, size_t ntensors, const dn_ckpt_meta *m,
                        dn_error *err)
{
    if (m->overflow) return dn_fail(err, DN_ERR_USAGE, "%s: checkpoint metadata does not fit (internal error)", path);
    return dn_st_write(path, tensors, ntensors, m->entries, m->count, err);
}

/* A refused file's kind for the message: the kinds this build writes by
 * name, with who writes them; other text from the file is not echoed. */
static const char *kind_found(const char *found)
{
    static const char *const known[][2] = {
        {"pta-checkpoint", "pta-checkpoint, from a single-process run"},
        {"pta-distributed-checkpoint", "pta-distributed-checkpoint, from a distributed run"},
        {"mlp-distributed-checkpoint", "mlp-distributed-checkpoint, from an mlp run"},
    };
    if (!found) return "absent";
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(found, known[i][0]) == 0) return known[i][1];
    return strstr(found, "checkpoint") ? "another checkpoint" : "a model";
}

dn_st_file *dn_ckpt_read(const char *path, const char *kind, dn_error *err)
{
    return dn_ckpt_read_v2(path, kind, 0, err);
}

dn_st_file *dn_ckpt_read_v2(const char *path, const char *kind, int reads_2, dn_error *err)
{
    dn_st_file *file = dn_st_read(path, err);
    if (!file) return NULL;
    const char *format = dn_st_meta(file, "format"), *version = dn_st_meta(file, "format_version");
    const char *found = dn_st_meta(file, "kind");
    dn_status st = DN_OK;
    if (!format || strcmp(format, DN_CKPT_FORMAT) != 0)
        st = dn_fail(err, DN_ERR_INPUT, "%s: not a digitnet checkpoint (metadata 'format' is %s)", path,
                     format ? "not \"" DN_CKPT_FORMAT "\"" : "absent");
    else if (!version || (strcmp(version, DN_CKPT_FORMAT_VERSION) != 0 &&
                          !(reads_2 && strcmp(version, DN_CKPT_FORMAT_VERSION_2) == 0)))
        st = dn_fail(err, DN_ERR_INPUT, "%s: checkpoint format version is %s (this build reads %s)", path,
                     version ? "not supported" : "absent",
                     reads_2 ? DN_CKPT_FORMAT_VERSION " and " DN_CKPT_FORMAT_VERSION_2 : DN_CKPT_FORMAT_VERSION);
    else if (!found || strcmp(found, kind) != 0)
        st = dn_fail(err, DN_ERR_INPUT, "%s: not a %s (its kind is %s)", path, kind, kind_found(found));
    else if (!dn_st_meta(file, "payload_crc32"))
        st = dn_fail(err, DN_ERR_INPUT, "%s: checkpoint has no payload_crc32: cannot verify it", path);
    if (st != DN_OK) {
        dn_st_free(file);
        return NULL;
    }
    return file;
}

dn_status dn_ckpt_get_string(const dn_st_file *file, const char *path, const char *key, const char **out,
                             dn_error *err)
{
    *out = dn_st_meta(file, key);
    if (!*out) return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint metadata lacks '%s'", path, key);
    return DN_OK;
}

dn_status dn_ckpt_get_u64(const dn_st_file *file, const char *path, const char *key, uint64_t max, uint64_t *out,
                          dn_error *err)
{
    const char *text;
    dn_status st = dn_ckpt_get_string(file, path, key, &text, err);
    if (st != DN_OK) return st;
    if (dn_parse_u64(text, max, out) != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint metadata '%s' must be a whole number in [0, %" PRIu64 "]",
                       path, key, max);
    return DN_OK;
}

dn_status dn_ckpt_get_double(const dn_st_file *file, const char *path, const char *key, double *out, dn_error *err)
{
    const char *text;
    dn_status st = dn_ckpt_get_string(file, path, key, &text, err);
    if (st != DN_OK) return st;
    if (dn_parse_double(text, out) != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint metadata '%s' must be a finite number", path, key);
    return DN_OK;
}

static int all_finite(const dn_tensor *t, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double v = t->dtype == DN_DTYPE_F32 ? (double)((const float *)t->data)[i] : ((const double *)t->data)[i];
        if (!isfinite(v)) return 0;
    }
    return 1;
}

static const char *dtype_label(dn_dtype dtype)
{
    return dtype == DN_DTYPE_F32 ? "F32" : dtype == DN_DTYPE_F64 ? "F64" : dtype == DN_DTYPE_I64 ? "I64" : "U8";
}

dn_status dn_ckpt_get_tensor(const dn_st_file *file, const char *path, const char *name, dn_dtype dtype, int ndim,
                             const size_t *shape, int required, const dn_tensor **out, dn_error *err)
{
    const dn_tensor *t = dn_st_find(file, name);
    *out = NULL;
    if (!t) return required ? dn_fail(err, DN_ERR_INPUT, "%s: checkpoint has no tensor '%s'", path, name) : DN_OK;
    int same = t->dtype == dtype && t->ndim == ndim;
    size_t count = 1;
    for (int d = 0; same && d < ndim; d++) {
        same = t->shape[d] == shape[d];
        count *= shape[d]; /* equal to the file's shape, whose byte size dn_st_read bounded */
    }
    if (!same) {
        char want[64] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), d ? ", %zu" : "%zu", shape[d]);
        return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint tensor '%s' must be %s of shape (%s%s)", path, name,
                       dtype_label(dtype), want, ndim == 1 ? "," : "");
    }
    if ((dtype == DN_DTYPE_F32 || dtype == DN_DTYPE_F64) && !all_finite(t, count))
        return dn_fail(err, DN_ERR_INPUT, "%s: checkpoint tensor '%s' holds a non-finite value", path, name);
    *out = t;
    return DN_OK;
}

/* ------------------------------------------------ the collective steps */

static void rng_to_bytes(const uint64_t s[4], uint8_t *out)
{
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++) out[i * 8 + b] = (uint8_t)(s[i] >> (8 * b));
}

static void rng_from_bytes(const uint8_t *in, uint64_t s[4])
{
    for (int i = 0; i < 4; i++) {
        s[i] = 0;
        for (int b = 0; b < 8; b++) s[i] |= (uint64_t)in[i * 8 + b] << (8 * b);
    }
}

dn_status dn_ckpt_share_outcome(dn_comm *comm, dn_status local, dn_error *err)
{
    dn_error shared = {local, ""};
    if (local && err) shared = *err;
    dn_status s = dn_comm_broadcast(comm, &shared, sizeof shared, DN_COMM_BYTE, 0, err);
    if (s) return s;
    if (shared.code && err) *err = shared;
    return shared.code;
}

dn_status dn_ckpt_agree(dn_comm *comm, dn_status local, const char *path, dn_error *err)
{
    int failed = local != DN_OK;
    dn_status s = dn_comm_allreduce(comm, &failed, 1, DN_COMM_INT, DN_COMM_MAX, err);
    if (!s) s = dn_ckpt_share_outcome(comm, dn_comm_rank(comm) == 0 ? local : DN_OK, err);
    if (!s && failed) s = local ? local : dn_fail(err, DN_ERR_NOMEM, "%s: a rank is out of memory", path);
    return s;
}

dn_status dn_ckpt_gather_rng(dn_comm *comm, const dn_rng *rng, uint8_t **all, const char *path, dn_error *err)
{
    int root = dn_comm_rank(comm) == 0;
    uint8_t mine[DN_CKPT_RNG_BYTES] = {0};
    if (rng) rng_to_bytes(rng->s, mine);
    *all = root ? calloc((size_t)dn_comm_size(comm), DN_CKPT_RNG_BYTES) : NULL;
    dn_status local = root && !*all ? dn_fail(err, DN_ERR_NOMEM, "%s: rank 0 is out of memory for the checkpoint", path)
                                    : DN_OK;
    dn_status s = dn_ckpt_agree(comm, local, path, err);
    if (!s) s = dn_comm_gather(comm, mine, DN_CKPT_RNG_BYTES, DN_COMM_BYTE, *all, 0, err);
    if (s) {
        free(*all);
        *all = NULL;
    }
    return s;
}

dn_status dn_ckpt_scatter_rng(dn_comm *comm, uint8_t *all, dn_rng *rng, dn_error *err)
{
    size_t K = (size_t)dn_comm_size(comm), rank = (size_t)dn_comm_rank(comm);
    dn_status s = dn_comm_broadcast(comm, all, K * DN_CKPT_RNG_BYTES, DN_COMM_BYTE, 0, err);
    if (!s && rng) rng_from_bytes(all + rank * DN_CKPT_RNG_BYTES, rng->s);
    return s;
}
