/*
 * internal.h — helpers shared by the library's sources; not installed.
 */
#ifndef DN_INTERNAL_H
#define DN_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "digitnet.h"

#if defined(__GNUC__)
#define DN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DN_PRINTF(a, b)
#endif

/* Fills err (when not NULL) with code and a printf-style message; returns code
 * so that callers can write `return dn_fail(err, DN_ERR_IO, "...")`. */
dn_status dn_fail(dn_error *err, dn_status code, const char *fmt, ...) DN_PRINTF(3, 4);

/* Overflow-checked size arithmetic: return 0 and store the result, or 1 on
 * overflow (the result is then unspecified). */
static inline int dn_mul_overflows(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out); }
static inline int dn_add_overflows(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out); }

/* ---- crash-safe output files ----
 * dn_atomic_open creates "<path>.tmp.XXXXXX" in the folder of path;
 * dn_atomic_commit flushes, fsyncs, renames it over path and fsyncs the
 * folder; dn_atomic_abort removes the temporary file. Exactly one of commit
 * or abort must follow a successful open; either frees the handle. */
typedef struct dn_atomic_file {
    FILE *fp;
    char *final_path;
    char *temp_path;
} dn_atomic_file;

dn_status dn_atomic_open(dn_atomic_file *f, const char *path, dn_error *err);
/* fwrite that records failure; returns DN_OK or DN_ERR_IO naming the file. */
dn_status dn_atomic_write(dn_atomic_file *f, const void *data, size_t size, dn_error *err);
dn_status dn_atomic_commit(dn_atomic_file *f, dn_error *err);
void dn_atomic_abort(dn_atomic_file *f);


/* ---- safetensors container (used by every model kind) ----
 * Layout: u64 little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [..],
 *    "data_offsets": [begin, end]}, ...}
 * then the tensor bytes. Writers add "payload_crc32" (8 lowercase hex digits)
 * to the metadata; readers verify it when present. */
typedef enum dn_dtype { DN_DTYPE_F32 = 0, DN_DTYPE_F64 = 1, DN_DTYPE_U8 = 2, DN_DTYPE_I64 = 3 } dn_dtype;

#define DN_TENSOR_NAME_MAX 64
#define DN_TENSOR_MAX_DIMS 4

typedef struct dn_tensor {
    char name[DN_TENSOR_NAME_MAX];
    dn_dtype dtype;
    int ndim;
    size_t shape[DN_TENSOR_MAX_DIMS];
    const void *data; /* little-endian, C order; owned by whoever made the struct */
} dn_tensor;

typedef struct dn_meta_entry {
    const char *key;
    const char *value;
} dn_meta_entry;

size_t dn_dtype_size(dn_dtype dtype);

dn_status dn_st_write(const char *path, const dn_tensor *tensors, size_t ntensors, const dn_meta_entry *meta,
                      size_t nmeta, dn_error *err);

typedef struct dn_st_file dn_st_file; /* a parsed file held in memory */

/* Reads and validates path: header length against file size, JSON syntax,
 * dtypes, shapes, offsets (in range, contiguous, non-overlapping, size =
 * product of shape × dtype size), and payload_crc32 when present. */
dn_st_file *dn_st_read(const char *path, dn_error *err);
void dn_st_free(dn_st_file *file);
size_t dn_st_tensor_count(const dn_st_file *file);
/* i-th tensor in file order; data points into the file's buffer, aligned
 * for its dtype. */
const dn_tensor *dn_st_tensor_at(const dn_st_file *file, size_t i);
const dn_tensor *dn_st_find(const dn_st_file *file, const char *name);
size_t dn_st_meta_count(const dn_st_file *file);
const dn_meta_entry *dn_st_meta_at(const dn_st_file *file, size_t i);
const char *dn_st_meta(const dn_st_file *file, const char *key); /* NULL when absent */

/* Reads all of path into *out (caller frees) after checking that it is a
 * regular file of min_size to max_size bytes; a shorter one is refused as
 * "too short for <too_short_for>". */
dn_status dn_read_file(const char *path, size_t min_size, uint64_t max_size, const char *too_short_for,
                       unsigned char **out, size_t *size, dn_error *err);

/* dn_npy_read_f64 that also says which dtype the file holds: 'f' ('<f4'),
 * 'd' ('<f8') or 'u' ('|u1'), for readers that insist on one (npy.c). */
dn_status dn_npy_read_typed_(const char *path, double **data, size_t shape[4], int *ndim, char *dtype, dn_error *err);

/* ---- what a dataset keeps (dn_dataset.cache) ----
 * A model kind derives something from a set's images (the perceptron's
 * pixel index), stores it here once with a compare-and-swap and never
 * changes it after, so that any thread may read it; dn_dataset_free calls
 * its release. covers is the number of images the owning set holds: a view
 * from the first sample shares the cache and has at most that many. */
typedef struct dn_dataset_derived {
    void (*release)(struct dn_dataset_derived *self);
} dn_dataset_derived;

struct dn_dataset_cache {
    size_t covers;
    _Atomic(dn_dataset_derived *) pta_index;
    /* Set when the owning set's images are a private mapping of a raw IDX
     * file (dn_dataset_load), which dn_dataset_free unmaps instead of freeing. */
    void *images_map;
    size_t images_map_len;
};

/* An empty cache for a set of count images; NULL when out of memory. */
struct dn_dataset_cache *dn_dataset_cache_new_(size_t count);

/* Wall clock in seconds (monotonic). */
double dn_now_seconds(void);

/* A seed for the stream (seed, tag, a, b): splitmix64's finaliser applied
 * to each field in turn, so that nearby rounds, clients or tags give
 * unrelated streams (rng.c). The tags name what a stream is for. */
uint64_t dn_seed_derive_(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b);

#endif /* DN_INTERNAL_H */
