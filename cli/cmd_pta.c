/* cmd_pta.c — `digitnet pta`: train the multicategory perceptron. */
#include <stdlib.h>

#include "pta_run.h"

static const char *const precisions[] = {"float", "double", NULL};

int cmd_pta(int argc, char **argv)
{
    pta_run run = {0};
    dn_pta_options_default(&run.opt);
    const char *data = "data/mnist", *metrics = NULL, *save = NULL;
    int precision = 0, quiet = 0;
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &data, "DIR", "MNIST-format folder", 0, 0, 0, NULL},
        {"--train-size", CLI_SIZE, &run.opt.train_size, "N", "use the first N training samples", 1, 1e6, 0, NULL},
        {"--eta", CLI_DOUBLE, &run.opt.eta, "E", "learning rate η > 0", 0, 1e12, 1, NULL},
        {"--epsilon", CLI_DOUBLE, &run.opt.epsilon, "EPS", "stop when errors/n ≤ EPS, in [0, 1]", 0, 1, 0, NULL},
        {"--max-epochs", CLI_INT, &run.opt.max_epochs, "M", "stop after M epochs", 1, 1e9, 0, NULL},
        {"--seed", CLI_U64, &run.opt.seed, "S", "seed of the initial W, uniform in [0,1)", 0, 1.8e19, 0, NULL},
        {"--init-weights", CLI_STRING, &run.init_weights, "F.npy", "start from this (10, 784) W instead", 0, 0, 0,
         NULL},
        {"--precision", CLI_CHOICE, &precision, "P", "arithmetic", 0, 0, 0, precisions},
        {"--average", CLI_FLAG, &run.opt.average, "", "also keep the averaged perceptron and report it", 0, 0, 0,
         NULL},
        {"--threads", CLI_INT, &run.opt.threads, "T", "threads for the count pass, 0 = all cores", 0, 1024, 0, NULL},
        {"--metrics", CLI_STRING, &metrics, "FILE.csv", "write epoch,errors,error_rate,seconds", 0, 0, 0, NULL},
        {"--save", CLI_STRING, &save, "MODEL", "save the trained model (safetensors)", 0, 0, 0, NULL},
        {"--quiet", CLI_FLAG, &quiet, "", "print only the results, no per-epoch lines", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"pta", "", "Train the multicategory perceptron: W <- W + eta (d(x) - u(Wx)) x^T.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    run.opt.precision = precision ? DN_FLOAT64 : DN_FLOAT32;
    run.print_epochs = !quiet;

    dn_dataset *train = NULL, *test = NULL;
    if ((rc = cli_load_mnist(data, &train, &test))) return rc;
    dn_error err = {0};
    if (!quiet)
        printf("pta: n=%zu eta=%g epsilon=%g precision=%s seed=%llu max_epochs=%d%s\n%5s %8s %10s %9s\n",
               run.opt.train_size, run.opt.eta, run.opt.epsilon, precisions[precision],
               (unsigned long long)run.opt.seed, run.opt.max_epochs, run.opt.average ? " average" : "", "epoch",
               "errors", "error_rate", "seconds");
    dn_status s = pta_run_execute(&run, train, test, &err);
    if (!s) {
        printf("%s after %d epochs: %zu errors of %zu (%.2f%%), %.2f s\n",
               run.result.converged ? "converged" : "stopped", run.result.epochs, run.result.final_errors,
               run.opt.train_size, 100.0 * (double)run.result.final_errors / (double)run.opt.train_size,
               run.train_seconds);
        printf("test error: %.2f%% (%zu of %zu)\n", 100.0 * (double)run.test_errors / (double)run.test_count,
               run.test_errors, run.test_count);
        if (run.opt.average)
            printf("test error, averaged W: %.2f%% (%zu of %zu)\n",
                   100.0 * (double)run.test_errors_average / (double)run.test_count, run.test_errors_average,
                   run.test_count);
    }
    if (!s && metrics) s = pta_run_write_metrics(&run, metrics, &err);
    if (!s && save) {
        dn_dataset used = dn_dataset_view(train, 0, run.opt.train_size);
        dn_model *model = dn_model_from_pta(run.pta, 0, dn_dataset_crc32(&used), &err);
        s = model ? dn_model_save(model, save, &err) : err.code;
        dn_model_free(model);
        if (!s) printf("saved %s\n", save);
    }
    pta_run_free(&run);
    dn_dataset_free(train);
    dn_dataset_free(test);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
