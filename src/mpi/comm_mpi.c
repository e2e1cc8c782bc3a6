/*
 * comm_mpi.c — the MPI backend of the communicator (see src/dist/comm.c):
 * every MPI call of digitnet lives here, in libdigitnet_dist. Built
 * without MPI, dn_comm_init gives the local job of one, so the program's
 * commands run unchanged on a laptop without Open MPI.
 *
 * The backend works on a duplicate of MPI_COMM_WORLD with
 * MPI_ERRORS_RETURN, so an MPI failure comes back as DN_ERR_MPI with MPI's
 * message instead of aborting the job from inside the library.
 */
#include <limits.h>
#include <stdlib.h>

#ifdef DN_HAVE_MPI
#include <mpi.h>
#endif

#include "internal.h"
#include "digitnet_dist.h"

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

/* The backend's state: the job's own copy of MPI_COMM_WORLD. */
typedef struct mpi_job {
    MPI_Comm comm;
    int finalize; /* this job called MPI_Init, so it calls MPI_Finalize */
} mpi_job;

static dn_status check_count(size_t n, const char *what, dn_error *err)
{
    if (n > INT_MAX) return dn_fail(err, DN_ERR_USAGE, "%s: %zu values exceed MPI's limit of %d", what, n, INT_MAX);
    return DN_OK;
}

static dn_status mpi_allreduce(void *state, void *buf, size_t n, dn_comm_type type, dn_comm_op op, dn_error *err)
{
    mpi_job *job = state;
    dn_status s = check_count(n, "allreduce", err);
    if (s) return s;
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, mpi_type(type), mpi_op(op), job->comm), "allreduce",
                     err);
}

static dn_status mpi_broadcast(void *state, void *buf, size_t n, dn_comm_type type, int root, dn_error *err)
{
    mpi_job *job = state;
    dn_status s = check_count(n, "broadcast", err);
    if (s) return s;
    return mpi_check(MPI_Bcast(buf, (int)n, mpi_type(type), root, job->comm), "broadcast", err);
}

static dn_status mpi_gather(void *state, const void *send, size_t n, dn_comm_type type, void *recv, int root,
                            dn_error *err)
{
    mpi_job *job = state;
    dn_status s = check_count(n, "gather", err);
    if (s) return s;
    MPI_Datatype t = mpi_type(type);
    return mpi_check(MPI_Gather(send, (int)n, t, recv, (int)n, t, root, job->comm), "gather", err);
}

static void mpi_abort(void *state, int code)
{
    mpi_job *job = state;
    MPI_Abort(job->comm, code);
}

static void mpi_finish(void *state)
{
    mpi_job *job = state;
    MPI_Comm_free(&job->comm);
    if (job->finalize) MPI_Finalize();
    free(job);
}

dn_comm *dn_comm_init(dn_error *err)
{
    mpi_job *job = calloc(1, sizeof *job);
    if (!job) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the communicator");
        return NULL;
    }
    if (mpi_start(&job->finalize, err)) {
        free(job);
        return NULL;
    }
    dn_comm_backend b = {.state = job, .allreduce = mpi_allreduce, .broadcast = mpi_broadcast,
                         .gather = mpi_gather, .abort = mpi_abort, .finish = mpi_finish};
    dn_status s = mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &job->comm), "communicator duplication", err);
    if (s) {
        if (job->finalize) MPI_Finalize();
        free(job);
        return NULL;
    }
    s = mpi_check(MPI_Comm_set_errhandler(job->comm, MPI_ERRORS_RETURN), "error handler setup", err);
    if (!s) s = mpi_check(MPI_Comm_rank(job->comm, &b.rank), "rank query", err);
    if (!s) s = mpi_check(MPI_Comm_size(job->comm, &b.size), "size query", err);
    dn_comm *comm = s ? NULL : dn_comm_create(&b, err);
    if (!comm) mpi_finish(job);
    return comm;
}

#else /* no MPI: a job of one process */

int dn_comm_mpi_available(void) { return 0; }

dn_comm *dn_comm_init(dn_error *err) { return dn_comm_local(err); }

#endif /* DN_HAVE_MPI */
