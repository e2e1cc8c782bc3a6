/* pta_checkpoint.h — `digitnet pta --checkpoint FILE --checkpoint-every N
 * --resume FILE`: the flags of the library's checkpoint policy
 * (dn_checkpoint_policy; the saving, resuming and checks are
 * dn_pta_run_train's, see "the perceptron's training run" in digitnet.h).
 *
 * A resumed run takes the command line it was started with plus --resume:
 * the settings that decide W (--train-size, --eta, --epsilon, --seed,
 * --precision, --average) must be the checkpoint's, and so must the
 * training data; --max-epochs counts every epoch, those before the
 * checkpoint included, and --threads may change. --init-weights is ignored
 * on resume: the checkpoint holds W. A distributed run's checkpoints are
 * collective and resume only a job of the same mode and K; the kinds do not
 * mix. */
#ifndef DN_PTA_CHECKPOINT_H
#define DN_PTA_CHECKPOINT_H

#include "cli.h"

#define PTA_CKPT_DEFAULT {NULL, 1, NULL}

/* The cli_opt entries for a dn_checkpoint_policy c (an lvalue). */
#define PTA_CKPT_OPTS(c)                                                                                               \
    {"--checkpoint", CLI_STRING, &(c).path, "FILE",                                                                   \
     "save the training state to FILE every N epochs and at the end (atomically: a kill leaves the old or the new "   \
     "file)",                                                                                                          \
     0, 0, 0, NULL},                                                                                                   \
        {"--checkpoint-every", CLI_INT, &(c).every, "N", "epochs between checkpoints", 1, 1e9, 0, NULL},               \
        {"--resume", CLI_STRING, &(c).resume, "FILE",                                                                 \
         "continue the run saved in FILE: same settings and data, --max-epochs counts all epochs", 0, 0, 0, NULL}

#endif /* DN_PTA_CHECKPOINT_H */
