/*
 * mlp_select.c — model selection on a validation set (see "Model
 * selection" in digitnet.h): the best epoch so far, its weights when
 * keep_best, and the epochs since, which patience reads. The state lives
 * in the network so that a checkpoint keeps it (mlp_checkpoint.c).
 */
#include <stdlib.h>
#include <string.h>

#include "mlp_internal.h"

void dn_mlp_get_selection(const dn_mlp *mlp, dn_mlp_selection *out)
{
    const int patience = mlp->opt.patience;
    *out = (dn_mlp_selection){mlp->last_accuracy, mlp->best_epoch, mlp->best_accuracy, mlp->since_best,
                              patience > 0 && mlp->best_epoch > 0 && mlp->since_best >= patience};
}

dn_status dn_mlp_select_epoch(dn_mlp *mlp, const dn_dataset *validation, dn_mlp_selection *out, dn_error *err)
{
    dn_mlp_eval val;
    dn_status s = dn_mlp_evaluate(mlp, validation, &val, err);
    if (s) return s;
    mlp->last_accuracy = val.accuracy;
    /* strictly better: on a tie the earlier (shorter-trained) epoch stays */
    if (mlp->best_epoch == 0 || val.accuracy > mlp->best_accuracy) {
        if (mlp->opt.keep_best) {
            if (!mlp->best && !(mlp->best = dn_mlp_alloc_floats_(mlp->nparams)))
                return dn_fail(err, DN_ERR_NOMEM, "out of memory for the best epoch's weights");
            memcpy(mlp->best, dn_mlp_eval_params(mlp), mlp->nparams * sizeof(float));
        }
        mlp->best_epoch = mlp->epochs_done, mlp->best_accuracy = val.accuracy, mlp->since_best = 0;
    } else {
        mlp->since_best++;
    }
    if (out) dn_mlp_get_selection(mlp, out);
    return DN_OK;
}

int dn_mlp_restore_best(dn_mlp *mlp)
{
    if (!mlp->opt.keep_best || !mlp->best || mlp->best_epoch == 0) return 0;
    memcpy(mlp->params, mlp->best, mlp->nparams * sizeof(float));
    if (mlp->ema_live) memcpy(mlp->ema, mlp->best, mlp->nparams * sizeof(float));
    return mlp->best_epoch;
}
