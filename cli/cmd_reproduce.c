/* cmd_reproduce.c — `digitnet reproduce`: the classic perceptron experiment,
 * every run recorded as a CSV, drawn as figures and summed up in
 * out/report.md and the self-contained out/report.html.
 *
 * Runs 0–2 are n = 50, 1000, 60000 at ε = 0 (seed 1); runs 3–5 are
 * n = 60000 at the chosen ε with seeds 1–3. The reading text and the
 * figures refer to runs by these indices. */
#include <stdlib.h>
#include <string.h>

#include "figures.h"
#include "progress.h"
#include "pta_run.h"
#include "report.h"
#include "reproduce_fedavg.h"
#include "reproduce_robust.h"

#define RUNS 6

typedef struct experiment {
    const char *data, *out;
    double epsilon; /* the chosen ε for the three n = 60000 runs */
    int cap;        /* epoch cap of the n = 60000, ε = 0 run */
    int max_epochs; /* cap of every other run */
    int precision;
    int threads;
    int quiet;
} experiment;

typedef struct run_plan {
    size_t n;
    double epsilon;
    uint64_t seed;
    int max_epochs;
    char name[64];  /* file stem: pta_n50 ... */
    char label[64]; /* legend text */
} run_plan;

static int plan_runs(const experiment *ex, run_plan plans[RUNS])
{
    const size_t sizes[3] = {50, 1000, 60000};
    int count = 0;
    for (int i = 0; i < 3; i++) {
        plans[count] = (run_plan){sizes[i], 0.0, 1, i == 2 ? ex->cap : ex->max_epochs, "", ""};
        snprintf(plans[count].name, sizeof plans[count].name, "pta_n%zu_eps0", sizes[i]);
        snprintf(plans[count].label, sizeof plans[count].label, "n = %zu, ε = 0", sizes[i]);
        count++;
    }
    for (uint64_t seed = 1; seed <= 3; seed++) {
        plans[count] = (run_plan){60000, ex->epsilon, seed, ex->max_epochs, "", ""};
        snprintf(plans[count].name, sizeof plans[count].name, "pta_n60000_eps%g_seed%llu", ex->epsilon,
                 (unsigned long long)seed);
        snprintf(plans[count].label, sizeof plans[count].label, "n = 60000, ε = %g, seed %llu", ex->epsilon,
                 (unsigned long long)seed);
        count++;
    }
    return count;
}

static double percent(size_t part, size_t whole) { return 100.0 * (double)part / (double)whole; }

/* ---------------------------------------------------------------- running */

/* One bar over the whole suite. Its units are samples visited (n per
 * epoch), because an epoch at n = 60000 costs 1200 at n = 50; the total
 * assumes every run goes to its cap, so the ETA is an upper bound. */
typedef struct suite {
    progress bar;
    const run_plan *plans;
    int count, current;
    double done_before; /* units of the runs already finished (their whole budget) */
} suite;

static void show_epoch(const pta_run *run, const dn_pta_run_report *r, void *user)
{
    suite *su = user;
    const run_plan *plan = &su->plans[su->current];
    char status[192];
    snprintf(status, sizeof status, "run %d/%d %s: epoch %d, %zu errors (%.2f%%)", su->current + 1, su->count,
             plan->name, r->epoch, r->errors, percent(r->errors, r->n));
    progress_step(&su->bar, su->done_before + (double)plan->n * run->epochs, status);
}

static void configure(pta_run *run, const experiment *ex, const run_plan *plan, suite *su)
{
    dn_pta_options_default(&run->opt);
    run->opt.train_size = plan->n;
    run->opt.epsilon = plan->epsilon;
    run->opt.seed = plan->seed;
    run->opt.max_epochs = plan->max_epochs;
    run->opt.precision = ex->precision ? DN_FLOAT64 : DN_FLOAT32;
    run->opt.average = 1;
    run->opt.threads = ex->threads;
    run->on_epoch = show_epoch;
    run->on_epoch_user = su;
}

static dn_status run_all(const experiment *ex, const dn_dataset *train, const dn_dataset *test, const run_plan *plans,
                         pta_run *runs, int count, dn_error *err)
{
    suite su = {.plans = plans, .count = count};
    double total = 0;
    for (int r = 0; r < count; r++) total += (double)plans[r].n * plans[r].max_epochs;
    progress_begin(&su.bar, stderr, progress_mode_for(stderr, ex->quiet), "reproduce", NULL, total, 1);
    dn_status s = DN_OK;
    for (int r = 0; r < count && !s; r++) {
        pta_run *run = &runs[r];
        su.current = r;
        configure(run, ex, &plans[r], &su);
        if ((s = pta_run_execute(run, train, test, err))) break;
        su.done_before += (double)plans[r].n * plans[r].max_epochs;
        progress_clear(&su.bar); /* the result line below gets a clean terminal line */
        printf("%-28s epochs %4d  last errors %6zu  test error %6.2f%%  averaged %6.2f%%  %7.2f s\n", plans[r].name,
               run->epochs, run->result.final_errors, percent(run->test_errors, run->test_count),
               percent(run->test_errors_average, run->test_count), run->train_seconds);
        fflush(stdout);
        char path[4096];
        if (!(s = figures_path(path, sizeof path, ex->out, plans[r].name, err))) {
            strncat(path, ".csv", sizeof path - strlen(path) - 1);
            s = pta_run_write_metrics(run, path, err);
        }
    }
    if (!s) su.bar.done = total; /* runs that converged early left part of their budget unused */
    progress_end(&su.bar, s ? NULL : "all runs done");
    return s;
}

/* ---------------------------------------------------------------- figures */

/* The classic figure, one per training-set size: epoch vs misclassified
 * training images, one line per run of that size. */
static dn_status plot_curves_of_size(const experiment *ex, const run_plan *plans, const pta_run *runs, int count,
                                     size_t n, dn_error *err)
{
    dn_plot_series series[RUNS];
    size_t nseries = 0;
    dn_status s = DN_OK;
    for (int r = 0; r < count && !s; r++) {
        if (plans[r].n != n) continue;
        double *y = pta_run_curve(&runs[r], 0);
        if (!y) s = cli_fail(err, DN_ERR_NOMEM, "out of memory plotting the curves");
        else series[nseries++] = (dn_plot_series){plans[r].label, NULL, y, (size_t)runs[r].epochs};
    }
    char path[4096], name[64], title[128];
    snprintf(name, sizeof name, "fig_curve_n%zu.svg", n);
    snprintf(title, sizeof title, "Perceptron, n = %zu: misclassifications per epoch", n);
    if (!s) s = figures_path(path, sizeof path, ex->out, name, err);
    if (!s)
        s = dn_plot_lines(path, title, "epoch", "misclassified training images", series, nseries, NULL, err);
    for (size_t k = 0; k < nseries; k++) free((double *)series[k].y);
    return s;
}

/* Every run on one scale: errors as a percentage of n. */
static dn_status plot_error_rates(const experiment *ex, const run_plan *plans, const pta_run *runs, int count,
                                  dn_error *err)
{
    dn_plot_series series[RUNS];
    int made = 0;
    dn_status s = DN_OK;
    for (; made < count; made++) {
        double *y = pta_run_curve(&runs[made], 1);
        if (!y) {
            s = cli_fail(err, DN_ERR_NOMEM, "out of memory plotting the curves");
            break;
        }
        series[made] = (dn_plot_series){plans[made].label, NULL, y, (size_t)runs[made].epochs};
    }
    char path[4096];
    if (!s) s = figures_path(path, sizeof path, ex->out, "fig_error_rate.svg", err);
    if (!s)
        s = dn_plot_lines(path, "Training error per epoch, every run", "epoch", "misclassified (% of n)", series,
                          (size_t)made, NULL, err);
    for (int k = 0; k < made; k++) free((double *)series[k].y);
    return s;
}

/* The W of the n = 50 and n = 60000 runs, the latter also averaged; then
 * the averaged W of n = 60000 on the test set: confusion and gallery. */
static dn_status plot_weights_and_test(const experiment *ex, const pta_run *runs, const dn_dataset *test,
                                       dn_error *err)
{
    double *w = malloc(sizeof(double) * DN_CLASSES * DN_IMAGE_PIXELS);
    uint8_t *pred = malloc(test->count ? test->count : 1);
    dn_status s = w && pred ? DN_OK : cli_fail(err, DN_ERR_NOMEM, "out of memory drawing the weights");
    if (!s) dn_pta_get_weights(runs[0].pta, w), s = figures_weights(ex->out, "fig_weights_n50.png", w, NULL, err);
    if (!s) dn_pta_get_weights(runs[2].pta, w), s = figures_weights(ex->out, "fig_weights_n60000.png", w, NULL, err);
    if (!s) s = dn_pta_get_average(runs[2].pta, w, err);
    if (!s) s = figures_weights(ex->out, "fig_weights_n60000_average.png", w, NULL, err);
    if (!s) {
        dn_linear_predict(w, test->images, test->count, pred);
        s = figures_predictions(ex->out, "fig_", "averaged W, n = 60000, ε = 0, test set", test, pred, NULL, err);
    }
    free(w);
    free(pred);
    return s;
}

static dn_status plot_all(const experiment *ex, const run_plan *plans, const pta_run *runs, int count,
                          const dn_dataset *test, dn_error *err)
{
    dn_status s = DN_OK;
    for (int r = 0; r < count && !s; r++) {
        int first_of_size = 1;
        for (int q = 0; q < r; q++) first_of_size &= plans[q].n != plans[r].n;
        if (first_of_size) s = plot_curves_of_size(ex, plans, runs, count, plans[r].n, err);
    }
    if (!s) s = plot_error_rates(ex, plans, runs, count, err);
    if (!s) s = plot_weights_and_test(ex, runs, test, err);
    return s;
}

/* ----------------------------------------------------------------- report */

static void write_summary(report *rep, const run_plan *plans, const pta_run *runs, int count)
{
    report_table(rep, "run|n|ε|seed|epochs|converged|last count-pass errors|test error (W)|test error (averaged W)|"
                      "seconds");
    for (int r = 0; r < count; r++) {
        const pta_run *run = &runs[r];
        report_row(rep, "[%s](%s.csv)|%zu|%g|%llu|%d|%s|%zu (%.2f%%)|%.2f%%|%.2f%%|%.2f", plans[r].name, plans[r].name,
                   plans[r].n, plans[r].epsilon, (unsigned long long)plans[r].seed, run->epochs,
                   run->result.converged ? "yes" : "no", run->result.final_errors,
                   percent(run->result.final_errors, plans[r].n), percent(run->test_errors, run->test_count),
                   percent(run->test_errors_average, run->test_count), run->train_seconds);
    }
}

static size_t min_errors(const pta_run *run)
{
    size_t best = SIZE_MAX;
    for (int e = 0; e < run->epochs; e++)
        if (run->errors[e] < best) best = run->errors[e];
    return best;
}

/* Lowest (want_max = 0) or highest test error in % over runs [from, to), of
 * the last W (average = 0) or of the averaged W. */
static double spread_of(const pta_run *runs, int from, int to, int average, int want_max)
{
    double best = want_max ? 0.0 : 100.0;
    for (int r = from; r < to; r++) {
        size_t errors = average ? runs[r].test_errors_average : runs[r].test_errors;
        double e = percent(errors, runs[r].test_count);
        best = want_max ? (e > best ? e : best) : (e < best ? e : best);
    }
    return best;
}

static void write_reading(report *rep, const experiment *ex, const pta_run *runs)
{
    const pta_run *small = &runs[0], *medium = &runs[1], *full = &runs[2];
    report_heading(rep, 2, "Reading");
    report_bullet(rep,
                  "**n = 50 overfits.** The perceptron separates 50 images in %d epochs (0 training errors), yet "
                  "misclassifies %.2f%% of the 10 000 test images. Fifty samples (about five per digit) pin down "
                  "almost nothing of the 7 840 weights: any W that separates them is accepted, and most such W "
                  "encode the quirks of those few strokes rather than what makes a digit.",
                  small->epochs, percent(small->test_errors, small->test_count));
    report_bullet(rep,
                  "**n = 1000** is still separable (%d epochs to 0 errors) and generalises much better: %.2f%% "
                  "test error. More samples leave fewer separating W, and those that remain are closer to the "
                  "digits' real shape.",
                  medium->epochs, percent(medium->test_errors, medium->test_count));
    report_bullet(rep,
                  "**n = 60000 with ε = 0 never converges.** After %d epochs the count pass still finds %zu errors "
                  "(lowest %zu). The perceptron convergence theorem guarantees a finite number of updates only for "
                  "linearly separable data; the full training set is not separable by ten bias-free linear units, "
                  "so W keeps cycling and the error count oscillates instead of reaching 0.",
                  full->epochs, full->result.final_errors, min_errors(full));
    report_bullet(rep,
                  "**ε = %g at n = 60000.** The ε = 0 run never went below %.2f%% errors, so a useful ε sits just "
                  "above that floor: %g%% is low enough to need tens of epochs and high enough to be reached. The "
                  "three initial W stop after %d, %d and %d epochs (table above): the starting point changes the "
                  "path and its length, not where it ends.",
                  ex->epsilon, 100.0 * (double)min_errors(full) / 60000.0, 100 * ex->epsilon, runs[3].epochs,
                  runs[4].epochs, runs[5].epochs);
    report_bullet(rep,
                  "**The averaged perceptron** predicts with the mean of W over every update step. On the full set "
                  "the last W is wherever the final updates pushed it (test error %.2f%% to %.2f%% across the four "
                  "n = 60000 runs); the average smooths those swings (%.2f%% to %.2f%%). On a separable set it "
                  "barely matters: the last W already separates it, and so does the average (n = 50: %.2f%% vs "
                  "%.2f%%).",
                  spread_of(runs, 2, 6, 0, 0), spread_of(runs, 2, 6, 0, 1), spread_of(runs, 2, 6, 1, 0),
                  spread_of(runs, 2, 6, 1, 1), percent(small->test_errors, small->test_count),
                  percent(small->test_errors_average, small->test_count));
}

/* Per size: the figure, then each run's numbers. */
static void write_curves(report *rep, const run_plan *plans, const pta_run *runs, int count)
{
    report_heading(rep, 2, "Misclassifications per epoch");
    report_paragraph(rep, "Epoch 0 is the count pass with the initial W; each later point counts the errors of W "
                          "after one more pass of updates.");
    for (int r = 0; r < count; r++) {
        int first_of_size = 1;
        for (int q = 0; q < r; q++) first_of_size &= plans[q].n != plans[r].n;
        if (first_of_size) {
            char file[64], caption[160];
            snprintf(file, sizeof file, "fig_curve_n%zu.svg", plans[r].n);
            snprintf(caption, sizeof caption, "Misclassified training images per epoch, n = %zu.", plans[r].n);
            report_heading(rep, 3, "n = %zu", plans[r].n);
            report_figure(rep, file, caption);
        }
        report_paragraph(rep, "**%s** (n = %zu, ε = %g, seed %llu):", plans[r].name, plans[r].n, plans[r].epsilon,
                         (unsigned long long)plans[r].seed);
        cli_text t;
        if (cli_text_open(&t)) continue; /* out of memory: this block is missing, the report goes on */
        for (int e = 0; e < runs[r].epochs; e++)
            fprintf(t.fp, "%s%zu", e == 0 ? "" : (e % 15 == 0 ? ",\n" : ", "), runs[r].errors[e]);
        fclose(t.fp);
        report_code(rep, t.buffer ? t.buffer : "");
        free(t.buffer);
    }
}

static void write_pictures(report *rep, const run_plan *plans, const pta_run *runs)
{
    report_heading(rep, 2, "What each neuron looks for");
    report_paragraph(rep,
                     "Each row of W is a 28×28 template: the score of digit j is the sum of its weights over the "
                     "inked pixels. Red pixels raise the score (ink there is evidence for the digit), blue pixels "
                     "lower it, near-white ones hardly matter. Each image is scaled to its own 99th-percentile |w|, "
                     "so the few most extreme weights saturate. Pixels that no training image inks are never updated "
                     "and keep their small random initial values (uniform in [0,1): faintly pink).");
    report_figure(rep, "fig_weights_n60000_average.png", "Averaged W of the n = 60000, ε = 0 run, rows 0–9.");
    report_paragraph(rep,
                     "With the full training set the strongest weights lie on the rim of the area digits occupy, and "
                     "most are blue: those pixels are inked only by the odd wide or off-centre digit, and each time a "
                     "row fires wrongly on such an image they are pushed down, with few correct firings to push them "
                     "back. Inside the rim the templates are patchy rather than digit-shaped, because a row without "
                     "bias must also say \"none of the other nine\": look for blue where the digit has no ink and "
                     "other digits do, such as the middle of a 0.");
    report_figure(rep, "fig_weights_n60000.png",
                  "Last W of the same run. It looks much like the average yet predicts far worse (below): the last "
                  "updates move W by amounts small next to these weights but enough to flip many close argmax "
                  "decisions, and averaging cancels them.");
    report_paragraph(rep, "Test error of this run: %.2f%% with the last W, %.2f%% with the averaged W.",
                     percent(runs[2].test_errors, runs[2].test_count),
                     percent(runs[2].test_errors_average, runs[2].test_count));
    report_figure(rep, "fig_weights_n50.png",
                  "Last W of the n = 50 run: the random initial weights (pink) with a few strokes of the fifty "
                  "training images pressed in, a template that fits those images and little else.");
    report_heading(rep, 2, "Where the averaged perceptron errs");
    report_paragraph(rep, "The averaged W of %s on the 10 000 test images: %.2f%% error.", plans[2].name,
                     percent(runs[2].test_errors_average, runs[2].test_count));
    report_figure(rep, "fig_confusion.svg",
                  "Confusion matrix on the test set. Rows: the true digit; columns: the prediction.");
    report_figure(rep, "fig_misclassified.png",
                  "The first 60 misclassified test images, captioned true → predicted.");
}

static dn_status write_report(const experiment *ex, const run_plan *plans, const pta_run *runs, int count,
                              dn_error *err)
{
    report *rep = report_create(ex->out);
    if (!rep) return cli_fail(err, DN_ERR_NOMEM, "out of memory composing the report");
    report_heading(rep, 1, "The multicategory perceptron on MNIST");
    report_paragraph(rep,
                     "digitnet %s, `digitnet reproduce`. W ∈ R^(10×784), no bias, x = pixels/255, η = 1, initial W "
                     "uniform in [0,1) from the seed, %s precision. Each epoch counts the misclassifications of the "
                     "first n training images with the current W (argmax, lowest index on ties), then applies "
                     "W ← W + η(d(x) − u(Wx))xᵀ to each of them in order; training stops when errors/n ≤ ε. Test "
                     "error is measured on the 10 000 test images with the final W, and with the averaged W.",
                     DN_VERSION, dn_precision_name((dn_precision)ex->precision));
    write_summary(rep, plans, runs, count);
    report_figure(rep, "fig_error_rate.svg",
                  "Training error (count pass, % of n) per epoch for every run. Small sets fall to 0; the full set "
                  "levels off.");
    write_reading(rep, ex, runs);
    write_curves(rep, plans, runs, count);
    write_pictures(rep, plans, runs);
    char md[4096], html[4096];
    dn_status s = figures_path(md, sizeof md, ex->out, "report.md", err);
    if (!s) s = figures_path(html, sizeof html, ex->out, "report.html", err);
    if (!s) s = report_write(rep, md, html, err);
    report_free(rep);
    return s;
}

/* 1 when argv asks for `--experiment NAME` (either spelling). */
static int wants_experiment(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--experiment=", 13) == 0 && strcmp(argv[i] + 13, name) == 0) return 1;
        if (strcmp(argv[i], "--experiment") == 0 && i + 1 < argc && strcmp(argv[i + 1], name) == 0) return 1;
    }
    return 0;
}

int cmd_reproduce(int argc, char **argv)
{
    if (wants_experiment(argc, argv, "fedavg")) return reproduce_fedavg_main(argc, argv);
    if (wants_experiment(argc, argv, "robust")) return reproduce_robust_main(argc, argv);
    experiment ex = {"data/mnist", "out", 0.13, 50, 200, 0, 0, 0};
    int which = 0; /* pta: fedavg went above */
    const cli_opt opts[] = {
        {"--experiment", CLI_CHOICE, &which, "NAME",
         "pta = the classic perceptron experiment; fedavg = McMahan et al.'s FedAvg table; robust = attacks "
         "x defences in federated averaging (see `digitnet reproduce --experiment fedavg --help`, `... robust "
         "--help`)", 0, 0, 0, reproduce_experiments()},
        {"--data", CLI_STRING, &ex.data, "DIR", "MNIST-format folder", 0, 0, 0, NULL},
        {"--out", CLI_STRING, &ex.out, "DIR", "where the reports, CSVs and figures go", 0, 0, 0, NULL},
        {"--epsilon", CLI_DOUBLE, &ex.epsilon, "EPS", "the ε of the three n = 60000 runs", 0, 1, 0, NULL},
        {"--cap", CLI_INT, &ex.cap, "M", "epochs of the n = 60000, ε = 0 run", 1, 1e6, 0, NULL},
        {"--max-epochs", CLI_INT, &ex.max_epochs, "M", "epoch cap of the other runs", 1, 1e6, 0, NULL},
        {"--precision", CLI_CHOICE, &ex.precision, "P", "arithmetic", 0, 0, 0, dn_precision_choices()},
        {"--threads", CLI_INT, &ex.threads, "T", "threads for the count pass, 0 = all cores", 0, 1024, 0, NULL},
        {"--quiet", CLI_FLAG, &ex.quiet, "", "no progress on stderr (results still on stdout)", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"reproduce", "",
                           "The classic perceptron experiment: n = 50, 1000, 60000 and three seeds at a chosen "
                           "epsilon; writes DIR/report.md, DIR/report.html, a CSV per run and the figures.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);

    dn_error err = {0};
    dn_dataset *train = NULL, *test = NULL;
    if ((rc = cli_load_mnist(ex.data, &train, &test))) return rc; /* before the folder: a failed run leaves none */
    if (cli_make_dirs(ex.out, &err)) {
        dn_dataset_free(train), dn_dataset_free(test);
        return cli_report(&err);
    }
    run_plan plans[RUNS];
    pta_run runs[RUNS];
    memset(runs, 0, sizeof runs);
    int count = plan_runs(&ex, plans);
    dn_status s = run_all(&ex, train, test, plans, runs, count, &err);
    if (!s) s = plot_all(&ex, plans, runs, count, test, &err);
    if (!s) s = write_report(&ex, plans, runs, count, &err);
    if (!s) printf("wrote %s/report.md, %s/report.html, %d CSV files and their figures\n", ex.out, ex.out, count);
    for (int r = 0; r < count; r++) pta_run_free(&runs[r]);
    dn_dataset_free(train);
    dn_dataset_free(test);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
