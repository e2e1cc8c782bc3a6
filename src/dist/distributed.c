/*
 * distributed.c — the communicator: every MPI call of digitnet lives here,
 * behind DN_HAVE_MPI. Built without MPI, a communicator is a job of one
 * process (rank 0 of 1) and every collective reduces to a copy, so the
 * trainers above run unchanged on a laptop without Open MPI.
 *
 * The communicator is a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN,
 * so an MPI failure comes back as DN_ERR_MPI with MPI's message instead of
 * aborting the job from inside the library.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef DN_HAVE_MPI
#include <mpi.h>
#endif

#include "internal.h"

struct dn_comm {
    int rank, size;
#ifdef DN_HAVE_MPI
    MPI_Comm mpi;
    int finalize; /* this communicator called MPI_Init, so it calls MPI_Finalize */
#endif
    int local; /* dn_comm_local: a job of one that never touches MPI */
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

static dn_status check_count(size_t n, const char *what, dn_error *err)
{
    if (n > INT_MAX) return dn_fail(err, DN_ERR_USAGE, "%s: %zu values exceed MPI's limit of %d", what, n, INT_MAX);
    return DN_OK;
}

/* Every collective returns before its MPI call when size is 1, so a local
 * communicator needs no MPI state at all. */
dn_comm *dn_comm_local(dn_error *err)
{
    dn_comm *comm = calloc(1, sizeof *comm);
    if (!comm) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the communicator");
        return NULL;
    }
    comm->size = 1;
    comm->local = 1;
    return comm;
}

int dn_comm_rank(const dn_comm *comm) { return comm->rank; }
int dn_comm_size(const dn_comm *comm) { return comm->size; }

#ifdef DN_HAVE_MPI

int dn_comm_mpi_available(void) { return 1; }

static MPI_Datatype mpi_type(dn_comm_type type)
{
    switch (type) {
    case DN_COMM_BYTE: return MPI_BYTE;
    case DN_COMM_INT: return MPI_INT;
    case DN_COMM_U64: return MPI_UINT64_T;
    case DN_COMM_F32: return MPI_FLOAT;
    case DN_COMM_F64: return MPI_DOUBLE;
    }
    return MPI_BYTE;
}

static MPI_Op mpi_op(dn_comm_op op)
{
    switch (op) {
    case DN_COMM_SUM: return MPI_SUM;
    case DN_COMM_MAX: return MPI_MAX;
    case DN_COMM_MIN: return MPI_MIN;
    }
    return MPI_SUM;
}

/* DN_OK, or DN_ERR_MPI with MPI's own description of code. */
static dn_status mpi_check(int code, const char *what, dn_error *err)
{
    if (code == MPI_SUCCESS) return DN_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", code);
    return dn_fail(err, DN_ERR_MPI, "MPI %s failed: %s", what, text);
}

/* MPI_Init_thread when nobody has initialised MPI yet. */
static dn_status mpi_start(int *started, dn_error *err)
{
    int initialized = 0, finalized = 0, provided = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized) return dn_fail(err, DN_ERR_MPI, "MPI was already finalised in this process: it cannot restart");
    *started = !initialized;
    if (initialized) return DN_OK;
    /* FUNNELED: OpenMP and BLAS threads compute, only the main thread talks to MPI. */
    return mpi_check(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided), "initialisation", err);
}

dn_comm *dn_comm_init(dn_error *err)
{
    dn_comm *comm = calloc(1, sizeof *comm);
    if (!comm) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the communicator");
        return NULL;
    }
    if (mpi_start(&comm->finalize, err)) {
        free(comm);
        return NULL;
    }
    dn_status s = mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &comm->mpi), "communicator duplication", err);
    if (!s) s = mpi_check(MPI_Comm_set_errhandler(comm->mpi, MPI_ERRORS_RETURN), "error handler setup", err);
    if (!s) s = mpi_check(MPI_Comm_rank(comm->mpi, &comm->rank), "rank query", err);
    if (!s) s = mpi_check(MPI_Comm_size(comm->mpi, &comm->size), "size query", err);
    if (s) {
        if (comm->finalize) MPI_Finalize();
        free(comm);
        return NULL;
    }
    return comm;
}

void dn_comm_free(dn_comm *comm)
{
    if (!comm) return;
    if (comm->local) {
        free(comm);
        return;
    }
    MPI_Comm_free(&comm->mpi);
    if (comm->finalize) MPI_Finalize();
    free(comm);
}

void dn_comm_abort(dn_comm *comm, int code)
{
    if (!comm || !comm->local) MPI_Abort(comm ? comm->mpi : MPI_COMM_WORLD, code);
}

dn_status dn_comm_allreduce(dn_comm *comm, void *buf, size_t n, dn_comm_type type, dn_comm_op op, dn_error *err)
{
    dn_status s = check_count(n, "allreduce", err);
    if (s || comm->size == 1) return s;
    if (type == DN_COMM_BYTE && op == DN_COMM_SUM)
        return dn_fail(err, DN_ERR_USAGE, "allreduce: bytes cannot be summed");
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, mpi_type(type), mpi_op(op), comm->mpi), "allreduce",
                     err);
}

dn_status dn_comm_broadcast(dn_comm *comm, void *buf, size_t n, dn_comm_type type, int root, dn_error *err)
{
    dn_status s = check_count(n, "broadcast", err);
    if (s || comm->size == 1) return s;
    return mpi_check(MPI_Bcast(buf, (int)n, mpi_type(type), root, comm->mpi), "broadcast", err);
}

dn_status dn_comm_gather(dn_comm *comm, const void *send, size_t n, dn_comm_type type, void *recv, int root,
                         dn_error *err)
{
    dn_status s = check_count(n, "gather", err);
    if (s) return s;
    if (comm->size == 1) {
        memmove(recv, send, n * type_size(type));
        return DN_OK;
    }
    MPI_Datatype t = mpi_type(type);
    return mpi_check(MPI_Gather(send, (int)n, t, recv, (int)n, t, root, comm->mpi), "gather", err);
}

#else /* no MPI: a job of one process */

int dn_comm_mpi_available(void) { return 0; }

/* Built without MPI, every job is the local job of one. */
dn_comm *dn_comm_init(dn_error *err) { return dn_comm_local(err); }

void dn_comm_free(dn_comm *comm) { free(comm); }

void dn_comm_abort(dn_comm *comm, int code) { (void)comm, (void)code; }

dn_status dn_comm_allreduce(dn_comm *comm, void *buf, size_t n, dn_comm_type type, dn_comm_op op, dn_error *err)
{
    (void)comm, (void)buf, (void)type, (void)op;
    return check_count(n, "allreduce", err);
}

dn_status dn_comm_broadcast(dn_comm *comm, void *buf, size_t n, dn_comm_type type, int root, dn_error *err)
{
    (void)comm, (void)buf, (void)type, (void)root;
    return check_count(n, "broadcast", err);
}

dn_status dn_comm_gather(dn_comm *comm, const void *send, size_t n, dn_comm_type type, void *recv, int root,
                         dn_error *err)
{
    (void)comm, (void)root;
    dn_status s = check_count(n, "gather", err);
    if (!s) memmove(recv, send, n * type_size(type));
    return s;
}

#endif /* DN_HAVE_MPI */

dn_status dn_comm_allreduce_sum_ordered_f32(dn_comm *comm, float *buf, size_t n, dn_error *err)
{
    dn_status s = check_count(n, "ordered allreduce", err);
    if (s || comm->size == 1) return s;
    size_t k = (size_t)comm->size, bytes;
    float *all = NULL;
    int failed = 0;
    if (comm->rank == 0)
        failed = dn_mul_overflows(k, n ? n : 1, &bytes) || dn_mul_overflows(bytes, sizeof *all, &bytes) ||
                 !(all = malloc(bytes));
    /* Every rank learns whether rank 0 could make room, so none waits in a
     * gather that rank 0 never joins. */
    if ((s = dn_comm_allreduce(comm, &failed, 1, DN_COMM_INT, DN_COMM_MAX, err))) {
        free(all);
        return s;
    }
    if (failed) return dn_fail(err, DN_ERR_NOMEM, "ordered allreduce: rank 0 is out of memory for %zu × %zu values", k, n);
    s = dn_comm_gather(comm, buf, n, DN_COMM_F32, all, 0, err);
    if (!s && comm->rank == 0) {
        /* Rank order, in double: the sum no longer depends on MPI's tree. */
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
