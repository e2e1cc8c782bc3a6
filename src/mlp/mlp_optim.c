/*
 * mlp_optim.c — the optimisers (formulas in digitnet.h): one step over the
 * flat parameter buffer, or over a slice of it, so that threads can share
 * a step. Weights decay, biases do not, so a slice is walked layer by layer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlp_internal.h"

/* SGD over one segment of the flat buffers; v is NULL without momentum.
 *   g ← g + λθ;  v ← μ v + g;  θ ← θ − η v   (Nesterov: θ ← θ − η (g + μ v))
 * One loop per case, so each vectorises without a branch inside. */
static void sgd_segment(float *p, const float *g, float *v, size_t n, const dn_mlp_step *st, float wd)
{
    const float lr = st->lr, mu = st->momentum;
    if (!v) {
        for (size_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (!st->nesterov) {
        for (size_t i = 0; i < n; i++) {
            v[i] = mu * v[i] + (g[i] + wd * p[i]);
            p[i] -= lr * v[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float step = g[i] + wd * p[i];
            v[i] = mu * v[i] + step;
            p[i] -= lr * (step + mu * v[i]);
        }
    }
}

/* m ← β1 m + (1−β1) g;  s ← β2 s + (1−β2) g²;  θ ← θ − η (m/c1) / (√(s/c2) + ε) */
static void adam_segment(float *p, const float *g, float *m, float *s, size_t n, const dn_mlp_step *st, float wd)
{
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = st->beta1 * m[i] + (1.0f - st->beta1) * gi;
        s[i] = st->beta2 * s[i] + (1.0f - st->beta2) * gi * gi;
        p[i] -= st->lr * (m[i] * st->inv_c1) / (sqrtf(s[i] * st->inv_c2) + st->eps);
    }
}

/* g ← g + μ (θ − anchor): the FedProx term (McMahan's FedAvg local
 * objective plus μ/2 ‖θ − θ_global‖², Li et al., MLSys 2020). One pass over
 * a slice the step reads next, so it is still in cache; absent when μ = 0. */
static void add_proximal(float *g, const float *p, const float *anchor, size_t n, float mu)
{
    for (size_t i = 0; i < n; i++) g[i] += mu * (p[i] - anchor[i]);
}

/* The optimiser's buffers, zeroed, on the first step that needs them. */
static dn_status ensure_moments(dn_mlp *mlp, dn_error *err)
{
    int adam = mlp->opt.optimizer == DN_OPTIMIZER_ADAM;
    int need1 = adam || mlp->opt.momentum > 0, need2 = adam;
    if (need1 && !mlp->moment1 && !(mlp->moment1 = calloc(mlp->nparams, sizeof(float))))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the optimiser state");
    if (need2 && !mlp->moment2 && !(mlp->moment2 = calloc(mlp->nparams, sizeof(float))))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the optimiser state");
    return DN_OK;
}

/* The EMA shadow starts as the parameters the first step starts from. */
static dn_status ensure_ema(dn_mlp *mlp, dn_error *err)
{
    if (!(mlp->opt.ema > 0) || mlp->ema_live) return DN_OK;
    if (!mlp->ema && !(mlp->ema = dn_mlp_alloc_floats_(mlp->nparams)))
        return dn_fail(err, DN_ERR_NOMEM, "out of memory for the EMA of the weights");
    memcpy(mlp->ema, mlp->params, mlp->nparams * sizeof(float));
    mlp->ema_live = 1;
    return DN_OK;
}

dn_status dn_mlp_step_begin_(dn_mlp *mlp, double lr, dn_mlp_step *st, dn_error *err)
{
    if (!(lr >= 0) || !isfinite(lr))
        return dn_fail(err, DN_ERR_USAGE, "learning rate must be finite and at least 0 (got %g)", lr);
    dn_status s = ensure_moments(mlp, err);
    if (!s) s = ensure_ema(mlp, err);
    if (s) return s;
    const dn_mlp_options *o = &mlp->opt;
    *st = (dn_mlp_step){(float)lr, (float)o->weight_decay, (float)o->momentum, o->nesterov,
                        o->optimizer == DN_OPTIMIZER_ADAM, (float)o->beta1, (float)o->beta2, (float)o->adam_eps,
                        1.0f, 1.0f, NULL, 0.0f};
    if (mlp->prox_anchor && mlp->prox_mu > 0) st->prox_anchor = mlp->prox_anchor, st->prox_mu = mlp->prox_mu;
    if (st->adam) {
        mlp->adam_t++;
        st->inv_c1 = (float)(1.0 / (1.0 - pow(o->beta1, (double)mlp->adam_t)));
        st->inv_c2 = (float)(1.0 / (1.0 - pow(o->beta2, (double)mlp->adam_t)));
    }
    return DN_OK;
}

/* The step on parameters [a, a + n) with their gradient g (n values), decay wd. */
static void step_values(dn_mlp *mlp, const dn_mlp_step *st, size_t a, size_t n, float *g, float wd)
{
    float *p = mlp->params + a;
    float *m = mlp->moment1 ? mlp->moment1 + a : NULL;
    if (st->prox_anchor) /* FedProx: ∇(μ/2 ‖θ − θ_global‖²) = μ (θ − θ_global), on this thread's slice */
        add_proximal(g, p, st->prox_anchor + a, n, st->prox_mu);
    if (st->adam) adam_segment(p, g, m, mlp->moment2 + a, n, st, wd);
    else sgd_segment(p, g, m, n, st, wd);
}

/* The step on parameters [lo, hi) ∩ [at, at + n), with decay wd. */
static void step_segment(dn_mlp *mlp, const dn_mlp_step *st, size_t at, size_t n, size_t lo, size_t hi, float wd)
{
    size_t a = at > lo ? at : lo, b = at + n < hi ? at + n : hi;
    if (a < b) step_values(mlp, st, a, b - a, mlp->grads + a, wd);
}

void dn_mlp_gather_w0_row_(dn_mlp *mlp, const dn_batch_plan *plan, size_t o)
{
    const float *w0_o = mlp->layer[0].weight + o * DN_IMAGE_PIXELS;
    float *dst = mlp->w0_used + o * plan->nused;
    for (size_t r = 0; r < plan->nruns; r++) {
        memcpy(dst, w0_o + plan->run_start[r], plan->run_len[r] * sizeof(float));
        dst += plan->run_len[r];
    }
}

void dn_mlp_step_w0_used_(dn_mlp *mlp, const dn_mlp_step *st, size_t o0, size_t o1, const dn_batch_plan *next)
{
    /* row o's gradient, whole, built in L1 and read once by the step: zero
     * at the pixels no image of the batch uses, which every row shares, so
     * only the runs are written row by row */
    float g[DN_IMAGE_PIXELS] = {0};
    const dn_batch_plan *plan = &mlp->plan;
    const size_t at = (size_t)(mlp->layer[0].weight - mlp->params);
    for (size_t o = o0; o < o1; o++) {
        const float *src = mlp->dw0_used + o * plan->nused;
        if (st->prox_anchor) memset(g, 0, sizeof g); /* the FedProx term was added to the whole of g */
        for (size_t r = 0; r < plan->nruns; r++) {
            memcpy(g + plan->run_start[r], src, plan->run_len[r] * sizeof *g);
            src += plan->run_len[r];
        }
        step_values(mlp, st, at + o * DN_IMAGE_PIXELS, DN_IMAGE_PIXELS, g, st->weight_decay);
        if (next) dn_mlp_gather_w0_row_(mlp, next, o); /* the row is in cache now, not at the next step */
    }
}

void dn_mlp_step_span_(dn_mlp *mlp, const dn_mlp_step *st, size_t lo, size_t hi)
{
    /* a view's offset into params is its offset into grads and both moment buffers */
    for (int k = 0; k < mlp->nlayers; k++) {
        size_t at_w = (size_t)(mlp->layer[k].weight - mlp->params), at_b = (size_t)(mlp->layer[k].bias - mlp->params);
        step_segment(mlp, st, at_w, mlp->width[k] * mlp->width[k + 1], lo, hi, st->weight_decay);
        step_segment(mlp, st, at_b, mlp->width[k + 1], lo, hi, 0.0f); /* biases do not decay */
    }
}

/* ---------------------------------------------------------------- after a step */

int dn_mlp_regularised_(const dn_mlp_options *o)
{
    return o->dropout_input > 0 || o->dropout_hidden > 0 || o->max_norm > 0 || o->label_smoothing > 0 || o->ema > 0;
}

int dn_mlp_has_post_step_(const dn_mlp *mlp) { return mlp->opt.max_norm > 0 || mlp->ema_live; }

/* w ← w · C / ‖w‖₂ when ‖w‖₂ > C (Srivastava et al. 2014, §5.1). The norm
 * is summed in double in a fixed order — eight partial sums, lane l taking
 * w[l], w[l + 8], …, added up at the end — so it does not depend on the
 * threads, and the compiler vectorises it (one running sum would be a
 * serial chain: measured, a third of the time of the SGD step itself). */
static void max_norm_row(float *w, size_t n, double C)
{
    double lane[8] = {0}, sq = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lane[l] += (double)w[i + l] * w[i + l];
    for (; i < n; i++) sq += (double)w[i] * w[i];
    for (int l = 0; l < 8; l++) sq += lane[l];
    double norm = sqrt(sq);
    if (!(norm > C)) return;
    float scale = (float)(C / norm);
    for (size_t i = 0; i < n; i++) w[i] *= scale;
}

/* θ̄ ← d θ̄ + (1 − d) θ over n values. */
static void ema_segment(float *e, const float *p, size_t n, float d)
{
    const float keep = 1.0f - d;
    for (size_t i = 0; i < n; i++) e[i] = d * e[i] + keep * p[i];
}

void dn_mlp_post_step_rows_(dn_mlp *mlp, int k, size_t o0, size_t o1)
{
    if (o1 <= o0) return;
    const size_t C = mlp->width[k];
    float *w = mlp->layer[k].weight, *b = mlp->layer[k].bias;
    if (mlp->opt.max_norm > 0)
        for (size_t o = o0; o < o1; o++) max_norm_row(w + o * C, C, mlp->opt.max_norm);
    if (!mlp->ema_live) return;
    const float d = (float)mlp->opt.ema;
    ema_segment(mlp->ema + (w - mlp->params) + o0 * C, w + o0 * C, (o1 - o0) * C, d);
    ema_segment(mlp->ema + (b - mlp->params) + o0, b + o0, o1 - o0, d);
}

dn_status dn_mlp_update(dn_mlp *mlp, double lr, dn_error *err)
{
    dn_mlp_step st;
    dn_status s = dn_mlp_step_begin_(mlp, lr, &st, err);
    if (s) return s;
    dn_mlp_step_span_(mlp, &st, 0, mlp->nparams);
    if (dn_mlp_has_post_step_(mlp))
        for (int k = 0; k < mlp->nlayers; k++) dn_mlp_post_step_rows_(mlp, k, 0, mlp->width[k + 1]);
    return DN_OK;
}
