/* cmd_eval.c — `digitnet eval MODEL`: test accuracy and confusion matrix. */
#include <stdlib.h>

#include "figures.h"

static void print_confusion(size_t confusion[DN_CLASSES][DN_CLASSES])
{
    printf("confusion matrix (rows: true digit, columns: predicted)\n     ");
    for (int p = 0; p < DN_CLASSES; p++) printf("%6d", p);
    printf("\n");
    for (int t = 0; t < DN_CLASSES; t++) {
        printf("%5d", t);
        for (int p = 0; p < DN_CLASSES; p++) printf("%6zu", confusion[t][p]);
        printf("\n");
    }
}

/* --plot DIR: the figures of the predictions just made, and the W of a perceptron. */
static dn_status plot_model(const char *dir, const char *model_path, const dn_model *model, const dn_dataset *test,
                            const uint8_t *pred, dn_error *err)
{
    figure_list list = {.count = 0};
    char what[256];
    snprintf(what, sizeof what, "%s (%s), test set", model_path, dn_model_kind_name(model));
    dn_status s = cli_make_dirs(dir, err);
    if (!s) s = figures_predictions(dir, "", what, test, pred, &list, err);
    const double *w = dn_model_perceptron_weights(model);
    if (!s && w) s = figures_weights(dir, "weights.png", w, &list, err);
    if (!s) figures_print(dir, &list);
    return s;
}

int cmd_eval(int argc, char **argv)
{
    const char *data = "data/mnist", *plot = NULL;
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &data, "DIR", "MNIST-format folder (its t10k split is used)", 0, 0, 0, NULL},
        {"--plot", CLI_STRING, &plot, "DIR",
         "write confusion.svg, misclassified.png (and weights.png for a perceptron) into DIR", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"eval", "MODEL", "Test accuracy and confusion matrix of a saved model on the test set.",
                           opts, (int)(sizeof opts / sizeof *opts), 1, 1};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);

    dn_error err = {0};
    dn_model *model = dn_model_load(pos[0], &err);
    if (!model) return cli_report(&err);
    dn_dataset *test = NULL;
    if ((rc = cli_load_mnist(data, NULL, &test))) {
        dn_model_free(model);
        return rc;
    }
    uint8_t *pred = malloc(test->count ? test->count : 1);
    dn_status s = pred ? dn_model_classify(model, test->images, test->count, pred, NULL, &err)
                       : cli_fail(&err, DN_ERR_NOMEM, "out of memory for %zu predictions", test->count);
    if (!s) {
        size_t confusion[DN_CLASSES][DN_CLASSES], correct = 0;
        dn_confusion_matrix(test->labels, pred, test->count, confusion);
        for (int d = 0; d < DN_CLASSES; d++) correct += confusion[d][d];
        printf("model: %s (%s)\n", pos[0], dn_model_kind_name(model));
        printf("test samples: %zu\naccuracy: %.4f\nerror: %.2f%%\n", test->count,
               (double)correct / (double)test->count, 100.0 * (1.0 - (double)correct / (double)test->count));
        print_confusion(confusion);
    }
    if (!s && plot) s = plot_model(plot, pos[0], model, test, pred, &err);
    free(pred);
    dn_dataset_free(test);
    dn_model_free(model);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
