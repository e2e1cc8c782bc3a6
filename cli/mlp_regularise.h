/* mlp_regularise.h — what `digitnet mlp` says and parses about regularisation
 * and model selection, shared by its plain and checkpointed runs. */
#ifndef DN_CLI_MLP_REGULARISE_H
#define DN_CLI_MLP_REGULARISE_H

#include "digitnet.h"

/* --dropout IN,HID: two rates in [0, 1) into opt (checked again by
 * dn_mlp_options_check). DN_ERR_USAGE naming the flag otherwise. */
dn_status mlp_parse_dropout(const char *text, dn_mlp_options *opt, dn_error *err);
/* One line of the settings that are on, nothing when none is. */
void mlp_describe_regularisation(const dn_mlp_options *o);
/* After a run with a validation set: the epoch kept (--keep-best) and an
 * early stop (--patience). */
void mlp_print_selection(const dn_mlp *mlp);

#endif /* DN_CLI_MLP_REGULARISE_H */
