/* cmd_pta.c — `digitnet pta`: train the multicategory perceptron.
 * Results (the run's settings, final errors, test error) go to stdout;
 * per-epoch progress goes to stderr (see progress.h). */
#include <stdlib.h>

#include "figures.h"
#include "progress.h"
#include "pta_checkpoint.h"
#include "pta_run.h"
#include "pta_distributed.h"
#include "serve_live.h"

/* Where each epoch is shown: the progress bar, and the page with --serve. */
typedef struct pta_watch {
    progress bar;
    serve_live *live; /* NULL without --serve */
} pta_watch;

static const char *const live_columns[] = {"epoch", "errors", "error_rate", "seconds"};
#define LIVE_COLUMNS (sizeof live_columns / sizeof *live_columns)

static void show_epoch(const pta_run *run, const dn_pta_run_report *r, void *user)
{
    pta_watch *watch = user;
    char status[128];
    double rate = (double)r->errors / (double)r->n;
    snprintf(status, sizeof status, "epoch %d: %zu errors (%.2f%%)", r->epoch, r->errors, 100.0 * rate);
    progress_step(&watch->bar, run->epochs, status);
    const double row[LIVE_COLUMNS] = {r->epoch, (double)r->errors, rate, r->seconds};
    serve_live_row(watch->live, row, LIVE_COLUMNS);
}

static void print_results(const pta_run *run)
{
    printf("%s after %d epochs: %zu errors of %zu (%.2f%%), %.2f s\n", run->result.converged ? "converged" : "stopped",
           run->result.epochs, run->result.final_errors, run->opt.train_size,
           100.0 * (double)run->result.final_errors / (double)run->opt.train_size, run->train_seconds);
    printf("test error: %.2f%% (%zu of %zu)\n", 100.0 * (double)run->test_errors / (double)run->test_count,
           run->test_errors, run->test_count);
    if (run->opt.average)
        printf("test error, averaged W: %.2f%% (%zu of %zu)\n",
               100.0 * (double)run->test_errors_average / (double)run->test_count, run->test_errors_average,
               run->test_count);
}

/* The training curve: epoch vs misclassifications, epoch 0 included. */
static dn_status plot_curve(const pta_run *run, const char *dir, figure_list *list, dn_error *err)
{
    char path[4096], title[160];
    dn_status s = figures_path(path, sizeof path, dir, "curve.svg", err);
    if (s) return s;
    double *y = pta_run_curve(run, 0);
    if (!y) return cli_fail(err, DN_ERR_NOMEM, "out of memory plotting the curve");
    snprintf(title, sizeof title, "Perceptron: misclassifications per epoch (n = %zu, η = %g, ε = %g)",
             run->opt.train_size, run->opt.eta, run->opt.epsilon);
    dn_plot_series series = {"errors", NULL, y, (size_t)run->epochs};
    s = dn_plot_lines(path, title, "epoch", "misclassifications (count pass)", &series, 1, NULL, err);
    free(y);
    if (!s) figures_add(list, "curve.svg");
    return s;
}

/* --plot DIR: the curve, then the last W, its test-set figures, and the
 * averaged W when kept. Drawn from the trainer's W directly, so the figures
 * show exactly the W that --save stores as "W". */
static dn_status plot_all(const pta_run *run, const dn_dataset *test, const char *dir, dn_error *err)
{
    figure_list list = {.count = 0};
    dn_status s = cli_make_dirs(dir, err);
    if (!s) s = plot_curve(run, dir, &list, err);
    if (s) return s;
    double *w = malloc(sizeof(double) * DN_CLASSES * DN_IMAGE_PIXELS);
    uint8_t *pred = malloc(test->count ? test->count : 1);
    if (!w || !pred) s = cli_fail(err, DN_ERR_NOMEM, "out of memory drawing the figures");
    char what[96];
    snprintf(what, sizeof what, "perceptron, n = %zu, %d epochs, test set", run->opt.train_size, run->epochs);
    if (!s) {
        dn_pta_get_weights(run->pta, w);
        dn_linear_predict(w, test->images, test->count, pred);
        s = figures_predictions(dir, "", what, test, pred, &list, err);
    }
    if (!s) s = figures_weights(dir, "weights.png", w, &list, err);
    if (!s && run->opt.average && !(s = dn_pta_get_average(run->pta, w, err)))
        s = figures_weights(dir, "weights_average.png", w, &list, err);
    free(w);
    free(pred);
    if (!s) figures_print(dir, &list);
    return s;
}

int cmd_pta(int argc, char **argv)
{
    pta_run run = {0};
    dn_pta_options_default(&run.opt);
    const char *data = "data/mnist", *metrics = NULL, *save = NULL, *plot = NULL, *serve = NULL;
    int precision = 0, quiet = 0;
    pta_dist dist = PTA_DIST_DEFAULT;
    dn_checkpoint_policy ckpt = PTA_CKPT_DEFAULT;
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &data, "DIR", "MNIST-format folder", 0, 0, 0, NULL},
        {"--train-size", CLI_SIZE, &run.opt.train_size, "N", "use the first N training samples", 1, 1e6, 0, NULL},
        {"--eta", CLI_DOUBLE, &run.opt.eta, "E", "learning rate η > 0", 0, 1e12, 1, NULL},
        {"--epsilon", CLI_DOUBLE, &run.opt.epsilon, "EPS", "stop when errors/n ≤ EPS, in [0, 1]", 0, 1, 0, NULL},
        {"--max-epochs", CLI_INT, &run.opt.max_epochs, "M", "stop after M epochs", 1, 1e9, 0, NULL},
        {"--seed", CLI_U64, &run.opt.seed, "S", "seed of the initial W, uniform in [0,1)", 0, 1.8e19, 0, NULL},
        {"--init-weights", CLI_STRING, &run.init_weights, "F.npy", "start from this (10, 784) W instead", 0, 0, 0,
         NULL},
        {"--precision", CLI_CHOICE, &precision, "P", "arithmetic", 0, 0, 0, dn_precision_choices()},
        {"--average", CLI_FLAG, &run.opt.average, "", "also keep the averaged perceptron and report it", 0, 0, 0,
         NULL},
        {"--threads", CLI_INT, &run.opt.threads, "T", "threads: 2 or more run the count pass beside the update pass (same result), 0 = all cores", 0, 1024, 0, NULL},
        {"--metrics", CLI_STRING, &metrics, "FILE.csv", "write epoch,errors,error_rate,seconds", 0, 0, 0, NULL},
        {"--save", CLI_STRING, &save, "MODEL", "save the trained model (safetensors)", 0, 0, 0, NULL},
        {"--plot", CLI_STRING, &plot, "DIR",
         "write curve.svg, weights.png, confusion.svg, misclassified.png (test set) into DIR", 0, 0, 0, NULL},
        {"--quiet", CLI_FLAG, &quiet, "", "print only the results: no progress on stderr", 0, 0, 0, NULL},
        {"--serve", CLI_STRING, &serve, "HOST:PORT",
         "serve the page of `digitnet serve` during the run (live table and curve), then the trained perceptron "
         "until Ctrl-C; port 0 picks a free port (distributed: rank 0 serves)",
         0, 0, 0, NULL},
        PTA_DIST_OPTS(dist),
        PTA_CKPT_OPTS(ckpt),
    };
    const cli_spec spec = {"pta", "", "Train the multicategory perceptron: W <- W + eta (d(x) - u(Wx)) x^T.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    run.opt.precision = precision ? DN_FLOAT64 : DN_FLOAT32;
    if ((rc = pta_dist_check(&dist, &run))) return rc;
    run.ckpt = &ckpt;

    dn_dataset *train = NULL, *test = NULL;
    if ((rc = cli_load_mnist(data, &train, &test))) return rc;
    if ((rc = pta_dist_begin(&dist, &run, &quiet, &metrics, &save, &plot))) { /* distributed: joins MPI */
        dn_dataset_free(train);
        dn_dataset_free(test);
        return rc;
    }
    dn_error err = {0};
    pta_watch watch = {.live = NULL};
    if (serve && pta_dist_is_root(&dist) &&
        !(watch.live = serve_live_start(serve, "perceptron", argc, argv, live_columns, LIVE_COLUMNS, &err))) {
        dn_dataset_free(train);
        dn_dataset_free(test);
        return pta_dist_end(&dist, pta_dist_report(&dist, &err)); /* distributed: the job ends with rank 0 */
    }
    if (!quiet)
        printf("pta: n=%zu eta=%g epsilon=%g precision=%s seed=%llu max_epochs=%d%s\n", run.opt.train_size,
               run.opt.eta, run.opt.epsilon, dn_precision_name(run.opt.precision), (unsigned long long)run.opt.seed,
               run.opt.max_epochs, run.opt.average ? " average" : "");
    progress_begin(&watch.bar, stderr, progress_mode_for(stderr, quiet), "pta", "epoch", run.opt.max_epochs, 1);
    run.on_epoch = show_epoch;
    run.on_epoch_user = &watch;
    run.dist = dist.mode ? &dist : NULL;
    dn_status s = pta_run_execute(&run, train, test, &err);
    progress_end(&watch.bar, s ? NULL : run.result.converged ? "converged" : "stopped at the epoch cap");
    if (!s && pta_dist_is_root(&dist)) print_results(&run); /* distributed: rank 0 prints */
    if (!s && metrics) s = pta_run_write_metrics(&run, metrics, &err);
    dn_model *model = NULL;
    if (!s && (save || watch.live)) {
        dn_dataset used = dn_dataset_view(train, 0, run.opt.train_size);
        model = dn_model_from_pta(run.pta, 0, dn_dataset_crc32(&used), &err);
        s = model ? (save ? dn_model_save(model, save, &err) : DN_OK) : err.code;
        if (!s && save) printf("saved %s\n", save);
    }
    if (!s && plot) s = plot_all(&run, test, plot, &err);
    if (!s && watch.live) serve_live_finish(watch.live, save ? save : "perceptron", model), model = NULL, watch.live = NULL;
    dn_model_free(model);
    serve_live_free(watch.live);
    pta_run_free(&run);
    dn_dataset_free(train);
    dn_dataset_free(test);
    return pta_dist_end(&dist, s ? pta_dist_report(&dist, &err) : CLI_EXIT_OK); /* distributed: leaves MPI */
}
