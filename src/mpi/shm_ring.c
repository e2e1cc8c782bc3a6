/*
 * shm_ring.c — sums over the ranks of one machine through shared memory
 * (see shm_ring.h).
 *
 * Why. On one machine Open MPI moves a large message with a system call
 * that pins the pages and copies them (CMA), in several handshakes each of
 * which waits for the peer to enter MPI, and its non-blocking collectives
 * allocate a schedule and buffers per call. Measured in the synchronous
 * epoch (784-300-100-10, batch 64, two ranks on two cores), its time in
 * sums and waits for them per epoch of 938 steps: about 1.0 s through
 * MPI_Iallreduce, 0.24–0.29 s through blocking MPI_Allreduce calls, 0.10–
 * 0.13 s here.
 *
 * How. Every rank's segment holds a header (two counters, each on its own
 * cache line) and an arena. Sum s (numbered 1, 2, … in the order started,
 * the same on every rank, as every rank starts the same sums in the same
 * order) takes the same place in every rank's arena: starting it copies
 * the rank's values there and publishes s (release); completing it, once
 * every rank has published s, adds the K arenas' values in rank order into
 * the caller's buffer — so every rank gets the same bits, whatever the
 * timing — and records s as read (done). A place is reused only when every
 * rank has read the sums that used it last; a rank that waits for that, or
 * for the others' values, completes its own sums meanwhile, so the ranks
 * never wait for each other in a circle. Sums complete oldest first.
 */
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shm_ring.h"

#define LINE 64            /* a cache line: the two counters do not share one */
#define BLOCK_BYTES 4096   /* the arena's reuse is tracked by blocks of this size, each sum's own */
#define SPINS 4096         /* polls between two yields of the processor (ranks may outnumber cores) */

typedef struct shm_header {
    uint64_t published; /* the last sum whose values this rank has copied into its arena */
    char pad0[LINE - sizeof(uint64_t)];
    uint64_t done; /* the last sum this rank has read every rank's values of */
    char pad1[LINE - sizeof(uint64_t)];
} shm_header;

struct dn_shm_op {
    uint64_t seq; /* 1, 2, … */
    void *buf;    /* the caller's, where the sum goes */
    size_t n;
    dn_comm_type type;
    size_t offset; /* of its values in every arena */
    int live;      /* started, and its caller has not yet seen it done */
};

struct dn_shm_ring {
    int rank, size;
    shm_header **header; /* (size) */
    char **arena;        /* (size) */
    size_t arena_bytes;
    size_t head;                 /* where the next sum goes */
    uint64_t started, completed; /* the last sum started, completed here */
    uint64_t *block_seq;         /* (nblocks) the last sum that used each block */
    size_t nblocks;
    dn_shm_op ops[DN_SHM_OPS]; /* sum s in ops[s % DN_SHM_OPS] */
    void (*idle)(void *user);
    void *user;
};

static uint64_t load_acquire(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store_release(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static size_t value_bytes(dn_comm_type type) { return type == DN_COMM_F32 ? sizeof(float) : sizeof(double); }

size_t dn_shm_header_bytes(void) { return sizeof(shm_header); }

dn_shm_ring *dn_shm_ring_new(int rank, int size, void *const *segments, size_t segment_bytes,
                             void (*idle)(void *user), void *user)
{
    dn_shm_ring *ring = calloc(1, sizeof *ring);
    if (!ring) return NULL;
    *ring = (dn_shm_ring){.rank = rank, .size = size, .idle = idle, .user = user};
    ring->arena_bytes = (segment_bytes - sizeof(shm_header)) / BLOCK_BYTES * BLOCK_BYTES;
    ring->nblocks = ring->arena_bytes / BLOCK_BYTES;
    ring->header = malloc((size_t)size * sizeof *ring->header);
    ring->arena = malloc((size_t)size * sizeof *ring->arena);
    ring->block_seq = calloc(ring->nblocks ? ring->nblocks : 1, sizeof *ring->block_seq);
    if (!ring->header || !ring->arena || !ring->block_seq) {
        dn_shm_ring_free(ring);
        return NULL;
    }
    for (int r = 0; r < size; r++) {
        ring->header[r] = segments[r];
        ring->arena[r] = (char *)segments[r] + sizeof(shm_header);
    }
    return ring;
}

void dn_shm_ring_free(dn_shm_ring *ring)
{
    if (!ring) return;
    free(ring->header), free(ring->arena), free(ring->block_seq);
    free(ring);
}

int dn_shm_takes(const dn_shm_ring *ring, size_t n, dn_comm_type type, dn_comm_op op)
{
    if (!ring || n == 0 || op != DN_COMM_SUM || (type != DN_COMM_F32 && type != DN_COMM_F64)) return 0;
    return n <= ring->arena_bytes / 2 / value_bytes(type); /* half the arena: room for the next one */
}

int dn_shm_owns(const dn_shm_ring *ring, const void *handle)
{
    return ring && (const char *)handle >= (const char *)ring->ops &&
           (const char *)handle < (const char *)(ring->ops + DN_SHM_OPS);
}

/* Waiting: poll, now and then let the transport progress and give the
 * processor to a rank that shares it. */
static void pause_once(dn_shm_ring *ring, unsigned *spins)
{
    if (++*spins % SPINS) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        return;
    }
    if (ring->idle) ring->idle(ring->user);
    sched_yield();
}

/* out = Σ_r in[r] in rank order, n values, for each type. */
#define SUM_RANKS(T)                                                                                                   \
    do {                                                                                                               \
        T *out = op->buf;                                                                                              \
        const T *a = (const T *)(ring->arena[0] + op->offset), *b = (const T *)(ring->arena[1] + op->offset);          \
        for (size_t i = 0; i < op->n; i++) out[i] = a[i] + b[i];                                                       \
        for (int r = 2; r < ring->size; r++) {                                                                         \
            const T *c = (const T *)(ring->arena[r] + op->offset);                                                     \
            for (size_t i = 0; i < op->n; i++) out[i] += c[i];                                                         \
        }                                                                                                              \
    } while (0)

/* The oldest sum not yet completed here, when every rank's values are in:
 * summed into its buffer and recorded as read. Returns 1 when one was. */
static int complete_next(dn_shm_ring *ring)
{
    if (ring->completed == ring->started) return 0;
    dn_shm_op *op = &ring->ops[(ring->completed + 1) % DN_SHM_OPS];
    for (int r = 0; r < ring->size; r++)
        if (load_acquire(&ring->header[r]->published) < op->seq) return 0;
    if (op->type == DN_COMM_F32) SUM_RANKS(float);
    else SUM_RANKS(double);
    ring->completed = op->seq;
    store_release(&ring->header[ring->rank]->done, op->seq);
    return 1;
}

/* The last sum every rank has read. */
static uint64_t all_done(const dn_shm_ring *ring)
{
    uint64_t least = UINT64_MAX;
    for (int r = 0; r < ring->size; r++) {
        uint64_t d = load_acquire(&ring->header[r]->done);
        least = d < least ? d : least;
    }
    return least;
}

dn_shm_op *dn_shm_start(dn_shm_ring *ring, void *buf, size_t n, dn_comm_type type)
{
    const size_t bytes = n * value_bytes(type);
    dn_shm_op *op = &ring->ops[(ring->started + 1) % DN_SHM_OPS];
    if (op->live) return NULL;
    size_t at = ring->head + bytes <= ring->arena_bytes ? ring->head : 0;
    uint64_t last_use = 0;
    for (size_t b = at / BLOCK_BYTES; b <= (at + bytes - 1) / BLOCK_BYTES; b++)
        last_use = ring->block_seq[b] > last_use ? ring->block_seq[b] : last_use;
    unsigned spins = 0;
    while (all_done(ring) < last_use)
        if (!complete_next(ring)) pause_once(ring, &spins);
    const uint64_t seq = ++ring->started;
    for (size_t b = at / BLOCK_BYTES; b <= (at + bytes - 1) / BLOCK_BYTES; b++) ring->block_seq[b] = seq;
    memcpy(ring->arena[ring->rank] + at, buf, bytes);
    *op = (dn_shm_op){seq, buf, n, type, at, 1};
    store_release(&ring->header[ring->rank]->published, seq);
    /* the next sum starts in a block of its own: sharing one with this sum
     * would make its start wait until every rank has read this one */
    ring->head = (at + bytes + BLOCK_BYTES - 1) / BLOCK_BYTES * BLOCK_BYTES;
    return op;
}

int dn_shm_test(dn_shm_ring *ring, dn_shm_op *op)
{
    while (ring->completed < op->seq && complete_next(ring)) {}
    if (ring->completed < op->seq) return 0;
    op->live = 0;
    return 1;
}

void dn_shm_wait(dn_shm_ring *ring, dn_shm_op *op)
{
    unsigned spins = 0;
    while (!dn_shm_test(ring, op)) pause_once(ring, &spins);
}

void dn_shm_drain(dn_shm_ring *ring)
{
    unsigned spins = 0;
    while (ring && ring->completed < ring->started)
        if (!complete_next(ring)) pause_once(ring, &spins);
}
