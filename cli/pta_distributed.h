/* pta_distributed.h — `digitnet pta --distributed mix` (issue 4): iterative
 * parameter mixing (McDonald, Hall & Mann, NAACL 2010) on MPI.
 *
 * Every epoch each rank runs one PTA epoch (count pass, then update pass)
 * on its shard, starting from the common W; then W is averaged over the
 * ranks with one MPI_Allreduce in float64, and every rank continues from
 * the average. The count passes all saw the same W, so the sum of the
 * shard errors is the error count of that W on the whole training set: the
 * ε stop and the curve are global, exactly as in the single-process run.
 * With one rank the mix is the identity and the run is plain PTA, epoch for
 * epoch and bit for bit.
 *
 * --average is refused: the averaged perceptron is a running mean of W over
 * the update steps of one trainer, and mixing replaces W between epochs, so
 * no trainer's steps describe the mixed sequence.
 *
 * Usage from cmd_pta (the marked lines there):
 *   pta_dist dist = PTA_DIST_DEFAULT;       ... PTA_DIST_OPTS(dist) in the flag table
 *   pta_dist_check(&dist, &run, &err)       before loading data
 *   pta_dist_begin(&dist, ...)              after loading: joins MPI
 *   pta_dist_execute or pta_run_execute     train
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

/* 1 when this process prints results: rank 0, or not distributed. */
int pta_dist_is_root(const pta_dist *d);

/* Trains by parameter mixing on this rank's shard of the first n =
 * run->opt.train_size samples of train, fills run as pta_run_execute does
 * (curve, result, run->pta with the mixed W) and, on rank 0, the test
 * errors. Collective: every rank calls it. */
dn_status pta_dist_execute(pta_dist *d, pta_run *run, const dn_dataset *train, const dn_dataset *test,
                           dn_error *err);

/* Prints err as this rank should: every error when not distributed; when
 * the ranks failed alike only rank 0's, else each rank's, naming the rank.
 * Returns the exit code. */
int pta_dist_report(const pta_dist *d, const dn_error *err);

/* Leaves the job (see dist_job_end; cleanly when the ranks failed alike);
 * returns rc. */
int pta_dist_end(pta_dist *d, int rc);

#endif /* DN_PTA_DISTRIBUTED_H */
