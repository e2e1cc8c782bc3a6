/* cmd_mlp.c — `digitnet mlp`: train a multi-layer network by backpropagation.
 * On a terminal a progress bar on stderr moves after every batch (the
 * library's batch callback); elsewhere the per-epoch rows are the progress. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "figures.h"
#include "mlp_distributed.h"
#include "mlp_regularise.h"
#include "profile.h"
#include "progress.h"
#include "serve_live.h"

#define TARGET_ACCURACY 0.98 /* the run reports when the test accuracy first reaches it */

typedef struct mlp_job {
    dn_mlp *mlp;
    const dn_dataset *validation; /* NULL when --validation 0 */
    const dn_dataset *test;
    int quiet;
    cli_text metrics; /* metrics.fp NULL when not asked for */
    double train_seconds;
    int target_epoch; /* first epoch (1-based) at TARGET_ACCURACY, 0 if none */
    double target_seconds;
    double test_accuracy;
    double *history; /* per epoch: train error %, test error %, train loss (for --plot) */
    int history_epochs;
    dn_error err; /* an evaluation failure inside the callback */
    progress bar; /* on a terminal only: moved after every batch (PROGRESS_OFF otherwise) */
    serve_live *live; /* --serve: the page gets every row; NULL otherwise */
    int profile_on;   /* --profile */
    dn_profile profile;
} mlp_job;

/* The rows --serve sends, one value per column (validation NaN when there is none). */
static const char *const live_columns[] = {"epoch", "train_loss", "train_accuracy", "validation_accuracy",
                                           "test_accuracy", "lr", "seconds"};
#define LIVE_COLUMNS (sizeof live_columns / sizeof *live_columns)

/* Keeps the epoch's numbers for the curves; returns 0 when out of memory. */
static int remember_epoch(mlp_job *job, double train_accuracy, double test_accuracy, double loss)
{
    double *grown = realloc(job->history, (size_t)(job->history_epochs + 1) * 3 * sizeof *grown);
    if (!grown) return 0;
    job->history = grown;
    double *row = grown + (size_t)job->history_epochs++ * 3;
    row[0] = 100.0 * (1.0 - train_accuracy), row[1] = 100.0 * (1.0 - test_accuracy), row[2] = loss;
    return 1;
}

/* The library's progress callback: moves the bar within the epoch. */
static int on_batch(const dn_mlp_batch_report *r, void *user)
{
    mlp_job *job = user;
    char status[48];
    snprintf(status, sizeof status, "loss %.4f", r->mean_loss);
    progress_tick(&job->bar, r->epoch + (double)r->samples / (double)r->total, status);
    return 0;
}

/* After each epoch, once the library chose on the validation set (rv->selection). */
static int on_epoch(const dn_mlp_run_report *rv, void *user)
{
    mlp_job *job = user;
    const dn_mlp_epoch_report *r = rv->epoch;
    dn_mlp_eval val = {0}, test = {0};
    if (rv->selection) val.accuracy = rv->selection->accuracy;
    if (dn_mlp_evaluate(job->mlp, job->test, &test, &job->err)) return 1;
    job->train_seconds += r->seconds;
    job->test_accuracy = test.accuracy;
    if (!remember_epoch(job, r->train_accuracy, test.accuracy, r->train_loss)) {
        cli_fail(&job->err, DN_ERR_NOMEM, "out of memory recording the training curve");
        return 1;
    }
    if (!job->target_epoch && test.accuracy >= TARGET_ACCURACY)
        job->target_epoch = r->epoch + 1, job->target_seconds = job->train_seconds;
    char val_text[16] = "-";
    if (job->validation) snprintf(val_text, sizeof val_text, "%.4f", val.accuracy);
    progress_clear(&job->bar); /* the row below gets a clean terminal line */
    if (!job->quiet)
        printf("%5d %10.5f %9.4f %9s %9.4f %9.5f %8.2f\n", r->epoch + 1, r->train_loss, r->train_accuracy, val_text,
               test.accuracy, r->lr, r->seconds);
    if (job->metrics.fp) {
        if (job->validation) snprintf(val_text, sizeof val_text, "%.6f", val.accuracy);
        else val_text[0] = '\0';
        fprintf(job->metrics.fp, "%d,%.6f,%.6f,%s,%.6f,%.6g,%.4f\n", r->epoch + 1, r->train_loss, r->train_accuracy,
                val_text, test.accuracy, r->lr, r->seconds);
    }
    fflush(stdout);
    const double row[LIVE_COLUMNS] = {r->epoch + 1, r->train_loss, r->train_accuracy,
                                      job->validation ? val.accuracy : NAN, test.accuracy, r->lr, r->seconds};
    serve_live_row(job->live, row, LIVE_COLUMNS);
    char status[48];
    snprintf(status, sizeof status, "test error %.2f%%", 100.0 * (1.0 - test.accuracy));
    progress_step(&job->bar, r->epoch + 1, status);
    return 0;
}

/* "1024,1024": the hidden sizes as --hidden reads them, for its default. */
static void hidden_list_text(const dn_mlp_options *o, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < o->n_hidden && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%zu", i ? "," : "", o->hidden[i]);
}

/* The index of name among the presets (0 when none is given: the defaults are "quick"). */
static int preset_choice(const char *name)
{
    const char *const *names = dn_mlp_preset_choices();
    for (int i = 0; name && names[i]; i++)
        if (!strcmp(names[i], name)) return i;
    return 0;
}

static void describe(const dn_mlp_options *o, size_t ntrain, size_t nval)
{
    printf("mlp: 784");
    for (int i = 0; i < o->n_hidden; i++) printf("-%zu", o->hidden[i]);
    printf("-10 %s, loss %s, init %s, %s lr=%g", o->n_hidden ? dn_activation_name(o->activation) : "(no hidden layer)",
           dn_loss_name(o->loss), dn_init_name(o->init), dn_optimizer_name(o->optimizer), o->lr);
    if (o->optimizer == DN_OPTIMIZER_SGD) printf(" momentum=%g%s", o->momentum, o->nesterov ? " nesterov" : "");
    printf(" weight_decay=%g schedule=%s batch=%zu%s epochs=%d seed=%llu threads=%d%s\n", o->weight_decay,
           dn_schedule_name(o->schedule), o->batch, o->batch ? "" : " (full)", o->epochs, (unsigned long long)o->seed, o->threads,
           o->matmul == DN_MATMUL_PLAIN ? " matmul=plain" : "");
    mlp_describe_regularisation(o);
    printf("training on %zu samples, validation %zu\n", ntrain, nval);
}

/* --plot DIR: error and loss per epoch, the first layer as 28×28 images, and the
 * confusion matrix and misclassified gallery on the test set. */
static dn_status plot_run(const mlp_job *job, const char *dir, dn_error *err)
{
    size_t n = (size_t)job->history_epochs;
    double *columns = malloc(3 * (n ? n : 1) * sizeof *columns), *epochs = malloc((n ? n : 1) * sizeof *epochs);
    uint8_t *predicted = malloc(job->test->count ? job->test->count : 1);
    dn_status s = (!columns || !epochs || !predicted) ? cli_fail(err, DN_ERR_NOMEM, "out of memory for the plots")
                                                      : cli_make_dirs(dir, err);
    figure_list list = {0};
    char path[4096];
    if (!s) {
        for (size_t e = 0; e < n; e++) {
            epochs[e] = (double)(e + 1);
            for (int c = 0; c < 3; c++) columns[c * n + e] = job->history[e * 3 + (size_t)c];
        }
        dn_plot_series errors[2] = {{"train", epochs, columns, n}, {"test", epochs, columns + n, n}};
        dn_plot_series loss[1] = {{"train loss", epochs, columns + 2 * n, n}};
        dn_plot_options log_y;
        dn_plot_options_default(&log_y);
        log_y.log_y = 1;
        if (!(s = figures_path(path, sizeof path, dir, "curve.svg", err)) &&
            !(s = dn_plot_lines(path, "MLP: error per epoch", "epoch", "error (%)", errors, 2, NULL, err)))
            figures_add(&list, "curve.svg");
        if (!s && !(s = figures_path(path, sizeof path, dir, "loss.svg", err)) &&
            !(s = dn_plot_lines(path, "MLP: training loss per epoch", "epoch", "loss", loss, 1, &log_y, err)))
            figures_add(&list, "loss.svg");
    }
    if (!s && dn_mlp_layer_count(job->mlp) > 1)
        s = figures_layer(dir, "weights_layer1.png", dn_mlp_weights(job->mlp, 0), dn_mlp_layer_outputs(job->mlp, 0),
                          &list, err);
    if (!s) s = dn_mlp_classify(job->mlp, job->test->images, job->test->count, predicted, NULL, err);
    if (!s) s = figures_predictions(dir, "", "MLP, test set", job->test, predicted, &list, err);
    if (!s) figures_print(dir, &list);
    free(columns);
    free(epochs);
    free(predicted);
    return s;
}

/* Trains, reports, saves; the datasets are already loaded. */
static dn_status run(mlp_job *job, const dn_mlp_options *opt, const dn_dataset *train, const char *metrics,
                     const char *save, const char *plot, dn_error *err)
{
    if (!(job->mlp = dn_mlp_create(opt, err))) return err->code;
    if (job->profile_on) dn_mlp_set_profile(job->mlp, &job->profile);
    if (metrics && cli_text_open(&job->metrics))
        return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory for the metrics", metrics);
    if (job->metrics.fp)
        fprintf(job->metrics.fp, "epoch,train_loss,train_accuracy,validation_accuracy,test_accuracy,lr,seconds\n");
    if (!job->quiet)
        printf("%5s %10s %9s %9s %9s %9s %8s\n", "epoch", "train_loss", "train_acc", "val_acc", "test_acc", "lr",
               "seconds");
    /* A bar only where a person watches a terminal; in a log or a pipe the
     * rows on stdout are the progress, as they always were. */
    progress_mode mode = progress_mode_for(stderr, job->quiet);
    progress_begin(&job->bar, stderr, mode == PROGRESS_BAR ? PROGRESS_BAR : PROGRESS_OFF, "mlp", "epoch", opt->epochs,
                   0);
    if (mode == PROGRESS_BAR) dn_mlp_set_progress_callback(job->mlp, on_batch, job); /* reads the report only */
    dn_mlp_run_options ro;
    dn_mlp_run_options_default(&ro);
    ro.on_step = on_epoch, ro.user = job, ro.validation = job->validation;
    dn_mlp_run *loop = dn_mlp_run_create(job->mlp, &ro, train, err);
    dn_status s = loop ? dn_mlp_run_train(loop, err) : err->code;
    dn_mlp_run_free(loop);
    if (!s && job->err.code) *err = job->err, s = job->err.code;
    /* keep-best put another epoch's weights back: the test accuracy is theirs */
    if (!s && job->validation) {
        dn_mlp_eval test;
        if (!(s = dn_mlp_evaluate(job->mlp, job->test, &test, err))) job->test_accuracy = test.accuracy;
    }
    progress_end(&job->bar, s ? NULL : "done");
    if (job->metrics.fp) {
        if (!s) s = cli_text_commit(&job->metrics, metrics, err);
        else fclose(job->metrics.fp), free(job->metrics.buffer);
    }
    if (s) return s;
    if (job->validation) mlp_print_selection(job->mlp);
    printf("test accuracy: %.2f%% after %d epochs, %.3f s of training\n", 100.0 * job->test_accuracy,
           dn_mlp_epochs_done(job->mlp), job->train_seconds);
    if (job->target_epoch)
        printf("time to %.0f%% test accuracy: %.3f s (epoch %d)\n", 100 * TARGET_ACCURACY, job->target_seconds,
               job->target_epoch);
    if (job->profile_on) profile_print(stdout, &job->profile);
    if (plot && (s = plot_run(job, plot, err))) return s;
    if (!save && !job->live) return DN_OK;
    dn_model *model = dn_model_from_mlp(job->mlp, dn_dataset_crc32(train), err);
    s = model ? (save ? dn_model_save(model, save, err) : DN_OK) : err->code;
    if (!s && save) printf("saved %s\n", save);
    if (s || !job->live) {
        dn_model_free(model);
        return s;
    }
    serve_live_finish(job->live, save ? save : "mlp", model); /* serves until Ctrl-C, then frees */
    job->live = NULL;
    return DN_OK;
}

int cmd_mlp(int argc, char **argv)
{
    dn_mlp_options opt;
    dn_error err = {0};
    /* A preset fills the options before the flags are read, so that every
     * flag given overrides it wherever it stands, and --help shows its values. */
    const char *preset = cli_peek_value(argc, argv, "--preset");
    if (preset && dn_mlp_options_preset(&opt, preset, &err)) return cli_report(&err);
    if (!preset) dn_mlp_options_default(&opt);
    char hidden_text[16 * DN_MLP_MAX_HIDDEN + 1];
    hidden_list_text(&opt, hidden_text, sizeof hidden_text);
    const char *data = "data/mnist", *hidden = hidden_text, *metrics = NULL, *save = NULL, *plot = NULL, *serve = NULL;
    size_t train_size = 60000, validation = 0;
    int activation = opt.activation, loss = opt.loss, init = opt.init, optimizer = opt.optimizer;
    int schedule = opt.schedule, matmul = opt.matmul, quiet = 0, profile = 0;
    mlp_dist dist = MLP_DIST_DEFAULT;
    const char *dropout = NULL;
    cli_strings augment = {{NULL}, 0};
    int preset_index = preset_choice(preset);
    /* The choices are the library's names: a choice's index is its enum value. */
    const cli_opt opts[] = {
        {"--preset", CLI_CHOICE, &preset_index, "NAME",
         "a documented recipe (the README's table; digitnet.h says each): quick = the defaults, best-noaug = "
         "1024-1024 with dropout and max-norm, best = the same on distorted images; flags given beside it override it",
         0, 0, 0, dn_mlp_preset_choices()},
        {"--data", CLI_STRING, &data, "DIR", "MNIST-format folder", 0, 0, 0, NULL},
        {"--hidden", CLI_STRING, &hidden, "LIST", "hidden layer sizes, comma-separated; \"\" for none", 0, 0, 0, NULL},
        {"--activation", CLI_CHOICE, &activation, "F", "hidden activation", 0, 0, 0, dn_activation_choices()},
        {"--loss", CLI_CHOICE, &loss, "L", "ce = softmax + cross-entropy, mse = sigmoid + squared error", 0, 0, 0,
         dn_loss_choices()},
        {"--init", CLI_CHOICE, &init, "I", "initial weights: he N(0, 2/n_in), xavier U(+-sqrt(6/(n_in+n_out)))", 0, 0,
         0, dn_init_choices()},
        {"--epochs", CLI_INT, &opt.epochs, "N", "training epochs", 1, 1e6, 0, NULL},
        {"--batch", CLI_SIZE, &opt.batch, "B", "mini-batch size; 0 = the full batch (fedavg: each client's whole set)",
         0, DN_MLP_BATCH_MAX, 0, NULL},
        {"--lr", CLI_DOUBLE, &opt.lr, "ETA", "learning rate", 0, 1e6, 1, NULL},
        {"--optimizer", CLI_CHOICE, &optimizer, "O", "optimiser", 0, 0, 0, dn_optimizer_choices()},
        {"--momentum", CLI_DOUBLE, &opt.momentum, "MU", "SGD momentum, in [0, 1)", 0, 0.999999, 0, NULL},
        {"--nesterov", CLI_FLAG, &opt.nesterov, "", "Nesterov momentum", 0, 0, 0, NULL},
        {"--weight-decay", CLI_DOUBLE, &opt.weight_decay, "L", "L2 weight decay on weights (not biases)", 0, 1, 0,
         NULL},
        {"--schedule", CLI_CHOICE, &schedule, "S", "learning-rate schedule", 0, 0, 0, dn_schedule_choices()},
        {"--lr-step", CLI_INT, &opt.step_epochs, "N", "step schedule: multiply the rate every N epochs", 1, 1e6, 0,
         NULL},
        {"--lr-gamma", CLI_DOUBLE, &opt.step_gamma, "G", "step schedule: by this factor, in (0, 1]", 0, 1, 1, NULL},
        {"--train-size", CLI_SIZE, &train_size, "N", "use the first N training samples", 1, 1e6, 0, NULL},
        {"--validation", CLI_SIZE, &validation, "N", "hold out the last N of them for validation", 0, 1e6, 0, NULL},
        {"--dropout", CLI_STRING, &dropout, "IN,HID",
         "inverted dropout on x and on each hidden a (training only): a <- a * m / (1-p), m ~ Bernoulli(1-p)", 0, 0,
         0, NULL},
        {"--max-norm", CLI_DOUBLE, &opt.max_norm, "C",
         "after each step each unit's incoming weights w (a row of W, not the bias): w <- w * C / |w| if |w| > C", 0,
         1e6, 0, NULL},
        {"--label-smoothing", CLI_DOUBLE, &opt.label_smoothing, "EPS",
         "ce target (1-EPS) onehot + EPS/10: loss -sum_j t_j log p_j, gradient p - t", 0, 0.999999, 0, NULL},
        {"--ema", CLI_DOUBLE, &opt.ema, "DECAY",
         "evaluate and save e <- DECAY e + (1-DECAY) w after each step (e starts as w)", 0, 0.999999999, 0, NULL},
        {"--keep-best", CLI_FLAG, &opt.keep_best, "",
         "end with the weights of the epoch of best validation accuracy (needs --validation)", 0, 0, 0, NULL},
        {"--patience", CLI_INT, &opt.patience, "P",
         "stop after P epochs without a better validation accuracy; 0 = never (needs --validation)", 0, 1e6, 0, NULL},
        MLP_AUGMENT_OPT(augment, "none"),
        {"--seed", CLI_U64, &opt.seed, "S", "seed of the initial weights and the shuffling", 0, 1.8e19, 0, NULL},
        {"--threads", CLI_INT, &opt.threads, "T", "threads (layer 0 split across them), 0 = all cores", 0, 1024,
         0, NULL},
        {"--matmul", CLI_CHOICE, &matmul, "M", "matrix products: BLAS or the plain-C reference (slow)", 0, 0, 0,
         dn_matmul_choices()},
        {"--metrics", CLI_STRING, &metrics, "FILE.csv",
         "write epoch,train_loss,train_accuracy,validation_accuracy,test_accuracy,lr,seconds", 0, 0, 0, NULL},
        {"--save", CLI_STRING, &save, "MODEL", "save the trained model (safetensors)", 0, 0, 0, NULL},
        {"--plot", CLI_STRING, &plot, "DIR", "write error and loss curves, first-layer images, confusion, gallery",
         0, 0, 0, NULL},
        {"--quiet", CLI_FLAG, &quiet, "", "print only the results, no per-epoch lines", 0, 0, 0, NULL},
        {"--profile", CLI_FLAG, &profile, "",
         "after training, print where the steps' time went: data, forward and backward products, elementwise, "
         "update, waits at barriers, communication",
         0, 0, 0, NULL},
        {"--serve", CLI_STRING, &serve, "HOST:PORT",
         "serve the page of `digitnet serve` during the run (live table and curves), then the trained model until "
         "Ctrl-C; port 0 picks a free port",
         0, 0, 0, NULL},
        MLP_DIST_OPTS(dist),
    };
    const cli_spec spec = {"mlp", "", "Train a multi-layer network by backpropagation (mini-batch SGD or Adam).", opts,
                           (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    opt.activation = (dn_activation)activation, opt.loss = (dn_loss)loss, opt.init = (dn_init)init;
    opt.optimizer = (dn_optimizer)optimizer, opt.schedule = (dn_schedule)schedule, opt.matmul = (dn_matmul)matmul;
    /* --augment given replaces the preset's distortions rather than adding to them. */
    if (augment.count > 0) memset(&opt.augment, 0, sizeof opt.augment);
    if ((dropout && mlp_parse_dropout(dropout, &opt, &err)) || mlp_parse_augment(&augment, &opt.augment, &err) ||
        dn_mlp_parse_hidden(hidden, &opt, &err) ||
        dn_mlp_options_check(&opt, &err))
        return cli_report(&err);
    if ((opt.keep_best || opt.patience > 0) && !validation) {
        cli_fail(&err, DN_ERR_USAGE, "--keep-best and --patience choose epochs by validation accuracy: give "
                                     "--validation N");
        return cli_report(&err);
    }
    if (validation >= train_size) {
        cli_fail(&err, DN_ERR_USAGE, "--validation %zu must be smaller than --train-size %zu", validation, train_size);
        return cli_report(&err);
    }
    dist.serve = serve, dist.argc = argc, dist.argv = argv, dist.profile = profile;
    if (mlp_dist_wanted(&dist)) /* distributed: the whole run happens in mlp_distributed.c */
        return mlp_dist_main(&dist, &opt, data, train_size, validation, metrics, save, quiet);

    dn_dataset *train = NULL, *test = NULL;
    if ((rc = cli_load_mnist(data, &train, &test))) return rc;
    mlp_job job = {0};
    job.quiet = quiet;
    job.profile_on = profile;
    job.test = test;
    dn_status s = DN_OK;
    if (train_size > train->count)
        s = cli_fail(&err, DN_ERR_USAGE, "--train-size %zu is larger than the training set (valid: 1 to %zu)",
                     train_size, train->count);
    dn_dataset fit = dn_dataset_view(train, 0, train_size - validation);
    dn_dataset held = dn_dataset_view(train, train_size - validation, validation);
    job.validation = validation ? &held : NULL;
    if (!s && serve)
        job.live = serve_live_start(serve, "mlp", argc, argv, live_columns, LIVE_COLUMNS, &err), s = err.code;
    if (!s) {
        if (preset) printf("preset: %s (digitnet.h, dn_mlp_options_preset; the flags given beside it override it)\n", preset);
        describe(&opt, fit.count, held.count);
        s = run(&job, &opt, &fit, metrics, save, plot, &err);
    }
    serve_live_free(job.live);
    dn_mlp_free(job.mlp);
    free(job.history);
    dn_dataset_free(train);
    dn_dataset_free(test);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
