/*
 * digitnet_dist.h — the MPI communicator: libdigitnet_dist, which needs MPI
 * (pkg-config digitnet_dist; CMake digitnet::dist). The distributed trainers
 * themselves (dn_mlp_sync_epoch, dn_fedavg_round, dn_pta_run_train,
 * dn_mlp_run_*) are in digitnet.h and libdigitnet: they talk to any
 * dn_comm, and this header makes the one that spans the processes of an
 * MPI job (mpirun -np K).
 *
 *     dn_comm *comm = dn_comm_init(&err);        // every rank
 *     run_options.dist.comm = comm;                // the same loop as a local run
 *     ...
 *     dn_comm_free(comm);                          // MPI_Finalize
 */
#ifndef DIGITNET_DIST_H
#define DIGITNET_DIST_H

#include "digitnet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the library was built with MPI, else 0. */
DN_API int dn_comm_mpi_available(void);

/* Joins the job this process was started in: MPI_Init_thread with
 * MPI_THREAD_FUNNELED (MPI calls come from the calling thread only; OpenMP
 * and BLAS threads only compute), unless the program initialised MPI
 * itself, which it then also finalises. The communicator works on its own
 * duplicate of MPI_COMM_WORLD that returns errors rather than aborting, so
 * a failed collective comes back as DN_ERR_MPI with MPI's message. A
 * process started without mpirun is a job of one (an MPI singleton). Built
 * without MPI: the job of one, dn_comm_local. MPI can be initialised once
 * per process: after a dn_comm_free that finalised it, a second call fails
 * with DN_ERR_MPI. */
DN_API dn_comm *dn_comm_init(dn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* DIGITNET_DIST_H */
