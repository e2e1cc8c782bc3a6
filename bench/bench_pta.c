/*
 * bench_pta.c — one PTA epoch (count pass + update pass) at n = 60000, and
 * the floor this machine puts under it.
 *
 *   bench_pta DATA_DIR [REPS]
 *
 * W starts from the same formula as scripts/pta_reference.py and
 * bench/pta_numpy.py, so every implementation runs the same trajectory:
 * epoch 1 is a warm-up, epochs 2..REPS+1 are timed one by one.
 *
 * The floor is max(bytes / bandwidth, FLOPs / peak) for one epoch, with the
 * bandwidth (streaming read of 1 GiB) and the peak FMA rate measured here on
 * all cores. Two formulations are shown: the dense definition (every pixel of
 * every image, both passes) and the non-zero pixels digitnet actually visits.
 *
 * Output: "ROW\tworkload\timplementation\tmedian\tmin\tmax\tnote" lines that
 * bench/run.sh turns into the table, "PHASE\tworkload\tphase\tmedian\tnote"
 * lines that say where a float32 epoch's time goes (each part timed alone,
 * REPS times after a warm-up: the count pass on one and on two threads,
 * the update pass on one, the building of the pixel index, which a run
 * pays once), plus "FLOOR\t..." lines.
 */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_common.h"
#include "digitnet.h"
#include "pta_internal.h" /* the phases alone: dn_pta_update_pass_, dn_pta_index_build_ */

#define N 60000
#define W_SIZE (DN_CLASSES * DN_IMAGE_PIXELS)

static void formula_w(double *w)
{
    for (uint64_t i = 0; i < W_SIZE; i++) w[i] = (double)((i * 2654435761u) % 4294967296u) / 4294967296.0;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void time_epochs(const dn_dataset *train, dn_precision precision, int threads, int reps, const char *name)
{
    dn_pta_options opt;
    dn_pta_options_default(&opt);
    opt.precision = precision;
    opt.threads = threads;
    dn_pta *pta = dn_pta_create(&opt, NULL);
    double *w = malloc(W_SIZE * sizeof *w), *t = malloc((size_t)reps * sizeof *t);
    formula_w(w);
    dn_pta_set_weights(pta, w);
    dn_pta_epoch(pta, train, N); /* warm-up: builds the pixel index, faults pages in */
    size_t errors = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        errors = dn_pta_epoch(pta, train, N);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    printf("ROW\tPTA epoch n=60000\t%s\t%.6f\t%.6f\t%.6f\t%d threads; errors at last epoch %zu; peak RSS %ld MiB\n", name,
           t[reps / 2], t[0], t[reps - 1], threads, errors, peak_rss_kib() / 1024);
    free(w);
    free(t);
    dn_pta_free(pta);
}

/* A float32 trainer at n = N with the formula's W after one epoch, as the
 * ROW lines time epochs 2..REPS+1. */
static dn_pta *warm_trainer(const dn_dataset *train, int threads)
{
    dn_pta_options opt;
    dn_pta_options_default(&opt);
    opt.threads = threads;
    dn_pta *pta = dn_pta_create(&opt, NULL);
    double *w = malloc(W_SIZE * sizeof *w);
    formula_w(w);
    dn_pta_set_weights(pta, w);
    free(w);
    dn_pta_epoch(pta, train, N);
    return pta;
}

static void print_phase(const char *phase, double *t, int reps, const char *note)
{
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    printf("PHASE\tPTA epoch n=60000\t%s\t%.6f\t%s; min %.6f max %.6f\n", phase, t[reps / 2], note, t[0],
           t[reps - 1]);
}

/* Each part of a float32 epoch alone (see the header). */
static void time_phases(const dn_dataset *train, int reps)
{
    double *t = malloc((size_t)reps * sizeof *t);
    printf("PHASEHEAD\tPTA epoch n=60000\tpart\tmedian s\tnote\n"); /* the columns of the PHASE lines */
    for (int threads = 1; threads <= 2; threads++) {
        dn_pta *pta = warm_trainer(train, threads);
        size_t errors = 0;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            errors = dn_pta_count_errors(pta, train, N);
            t[r] = now() - t0;
        }
        char note[96];
        snprintf(note, sizeof note, "%d thread%s, W after epoch 1; %zu errors", threads, threads > 1 ? "s" : "",
                 errors);
        print_phase(threads > 1 ? "count pass, 2 threads" : "count pass, 1 thread", t, reps, note);
        dn_pta_free(pta);
    }
    dn_pta *pta = warm_trainer(train, 1);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        dn_pta_update_pass_(pta, train, N, NULL);
        t[r] = now() - t0;
    }
    print_phase("update pass, 1 thread", t, reps, "1 thread, the W of epochs 2..REPS+1");
    dn_pta_free(pta);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        dn_pta_index_build_(train, N, NULL);
        t[r] = now() - t0;
    }
    print_phase("pixel index build", t, reps, "1 thread, once a run (the set keeps it)");
    free(t);
}

/* Streaming read bandwidth, bytes/s, all threads. */
static double measure_bandwidth(void)
{
    size_t words = (size_t)1 << 27; /* 1 GiB of uint64 */
    uint64_t *buf = malloc(words * sizeof *buf);
    if (!buf) return 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < words; i++) buf[i] = i;
    double best = 1e30;
    volatile uint64_t sink = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        uint64_t sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
        for (size_t i = 0; i < words; i++) sum += buf[i];
        double dt = now() - t0;
        sink += sum;
        if (dt < best) best = dt;
    }
    (void)sink;
    free(buf);
    return (double)(words * sizeof *buf) / best;
}

/* Peak float32 FMA rate, FLOP/s, all threads: 12 independent 16-lane chains. */
typedef float v16 __attribute__((vector_size(64)));
static double measure_peak_flops(void)
{
    const long iters = 20000000;
    double t0 = now();
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
        v16 acc[12], a, b;
        for (int l = 0; l < 16; l++) a[l] = 0.999999f, b[l] = 1e-7f;
        for (int k = 0; k < 12; k++)
            for (int l = 0; l < 16; l++) acc[k][l] = (float)(k + l);
        for (long i = 0; i < iters; i++)
            for (int k = 0; k < 12; k++) acc[k] = acc[k] * a + b; /* contracted to one FMA under -ffp-contract=fast */
        for (int k = 0; k < 12; k++)
            for (int l = 0; l < 16; l++) total += acc[k][l];
    }
    double dt = now() - t0;
    if (total == 12345.0f) printf("#\n"); /* keeps the loop alive */
    return 2.0 * 16 * 12 * (double)iters * omp_get_max_threads() / dt;
}

static void print_floor(const dn_dataset *train, double bandwidth, double peak)
{
    size_t nnz = 0;
    for (size_t i = 0; i < (size_t)N * DN_IMAGE_PIXELS; i++) nnz += train->images[i] != 0;
    /* Dense: both passes read every pixel and compute W x (2·10·784 FLOPs a sample). */
    double dense_bytes = 2.0 * N * DN_IMAGE_PIXELS, dense_flops = 2.0 * 2.0 * DN_CLASSES * DN_IMAGE_PIXELS * N;
    /* Sparse: both passes read 3 bytes a non-zero pixel and do 2·10 FLOPs for it. */
    double sparse_bytes = 2.0 * 3.0 * (double)nnz, sparse_flops = 2.0 * 2.0 * DN_CLASSES * (double)nnz;
    double dense_floor = dense_bytes / bandwidth > dense_flops / peak ? dense_bytes / bandwidth : dense_flops / peak;
    double sparse_floor =
        sparse_bytes / bandwidth > sparse_flops / peak ? sparse_bytes / bandwidth : sparse_flops / peak;
    printf("FLOOR\tbandwidth %.1f GB/s, peak %.1f GFLOP/s (float32 FMA), %d threads\n", bandwidth / 1e9, peak / 1e9,
           omp_get_max_threads());
    printf("FLOOR\tdense definition: %.1f MB, %.2f GFLOP per epoch -> floor %.2f ms\n", dense_bytes / 1e6,
           dense_flops / 1e9, dense_floor * 1e3);
    printf("FLOOR\tnon-zero pixels only (%.1f per image): %.1f MB, %.2f GFLOP per epoch -> floor %.2f ms\n",
           (double)nnz / N, sparse_bytes / 1e6, sparse_flops / 1e9, sparse_floor * 1e3);
    printf("FLOORVALUE\t%.6f\t%.6f\n", dense_floor, sparse_floor);
}

/* As the program does (cli/main.c, stop_idle_blas_pool): OpenBLAS's idle
 * workers, spinning for ~0.1 s after the library loads, would share the
 * cores with the first epochs. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

int main(int argc, char **argv)
{
    if (blas_thread_shutdown_) blas_thread_shutdown_();
    int reps, status = 0;
    dn_dataset *train = bench_load_train(argc, argv, "bench_pta", &reps, &status);
    if (!train) return status;
    int cores = omp_get_num_procs();
    time_epochs(train, DN_FLOAT32, cores, reps, "digitnet float32");
    time_epochs(train, DN_FLOAT64, cores, reps, "digitnet float64");
    time_epochs(train, DN_FLOAT32, 1, reps, "digitnet float32, 1 thread");
    time_phases(train, reps);
    print_floor(train, measure_bandwidth(), measure_peak_flops());
    dn_dataset_free(train);
    return 0;
}
