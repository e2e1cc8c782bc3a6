/*
 * bench_sgemm_floor.c — the matrix-multiply floor of an MLP epoch: the time
 * OpenBLAS needs for an epoch's matrix products alone, at the shapes of the
 * benchmark's network, with nothing else (no activations, loss, update,
 * data), in this run on this machine.
 *
 *   bench_sgemm_floor DATA_DIR [REPS]
 *
 * The epoch: 784-300-100-10, batch 64, 60000 samples (937 batches of 64 and
 * one of 32). Each batch's products, as any implementation of backprop
 * computes them (Z = X Wᵀ forward; dW = dZᵀ X and dX = dZ W backward; no
 * dX for the input layer):
 *   forward  (B×784)(784×300), (B×300)(300×100), (B×100)(100×10)
 *   dW       (300×B)(B×784),  (100×B)(B×300),   (10×B)(B×100)
 *   dX       (B×10)(10×100),  (B×100)(100×300)
 * Two floors: the dense definition above (K = 784 at layer 0), and the same
 * with layer 0 on the pixels some image of the batch uses, as digitnet
 * computes it (K = the mean of that count over the batches, measured on the
 * data). Each is timed three ways: OpenBLAS on 1 thread; on 2 threads (its
 * own splitting of each product); and two threads of our own, each running
 * OpenBLAS on 1 thread for half of each product's output columns (as
 * digitnet splits a layer by units) — the floor is the fastest.
 *
 * Output: "ROW\t..." lines (bench/run.sh) with the floors as rows of the
 * epoch's workload, "FLOOR\t..." lines, and "MLPFLOOR\tdense\tcompacted"
 * (seconds) for the targets.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "bench_common.h"
#include "digitnet.h"

#define N_TRAIN 60000
#define BATCH 64

static const int width[4] = {784, 300, 100, 10};

static int split_columns; /* 1: gemm splits N over two threads of its own (set in main only) */

/* Row-major C (M×N) = op(A) op(B) (+ beta C); with split_columns, the N
 * columns in two halves, one per thread. */
static void gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc)
{
    if (!split_columns) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                    lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel num_threads(2)
    {
        int t = omp_get_thread_num(), n0 = N * t / 2, n1 = N * (t + 1) / 2;
        /* columns n0 … n1 − 1 of op(B): rows of B when transposed, else columns */
        const float *Bt = tb ? B + (size_t)n0 * ldb : B + n0;
        if (n1 > n0)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, n1 - n0, K,
                        1.0f, A, lda, Bt, ldb, beta, C + n0, ldc);
    }
}

/* Buffers big enough for every product of a batch. */
typedef struct buffers {
    float *x, *w[3], *dw[3], *a[4], *d[4];
} buffers;

static float *filled(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* One batch of B rows, layer 0 with k0 input columns. */
static void batch_products(buffers *b, int B, int k0)
{
    const int in0 = k0;
    /* forward: a_{k+1} (B×n_{k+1}) = a_k (B×n_k) W_kᵀ */
    gemm(0, 1, B, width[1], in0, b->x, in0, b->w[0], in0, 0.0f, b->a[1], width[1]);
    gemm(0, 1, B, width[2], width[1], b->a[1], width[1], b->w[1], width[1], 0.0f, b->a[2], width[2]);
    gemm(0, 1, B, width[3], width[2], b->a[2], width[2], b->w[2], width[2], 0.0f, b->a[3], width[3]);
    /* backward: dW_k (n_{k+1}×n_k) = dZᵀ a_k; dX = dZ W_k */
    gemm(1, 0, width[3], width[2], B, b->d[3], width[3], b->a[2], width[2], 0.0f, b->dw[2], width[2]);
    gemm(0, 0, B, width[2], width[3], b->d[3], width[3], b->w[2], width[2], 0.0f, b->d[2], width[2]);
    gemm(1, 0, width[2], width[1], B, b->d[2], width[2], b->a[1], width[1], 0.0f, b->dw[1], width[1]);
    gemm(0, 0, B, width[1], width[2], b->d[2], width[2], b->w[1], width[1], 0.0f, b->d[1], width[1]);
    gemm(1, 0, width[1], in0, B, b->d[1], width[1], b->x, in0, 0.0f, b->dw[0], in0);
}

/* Seconds of one epoch's products (the median of reps). */
static double time_epoch(buffers *b, int k0, int reps)
{
    double *t = malloc((size_t)reps * sizeof *t), median;
    const int full = N_TRAIN / BATCH, rest = N_TRAIN % BATCH;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = now();
        for (int i = 0; i < full; i++) batch_products(b, BATCH, k0);
        if (rest) batch_products(b, rest, k0);
        if (r >= 0) t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    median = t[reps / 2];
    free(t);
    return median;
}

/* The mean number of pixels some image of a batch uses, over the batches of
 * 64 consecutive training images (the shuffled batches of an epoch are as
 * random). */
static double mean_used_pixels(const dn_dataset *train)
{
    double sum = 0;
    size_t batches = 0;
    for (size_t first = 0; first < train->count; first += BATCH, batches++) {
        unsigned char any[DN_IMAGE_PIXELS] = {0};
        size_t end = first + BATCH < train->count ? first + BATCH : train->count;
        for (size_t i = first; i < end; i++)
            for (int k = 0; k < DN_IMAGE_PIXELS; k++) any[k] |= train->images[i * DN_IMAGE_PIXELS + k] != 0;
        for (int k = 0; k < DN_IMAGE_PIXELS; k++) sum += any[k];
    }
    return sum / (double)batches;
}

static const char *how_name(int way)
{
    return way == 0 ? "1 thread" : way == 1 ? "OpenBLAS's 2 threads" : "2 threads splitting the columns";
}

int main(int argc, char **argv)
{
    int reps, status = 0;
    dn_dataset *train = bench_load_train(argc, argv, "bench_sgemm_floor", &reps, &status);
    if (!train) return status;
    const double used = mean_used_pixels(train);
    dn_dataset_free(train);
    buffers b;
    b.x = filled((size_t)BATCH * 784);
    for (int k = 0; k < 3; k++) {
        b.w[k] = filled((size_t)width[k] * width[k + 1]);
        b.dw[k] = filled((size_t)width[k] * width[k + 1]);
    }
    for (int k = 0; k < 4; k++) b.a[k] = filled((size_t)BATCH * width[k]), b.d[k] = filled((size_t)BATCH * width[k]);
    const int k0[2] = {784, (int)(used + 0.5)};
    const char *name[2] = {"dense definition (K = 784 at layer 0)", "layer 0 on the batch's used pixels"};
    double floor_of[2];
    for (int v = 0; v < 2; v++) {
        double best = 0;
        int best_threads = 0; /* the fastest way */
        const char *how[3] = {"OpenBLAS on 1 thread", "OpenBLAS on 2 threads",
                              "2 threads, each OpenBLAS on 1 thread for half the columns"};
        for (int way = 0; way < 3; way++) {
            openblas_set_num_threads(way == 1 ? 2 : 1);
            split_columns = way == 2;
            double s = time_epoch(&b, k0[v], reps);
            printf("FLOOR\tMLP epoch products, %s: %s %.4f s\n", name[v], how[way], s);
            if (way == 0 || s < best) best = s, best_threads = way;
        }
        floor_of[v] = best;
        printf("ROW\tmlp 784-300-100-10 epoch\tsgemm floor, %s\t%.4f\t%.4f\t%.4f\tthe epoch's matrix products alone, "
               "OpenBLAS (%s), the fastest of three ways: %s; K = %d\n",
               name[v], best, best, best, openblas_get_config(), how_name(best_threads), k0[v]);
    }
    printf("FLOOR\tmean used pixels of a batch of %d: %.1f of 784\n", BATCH, used);
    printf("MLPFLOOR\t%.6f\t%.6f\n", floor_of[0], floor_of[1]);
    free(b.x);
    for (int k = 0; k < 3; k++) free(b.w[k]), free(b.dw[k]);
    for (int k = 0; k < 4; k++) free(b.a[k]), free(b.d[k]);
    return 0;
}
