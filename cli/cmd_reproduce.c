/* cmd_reproduce.c — `digitnet reproduce`: the classic perceptron experiment,
 * every run recorded as a CSV and summed up in out/report.md. */
#include <stdlib.h>
#include <string.h>

#include "pta_run.h"

typedef struct experiment {
    const char *data, *out;
    double epsilon;   /* the chosen ε for the three n = 60000 runs */
    int cap;          /* epoch cap of the n = 60000, ε = 0 run */
    int max_epochs;   /* cap of every other run */
    int precision;
    int threads;
} experiment;

typedef struct run_plan {
    size_t n;
    double epsilon;
    uint64_t seed;
    int max_epochs;
    char name[64]; /* file stem: pta_n50 ... */
} run_plan;

static int plan_runs(const experiment *ex, run_plan plans[6])
{
    const size_t sizes[3] = {50, 1000, 60000};
    int count = 0;
    for (int i = 0; i < 3; i++) {
        plans[count] = (run_plan){sizes[i], 0.0, 1, i == 2 ? ex->cap : ex->max_epochs, ""};
        snprintf(plans[count].name, sizeof plans[count].name, "pta_n%zu_eps0", sizes[i]);
        count++;
    }
    for (uint64_t seed = 1; seed <= 3; seed++) {
        plans[count] = (run_plan){60000, ex->epsilon, seed, ex->max_epochs, ""};
        snprintf(plans[count].name, sizeof plans[count].name, "pta_n60000_eps%g_seed%llu", ex->epsilon,
                 (unsigned long long)seed);
        count++;
    }
    return count;
}

static double percent(size_t part, size_t whole) { return 100.0 * (double)part / (double)whole; }

static void write_summary(FILE *fp, const run_plan *plans, const pta_run *runs, int count)
{
    fprintf(fp, "| run | n | ε | seed | epochs | converged | last count-pass errors | test error (W) | "
                "test error (averaged W) | seconds |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int r = 0; r < count; r++) {
        const pta_run *run = &runs[r];
        fprintf(fp, "| [%s](%s.csv) | %zu | %g | %llu | %d | %s | %zu (%.2f%%) | %.2f%% | %.2f%% | %.2f |\n",
                plans[r].name, plans[r].name, plans[r].n, plans[r].epsilon, (unsigned long long)plans[r].seed,
                run->epochs, run->result.converged ? "yes" : "no", run->result.final_errors,
                percent(run->result.final_errors, plans[r].n), percent(run->test_errors, run->test_count),
                percent(run->test_errors_average, run->test_count), run->train_seconds);
    }
}

static void write_curves(FILE *fp, const run_plan *plans, const pta_run *runs, int count)
{
    fprintf(fp, "\n## Misclassifications per epoch\n\nEpoch 0 is the count pass with the initial W.\n");
    for (int r = 0; r < count; r++) {
        fprintf(fp, "\n**%s** (n = %zu, ε = %g, seed %llu):\n\n```\n", plans[r].name, plans[r].n, plans[r].epsilon,
                (unsigned long long)plans[r].seed);
        for (int e = 0; e < runs[r].epochs; e++)
            fprintf(fp, "%s%zu", e == 0 ? "" : (e % 15 == 0 ? ",\n" : ", "), runs[r].errors[e]);
        fprintf(fp, "\n```\n");
    }
}

static size_t min_errors(const pta_run *run)
{
    size_t best = SIZE_MAX;
    for (int e = 0; e < run->epochs; e++)
        if (run->errors[e] < best) best = run->errors[e];
    return best;
}

static void write_reading(FILE *fp, const experiment *ex, const pta_run *runs)
{
    const pta_run *small = &runs[0], *medium = &runs[1], *full = &runs[2];
    fprintf(fp, "\n## Reading\n\n");
    fprintf(fp,
            "- **n = 50 overfits.** The perceptron separates 50 images in %d epochs (0 training errors), yet "
            "misclassifies %.2f%% of the 10 000 test images. Fifty samples (about five per digit) pin down "
            "almost nothing of the 7 840 weights: any W that separates them is accepted, and most such W "
            "encode the quirks of those few strokes rather than what makes a digit.\n",
            small->epochs, percent(small->test_errors, small->test_count));
    fprintf(fp,
            "- **n = 1000** is still separable (%d epochs to 0 errors) and generalises much better: %.2f%% "
            "test error. More samples leave fewer separating W, and those that remain are closer to the "
            "digits' real shape.\n",
            medium->epochs, percent(medium->test_errors, medium->test_count));
    fprintf(fp,
            "- **n = 60000 with ε = 0 never converges.** After %d epochs the count pass still finds %zu errors "
            "(lowest %zu). The perceptron convergence theorem guarantees a finite number of updates only for "
            "linearly separable data; the full training set is not separable by ten bias-free linear units, so "
            "W keeps cycling and the error count oscillates instead of reaching 0.\n",
            full->epochs, full->result.final_errors, min_errors(full));
    fprintf(fp,
            "- **ε = %g at n = 60000** stops as soon as the count pass is at or below %g%% errors; the three "
            "initial W give the epochs and test errors in the table above: the starting point changes the path, "
            "not where it ends.\n",
            ex->epsilon, 100 * ex->epsilon);
    fprintf(fp,
            "- **The averaged perceptron** predicts with the mean of W over every update step. The last W is "
            "wherever the final updates pushed it; the average smooths those swings, so its test error is "
            "lower and steadier (last column).\n");
}

static dn_status write_report(const experiment *ex, const run_plan *plans, const pta_run *runs, int count,
                              dn_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/report.md", ex->out);
    cli_text t;
    if (cli_text_open(&t)) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    fprintf(t.fp, "# The multicategory perceptron on MNIST\n\n");
    fprintf(t.fp,
            "digitnet %s, `digitnet reproduce`. W ∈ R^(10×784), no bias, x = pixels/255, η = 1, initial W "
            "uniform in [0,1) from the seed, %s precision. Each epoch counts the misclassifications of the first "
            "n training images with the current W (argmax, lowest index on ties), then applies "
            "W ← W + η(d(x) − u(Wx))xᵀ to each of them in order; training stops when errors/n ≤ ε. Test error "
            "is measured on the 10 000 test images with the final W, and with the averaged W.\n\n",
            DN_VERSION, ex->precision ? "double" : "float");
    write_summary(t.fp, plans, runs, count);
    write_reading(t.fp, ex, runs);
    write_curves(t.fp, plans, runs, count);
    return cli_text_commit(&t, path, err);
}

static dn_status run_all(const experiment *ex, const dn_dataset *train, const dn_dataset *test, run_plan *plans,
                         pta_run *runs, int count, dn_error *err)
{
    for (int r = 0; r < count; r++) {
        pta_run *run = &runs[r];
        dn_pta_options_default(&run->opt);
        run->opt.train_size = plans[r].n;
        run->opt.epsilon = plans[r].epsilon;
        run->opt.seed = plans[r].seed;
        run->opt.max_epochs = plans[r].max_epochs;
        run->opt.precision = ex->precision ? DN_FLOAT64 : DN_FLOAT32;
        run->opt.average = 1;
        run->opt.threads = ex->threads;
        dn_status s = pta_run_execute(run, train, test, err);
        if (s) return s;
        printf("%-28s epochs %4d  last errors %6zu  test error %6.2f%%  averaged %6.2f%%  %7.2f s\n", plans[r].name,
               run->epochs, run->result.final_errors, percent(run->test_errors, run->test_count),
               percent(run->test_errors_average, run->test_count), run->train_seconds);
        fflush(stdout);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.csv", ex->out, plans[r].name);
        if ((s = pta_run_write_metrics(run, path, err))) return s;
    }
    return DN_OK;
}

int cmd_reproduce(int argc, char **argv)
{
    experiment ex = {"data/mnist", "out", 0.14, 50, 200, 0, 0};
    static const char *const precisions[] = {"float", "double", NULL};
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &ex.data, "DIR", "MNIST-format folder", 0, 0, 0, NULL},
        {"--out", CLI_STRING, &ex.out, "DIR", "where report.md and the CSVs go", 0, 0, 0, NULL},
        {"--epsilon", CLI_DOUBLE, &ex.epsilon, "EPS", "the ε of the three n = 60000 runs", 0, 1, 0, NULL},
        {"--cap", CLI_INT, &ex.cap, "M", "epochs of the n = 60000, ε = 0 run", 1, 1e6, 0, NULL},
        {"--max-epochs", CLI_INT, &ex.max_epochs, "M", "epoch cap of the other runs", 1, 1e6, 0, NULL},
        {"--precision", CLI_CHOICE, &ex.precision, "P", "arithmetic", 0, 0, 0, precisions},
        {"--threads", CLI_INT, &ex.threads, "T", "threads for the count pass, 0 = all cores", 0, 1024, 0, NULL},
    };
    const cli_spec spec = {"reproduce", "", "The classic perceptron experiment: n = 50, 1000, 60000 and three seeds at "
                                            "a chosen epsilon; writes DIR/report.md and a CSV per run.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;

    dn_error err = {0};
    if (cli_make_dirs(ex.out, &err)) return cli_report(&err);
    dn_dataset *train = NULL, *test = NULL;
    if ((rc = cli_load_mnist(ex.data, &train, &test))) return rc;
    run_plan plans[6];
    pta_run runs[6];
    memset(runs, 0, sizeof runs);
    int count = plan_runs(&ex, plans);
    dn_status s = run_all(&ex, train, test, plans, runs, count, &err);
    if (!s) s = write_report(&ex, plans, runs, count, &err);
    if (!s) printf("wrote %s/report.md and %d CSV files\n", ex.out, count);
    for (int r = 0; r < count; r++) pta_run_free(&runs[r]);
    dn_dataset_free(train);
    dn_dataset_free(test);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
