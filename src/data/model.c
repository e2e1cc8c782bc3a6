/*
 * model.c — trained classifiers as files (safetensors, see digitnet.h) and
 * what every kind can do once loaded: classify, report metadata.
 *
 * The model keeps the metadata as strings, exactly as the file holds them,
 * so that `digitnet inspect` can show a model written by a newer version.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define DN_FORMAT_NAME "digitnet"
#define DN_FORMAT_VERSION "1"

static char *copy_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);
    if (copy) memcpy(copy, s, len);
    return copy;
}

dn_model *dn_model_alloc_(dn_model_kind kind) /* model_internal.h */
{
    dn_model *model = calloc(1, sizeof *model);
    if (model) model->kind = kind;
    return model;
}

dn_status dn_model_set_meta_(dn_model *model, const char *key, const char *value, dn_error *err)
{
    for (size_t i = 0; i < model->nmeta; i++)
        if (strcmp(model->meta[i].key, key) == 0) {
            char *copy = copy_string(value);
            if (!copy) return dn_fail(err, DN_ERR_NOMEM, "out of memory for model metadata");
            free(model->meta[i].value);
            model->meta[i].value = copy;
            return DN_OK;
        }
    dn_model_meta_pair *grown = realloc(model->meta, (model->nmeta + 1) * sizeof *grown);
    if (!grown) return dn_fail(err, DN_ERR_NOMEM, "out of memory for model metadata");
    model->meta = grown;
    char *k = copy_string(key), *v = copy_string(value);
    if (!k || !v) {
        free(k);
        free(v);
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for model metadata");
    }
    model->meta[model->nmeta++] = (dn_model_meta_pair){k, v};
    return DN_OK;
}

dn_status dn_model_set_meta_number_(dn_model *model, const char *key, double value, dn_error *err)
{
    char text[64];
    snprintf(text, sizeof text, "%.17g", value);
    return dn_model_set_meta_(model, key, text, err);
}

void dn_model_free(dn_model *model)
{
    if (!model) return;
    for (size_t i = 0; i < model->nmeta; i++) {
        free(model->meta[i].key);
        free(model->meta[i].value);
    }
    free(model->meta);
    free(model->w_last);
    free(model->w_average);
    if (model->free_extra) model->free_extra(model->extra);
    free(model);
}

dn_model_kind dn_model_get_kind(const dn_model *model) { return model->kind; }

const char *dn_model_kind_name(const dn_model *model)
{
    return model->kind == DN_MODEL_PERCEPTRON ? "perceptron" : "mlp";
}

const char *dn_model_meta(const dn_model *model, const char *key)
{
    for (size_t i = 0; i < model->nmeta; i++)
        if (strcmp(model->meta[i].key, key) == 0) return model->meta[i].value;
    return NULL;
}

size_t dn_model_meta_count(const dn_model *model) { return model->nmeta; }
const char *dn_model_meta_key(const dn_model *model, size_t i) { return i < model->nmeta ? model->meta[i].key : NULL; }

const double *dn_model_perceptron_weights(const dn_model *model)
{
    return model->kind == DN_MODEL_PERCEPTRON ? model->w : NULL;
}

/* ---------------------------------------------------------------- perceptron */

static dn_status set_pta_meta(dn_model *model, const dn_pta *pta, int use_average, uint32_t data_crc32,
                              dn_error *err)
{
    const dn_pta_options *o = dn_pta_get_options(pta);
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", (unsigned)data_crc32);
    dn_status s = DN_OK;
    if (!s) s = dn_model_set_meta_(model, "precision", dn_precision_name(o->precision), err);
    if (!s) s = dn_model_set_meta_number_(model, "train_size", (double)o->train_size, err);
    if (!s) s = dn_model_set_meta_number_(model, "eta", o->eta, err);
    if (!s) s = dn_model_set_meta_number_(model, "epsilon", o->epsilon, err);
    if (!s) s = dn_model_set_meta_number_(model, "max_epochs", o->max_epochs, err);
    if (!s) s = dn_model_set_meta_number_(model, "seed", (double)o->seed, err);
    if (!s) s = dn_model_set_meta_number_(model, "epochs", dn_pta_epochs_done(pta), err);
    if (!s) s = dn_model_set_meta_(model, "predict_with", use_average ? "W_average" : "W", err);
    if (!s) s = dn_model_set_meta_(model, "data_crc32", crc, err);
    return s;
}

dn_model *dn_model_from_pta(const dn_pta *pta, int use_average, uint32_t data_crc32, dn_error *err)
{
    const size_t size = sizeof(double) * DN_CLASSES * DN_IMAGE_PIXELS;
    int keeps_average = dn_pta_get_options(pta)->average;
    dn_model *model = dn_model_alloc_(DN_MODEL_PERCEPTRON);
    if (!model || !(model->w_last = malloc(size)) || (keeps_average && !(model->w_average = malloc(size)))) {
        dn_model_free(model);
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the model");
        return NULL;
    }
    model->precision = dn_pta_get_options(pta)->precision;
    dn_pta_get_weights(pta, model->w_last);
    if (keeps_average && dn_pta_get_average(pta, model->w_average, NULL) != DN_OK) {
        free(model->w_average); /* no step taken yet: there is no average to keep */
        model->w_average = NULL;
    }
    if (use_average && !model->w_average) {
        dn_model_free(model);
        dn_fail(err, DN_ERR_USAGE, "the averaged W was not kept or no step was taken");
        return NULL;
    }
    model->w = use_average ? model->w_average : model->w_last;
    if (set_pta_meta(model, pta, use_average, data_crc32, err)) {
        dn_model_free(model);
        return NULL;
    }
    return model;
}

/* A (10, 784) tensor of the model's precision from a float64 array; *scratch
 * receives a float copy when one is needed (caller frees). */
static dn_tensor weight_tensor(const char *name, const double *w, dn_precision precision, float **scratch)
{
    dn_tensor t = {.dtype = DN_DTYPE_F64, .ndim = 2, .shape = {DN_CLASSES, DN_IMAGE_PIXELS}, .data = w};
    snprintf(t.name, sizeof t.name, "%s", name);
    *scratch = NULL;
    if (precision == DN_FLOAT32) {
        *scratch = malloc(sizeof(float) * DN_CLASSES * DN_IMAGE_PIXELS);
        if (*scratch)
            for (int i = 0; i < DN_CLASSES * DN_IMAGE_PIXELS; i++) (*scratch)[i] = (float)w[i];
        t.dtype = DN_DTYPE_F32;
        t.data = *scratch;
    }
    return t;
}

static dn_status save_perceptron(const dn_model *model, const char *path, dn_meta_entry *meta, size_t nmeta,
                                 dn_error *err)
{
    float *scratch[2] = {NULL, NULL};
    dn_tensor tensors[2];
    size_t ntensors = 1;
    tensors[0] = weight_tensor("W", model->w_last, model->precision, &scratch[0]);
    /* The average is computed in float64 whatever the training precision; it is kept exact. */
    if (model->w_average)
        tensors[ntensors++] = weight_tensor("W_average", model->w_average, DN_FLOAT64, &scratch[1]);
    dn_status s = DN_OK;
    for (size_t i = 0; i < ntensors; i++)
        if (!tensors[i].data) s = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory while saving", path);
    if (!s) s = dn_st_write(path, tensors, ntensors, meta, nmeta, err);
    free(scratch[0]);
    free(scratch[1]);
    return s;
}

dn_status dn_model_save(const dn_model *model, const char *path, dn_error *err)
{
    /* The format keys come first so that a reader sees at once what it has. */
    size_t nmeta = model->nmeta + 3;
    dn_meta_entry *meta = malloc(nmeta * sizeof *meta);
    if (!meta) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory while saving", path);
    meta[0] = (dn_meta_entry){"format", DN_FORMAT_NAME};
    meta[1] = (dn_meta_entry){"format_version", DN_FORMAT_VERSION};
    meta[2] = (dn_meta_entry){"kind", dn_model_kind_name(model)};
    for (size_t i = 0; i < model->nmeta; i++) meta[3 + i] = (dn_meta_entry){model->meta[i].key, model->meta[i].value};
    dn_status s;
    if (model->kind == DN_MODEL_PERCEPTRON) s = save_perceptron(model, path, meta, nmeta, err);
    else s = dn_mlp_model_save_(model, path, meta, nmeta, err);
    free(meta);
    return s;
}

/* Copies a (10, 784) tensor into a new float64 array. */
static dn_status load_weight_tensor(const dn_st_file *file, const char *path, const char *name, int required,
                                    double **out, dn_error *err)
{
    const dn_tensor *t = dn_st_find(file, name);
    *out = NULL;
    if (!t) return required ? dn_fail(err, DN_ERR_INPUT, "%s: perceptron model has no tensor '%s'", path, name) : DN_OK;
    if (t->ndim != 2 || t->shape[0] != DN_CLASSES || t->shape[1] != DN_IMAGE_PIXELS)
        return dn_fail(err, DN_ERR_INPUT, "%s: tensor '%s' must have shape (10, 784)", path, name);
    if (t->dtype != DN_DTYPE_F32 && t->dtype != DN_DTYPE_F64)
        return dn_fail(err, DN_ERR_INPUT, "%s: tensor '%s' must be F32 or F64", path, name);
    *out = malloc(sizeof(double) * DN_CLASSES * DN_IMAGE_PIXELS);
    if (!*out) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < DN_CLASSES * DN_IMAGE_PIXELS; i++) {
        double v = t->dtype == DN_DTYPE_F32 ? (double)((const float *)t->data)[i] : ((const double *)t->data)[i];
        if (!isfinite(v)) return dn_fail(err, DN_ERR_INPUT, "%s: tensor '%s' holds a non-finite value", path, name);
        (*out)[i] = v;
    }
    return DN_OK;
}

static dn_status load_perceptron(dn_model *model, const dn_st_file *file, const char *path, dn_error *err)
{
    const char *with = dn_model_meta(model, "predict_with");
    dn_status s = load_weight_tensor(file, path, "W", 1, &model->w_last, err);
    if (!s) s = load_weight_tensor(file, path, "W_average", 0, &model->w_average, err);
    if (s) return s;
    int use_average = with && strcmp(with, "W_average") == 0;
    if (use_average && !model->w_average)
        return dn_fail(err, DN_ERR_INPUT, "%s: metadata says predict_with=W_average but the tensor is missing", path);
    model->precision = dn_st_find(file, "W")->dtype == DN_DTYPE_F64 ? DN_FLOAT64 : DN_FLOAT32;
    model->w = use_average ? model->w_average : model->w_last;
    return DN_OK;
}

static dn_status check_format(const dn_st_file *file, const char *path, dn_model_kind *kind, dn_error *err)
{
    const char *format = dn_st_meta(file, "format"), *version = dn_st_meta(file, "format_version");
    const char *kind_name = dn_st_meta(file, "kind");
    if (!format || strcmp(format, DN_FORMAT_NAME) != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: not a digitnet model (metadata 'format' is %s)", path,
                       format ? format : "absent");
    if (!version || strcmp(version, DN_FORMAT_VERSION) != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: model format version %s is not supported (this build reads %s)", path,
                       version ? version : "absent", DN_FORMAT_VERSION);
    if (!dn_st_meta(file, "payload_crc32"))
        return dn_fail(err, DN_ERR_INPUT, "%s: model has no payload_crc32: cannot verify it", path);
    if (kind_name && strcmp(kind_name, "perceptron") == 0) *kind = DN_MODEL_PERCEPTRON;
    else if (kind_name && strcmp(kind_name, "mlp") == 0) *kind = DN_MODEL_MLP;
    else if (kind_name && strstr(kind_name, "-checkpoint"))
        return dn_fail(err, DN_ERR_INPUT, "%s: this is a training checkpoint (%s), not a model: resume training "
                       "from it, or load the model the run saved", path, kind_name);
    else return dn_fail(err, DN_ERR_INPUT, "%s: unknown model kind '%s'", path, kind_name ? kind_name : "(absent)");
    return DN_OK;
}

/* Bytes of every tensor in file; bounded by its size, which dn_st_read checked. */
static size_t tensor_bytes_in(const dn_st_file *file)
{
    size_t total = 0;
    for (size_t i = 0; i < dn_st_tensor_count(file); i++) {
        const dn_tensor *t = dn_st_tensor_at(file, i);
        size_t bytes = dn_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) bytes *= t->shape[d];
        total += bytes;
    }
    return total;
}

/* The MLP loader sizes the network from the metadata "hidden" and allocates
 * it before reading a tensor, so check first that the file could hold the
 * bytes those layers need: a few hundred bytes claiming "65536,3000" must not
 * cost a gigabyte (found by fuzz/fuzz_model.c). The slack leaves a
 * near miss (a tensor of the wrong shape) to the MLP loader, whose message
 * says which tensor; a malformed "hidden" is also left to it. */
static dn_status check_mlp_backed(const dn_model *model, const dn_st_file *file, const char *path, dn_error *err)
{
    const char *hidden = dn_model_meta(model, "hidden");
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    if (!hidden || dn_mlp_parse_hidden(hidden, &o, NULL) != DN_OK) return DN_OK;
    size_t params = 0, in = DN_IMAGE_PIXELS; /* ≤ 9 layers of ≤ 65536 × 65537: no overflow */
    for (int k = 0; k <= o.n_hidden; k++) {
        size_t out = k < o.n_hidden ? o.hidden[k] : DN_CLASSES;
        params += (in + 1) * out;
        in = out;
    }
    size_t have = tensor_bytes_in(file);
    if (params / 2 > have / sizeof(float) + (1u << 16))
        return dn_fail(err, DN_ERR_INPUT, "%s: metadata hidden = '%s' needs %zu float32 parameters, but the file's "
                       "tensors hold only %zu bytes", path, hidden, params, have);
    return DN_OK;
}

dn_model *dn_model_load(const char *path, dn_error *err)
{
    dn_st_file *file = dn_st_read(path, err);
    if (!file) return NULL;
    dn_model_kind kind = DN_MODEL_PERCEPTRON;
    dn_model *model = NULL;
    dn_status s = check_format(file, path, &kind, err);
    if (!s && !(model = dn_model_alloc_(kind))) s = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    static const char *const format_keys[] = {"format", "format_version", "kind", "payload_crc32"};
    for (size_t i = 0; !s && i < dn_st_meta_count(file); i++) {
        const dn_meta_entry *e = dn_st_meta_at(file, i);
        int is_format_key = 0;
        for (size_t f = 0; f < sizeof format_keys / sizeof *format_keys; f++)
            is_format_key |= strcmp(e->key, format_keys[f]) == 0;
        if (!is_format_key) s = dn_model_set_meta_(model, e->key, e->value, err);
    }
    if (!s && kind == DN_MODEL_MLP) s = check_mlp_backed(model, file, path, err);
    if (!s) s = kind == DN_MODEL_PERCEPTRON ? load_perceptron(model, file, path, err)
                                            : dn_mlp_model_load_(model, file, path, err);
    dn_st_free(file);
    if (s) {
        dn_model_free(model);
        return NULL;
    }
    return model;
}

/* ---------------------------------------------------------------- prediction */

/* Dense W x for one image, in the reference order (pixel by pixel). */
static void linear_scores(const double *w, const uint8_t *image, double scores[DN_CLASSES])
{
    for (int j = 0; j < DN_CLASSES; j++) {
        const double *row = w + (size_t)j * DN_IMAGE_PIXELS;
        double sum = 0;
        for (int k = 0; k < DN_IMAGE_PIXELS; k++) sum += row[k] * (image[k] / 255.0);
        scores[j] = sum;
    }
}

static uint8_t argmax10(const double v[DN_CLASSES])
{
    int best = 0;
    for (int j = 1; j < DN_CLASSES; j++)
        if (v[j] > v[best]) best = j;
    return (uint8_t)best;
}

void dn_linear_predict(const double *w, const uint8_t *images, size_t count, uint8_t *predicted)
{
    long long n = (long long)count;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < n; i++) {
        double scores[DN_CLASSES];
        linear_scores(w, images + (size_t)i * DN_IMAGE_PIXELS, scores);
        predicted[i] = argmax10(scores);
    }
}

dn_status dn_model_classify(const dn_model *model, const uint8_t *images, size_t count, uint8_t *predicted,
                            float *scores, dn_error *err)
{
    if (model->kind == DN_MODEL_MLP) return dn_mlp_model_classify_(model, images, count, predicted, scores, err);
    for (size_t i = 0; i < count; i++) {
        double v[DN_CLASSES];
        linear_scores(model->w, images + i * DN_IMAGE_PIXELS, v);
        predicted[i] = argmax10(v);
        if (scores)
            for (int j = 0; j < DN_CLASSES; j++) scores[i * DN_CLASSES + j] = (float)v[j];
    }
    return DN_OK;
}

void dn_confusion_matrix(const uint8_t *labels, const uint8_t *predicted, size_t n,
                         size_t confusion[DN_CLASSES][DN_CLASSES])
{
    memset(confusion, 0, sizeof(size_t) * DN_CLASSES * DN_CLASSES);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < DN_CLASSES && predicted[i] < DN_CLASSES) confusion[labels[i]][predicted[i]]++;
}
