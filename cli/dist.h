/* dist.h — what the distributed subcommands share: the flags for
 * shards and fault injection, joining the MPI job and leaving it. The
 * shards and the faults themselves are the library's (options of
 * dn_pta_run_train and dn_mlp_run_create). Only rank 0 prints results and
 * writes files.
 *
 * A subcommand runs distributed only when --distributed names a mode; MPI is
 * initialised then and only then, so without it (or without mpirun) the
 * program is the single process it always was. */
#ifndef DN_DIST_H
#define DN_DIST_H

#include "cli.h"

/* The flags every distributed mode takes. */
typedef struct dist_flags {
    int shard;           /* index into dn_shard_mode_choices() (= dn_shard_mode) */
    uint64_t shard_seed; /* the random split's seed */
    int fault_rank;      /* the rank that sends corrupted models, -1 for none */
    const char *fault;   /* what it sends (dn_fault_parse), NULL for none */
} dist_flags;

#define DIST_FLAGS_DEFAULT {0, 1, -1, NULL}

/* The cli_opt entries for a dist_flags f (an lvalue). */
#define DIST_FLAGS_OPTS(f)                                                                                             \
    {"--shard", CLI_CHOICE, &(f).shard, "HOW", "how the training set is split over the ranks", 0, 0, 0,               \
     dn_shard_mode_choices()},                                                                                                \
        {"--shard-seed", CLI_U64, &(f).shard_seed, "S", "seed of the random split", 0, 1.8e19, 0, NULL},              \
        {"--fault-rank", CLI_INT, &(f).fault_rank, "R",                                                               \
         "testing: rank R sends a corrupted model each round (and trains honestly), -1 = none", -1, 1e6, 0, NULL},   \
        {"--fault", CLI_STRING, &(f).fault, "KIND", "what rank R sends: nan, zero, random, scale:S or sign-flip", 0, \
         0, 0, NULL}

/* A running job as a subcommand sees it. */
typedef struct dist_job {
    dn_comm *comm; /* NULL when not distributed */
    int rank, size;
} dist_job;

/* Checks the flags on their own (before any data is read or MPI started):
 * --fault and --fault-rank come together, the fault parses. Fills err. */
dn_status dist_check_flags(const dist_flags *f, dn_error *err);

/* Joins the MPI job (dn_comm_init) and checks the flags against its size.
 * On failure the job has been left again (nothing to end). */
dn_status dist_job_begin(dist_job *job, const dist_flags *f, dn_error *err);

/* On rank 0: the split of n samples on stdout, e.g. "distributed over 2
 * ranks, shards (contiguous): 30000 30000", and the fault, if any. */
void dist_print_shards(const dist_job *job, const dist_flags *f, size_t n);

/* The library's dn_dist_options for this job and flags; job_text (see
 * dist_job_text) must outlive o. */
void dist_options(const dist_job *job, const dist_flags *f, const char *job_text, dn_dist_options *o);

/* What decides a job's trajectory besides the data, the settings and the
 * number of ranks: the mode and, when not the defaults, the split and the
 * fault, e.g. "fedavg shard:random:7 fault:2:random". Distributed
 * checkpoints store it and a resume must give the same, so that a job
 * resumed with other flags is refused rather than silently diverging. */
#define DIST_JOB_TEXT_MAX 96
void dist_job_text(char *buf, size_t size, const char *mode, const dist_flags *f);

/* Leaves the job with exit code rc: MPI_Finalize when rc is 0 (or the job is
 * one process), MPI_Abort otherwise, since the other ranks may be waiting in
 * a collective this rank will never join. Returns rc. A NULL comm is fine. */
int dist_job_end(dist_job *job, int rc);

/* cli_report for a rank: other ranks than 0 say who they are. */
int dist_report(const dist_job *job, const dn_error *err);

/* For a failure every rank met alike: rank 0 says why (cli_report), the
 * others only return the exit code, so the message appears once. */
int dist_report_once(const dist_job *job, const dn_error *err);

/* Leaves the job cleanly (MPI_Finalize) whatever rc is: for failures every
 * rank meets at the same point, such as a usage error found after joining. */
int dist_job_leave(dist_job *job, int rc);

/* Testing aid: with DN_TEST_KILL_AT=R:S in the environment, rank R kills
 * itself (SIGKILL) when called with step S, as a crashed worker would. The
 * subcommands call it after each step (epoch or round, 1-based) and its
 * checkpoint; tests/cli_mpi_checkpoint.sh and cli_mpi_pta_checkpoint.sh
 * resume the jobs it kills. */
void dist_test_kill_at(const dist_job *job, int step);

#endif /* DN_DIST_H */
