/* dist.c — see dist.h. */
#include <signal.h>
#include <stdlib.h>

#include "dist.h"

dn_status dist_check_flags(const dist_flags *f, dn_error *err)
{
    if ((f->fault_rank >= 0) != (f->fault != NULL))
        return cli_fail(err, DN_ERR_USAGE, "--fault-rank and --fault go together: which rank, and what it sends");
    if (!f->fault) return DN_OK;
    dn_fault fault;
    return dn_fault_parse(f->fault, &fault, err);
}

/* The size of the job mpirun started, as its launcher tells each process
 * (Open MPI, or MPICH / Slurm's PMI); 0 when not started by a launcher. */
static long launcher_size(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    return 0;
}

dn_status dist_job_begin(dist_job *job, const dist_flags *f, dn_error *err)
{
    *job = (dist_job){0};
    /* Without MPI every process would train alone as rank 0 and write the same files. */
    if (!dn_comm_mpi_available() && launcher_size() > 1)
        return cli_fail(err, DN_ERR_USAGE,
                        "this digitnet was built without MPI, yet mpirun started %ld processes: rebuild with "
                        "libopenmpi-dev installed (scripts/deps.sh), or run one process",
                        launcher_size());
    if (!(job->comm = dn_comm_init(err))) return err->code;
    job->rank = dn_comm_rank(job->comm);
    job->size = dn_comm_size(job->comm);
    if (f->fault_rank >= job->size) {
        /* Every rank sees the same size and flags, so all of them stop here
         * together and may leave the job cleanly. */
        dn_comm_free(job->comm);
        job->comm = NULL;
        return cli_fail(err, DN_ERR_USAGE, "--fault-rank %d: the job has ranks 0 to %d", f->fault_rank, job->size - 1);
    }
    return DN_OK;
}

void dist_print_shards(const dist_job *job, const dist_flags *f, size_t n)
{
    if (job->rank != 0) return;
    printf("distributed over %d rank%s, shards (%s", job->size, job->size == 1 ? "" : "s",
           dn_shard_mode_name((dn_shard_mode)f->shard));
    if (f->shard == DN_SHARD_RANDOM) printf(", seed %llu", (unsigned long long)f->shard_seed);
    printf("):");
    for (int r = 0; r < job->size; r++)
        printf(" %zu", f->shard == DN_SHARD_REPLICATE ? n : dn_shard_size(n, job->size, r));
    printf("\n");
    if (f->fault) printf("fault injection: rank %d sends %s\n", f->fault_rank, f->fault);
    fflush(stdout);
}

/* The flags as the library's options, without the job's communicator. */
static void flag_options(const dist_flags *f, dn_dist_options *o)
{
    dn_dist_options_default(o);
    o->shard = (dn_shard_mode)f->shard;
    o->shard_seed = f->shard_seed;
    o->fault_rank = f->fault_rank;
    if (f->fault) dn_fault_parse(f->fault, &o->fault, NULL); /* parsed before: dist_check_flags */
}

void dist_options(const dist_job *job, const dist_flags *f, const char *job_text, dn_dist_options *o)
{
    flag_options(f, o);
    o->comm = job->comm;
    o->job = job_text;
}

void dist_job_text(char *buf, size_t size, const char *mode, const dist_flags *f)
{
    dn_dist_options o;
    flag_options(f, &o);
    dn_dist_options_describe(&o, mode, buf, size);
}

int dist_report(const dist_job *job, const dn_error *err)
{
    if (!job->comm || job->rank == 0) return cli_report(err);
    fprintf(stderr, "digitnet: rank %d: %s\n", job->rank, err->message);
    return cli_exit_code(err->code);
}

int dist_report_once(const dist_job *job, const dn_error *err)
{
    return job->rank == 0 ? cli_report(err) : cli_exit_code(err->code);
}

int dist_job_leave(dist_job *job, int rc)
{
    dn_comm_free(job->comm);
    job->comm = NULL;
    return rc;
}

int dist_job_end(dist_job *job, int rc)
{
    if (!job->comm) return rc;
    if (rc != CLI_EXIT_OK && job->size > 1) {
        fflush(stdout);
        fflush(stderr);
        dn_comm_abort(job->comm, rc);
    }
    dn_comm_free(job->comm);
    job->comm = NULL;
    return rc;
}

void dist_test_kill_at(const dist_job *job, int step)
{
    const char *at = getenv("DN_TEST_KILL_AT");
    int rank, when;
    if (at && sscanf(at, "%d:%d", &rank, &when) == 2 && rank == job->rank && when == step) {
        fflush(stdout);
        raise(SIGKILL);
    }
}
