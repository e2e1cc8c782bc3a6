/* pta_distributed.h — `digitnet pta --distributed mix`: the
 * flags of a parameter-mixing job and its place in MPI. The training itself
 * is the library's (dn_pta_run_train with a communicator: see "the
 * perceptron's training run" in digitnet.h); this file joins and leaves the
 * job, maps the flags to the library's options and reports failures.
 *
 * --average is refused: mixing replaces W between epochs, so no trainer's
 * steps describe the mixed sequence.
 *
 * Usage from cmd_pta (the marked lines there):
 *   pta_dist dist = PTA_DIST_DEFAULT;       ... PTA_DIST_OPTS(dist) in the flag table
 *   pta_dist_check(&dist, &run, &err)       before loading data
 *   pta_dist_begin(&dist, ...)              after loading: joins MPI
 *   run.dist = &dist; pta_run_execute       train (pta_run.c calls the hooks below)
 *   pta_dist_report(&dist, &err)            on failure: prints, gives the exit code
 *   pta_dist_end(&dist, rc)                 leaves MPI
 *
 * Checkpoints (--checkpoint FILE --checkpoint-every N, --resume FILE; see
 * pta_checkpoint.h) work as in a single-process run: every rank takes part
 * in each save and load, rank 0 alone touches the file, and the file holds
 * each rank's fault generator, so a job killed and resumed with the same
 * -np and flags ends with the W an uninterrupted job ends with, bit for
 * bit. DN_TEST_KILL_AT=R:S (dist.h) kills rank R after epoch S and its
 * checkpoint, for tests/cli_mpi_pta_checkpoint.sh. */
#ifndef DN_PTA_DISTRIBUTED_H
#define DN_PTA_DISTRIBUTED_H

#include "dist.h"
#include "pta_run.h"

typedef struct pta_dist {
    int mode; /* index into pta_dist_modes: 0 = off (single process), 1 = mix */
    dist_flags flags;
    dist_job job;
    int agreed; /* the run failed on every rank alike (a checkpoint step): rank 0 alone reports, all leave cleanly */
    char job_text[DIST_JOB_TEXT_MAX]; /* what its checkpoints record (dist_job_text) */
} pta_dist;

extern const char *const pta_dist_modes[]; /* "off", "mix" */

#define PTA_DIST_DEFAULT {0, DIST_FLAGS_DEFAULT, {0}, 0, ""}

#define PTA_DIST_OPTS(d)                                                                                               \
    {"--distributed", CLI_CHOICE, &(d).mode, "MODE",                                                                  \
     "run across the ranks of mpirun: mix = parameter mixing, W averaged after every epoch (one thread per rank "      \
     "unless --threads says otherwise)",                                                                               \
     0, 0, 0, pta_dist_modes},                                                                                         \
        DIST_FLAGS_OPTS((d).flags)

/* Before any data is read: the distributed flags and their combination
 * with the PTA options. Returns an exit code (0 = go on), having printed
 * any error. */
int pta_dist_check(pta_dist *d, pta_run *run);

/* After the data is read: joins the MPI job when --distributed is given.
 * On ranks other than 0 the run goes quiet and writes no files: *quiet is
 * set and the output paths are cleared. Rank 0 prints the shard sizes
 * unless quiet. Returns an exit code. */
int pta_dist_begin(pta_dist *d, const pta_run *run, int *quiet, const char **metrics, const char **save,
                   const char **plot);

/* 1 when this process prints results: rank 0, or not distributed (d NULL or off). */
int pta_dist_is_root(const pta_dist *d);

/* The library's options for this job: communicator, split, fault and the
 * job's description for its checkpoints. */
void pta_dist_options(pta_dist *d, dn_pta_run_options *o);

/* After dn_pta_run_train: whether its error was the same on every rank. */
void pta_dist_outcome(pta_dist *d, int collective_error);

/* Around each epoch's progress line: rank 0 says when the mix was refused
 * (before the line); afterwards the DN_TEST_KILL_AT hook runs. */
void pta_dist_say_refused(const dn_pta_run_report *r);
void pta_dist_after_epoch(const pta_dist *d, const dn_pta_run_report *r);

/* Prints err as this rank should: every error when not distributed; when
 * the ranks failed alike only rank 0's, else each rank's, naming the rank.
 * Returns the exit code. */
int pta_dist_report(const pta_dist *d, const dn_error *err);

/* Leaves the job (see dist_job_end; cleanly when the ranks failed alike);
 * returns rc. */
int pta_dist_end(pta_dist *d, int rc);

#endif /* DN_PTA_DISTRIBUTED_H */
