/*
 * mlp.c — the multi-layer network (see digitnet.h for the math): options,
 * the one-buffer parameter layout, initialisation, inference, and the
 * accessors that put every layer in the caller's reach. Training lives in
 * mlp_train.c, the kernels in mlp_layers.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mlp_internal.h"

#define FORWARD_CHUNK 256 /* rows per inference pass: big enough for sgemm, small enough for cache */

/* ---------------------------------------------------------------- names */

/* NULL-terminated so that the CLI can offer them as choices; index = enum
 * value. Softmax is not among the choices: only the output layer of a
 * cross-entropy network has it. */
static const char *const activation_names[] = {"sigmoid", "tanh", "relu", NULL};
static const char *const loss_names[] = {"ce", "mse", NULL};
static const char *const init_names[] = {"he", "xavier", NULL};
static const char *const optimizer_names[] = {"sgd", "adam", NULL};
static const char *const schedule_names[] = {"none", "step", "cosine", NULL};
static const char *const matmul_names[] = {"blas", "plain", NULL};

#define NAMES_IN(table) (sizeof table / sizeof *table - 1) /* without the NULL */
#define NAME_OF(table, v) ((int)(v) >= 0 && (size_t)(v) < NAMES_IN(table) ? table[v] : "?")

const char *dn_activation_name(dn_activation a)
{
    return a == DN_ACT_SOFTMAX ? "softmax" : NAME_OF(activation_names, a);
}
const char *dn_loss_name(dn_loss loss) { return NAME_OF(loss_names, loss); }
const char *dn_init_name(dn_init init) { return NAME_OF(init_names, init); }
const char *dn_optimizer_name(dn_optimizer o) { return NAME_OF(optimizer_names, o); }
const char *dn_schedule_name(dn_schedule s) { return NAME_OF(schedule_names, s); }
const char *dn_matmul_name(dn_matmul m) { return NAME_OF(matmul_names, m); }

const char *const *dn_activation_choices(void) { return activation_names; }
const char *const *dn_loss_choices(void) { return loss_names; }
const char *const *dn_init_choices(void) { return init_names; }
const char *const *dn_optimizer_choices(void) { return optimizer_names; }
const char *const *dn_schedule_choices(void) { return schedule_names; }
const char *const *dn_matmul_choices(void) { return matmul_names; }

static int index_of(const char *const *table, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(table[i], s) == 0) return (int)i;
    return -1;
}

#define INDEX_IN(table, s) index_of(table, NAMES_IN(table), s)

/* Only the three hidden activations can be asked for by name. */
int dn_activation_from_name_(const char *s) { return INDEX_IN(activation_names, s); }
int dn_loss_from_name_(const char *s) { return INDEX_IN(loss_names, s); }
int dn_init_from_name_(const char *s) { return INDEX_IN(init_names, s); }
int dn_optimizer_from_name_(const char *s) { return INDEX_IN(optimizer_names, s); }
int dn_schedule_from_name_(const char *s) { return INDEX_IN(schedule_names, s); }

/* ---------------------------------------------------------------- options */

void dn_mlp_hidden_text_(const dn_mlp_options *opt, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < opt->n_hidden && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, i ? ",%zu" : "%zu", opt->hidden[i]);
}

void dn_mlp_options_default(dn_mlp_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->n_hidden = 2;
    opt->hidden[0] = 300;
    opt->hidden[1] = 100;
    opt->activation = DN_ACT_RELU;
    opt->loss = DN_LOSS_CE;
    opt->init = DN_INIT_HE;
    opt->seed = 1;
    opt->epochs = 10;
    opt->batch = 64;
    opt->lr = 0.1;
    opt->optimizer = DN_OPTIMIZER_SGD;
    opt->momentum = 0.9;
    opt->nesterov = 0;
    opt->weight_decay = 0.0;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->adam_eps = 1e-8;
    opt->schedule = DN_SCHEDULE_COSINE;
    opt->step_epochs = 5;
    opt->step_gamma = 0.1;
    opt->threads = 1;
    opt->matmul = DN_MATMUL_BLAS;
}

static int in_range(double v, double lo, double hi) { return v >= lo && v <= hi; } /* false for NaN */

/* n_0 … n_L and the parameter count, overflow-checked. */
static dn_status count_params(const dn_mlp_options *opt, size_t width[DN_MLP_MAX_LAYERS + 1], size_t *nparams,
                              dn_error *err)
{
    int L = opt->n_hidden + 1;
    width[0] = DN_IMAGE_PIXELS;
    for (int k = 1; k < L; k++) width[k] = opt->hidden[k - 1];
    width[L] = DN_CLASSES;
    size_t total = 0;
    for (int k = 0; k < L; k++) {
        size_t w;
        if (dn_mul_overflows(width[k], width[k + 1], &w) || dn_add_overflows(total, w, &total) ||
            dn_add_overflows(total, width[k + 1], &total) || total > DN_MLP_MAX_PARAMS)
            return dn_fail(err, DN_ERR_USAGE, "the network has more than %u parameters: use smaller hidden layers",
                           DN_MLP_MAX_PARAMS);
    }
    *nparams = total;
    return DN_OK;
}

static dn_status check_network(const dn_mlp_options *opt, dn_error *err)
{
    if (opt->n_hidden < 0 || opt->n_hidden > DN_MLP_MAX_HIDDEN)
        return dn_fail(err, DN_ERR_USAGE, "hidden layers must number 0 to %d (got %d)", DN_MLP_MAX_HIDDEN,
                       opt->n_hidden);
    for (int i = 0; i < opt->n_hidden; i++)
        if (opt->hidden[i] < 1 || opt->hidden[i] > DN_MLP_MAX_WIDTH)
            return dn_fail(err, DN_ERR_USAGE, "hidden layer %d size must be 1 to %d (got %zu)", i + 1,
                           DN_MLP_MAX_WIDTH, opt->hidden[i]);
    if (opt->activation != DN_ACT_SIGMOID && opt->activation != DN_ACT_TANH && opt->activation != DN_ACT_RELU)
        return dn_fail(err, DN_ERR_USAGE, "hidden activation must be sigmoid, tanh or relu");
    if (opt->loss != DN_LOSS_CE && opt->loss != DN_LOSS_MSE)
        return dn_fail(err, DN_ERR_USAGE, "loss must be ce or mse");
    if (opt->init != DN_INIT_HE && opt->init != DN_INIT_XAVIER)
        return dn_fail(err, DN_ERR_USAGE, "init must be he or xavier");
    size_t width[DN_MLP_MAX_LAYERS + 1], nparams;
    return count_params(opt, width, &nparams, err);
}

static dn_status check_optimizer(const dn_mlp_options *opt, dn_error *err)
{
    if (!(opt->lr > 0 && opt->lr <= 1e6))
        return dn_fail(err, DN_ERR_USAGE, "learning rate must be above 0 and at most 1e6 (got %g)", opt->lr);
    if (opt->optimizer != DN_OPTIMIZER_SGD && opt->optimizer != DN_OPTIMIZER_ADAM)
        return dn_fail(err, DN_ERR_USAGE, "optimizer must be sgd or adam");
    if (!(opt->momentum >= 0 && opt->momentum < 1))
        return dn_fail(err, DN_ERR_USAGE, "momentum must be in [0, 1) (got %g)", opt->momentum);
    if (opt->nesterov && !(opt->momentum > 0))
        return dn_fail(err, DN_ERR_USAGE, "Nesterov momentum needs momentum > 0");
    if (!in_range(opt->weight_decay, 0, 1))
        return dn_fail(err, DN_ERR_USAGE, "weight decay must be in [0, 1] (got %g)", opt->weight_decay);
    if (!(opt->beta1 >= 0 && opt->beta1 < 1) || !(opt->beta2 >= 0 && opt->beta2 < 1))
        return dn_fail(err, DN_ERR_USAGE, "Adam betas must be in [0, 1) (got %g, %g)", opt->beta1, opt->beta2);
    if (!(opt->adam_eps > 0 && opt->adam_eps <= 1))
        return dn_fail(err, DN_ERR_USAGE, "Adam epsilon must be above 0 and at most 1 (got %g)", opt->adam_eps);
    if (opt->schedule != DN_SCHEDULE_NONE && opt->schedule != DN_SCHEDULE_STEP && opt->schedule != DN_SCHEDULE_COSINE)
        return dn_fail(err, DN_ERR_USAGE, "schedule must be none, step or cosine");
    if (opt->step_epochs < 1)
        return dn_fail(err, DN_ERR_USAGE, "step schedule period must be at least 1 epoch (got %d)", opt->step_epochs);
    if (!(opt->step_gamma > 0 && opt->step_gamma <= 1))
        return dn_fail(err, DN_ERR_USAGE, "step schedule factor must be in (0, 1] (got %g)", opt->step_gamma);
    return DN_OK;
}

static dn_status check_regularisation(const dn_mlp_options *opt, dn_error *err)
{
    if (!(opt->dropout_input >= 0 && opt->dropout_input < 1) || !(opt->dropout_hidden >= 0 && opt->dropout_hidden < 1))
        return dn_fail(err, DN_ERR_USAGE, "dropout rates must be in [0, 1) (got input %g, hidden %g)",
                       opt->dropout_input, opt->dropout_hidden);
    if (!(opt->max_norm >= 0 && opt->max_norm <= 1e6))
        return dn_fail(err, DN_ERR_USAGE, "max-norm C must be in [0, 1e6], 0 meaning off (got %g)", opt->max_norm);
    if (!(opt->label_smoothing >= 0 && opt->label_smoothing < 1))
        return dn_fail(err, DN_ERR_USAGE, "label smoothing must be in [0, 1) (got %g)", opt->label_smoothing);
    if (opt->label_smoothing > 0 && opt->loss != DN_LOSS_CE)
        return dn_fail(err, DN_ERR_USAGE, "label smoothing applies to the cross-entropy loss (ce), not %s",
                       dn_loss_name(opt->loss));
    if (!(opt->ema >= 0 && opt->ema < 1))
        return dn_fail(err, DN_ERR_USAGE, "EMA decay must be in [0, 1), 0 meaning off (got %g)", opt->ema);
    if (opt->keep_best != 0 && opt->keep_best != 1)
        return dn_fail(err, DN_ERR_USAGE, "keep_best must be 0 or 1 (got %d)", opt->keep_best);
    if (opt->patience < 0 || opt->patience > 1000000)
        return dn_fail(err, DN_ERR_USAGE, "patience must be 0 to 1000000 epochs, 0 meaning never (got %d)",
                       opt->patience);
    return DN_OK;
}

dn_status dn_mlp_options_check(const dn_mlp_options *opt, dn_error *err)
{
    dn_status s = check_network(opt, err);
    if (s) return s;
    if (opt->epochs < 1 || opt->epochs > 1000000)
        return dn_fail(err, DN_ERR_USAGE, "epochs must be 1 to 1000000 (got %d)", opt->epochs);
    if (opt->batch > DN_MLP_BATCH_MAX)
        return dn_fail(err, DN_ERR_USAGE, "batch size must be 1 to %d, or 0 for the full batch (got %zu)",
                       DN_MLP_BATCH_MAX, opt->batch);
    if ((s = check_optimizer(opt, err)) || (s = check_regularisation(opt, err)) ||
        (s = dn_augment_check(&opt->augment, err)))
        return s;
    if (opt->threads < 0 || opt->threads > 1024)
        return dn_fail(err, DN_ERR_USAGE, "threads must be in [0, 1024], 0 meaning all cores (got %d)", opt->threads);
    if (opt->matmul != DN_MATMUL_BLAS && opt->matmul != DN_MATMUL_PLAIN)
        return dn_fail(err, DN_ERR_USAGE, "matmul must be blas or plain");
    return DN_OK;
}

dn_status dn_mlp_parse_hidden(const char *text, dn_mlp_options *opt, dn_error *err)
{
    size_t sizes[DN_MLP_MAX_HIDDEN];
    int n = 0;
    for (const char *p = text; *p;) {
        if (n == DN_MLP_MAX_HIDDEN)
            return dn_fail(err, DN_ERR_USAGE, "hidden sizes '%s': at most %d layers", text, DN_MLP_MAX_HIDDEN);
        size_t v = 0;
        const char *start = p;
        while (*p >= '0' && *p <= '9' && v <= DN_MLP_MAX_WIDTH) v = v * 10 + (size_t)(*p++ - '0');
        if (p == start || (*p && *p != ',') || (*p == ',' && !p[1]))
            return dn_fail(err, DN_ERR_USAGE, "hidden sizes '%s': expected whole numbers separated by commas, "
                           "like 300,100 (\"\" for no hidden layer)", text);
        if (v < 1 || v > DN_MLP_MAX_WIDTH)
            return dn_fail(err, DN_ERR_USAGE, "hidden sizes '%s': each must be 1 to %d", text, DN_MLP_MAX_WIDTH);
        sizes[n++] = v;
        if (*p == ',') p++;
    }
    opt->n_hidden = n;
    for (int i = 0; i < n; i++) opt->hidden[i] = sizes[i];
    return DN_OK;
}

double dn_mlp_scheduled_lr(const dn_mlp_options *opt, double epoch)
{
    switch (opt->schedule) {
    case DN_SCHEDULE_STEP: return opt->lr * pow(opt->step_gamma, floor(epoch / opt->step_epochs));
    case DN_SCHEDULE_COSINE: {
        double t = epoch / opt->epochs;
        if (t > 1) t = 1; /* training past E keeps the final rate, 0 */
        return opt->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * t));
    }
    default: return opt->lr;
    }
}

/* ---------------------------------------------------------------- network */

/* 64-byte aligned so sgemm's first rows start on a cache line. */
float *dn_mlp_alloc_floats_(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}

/* Named views into a parameter-shaped buffer: W_0 b_0 W_1 b_1 … */
void dn_mlp_point_views_(const dn_mlp *mlp, float *base, dn_dense_view *views)
{
    size_t at = 0;
    for (int k = 0; k < mlp->nlayers; k++) {
        views[k].weight = base + at;
        at += mlp->width[k + 1] * mlp->width[k];
        views[k].bias = base + at;
        at += mlp->width[k + 1];
    }
}

/* The struct, its widths and its two parameter-shaped buffers; weights unset. */
dn_mlp *dn_mlp_alloc_(const dn_mlp_options *opt, dn_error *err)
{
    dn_mlp *mlp = calloc(1, sizeof *mlp);
    if (!mlp) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for the network");
        return NULL;
    }
    mlp->opt = *opt;
    mlp->nlayers = opt->n_hidden + 1;
    if (count_params(opt, mlp->width, &mlp->nparams, err)) {
        free(mlp);
        return NULL;
    }
    mlp->params = dn_mlp_alloc_floats_(mlp->nparams);
    mlp->grads = dn_mlp_alloc_floats_(mlp->nparams);
    if (!mlp->params || !mlp->grads) {
        dn_fail(err, DN_ERR_NOMEM, "out of memory for %zu parameters", mlp->nparams);
        dn_mlp_free(mlp);
        return NULL;
    }
    memset(mlp->grads, 0, mlp->nparams * sizeof(float));
    dn_mlp_point_views_(mlp, mlp->params, mlp->layer);
    dn_mlp_point_views_(mlp, mlp->grads, mlp->dlayer);
    return mlp;
}

/* He (normal, fan-in) or Xavier (uniform, fan-in + fan-out), layer by layer,
 * row by row, from one generator seeded with opt.seed; biases 0. */
static void init_weights(dn_mlp *mlp)
{
    dn_rng rng;
    dn_rng_seed(&rng, mlp->opt.seed);
    for (int k = 0; k < mlp->nlayers; k++) {
        size_t in = mlp->width[k], out = mlp->width[k + 1];
        float *w = mlp->layer[k].weight;
        if (mlp->opt.init == DN_INIT_HE) {
            double sd = sqrt(2.0 / (double)in);
            for (size_t i = 0; i < out * in; i++) w[i] = (float)(sd * dn_rng_normal(&rng));
        } else {
            double limit = sqrt(6.0 / (double)(in + out));
            for (size_t i = 0; i < out * in; i++) w[i] = (float)(limit * (2.0 * dn_rng_uniform(&rng) - 1.0));
        }
        memset(mlp->layer[k].bias, 0, out * sizeof(float));
    }
}

dn_mlp *dn_mlp_create(const dn_mlp_options *opt, dn_error *err)
{
    if (dn_mlp_options_check(opt, err)) return NULL;
    dn_mlp *mlp = dn_mlp_alloc_(opt, err);
    if (mlp) init_weights(mlp);
    return mlp;
}

dn_mlp *dn_mlp_clone_(const dn_mlp *src, dn_error *err)
{
    dn_mlp *mlp = dn_mlp_alloc_(&src->opt, err);
    if (!mlp) return NULL;
    memcpy(mlp->params, dn_mlp_eval_params(src), src->nparams * sizeof(float)); /* EMA's, when on */
    mlp->epochs_done = src->epochs_done;
    mlp->train_size = src->train_size;
    return mlp;
}

void dn_mlp_free(dn_mlp *mlp)
{
    if (!mlp) return;
    dn_augment_pipeline_free(mlp->augment_pipe);
    free(mlp->augment_images);
    free(mlp->augment_labels);
    free(mlp->params);
    free(mlp->grads);
    free(mlp->moment1);
    free(mlp->moment2);
    free(mlp->server_m);
    free(mlp->server_v);
    free(mlp->fed_models);
    free(mlp->client_flags);
    for (int i = 0; i < mlp->client_workers_n; i++) dn_mlp_free(mlp->client_workers[i]);
    free(mlp->client_workers);
    for (int i = 0; i < mlp->replica_n; i++) dn_mlp_free(mlp->replica[i]);
    free(mlp->replica);
    free(mlp->partials);
    free(mlp->scored_ids);
    free(mlp->scores);
    free(mlp->score_flags);
    free(mlp->ws.block);
    free(mlp->order);
    free(mlp->w0_used);
    free(mlp->dw0_used);
    free(mlp->w0t);
    free(mlp->w1t);
    dn_input_t_free_(&mlp->input_t);
    free(mlp->drop_mask);
    free(mlp->ema);
    free(mlp->best);
    free(mlp);
}

const dn_mlp_options *dn_mlp_get_options(const dn_mlp *mlp) { return &mlp->opt; }
void dn_mlp_set_matmul(dn_mlp *mlp, dn_matmul matmul) { mlp->opt.matmul = matmul; }
void dn_mlp_set_threads(dn_mlp *mlp, int threads) { mlp->opt.threads = threads < 0 ? 0 : threads; }
int dn_mlp_epochs_done(const dn_mlp *mlp) { return mlp->epochs_done; }
size_t dn_mlp_train_size(const dn_mlp *mlp) { return mlp->train_size; }

/* ---------------------------------------------------------------- layers */

static int valid_layer(const dn_mlp *mlp, int k) { return k >= 0 && k < mlp->nlayers; }

int dn_mlp_layer_count(const dn_mlp *mlp) { return mlp->nlayers; }
size_t dn_mlp_layer_inputs(const dn_mlp *mlp, int k) { return valid_layer(mlp, k) ? mlp->width[k] : 0; }
size_t dn_mlp_layer_outputs(const dn_mlp *mlp, int k) { return valid_layer(mlp, k) ? mlp->width[k + 1] : 0; }

dn_activation dn_mlp_layer_activation(const dn_mlp *mlp, int k)
{
    if (k < mlp->nlayers - 1) return mlp->opt.activation;
    return mlp->opt.loss == DN_LOSS_CE ? DN_ACT_SOFTMAX : DN_ACT_SIGMOID;
}

dn_act dn_mlp_act_(const dn_mlp *mlp, int k)
{
    switch (dn_mlp_layer_activation(mlp, k)) {
    case DN_ACT_SIGMOID: return DN_ACT_FN_SIGMOID;
    case DN_ACT_TANH: return DN_ACT_FN_TANH;
    case DN_ACT_RELU: return DN_ACT_FN_RELU;
    default: return DN_ACT_FN_IDENTITY; /* softmax: fused with the loss or applied after */
    }
}

const float *dn_mlp_weights(const dn_mlp *mlp, int k) { return valid_layer(mlp, k) ? mlp->layer[k].weight : NULL; }
const float *dn_mlp_bias(const dn_mlp *mlp, int k) { return valid_layer(mlp, k) ? mlp->layer[k].bias : NULL; }

float *dn_mlp_params(dn_mlp *mlp, size_t *count)
{
    if (count) *count = mlp->nparams;
    return mlp->params;
}

const float *dn_mlp_eval_params(const dn_mlp *mlp) { return mlp->ema_live ? mlp->ema : mlp->params; }

float *dn_mlp_grads(dn_mlp *mlp, size_t *count)
{
    if (count) *count = mlp->nparams;
    return mlp->grads;
}

/* ---------------------------------------------------------------- workspace */

static size_t widest_output(const dn_mlp *mlp)
{
    size_t widest = 0;
    for (int k = 1; k <= mlp->nlayers; k++)
        if (mlp->width[k] > widest) widest = mlp->width[k];
    return widest;
}

/* One block: act[0] … act[L], two delta buffers, (with spare) the spare
 * x, then the labels (and the spare labels). */
dn_status dn_mlp_workspace_alloc_(const dn_mlp *mlp, size_t rows, int spare, dn_mlp_workspace *ws, dn_error *err)
{
    size_t floats = 0, widest = widest_output(mlp), n;
    for (int k = 0; k <= mlp->nlayers; k++) {
        if (dn_mul_overflows(rows, mlp->width[k], &n) || dn_add_overflows(floats, n, &floats)) goto too_big;
    }
    if (spare && (dn_mul_overflows(rows, mlp->width[0], &n) || dn_add_overflows(floats, n, &floats))) goto too_big;
    if (dn_mul_overflows(rows, widest, &n) || dn_add_overflows(floats, 2 * n, &floats)) goto too_big;
    if (dn_add_overflows(floats, 2 * (rows / sizeof(float) + 1), &floats) || floats > SIZE_MAX / sizeof(float))
        goto too_big;
    memset(ws, 0, sizeof *ws);
    if (!(ws->block = dn_mlp_alloc_floats_(floats)))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for a batch of %zu samples", rows);
    ws->rows = rows;
    float *at = ws->block;
    for (int k = 0; k <= mlp->nlayers; k++) {
        ws->act[k] = at;
        at += rows * mlp->width[k];
    }
    ws->delta[0] = at;
    ws->delta[1] = at + rows * widest;
    at += 2 * rows * widest;
    if (spare) {
        ws->x_spare = at;
        at += rows * mlp->width[0];
    }
    ws->labels = (uint8_t *)at;
    if (spare) ws->labels_spare = ws->labels + rows;
    return DN_OK;
too_big:
    return dn_fail(err, DN_ERR_NOMEM, "a batch of %zu samples does not fit in memory", rows);
}

dn_status dn_mlp_workspace_reserve_(dn_mlp *mlp, size_t rows, dn_error *err)
{
    if (mlp->ws.block && mlp->ws.rows >= rows) return DN_OK;
    free(mlp->ws.block);
    mlp->ws.block = NULL;
    mlp->next_ready = 0;
    return dn_mlp_workspace_alloc_(mlp, rows, 1, &mlp->ws, err);
}

/* ---------------------------------------------------------------- forward */

/* Layers 0 … upto on the B rows of ws->act[0]. The last layer of a CE
 * network leaves its logits: the softmax is the loss's (or the caller's).
 * Fewer than DN_MLP_SMALL_FORWARD rows (one image: a server's, `predict`'s)
 * run on the small-batch dot products instead of BLAS, which would copy
 * every weight matrix into its packed layout for one row, and which keeps
 * a process-wide thread pool that concurrent callers would contend for. */
static void forward_upto(const dn_mlp *mlp, const dn_mlp_workspace *ws, size_t B, int upto)
{
    int small = B < DN_MLP_SMALL_FORWARD && mlp->opt.matmul != DN_MATMUL_PLAIN;
    dn_dense_view layer[DN_MLP_MAX_LAYERS]; /* the evaluation weights: EMA's when on */
    dn_mlp_point_views_(mlp, (float *)dn_mlp_eval_params(mlp), layer);
    for (int k = 0; k <= upto; k++) {
        if (small)
            dn_small_dense_forward(ws->act[k + 1], ws->act[k], layer[k].weight, layer[k].bias, B, mlp->width[k],
                                   mlp->width[k + 1], dn_mlp_act_(mlp, k));
        else
            dn_dense_forward(ws->act[k + 1], ws->act[k], layer[k].weight, layer[k].bias, B, mlp->width[k],
                             mlp->width[k + 1], dn_mlp_act_(mlp, k), mlp->opt.matmul);
    }
}

/* What to do with each chunk's output, a_{upto+1} in ws->act[upto + 1]. */
typedef void (*chunk_fn)(const dn_mlp *mlp, const dn_mlp_workspace *ws, size_t first, size_t B, void *user);

#define MAX_FORWARD_THREADS 64

/* The threads a pass over nchunks chunks runs on: opt.threads (0: all
 * cores), at most one a chunk. */
static int forward_threads(const dn_mlp *mlp, size_t nchunks)
{
#ifdef _OPENMP
    int T = mlp->opt.threads > 0 ? mlp->opt.threads : omp_get_num_procs();
    if (T > MAX_FORWARD_THREADS) T = MAX_FORWARD_THREADS;
    return (size_t)T > nchunks ? (int)nchunks : T;
#else
    (void)mlp, (void)nchunks;
    return 1;
#endif
}

/* Runs count images through layers 0 … upto in chunks of FORWARD_CHUNK
 * rows, each thread with a workspace of its own (so a const network can be
 * used from several threads). fn gets each chunk once, from whichever
 * thread ran it: it writes the chunk's own part of its output. Thread t of
 * T takes chunks t, t + T, … with OpenBLAS on one thread, so a chunk's
 * bits do not depend on T — rather than OpenBLAS's own threads, whose
 * worker spins ~90 ms after each call and, after the per-epoch evaluation,
 * took a core from the training threads (measured: 4 % of a two-thread
 * epoch, with OPENBLAS_THREAD_TIMEOUT=4 as the stand-in). */
static dn_status run_chunks(const dn_mlp *mlp, const uint8_t *images, size_t count, int upto, chunk_fn fn,
                            void *user, dn_error *err)
{
    const size_t rows = count < FORWARD_CHUNK ? (count ? count : 1) : FORWARD_CHUNK;
    const size_t nchunks = (count + rows - 1) / rows;
    const int T = count < DN_MLP_SMALL_FORWARD ? 1 : forward_threads(mlp, nchunks);
    dn_mlp_workspace ws[MAX_FORWARD_THREADS];
    for (int t = 0; t < T; t++) {
        dn_status s = dn_mlp_workspace_alloc_(mlp, rows, 0, &ws[t], err);
        if (s) {
            while (t-- > 0) free(ws[t].block);
            return s;
        }
    }
    int restore = count < DN_MLP_SMALL_FORWARD ? -1 : dn_blas_threads_set_(T > 1 ? 1 : mlp->opt.threads);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        size_t t = 0, step = 1; /* inside an enclosing parallel region this may be one thread */
#ifdef _OPENMP
        t = (size_t)omp_get_thread_num(), step = (size_t)omp_get_num_threads();
#endif
        for (size_t c = t; c < nchunks; c += step) {
            const size_t first = c * rows, B = count - first < rows ? count - first : rows;
            dn_images_to_floats(ws[t].act[0], images, NULL, first, B);
            forward_upto(mlp, &ws[t], B, upto);
            fn(mlp, &ws[t], first, B, user);
        }
    }
    if (restore > 0) dn_blas_threads_set_(restore);
    for (int t = 0; t < T; t++) free(ws[t].block);
    return DN_OK;
}

/* The output layer's values as the user sees them: softmax probabilities
 * (CE; computed here from the logits) or sigmoid values (MSE; already). */
static float *finish_output(const dn_mlp *mlp, const dn_mlp_workspace *ws, size_t B)
{
    float *out = ws->act[mlp->nlayers];
    if (mlp->opt.loss == DN_LOSS_CE) dn_softmax_ce(out, NULL, NULL, B, DN_CLASSES, NULL);
    return out;
}

typedef struct forward_job {
    float *out;
    int k;
} forward_job;

static void copy_activations(const dn_mlp *mlp, const dn_mlp_workspace *ws, size_t first, size_t B, void *user)
{
    forward_job *job = user;
    size_t width = mlp->width[job->k + 1];
    const float *a = job->k == mlp->nlayers - 1 ? finish_output(mlp, ws, B) : ws->act[job->k + 1];
    memcpy(job->out + first * width, a, B * width * sizeof(float));
}

dn_status dn_mlp_forward(const dn_mlp *mlp, const uint8_t *images, size_t count, int k, float *out, dn_error *err)
{
    if (!valid_layer(mlp, k))
        return dn_fail(err, DN_ERR_USAGE, "layer %d does not exist (valid: 0 to %d)", k, mlp->nlayers - 1);
    forward_job job = {out, k};
    return run_chunks(mlp, images, count, k, copy_activations, &job, err);
}

static void copy_all_layers(const dn_mlp *mlp, const dn_mlp_workspace *ws, size_t first, size_t B, void *user)
{
    float *const *out = user;
    for (int k = 0; k < mlp->nlayers; k++) {
        if (!out[k]) continue;
        size_t width = mlp->width[k + 1];
        const float *a = k == mlp->nlayers - 1 ? finish_output(mlp, ws, B) : ws->act[k + 1];
        memcpy(out[k] + first * width, a, B * width * sizeof(float));
    }
}

dn_status dn_mlp_forward_layers(const dn_mlp *mlp, const uint8_t *images, size_t count, float *const *out,
                                dn_error *err)
{
    return run_chunks(mlp, images, count, mlp->nlayers - 1, copy_all_layers, (void *)out, err);
}

typedef struct classify_job {
    uint8_t *predicted;
    float *scores;
} classify_job;

static void store_classes(const dn_mlp *mlp, const dn_mlp_workspace *ws, size_t first, size_t B, void *user)
{
    classify_job *job = user;
    const float *out = finish_output(mlp, ws, B);
    for (size_t b = 0; b < B; b++) {
        const float *row = out + b * DN_CLASSES;
        int best = 0;
        double sum = 0;
        for (int j = 0; j < DN_CLASSES; j++) {
            if (row[j] > row[best]) best = j;
            sum += row[j];
        }
        job->predicted[first + b] = (uint8_t)best;
        if (!job->scores) continue;
        /* Sigmoid outputs need not sum to 1: scale them so they do. */
        double scale = mlp->opt.loss == DN_LOSS_MSE && sum > 0 ? 1.0 / sum : 1.0;
        for (int j = 0; j < DN_CLASSES; j++) job->scores[(first + b) * DN_CLASSES + j] = (float)(row[j] * scale);
    }
}

dn_status dn_mlp_classify(const dn_mlp *mlp, const uint8_t *images, size_t count, uint8_t *predicted, float *scores,
                          dn_error *err)
{
    classify_job job = {predicted, scores};
    return run_chunks(mlp, images, count, mlp->nlayers - 1, store_classes, &job, err);
}

/* Each chunk's loss sum and correct count, in its own slot (chunks may
 * run on several threads), summed in chunk order afterwards: the same sum
 * whatever the threads. */
typedef struct eval_job {
    const uint8_t *labels;
    double *loss;    /* (chunks) */
    size_t *correct; /* (chunks) */
} eval_job;

static void score_chunk(const dn_mlp *mlp, const dn_mlp_workspace *ws, size_t first, size_t B, void *user)
{
    eval_job *job = user;
    const size_t c = first / ws->rows; /* every chunk but the last is ws->rows long */
    float *out = ws->act[mlp->nlayers];
    if (mlp->opt.loss == DN_LOSS_CE)
        job->loss[c] = dn_softmax_ce(out, NULL, job->labels + first, B, DN_CLASSES, &job->correct[c]);
    else
        job->loss[c] = dn_sigmoid_mse(out, NULL, job->labels + first, B, DN_CLASSES, &job->correct[c]);
}

dn_status dn_mlp_evaluate(const dn_mlp *mlp, const dn_dataset *set, dn_mlp_eval *out, dn_error *err)
{
    const size_t chunks = set->count / FORWARD_CHUNK + 1;
    eval_job job = {set->labels, calloc(chunks, sizeof(double)), calloc(chunks, sizeof(size_t))};
    dn_status s = job.loss && job.correct ? DN_OK : dn_fail(err, DN_ERR_NOMEM, "out of memory for an evaluation");
    if (!s) s = run_chunks(mlp, set->images, set->count, mlp->nlayers - 1, score_chunk, &job, err);
    double loss_sum = 0;
    size_t correct = 0;
    for (size_t c = 0; !s && c < chunks; c++) loss_sum += job.loss[c], correct += job.correct[c];
    free(job.loss);
    free(job.correct);
    if (s) return s;
    out->count = set->count;
    out->correct = correct;
    out->loss = set->count ? loss_sum / (double)set->count : 0.0;
    out->accuracy = set->count ? (double)correct / (double)set->count : 0.0;
    return DN_OK;
}

/* ---------------------------------------------------------------- statistics */

/* v[i] of a float or double array. */
static double value_at(const void *v, int is_double, size_t i)
{
    return is_double ? ((const double *)v)[i] : (double)((const float *)v)[i];
}

static dn_stats stats_of(const void *v, int is_double, size_t n)
{
    dn_stats st = {0, 0, 0, 0};
    if (n == 0) return st;
    double sum = 0;
    st.min = st.max = value_at(v, is_double, 0);
    for (size_t i = 0; i < n; i++) {
        double x = value_at(v, is_double, i);
        sum += x;
        st.min = x < st.min ? x : st.min;
        st.max = x > st.max ? x : st.max;
    }
    st.mean = sum / (double)n;
    double sq = 0; /* a second pass: no cancellation, as Σx² − n·mean² would have */
    for (size_t i = 0; i < n; i++) sq += (value_at(v, is_double, i) - st.mean) * (value_at(v, is_double, i) - st.mean);
    st.std = sqrt(sq / (double)n);
    return st;
}

dn_stats dn_stats_f32(const float *v, size_t n) { return stats_of(v, 0, n); }
dn_stats dn_stats_f64(const double *v, size_t n) { return stats_of(v, 1, n); }
