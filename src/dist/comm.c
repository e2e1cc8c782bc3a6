/*
 * comm.c — the communicator the distributed trainers talk to: a rank, a
 * size and three collectives (and optionally a non-blocking allreduce),
 * carried out by a backend. The trainers never
 * see the transport: MPI is one backend (src/mpi, libdigitnet_dist), the
 * local job of one is another (here), and a program may bring its own
 * (dn_comm_create), so every trainer runs and is tested without MPI.
 *
 * A job of one needs no backend at all: each collective of one process is
 * the identity (a gather a copy), answered here before any backend call.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct dn_comm {
    dn_comm_backend backend; /* rank and size included; no functions for the local job */
};

static size_t type_size(dn_comm_type type)
{
    switch (type) {
    case DN_COMM_BYTE: return 1;
    case DN_COMM_INT: return sizeof(int);
    case DN_COMM_U64: return sizeof(uint64_t);
    case DN_COMM_F32: return sizeof(float);
    case DN_COMM_F64: return sizeof(double);
    }
    return 1;
}

static dn_comm *comm_new(const dn_comm_backend *backend, dn_error *err)
{
    dn_comm *comm = calloc(1, sizeof *comm);
    if (!comm) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the communicator");
        return NULL;
    }
    comm->backend = *backend;
    return comm;
}

dn_comm *dn_comm_local(dn_error *err)
{
    dn_comm_backend one = {.rank = 0, .size = 1};
    return comm_new(&one, err);
}

dn_comm *dn_comm_create(const dn_comm_backend *backend, dn_error *err)
{
    if (!backend) {
        dn_fail(err, DN_ERR_USAGE, "communicator: no backend given");
        return NULL;
    }
    if (backend->size < 1 || backend->rank < 0 || backend->rank >= backend->size) {
        dn_fail(err, DN_ERR_USAGE, "communicator: rank %d of a job of %d processes (need 0 <= rank < size)",
                backend->rank, backend->size);
        return NULL;
    }
    if (!backend->iallreduce != !backend->test || !backend->iallreduce != !backend->wait) {
        dn_fail(err, DN_ERR_USAGE, "communicator: iallreduce, test and wait come together (all three or none)");
        return NULL;
    }
    if (backend->size > 1 && (!backend->allreduce || !backend->broadcast || !backend->gather)) {
        dn_fail(err, DN_ERR_USAGE, "communicator: a job of %d processes needs allreduce, broadcast and gather",
                backend->size);
        return NULL;
    }
    return comm_new(backend, err);
}

void dn_comm_free(dn_comm *comm)
{
    if (!comm) return;
    if (comm->backend.finish) comm->backend.finish(comm->backend.state);
    free(comm);
}

void dn_comm_abort(dn_comm *comm, int code)
{
    if (comm && comm->backend.abort) comm->backend.abort(comm->backend.state, code);
}

int dn_comm_rank(const dn_comm *comm) { return comm->backend.rank; }
int dn_comm_size(const dn_comm *comm) { return comm->backend.size; }

dn_status dn_comm_allreduce(dn_comm *comm, void *buf, size_t n, dn_comm_type type, dn_comm_op op, dn_error *err)
{
    if (type == DN_COMM_BYTE && op == DN_COMM_SUM)
        return dn_fail(err, DN_ERR_USAGE, "allreduce: bytes cannot be summed");
    if (comm->backend.size == 1 || n == 0) return DN_OK;
    return comm->backend.allreduce(comm->backend.state, buf, n, type, op, err);
}

dn_status dn_comm_iallreduce(dn_comm *comm, void *buf, size_t n, dn_comm_type type, dn_comm_op op,
                             dn_comm_request *request, dn_error *err)
{
    request->handle = NULL;
    if (!comm->backend.iallreduce || comm->backend.size == 1 || n == 0)
        return dn_comm_allreduce(comm, buf, n, type, op, err);
    if (type == DN_COMM_BYTE && op == DN_COMM_SUM)
        return dn_fail(err, DN_ERR_USAGE, "allreduce: bytes cannot be summed");
    return comm->backend.iallreduce(comm->backend.state, buf, n, type, op, &request->handle, err);
}

dn_status dn_comm_test(dn_comm *comm, dn_comm_request *request, int *done, dn_error *err)
{
    *done = 1;
    if (!request->handle) return DN_OK;
    return comm->backend.test(comm->backend.state, &request->handle, done, err);
}

dn_status dn_comm_wait(dn_comm *comm, dn_comm_request *request, dn_error *err)
{
    if (!request->handle) return DN_OK;
    return comm->backend.wait(comm->backend.state, &request->handle, err);
}

dn_status dn_comm_broadcast(dn_comm *comm, void *buf, size_t n, dn_comm_type type, int root, dn_error *err)
{
    if (root < 0 || root >= comm->backend.size)
        return dn_fail(err, DN_ERR_USAGE, "broadcast: root %d outside the job of %d", root, comm->backend.size);
    if (comm->backend.size == 1 || n == 0) return DN_OK;
    return comm->backend.broadcast(comm->backend.state, buf, n, type, root, err);
}

dn_status dn_comm_gather(dn_comm *comm, const void *send, size_t n, dn_comm_type type, void *recv, int root,
                         dn_error *err)
{
    if (root < 0 || root >= comm->backend.size)
        return dn_fail(err, DN_ERR_USAGE, "gather: root %d outside the job of %d", root, comm->backend.size);
    if (comm->backend.size == 1) {
        if (n) memmove(recv, send, n * type_size(type));
        return DN_OK;
    }
    return comm->backend.gather(comm->backend.state, send, n, type, recv, root, err);
}

dn_status dn_comm_allreduce_sum_ordered_f32(dn_comm *comm, float *buf, size_t n, dn_error *err)
{
    if (comm->backend.size == 1) return DN_OK;
    size_t k = (size_t)comm->backend.size, bytes;
    float *all = NULL;
    int failed = 0;
    if (comm->backend.rank == 0)
        failed = dn_mul_overflows(k, n ? n : 1, &bytes) || dn_mul_overflows(bytes, sizeof *all, &bytes) ||
                 !(all = malloc(bytes));
    /* Every rank learns whether rank 0 could make room, so none waits in a
     * gather that rank 0 never joins. */
    dn_status s = dn_comm_allreduce(comm, &failed, 1, DN_COMM_INT, DN_COMM_MAX, err);
    if (s) {
        free(all);
        return s;
    }
    if (failed) return dn_fail(err, DN_ERR_NOMEM, "ordered allreduce: rank 0 is out of memory for %zu × %zu values", k, n);
    s = dn_comm_gather(comm, buf, n, DN_COMM_F32, all, 0, err);
    if (!s && comm->backend.rank == 0) {
        /* Rank order, in double: the sum no longer depends on the transport's tree. */
        for (size_t j = 0; j < n; j++) {
            double acc = 0;
            for (size_t r = 0; r < k; r++) acc += (double)all[r * n + j];
            buf[j] = (float)acc;
        }
    }
    free(all);
    if (!s) s = dn_comm_broadcast(comm, buf, n, DN_COMM_F32, 0, err);
    return s;
}
