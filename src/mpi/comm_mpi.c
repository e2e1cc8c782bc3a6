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
#include <string.h>

#ifdef DN_HAVE_MPI
#include <mpi.h>
#endif

#include "internal.h"
#include "digitnet_dist.h"
#include "shm_ring.h"

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

#define MPI_REQUESTS 64 /* non-blocking collectives in flight at once, at most */

/* The backend's state: the job's own copy of MPI_COMM_WORLD, and the
 * requests of the non-blocking collectives in flight, whose slots the
 * callers' dn_comm_request handles point to (MPI_REQUEST_NULL: free), so
 * that starting one allocates nothing. */
typedef struct mpi_job {
    MPI_Comm comm;
    int finalize; /* this job called MPI_Init, so it calls MPI_Finalize */
    MPI_Request requests[MPI_REQUESTS];
    /* when every rank runs on this machine: the shared window the
     * non-blocking sums of floats go through (shm_ring.c), else NULL */
    MPI_Comm node;
    MPI_Win window;
    dn_shm_ring *ring;
} mpi_job;

static dn_status check_count(size_t n, const char *what, dn_error *err)
{
    if (n > INT_MAX) return dn_fail(err, DN_ERR_USAGE, "%s: %zu values exceed MPI's limit of %d", what, n, INT_MAX);
    return DN_OK;
}

static dn_status mpi_allreduce(void *state, void *buf, size_t n, dn_comm_type type, dn_comm_op op, dn_error *err)
{
    mpi_job *job = state;
    dn_shm_drain(job->ring);
    dn_status s = check_count(n, "allreduce", err);
    if (s) return s;
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, mpi_type(type), mpi_op(op), job->comm), "allreduce",
                     err);
}

static dn_status mpi_iallreduce(void *state, void *buf, size_t n, dn_comm_type type, dn_comm_op op, void **request,
                                dn_error *err)
{
    mpi_job *job = state;
    if (dn_shm_takes(job->ring, n, type, op)) {
        dn_shm_op *sum = dn_shm_start(job->ring, buf, n, type);
        if (!sum) return dn_fail(err, DN_ERR_USAGE, "non-blocking allreduce: %d already in flight", DN_SHM_OPS);
        *request = sum;
        return DN_OK;
    }
    dn_status s = check_count(n, "allreduce", err);
    if (s) return s;
    MPI_Request *slot = NULL;
    for (int i = 0; i < MPI_REQUESTS && !slot; i++)
        if (job->requests[i] == MPI_REQUEST_NULL) slot = &job->requests[i];
    if (!slot) return dn_fail(err, DN_ERR_USAGE, "non-blocking allreduce: %d already in flight", MPI_REQUESTS);
    s = mpi_check(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, mpi_type(type), mpi_op(op), job->comm, slot),
                  "non-blocking allreduce", err);
    if (s) *slot = MPI_REQUEST_NULL;
    *request = s ? NULL : slot;
    return s;
}

/* MPI_Test and MPI_Wait set a completed request to MPI_REQUEST_NULL, which frees its slot. */
static dn_status mpi_test(void *state, void **request, int *done, dn_error *err)
{
    mpi_job *job = state;
    if (dn_shm_owns(job->ring, *request)) {
        if ((*done = dn_shm_test(job->ring, *request))) *request = NULL;
        return DN_OK;
    }
    *done = 0;
    dn_status s = mpi_check(MPI_Test(*request, done, MPI_STATUS_IGNORE), "test of a non-blocking allreduce", err);
    if (s) *(MPI_Request *)*request = MPI_REQUEST_NULL, *done = 1;
    if (*done) *request = NULL;
    return s;
}

static dn_status mpi_wait(void *state, void **request, dn_error *err)
{
    mpi_job *job = state;
    if (dn_shm_owns(job->ring, *request)) {
        dn_shm_wait(job->ring, *request);
        *request = NULL;
        return DN_OK;
    }
    dn_status s = mpi_check(MPI_Wait(*request, MPI_STATUS_IGNORE), "wait for a non-blocking allreduce", err);
    if (s) *(MPI_Request *)*request = MPI_REQUEST_NULL;
    *request = NULL;
    return s;
}

static dn_status mpi_broadcast(void *state, void *buf, size_t n, dn_comm_type type, int root, dn_error *err)
{
    mpi_job *job = state;
    dn_shm_drain(job->ring);
    dn_status s = check_count(n, "broadcast", err);
    if (s) return s;
    return mpi_check(MPI_Bcast(buf, (int)n, mpi_type(type), root, job->comm), "broadcast", err);
}

static dn_status mpi_gather(void *state, const void *send, size_t n, dn_comm_type type, void *recv, int root,
                            dn_error *err)
{
    mpi_job *job = state;
    dn_shm_drain(job->ring);
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

#define SHM_SEGMENT_BYTES (8u << 20) /* each rank's: a step's gradient of a 784-1000-1000-10 net fits */
#define SHM_PAGE_BYTES 4096 /* a read this far apart maps every page (or more than every one) */

/* While a rank waits for the others in shared memory: MPI moves on the
 * collectives it has in flight only inside MPI calls. */
static void mpi_progress(void *state)
{
    mpi_job *job = state;
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, job->comm, &flag, MPI_STATUS_IGNORE);
}

/* Collective: MPI_Win_free waits until no rank uses the window. */
static void shm_close(mpi_job *job)
{
    if (!job->ring) return;
    MPI_Win_unlock_all(job->window);
    MPI_Win_free(&job->window);
    MPI_Comm_free(&job->node);
    dn_shm_ring_free(job->ring);
    job->ring = NULL;
}

/* The shared window, when every rank of the job runs on this machine (a
 * collective call). Any failure leaves job->ring NULL: the sums then go
 * through MPI. DIGITNET_MPI_SHM=0 keeps them there (to compare the two). */
static void shm_open(mpi_job *job, int rank, int size)
{
    if (size < 2) return;
    const char *env = getenv("DIGITNET_MPI_SHM");
    int ok = !(env && !strcmp(env, "0")), node_size = 0;
    void **segments = ok ? malloc((size_t)size * sizeof *segments) : NULL;
    ok = segments && MPI_Comm_split_type(job->comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &job->node) ==
                         MPI_SUCCESS;
    int have_node = ok;
    ok = ok && MPI_Comm_size(job->node, &node_size) == MPI_SUCCESS && node_size == size;
    /* every rank must agree, or some would sum through MPI and others here */
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, job->comm);
    void *mine = NULL;
    int have_window = ok && MPI_Win_allocate_shared(SHM_SEGMENT_BYTES, 1, MPI_INFO_NULL, job->node, &mine,
                                                    &job->window) == MPI_SUCCESS;
    ok = have_window;
    for (int r = 0; ok && r < size; r++) {
        MPI_Aint bytes = 0;
        int unit = 0;
        ok = MPI_Win_shared_query(job->window, r, &bytes, &unit, &segments[r]) == MPI_SUCCESS &&
             bytes >= (MPI_Aint)SHM_SEGMENT_BYTES;
    }
    if (ok) {
        /* the whole segment, not only its header: the ring walks its arena
         * a sum after another, and each page's first touch was a fault in
         * the middle of an epoch (measured: two split sync ranks' first
         * epoch, 784-300-100-10, batch 64, 0.306–0.311 s before, 0.255–0.260
         * s after) */
        memset(mine, 0, SHM_SEGMENT_BYTES);
        ok = MPI_Win_lock_all(MPI_MODE_NOCHECK, job->window) == MPI_SUCCESS;
        if (ok && !(job->ring = dn_shm_ring_new(rank, size, segments, SHM_SEGMENT_BYTES, mpi_progress, job))) {
            MPI_Win_unlock_all(job->window);
            ok = 0;
        }
    }
    int all = ok;
    MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, job->comm); /* also: every header is zeroed */
    for (int r = 0; all && r < size; r++) /* the others' pages mapped here too, a read each */
        if (r != rank)
            for (size_t at = 0; at < SHM_SEGMENT_BYTES; at += SHM_PAGE_BYTES)
                (void)*(volatile const char *)((const char *)segments[r] + at);
    if (ok && !all) {
        MPI_Win_unlock_all(job->window);
        dn_shm_ring_free(job->ring);
        job->ring = NULL;
    }
    if (!all && have_window) MPI_Win_free(&job->window);
    if (!all && have_node) MPI_Comm_free(&job->node);
    free(segments);
}

static void mpi_finish(void *state)
{
    mpi_job *job = state;
    shm_close(job);
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
    for (int i = 0; i < MPI_REQUESTS; i++) job->requests[i] = MPI_REQUEST_NULL;
    dn_comm_backend b = {.state = job, .allreduce = mpi_allreduce, .broadcast = mpi_broadcast,
                         .gather = mpi_gather, .abort = mpi_abort, .finish = mpi_finish,
                         .iallreduce = mpi_iallreduce, .test = mpi_test, .wait = mpi_wait};
    dn_status s = mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &job->comm), "communicator duplication", err);
    if (s) {
        if (job->finalize) MPI_Finalize();
        free(job);
        return NULL;
    }
    s = mpi_check(MPI_Comm_set_errhandler(job->comm, MPI_ERRORS_RETURN), "error handler setup", err);
    if (!s) s = mpi_check(MPI_Comm_rank(job->comm, &b.rank), "rank query", err);
    if (!s) s = mpi_check(MPI_Comm_size(job->comm, &b.size), "size query", err);
    if (!s) shm_open(job, b.rank, b.size);
    dn_comm *comm = s ? NULL : dn_comm_create(&b, err);
    if (!comm) mpi_finish(job);
    return comm;
}

#else /* no MPI: a job of one process */

int dn_comm_mpi_available(void) { return 0; }

dn_comm *dn_comm_init(dn_error *err) { return dn_comm_local(err); }

#endif /* DN_HAVE_MPI */
