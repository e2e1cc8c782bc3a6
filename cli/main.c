/* main.c — the digitnet program: picks the subcommand and hands it argv. */
#include <stdio.h>
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
    {"export", cmd_export, "write every tensor of a model as a .npy file"},
    {"activations", cmd_activations, "write the activations of one layer of an MLP as .npy"},
    {"reproduce", cmd_reproduce, "run the classic perceptron experiment and write out/report.md"},
    {"plot", cmd_plot, "draw a metrics CSV (epoch or round per row) as an SVG line chart"},
};

static void usage(FILE *out)
{
    fprintf(out, "digitnet %s — handwritten-digit classifiers from scratch\n\nusage: digitnet COMMAND [options]\n\n",
            DN_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'digitnet COMMAND --help' lists a command's options and their defaults.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("digitnet %s\n", DN_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "digitnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
