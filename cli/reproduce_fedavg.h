/* reproduce_fedavg.h — `digitnet reproduce --experiment fedavg`, McMahan et
 * al.'s MNIST table (see reproduce_fedavg.c). */
#ifndef DN_REPRODUCE_FEDAVG_H
#define DN_REPRODUCE_FEDAVG_H

#include "cli.h"

/* The full table and --quick: client fractions, the rate grid, the cap on
 * a rate's rounds. */
#define FULL_FRACTIONS "0,0.1,0.2,0.5,1"
#define FULL_RATES "0.05,0.1,0.2,0.4"
#define FULL_MAX_ROUNDS 5000
#define FULL_MAX_ROUNDS_TEXT "5000"
#define QUICK_FRACTIONS "0.1"
#define QUICK_RATES "0.1,0.2,0.4"
#define QUICK_MAX_ROUNDS 1500
#define QUICK_MAX_ROUNDS_TEXT "1500"

/* "pta", "fedavg", "robust": the experiments of `digitnet reproduce`, NULL-terminated. */
const char *const *reproduce_experiments(void);

/* The command, argv[0] "reproduce"; returns the exit code. */
int reproduce_fedavg_main(int argc, char **argv);

#endif /* DN_REPRODUCE_FEDAVG_H */
