/* mlp_preset.c — the documented recipes (dn_mlp_options_preset). Each one
 * starts from the defaults and sets only what it changes, so that the header
 * and the README's recipe table can say a recipe in one line. The numbers
 * are for 28 × 28 grey images in general (MNIST, Fashion-MNIST, …): nothing
 * here was chosen on a test set. */
#include <string.h>

#include "internal.h"

static const char *const preset_names[] = {"quick", "best-noaug", "best", NULL};

const char *const *dn_mlp_preset_choices(void) { return preset_names; }

/* Two wide ReLU layers, inverted dropout and max-norm (Srivastava et al.
 * 2014), Nesterov momentum on a cosine rate, and an average of the weights
 * for evaluation: the regularisers that let a wide net train long without
 * overfitting. On every core. */
static void best_noaug(dn_mlp_options *o)
{
    o->n_hidden = 2;
    o->hidden[0] = o->hidden[1] = 1024;
    o->epochs = 170;
    o->batch = 128;
    o->lr = 0.1;
    o->nesterov = 1;
    o->dropout_input = 0.2;
    o->dropout_hidden = 0.5;
    o->max_norm = 3.5;
    o->ema = 0.999;
    o->threads = 0;
}

/* The same net on distorted images (Simard et al. 2003's elastic field,
 * after small rotations, scalings, shears and shifts): the distortions are
 * the regulariser, so no dropout, which would only slow the fit. */
static void best(dn_mlp_options *o)
{
    best_noaug(o);
    o->epochs = 120;
    o->dropout_input = 0.0;
    o->dropout_hidden = 0.0;
    o->augment = (dn_augment){.elastic = 1, .sigma = 4, .alpha = 34,
                              .affine = 1, .rotate = 10, .scale = 0.1, .shear = 10, .shift = 2};
}

dn_status dn_mlp_options_preset(dn_mlp_options *opt, const char *name, dn_error *err)
{
    if (!opt) return dn_fail(err, DN_ERR_USAGE, "dn_mlp_options_preset: opt is required");
    if (!name || (strcmp(name, "quick") && strcmp(name, "best-noaug") && strcmp(name, "best")))
        return dn_fail(err, DN_ERR_USAGE, "unknown preset \"%s\": expected quick, best-noaug or best",
                       name ? name : "(null)");
    dn_mlp_options_default(opt);
    if (!strcmp(name, "best-noaug")) best_noaug(opt);
    if (!strcmp(name, "best")) best(opt);
    return DN_OK;
}
