/* mlp_regularise.c — see mlp_regularise.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "mlp_regularise.h"

/* A rate in [0, 1) at *text, which moves past it; 0 when it is not one. */
static int read_rate(const char **text, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(*text, &end);
    if (end == *text || errno || !(*out >= 0 && *out < 1)) return 0;
    *text = end;
    return 1;
}

dn_status mlp_parse_dropout(const char *text, dn_mlp_options *opt, dn_error *err)
{
    const char *at = text;
    double in, hid;
    if (!read_rate(&at, &in) || *at++ != ',' || !read_rate(&at, &hid) || *at != '\0')
        return cli_fail(err, DN_ERR_USAGE, "--dropout %s: expected IN,HID, two rates in [0, 1) (e.g. 0.2,0.5)", text);
    opt->dropout_input = in, opt->dropout_hidden = hid;
    return DN_OK;
}

dn_status mlp_parse_augment(const cli_strings *specs, dn_augment *aug, dn_error *err)
{
    for (int i = 0; i < specs->count; i++) {
        dn_status s = dn_augment_parse(specs->value[i], aug, err);
        if (s) {
            char why[sizeof err->message];
            snprintf(why, sizeof why, "%s", err->message);
            return cli_fail(err, s, "--%s", why); /* "--augment '…': …" */
        }
    }
    return DN_OK;
}

void mlp_describe_regularisation(const dn_mlp_options *o)
{
    if (dn_augment_active(&o->augment)) {
        char text[256];
        dn_augment_format(&o->augment, text, sizeof text);
        printf("augmentation: %s\n", text);
    }
    if (!(o->dropout_input > 0 || o->dropout_hidden > 0 || o->max_norm > 0 || o->label_smoothing > 0 || o->ema > 0 ||
          o->keep_best || o->patience > 0))
        return;
    printf("regularisation: dropout %g,%g max-norm %g label-smoothing %g ema %g; selection: keep-best %s patience %d\n",
           o->dropout_input, o->dropout_hidden, o->max_norm, o->label_smoothing, o->ema, o->keep_best ? "on" : "off",
           o->patience);
}

void mlp_print_selection(const dn_mlp *mlp)
{
    dn_mlp_selection sel;
    dn_mlp_get_selection(mlp, &sel);
    const dn_mlp_options *o = dn_mlp_get_options(mlp);
    if (sel.stop)
        printf("early stop after epoch %d: no better validation accuracy for %d epochs (--patience %d)\n",
               dn_mlp_epochs_done(mlp), sel.since_best, o->patience);
    if (o->keep_best && sel.best_epoch > 0)
        printf("kept the weights of epoch %d (validation accuracy %.4f)\n", sel.best_epoch, sel.best_accuracy);
    else if (sel.best_epoch > 0)
        printf("best validation accuracy %.4f at epoch %d\n", sel.best_accuracy, sel.best_epoch);
}
