/* mlp_regularise.h — what `digitnet mlp` says and parses about regularisation
 * and model selection, shared by its plain and checkpointed runs. */
#ifndef DN_CLI_MLP_REGULARISE_H
#define DN_CLI_MLP_REGULARISE_H

#include "cli.h"
#include "digitnet.h"

/* --dropout IN,HID: two rates in [0, 1) into opt (checked again by
 * dn_mlp_options_check). DN_ERR_USAGE naming the flag otherwise. */
dn_status mlp_parse_dropout(const char *text, dn_mlp_options *opt, dn_error *err);
/* --augment SPEC (repeatable; SPEC elastic:SIGMA,ALPHA or
 * affine:ROT,SCALE,SHEAR,SHIFT, or both joined by '+'), shared by the
 * commands that distort images (mlp, augment). */
#define MLP_AUGMENT_HELP                                                                                             \
    "distort each training image anew every epoch: elastic:SIGMA,ALPHA (Simard 2003: a field U[-1,1] per pixel, "   \
    "Gaussian-smoothed with SIGMA pixels, times ALPHA pixels; e.g. elastic:4,34) and/or "                            \
    "affine:ROT,SCALE,SHEAR,SHIFT (each drawn in +-range per image: degrees, fraction, degrees, pixels; e.g. "       \
    "affine:10,0.1,10,2); repeat the flag or join with '+' to combine (affine, then elastic, one resampling, "       \
    "bilinear)"
/* The option, its help ending with "(default DEFAULT)". */
#define MLP_AUGMENT_OPT(list, DEFAULT)                                                                               \
    {"--augment", CLI_STRINGS, &(list), "SPEC", MLP_AUGMENT_HELP " (default " DEFAULT ")", 0, 0, 0, NULL}
/* Every --augment value into *aug (each checked). DN_ERR_USAGE naming the
 * part that is wrong. */
dn_status mlp_parse_augment(const cli_strings *specs, dn_augment *aug, dn_error *err);
/* One line of the settings that are on, nothing when none is. */
void mlp_describe_regularisation(const dn_mlp_options *o);
/* After a run with a validation set: the epoch kept (--keep-best) and an
 * early stop (--patience). */
void mlp_print_selection(const dn_mlp *mlp);

#endif /* DN_CLI_MLP_REGULARISE_H */
