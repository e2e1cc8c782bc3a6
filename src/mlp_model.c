/* mlp_model.c — MLP models in files. Until the MLP lands (issue 3) these refuse clearly. */
#include "model_internal.h"

dn_status dn_mlp_model_save_(const dn_model *model, const char *path, const dn_meta_entry *meta, size_t nmeta,
                             dn_error *err)
{
    (void)model, (void)meta, (void)nmeta;
    return dn_fail(err, DN_ERR_USAGE, "%s: this build cannot write MLP models yet", path);
}

dn_status dn_mlp_model_load_(dn_model *model, const dn_st_file *file, const char *path, dn_error *err)
{
    (void)model, (void)file;
    return dn_fail(err, DN_ERR_INPUT, "%s: this build cannot read MLP models yet", path);
}

dn_status dn_mlp_model_classify_(const dn_model *model, const uint8_t *images, size_t count, uint8_t *predicted,
                                 float *scores, dn_error *err)
{
    (void)model, (void)images, (void)count, (void)predicted, (void)scores;
    return dn_fail(err, DN_ERR_USAGE, "this build cannot run MLP models yet");
}
