/* worker_pool.h — the reproductions' jobs in forked worker processes: the
 * parent loads the data once and the children share it (copy on write);
 * each job writes its own result files, which the parent reads back. */
#ifndef DN_WORKER_POOL_H
#define DN_WORKER_POOL_H

#include "cli.h"

/* One job: returns its exit code (CLI_EXIT_OK on success). */
typedef int (*worker_job_fn)(int job, void *context);

/* Runs jobs order[0 … count−1] (indices passed to job), at most `jobs` at
 * once: in this process when jobs is 1, else each in a forked child.
 * After a failure no further job starts; returns the first failure's exit
 * code, or CLI_EXIT_OK. */
int worker_pool_run(const int *order, int count, int jobs, worker_job_fn job, void *context);

#endif /* DN_WORKER_POOL_H */
