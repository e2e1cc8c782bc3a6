/* main.c — the digitnet program: picks the subcommand and hands it argv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"pta", cmd_pta, "train the multicategory perceptron (PTA)"},
    {"eval", cmd_eval, "test accuracy and confusion matrix of a saved model"},
    {"mlp", cmd_mlp, "train a multi-layer network by backpropagation"},
    {"predict", cmd_predict, "classify PNG images or an IDX image file with a saved model"},
    {"inspect", cmd_inspect, "show a model's layers, shapes and weight statistics"},
    {"export", cmd_export, "write a model's tensors as .npy files, or the model as C source"},
    {"import", cmd_import, "make a model file from .npy tensors (export --npy, or NumPy)"},
    {"activations", cmd_activations, "write the activations of one layer of an MLP as .npy"},
    {"reproduce", cmd_reproduce, "run the classic perceptron experiment and write out/report.md"},
    {"plot", cmd_plot, "draw a metrics CSV (epoch or round per row) as an SVG line chart"},
    {"partition", cmd_partition, "split the training set among K federated clients, with label counts"},
    {"serve", cmd_serve, "serve saved models over HTTP, with a page to draw digits on"},
    {"augment", cmd_augment, "draw training images and their --augment distortions as a PNG grid"},
};

/* OpenBLAS starts its worker threads when it loads, and each spins
 * (sched_yield) for about 0.1 s before it sleeps: on two cores that takes a
 * core from whatever runs first. digitnet's training runs OpenBLAS on one
 * thread per thread of its own (or, the perceptron, not at all), so the
 * program stops the idle pool before it starts; OpenBLAS starts it again at
 * its next threaded call. Measured, bench_pta (which does the same): a PTA
 * epoch 5.9 ms with the pool stopped or OPENBLAS_NUM_THREADS=1 in 6 of 6
 * processes, 15.7–15.9 ms in 3 of 6 without (the first MLP epoch, ~0.3 s,
 * showed no difference through the VM's noise).
 * blas_thread_shutdown_ is OpenBLAS's own (it stops the pool before a
 * fork), exported but not in its headers: weak, so that with another BLAS
 * nothing happens. Here, not in the library: only a program knows that no
 * other thread is inside OpenBLAS. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

static void stop_idle_blas_pool(void)
{
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

static void usage(FILE *out)
{
    fprintf(out, "digitnet %s — handwritten-digit classifiers from scratch\n\nusage: digitnet COMMAND [options]\n\n",
            DN_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'digitnet COMMAND --help' lists a command's options and their defaults.\n");
}

/* ------------------------------------------------- features of this build */

/* The build system names the optional features it found: DN_CLI_FEATURES is
 * the list --version prints, DN_CLI_HAVE_MPI, DN_CLI_HAVE_PNG and
 * DN_CLI_HAVE_HTTP what the checks below need. */
#ifndef DN_CLI_FEATURES
#define DN_CLI_FEATURES "blas"
#endif

#ifndef DN_CLI_HAVE_MPI
/* Started by mpirun (or another PMI launcher) as one of several processes. */
static int launched_as_several_processes(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return strtol(v, NULL, 10) > 1;
    }
    return 0;
}
#endif

#ifndef DN_CLI_HAVE_PNG
static int ends_with_png(const char *arg)
{
    size_t n = strlen(arg);
    return n > 4 && (strcmp(arg + n - 4, ".png") == 0 || strcmp(arg + n - 4, ".PNG") == 0);
}

/* Figures (--plot, reproduce) include PNG images, and predict reads PNG files. */
static int needs_png(int argc, char **argv)
{
    if (strcmp(argv[0], "reproduce") == 0) return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--plot") == 0 || strncmp(argv[i], "--plot=", 7) == 0 || ends_with_png(argv[i])) return 1;
    return 0;
}
#endif

/* One line naming what is missing, before any work, instead of a failure
 * halfway through a run; 0 when this build has what the command needs. */
static int check_features(int argc, char **argv)
{
    (void)argc, (void)argv;
#ifndef DN_CLI_HAVE_MPI
    /* Without MPI every process would train alone as rank 0 and write the same files. */
    if (launched_as_several_processes()) {
        fprintf(stderr, "digitnet was built without MPI; install libopenmpi-dev and rebuild\n");
        return CLI_EXIT_USAGE;
    }
#endif
#ifndef DN_CLI_HAVE_HTTP
    if (strcmp(argv[0], "serve") == 0) {
        fprintf(stderr, "digitnet was built without libmicrohttpd; install libmicrohttpd-dev and rebuild\n");
        return CLI_EXIT_USAGE;
    }
#endif
#ifndef DN_CLI_HAVE_PNG
    if (needs_png(argc, argv)) {
        fprintf(stderr, "digitnet was built without libpng; install libpng-dev and rebuild\n");
        return CLI_EXIT_USAGE;
    }
#endif
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    stop_idle_blas_pool();
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("digitnet %s (features: %s; matrix products: OpenBLAS %s kernels)\n", dn_version(), DN_CLI_FEATURES,
               dn_blas_kernel());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            int missing = check_features(argc - 1, argv + 1);
            return missing ? missing : commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "digitnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
