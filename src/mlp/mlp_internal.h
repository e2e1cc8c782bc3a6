/*
 * mlp_internal.h — the inside of dn_mlp and the layer kernels, shared by
 * mlp.c (network, inference), mlp_train.c (backprop, optimisers),
 * mlp_layers.c (kernels) and mlp_model.c (files).
 *
 * Shape letters, as in the kernels: B rows of a mini-batch, C input
 * features of a layer, OC its output features.
 */
#ifndef DN_MLP_INTERNAL_H
#define DN_MLP_INTERNAL_H

#include "internal.h"

#define DN_MLP_MAX_LAYERS (DN_MLP_MAX_HIDDEN + 1)

/* What a dense layer applies after W x + b. IDENTITY is the output layer of
 * a cross-entropy network: the softmax is fused with the loss instead. */
typedef enum dn_act {
    DN_ACT_FN_IDENTITY = 0,
    DN_ACT_FN_SIGMOID,
    DN_ACT_FN_TANH,
    DN_ACT_FN_RELU
} dn_act;

/* One layer's slice of a parameter-shaped buffer. */
typedef struct dn_dense_view {
    float *weight; /* (OC, C) row-major */
    float *bias;   /* (OC) */
} dn_dense_view;

/* Buffers a mini-batch of up to `rows` samples needs; one allocation. */
typedef struct dn_mlp_workspace {
    size_t rows;
    float *block;                          /* owns everything below */
    float *act[DN_MLP_MAX_LAYERS + 1];     /* act[0] = x (rows, 784); act[k+1] (rows, n_{k+1}) */
    float *delta[2];                       /* (rows, widest layer output): ping-pong ∂L/∂a */
    uint8_t *labels;                       /* (rows) the batch's labels, gathered */
    /* training's second x and labels, where the next batch is prepared while
     * this one trains (mlp_train.c, "The next batch"); they trade places
     * with act[0] and labels, all in block. NULL in inference workspaces. */
    float *x_spare;                        /* (rows, 784) */
    uint8_t *labels_spare;                 /* (rows) */
} dn_mlp_workspace;

/* The pixels layer 0 reads for a batch: those non-zero in some image of it,
 * as runs of consecutive indices (run r is pixels run_start[r] … +
 * run_len[r] − 1), nused of them; or all 784, nused = DN_IMAGE_PIXELS, when
 * the batch is not compacted (nruns then 0). */
typedef struct dn_batch_plan {
    uint16_t run_start[DN_IMAGE_PIXELS];
    uint16_t run_len[DN_IMAGE_PIXELS];
    size_t nruns;
    size_t nused;
} dn_batch_plan;

/* Layer 0 of the threaded SGD step on W_0ᵀ (mlp_input_t.c, whose head
 * describes the layout): while live, it->w holds the current W_0 (and it->v
 * its velocity), not params (moment1), from an epoch's start to its end. */
#define DN_INPUT_T_MAX_PARTS 64 /* the training threads' most */
typedef struct dn_input_t {
    int live;
    int parts;                          /* w's blocks, one a thread (mlp_input_t.c) */
    size_t base[DN_INPUT_T_MAX_PARTS];  /* where each starts in w and v */
    size_t stride;     /* S: n_1 rounded up to 16 */
    size_t rows;       /* the batch rows dz and pix hold */
    float *w;          /* (784 · S) W_0ᵀ, part by part */
    float *v;          /* (784 · S) its velocity, likewise, or NULL without momentum */
    float *used[2];    /* (nused, S) rows of w at the used pixels: [0] the batch in training, [1] the next */
    /* copy c (< copies) of the batches' bytes at their used pixels, transposed,
     * [0] the batch in training and [1] the next, and of their values: one copy,
     * or each thread its own in the replicated step (mlp_train.c, "Replicas") */
    uint8_t *pix[DN_INPUT_T_MAX_PARTS][2]; /* (nused, Bp) */
    float *xt[DN_INPUT_T_MAX_PARTS][2];    /* (nused, Bp) pix's values as x (pixel / 255): the forward's xᵀ */
    int copies;        /* allocated */
    int prepared;      /* copies 0 … prepared − 1 hold the next batch ([1]) after a step that prepared it */
    float *dz;         /* (rows · S) layer 0's dz, part by part */
    size_t steps;      /* steps taken this epoch */
    float *lr;         /* (lr_cap) the rate of each */
    size_t lr_cap;
    uint32_t *done;    /* (S / 16, 784) steps row k's vectors from 16 · i on have had (lazy) */
} dn_input_t;

struct dn_mlp {
    dn_mlp_options opt;
    int nlayers;                             /* L */
    size_t width[DN_MLP_MAX_LAYERS + 1];     /* n_0 = 784 … n_L = 10 */
    size_t nparams;
    float *params;                           /* (nparams) W_0 b_0 W_1 b_1 … */
    float *grads;                            /* (nparams) same layout */
    dn_dense_view layer[DN_MLP_MAX_LAYERS];  /* views into params */
    dn_dense_view dlayer[DN_MLP_MAX_LAYERS]; /* views into grads */
    /* optimiser state, allocated on the first update */
    float *moment1;  /* (nparams) SGD velocity v or Adam m */
    float *moment2;  /* (nparams) Adam s */
    uint64_t adam_t; /* Adam steps taken */
    /* training */
    dn_mlp_workspace ws;
    /* layer 0 restricted to the pixels the batch uses (see mlp_train.c) */
    dn_batch_plan plan;             /* the batch in training */
    dn_batch_plan next_plan;        /* the next one, when next_ready (prepared during a step) */
    int next_ready;                 /* 1: the batch in training was prepared during the last step: */
    int next_gathered;              /*   its plan, x, labels, and (when 1) w0_used at its pixels */
    float *w0_used;                 /* (n_1, plan.nused) W_0 at those columns */
    float *dw0_used;                /* (n_1, plan.nused) their gradient */
    uint16_t used_pixel[DN_IMAGE_PIXELS]; /* the small-batch step: used pixel j is image pixel used_pixel[j] */
    float *w0t;                     /* (784, n_1) W_0ᵀ, the small-batch step's copy of W_0 ... */
    int w0t_live;                   /* ... which holds the current W_0 while this is 1 (during an epoch) */
    float *w1t;                     /* (n_1, n_2) W_1ᵀ, likewise, for a ReLU hidden-to-hidden layer 1 ... */
    int w1t_live;                   /* ... holding the current W_1 while this is 1 */
    dn_input_t input_t;             /* layer 0 on W_0ᵀ in the threaded SGD step */
    const struct dn_mlp_split *split; /* during a sync epoch with layer 0 split, else NULL */
    uint32_t *order; /* (order_n) the epoch's sample order */
    size_t order_n;
    int epochs_done;
    size_t train_size;
    /* FedProx (set by dn_fedavg_round around a round's local training, else
     * NULL): each optimiser step's gradient gains prox_mu (θ − prox_anchor),
     * weights and biases alike, before weight decay and the step itself */
    const float *prox_anchor; /* (nparams) the round's global model, not owned */
    float prox_mu;
    /* the federated server optimiser's state on the master (rank 0 of a
     * fedavg job; distributed_mlp.c), allocated zeroed on the first round
     * that needs it, saved in checkpoints; NULL until then */
    double *server_m; /* (nparams) FedAvgM's velocity v, or FedAdam's m */
    double *server_v; /* (nparams) FedAdam's v */
    /* the master's buffer for a round's gathered models (distributed_mlp.c),
     * kept from round to round; never saved */
    float *fed_models; /* (fed_models_n) */
    size_t fed_models_n;
    /* federated detection on the master (fedavg_screen.c): with reputation,
     * the rounds each client was flagged in (saved in checkpoints), and the
     * last round's scores that its report points to (never saved) */
    int64_t *client_flags; /* (client_flags_n) */
    size_t client_flags_n;
    size_t *scored_ids;    /* (scored_cap) */
    double *scores;        /* (scored_cap) */
    unsigned char *score_flags; /* (scored_cap) */
    size_t scored_cap;
    /* dropout (mlp_train.c): the masks m / q of the hidden outputs of the
     * batch in training, layer k's (drop_rows, n_{k+1}) at drop_mask +
     * drop_rows · (n_1 + … + n_k); and the key of the batch's masks: the
     * epoch and the position of its first sample in the epoch's order */
    float *drop_mask;
    size_t drop_rows;
    int drop_epoch;
    size_t drop_first;
    /* EMA of the parameters (opt.ema > 0): (nparams), taken from params at
     * the first step (ema_live), saved in checkpoints */
    float *ema;
    int ema_live;
    /* model selection (dn_mlp_select_epoch), saved in checkpoints */
    float *best;          /* (nparams) the best epoch's evaluation weights (keep_best), or NULL */
    int best_epoch;       /* 1-based; 0: none yet */
    double best_accuracy;
    double last_accuracy;
    int since_best;
    /* augmentation (opt.augment), by one of two ways (mlp_train.c,
     * augment_start): the pipeline of distorted batches, made on the first
     * epoch for batches of up to augment_batch images; or, when the training
     * threads take every core, the training threads themselves, batch i of
     * the epoch distorted into half i % 2 of augment_images (2,
     * augment_batch, 784) and augment_labels, seen as augment_view[i % 2];
     * augment_done batches of this epoch distorted so far */
    dn_augment_pipeline *augment_pipe;
    size_t augment_batch;
    uint8_t *augment_images, *augment_labels;
    dn_dataset augment_view[2];
    size_t augment_done;
    /* virtual clients trained at once (distributed_mlp.c, clients_at_once):
     * the other threads' copies of the network, made on the first round that
     * needs them, owned here; never saved */
    struct dn_mlp **client_workers; /* (client_workers_n) */
    int client_workers_n;
    /* the threaded SGD step on W_0ᵀ with the layers above 0 on every thread
     * (mlp_train.c, "Replicas"): threads 1 … replica_n's copies of the
     * network, whose layers above 0 each thread steps as thread 0 steps
     * mlp's; made on the first epoch that needs them, owned here, never
     * saved. upper_steps counts the steps mlp's layers above 0 have had
     * (a replica's own, the ones it holds). */
    struct dn_mlp **replica; /* (replica_n) */
    int replica_n;
    uint64_t upper_steps;
    /* with a second hidden layer the replicated step cuts W_1 by columns too:
     * z_1's partial sums, thread t's a (rows, n_2) block (partials_rows rows
     * each), and 1 while replica t holds W_1's columns of thread t's units
     * (and their velocity) newer than mlp's */
    float *partials;
    size_t partials_rows;
    int w1_scattered;
    /* progress within an epoch (dn_mlp_set_batch_callback): not an option, never saved */
    dn_mlp_batch_fn on_batch;
    int on_batch_reads; /* 1: it may read the network (dn_mlp_set_batch_callback), 0: the report only */
    void *batch_user;
    /* where the steps' time goes (dn_mlp_set_profile): not owned, never saved;
     * lap_at is when the phase in progress on training thread 0 began */
    dn_profile *profile;
    double lap_at;
};

/* The profile's clock, training thread 0's alone: a step starts it
 * (dn_lap_start_), and each dn_lap_ adds the time since the last one to
 * the phase that just ended. Nothing when no profile is set. */
static inline void dn_lap_start_(dn_mlp *mlp)
{
    if (mlp->profile) mlp->lap_at = dn_now_seconds();
}
static inline void dn_lap_(dn_mlp *mlp, dn_phase ended)
{
    if (!mlp->profile) return;
    double now = dn_now_seconds();
    mlp->profile->seconds[ended] += now - mlp->lap_at;
    mlp->lap_at = now;
}

/* The activation function layer k applies. */
dn_act dn_mlp_act_(const dn_mlp *mlp, int k);

/* ---- kernels (mlp_layers.c) ---- */

/* C (M, N) = alpha · op(A) op(B) + beta · C, row-major; op(X) is X or Xᵀ
 * as trans_a / trans_b say; lda, ldb, ldc are row strides. BLAS calls
 * cblas_sgemm; PLAIN runs the reference loops (double accumulators). */
void dn_sgemm_(dn_matmul mm, int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha, const float *A,
               size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* out[o] = act(out[o] + bias[o]) for the OC entries of one row. */
void dn_bias_act_row_(float *out, const float *bias, size_t OC, dn_act act);
/* dout[o] *= act'(z[o]) for one row, in place, from the row's output out. */
void dn_act_grad_row_(float *dout, const float *out, size_t OC, dn_act act);

/* out = act(inp · weightᵀ + bias), overwriting out. */
void dn_dense_forward(float *out, const float *inp, const float *weight, const float *bias, size_t B, size_t C,
                      size_t OC, dn_act act, dn_matmul mm);

/* The same for the output units [o0, o1) only: columns o0 … o1 − 1 of out,
 * from rows o0 … o1 − 1 of weight. Threads split a layer this way. */
void dn_dense_forward_units(float *out, const float *inp, const float *weight, const float *bias, size_t B, size_t C,
                            size_t OC, size_t o0, size_t o1, dn_act act, dn_matmul mm);

/* Backward of dn_dense_forward_units for the units [o0, o1), without
 * ∂L/∂inp (which sums over all units: dinp = dz weight, see mlp_train.c):
 * columns o0 … o1 − 1 of dout become dz, rows o0 … o1 − 1 of dweight and
 * dbias[o0 … o1 − 1] are added to. */
void dn_dense_backward_units(float *dweight, float *dbias, float *dout, const float *out, const float *inp, size_t B,
                             size_t C, size_t OC, size_t o0, size_t o1, dn_act act, dn_matmul mm);

/* Its elementwise half for the units [o0, o1): columns o0 … o1 − 1 of
 * dout (∂L/∂out) become dz = dout ⊙ act'(z) in place, their sums over the
 * B rows added to dbias[o0 … o1). */
void dn_dense_dz_units_(float *dbias, float *dout, const float *out, size_t B, size_t OC, size_t o0, size_t o1,
                        dn_act act);

/* Softmax of logits (B, V) in place into probabilities; returns the summed
 * loss Σ −log p_y; dlogits (may be NULL) gets (p − onehot(y)) / B. Adds the
 * correct argmax predictions to *correct (may be NULL). With labels NULL it
 * is the softmax alone (returns 0). */
double dn_softmax_ce(float *probs, float *dlogits, const uint8_t *labels, size_t B, size_t V, size_t *correct);

/* dn_softmax_ce against the smoothed target t = (1 − eps) onehot(y) + eps / V:
 * returns Σ −Σ_j t_j log p_j; dlogits gets (p − t) / B. eps = 0 is
 * dn_softmax_ce bit for bit. */
double dn_softmax_ce_smooth(float *probs, float *dlogits, const uint8_t *labels, size_t B, size_t V, size_t *correct,
                            float eps);

/* Inverted dropout on one row of n units, units u0 … u0 + n − 1 of a layer:
 * a[o] *= m, m = scale when the hash of (key, unit) is below keep (keep /
 * 2³² = the keep probability q, scale = 1 / q), else 0; mask (may be NULL)
 * gets each m. */
void dn_dropout_row_(float *a, float *mask, size_t n, size_t u0, uint64_t key, uint32_t keep, float scale);
/* A mask value of dn_dropout_row_ for unit u alone. */
float dn_dropout_mask_(uint64_t key, size_t u, uint32_t keep, float scale);
/* The backward of out = dropout(act(z)) for one row: dout (∂L/∂out) becomes
 * ∂L/∂z in place: dout · m · act'(a), a = out / m, and 0 where m = 0. */
void dn_dropout_grad_row_(float *dout, const float *out, const float *mask, size_t n, dn_act act);
/* The key of sample `position` of epoch `epoch`'s order for layer `layer`
 * (0: the input x, k: a_k), from the seed. */
uint64_t dn_dropout_key_(uint64_t seed, int epoch, size_t position, int layer);
/* keep = ⌊q · 2³²⌉ for p (1 − p = q), capped below 2³². */
uint32_t dn_dropout_keep_(double p);

/* Sigmoid outputs a (B, V) against one-hot targets: returns Σ ½ Σ_j (a−d)²;
 * dout (may be NULL) gets (a − d) / B, the ∂L/∂a the sigmoid's backward takes. */
double dn_sigmoid_mse(const float *a, float *dout, const uint8_t *labels, size_t B, size_t V, size_t *correct);

/* ---- the small-batch SGD step (mlp_small.c) ---- */

/* The largest batches the small-batch SGD step takes (mlp_train.c, "Small
 * batches"): up to DN_MLP_SMALL_BATCH_MAX when the step would run on one
 * thread anyway, up to DN_MLP_SMALL_BATCH_THREADED when it could be split
 * over threads. Measured on the 2NN (784-200-200-10), an epoch of 3000
 * MNIST samples on one (shared) core, BLAS step → small step: B = 16
 * 43 → 25 ms, 32 42 → 32, 64 34 → 29, 128 31 → 31 (even: from there on
 * the dense products have rows enough for BLAS). Above 32 the threaded
 * step has rows enough to split (see MIN_ROWS_PER_THREAD), so it keeps them. */
#define DN_MLP_SMALL_BATCH_MAX 64
#define DN_MLP_SMALL_BATCH_THREADED 32

/* dst (cols, rows) = src (rows, cols)ᵀ, both row-major. */
void dn_transpose_(float *dst, const float *src, size_t rows, size_t cols);
/* a1 (B, n1) = act(x W_0ᵀ + b_0), W_0ᵀ given as w0t (784, n1); x is (B,
 * nused), its column j pixel[j] of the image: one row of w0t added per
 * non-zero pixel of a sample. */
void dn_small_input_forward(float *a1, const float *x, const uint16_t *pixel, size_t nused, const float *w0t,
                            const float *b0, size_t B, size_t n1, dn_act act);
/* Layer 0's plain SGD step at rate lr from da1 = ∂L/∂a_1 (B, n1), turned
 * into dz in place: w0t's rows of the pixels some sample uses and b0. */
void dn_small_input_sgd(float *w0t, float *b0, float *da1, const float *a1, const float *x, const uint16_t *pixel,
                        size_t nused, size_t B, size_t n1, dn_act act, float lr);
/* out (B, OC) = act(inp (B, C) · weightᵀ + bias), B small: dot products,
 * each weight row read once per four samples. */
void dn_small_dense_forward(float *out, const float *inp, const float *weight, const float *bias, size_t B, size_t C,
                            size_t OC, dn_act act);
/* A dense layer's backward and plain SGD step at rate lr, B ≤
 * DN_MLP_SMALL_BATCH_MAX: dout becomes dz in place, dinp (skipped when
 * NULL) = dz · weight before the step, then weight and bias step. */
void dn_small_dense_sgd(float *dinp, float *weight, float *bias, float *dout, const float *out, const float *inp,
                        size_t B, size_t C, size_t OC, dn_act act, float lr);

/* A hidden-to-hidden ReLU layer on the small step, its weight kept
 * transposed for the epoch as wt (C, OC) = Wᵀ: out (B, OC) = act(inp Wᵀ +
 * bias), one row of wt added per active input unit of a sample. */
void dn_small_hidden_forward(float *out, const float *inp, const float *wt, const float *bias, size_t B, size_t C,
                             size_t OC, dn_act act);
/* Its backward and plain SGD step at rate lr: dout becomes dz in place;
 * dinp (B, C) = dz W before the step where inp > 0 and 0 elsewhere (inp is
 * a ReLU's output: its derivative zeroes the rest); then wt's rows of the
 * active input units and bias step. */
void dn_small_hidden_sgd(float *dinp, float *wt, float *bias, float *dout, const float *out, const float *inp,
                         size_t B, size_t C, size_t OC, dn_act act, float lr);

/* x (B, 784) = pixel / 255 (in float) for images (B, 784) uint8, rows
 * order[first … first + B) (order NULL: rows first … first + B). */
void dn_images_to_floats(float *x, const uint8_t *images, const uint32_t *order, size_t first, size_t B);

/* order[0 … n) = the order every trainer visits n samples in during epoch
 * `epoch` (0-based): a permutation that depends on (seed, epoch) alone. */
void dn_mlp_epoch_order_(uint64_t seed, int epoch, uint32_t *order, size_t n);
/* A local epoch of a virtual client (distributed_mlp.c): its samples, and
 * the round's model it starts from and its slot it ends in, W_0 going
 * straight between those and W_0ᵀ on the small step (no copy through
 * mlp->params, whose W_0 is then left as it was). */
typedef struct dn_mlp_split dn_mlp_split;
typedef struct dn_mlp_local_epoch {
    const size_t *rows; /* the samples rows[0 … n) of the set (each < its count), or NULL: its first n */
    size_t n;
    const float *from;  /* NULL, or the parameters to start from (P floats) */
    float *into;        /* NULL, or where the final parameters go (P floats) */
    const dn_mlp_split *split; /* NULL, or layer 0 cut across the ranks of a sync job (below) */
} dn_mlp_local_epoch;
/* Layer 0 cut by units across the `parts` ranks of a synchronous job
 * (distributed_mlp.c, "Layer 0 split"): this rank computes, steps and keeps
 * current only part `part` of layer 0's units (dn_input_t_slice_(mlp,
 * parts, part)), for the whole batch, and every rank runs the layers above
 * on the whole batch. After layer 0's forward, exchange fills a_1's other
 * units (a1: (B, n_1), its own columns written) from the ranks that own
 * them; with a second hidden layer W_1 is cut by columns as well, and the
 * ranks exchange z_1's partial sums instead. The epoch runs on one thread, SGD on W_0ᵀ (dn_mlp_split_applies_);
 * at its end W_0, b_0 and their velocity are current in params (and
 * moment1) at this rank's units only, and the caller brings in the rest. */
struct dn_mlp_split {
    int parts, part;
    /* a1 NULL (a second hidden layer, mlp_train.c's Layer 1 by columns):
     * z_1's partial sums instead, mlp->partials' slot r from rank r; then
     * *sum_slot = −1 when slots 0 … parts − 1 hold the ranks' partial sums
     * (to be added in slot order), or the slot that holds their sum */
    dn_status (*exchange)(void *user, float *a1, size_t B, int *sum_slot, dn_error *err);
    /* Called with the batch's loss sum before any update: returns it, or
     * NaN when some rank's is not finite (or the transport failed), so that
     * every rank refuses the same batch. */
    double (*agree)(void *user, double loss);
    void *user;
};
/* 1 when an epoch with batch B can run with layer 0 split in `parts`. */
int dn_mlp_split_applies_(const dn_mlp *mlp, size_t B, int parts);
/* dn_mlp_train_epoch as `how` says: bit for bit as on
 * dn_dataset_select(train, rows, n) from `from`, without the copies. */
dn_status dn_mlp_train_epoch_on_(dn_mlp *mlp, const dn_dataset *train, const dn_mlp_local_epoch *how,
                                 dn_mlp_epoch_report *report, dn_error *err);
/* Calls mlp's batch callback (it must be set) for batch i of nbatches of the
 * epoch mlp->epochs_done: samples trained so far of total, the batch's mean
 * loss, the loss sum of the samples so far, its rate, the epoch's start
 * time. Returns 1 when the callback asks to stop. */
int dn_mlp_batch_notify_(const dn_mlp *mlp, size_t i, size_t nbatches, size_t samples, size_t total,
                         double batch_loss, double loss_sum, double lr, double t0);

/* Sets the BLAS thread count (0 = all cores) and returns the previous one,
 * so a call can restore what it found (OpenBLAS keeps one process-wide
 * setting). Returns -1 when the BLAS library has no such control. */
int dn_blas_threads_set_(int threads);
/* The batch an epoch of n samples trains with: opt.batch, or n for a full
 * batch (opt.batch 0; n ≤ DN_MLP_BATCH_MAX, checked by the epoch). */
static inline size_t dn_mlp_batch_of_(const dn_mlp *mlp, size_t n) { return mlp->opt.batch ? mlp->opt.batch : n; }

/* ---- the synchronous distributed step's pieces (mlp_train.c, for distributed_mlp.c) ---- */

/* The workspace for batches of up to rows samples, and layer 0's compaction buffers. */
dn_status dn_mlp_reserve_rows_(dn_mlp *mlp, size_t rows, dn_error *err);
/* The set's rows order[first … first + n) (this rank's part of a batch)
 * loaded into the workspace through the order, nothing copied, and layer
 * 0 compacted to the pixels they use. */
void dn_mlp_rows_load_(dn_mlp *mlp, const dn_dataset *set, const uint32_t *order, size_t first, size_t n);
/* Asks for the images of the set's rows order[first … first + B) (the next
 * batch, while this one computes). */
void dn_mlp_prefetch_rows_(const dn_dataset *set, const uint32_t *order, size_t first, size_t B);
/* Every layer forward on the n rows loaded. */
void dn_mlp_rows_forward_(dn_mlp *mlp, size_t n);
/* Their loss: returns the loss sum (correct predictions added to
 * *correct); ws.delta[0] gets ∂(Σ loss / B)/∂(output), B ≥ n being the
 * whole batch: the rows' share of the batch's mean loss, so their
 * gradients need no scaling later. */
double dn_mlp_rows_loss_(dn_mlp *mlp, size_t n, size_t B, size_t *correct);
/* Layer k ≥ 1 backward from dout (∂L/∂a_{k+1}): OVERWRITES dW_k and db_k;
 * returns the delta buffer that now holds ∂L/∂a_k. */
float *dn_mlp_rows_backward_(dn_mlp *mlp, int k, float *dout, size_t n);
/* Layer 0's units [o0, o1) backward from da1: OVERWRITES db_0[o0 … o1) and
 * their rows of dW_0 (through the compacted columns when the batch is
 * compacted, the others written 0). */
void dn_mlp_input_rows_backward_(dn_mlp *mlp, float *da1, size_t n, size_t o0, size_t o1);

/* ---- optimisers (mlp_optim.c) ---- */

/* The constants of one optimiser step. */
typedef struct dn_mlp_step {
    float lr, weight_decay, momentum;
    int nesterov, adam;
    float beta1, beta2, eps;
    float inv_c1, inv_c2; /* Adam's bias corrections 1 / (1 − β^t) */
    const float *prox_anchor; /* FedProx: mlp->prox_anchor when prox_mu > 0, else NULL */
    float prox_mu;
} dn_mlp_step;

/* Checks lr, allocates the optimiser state on first use, advances Adam's t,
 * takes the FedProx term from mlp. */
dn_status dn_mlp_step_begin_(dn_mlp *mlp, double lr, dn_mlp_step *st, dn_error *err);
/* Applies the step to parameters [lo, hi) (threads take disjoint slices).
 * With a FedProx anchor, grads[lo, hi) first gain prox_mu (θ − anchor) in
 * place: the step then reads the proximal objective's gradient. */
void dn_mlp_step_span_(dn_mlp *mlp, const dn_mlp_step *st, size_t lo, size_t hi);
/* The step on rows [o0, o1) of W_0 when the batch's gradient of W_0 is
 * held compacted (mlp_train.c): row o's is dw0_used[o · plan.nused …] at
 * the plan's pixels, 0 at every other pixel. The same values as
 * dn_mlp_step_span_ on the gradient scattered into grads, without the
 * scatter, or the gradient's zeroing and second read. With next (may be
 * NULL) each row, once stepped, also goes to w0_used at next's pixels. */
void dn_mlp_step_w0_used_(dn_mlp *mlp, const dn_mlp_step *st, size_t o0, size_t o1, const dn_batch_plan *next);
/* Row o of W_0 at plan's pixels into w0_used (row stride plan->nused). */
void dn_mlp_gather_w0_row_(dn_mlp *mlp, const dn_batch_plan *plan, size_t o);
/* 1 when a step is followed by dn_mlp_post_step_rows_ (max-norm, or a live EMA shadow). */
int dn_mlp_has_post_step_(const dn_mlp *mlp);
/* After a step, rows [o0, o1) of W_k and b_k[o0 … o1): max-norm on each
 * row, then the EMA update of those weights and biases. Threads take
 * disjoint rows; every value depends on its own row alone. */
void dn_mlp_post_step_rows_(dn_mlp *mlp, int k, size_t o0, size_t o1);
/* 1 when any of dropout, max-norm, label smoothing and EMA is on. */
int dn_mlp_regularised_(const dn_mlp_options *opt);

/* ---- layer 0 on W_0ᵀ (mlp_input_t.c) ---- */

/* 1 when the threaded step can run layer 0 on W_0ᵀ: BLAS products, SGD
 * (momentum, Nesterov and weight decay alike), no FedProx term, max-norm,
 * EMA or input dropout. */
int dn_input_t_applies_(const dn_mlp *mlp);
/* Layer 0's units [a0, a1) for thread t of T: its parts' (whole 16-float
 * vectors). */
void dn_input_t_slice_(const dn_mlp *mlp, int T, int t, size_t *a0, size_t *a1);
/* W_0 (w0, (n_1, 784)) and its velocity (v0, or NULL: zero) into
 * mlp->input_t for batches of up to rows samples, in `parts` parts (the
 * step's threads), with `copies` copies of the batches' bytes; live from
 * now on. */
dn_status dn_input_t_begin_(dn_mlp *mlp, const float *w0, const float *v0, size_t rows, int parts, int copies, size_t steps,
                           dn_error *err);
/* The rate of the step about to be taken (the next of input_t.steps). */
void dn_input_t_lr_(dn_mlp *mlp, float lr);
/* W_0 into w0 and (v0 not NULL) its velocity into v0, in params' layout,
 * every row first caught up with the steps taken. */
void dn_input_t_sync_(dn_mlp *mlp, float *w0, float *v0);
void dn_input_t_free_(dn_input_t *it);
/* Bytes in a row of pix (floats in a row of xt) for a batch of B: B rounded up to 64. */
static inline size_t dn_input_t_pixel_row_(size_t B) { return (B ? B + 63 : 64) / 64 * 64; }
/* pix[which] rows [j0, j1) of plan's used pixels: the bytes of the B
 * images order[first …] (rows first … without an order); xt[which]'s rows
 * likewise. */
void dn_input_t_pixels_(dn_mlp *mlp, int copy, int which, const dn_batch_plan *plan, const uint8_t *images,
                        const uint32_t *order, size_t first, size_t B, size_t j0, size_t j1);
/* used[which] = the rows of w at plan's used pixels, thread t of T's parts. */
void dn_input_t_gather_(dn_mlp *mlp, int which, const dn_batch_plan *plan, int T, int t);
/* Thread t of T's units of dz (B, n_1) into input_t.dz. */
void dn_input_t_dz_(dn_mlp *mlp, const float *dz, size_t B, int T, int t);
/* Layer 0's weight gradient and step, thread t of T's parts, from
 * input_t.dz and copy `copy` of pix[0], the batch in training's (mlp->plan);
 * each stepped row also goes to used[1] at next's pixels (next may be NULL). */
void dn_input_t_step_(dn_mlp *mlp, const dn_mlp_step *st, size_t B, int T, int t, int copy,
                      const dn_batch_plan *next);

/* ---- network (mlp.c) ---- */

/* A 64-byte aligned float buffer (free with free()). */
float *dn_mlp_alloc_floats_(size_t n);
/* Named views W_0 b_0 W_1 b_1 … into a parameter-shaped buffer. */
void dn_mlp_point_views_(const dn_mlp *mlp, float *base, dn_dense_view *views);
/* A workspace for rows samples (free ws->block); with spare, training's
 * second x and labels too. */
dn_status dn_mlp_workspace_alloc_(const dn_mlp *mlp, size_t rows, int spare, dn_mlp_workspace *ws, dn_error *err);


/* A network for opt (already checked) with its buffers allocated and the
 * parameters NOT initialised: for loaders that fill them. */
dn_mlp *dn_mlp_alloc_(const dn_mlp_options *opt, dn_error *err);
/* The threads a step may use: opt.threads, or every core for 0 (1 without OpenMP). */
int dn_mlp_threads_(const dn_mlp *mlp);
/* A copy of src, parameters included, without training state. */
dn_mlp *dn_mlp_clone_(const dn_mlp *src, dn_error *err);
/* Grows mlp->ws (with the spare x and labels) to hold at least rows samples. */
dn_status dn_mlp_workspace_reserve_(dn_mlp *mlp, size_t rows, dn_error *err);
/* "300,100": the hidden sizes as model files and checkpoints write them
 * (the empty string for none); truncated to cap. */
void dn_mlp_hidden_text_(const dn_mlp_options *opt, char *out, size_t cap);
/* Name → enum for files and flags; -1 when unknown. */
int dn_activation_from_name_(const char *s);
int dn_loss_from_name_(const char *s);
int dn_init_from_name_(const char *s);
int dn_optimizer_from_name_(const char *s);
int dn_schedule_from_name_(const char *s);

#endif /* DN_MLP_INTERNAL_H */
