/* figures.c — see figures.h. */
#include <stdlib.h>
#include <string.h>

#include "figures.h"

#define GALLERY_MAX 60 /* six rows of ten: enough to see the kinds of mistakes */

void figures_add(figure_list *list, const char *name)
{
    if (list && list->count < FIGURES_MAX)
        snprintf(list->names[list->count++], sizeof list->names[0], "%s", name);
}

dn_status figures_path(char *buf, size_t size, const char *dir, const char *name, dn_error *err)
{
    if (snprintf(buf, size, "%s/%s", dir, name) >= (int)size)
        return cli_fail(err, DN_ERR_USAGE, "%s/%s: path too long", dir, name);
    return DN_OK;
}

dn_status figures_weights(const char *dir, const char *name, const double *w, figure_list *list, dn_error *err)
{
    static const char *const digits[DN_CLASSES] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    char path[4096];
    dn_status s = figures_path(path, sizeof path, dir, name, err);
    if (!s) s = dn_plot_weight_images(path, w, DN_CLASSES, digits, NULL, err);
    if (!s) figures_add(list, name);
    return s;
}

dn_status figures_layer(const char *dir, const char *name, const float *w, size_t units, figure_list *list,
                        dn_error *err)
{
    char path[4096];
    dn_status s = figures_path(path, sizeof path, dir, name, err);
    if (s) return s;
    double *wd = malloc((units ? units : 1) * DN_IMAGE_PIXELS * sizeof *wd);
    if (!wd) return cli_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < units * DN_IMAGE_PIXELS; i++) wd[i] = w[i];
    dn_image_grid_options opt;
    dn_image_grid_options_default(&opt);
    opt.scale = units <= 10 ? 8 : units <= 64 ? 4 : 3; /* keeps a few hundred units within a screen's width */
    s = dn_plot_weight_images(path, wd, units, NULL, &opt, err);
    free(wd);
    if (!s) figures_add(list, name);
    return s;
}

dn_status figures_predictions(const char *dir, const char *prefix, const char *what, const dn_dataset *set,
                              const uint8_t *predicted, figure_list *list, dn_error *err)
{
    size_t confusion[DN_CLASSES][DN_CLASSES], shown;
    char name[64], path[4096], title[256];
    dn_confusion_matrix(set->labels, predicted, set->count, confusion);
    snprintf(title, sizeof title, "Confusion matrix: %s", what);
    snprintf(name, sizeof name, "%sconfusion.svg", prefix);
    dn_status s = figures_path(path, sizeof path, dir, name, err);
    if (!s) s = dn_plot_confusion(path, title, &confusion[0][0], err);
    if (s) return s;
    figures_add(list, name);
    snprintf(name, sizeof name, "%smisclassified.png", prefix);
    if ((s = figures_path(path, sizeof path, dir, name, err))) return s;
    if ((s = dn_plot_misclassified(path, set, predicted, GALLERY_MAX, NULL, &shown, err))) return s;
    if (shown) figures_add(list, name);
    return DN_OK;
}

dn_status figures_model(const char *dir, const char *what, const dn_model *model, const dn_dataset *set,
                        figure_list *list, dn_error *err)
{
    uint8_t *predicted = malloc(set->count ? set->count : 1);
    if (!predicted) return cli_fail(err, DN_ERR_NOMEM, "out of memory for %zu predictions", set->count);
    dn_status s = dn_model_classify(model, set->images, set->count, predicted, NULL, err);
    if (!s) s = figures_predictions(dir, "", what, set, predicted, list, err);
    free(predicted);
    const double *w = dn_model_perceptron_weights(model);
    if (!s && w) s = figures_weights(dir, "weights.png", w, list, err);
    return s;
}

void figures_print(const char *dir, const figure_list *list)
{
    printf("plots in %s:", dir);
    for (int i = 0; i < list->count; i++) printf(" %s", list->names[i]);
    printf("\n");
}
