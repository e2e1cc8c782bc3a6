/* mirror_comm.h — a communicator backend for the tests that plays rank 0 of
 * a job of DN_MIRROR_K identical replicas in one process: an allreduce sums
 * K equal values (×K; max and min leave them), a broadcast from any rank
 * changes nothing, a gather yields K copies. With every rank on the same
 * samples, a distributed trainer over it must land where the local run
 * lands. The state counts the calls, so a test can see the backend used.
 * Define DN_MIRROR_K before including (default 3); include after <cmocka.h>
 * and digitnet.h. */
#ifndef DN_TESTS_MIRROR_COMM_H
#define DN_TESTS_MIRROR_COMM_H

#include <string.h>

#ifndef DN_MIRROR_K
#define DN_MIRROR_K 3
#endif

typedef struct dn_test_mirror {
    int collectives, finished, aborted;
} dn_test_mirror;

static size_t dn_test_mirror_type_size(dn_comm_type t)
{
    return t == DN_COMM_BYTE ? 1 : t == DN_COMM_INT ? sizeof(int) : t == DN_COMM_F32 ? sizeof(float) : 8;
}

static dn_status dn_test_mirror_allreduce(void *state, void *buf, size_t n, dn_comm_type type, dn_comm_op op,
                                          dn_error *err)
{
    (void)err;
    ((dn_test_mirror *)state)->collectives++;
    if (op != DN_COMM_SUM) return DN_OK;
    for (size_t i = 0; i < n; i++) {
        switch (type) {
        case DN_COMM_INT: ((int *)buf)[i] *= DN_MIRROR_K; break;
        case DN_COMM_U64: ((uint64_t *)buf)[i] *= DN_MIRROR_K; break;
        case DN_COMM_F32: ((float *)buf)[i] *= DN_MIRROR_K; break;
        case DN_COMM_F64: ((double *)buf)[i] *= DN_MIRROR_K; break;
        case DN_COMM_BYTE: break;
        }
    }
    return DN_OK;
}

static dn_status dn_test_mirror_broadcast(void *state, void *buf, size_t n, dn_comm_type type, int root,
                                          dn_error *err)
{
    (void)buf, (void)n, (void)type, (void)root, (void)err;
    ((dn_test_mirror *)state)->collectives++;
    return DN_OK;
}

static dn_status dn_test_mirror_gather(void *state, const void *send, size_t n, dn_comm_type type, void *recv,
                                       int root, dn_error *err)
{
    (void)root, (void)err;
    ((dn_test_mirror *)state)->collectives++;
    size_t bytes = n * dn_test_mirror_type_size(type);
    for (int r = 0; r < DN_MIRROR_K; r++) memcpy((char *)recv + (size_t)r * bytes, send, bytes);
    return DN_OK;
}

static void dn_test_mirror_finish(void *state) { ((dn_test_mirror *)state)->finished++; }
static void dn_test_mirror_abort(void *state, int code) { ((dn_test_mirror *)state)->aborted = code; }

/* The backend over m (the caller's, which must outlive the communicator). */
static inline dn_comm_backend dn_test_mirror_backend(dn_test_mirror *m)
{
    return (dn_comm_backend){.rank = 0, .size = DN_MIRROR_K, .state = m, .allreduce = dn_test_mirror_allreduce,
                             .broadcast = dn_test_mirror_broadcast, .gather = dn_test_mirror_gather,
                             .abort = dn_test_mirror_abort, .finish = dn_test_mirror_finish};
}

/* A communicator over a fresh mirror m; the test fails when it cannot be made. */
static inline dn_comm *dn_test_mirror_comm(dn_test_mirror *m)
{
    dn_comm_backend b = dn_test_mirror_backend(m);
    dn_error err = {0};
    dn_comm *comm = dn_comm_create(&b, &err);
    assert_non_null(comm);
    return comm;
}

#endif /* DN_TESTS_MIRROR_COMM_H */
