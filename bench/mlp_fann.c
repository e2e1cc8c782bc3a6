/*
 * mlp_fann.c — FANN's twin of `digitnet mlp` for the benchmark:
 * 784-300-100-10 trained incrementally (online SGD, one sample per update,
 * FANN_TRAIN_INCREMENTAL), one epoch at a time, timed around
 * fann_train_epoch alone.
 *
 * FANN 2.2 (Debian's libfann-dev) has no ReLU: the hidden layers use its
 * standard symmetric sigmoid (tanh) and the outputs its sigmoid, trained on
 * FANN's mean squared error against the one-hot target. FANN keeps its data
 * as float, so the training set is expanded to 60000 × 784 floats (188 MB).
 *
 * bench/bench_mlp.sh builds this with -lfann once `make bench` has installed
 * libfann-dev (the CMake build leaves it out, so the project builds without FANN).
 *
 * usage: mlp_fann DATA_DIR TIMED_EPOCHS  → "epoch_seconds S" per timed epoch
 *        (after one warm-up epoch) and "test_accuracy A" at the end.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>

#include <floatfann.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A raw IDX file: its items after a header of `header` bytes. */
static unsigned char *read_idx(const char *dir, const char *name, long header, long *items, long item_size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "mlp_fann: cannot open %s (raw IDX files are needed)\n", path);
        exit(1);
    }
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, header, SEEK_SET);
    *items = (size - header) / item_size;
    unsigned char *data = malloc((size_t)(size - header));
    if (!data || fread(data, 1, (size_t)(size - header), fp) != (size_t)(size - header)) {
        fprintf(stderr, "mlp_fann: cannot read %s\n", path);
        exit(1);
    }
    fclose(fp);
    return data;
}

/* FANN's training data: x = pixel / 255, target one-hot. */
static struct fann_train_data *load(const char *dir, const char *split)
{
    char images_name[64], labels_name[64];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", split);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", split);
    long n, nl;
    unsigned char *images = read_idx(dir, images_name, 16, &n, 784), *labels = read_idx(dir, labels_name, 8, &nl, 1);
    struct fann_train_data *data = fann_create_train((unsigned)n, 784, 10);
    for (long i = 0; i < n; i++) {
        for (int k = 0; k < 784; k++) data->input[i][k] = (fann_type)images[i * 784 + k] / 255.0f;
        for (int j = 0; j < 10; j++) data->output[i][j] = j == labels[i] ? 1.0f : 0.0f;
    }
    free(images);
    free(labels);
    return data;
}

static double accuracy(struct fann *ann, struct fann_train_data *test)
{
    unsigned right = 0;
    for (unsigned i = 0; i < fann_length_train_data(test); i++) {
        fann_type *out = fann_run(ann, test->input[i]);
        int best = 0;
        for (int j = 1; j < 10; j++)
            if (out[j] > out[best]) best = j;
        right += test->output[i][best] == 1.0f;
    }
    return (double)right / fann_length_train_data(test);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "data/mnist";
    int timed = argc > 2 ? atoi(argv[2]) : 5;
    struct fann_train_data *train = load(dir, "train"), *test = load(dir, "t10k");
    struct fann *ann = fann_create_standard(4, 784, 300, 100, 10);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_set_activation_function_hidden(ann, FANN_SIGMOID_SYMMETRIC);
    fann_set_activation_function_output(ann, FANN_SIGMOID);
    fann_set_learning_rate(ann, 0.1f);
    fann_set_learning_momentum(ann, 0.0f);
    srand(1);
    fann_randomize_weights(ann, -0.05f, 0.05f);
    printf("fann %s incremental, tanh hidden, sigmoid output, mse\n", "2.2");
    for (int epoch = 0; epoch <= timed; epoch++) {
        fann_shuffle_train_data(train);
        double t0 = now();
        fann_train_epoch(ann, train);
        double seconds = now() - t0;
        if (epoch > 0) printf("epoch_seconds %.4f\n", seconds); /* epoch 0 is the warm-up */
        fflush(stdout);
    }
    printf("test_accuracy %.4f\n", accuracy(ann, test));
    fann_destroy(ann);
    fann_destroy_train(train);
    fann_destroy_train(test);
    return 0;
}
