/*
 * shm_ring.h — sums over the ranks of a job that share one machine, through
 * memory every rank maps (an MPI-3 shared window, made by comm_mpi.c): no
 * message, no system call, no copy but one into the rank's own segment.
 * The MPI backend's non-blocking allreduce of F32 and F64 sums goes here
 * when every rank of the job is on the same node; see shm_ring.c.
 */
#ifndef DN_SHM_RING_H
#define DN_SHM_RING_H

#include <stddef.h>

#include "internal.h"

#define DN_SHM_OPS 64 /* sums in flight at once, at most */

typedef struct dn_shm_ring dn_shm_ring;
typedef struct dn_shm_op dn_shm_op;

/* Bytes of the header each rank's segment starts with (the arena follows). */
size_t dn_shm_header_bytes(void);
/* A ring over the K segments (segments[r] is rank r's, segment_bytes each,
 * this rank's header zeroed by the caller before any rank starts a sum).
 * idle(user) is called while a rank waits for the others (the transport's
 * progress). NULL when out of memory. */
dn_shm_ring *dn_shm_ring_new(int rank, int size, void *const *segments, size_t segment_bytes,
                             void (*idle)(void *user), void *user);
void dn_shm_ring_free(dn_shm_ring *ring);
/* 1 when the ring sums n values of type with op (F32 and F64 sums that fit
 * its arena): the same answer on every rank, which must all take the same
 * path for the same call. */
int dn_shm_takes(const dn_shm_ring *ring, size_t n, dn_comm_type type, dn_comm_op op);
/* Starts the sum of buf (n values, in place): buf is copied into this rank's
 * segment. NULL when DN_SHM_OPS sums are in flight already. */
dn_shm_op *dn_shm_start(dn_shm_ring *ring, void *buf, size_t n, dn_comm_type type);
/* Completes every sum up to op whose values are all in (oldest first);
 * 1 when op is done (buf holds the sum), 0 when not yet. */
int dn_shm_test(dn_shm_ring *ring, dn_shm_op *op);
/* Until op is done. */
void dn_shm_wait(dn_shm_ring *ring, dn_shm_op *op);
/* Completes every sum started (their buffers hold the sums; each caller
 * still tests or waits for its own). The backend calls it before any
 * blocking collective: the others may be waiting in dn_shm_start for this
 * rank to read old sums, and would never join the collective otherwise. */
void dn_shm_drain(dn_shm_ring *ring);
/* 1 when handle is one of ring's ops. */
int dn_shm_owns(const dn_shm_ring *ring, const void *handle);

#endif /* DN_SHM_RING_H */
