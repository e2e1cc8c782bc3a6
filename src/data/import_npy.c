/*
 * import_npy.c — a model from the .npy files `export --npy` writes (or that
 * NumPy wrote by hand in the same layout): the inverse of
 * dn_model_export_npy, so that export → import gives the same tensors.
 *
 * The .npy files say what the network is, not how it computes: the hidden
 * activation and the loss (softmax or sigmoid output) come from the small
 * description file export writes beside them (DN_NPY_DESCRIPTION), or from
 * the caller. Every file is checked before anything is built: dtype, shape,
 * the chain 784 → … → 10, finite values; each message names the file.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_internal.h"
#include "text_cursor.h"

#define DESCRIPTION_MAX 4096

/* dir/name in a new string (caller frees), NULL when out of memory. */
static char *join(const char *dir, const char *name)
{
    size_t cap = strlen(dir) + strlen(name) + 2;
    char *path = malloc(cap);
    if (path) snprintf(path, cap, "%s/%s", dir, name);
    return path;
}

static int file_exists(const char *dir, const char *name)
{
    char *path = join(dir, name);
    struct stat st;
    int found = path && stat(path, &st) == 0;
    free(path);
    return found;
}

/* ---------------------------------------------------------------- description */

/* What the description file says; -1 where it says nothing. */
typedef struct description {
    int kind; /* dn_model_kind */
    int activation, loss;
    int layers; /* the MLP's L: files left from an earlier, deeper export are caught */
} description;

static int choice_index(const char *const *choices, const char *name)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(choices[i], name) == 0) return i;
    return -1;
}

/* One "key = value" line, blanks around both trimmed. */
static dn_status description_line(char *line, int number, const char *path, description *d, dn_error *err)
{
    char *eq = strchr(line, '=');
    if (!eq) return dn_fail(err, DN_ERR_INPUT, "%s: line %d: expected 'key = value'", path, number);
    *eq = '\0';
    char *key = line, *value = eq + 1;
    while (*key == ' ' || *key == '\t') key++;
    while (*value == ' ' || *value == '\t') value++;
    for (char *e = key + strlen(key); e > key && (e[-1] == ' ' || e[-1] == '\t'); e--) e[-1] = '\0';
    for (char *e = value + strlen(value); e > value && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); e--)
        e[-1] = '\0';
    if (strcmp(key, "layers") == 0) {
        uint64_t v = 0;
        if (dn_parse_u64(value, DN_MLP_MAX_HIDDEN + 1, &v) != 0 || v == 0)
            return dn_fail(err, DN_ERR_INPUT, "%s: line %d: layers '%s' is not 1 to %d", path, number, value,
                           DN_MLP_MAX_HIDDEN + 1);
        d->layers = (int)v;
        return DN_OK;
    }
    static const char *const kinds[] = {"?", "perceptron", "mlp", NULL};
    int *slot = strcmp(key, "kind") == 0 ? &d->kind : strcmp(key, "activation") == 0 ? &d->activation
              : strcmp(key, "loss") == 0 ? &d->loss : NULL;
    if (!slot) return dn_fail(err, DN_ERR_INPUT, "%s: line %d: unknown key '%s'", path, number, key);
    const char *const *choices = slot == &d->kind ? kinds : slot == &d->activation ? dn_activation_choices()
                                                                                    : dn_loss_choices();
    *slot = choice_index(choices, value);
    if (*slot <= (slot == &d->kind ? 0 : -1))
        return dn_fail(err, DN_ERR_INPUT, "%s: line %d: %s '%s' is not known to this build", path, number, key, value);
    return DN_OK;
}

static dn_status parse_description(char *text, const char *path, description *d, dn_error *err)
{
    int number = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        number++;
        size_t blank = strspn(line, " \t\r");
        if (line[blank] == '\0' || line[blank] == '#') continue;
        dn_status s = description_line(line, number, path, d, err);
        if (s) return s;
    }
    return DN_OK;
}

static dn_status read_description(const char *dir, description *d, dn_error *err)
{
    *d = (description){-1, -1, -1, -1};
    if (!file_exists(dir, DN_NPY_DESCRIPTION)) return DN_OK;
    char *path = join(dir, DN_NPY_DESCRIPTION);
    if (!path) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", dir);
    unsigned char *buf = NULL;
    size_t size = 0;
    dn_status s = dn_read_file(path, 0, DESCRIPTION_MAX, "a description", &buf, &size, err);
    char *text = s ? NULL : malloc(size + 1);
    if (!s && !text) s = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    if (!s) {
        memcpy(text, buf, size);
        text[size] = '\0';
        if (strlen(text) != size) s = dn_fail(err, DN_ERR_INPUT, "%s: holds a NUL byte: not a text file", path);
        else s = parse_description(text, path, d, err);
    }
    free(text);
    free(buf);
    free(path);
    return s;
}

/* The caller's value unless it contradicts the file's; the file's, else the default. */
static dn_status pick(const char *dir, const char *key, int asked, int from_file, int fallback,
                      const char *const *names, int *out, dn_error *err)
{
    if (asked >= 0 && from_file >= 0 && asked != from_file)
        return dn_fail(err, DN_ERR_USAGE, "%s/%s says %s %s, but %s was asked for", dir, DN_NPY_DESCRIPTION, key,
                       names[from_file], names[asked]);
    *out = asked >= 0 ? asked : from_file >= 0 ? from_file : fallback;
    return DN_OK;
}

/* ---------------------------------------------------------------- tensors */

/* dir/name read as float64 and checked: dtype, shape (rows, cols) or
 * (rows) when cols is 0 (rows 0: any), finite values. */
typedef struct npy_array {
    double *data;
    size_t shape[4];
    int ndim;
    char dtype;
} npy_array;

static dn_status read_array(const char *dir, const char *name, npy_array *a, dn_error *err)
{
    char *path = join(dir, name);
    if (!path) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", dir);
    dn_status s = dn_npy_read_typed_(path, &a->data, a->shape, &a->ndim, &a->dtype, err);
    size_t n = 1;
    for (int d = 0; !s && d < a->ndim; d++) n *= a->shape[d];
    for (size_t i = 0; !s && i < n; i++)
        if (!isfinite(a->data[i]))
            s = dn_fail(err, DN_ERR_INPUT, "%s: value %zu is not finite (NaN or Inf): refused", path, i);
    free(path);
    return s;
}

static dn_status check_dtype(const char *dir, const char *name, const npy_array *a, int f64_too, dn_error *err)
{
    if (a->dtype == 'f' || (f64_too && a->dtype == 'd')) return DN_OK;
    static const char *const shown[] = {"<f4", "<f8", "|u1"};
    const char *have = shown[a->dtype == 'f' ? 0 : a->dtype == 'd' ? 1 : 2];
    return dn_fail(err, DN_ERR_INPUT, "%s/%s: dtype '%s', but %s (numpy: a.astype(numpy.float32))", dir, name, have,
                   f64_too ? "float64 '<f8' or float32 '<f4' is needed" : "float32 '<f4' is needed");
}

static dn_status check_shape(const char *dir, const char *name, const npy_array *a, size_t rows, size_t cols,
                             const char *why, dn_error *err)
{
    int ndim = cols ? 2 : 1;
    if (a->ndim == ndim && a->shape[0] == rows && (!cols || a->shape[1] == cols)) return DN_OK;
    char have[96], want[64];
    dn_format_shape(have, sizeof have, a->shape, a->ndim);
    if (cols) snprintf(want, sizeof want, "(%zu, %zu)", rows, cols);
    else snprintf(want, sizeof want, "(%zu,)", rows);
    return dn_fail(err, DN_ERR_INPUT, "%s/%s: shape %s, but %s needs %s", dir, name, have, why, want);
}

/* ---------------------------------------------------------------- perceptron */

static dn_model *import_perceptron(const char *dir, dn_error *err)
{
    npy_array w = {0};
    dn_status s = read_array(dir, "W.npy", &w, err);
    if (!s) s = check_dtype(dir, "W.npy", &w, 1, err);
    if (!s) s = check_shape(dir, "W.npy", &w, DN_CLASSES, DN_IMAGE_PIXELS, "a perceptron", err);
    dn_model *model = s ? NULL : dn_model_alloc_(DN_MODEL_PERCEPTRON);
    if (!s && !model) s = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", dir);
    if (s) {
        free(w.data);
        return NULL;
    }
    model->w_last = w.data; /* the model owns it from here */
    model->w = model->w_last;
    model->precision = w.dtype == 'd' ? DN_FLOAT64 : DN_FLOAT32;
    s = dn_model_set_meta_(model, "precision", dn_precision_name(model->precision), err);
    if (!s) s = dn_model_set_meta_(model, "predict_with", "W", err);
    if (!s) s = dn_model_set_meta_(model, "origin", "imported from .npy files", err);
    if (s) {
        dn_model_free(model);
        return NULL;
    }
    return model;
}

/* ---------------------------------------------------------------- mlp */

#define MAX_LAYERS (DN_MLP_MAX_HIDDEN + 1)

typedef struct layer_files {
    int count;
    npy_array w[MAX_LAYERS], b[MAX_LAYERS];
} layer_files;

static void free_layers(layer_files *l)
{
    for (int k = 0; k < MAX_LAYERS; k++) {
        free(l->w[k].data);
        free(l->b[k].data);
    }
}

/* Layer k's two files, chained to the width the layer before gives. */
static dn_status read_layer(const char *dir, int k, size_t inputs, layer_files *l, dn_error *err)
{
    char wname[64], bname[64], why[96];
    snprintf(wname, sizeof wname, "layers.%d.weight.npy", k);
    snprintf(bname, sizeof bname, "layers.%d.bias.npy", k);
    npy_array *w = &l->w[k], *b = &l->b[k];
    dn_status s = read_array(dir, wname, w, err);
    if (!s) s = check_dtype(dir, wname, w, 0, err);
    if (!s && w->ndim != 2) s = dn_fail(err, DN_ERR_INPUT, "%s/%s: %d dimensions, a weight needs 2 (out, in)", dir,
                                         wname, w->ndim);
    if (k == 0) snprintf(why, sizeof why, "the first layer, taking the %zu pixels,", inputs);
    else snprintf(why, sizeof why, "the chain (layers.%d gives %zu outputs)", k - 1, inputs);
    if (!s) s = check_shape(dir, wname, w, w->shape[0], inputs, why, err);
    if (!s && !file_exists(dir, bname))
        s = dn_fail(err, DN_ERR_INPUT, "%s/%s: missing (every layers.K.weight.npy needs its bias)", dir, bname);
    if (!s) s = read_array(dir, bname, b, err);
    if (!s) s = check_dtype(dir, bname, b, 0, err);
    if (!s) s = check_shape(dir, bname, b, w->shape[0], 0, wname, err);
    if (!s) l->count = k + 1;
    return s;
}

static dn_status read_layers(const char *dir, layer_files *l, dn_error *err)
{
    size_t inputs = DN_IMAGE_PIXELS;
    for (int k = 0;; k++) {
        char wname[64];
        snprintf(wname, sizeof wname, "layers.%d.weight.npy", k);
        if (!file_exists(dir, wname)) break;
        if (k == MAX_LAYERS)
            return dn_fail(err, DN_ERR_INPUT, "%s/%s: more than %d layers (at most %d hidden)", dir, wname, MAX_LAYERS,
                           DN_MLP_MAX_HIDDEN);
        dn_status s = read_layer(dir, k, inputs, l, err);
        if (s) return s;
        inputs = l->w[k].shape[0];
    }
    if (inputs != DN_CLASSES)
        return dn_fail(err, DN_ERR_INPUT, "%s/layers.%d.weight.npy: the last layer gives %zu outputs, not the %d "
                       "classes: is layers.%d.weight.npy missing?", dir, l->count - 1, inputs, DN_CLASSES, l->count);
    return DN_OK;
}

/* The network the files describe, its parameters the files' values. */
static dn_mlp *build_mlp(const char *dir, const layer_files *l, int activation, int loss, dn_error *err)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    opt.n_hidden = l->count - 1;
    for (int k = 0; k < opt.n_hidden; k++) opt.hidden[k] = l->w[k].shape[0];
    opt.activation = (dn_activation)activation;
    opt.loss = (dn_loss)loss;
    dn_error why;
    if (dn_mlp_options_check(&opt, &why)) {
        dn_fail(err, DN_ERR_INPUT, "%s: %s", dir, why.message);
        return NULL;
    }
    dn_mlp *mlp = dn_mlp_create(&opt, err);
    if (!mlp) return NULL;
    size_t np, at = 0;
    float *params = dn_mlp_params(mlp, &np);
    for (int k = 0; k < l->count; k++) { /* layout W_0 b_0 W_1 b_1 …; float32 files: exact */
        size_t nw = l->w[k].shape[0] * l->w[k].shape[1], nb = l->b[k].shape[0];
        for (size_t i = 0; i < nw; i++) params[at++] = (float)l->w[k].data[i];
        for (size_t i = 0; i < nb; i++) params[at++] = (float)l->b[k].data[i];
    }
    return mlp;
}

static dn_model *import_mlp(const char *dir, int activation, int loss, int layers, dn_error *err)
{
    layer_files l;
    memset(&l, 0, sizeof l);
    dn_status s = read_layers(dir, &l, err);
    if (!s && layers >= 0 && layers != l.count)
        s = dn_fail(err, DN_ERR_INPUT, "%s/%s says %d layers, but the folder holds layers.0 to layers.%d (files left "
                    "from an earlier export?)", dir, DN_NPY_DESCRIPTION, layers, l.count - 1);
    dn_mlp *mlp = s ? NULL : build_mlp(dir, &l, activation, loss, err);
    free_layers(&l);
    dn_model *model = mlp ? dn_model_from_mlp(mlp, 0, err) : NULL;
    dn_mlp_free(mlp);
    if (model && dn_model_set_meta_(model, "origin", "imported from .npy files", err)) {
        dn_model_free(model);
        return NULL;
    }
    return model;
}

/* ---------------------------------------------------------------- entry */

dn_model *dn_model_import_npy(const char *dir, int activation, int loss, dn_error *err)
{
    if (activation < -1 || activation > DN_ACT_RELU || loss < -1 || loss > DN_LOSS_MSE) {
        dn_fail(err, DN_ERR_USAGE, "import: activation %d or loss %d is not a valid choice", activation, loss);
        return NULL;
    }
    struct stat st;
    int e = stat(dir, &st) != 0 ? errno : 0;
    if (e || !S_ISDIR(st.st_mode)) {
        dn_fail(err, DN_ERR_IO, "%s: not a folder (%s)", dir, e ? strerror(e) : "it is a file");
        return NULL;
    }
    description d;
    int act = 0, lo = 0;
    if (read_description(dir, &d, err) ||
        pick(dir, "activation", activation, d.activation, DN_ACT_RELU, dn_activation_choices(), &act, err) ||
        pick(dir, "loss", loss, d.loss, DN_LOSS_CE, dn_loss_choices(), &lo, err))
        return NULL;
    int has_w = file_exists(dir, "W.npy"), has_layers = file_exists(dir, "layers.0.weight.npy");
    if (has_w && has_layers) {
        dn_fail(err, DN_ERR_INPUT, "%s: holds both W.npy (a perceptron) and layers.0.weight.npy (an MLP): which?", dir);
        return NULL;
    }
    if (!has_w && !has_layers) {
        dn_fail(err, DN_ERR_INPUT, "%s: no W.npy (a perceptron) and no layers.0.weight.npy (an MLP)", dir);
        return NULL;
    }
    int kind = has_w ? DN_MODEL_PERCEPTRON : DN_MODEL_MLP;
    if (d.kind >= 0 && d.kind != kind) {
        dn_fail(err, DN_ERR_INPUT, "%s/%s says kind %s, but the folder holds %s", dir, DN_NPY_DESCRIPTION,
                d.kind == DN_MODEL_MLP ? "mlp" : "perceptron", has_w ? "W.npy" : "layers.0.weight.npy");
        return NULL;
    }
    return kind == DN_MODEL_PERCEPTRON ? import_perceptron(dir, err) : import_mlp(dir, act, lo, d.layers, err);
}
