/* cmd_partition.c — `digitnet partition`: the training set split among K
 * federated clients (dn_partition_make), written as the assignment file
 * runs load, each client's label counts as CSV and a clients × labels heat
 * map, with the sizes and a short label summary printed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define SHOWN_CLIENTS 10

/* labels.csv: client, n, then the count of each label. */
static dn_status write_counts_csv(const char *path, const dn_partition *part, dn_error *err)
{
    cli_text t;
    if (cli_text_open(&t) != 0) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory while composing the file", path);
    fprintf(t.fp, "client,n");
    for (int d = 0; d < DN_CLASSES; d++) fprintf(t.fp, ",label_%d", d);
    fputc('\n', t.fp);
    for (size_t k = 0; k < dn_partition_clients(part); k++) {
        const size_t *counts = dn_partition_label_counts(part, k);
        fprintf(t.fp, "%zu,%zu", k, dn_partition_client_size(part, k));
        for (int d = 0; d < DN_CLASSES; d++) fprintf(t.fp, ",%zu", counts[d]);
        fputc('\n', t.fp);
    }
    return cli_text_commit(&t, path, err);
}

/* Sizes, labels per client and the mean largest label share, then the first clients' rows. */
static void print_summary(const dn_partition *part)
{
    size_t k = dn_partition_clients(part), smallest = (size_t)-1, largest = 0, fewest = DN_CLASSES, most = 0;
    double sum = 0, sum2 = 0, share = 0, labels = 0;
    for (size_t c = 0; c < k; c++) {
        size_t n = dn_partition_client_size(part, c), top = 0, present = 0;
        const size_t *counts = dn_partition_label_counts(part, c);
        for (int d = 0; d < DN_CLASSES; d++) {
            present += counts[d] > 0;
            if (counts[d] > top) top = counts[d];
        }
        if (n < smallest) smallest = n;
        if (n > largest) largest = n;
        if (present < fewest) fewest = present;
        if (present > most) most = present;
        sum += (double)n;
        sum2 += (double)n * (double)n;
        labels += (double)present;
        share += n ? (double)top / (double)n : 0;
    }
    double mean = sum / (double)k, std = sqrt(fmax(sum2 / (double)k - mean * mean, 0));
    printf("client sizes: min %zu, max %zu, mean %.1f, std %.1f\n", smallest, largest, mean, std);
    printf("labels per client: min %zu, max %zu, mean %.2f; largest label share: mean %.3f\n", fewest, most,
           labels / (double)k, share / (double)k);
    printf("client       n |");
    for (int d = 0; d < DN_CLASSES; d++) printf("%6d", d);
    printf("\n");
    for (size_t c = 0; c < k && c < SHOWN_CLIENTS; c++) {
        const size_t *counts = dn_partition_label_counts(part, c);
        printf("%6zu %7zu |", c, dn_partition_client_size(part, c));
        for (int d = 0; d < DN_CLASSES; d++) printf("%6zu", counts[d]);
        printf("\n");
    }
    if (k > SHOWN_CLIENTS) printf("(%zu more clients in labels.csv)\n", k - SHOWN_CLIENTS);
}

static dn_status write_outputs(const char *out, const dn_partition *part, const char *spec_text, dn_error *err)
{
    char path[4096], title[160];
    dn_status s = cli_make_dirs(out, err);
    if (!s && snprintf(path, sizeof path, "%s/partition.safetensors", out) >= (int)sizeof path)
        s = cli_fail(err, DN_ERR_USAGE, "%s: path too long", out);
    if (!s) s = dn_partition_save(part, path, err);
    if (!s) {
        snprintf(path, sizeof path, "%s/labels.csv", out);
        s = write_counts_csv(path, part, err);
    }
    if (!s) {
        snprintf(path, sizeof path, "%s/labels.svg", out);
        snprintf(title, sizeof title, "Labels per client: %s, %zu clients, seed %llu", spec_text,
                 dn_partition_clients(part), (unsigned long long)dn_partition_seed(part));
        s = dn_plot_heatmap(path, title, "client", "label", dn_partition_label_counts(part, 0),
                            dn_partition_clients(part), DN_CLASSES, 1, err);
    }
    if (!s) printf("wrote %s/partition.safetensors, %s/labels.csv, %s/labels.svg\n", out, out, out);
    return s;
}

int cmd_partition(int argc, char **argv)
{
    const char *data = "data/mnist", *spec_text = "iid", *out = NULL;
    size_t clients = 100, train_size = 60000;
    uint64_t seed = 1;
    char spec_help[160];
    snprintf(spec_help, sizeof spec_help, "how to split: %s", dn_partition_syntax());
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &data, "DIR", "MNIST-format folder (its train split is partitioned)", 0, 0, 0, NULL},
        {"--clients", CLI_SIZE, &clients, "K", "number of clients", 1, 1e6, 0, NULL},
        {"--partition", CLI_STRING, &spec_text, "SPEC", spec_help, 0, 0, 0, NULL},
        {"--seed", CLI_U64, &seed, "S", "seed of every random draw", 0, 1.8e19, 0, NULL},
        {"--train-size", CLI_SIZE, &train_size, "N", "partition the first N training samples", 1, 1e6, 0, NULL},
        {"--out", CLI_STRING, &out, "DIR",
         "write partition.safetensors, labels.csv and labels.svg into DIR (required)", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"partition", "",
                           "Split the training set among K federated clients; save the assignment, each client's "
                           "label counts and a heat map of them.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);

    dn_error err = {0};
    dn_partition_spec pspec;
    if (!out) {
        cli_fail(&err, DN_ERR_USAGE, "partition: --out DIR is required");
        return cli_report(&err);
    }
    if (dn_partition_parse(spec_text, &pspec, &err)) return cli_report(&err);
    dn_dataset *train = NULL;
    if ((rc = cli_load_mnist(data, &train, NULL))) return rc;
    dn_status s = DN_OK;
    if (train_size > train->count)
        s = cli_fail(&err, DN_ERR_USAGE, "--train-size %zu is larger than the training set (valid: 1 to %zu)",
                     train_size, train->count);
    else if (clients > train_size)
        s = cli_fail(&err, DN_ERR_USAGE, "--clients %zu is more than the %zu samples (valid: 1 to %zu)", clients,
                     train_size, train_size);
    dn_partition *part = s ? NULL : dn_partition_make(train, train_size, clients, &pspec, seed, &err);
    if (!s && !part) s = err.code;
    if (!s) {
        char canonical[64];
        dn_partition_format(&pspec, canonical, sizeof canonical);
        printf("partition: %s of the first %zu training samples over %zu clients (seed %llu)\n", canonical,
               train_size, clients, (unsigned long long)seed);
        print_summary(part);
        s = write_outputs(out, part, canonical, &err);
    }
    dn_partition_free(part);
    dn_dataset_free(train);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
