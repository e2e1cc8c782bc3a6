/*
 * mlp_model.c — MLP models in files (kind "mlp", see digitnet.h), and the
 * NumPy export of any model's tensors.
 *
 * The metadata says how the network was built and trained; the tensors say
 * what it is. Loading insists the two agree, so a file can never be
 * half-understood: tensors exactly "layers.K.weight" / "layers.K.bias" for
 * K = 0 … L−1, F32, chained 784 → hidden → 10 as "hidden" states.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mlp_internal.h"
#include "model_internal.h"
#include "text_cursor.h"

static void free_mlp(void *mlp) { dn_mlp_free(mlp); }

const dn_mlp *dn_model_get_mlp(const dn_model *model)
{
    return model->kind == DN_MODEL_MLP ? (const dn_mlp *)model->extra : NULL;
}

/* ---------------------------------------------------------------- save */

/* The shortest decimal that reads back as exactly v: "0.1", not
 * "0.10000000000000001" (what %.17g, always exact, would write). */
static void shortest_number(double v, char *out, size_t cap)
{
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, cap, "%.*g", digits, v);
        if (strtod(out, NULL) == v) return;
    }
}

static dn_status set_mlp_meta(dn_model *model, const dn_mlp *mlp, uint32_t data_crc32, dn_error *err)
{
    const dn_mlp_options *o = dn_mlp_get_options(mlp);
    char hidden[16 * DN_MLP_MAX_HIDDEN], crc[16];
    dn_mlp_hidden_text_(o, hidden, sizeof hidden);
    snprintf(crc, sizeof crc, "%08x", (unsigned)data_crc32);
    const struct { const char *key, *value; } text[] = {
        {"hidden", hidden}, {"activation", dn_activation_name(o->activation)}, {"loss", dn_loss_name(o->loss)},
        {"init", dn_init_name(o->init)}, {"optimizer", dn_optimizer_name(o->optimizer)},
        {"schedule", dn_schedule_name(o->schedule)}, {"data_crc32", crc},
    };
    const struct { const char *key; double value; } numbers[] = {
        {"lr", o->lr}, {"momentum", o->momentum}, {"nesterov", o->nesterov}, {"weight_decay", o->weight_decay},
        {"beta1", o->beta1}, {"beta2", o->beta2}, {"adam_eps", o->adam_eps}, {"step_epochs", o->step_epochs},
        {"step_gamma", o->step_gamma}, {"batch", (double)o->batch}, {"schedule_epochs", o->epochs},
        {"threads", o->threads}, {"epochs", dn_mlp_epochs_done(mlp)},
        {"train_size", (double)dn_mlp_train_size(mlp)},
    };
    dn_status s = DN_OK;
    for (size_t i = 0; !s && i < sizeof text / sizeof *text; i++) s = dn_model_set_meta_(model, text[i].key, text[i].value, err);
    for (size_t i = 0; !s && i < sizeof numbers / sizeof *numbers; i++) {
        char number[32];
        shortest_number(numbers[i].value, number, sizeof number);
        s = dn_model_set_meta_(model, numbers[i].key, number, err);
    }
    /* %.17g of a double cannot carry every 64-bit seed: write it exactly. */
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    if (!s) s = dn_model_set_meta_(model, "seed", seed, err);
    return s;
}

dn_model *dn_model_from_mlp(const dn_mlp *mlp, uint32_t data_crc32, dn_error *err)
{
    dn_model *model = dn_model_alloc_(DN_MODEL_MLP);
    if (!model) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the model");
        return NULL;
    }
    model->free_extra = free_mlp;
    if (!(model->extra = dn_mlp_clone_(mlp, err)) || set_mlp_meta(model, mlp, data_crc32, err)) {
        dn_model_free(model);
        return NULL;
    }
    return model;
}

dn_status dn_mlp_model_save_(const dn_model *model, const char *path, const dn_meta_entry *meta, size_t nmeta,
                             dn_error *err)
{
    const dn_mlp *mlp = model->extra;
    const int L = dn_mlp_layer_count(mlp);
    dn_tensor tensors[2 * DN_MLP_MAX_LAYERS];
    for (int k = 0; k < L; k++) {
        dn_tensor *w = &tensors[2 * k], *b = &tensors[2 * k + 1];
        *w = (dn_tensor){.dtype = DN_DTYPE_F32, .ndim = 2, .data = dn_mlp_weights(mlp, k)};
        w->shape[0] = dn_mlp_layer_outputs(mlp, k);
        w->shape[1] = dn_mlp_layer_inputs(mlp, k);
        snprintf(w->name, sizeof w->name, "layers.%d.weight", k);
        *b = (dn_tensor){.dtype = DN_DTYPE_F32, .ndim = 1, .data = dn_mlp_bias(mlp, k)};
        b->shape[0] = dn_mlp_layer_outputs(mlp, k);
        snprintf(b->name, sizeof b->name, "layers.%d.bias", k);
    }
    return dn_st_write(path, tensors, (size_t)(2 * L), meta, nmeta, err);
}

/* ---------------------------------------------------------------- load */

/* Strict numbers: the whole string, finite, in [lo, hi], whole when asked. */
static dn_status meta_number(const dn_model *model, const char *path, const char *key, double lo, double hi,
                             int whole, double *out, dn_error *err)
{
    const char *text = dn_model_meta(model, key);
    if (!text) return DN_OK; /* optional: the default stays */
    double v = 0;
    if (dn_parse_double(text, &v) != 0 || !(v >= lo && v <= hi) || (whole && v != floor(v)))
        return dn_fail(err, DN_ERR_INPUT, "%s: metadata %s = '%s' is not a valid value", path, key, text);
    *out = v;
    return DN_OK;
}

static dn_status meta_choice(const dn_model *model, const char *path, const char *key, int required,
                             int (*from_name)(const char *), int *out, dn_error *err)
{
    const char *text = dn_model_meta(model, key);
    if (!text) return required ? dn_fail(err, DN_ERR_INPUT, "%s: MLP model has no metadata '%s'", path, key) : DN_OK;
    int v = from_name(text);
    if (v < 0) return dn_fail(err, DN_ERR_INPUT, "%s: metadata %s = '%s' is not known to this build", path, key, text);
    *out = v;
    return DN_OK;
}

static dn_status meta_seed(const dn_model *model, const char *path, uint64_t *seed, dn_error *err)
{
    const char *text = dn_model_meta(model, "seed");
    if (!text) return DN_OK;
    if (dn_parse_u64(text, UINT64_MAX, seed) != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: metadata seed = '%s' is not a valid value", path, text);
    return DN_OK;
}

/* The options the file describes; DN_ERR_INPUT naming the file and key. */
static dn_status options_from_meta(const dn_model *model, const char *path, dn_mlp_options *o, dn_error *err)
{
    dn_mlp_options_default(o);
    const char *hidden = dn_model_meta(model, "hidden");
    if (!hidden) return dn_fail(err, DN_ERR_INPUT, "%s: MLP model has no metadata 'hidden'", path);
    dn_error why;
    if (dn_mlp_parse_hidden(hidden, o, &why)) return dn_fail(err, DN_ERR_INPUT, "%s: metadata %s", path, why.message);
    int act = 0, loss = 0, init = 0, optimizer = 0, schedule = 0;
    double nesterov = 0, step_epochs = o->step_epochs, batch = (double)o->batch, epochs = o->epochs,
           threads = o->threads;
    dn_status s = DN_OK;
    if (!s) s = meta_choice(model, path, "activation", 1, dn_activation_from_name_, &act, err);
    if (!s) s = meta_choice(model, path, "loss", 1, dn_loss_from_name_, &loss, err);
    if (!s) s = meta_choice(model, path, "init", 0, dn_init_from_name_, &init, err);
    if (!s) s = meta_choice(model, path, "optimizer", 0, dn_optimizer_from_name_, &optimizer, err);
    if (!s) s = meta_choice(model, path, "schedule", 0, dn_schedule_from_name_, &schedule, err);
    if (!s) s = meta_number(model, path, "lr", 0, 1e6, 0, &o->lr, err);
    if (!s) s = meta_number(model, path, "momentum", 0, 1, 0, &o->momentum, err);
    if (!s) s = meta_number(model, path, "nesterov", 0, 1, 1, &nesterov, err);
    if (!s) s = meta_number(model, path, "weight_decay", 0, 1, 0, &o->weight_decay, err);
    if (!s) s = meta_number(model, path, "beta1", 0, 1, 0, &o->beta1, err);
    if (!s) s = meta_number(model, path, "beta2", 0, 1, 0, &o->beta2, err);
    if (!s) s = meta_number(model, path, "adam_eps", 0, 1, 0, &o->adam_eps, err);
    if (!s) s = meta_number(model, path, "step_epochs", 1, 1e6, 1, &step_epochs, err);
    if (!s) s = meta_number(model, path, "step_gamma", 0, 1, 0, &o->step_gamma, err);
    if (!s) s = meta_number(model, path, "batch", 1, 65536, 1, &batch, err);
    if (!s) s = meta_number(model, path, "schedule_epochs", 1, 1e6, 1, &epochs, err);
    if (!s) s = meta_number(model, path, "threads", 0, 1024, 1, &threads, err);
    if (!s) s = meta_seed(model, path, &o->seed, err);
    if (s) return s;
    o->activation = (dn_activation)act, o->loss = (dn_loss)loss, o->init = (dn_init)init;
    o->optimizer = (dn_optimizer)optimizer, o->schedule = (dn_schedule)schedule;
    o->nesterov = (int)nesterov, o->step_epochs = (int)step_epochs, o->batch = (size_t)batch;
    o->epochs = (int)epochs, o->threads = (int)threads;
    if (dn_mlp_options_check(o, &why)) return dn_fail(err, DN_ERR_INPUT, "%s: metadata: %s", path, why.message);
    return DN_OK;
}

/* The tensor `name`, checked for dtype and shape (rows, cols), cols 0 for
 * a vector; NULL with err filled otherwise. */
static const dn_tensor *find_tensor(const dn_st_file *file, const char *path, const char *hidden, const char *name,
                                    size_t rows, size_t cols, dn_error *err)
{
    const dn_tensor *t = dn_st_find(file, name);
    const int ndim = cols ? 2 : 1;
    if (!t) {
        dn_fail(err, DN_ERR_INPUT, "%s: MLP model has no tensor '%s'", path, name);
        return NULL;
    }
    if (t->dtype != DN_DTYPE_F32) {
        dn_fail(err, DN_ERR_INPUT, "%s: tensor '%s' must be F32", path, name);
        return NULL;
    }
    if (t->ndim != ndim || t->shape[0] != rows || (ndim == 2 && t->shape[1] != cols)) {
        char got[64], want[64];
        if (t->ndim == 2) snprintf(got, sizeof got, "(%zu, %zu)", t->shape[0], t->shape[1]);
        else if (t->ndim == 1) snprintf(got, sizeof got, "(%zu)", t->shape[0]);
        else snprintf(got, sizeof got, "of %d dimensions", t->ndim);
        if (ndim == 2) snprintf(want, sizeof want, "(%zu, %zu)", rows, cols);
        else snprintf(want, sizeof want, "(%zu)", rows);
        dn_fail(err, DN_ERR_INPUT, "%s: tensor '%s' has shape %s but the metadata 'hidden' = '%s' needs %s", path,
                name, got, hidden, want);
        return NULL;
    }
    return t;
}

/* Every tensor the options call for, in order W_0 b_0 W_1 b_1 …, checked
 * BEFORE anything is allocated: the metadata alone could ask for a 1 GB
 * network (found by an audit), but tensors that are really in the file
 * bound the allocation by the file's size. */
static dn_status find_tensors(const dn_mlp_options *opt, const dn_st_file *file, const char *path, const char *hidden,
                              const dn_tensor *found[2 * DN_MLP_MAX_LAYERS], dn_error *err)
{
    const int L = opt->n_hidden + 1;
    if (dn_st_tensor_count(file) != (size_t)(2 * L))
        return dn_fail(err, DN_ERR_INPUT, "%s: an MLP with %d layers has %d tensors, this file has %zu", path, L,
                       2 * L, dn_st_tensor_count(file));
    for (int k = 0; k < L; k++) {
        char name[DN_TENSOR_NAME_MAX];
        size_t in = k == 0 ? DN_IMAGE_PIXELS : opt->hidden[k - 1], out = k == L - 1 ? DN_CLASSES : opt->hidden[k];
        snprintf(name, sizeof name, "layers.%d.weight", k);
        if (!(found[2 * k] = find_tensor(file, path, hidden, name, out, in, err))) return DN_ERR_INPUT;
        snprintf(name, sizeof name, "layers.%d.bias", k);
        if (!(found[2 * k + 1] = find_tensor(file, path, hidden, name, out, 0, err))) return DN_ERR_INPUT;
    }
    return DN_OK;
}

/* Copies the checked tensors into the parameter buffer (same order), refusing NaN and Inf. */
static dn_status copy_tensors(dn_mlp *mlp, const dn_tensor *const *found, const char *path, dn_error *err)
{
    size_t np, at = 0;
    float *params = dn_mlp_params(mlp, &np);
    for (int i = 0; i < 2 * dn_mlp_layer_count(mlp); i++) {
        size_t n = found[i]->shape[0] * (found[i]->ndim == 2 ? found[i]->shape[1] : 1);
        memcpy(params + at, found[i]->data, n * sizeof(float));
        for (size_t j = 0; j < n; j++)
            if (!isfinite(params[at + j]))
                return dn_fail(err, DN_ERR_INPUT, "%s: tensor '%s' holds a non-finite value", path, found[i]->name);
        at += n;
    }
    return DN_OK;
}

dn_status dn_mlp_model_load_(dn_model *model, const dn_st_file *file, const char *path, dn_error *err)
{
    dn_mlp_options opt;
    const dn_tensor *found[2 * DN_MLP_MAX_LAYERS];
    double epochs = 0, train_size = 0;
    dn_status s = options_from_meta(model, path, &opt, err);
    if (!s) s = meta_number(model, path, "epochs", 0, 1e9, 1, &epochs, err);
    if (!s) s = meta_number(model, path, "train_size", 0, 1e12, 1, &train_size, err);
    if (!s) s = find_tensors(&opt, file, path, dn_model_meta(model, "hidden"), found, err);
    if (s) return s;
    dn_mlp *mlp = dn_mlp_alloc_(&opt, err);
    if (!mlp) return DN_ERR_NOMEM; /* the options were checked: only memory can fail */
    model->extra = mlp;
    model->free_extra = free_mlp;
    mlp->epochs_done = (int)epochs;
    mlp->train_size = (size_t)train_size;
    return copy_tensors(mlp, found, path, err);
}

dn_status dn_mlp_model_classify_(const dn_model *model, const uint8_t *images, size_t count, uint8_t *predicted,
                                 float *scores, dn_error *err)
{
    return dn_mlp_classify(model->extra, images, count, predicted, scores, err);
}

/* ---------------------------------------------------------------- export */

/* mkdir -p: creates dir and its missing parents. */
static dn_status make_dirs(const char *dir, dn_error *err)
{
    size_t len = strlen(dir);
    char *buf = malloc(len + 1);
    if (!buf) return dn_fail(err, DN_ERR_NOMEM, "out of memory");
    memcpy(buf, dir, len + 1);
    dn_status s = DN_OK;
    for (size_t i = 1; i <= len && !s; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && !(errno == EEXIST && stat(buf, &st) == 0 && S_ISDIR(st.st_mode)))
            s = dn_fail(err, DN_ERR_IO, "%s: cannot create folder (%s)", buf, strerror(errno));
        buf[i] = c;
    }
    free(buf);
    return s;
}

static dn_status write_npy(const char *dir, const char *name, char dtype, const void *data, const size_t *shape,
                           int ndim, size_t *nwritten, dn_error *err)
{
    size_t cap = strlen(dir) + strlen(name) + 8;
    char *path = malloc(cap);
    if (!path) return dn_fail(err, DN_ERR_NOMEM, "out of memory");
    snprintf(path, cap, "%s/%s.npy", dir, name);
    dn_status s = dn_npy_write(path, dtype, data, shape, ndim, err);
    free(path);
    if (!s && nwritten) ++*nwritten;
    return s;
}

/* DN_NPY_DESCRIPTION: what import needs and the tensors cannot say. */
static dn_status write_description(const dn_model *model, const char *dir, size_t *nwritten, dn_error *err)
{
    const dn_mlp *mlp = dn_model_get_mlp(model);
    char text[512];
    int len = snprintf(text, sizeof text,
                       "# written by digitnet %s (export --npy); read by digitnet import --npy\nkind = %s\n",
                       dn_version(), dn_model_kind_name(model));
    if (mlp)
        len += snprintf(text + len, sizeof text - (size_t)len, "layers = %d\nactivation = %s\nloss = %s\n",
                        dn_mlp_layer_count(mlp), dn_activation_name(dn_mlp_get_options(mlp)->activation),
                        dn_loss_name(dn_mlp_get_options(mlp)->loss));
    size_t cap = strlen(dir) + sizeof DN_NPY_DESCRIPTION + 1;
    char *path = malloc(cap);
    if (!path) return dn_fail(err, DN_ERR_NOMEM, "out of memory");
    snprintf(path, cap, "%s/%s", dir, DN_NPY_DESCRIPTION);
    dn_status s = dn_write_file_atomic(path, text, (size_t)len, err);
    free(path);
    if (!s && nwritten) ++*nwritten;
    return s;
}

dn_status dn_model_export_npy(const dn_model *model, const char *dir, size_t *nwritten, dn_error *err)
{
    if (nwritten) *nwritten = 0;
    dn_status s = make_dirs(dir, err);
    if (s) return s;
    const dn_mlp *mlp = dn_model_get_mlp(model);
    if (!mlp) {
        const size_t shape[2] = {DN_CLASSES, DN_IMAGE_PIXELS};
        s = write_npy(dir, "W", 'd', dn_model_perceptron_weights(model), shape, 2, nwritten, err);
        return s ? s : write_description(model, dir, nwritten, err);
    }
    for (int k = 0; k < dn_mlp_layer_count(mlp) && !s; k++) {
        char name[DN_TENSOR_NAME_MAX];
        const size_t shape[2] = {dn_mlp_layer_outputs(mlp, k), dn_mlp_layer_inputs(mlp, k)};
        snprintf(name, sizeof name, "layers.%d.weight", k);
        s = write_npy(dir, name, 'f', dn_mlp_weights(mlp, k), shape, 2, nwritten, err);
        snprintf(name, sizeof name, "layers.%d.bias", k);
        if (!s) s = write_npy(dir, name, 'f', dn_mlp_bias(mlp, k), shape, 1, nwritten, err);
    }
    return s ? s : write_description(model, dir, nwritten, err);
}
