/* pta_checkpoint.h — `digitnet pta --checkpoint FILE --checkpoint-every N
 * --resume FILE` (issue 7): the trainer's exact state saved every N epochs
 * and at the end (dn_pta_checkpoint_save: atomic, so a run killed at any
 * moment leaves the previous checkpoint or the new one), and a run resumed
 * from it that ends with the same model, bit for bit, as one that never
 * stopped.
 *
 * A resumed run takes the command line it was started with plus --resume:
 * the settings that decide W (--train-size, --eta, --epsilon, --seed,
 * --precision, --average) must be the checkpoint's, and so must the
 * training data (its CRC-32 is recorded); --max-epochs counts every epoch,
 * those before the checkpoint included, and --threads may change. A
 * checkpoint of a finished run (epoch cap reached or ε met) resumes to the
 * same result without training further. --init-weights is ignored on
 * resume: the checkpoint holds W.
 *
 * A distributed run (`mpirun -np K digitnet pta --distributed mix`) sets
 * comm, rng and mode before pta_ckpt_start: every save and load is then
 * collective (dn_pta_dist_checkpoint_save/load; every rank calls these
 * functions at the same points, rank 0 alone touches the file), the file
 * holds each rank's fault generator too, and it resumes only a job of the
 * same mode and K (exit code 3 otherwise). The kinds do not mix: a
 * single-process checkpoint does not resume a distributed run, nor the
 * other way round.
 *
 * Usage from cmd_pta, pta_run.c and pta_distributed.c (the lines marked
 * "checkpoints (issue 7)"):
 *   pta_ckpt ckpt = PTA_CKPT_DEFAULT;   ... PTA_CKPT_OPTS(ckpt) in the flag table
 *   run.ckpt = &ckpt;                   after parsing
 *   pta_ckpt_start                      in pta_run_execute or pta_dist_execute: may resume run->pta
 *   pta_ckpt_epochs_left                whether to train at all
 *   pta_ckpt_after_epoch                after each epoch: saves, stops
 *   pta_ckpt_finish                     after training: last save, totals */
#ifndef DN_PTA_CHECKPOINT_H
#define DN_PTA_CHECKPOINT_H

#include "cli.h"

struct pta_run;

typedef struct pta_ckpt {
    const char *path;   /* --checkpoint FILE, or NULL */
    int every;          /* --checkpoint-every N (epochs) */
    const char *resume; /* --resume FILE, or NULL */
    /* distributed runs: set before pta_ckpt_start, NULL (comm) for a single process */
    dn_comm *comm;
    dn_rng *rng;      /* this rank's fault generator, saved and restored */
    const char *mode; /* the job's description (dist_job_text), e.g. "mix" */
    /* state */
    uint32_t data_crc32; /* of the first train_size training samples */
    int resumed_epochs;  /* epochs the resumed checkpoint had done */
    int saved_epochs;    /* epochs done at the last save (-1: none) */
    dn_status status;    /* a failed save stops training with this */
    dn_error err;
} pta_ckpt;

#define PTA_CKPT_DEFAULT {NULL, 1, NULL, NULL, NULL, NULL, 0, 0, -1, DN_OK, {DN_OK, ""}}

#define PTA_CKPT_OPTS(c)                                                                                               \
    {"--checkpoint", CLI_STRING, &(c).path, "FILE",                                                                   \
     "save the training state to FILE every N epochs and at the end (atomically: a kill leaves the old or the new "   \
     "file)",                                                                                                          \
     0, 0, 0, NULL},                                                                                                   \
        {"--checkpoint-every", CLI_INT, &(c).every, "N", "epochs between checkpoints", 1, 1e9, 0, NULL},               \
        {"--resume", CLI_STRING, &(c).resume, "FILE",                                                                 \
         "continue the run saved in FILE: same settings and data, --max-epochs counts all epochs", 0, 0, 0, NULL}

/* Before training: records the data's CRC-32 and, with --resume, loads the
 * trainer into run->pta and its curve into run->errors/seconds/epochs.
 * Collective in a distributed run. */
dn_status pta_ckpt_start(pta_ckpt *c, struct pta_run *run, const dn_dataset *train, dn_error *err);

/* 0 when a resumed run has nothing left to train (cap reached, ε met). */
int pta_ckpt_epochs_left(const pta_ckpt *c, const struct pta_run *run);

/* After an epoch is recorded: saves when due (collective in a distributed
 * run). Non-zero stops training: a save failed (pta_ckpt_finish reports it;
 * in a distributed run on every rank alike) or the epoch cap is reached. */
int pta_ckpt_after_epoch(pta_ckpt *c, struct pta_run *run, const dn_pta_epoch_report *report);

/* After training: a failed save's error, else the last save if the final
 * epoch has none yet; run->result counts the resumed epochs too. */
dn_status pta_ckpt_finish(pta_ckpt *c, struct pta_run *run, dn_error *err);

#endif /* DN_PTA_CHECKPOINT_H */
