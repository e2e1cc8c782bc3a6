/*
 * bench_common.h — what the C benchmarks share (a header: each bench/NAME.c
 * is a program of its own): the command line they take, `NAME DATA_DIR
 * [REPS]`, the MNIST training set they load, the clock and the sort of the
 * repetitions' times. Include after defining _POSIX_C_SOURCE.
 */
#ifndef DN_BENCH_COMMON_H
#define DN_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "digitnet.h"

/* The training set of argv[1] and *reps from argv[2] (default 7), or NULL
 * after a usage line or the loader's message on stderr (*status: the exit
 * status to return). */
static inline dn_dataset *bench_load_train(int argc, char **argv, const char *name, int *reps, int *status)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [REPS]\n", name);
        *status = 2;
        return NULL;
    }
    *reps = argc > 2 ? atoi(argv[2]) : 7;
    if (*reps < 1) *reps = 7;
    dn_error err;
    dn_dataset *train = dn_mnist_load(argv[1], "train", &err);
    if (!train) {
        fprintf(stderr, "%s: %s\n", name, err.message);
        *status = 1;
    }
    return train;
}

/* Monotonic wall clock, seconds. */
static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* qsort's order of doubles, for the median of the repetitions. */
static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
