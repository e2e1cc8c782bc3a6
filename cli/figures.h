/* figures.h — the figures `pta --plot`, `eval --plot` and `reproduce` write,
 * built on the library's dn_plot_* functions. */
#ifndef DN_FIGURES_H
#define DN_FIGURES_H

#include "cli.h"

/* The names of the files written into a folder, in order (for the line
 * that tells the user where to look). */
#define FIGURES_MAX 16
typedef struct figure_list {
    char names[FIGURES_MAX][64];
    int count;
} figure_list;

/* Adds name to list (list may be NULL; names past FIGURES_MAX are dropped). */
void figures_add(figure_list *list, const char *name);

/* dir + "/" + name into buf; DN_ERR_USAGE when it does not fit. */
dn_status figures_path(char *buf, size_t size, const char *dir, const char *name, dn_error *err);

/* dir/NAME: the ten rows of a (10, 784) W as images captioned 0–9. */
dn_status figures_weights(const char *dir, const char *name, const double *w, figure_list *list, dn_error *err);

/* dir/NAME: the first layer of an MLP, rows (units, 784) float as
 * dn_mlp_weights(mlp, 0) returns them, as a grid of 28×28 images, each on
 * its own colour scale, no captions; scale 8 up to 10 units, 4 up to 64,
 * else 3. */
dn_status figures_layer(const char *dir, const char *name, const float *w, size_t units, figure_list *list,
                        dn_error *err);

/* dir/PREFIXconfusion.svg and dir/PREFIXmisclassified.png (the first 60
 * errors) for predictions on set; what names the classifier in the title
 * ("perceptron, n = 60000, test set"). The gallery is left out when there
 * is no error. */
dn_status figures_predictions(const char *dir, const char *prefix, const char *what, const dn_dataset *set,
                              const uint8_t *predicted, figure_list *list, dn_error *err);

/* Classifies set with model, then figures_predictions, and for a
 * perceptron dir/weights.png from the W it predicts with. */
dn_status figures_model(const char *dir, const char *what, const dn_model *model, const dn_dataset *set,
                        figure_list *list, dn_error *err);

/* Prints "plots in DIR: a.svg b.png ..." on stdout. */
void figures_print(const char *dir, const figure_list *list);

#endif
