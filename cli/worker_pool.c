/* worker_pool.c — see worker_pool.h. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker_pool.h"

int worker_pool_run(const int *order, int count, int jobs, worker_job_fn job, void *context)
{
    int next = 0, running = 0, rc = CLI_EXIT_OK;
    if (jobs == 1) {
        for (int i = 0; i < count && !rc; i++) rc = job(order[i], context);
        return rc;
    }
    fflush(stdout), fflush(stderr); /* a child must not repeat buffered output */
    while ((next < count && !rc) || running) {
        if (next < count && !rc && running < jobs) {
            pid_t pid = fork();
            if (pid == 0) _exit(job(order[next], context));
            if (pid < 0) {
                fprintf(stderr, "digitnet: reproduce: cannot start a worker (%s)\n", strerror(errno));
                rc = CLI_EXIT_FAILURE;
                continue;
            }
            next++, running++;
            continue;
        }
        int status;
        if (wait(&status) < 0) break;
        running--;
        if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : CLI_EXIT_FAILURE;
    }
    return rc;
}
