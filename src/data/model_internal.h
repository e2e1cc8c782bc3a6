/*
 * model_internal.h — the inside of dn_model, shared by model.c (perceptron,
 * file format) and the MLP sources (mlp_model.c).
 */
#ifndef DN_MODEL_INTERNAL_H
#define DN_MODEL_INTERNAL_H

#include "internal.h"

typedef struct dn_model_meta_pair {
    char *key;
    char *value;
} dn_model_meta_pair;

struct dn_model {
    dn_model_kind kind;
    dn_model_meta_pair *meta; /* owned strings, in file order */
    size_t nmeta;
    /* perceptron */
    dn_precision precision; /* the dtype W is saved in */
    double *w_last;         /* (10, 784) the final W of training, saved as "W" */
    double *w_average;      /* (10, 784) the averaged W, saved as "W_average", or NULL */
    const double *w;        /* the one of the two that predictions use (not owned) */
    /* other kinds keep their state here */
    void *extra;
    void (*free_extra)(void *extra);
};

dn_model *dn_model_alloc_(dn_model_kind kind);
dn_status dn_model_set_meta_(dn_model *model, const char *key, const char *value, dn_error *err);
dn_status dn_model_set_meta_number_(dn_model *model, const char *key, double value, dn_error *err);

/* MLP hooks, implemented by mlp_model.c. meta already holds the format keys
 * first; the hook adds the tensors and writes with dn_st_write. */
dn_status dn_mlp_model_save_(const dn_model *model, const char *path, const dn_meta_entry *meta, size_t nmeta,
                             dn_error *err);
dn_status dn_mlp_model_load_(dn_model *model, const dn_st_file *file, const char *path, dn_error *err);
dn_status dn_mlp_model_classify_(const dn_model *model, const uint8_t *images, size_t count, uint8_t *predicted,
                                 float *scores, dn_error *err);

#endif /* DN_MODEL_INTERNAL_H */
