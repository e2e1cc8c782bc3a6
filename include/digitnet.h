/*
 * digitnet.h — the public interface of libdigitnet (pkg-config digitnet;
 * CMake digitnet::digitnet): data, the perceptron, multi-layer networks,
 * their training runs and checkpoints, and the distributed trainers over
 * any communicator. Two more headers go with their own libraries:
 * digitnet_dist.h (the MPI communicator, libdigitnet_dist) and
 * digitnet_plot.h (figures and PNG input, libdigitnet_plot). A program
 * that trains needs this header alone and links neither MPI nor libpng.
 *
 * digitnet trains handwritten-digit classifiers from scratch: the classic
 * multicategory perceptron (PTA) and multi-layer networks trained by
 * backpropagation, on MNIST-format data (28×28 grey images, labels 0–9).
 *
 * Conventions used throughout this header
 *   - Every public symbol starts with dn_ (types dn_*, constants DN_*).
 *   - Functions that can fail take a `dn_error *err` as their last argument
 *     (it may be NULL) and return a dn_status, or NULL for constructors.
 *     On failure err->message names the file (when there is one) and what
 *     is wrong, in a form fit to print as is. The library never prints,
 *     never calls exit() or abort().
 *   - Objects come from dn_X_create / dn_X_load and go back through
 *     dn_X_free, which accepts NULL. The caller owns what a constructor
 *     returns; pointers returned by accessors are owned by the object and
 *     stay valid until it is freed or changed.
 *   - Shapes are written (rows, cols) of a row-major array. An image is
 *     784 bytes, row by row; x = pixel / 255 is the network input.
 *   - No global mutable state: every random draw comes from a dn_rng the
 *     caller seeds, so two objects never share state behind your back.
 */
#ifndef DIGITNET_H
#define DIGITNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version, kept equal to project(VERSION) in CMakeLists.txt (a configure
 * check refuses a mismatch). Programs compare the macros they were compiled
 * against with dn_version(), the library they run with. */
#define DN_VERSION_MAJOR 0
#define DN_VERSION_MINOR 1
#define DN_VERSION_PATCH 0
#define DN_VERSION_STRING "0.1.0"
#define DN_VERSION DN_VERSION_STRING

/* Marks the functions the shared libraries export. The libraries are built
 * with -fvisibility=hidden, so everything not declared here with DN_API
 * (the helpers in src/ headers) stays inside the library. */
#if defined(__GNUC__) || defined(__clang__)
#define DN_API __attribute__((visibility("default")))
#else
#define DN_API
#endif
#define DN_IMAGE_SIDE 28
#define DN_IMAGE_PIXELS 784 /* DN_IMAGE_SIDE² */
#define DN_CLASSES 10

/* The version of the library this program runs with, e.g. "0.1.0"
 * (DN_VERSION_STRING of the build that made it). Never NULL. */
DN_API const char *dn_version(void);

/* ---------------------------------------------------------------- errors */

/* Status codes. The CLI maps each to an exit code (see README, "Exit codes"). */
typedef enum dn_status {
    DN_OK = 0,
    DN_ERR_USAGE = 1,   /* an argument is out of its valid range            */
    DN_ERR_INPUT = 2,   /* a file's content is malformed or inconsistent    */
    DN_ERR_IO = 3,      /* open, read, write, fsync or rename failed        */
    DN_ERR_NUMERIC = 4, /* training produced NaN or Inf                     */
    DN_ERR_NOMEM = 5,   /* an allocation failed                             */
    DN_ERR_MPI = 6      /* the MPI layer reported an error                  */
} dn_status;

#define DN_ERROR_MESSAGE_MAX 512

/* An error as a value: the code and a printable, self-contained message. */
typedef struct dn_error {
    dn_status code;
    char message[DN_ERROR_MESSAGE_MAX];
} dn_error;

/* "ok", "usage error", "bad input", "I/O error", ... (static storage). */
DN_API const char *dn_status_name(dn_status code);

/* Writes size bytes to path so that a crash never leaves a torn file: a
 * temporary file in the same folder, fsync, rename over path, fsync of the
 * folder. On failure the previous file at path is untouched. */
DN_API dn_status dn_write_file_atomic(const char *path, const void *data, size_t size, dn_error *err);

/* ------------------------------------------------------------ random numbers */

/* A small, explicit random generator (xoshiro256** seeded by splitmix64).
 * Same seed → same sequence on every machine. */
typedef struct dn_rng {
    uint64_t s[4];
} dn_rng;

DN_API void dn_rng_seed(dn_rng *rng, uint64_t seed);
DN_API uint64_t dn_rng_next(dn_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
DN_API double dn_rng_uniform(dn_rng *rng);
/* Uniform integer in [0, bound), bound > 0, without modulo bias. */
DN_API uint64_t dn_rng_below(dn_rng *rng, uint64_t bound);
/* Standard normal (Box–Muller). */
DN_API double dn_rng_normal(dn_rng *rng);

/* ------------------------------------------------------------------ data */

/* A labelled image set. images: (count, 784) uint8, row-major, never
 * expanded to floats; labels: (count) values 0–9.
 * A set from dn_dataset_load / dn_mnist_load owns both buffers and goes
 * back through dn_dataset_free. A view from dn_dataset_view borrows its
 * parent's buffers: it is a plain value, never freed.
 * cache holds what the library derives from the images and keeps with the
 * set, so that it dies with the set and can never be taken for another set
 * that later lands at the same address (today: the perceptron's pixel index,
 * built on first use, then shared read-only by every trainer and thread).
 * The library's loaders make it; a view from the first sample shares its
 * parent's. Leave it NULL in a set you fill yourself: the library then
 * derives what it needs on each call. */
typedef struct dn_dataset {
    size_t count;
    uint8_t *images;
    uint8_t *labels;
    int owns_buffers;
    struct dn_dataset_cache *cache; /* opaque; see above */
} dn_dataset;

/* Reads an IDX image file (magic 0x00000803, 28×28) and its IDX label file
 * (magic 0x00000801). A path ending in ".gz" is read through zlib, any
 * other path as raw IDX. Strict: magic and type code, dimensions, the exact
 * file length, equal counts, labels 0–9; sizes are checked before any
 * allocation, and decompression never produces more than the header
 * declares. At most DN_DATASET_MAX_COUNT images.
 * A raw images file is mapped (mmap, private: writes to images stay in this
 * process) rather than read, so a run that uses a few thousand images reads
 * only those; as with any mapped file, truncating it while the set lives
 * ends the process with SIGBUS. A .gz file is inflated into memory. */
#define DN_DATASET_MAX_COUNT 1000000u
DN_API dn_dataset *dn_dataset_load(const char *images_path, const char *labels_path, dn_error *err);

/* Loads one split of an MNIST-format folder. split is "train" or "t10k".
 * Looks for <split>-images-idx3-ubyte and <split>-labels-idx1-ubyte, each
 * also as <split>-images.idx3-ubyte (the common spelling) and each raw or
 * with ".gz" appended; the first that exists is read. */
DN_API dn_dataset *dn_mnist_load(const char *dir, const char *split, dn_error *err);
/* The splits dn_mnist_load accepts, {"t10k", "train", NULL} (the test set
 * first, the usual one to look at). Static storage. */
DN_API const char *const *dn_mnist_split_choices(void);

DN_API void dn_dataset_free(dn_dataset *set);

/* The samples [first, first + count) of set, borrowing its buffers.
 * first + count must not exceed set->count (checked: count is clipped). */
DN_API dn_dataset dn_dataset_view(const dn_dataset *set, size_t first, size_t count);

/* CRC-32 (zlib's polynomial) of the images and then the labels of set:
 * recorded in saved models so a model says which data it was trained on. */
DN_API uint32_t dn_dataset_crc32(const dn_dataset *set);

/* ------------------------------------------------------------- perceptron */

/* The multicategory Perceptron Training Algorithm (PTA), exactly as the
 * classic experiment defines it:
 *
 *   W ∈ R^(10×784), no bias, x = pixels/255, d(x) one-hot of the label,
 *   u(v) = 1 if v > 0 else 0 (componentwise), prediction = argmax_j (Wx)_j
 *   with the lowest index winning ties.
 *
 *   epoch loop:
 *     errors ← #{ i ≤ n : argmax(W x_i) ≠ label_i }   (count pass, current W)
 *     record errors; epoch ← epoch + 1
 *     for i = 1..n in order:  W ← W + η (d(x_i) − u(W x_i)) x_iᵀ   (update pass)
 *     stop when errors/n ≤ ε, or after max_epochs epochs.
 *
 * Each row of W follows its own binary perceptron rule, so rows may be
 * updated in parallel without changing the result; within a row the
 * samples are visited strictly in order.
 *
 * Averaged perceptron (average = 1): the trainer also keeps the mean of W
 * over every step of every update pass (one step per visited sample), as in
 * Freund & Schapire (1999), at O(nonzero pixels) per update rather than
 * O(|W|) per step.                                                         */

typedef enum dn_precision { DN_FLOAT32 = 0, DN_FLOAT64 = 1 } dn_precision;

/* "float" or "double", as the CLI, the model files and checkpoints spell
 * them; "?" for a bad value. Static storage. */
DN_API const char *dn_precision_name(dn_precision precision);
/* {"float", "double", NULL}: entry i names the value i. */
DN_API const char *const *dn_precision_choices(void);

typedef struct dn_pta_options {
    size_t train_size;      /* n: the first n samples are used; default 60000  */
    double eta;             /* η > 0, finite; default 1                        */
    double epsilon;         /* ε in [0, 1]; default 0                          */
    int max_epochs;         /* ≥ 1; default 100                                */
    uint64_t seed;          /* initial W uniform in [0,1) from this; default 1 */
    dn_precision precision; /* default DN_FLOAT32                              */
    int average;            /* also keep the averaged W; default 0             */
    int threads;            /* 0 … 1024, 0 = all cores (default); with 2 or
                               more the count pass runs beside the update pass */
} dn_pta_options;

/* Fills *opt with the defaults listed above. */
DN_API void dn_pta_options_default(dn_pta_options *opt);

/* Checks every field, and train_size against the data size when
 * available > 0; the message states the valid range. */
DN_API dn_status dn_pta_options_check(const dn_pta_options *opt, size_t available, dn_error *err);

typedef struct dn_pta dn_pta; /* a perceptron being trained (opaque) */

/* Creates a trainer with W drawn uniform in [0,1) from opt->seed. */
DN_API dn_pta *dn_pta_create(const dn_pta_options *opt, dn_error *err);
DN_API void dn_pta_free(dn_pta *pta);

/* W as (10, 784) float64, row-major: copy out / replace. Replacing W also
 * restarts the average (if kept) and the step counter. */
DN_API void dn_pta_get_weights(const dn_pta *pta, double *w_out);
DN_API void dn_pta_set_weights(dn_pta *pta, const double *w);
/* The averaged W, (10, 784). Returns DN_ERR_USAGE when average was off or
 * no step has been taken yet. */
DN_API dn_status dn_pta_get_average(const dn_pta *pta, double *w_out, dn_error *err);

/* Both passes read a sparse index of the images' non-zero pixels. A set
 * with a cache (from the library's loaders, or a view of one from its first
 * sample) builds it once, on first use, for all its images and keeps it
 * until dn_dataset_free; any other set gets one built for the call. */

/* Count pass alone: misclassifications among the first n of set with the
 * current W (n ≤ set->count). */
DN_API size_t dn_pta_count_errors(const dn_pta *pta, const dn_dataset *set, size_t n);

/* One epoch: count pass then update pass over the first n samples of set.
 * Returns the count-pass errors; epochs_done() grows by one. With threads
 * ≥ 2 the two passes run side by side (both start from the same W; the
 * count reads a copy of it), so the result is the same for any threads. */
DN_API size_t dn_pta_epoch(dn_pta *pta, const dn_dataset *set, size_t n);

/* Epochs completed so far. */
DN_API int dn_pta_epochs_done(const dn_pta *pta);

typedef struct dn_pta_epoch_report {
    int epoch;       /* 0-based index of the epoch whose count pass this is */
    size_t errors;   /* misclassifications of the first n with W at its start */
    size_t n;
    double seconds;  /* wall time of this epoch (count + update) */
} dn_pta_epoch_report;

/* Called after each epoch; return non-zero to stop early. */
typedef int (*dn_pta_epoch_fn)(const dn_pta_epoch_report *report, void *user);

typedef struct dn_pta_result {
    int epochs;          /* epochs of the whole run, a resumed trainer's earlier ones included */
    int converged;       /* 1 when errors/n ≤ ε was reached                  */
    size_t final_errors; /* errors of the last count pass                    */
} dn_pta_result;

/* The full loop on train (n = opt->train_size from the options given at
 * creation), calling on_epoch after every epoch (may be NULL), until ε is
 * met or the trainer has done max_epochs epochs in all: a trainer resumed
 * from a checkpoint goes on where it stopped, and result counts the whole
 * run. (A resumed trainer does not know whether its last epoch met ε, so it
 * trains at least one more epoch: dn_pta_run_train knows, from the curve.)
 * It is the local training run (dn_pta_run_train) on this trainer, without
 * checkpoints: one loop, in src/train/pta_run.c. */
DN_API dn_status dn_pta_train(dn_pta *pta, const dn_dataset *train, dn_pta_epoch_fn on_epoch, void *user,
                       dn_pta_result *result, dn_error *err);

/* The options the trainer was created with. */
DN_API const dn_pta_options *dn_pta_get_options(const dn_pta *pta);

/* ------------------------------------------------------------ linear algebra */

/* Predicts with any (10, 784) float64 W: argmax of W x for each image,
 * lowest index on ties. predicted has room for count labels. */
DN_API void dn_linear_predict(const double *w, const uint8_t *images, size_t count, uint8_t *predicted);

/* ------------------------------------------------------------------ models */

/* A trained classifier loaded from or saved to a model file.
 *
 * File format: safetensors (https://huggingface.co/docs/safetensors): an
 * 8-byte little-endian header length N, N bytes of JSON, then raw
 * little-endian tensors. Any safetensors reader (Python's safetensors,
 * a few lines of numpy) can open it. The JSON "__metadata__" holds string
 * values: "format" = "digitnet", "format_version" = "1", "kind"
 * ("perceptron" or "mlp"), the hyper-parameters, "seed", "data_crc32" and
 * "payload_crc32" (CRC-32 of every tensor byte, in file order). Loading
 * checks the header, every offset, dtype and shape, and the CRC.
 *
 * Perceptron tensors: "W" (10, 784), F32 or F64 as trained; "W_average"
 * (10, 784) F64 when the averaged perceptron was kept.                                  */
typedef struct dn_model dn_model;

typedef enum dn_model_kind { DN_MODEL_PERCEPTRON = 1, DN_MODEL_MLP = 2 } dn_model_kind;

/* A perceptron model from the trainer's current state. use_average picks
 * the averaged W for predictions (it must be kept). data_crc32 is recorded
 * as is (dn_dataset_crc32 of the training data, or 0). */
DN_API dn_model *dn_model_from_pta(const dn_pta *pta, int use_average, uint32_t data_crc32, dn_error *err);

DN_API dn_model *dn_model_load(const char *path, dn_error *err);
/* Writes atomically: a temporary file in the same folder, fsync, rename,
 * fsync of the folder. On failure the previous file is left untouched. */
DN_API dn_status dn_model_save(const dn_model *model, const char *path, dn_error *err);
DN_API void dn_model_free(dn_model *model);

DN_API dn_model_kind dn_model_get_kind(const dn_model *model);
/* "perceptron" or "mlp". */
DN_API const char *dn_model_kind_name(const dn_model *model);

/* Metadata value for key, or NULL. Owned by the model. */
DN_API const char *dn_model_meta(const dn_model *model, const char *key);
/* Number of metadata entries and the i-th key (for listing). */
DN_API size_t dn_model_meta_count(const dn_model *model);
DN_API const char *dn_model_meta_key(const dn_model *model, size_t i);

/* The (10, 784) float64 W a perceptron model predicts with, or NULL for
 * other kinds. Owned by the model. */
DN_API const double *dn_model_perceptron_weights(const dn_model *model);

/* Classifies count images. predicted gets the argmax class of each; scores,
 * when not NULL, gets (count, 10) values: softmax probabilities for an MLP,
 * raw W x for a perceptron. */
DN_API dn_status dn_model_classify(const dn_model *model, const uint8_t *images, size_t count, uint8_t *predicted,
                                   float *scores, dn_error *err);

/* Confusion matrix: confusion[true][predicted] counts over n samples. */
DN_API void dn_confusion_matrix(const uint8_t *labels, const uint8_t *predicted, size_t n,
                                size_t confusion[DN_CLASSES][DN_CLASSES]);

/* -------------------------------------------------------------------- npy */

/* NumPy .npy files (format 1.0/2.0, C order, little-endian '<f4', '<f8',
 * '|u1'). Read returns a float64 copy of the data in *data (caller frees
 * with free()), the shape in shape[0..*ndim-1] (ndim ≤ 4). */
DN_API dn_status dn_npy_read_f64(const char *path, double **data, size_t shape[4], int *ndim, dn_error *err);
/* Writes atomically (see dn_model_save). dtype_code: 'f' (data is float),
 * 'd' (double) or 'u' (uint8_t); data holds the product of shape[] values. */
DN_API dn_status dn_npy_write(const char *path, char dtype_code, const void *data, const size_t *shape, int ndim,
                              dn_error *err);

/* ------------------------------------------------- multi-layer networks */

/* A fully connected network trained by backpropagation (an MLP), every
 * layer open to inspection.
 *
 * Layers. With L = n_hidden + 1 layers and widths n_0 = 784 (the pixels),
 * n_1 … n_{L−1} (the hidden sizes), n_L = 10 (the classes), layer k
 * (k = 0 … L−1) maps a_k (n_k values) to a_{k+1} (n_{k+1} values):
 *
 *     z_{k+1} = W_k a_k + b_k        W_k: (n_{k+1}, n_k) row-major, b_k: (n_{k+1})
 *     a_{k+1} = f_k(z_{k+1})         a_0 = x = pixel / 255
 *
 * f_k is the hidden activation for k < L−1 — sigmoid 1/(1+e^−z), tanh z,
 * relu max(0, z) — and the output function for k = L−1, set by the loss.
 * For a mini-batch the same holds row by row: A_{k+1} = f(A_k W_kᵀ + b_k)
 * with A_k of shape (batch, n_k).
 *
 * Losses, per sample with label y and one-hot target d; a batch's loss is
 * the mean over its samples:
 *   DN_LOSS_CE   output softmax p = e^z / Σ e^z, ℓ = −log p_y       ∂ℓ/∂z = p − d
 *   DN_LOSS_MSE  output sigmoid a,  ℓ = ½ Σ_j (a_j − d_j)²          ∂ℓ/∂z = (a − d) ⊙ a ⊙ (1 − a)
 *
 * Parameters live in one contiguous float buffer, layer by layer:
 * W_0, b_0, W_1, b_1, …, W_{L−1}, b_{L−1}. The gradients are a second
 * buffer of the same layout: dn_mlp_zero_grad clears it, every
 * dn_mlp_backprop adds to it, dn_mlp_update reads it. So distributed or
 * federated code can reduce a whole network as one (pointer, length).
 *
 * Initialisation (biases 0): He, W ~ N(0, 2 / n_in) (for relu);
 * Xavier, W ~ U(−√(6 / (n_in + n_out)), +√(6 / (n_in + n_out))) (for sigmoid, tanh).
 *
 * Optimisers, with g = ∂(batch loss)/∂θ, plus λθ for weights (not biases) when
 * weight_decay λ > 0, and η the learning rate of the step:
 *   SGD        v ← μ v + g;  θ ← θ − η v           (μ = 0: θ ← θ − η g)
 *   Nesterov   v ← μ v + g;  θ ← θ − η (g + μ v)
 *   Adam       m ← β1 m + (1−β1) g;  s ← β2 s + (1−β2) g²;  t ← t + 1;
 *              θ ← θ − η (m / (1−β1^t)) / (√(s / (1−β2^t)) + ε)
 * (the conventions of torch.optim.SGD and torch.optim.Adam).
 *
 * Learning-rate schedules at training progress e (epochs done, fractional
 * within an epoch) of E = epochs:
 *   none    η(e) = lr
 *   step    η(e) = lr · γ^⌊e / step_epochs⌋
 *   cosine  η(e) = lr · ½ (1 + cos(π e / E))            (per batch)
 *
 * Regularisation (all off by default; the training steps only: forward,
 * classify and evaluate never drop a unit):
 *   dropout    inverted dropout with keep probability q = 1 − p on the
 *              input x (p = dropout_input) and on every hidden a_k (p =
 *              dropout_hidden), never on the output: ã = m ⊙ a / q, m_i ~
 *              Bernoulli(q) (q as a multiple of 2⁻³²), so E[ã] = a (within
 *              float rounding); the backward multiplies ∂ℓ/∂ã by
 *              the same m / q. Each mask bit is a hash of (seed, epoch,
 *              the sample's position in the epoch's order, layer, unit):
 *              no generator state, the same masks for any thread count and
 *              for a resumed run. dn_mlp_backprop draws with the epoch =
 *              epochs done and the position = the sample's index in the
 *              call, so calling it twice on the same batch drops the same
 *              units (a fixed mask: what a gradient check needs); so
 *              with dropout, backprop → update over an epoch's batches
 *              drops other units than dn_mlp_train_epoch does.
 *   max-norm   after each step, every row of every W_k (one unit's incoming
 *              weights; not its bias) with ‖w‖₂ > C becomes w · C / ‖w‖₂.
 *   smoothing  DN_LOSS_CE with target t = (1 − ε) d + ε / 10:
 *              ℓ = −Σ_j t_j log p_j, ∂ℓ/∂z = p − t (ε = 0: plain CE).
 *              Training loss only: dn_mlp_evaluate reports plain CE.
 *   EMA        a shadow θ̄ of the parameters, θ̄ ← θ before the first step,
 *              then after every step θ̄ ← decay · θ̄ + (1 − decay) · θ
 *              (float arithmetic; at decay 0 it would be θ̄ = θ exactly,
 *              which is why ema = 0 simply means no EMA). Once a step has
 *              been taken, forward, classify, evaluate, model selection and
 *              dn_model_from_mlp use θ̄ (dn_mlp_eval_params); the steps and
 *              dn_mlp_params / dn_mlp_weights are the raw θ (writing θ
 *              there once the shadow is live leaves θ̄ as it was).
 * Dropout, max-norm, smoothing and EMA work in dn_mlp_train_epoch,
 * dn_mlp_backprop / dn_mlp_update and the runs of one process
 * (dn_mlp_train, dn_mlp_run_* without a communicator, mode sync); the
 * distributed epochs and rounds refuse them (DN_ERR_USAGE). With any of
 * them on, training skips the small-batch step (it has no place for them),
 * so small batches run the general step.
 *
 * Augmentation (opt.augment, see the augmentation section above): each
 * epoch of dn_mlp_train_epoch (and the runs of one process) trains on the
 * distorted images, image order[i] with key (seed, epoch, order[i]);
 * labels, order, batches and dropout keys are those of the undistorted
 * epoch. When the training threads take every core (opt.threads 0, or as
 * many as the machine has) they distort each next batch themselves, a share
 * of its images each, between two steps: a worker thread beside them only
 * took their time slices (measured on two cores, the images unchanged: an
 * epoch 1.18× a plain one that way, 1.08× this way). With a core to spare,
 * one worker thread (a pipeline of 4 batches) distorts the next batches
 * while the threads train on the current one. The images, and so the
 * trained bits, are the same either way. dn_mlp_backprop, forward, classify
 * and evaluate never distort; the distributed epochs and rounds refuse it.
 *
 * Model selection (dn_mlp_select_epoch; the runs do it when given a
 * validation set): after each epoch the validation accuracy of the
 * evaluation weights is compared with the best so far; a strictly better
 * one becomes the best (its epoch noted, its weights copied when
 * keep_best), otherwise the count of epochs without improvement grows.
 * patience P > 0 stops the run when that count reaches P; keep_best makes
 * the run end with the best epoch's weights (dn_mlp_restore_best), put
 * back after the run's last checkpoint (which keeps the training state
 * itself, the selection's included, so that a resumed run goes on as the
 * uninterrupted one would).
 *
 * Determinism: the initial weights and each epoch's shuffle come from seed
 * alone; with the same seed, data, options and thread count the trained
 * parameters are identical bit for bit on the same machine. (Threads split
 * work without splitting any sum, but OpenBLAS rounds a product split by
 * columns differently on some CPUs, so other thread counts agree only within
 * float rounding.)
 *
 * Matrix products go through cblas_sgemm (OpenBLAS), or through plain C
 * loops with double accumulators (DN_MATMUL_PLAIN) — the reference the
 * tests compare BLAS against. On the BLAS path training runs layer 0 on the
 * pixels some image of the batch uses (MNIST's border is blank: zero inputs
 * add nothing to W x and get no gradient): the same math, fewer operations.
 * Threads. Training epochs split layer 0 (most of the work) by its output
 * units over `threads` OpenMP threads, each owning rows of W_0 and running
 * single-threaded BLAS; the small layers above run on one of them. Other
 * calls (forward, classify, backprop) hand `threads` to OpenBLAS, whose
 * whole-batch products are the faster way for one thread and for the ranks
 * of a job. So zero_grad → backprop → update trains as an epoch does bit
 * for bit with one thread, and within float rounding with more (OpenBLAS
 * rounds a product split by columns differently; tests/test_mlp_step.c
 * checks both). Either way the BLAS thread count is set for the call and restored after
 * (OpenBLAS keeps one process-wide setting, so calls with different
 * counts must not run concurrently) — except for inference on fewer than
 * DN_MLP_SMALL_FORWARD images (forward, forward_layers, classify), which
 * runs on digitnet's own vectorised dot products, not on BLAS (for one row
 * BLAS would repack every weight matrix), and touches no process-wide
 * setting: a server may answer one image per thread concurrently. Its sums
 * run in another order, so a few images agree with a large batch of the
 * same images within float rounding, not bit for bit.                      */

#define DN_MLP_MAX_HIDDEN 8     /* hidden layers                 */
#define DN_MLP_SMALL_FORWARD 16 /* fewer images: inference on dot products, not BLAS (Threads) */
#define DN_MLP_MAX_WIDTH 65536  /* units in one hidden layer     */
#define DN_MLP_MAX_PARAMS (1u << 28) /* floats in the parameter buffer (1 GiB) */

typedef enum dn_activation {
    DN_ACT_SIGMOID = 0,
    DN_ACT_TANH = 1,
    DN_ACT_RELU = 2,
    DN_ACT_SOFTMAX = 3 /* only the output layer of a DN_LOSS_CE network */
} dn_activation;
typedef enum dn_loss { DN_LOSS_CE = 0, DN_LOSS_MSE = 1 } dn_loss;
typedef enum dn_init { DN_INIT_HE = 0, DN_INIT_XAVIER = 1 } dn_init;
typedef enum dn_optimizer { DN_OPTIMIZER_SGD = 0, DN_OPTIMIZER_ADAM = 1 } dn_optimizer;
typedef enum dn_schedule { DN_SCHEDULE_NONE = 0, DN_SCHEDULE_STEP = 1, DN_SCHEDULE_COSINE = 2 } dn_schedule;
typedef enum dn_matmul { DN_MATMUL_BLAS = 0, DN_MATMUL_PLAIN = 1 } dn_matmul;

/* Names as the CLI and the model files spell them: "sigmoid", "tanh",
 * "relu", "softmax"; "ce", "mse"; "he", "xavier"; "sgd", "adam"; "none",
 * "step", "cosine"; "blas", "plain". Static storage; "?" for a bad value. */
DN_API const char *dn_activation_name(dn_activation a);
DN_API const char *dn_loss_name(dn_loss loss);
DN_API const char *dn_init_name(dn_init init);
DN_API const char *dn_optimizer_name(dn_optimizer o);
DN_API const char *dn_schedule_name(dn_schedule s);
DN_API const char *dn_matmul_name(dn_matmul m);

/* The names a caller may choose from, NULL-terminated, entry i naming the
 * enum value i (so a program can list them or offer them as choices, as
 * the CLI does). The activations are the hidden ones: sigmoid, tanh, relu.
 * Static storage. */
DN_API const char *const *dn_activation_choices(void);
DN_API const char *const *dn_loss_choices(void);
DN_API const char *const *dn_init_choices(void);
DN_API const char *const *dn_optimizer_choices(void);
DN_API const char *const *dn_schedule_choices(void);
DN_API const char *const *dn_matmul_choices(void);

/* ------------------------------------------------------------ augmentation */

/* On-the-fly distortions of 28×28 training images (Simard, Steinkraus and
 * Platt 2003), drawn anew for every image in every epoch.
 *
 * Coordinates: pixel (x, y) is column x, row y, 0 … 27; the centre is c =
 * (13.5, 13.5). A distortion is a displacement field (dx, dy), 784 values
 * each, and the output pixel is the input sampled bilinearly at the source
 *   out(x, y) = I(x + dx(x, y), y + dy(x, y)),
 *   I(u, v)   = Σ over the 4 pixels (i, j) around (u, v) of
 *               (1 − |u − i|)(1 − |v − j|) · in(i, j),  in = 0 outside the image,
 * rounded to the nearest integer and clamped to 0 … 255 (uint8 in, uint8
 * out). At integer sources the weights are 1 and 0 exactly, so a zero
 * field gives the image back and an integer shift gives the shifted image,
 * bit for bit.
 *
 * Affine (ROT, SCALE, SHEAR, SHIFT): per image θ ~ U[−ROT, ROT] degrees,
 * s = 1 + U[−SCALE, SCALE], φ ~ U[−SHEAR, SHEAR] degrees, t_x, t_y ~
 * U[−SHIFT, SHIFT] pixels; the image is mapped p ↦ c + A (p − c) + t with
 * A = s · R(θ) · [[1, tan φ], [0, 1]], R(θ) = [[cos θ, −sin θ], [sin θ,
 * cos θ]] (with y down, θ > 0 turns the digit clockwise as displayed),
 * i.e. sampled at A⁻¹(p − c − t) + c.
 * Elastic (SIGMA, ALPHA): two fields of values uniform in [−1, 1] per
 * pixel, each smoothed by a normalised Gaussian of standard deviation σ
 * pixels (separable, truncated at r = ⌈3σ⌉ taps each side; the field is 0
 * outside the image, so the borders are smoothed towards 0), times α
 * pixels: e(p). σ = 0 leaves the field unsmoothed.
 * Both: affine, then elastic on the affine's output, composed into one
 * field so the image is resampled once: the source of p is
 * A⁻¹(p + e(p) − c − t) + c.
 *
 * Randomness: image `index` (its row in the data set) in epoch `epoch`
 * draws from a dn_rng seeded by dn_augment_key(seed, epoch, index) alone
 * (θ, s, φ, t_x, t_y in that order when affine is on, then one 64-bit draw
 * whose halves key the two elastic fields: value j of a field is a 32-bit
 * hash of (its half, j) — counter-based, so the loop vectorises): the same
 * distortion for any thread count, worker count or timing, and for a
 * resumed run. */
typedef struct dn_augment {
    int elastic;          /* 1: elastic distortion on; default 0                 */
    double sigma;         /* σ in [0, 10] pixels                                 */
    double alpha;         /* α in [0, 100] pixels                                */
    int affine;           /* 1: affine distortion on; default 0                  */
    double rotate;        /* ROT in [0, 180] degrees                             */
    double scale;         /* SCALE in [0, 0.9] (fraction: 0.1 = ±10 %)           */
    double shear;         /* SHEAR in [0, 60] degrees                            */
    double shift;         /* SHIFT in [0, 14] pixels                             */
} dn_augment;

#define DN_AUGMENT_SIGMA_MAX 10.0 /* so the kernel (2⌈3σ⌉ + 1 taps) stays small */

/* 1 when elastic or affine is on. */
DN_API int dn_augment_active(const dn_augment *aug);
/* Checks the ranges above; the message names the part and its range. */
DN_API dn_status dn_augment_check(const dn_augment *aug, dn_error *err);
/* Sets one part from text "elastic:SIGMA,ALPHA" or
 * "affine:ROT,SCALE,SHEAR,SHIFT", or both joined by '+'
 * ("elastic:4,34+affine:10,0.1,10,2"); the parts not named are left as
 * they were. "none" turns both off. DN_ERR_USAGE naming the part that is
 * wrong otherwise. */
DN_API dn_status dn_augment_parse(const char *text, dn_augment *aug, dn_error *err);
/* The settings as dn_augment_parse reads them (numbers as %.15g; "" when off), into out
 * (cap bytes, always terminated). */
DN_API void dn_augment_format(const dn_augment *aug, char *out, size_t cap);

/* The key of image index in epoch epoch: a hash of the three. */
DN_API uint64_t dn_augment_key(uint64_t seed, int epoch, size_t index);

/* One affine transform, its values drawn (see above). */
typedef struct dn_affine {
    double rotate; /* θ, degrees                  */
    double scale;  /* s, a factor (1: unchanged)  */
    double shear;  /* φ, degrees                  */
    double tx, ty; /* t, pixels (+x: right, +y: down) */
} dn_affine;

/* The field (dx, dy), (784) each, of affine (NULL: identity) followed by
 * the elastic field (ex, ey), (784) each, already times α (NULL: none). */
DN_API void dn_augment_compose(const dn_affine *affine, const float *ex, const float *ey, float *dx, float *dy);
/* The field of key's distortion under aug (zero when aug is off). */
DN_API void dn_augment_field(const dn_augment *aug, uint64_t key, float *dx, float *dy);
/* out = in resampled through the field (dx, dy) (formula above); out must
 * not overlap in. */
DN_API void dn_augment_warp(const uint8_t *in, const float *dx, const float *dy, uint8_t *out);
/* dn_augment_field then dn_augment_warp (a copy when aug is off). */
DN_API void dn_augment_image(const dn_augment *aug, uint64_t key, const uint8_t *in, uint8_t *out);
/* count images: out[i] = image rows[i] of images (rows NULL: image i)
 * distorted with key dn_augment_key(seed, epoch, rows[i]); (count, 784). */
DN_API void dn_augment_batch(const dn_augment *aug, uint64_t seed, int epoch, const uint8_t *images,
                             const uint32_t *rows, size_t count, uint8_t *out);

/* A producer/consumer pipeline that distorts the next batches of an epoch
 * on worker threads (pthreads) while the caller trains on the current
 * one. It holds `depth` batch slots; a worker fills the lowest batch not
 * yet claimed while a slot is free; dn_augment_pipeline_next hands them out
 * in order, waiting for one when it is not ready. Each image is distorted
 * with its own key (above), so the batches are the same byte for byte for
 * any number of workers. Opaque; owned by the caller. */
typedef struct dn_augment_pipeline dn_augment_pipeline;

/* workers ≥ 1 threads (at most 64), depth ≥ 2 slots (at most 64) of up to
 * batch_max images each; aug active, checked. DN_ERR_USAGE, DN_ERR_NOMEM. */
DN_API dn_augment_pipeline *dn_augment_pipeline_create(const dn_augment *aug, uint64_t seed, int workers, size_t depth,
                                                       size_t batch_max, dn_error *err);
/* Starts an epoch: the n samples order[0 … n) of set (order NULL: rows
 * 0 … n − 1) in batches of `batch` (≤ batch_max; the last may be smaller),
 * each image distorted with epoch's keys. Ends the previous epoch first
 * (dn_augment_pipeline_finish). set and order must stay unchanged until
 * the epoch is finished. */
DN_API dn_status dn_augment_pipeline_start(dn_augment_pipeline *p, const dn_dataset *set, const uint32_t *order,
                                           size_t n, size_t batch, int epoch, dn_error *err);
/* The epoch's next batch as a data set of its images and labels (count =
 * the batch's size), in order, waiting for it; NULL after the last. Owned
 * by p, valid until the next call (which frees its slot for the workers). */
DN_API const dn_dataset *dn_augment_pipeline_next(dn_augment_pipeline *p);
/* The batch the next call of dn_augment_pipeline_next will hand out,
 * waiting for it, without handing it out: the same data set, valid until
 * the call of next after the one that hands it out, so that a caller can
 * prepare batch i + 1 while it trains on batch i. NULL after the last. */
DN_API const dn_dataset *dn_augment_pipeline_peek(dn_augment_pipeline *p);
/* Ends the epoch, its remaining batches dropped: waits for the workers to
 * finish the batch in hand. Harmless when no epoch runs. */
DN_API void dn_augment_pipeline_finish(dn_augment_pipeline *p);
/* Stops and joins the workers, frees everything; accepts NULL. */
DN_API void dn_augment_pipeline_free(dn_augment_pipeline *p);

#define DN_MLP_BATCH_MAX 65536 /* the largest batch (and full batch) */

typedef struct dn_mlp_options {
    /* the network */
    int n_hidden;                     /* 0 … DN_MLP_MAX_HIDDEN; default 2          */
    size_t hidden[DN_MLP_MAX_HIDDEN]; /* each 1 … DN_MLP_MAX_WIDTH; default 300, 100 */
    dn_activation activation;         /* hidden layers: sigmoid, tanh, relu; default relu */
    dn_loss loss;                     /* default DN_LOSS_CE                         */
    dn_init init;                     /* default DN_INIT_HE                         */
    uint64_t seed;                    /* initial weights and shuffling; default 1   */
    /* training */
    int epochs;                       /* ≥ 1 (the schedule's E); default 10         */
    size_t batch;                     /* 1 … DN_MLP_BATCH_MAX, or 0: the full batch
                                         (each epoch one step on its whole set, at
                                         most DN_MLP_BATCH_MAX samples: E = 1 with
                                         B = 0 is FedSGD in fedavg); default 64  */
    double lr;                        /* > 0, finite; default 0.1                   */
    dn_optimizer optimizer;           /* default DN_OPTIMIZER_SGD                   */
    double momentum;                  /* μ in [0, 1); default 0.9 (SGD)             */
    int nesterov;                     /* default 0 (needs momentum > 0)            */
    double weight_decay;              /* λ in [0, 1]; default 0                     */
    double beta1, beta2, adam_eps;    /* Adam: [0, 1), [0, 1), > 0; default 0.9, 0.999, 1e-8 */
    dn_schedule schedule;             /* default DN_SCHEDULE_COSINE                 */
    int step_epochs;                  /* step schedule period, ≥ 1; default 5       */
    double step_gamma;                /* step schedule factor in (0, 1]; default 0.1 */
    int threads;                      /* 0 = all cores; default 1 (see Threads)     */
    dn_matmul matmul;                 /* default DN_MATMUL_BLAS                     */
    /* regularisation (see Regularisation); each 0 = off, the default */
    double dropout_input;             /* p_in in [0, 1): dropout on x = a_0         */
    double dropout_hidden;            /* p_h in [0, 1): dropout on a_1 … a_{L−1}    */
    double max_norm;                  /* C ≥ 0: ‖W_k[o, :]‖₂ ≤ C after each step    */
    double label_smoothing;           /* ε in [0, 1), DN_LOSS_CE only               */
    double ema;                       /* decay in [0, 1): evaluate on EMA weights   */
    /* model selection, on a validation set (see Model selection) */
    int keep_best;                    /* restore the best epoch's weights; default 0 */
    int patience;                     /* ≥ 0: stop after this many epochs without a
                                         better validation accuracy; 0 = never  */
    /* augmentation (see Augmentation); off by default */
    dn_augment augment;               /* the distortions of the training images  */
} dn_mlp_options;

/* Fills *opt with the defaults listed above. */
DN_API void dn_mlp_options_default(dn_mlp_options *opt);
/* The documented recipes: fills *opt with the defaults, then the recipe's
 * settings (the README's recipe table gives each one's MNIST test error
 * over 3 seeds and its wall time on 2 cores). name is one of
 *   "quick"       the defaults above: 784-300-100-10 ReLU, 10 epochs of SGD
 *                 (0.1, momentum 0.9, cosine), batch 64;
 *   "best-noaug"  784-1024-1024-10 ReLU, dropout 0.2 on x and 0.5 on each
 *                 hidden layer, max-norm 3.5, SGD 0.1 with Nesterov momentum
 *                 0.9, cosine over 170 epochs, batch 128, EMA 0.999, threads
 *                 0 (all cores);
 *   "best"        the same net and optimiser on distorted images (affine
 *                 ±10°, ±10 %, ±10° shear, ±2 px, then elastic σ 4, α 34),
 *                 without dropout (the distortions regularise), 120 epochs.
 * Change any field afterwards (flags given beside --preset do, wherever they stand).
 * DN_ERR_USAGE for another name. */
DN_API dn_status dn_mlp_options_preset(dn_mlp_options *opt, const char *name, dn_error *err);
/* The names dn_mlp_options_preset accepts, NULL-terminated. Static storage. */
DN_API const char *const *dn_mlp_preset_choices(void);
/* Checks every field; the message names the field and its valid range. */
DN_API dn_status dn_mlp_options_check(const dn_mlp_options *opt, dn_error *err);
/* Sets n_hidden and hidden[] from a comma-separated list: "300,100";
 * "" means no hidden layer (a single layer 784 → 10). DN_ERR_USAGE on
 * anything else, with the reason. */
DN_API dn_status dn_mlp_parse_hidden(const char *text, dn_mlp_options *opt, dn_error *err);
/* The learning rate of the schedule in opt at progress epoch (fractional). */
DN_API double dn_mlp_scheduled_lr(const dn_mlp_options *opt, double epoch);

typedef struct dn_mlp dn_mlp; /* a network with its training state (opaque) */

/* A network with weights drawn from opt->seed (see Initialisation). The
 * caller owns it; dn_mlp_free accepts NULL. */
DN_API dn_mlp *dn_mlp_create(const dn_mlp_options *opt, dn_error *err);
DN_API void dn_mlp_free(dn_mlp *mlp);
/* The options it was created with (owned by mlp). */
DN_API const dn_mlp_options *dn_mlp_get_options(const dn_mlp *mlp);
/* Switches the matrix products between BLAS and the plain-C reference. */
DN_API void dn_mlp_set_matmul(dn_mlp *mlp, dn_matmul matmul);
/* Switches the BLAS thread count for later calls (0 = all cores). */
DN_API void dn_mlp_set_threads(dn_mlp *mlp, int threads);

/* ---- reach into the layers; k is 0 … layer_count − 1 (others give 0 or NULL) ---- */

/* L, the number of weight layers (hidden layers + 1). */
DN_API int dn_mlp_layer_count(const dn_mlp *mlp);
/* n_k, the inputs of layer k, and n_{k+1}, its outputs. */
DN_API size_t dn_mlp_layer_inputs(const dn_mlp *mlp, int k);
DN_API size_t dn_mlp_layer_outputs(const dn_mlp *mlp, int k);
/* f_k: the hidden activation, or softmax / sigmoid for the last layer. */
DN_API dn_activation dn_mlp_layer_activation(const dn_mlp *mlp, int k);
/* W_k, (n_{k+1}, n_k) row-major, and b_k, (n_{k+1}): views into the
 * parameter buffer, owned by mlp, valid until it is freed. Copy them out
 * with memcpy; write through dn_mlp_params. */
DN_API const float *dn_mlp_weights(const dn_mlp *mlp, int k);
DN_API const float *dn_mlp_bias(const dn_mlp *mlp, int k);
/* The whole parameter buffer (layout above) and its length in floats;
 * writable (set weights, broadcast them). Owned by mlp. */
DN_API float *dn_mlp_params(dn_mlp *mlp, size_t *count);
/* The gradient buffer, same layout and length. Owned by mlp. */
DN_API float *dn_mlp_grads(dn_mlp *mlp, size_t *count);

/* ---- running the network ---- */

/* Forward pass of count images through layers 0 … k; out gets a_{k+1},
 * (count, n_{k+1}) row-major: the activations of layer k (for the last
 * layer, the output: softmax probabilities or sigmoid values). The
 * activations of the other layers are not kept. Works in chunks, so any
 * count is fine. DN_ERR_USAGE for a bad k, DN_ERR_NOMEM. */
DN_API dn_status dn_mlp_forward(const dn_mlp *mlp, const uint8_t *images, size_t count, int k, float *out, dn_error *err);

/* Every layer in one forward pass: out[k] (k = 0 … L − 1; NULL: not
 * wanted) gets a_{k+1}, (count, n_{k+1}) row-major, as dn_mlp_forward(…, k,
 * out[k]) would: the hidden activations, and for the last layer the output
 * (softmax probabilities or sigmoid values). What a page needs to show
 * every layer of one drawing, at the cost of one pass. DN_ERR_NOMEM. */
DN_API dn_status dn_mlp_forward_layers(const dn_mlp *mlp, const uint8_t *images, size_t count, float *const *out,
                                       dn_error *err);

/* predicted gets the argmax class of each image (lowest index on ties);
 * scores, when not NULL, gets (count, 10) probabilities: the softmax for
 * DN_LOSS_CE, the sigmoid outputs divided by their sum for DN_LOSS_MSE. */
DN_API dn_status dn_mlp_classify(const dn_mlp *mlp, const uint8_t *images, size_t count, uint8_t *predicted, float *scores,
                                 dn_error *err);

/* Mean loss and accuracy over a whole set (no gradients). */
typedef struct dn_mlp_eval {
    double loss;     /* mean per-sample loss                 */
    size_t correct;  /* argmax = label                       */
    size_t count;
    double accuracy; /* correct / count (0 for an empty set) */
} dn_mlp_eval;
DN_API dn_status dn_mlp_evaluate(const dn_mlp *mlp, const dn_dataset *set, dn_mlp_eval *out, dn_error *err);

/* ---- training, step by step ---- */

/* Clears the gradient buffer. */
DN_API void dn_mlp_zero_grad(dn_mlp *mlp);

typedef struct dn_mlp_batch_stats {
    double loss;    /* mean loss over the batch (before the update) */
    size_t correct; /* samples whose argmax was the label           */
} dn_mlp_batch_stats;

/* Forward and backward pass over count samples: ADDS ∂(mean loss over these
 * samples)/∂θ to the gradient buffer. stats may be NULL. DN_ERR_NUMERIC
 * (gradients untouched) when the loss is NaN or Inf, with a message saying
 * what to change. Workspace grows to the largest count seen, never shrinks.
 * With dropout the units dropped are those of the keys (seed, epochs done,
 * index in this call): the same call drops the same units; with label
 * smoothing the loss and gradient are the smoothed ones (Regularisation). */
DN_API dn_status dn_mlp_backprop(dn_mlp *mlp, const uint8_t *images, const uint8_t *labels, size_t count,
                                 dn_mlp_batch_stats *stats, dn_error *err);

/* One optimiser step with the gradient buffer and learning rate lr (see
 * Optimisers); the optimiser state (momentum, Adam moments) is kept in mlp.
 * Then max-norm and the EMA update, when set (Regularisation). */
DN_API dn_status dn_mlp_update(dn_mlp *mlp, double lr, dn_error *err);

/* ---- training, whole epochs ---- */

typedef struct dn_mlp_epoch_report {
    int epoch;             /* 0-based                                        */
    size_t samples;        /* the training samples seen                      */
    double train_loss;     /* mean of the batch losses                       */
    double train_accuracy; /* of the batches, each measured before its update */
    double lr;             /* the learning rate of the epoch's last batch    */
    double seconds;        /* wall time of the epoch                         */
    int stopped;           /* 1 when the batch callback stopped the epoch:
                              samples is then the samples trained (fewer than
                              the set's unless it stopped at the last batch),
                              and loss and accuracy are theirs               */
} dn_mlp_epoch_report;

/* One epoch over train: the samples in a fresh order drawn from (seed,
 * epoch), cut into batches of opt.batch (the last may be smaller), each
 * zero_grad → backprop → update at the scheduled learning rate — in effect:
 * the steps fuse the three, so afterwards the gradient buffer holds no
 * defined batch's gradient (call dn_mlp_backprop for one). Images stay
 * uint8 and are converted batch by batch. DN_ERR_NUMERIC stops it as soon
 * as the loss or a parameter is NaN or Inf; the message gives the epoch and
 * batch and says what to change. report may be NULL. A batch callback
 * (dn_mlp_set_batch_callback) is called after every batch and may end the
 * epoch early. */
DN_API dn_status dn_mlp_train_epoch(dn_mlp *mlp, const dn_dataset *train, dn_mlp_epoch_report *report, dn_error *err);

/* Called after each epoch; return non-zero to stop early. */
typedef int (*dn_mlp_epoch_fn)(const dn_mlp_epoch_report *report, void *user);

/* Runs epochs until opt.epochs are done (counting earlier ones), calling
 * on_epoch (may be NULL) after each: the training run below (dn_mlp_run_*)
 * of one process without checkpoints, each epoch dn_mlp_train_epoch.
 * Stops after an epoch the batch callback stopped (report.stopped),
 * on_epoch having seen it. It has no validation set: keep_best or patience
 * in the options is DN_ERR_USAGE (use dn_mlp_run_* with one). */
DN_API dn_status dn_mlp_train(dn_mlp *mlp, const dn_dataset *train, dn_mlp_epoch_fn on_epoch, void *user, dn_error *err);

/* ---- progress within an epoch ---- */

/* What the epoch loop tells after each batch, once the batch's update is
 * complete (the parameters then hold the step of batch `batch`). */
typedef struct dn_mlp_batch_report {
    int epoch;          /* 0-based, as in dn_mlp_epoch_report                 */
    size_t batch;       /* 0-based index of the batch just trained            */
    size_t batches;     /* batches in the epoch: ⌈n / opt.batch⌉              */
    size_t samples;     /* samples trained so far in this epoch, this batch's
                           included (n after the last batch)                  */
    size_t total;       /* n, the samples of the whole epoch                  */
    double loss;        /* mean loss of this batch (before its update)        */
    double mean_loss;   /* running mean per-sample loss of the epoch so far:
                           Σ batch loss × batch size / samples                */
    double lr;          /* the learning rate of this batch's update           */
    double seconds;     /* wall time since the epoch began                    */
} dn_mlp_batch_report;

/* Return non-zero to stop: the epoch ends after this batch, with its update
 * applied and nothing of the next one done. */
typedef int (*dn_mlp_batch_fn)(const dn_mlp_batch_report *report, void *user);

/* Calls fn(report, user) after every batch of dn_mlp_train_epoch,
 * dn_mlp_train and the epochs of dn_mlp_sync_epoch and dn_mlp_run_* on this
 * network, e.g. to draw a progress bar; fn NULL removes it. A setting of
 * the object, not of the run: it is not part of dn_mlp_options and is never
 * saved in models or checkpoints. Without one the loop only tests a
 * pointer per batch.
 *
 * A stop (non-zero return) ends the epoch after that batch: its update is
 * complete, the report says stopped with samples = the samples trained
 * (k batches: k · opt.batch, or n when k is the last), the epoch counts as
 * done (epochs_done grows by one, so the next epoch draws a fresh order at
 * the next schedule position), and dn_mlp_train and dn_mlp_run_train (sync)
 * stop there — the run's checkpoint, when it has a policy, is written.
 *
 * fn runs on the calling thread, between batches (never while the training
 * threads run), so it may read the network (dn_mlp_params, dn_mlp_weights)
 * but must not train, free or reconfigure it. The report is valid during
 * the call only.
 *
 * In dn_mlp_sync_epoch fn is called on every rank with the same report
 * (losses over all ranks), and a stop is collective: when any rank's fn
 * stops, every rank stops after the same batch. The votes travel with the
 * next batch's sums: that batch is then dropped after its gradient sum,
 * before any update, on every rank (the last batch's votes travel with the
 * epoch's closing sum). Ranks may set a callback or not, independently:
 * when some rank has one (agreed once per epoch, in a sum the epoch makes
 * anyway), each batch adds one allreduce of two doubles (the batch's loss
 * and the votes); when none has, nothing is added. In dn_fedavg_round the
 * local epochs call fn on each rank alone, and a stop ends that rank's
 * local training for the round (the round itself goes on). */
DN_API void dn_mlp_set_batch_callback(dn_mlp *mlp, dn_mlp_batch_fn fn, void *user);
/* dn_mlp_set_batch_callback for a callback that reads the report and
 * nothing else (a progress bar): it must not read the network, which is
 * then not brought up to date for it. Some steps hold a layer elsewhere
 * during an epoch (W_0 transposed, with the steps of the rows no batch
 * used yet to come) and write it back for every batch callback: measured,
 * 784-300-100-10 at batch 64, that write-back made a watched epoch ~1.7× as
 * long. Training is the same bits either way. The two share one slot:
 * setting either replaces the other. */
DN_API void dn_mlp_set_progress_callback(dn_mlp *mlp, dn_mlp_batch_fn fn, void *user);

/* ---- where the training time goes ---- */

/* The phases a training step's wall time is cut into. */
typedef enum dn_phase {
    DN_PHASE_DATA = 0,     /* the batch: which pixels it uses, W_0's used columns, images to floats, labels */
    DN_PHASE_FORWARD,      /* the forward matrix products                                                   */
    DN_PHASE_BACKWARD,     /* the backward matrix products: dW = dZᵀ X and dX = dZ W                          */
    DN_PHASE_ELEMENTWISE,  /* bias, activations and their derivatives, dropout, the loss, dW_0's scatter      */
    DN_PHASE_UPDATE,       /* zeroing gradients, the optimiser step, max-norm, EMA; with SGD and BLAS also
                            * layer 0's dW_0, summed pixel by pixel inside its step                         */
    DN_PHASE_WAIT,         /* the timed thread waiting for the other training threads at a barrier           */
    DN_PHASE_COMM,         /* distributed training: summing gradients over the ranks, waiting for them       */
    DN_PHASE_COUNT
} dn_phase;

/* Seconds spent in each phase, and the steps they were summed over. */
typedef struct dn_profile {
    double seconds[DN_PHASE_COUNT];
    uint64_t steps;
} dn_profile;

/* "data", "forward", "backward", "elementwise", "update", "wait", "comm";
 * "?" for anything else. */
DN_API const char *dn_phase_name(dn_phase phase);

/* From now on, every training step of mlp (dn_mlp_train_epoch, dn_mlp_train,
 * dn_mlp_sync_epoch, dn_mlp_run_*) ADDS its wall time, phase by phase, to
 * *profile, which the caller owns and zeroes (profile NULL: off, the
 * default; not an option, never saved). The clock is the calling thread's,
 * which is training thread 0: with several threads, the work of the others
 * shows as that thread's waits. Costs two clock reads per phase change,
 * about 20 a step; the phases sum to the steps' time, not the epoch's (the
 * epoch's shuffle and the final checks are outside every step). */
DN_API void dn_mlp_set_profile(dn_mlp *mlp, dn_profile *profile);

/* The matrix-product kernels in use: OpenBLAS's name for the core it
 * chose them for, e.g. "Cooperlake" (AVX-512) or "Haswell" (AVX2). OpenBLAS
 * picks them for the processor when it loads, unless the environment
 * variable OPENBLAS_CORETYPE names a core: a host that forces an older one
 * (measured here: Haswell's kernels on an AMD EPYC with AVX-512) leaves the
 * products about twice as slow. Owned by OpenBLAS; never NULL ("unknown"
 * for a BLAS that does not say). */
DN_API const char *dn_blas_kernel(void);

/* The parameters evaluation uses (same layout as dn_mlp_params): the EMA
 * shadow when opt.ema > 0 and a step has been taken, else the parameters
 * themselves. Owned by mlp. */
DN_API const float *dn_mlp_eval_params(const dn_mlp *mlp);

/* ---- model selection (see Model selection) ---- */

typedef struct dn_mlp_selection {
    double accuracy;      /* validation accuracy after the last epoch       */
    int best_epoch;       /* 1-based epoch of the best accuracy; 0: none yet */
    double best_accuracy; /* its validation accuracy                        */
    int since_best;       /* epochs since the best one                      */
    int stop;             /* 1 when patience > 0 and since_best ≥ patience  */
} dn_mlp_selection;

/* After an epoch: evaluates validation with the evaluation weights and
 * updates the best epoch, the best weights (keep_best) and the count
 * since; out (may be NULL) gets the state. DN_ERR_NOMEM. */
DN_API dn_status dn_mlp_select_epoch(dn_mlp *mlp, const dn_dataset *validation, dn_mlp_selection *out, dn_error *err);
/* The selection state so far (accuracy is the last epoch's). */
DN_API void dn_mlp_get_selection(const dn_mlp *mlp, dn_mlp_selection *out);
/* With keep_best and a best epoch: its weights become the parameters (and
 * the EMA shadow, which they were taken from when EMA is on); returns the
 * epoch restored (1-based), 0 when there is none (nothing changes). */
DN_API int dn_mlp_restore_best(dn_mlp *mlp);

/* Epochs completed so far, and the number of samples of the last training set. */
DN_API int dn_mlp_epochs_done(const dn_mlp *mlp);
DN_API size_t dn_mlp_train_size(const dn_mlp *mlp);

/* ---- models, export, statistics ---- */

/* An "mlp" model holding a copy of the network. Tensors "layers.K.weight"
 * (n_{K+1}, n_K) F32 and "layers.K.bias" (n_{K+1}) F32 for K = 0 … L−1;
 * metadata "hidden" ("300,100", "" for none), "activation", "loss", "init",
 * the optimiser settings, "seed", "epochs" (done), "train_size", and
 * "data_crc32" (recorded as given). Loading checks that the tensors are
 * exactly these, chain 784 → hidden → 10, agree with "hidden", and hold
 * finite values. */
DN_API dn_model *dn_model_from_mlp(const dn_mlp *mlp, uint32_t data_crc32, dn_error *err);
/* The network of an "mlp" model, or NULL for other kinds. Owned by model. */
DN_API const dn_mlp *dn_model_get_mlp(const dn_model *model);

/* Every tensor of model as a NumPy file in dir (created if missing):
 * "layers.K.weight.npy" (float32, (n_{K+1}, n_K)) and "layers.K.bias.npy"
 * (float32, (n_{K+1})) for an MLP; "W.npy" (float64, (10, 784), the W it
 * predicts with) for a perceptron. Rebuilding an MLP in numpy:
 *     a = x / 255; for K: a = f(a @ W[K].T + b[K]).
 * Beside them DN_NPY_DESCRIPTION (below) says the kind, activation and loss,
 * so that dn_model_import_npy rebuilds the same model.
 * nwritten (may be NULL) gets the number of files written, that one included. */
DN_API dn_status dn_model_export_npy(const dn_model *model, const char *dir, size_t *nwritten, dn_error *err);

/* The model as an ONNX file (IR version 8, opset 13; written atomically, see
 * dn_model_save), which ONNX Runtime runs without digitnet. Input "image"
 * (N, 784) float, pixel / 255. MLP: per layer Gemm (the (out, in) weights,
 * transB = 1) and its activation, Softmax (ce) or Sigmoid (mse) last; output
 * "probabilities" (N, 10) float. Perceptron: Cast to double, Gemm with W
 * (10, 784) float64; output "scores" (N, 10) double. The class is the
 * arg-max. doc_string and metadata_props hold the training metadata. */
DN_API dn_status dn_model_export_onnx(const dn_model *model, const char *path, dn_error *err);

/* The model as one self-contained C99 source file c_path, needing only libm:
 * the weights as static const arrays (float for an MLP, double for a
 * perceptron's W, each printed so that it reads back exactly) and
 *     int digitnet_classify(const float pixels[784], float probabilities[10])
 * which returns the class of a 28×28 image given as byte / 255 (no PNG
 * centring: MNIST-style input) and fills probabilities (may be NULL): the
 * softmax (loss ce) or normalised sigmoid outputs (mse) of an MLP, the raw
 * scores W x of a perceptron — what dn_model_classify's scores hold. A
 * comment at the top gives the version, kind, layer sizes, activations and
 * the model's metadata. The arithmetic is digitnet's own, so the classes
 * are dn_model_classify's: bit for bit for a perceptron and for an MLP on
 * DN_MATMUL_PLAIN (sums in double in index order); the default BLAS
 * products round differently in the last bits of a score. h_path (may be
 * NULL): a header declaring the function, which the source then includes by
 * its file name (a name with a quote or backslash is refused). Both files
 * are written atomically (see dn_model_save); DN_ERR_INPUT for a non-finite
 * weight, and nothing is written. */
DN_API dn_status dn_model_export_c(const dn_model *model, const char *c_path, const char *h_path, dn_error *err);

/* The file dn_model_export_npy writes beside the tensors, so that an import
 * knows what the .npy files cannot say: "key = value" lines (# comments)
 * with kind (mlp or perceptron), and for an MLP layers (L: weight files
 * beyond it, left by an earlier export, are refused), activation (sigmoid,
 * tanh, relu) and loss (ce, mse). */
#define DN_NPY_DESCRIPTION "digitnet-model.txt"

/* A model from the .npy files of dir, as dn_model_export_npy writes them:
 * "layers.K.weight.npy" (float32 '<f4', (n_{K+1}, n_K)) and
 * "layers.K.bias.npy" (float32, (n_{K+1})) for K = 0, 1, … until the next
 * weight is missing, chained 784 → … → 10 with at most DN_MLP_MAX_HIDDEN
 * hidden layers; or "W.npy" ((10, 784), float64 or float32) for a
 * perceptron. Every value must be finite. activation (a dn_activation:
 * sigmoid, tanh, relu) and loss (a dn_loss) pick the hidden activation and
 * the output; −1 takes them from dir/DN_NPY_DESCRIPTION when it exists,
 * else relu and ce. A value given that contradicts that file is refused
 * (DN_ERR_USAGE). The model's metadata says where it came from ("origin");
 * its training metadata are the defaults (epochs 0, train_size 0).
 * DN_ERR_INPUT naming the file for a wrong shape or dtype, a broken chain, a
 * missing bias, a non-finite value or both kinds in one folder; DN_ERR_IO
 * when dir is not a folder. */
DN_API dn_model *dn_model_import_npy(const char *dir, int activation, int loss, dn_error *err);

typedef struct dn_stats {
    double min, max, mean, std; /* std: population standard deviation */
} dn_stats;
/* Statistics of n values (all 0 when n = 0). */
DN_API dn_stats dn_stats_f32(const float *v, size_t n);
DN_API dn_stats dn_stats_f64(const double *v, size_t n);

/* ---- digit images from files and drawings ----
 * (PNG files: dn_png_read_digit in digitnet_plot.h) */

/* Makes any grey image (width × height bytes, 0 = black) an MNIST digit, as
 * MNIST was made: light background (the mean of the border pixels ≥ 128)
 * → inverted so ink is bright; background level (median border value)
 * subtracted and contrast stretched to 0 … 255; cropped to the box of the
 * ink; scaled, aspect ratio kept, so that its longer side is 20 pixels, by
 * area averaging; placed in 28 × 28 with its centre of mass at the centre
 * (moved, if needed, only so far that no ink falls off). name is used in
 * messages. DN_ERR_INPUT when the image holds no ink. */
DN_API dn_status dn_digit_from_grey(const uint8_t *grey, size_t width, size_t height, uint8_t image[DN_IMAGE_PIXELS],
                                    const char *name, dn_error *err);

/* Reads an IDX image file alone (magic 0x00000803, 28 × 28; raw, or gzip
 * when the name ends in ".gz"), without labels: returns count × 784 bytes
 * (caller frees with free()), strictly checked as dn_dataset_load does. */
DN_API uint8_t *dn_idx_images_read(const char *path, size_t *count, dn_error *err);

/* ------------------------------------------------------ distributed */

/* Training across the K processes of a job: the rules that merge K models
 * into one (pure functions), faults injected to test them, the split of a
 * training set into disjoint shards (one per rank) and into partitions
 * among federated clients, a communicator, and the trainers that use it. Nothing here calls MPI: the trainers talk to a dn_comm, whose
 * transport is MPI (dn_comm_init in digitnet_dist.h, libdigitnet_dist), the
 * local job of one (dn_comm_local), or one the program brings
 * (dn_comm_create). */

/* ---- aggregation: K models of P floats → one ----
 * models is (K, P) row-major: model i is models[i·P … i·P + P − 1]. out
 * gets P floats and must not overlap models. Sums are taken in double, in
 * model order, so a result never depends on threads or timing.
 *
 *   mean          out = Σ_i w_i m_i / Σ_i w_i; weights NULL means all 1;
 *                 FedAvg passes the shard sizes. Any non-finite input is
 *                 refused (DN_ERR_NUMERIC naming the model and coordinate).
 *   median        per coordinate: the middle of the K sorted values (the
 *                 mean of the two middle ones when K is even).
 *   trimmed mean  per coordinate: drop the t = ⌊trim·K⌋ smallest and the t
 *                 largest values, average the K − 2t left (trim in [0, 0.5)).
 *   krum          (Blanchard et al., NeurIPS 2017) model i scores the sum of
 *                 its squared distances to its K − f − 2 nearest other
 *                 models; the lowest score (lowest index on ties) is copied
 *                 out whole. Needs K ≥ 2f + 3: refused otherwise. With
 *                 select M > 1 it is multi-Krum (El Mhamdi et al., ICML
 *                 2018): the plain mean of the min(M, K − f) models of
 *                 lowest score (ties to the lower index), summed in model
 *                 order; refused like Krum when one of them is not finite
 *                 or has an infinite score.
 *   clip          norm clipping (Sun et al., "Can You Really Backdoor
 *                 Federated Learning?", 2019): each update Δ_i = m_i − w
 *                 (w = reference, the round's global model) is scaled to
 *                 Δ_i · min(1, τ / ‖Δ_i‖), τ = clip, or when clip is 0 the
 *                 median of the K update norms (even K: the mean of the
 *                 two middle ones); out = w + the mean of the clipped
 *                 updates, weighted like mean. A non-finite update is
 *                 refused as under mean.
 *   fltrust       (Cao et al., NDSS 2021) the server's own update g_0 =
 *                 trusted − reference (trained on its clean root set) rates
 *                 each update: trust t_i = max(0, cos(Δ_i, g_0)), and
 *                 out = w + Σ_i t_i (‖g_0‖ / ‖Δ_i‖) Δ_i / Σ_i t_i — every
 *                 update rescaled to the server's norm, weighted by trust.
 *                 A non-finite update or one of norm 0 gets t_i = 0 (all
 *                 do when g_0 = 0). When every t_i is 0 (no update agrees
 *                 with the server's) the merge fails with DN_ERR_NUMERIC:
 *                 keep w; so does a non-finite g_0.
 * clip and fltrust need opt->reference (and fltrust opt->trusted), P
 * floats each; the federated rounds set both themselves.
 *
 * The robust rules (median, trimmed mean, krum) treat a value as an
 * extreme, not an error: per coordinate they order −Inf < finite < +Inf <
 * NaN, and Krum takes a distance that is not finite as +Inf. So with at
 * most f arbitrary models — f < K/2 for the median, f ≤ t for the trimmed
 * mean, K ≥ 2f + 3 for Krum — each coordinate of the median and trimmed mean
 * lies within the range of the honest values there, and Krum picks a model
 * whose distance to the honest ones is bounded. If a result still holds a
 * non-finite value (too many bad models) the call fails with
 * DN_ERR_NUMERIC. On any failure out's content is unspecified: keep the
 * previous model elsewhere. */
typedef enum dn_aggregate_rule {
    DN_AGG_MEAN = 0,
    DN_AGG_MEDIAN = 1,
    DN_AGG_TRIMMED_MEAN = 2,
    DN_AGG_KRUM = 3,
    DN_AGG_CLIP = 4,
    DN_AGG_FLTRUST = 5
} dn_aggregate_rule;

/* "mean", "median", "trimmed-mean", "krum", "clip", "fltrust" (the CLI's
 * spelling); "?" otherwise. */
DN_API const char *dn_aggregate_rule_name(dn_aggregate_rule rule);
/* Those names, NULL-terminated, entry i naming the rule i. Static storage. */
DN_API const char *const *dn_aggregate_rule_choices(void);

typedef struct dn_aggregate_options {
    dn_aggregate_rule rule; /* default DN_AGG_MEAN                           */
    double trim;            /* trimmed mean: fraction cut at each end, [0, 0.5); default 0.25 */
    int faulty;             /* krum: f, the bad models tolerated, ≥ 0; default 1 */
    int select;             /* krum: M ≥ 1, the models averaged (M > 1:
                               multi-Krum); default 1 (Krum)               */
    double clip;            /* clip: τ > 0 bounds each update's norm; 0
                               (default): the median update norm           */
    const float *reference; /* clip, fltrust: w, the model the updates are
                               taken from (P floats, not owned); default NULL */
    const float *trusted;   /* fltrust: the server's model trained from w on
                               its root set (P floats); default NULL       */
} dn_aggregate_options;

DN_API void dn_aggregate_options_default(dn_aggregate_options *opt);
/* Checks the options for k models (k ≥ 1): the trim range, that the
 * trimmed mean keeps at least one value, Krum's K ≥ 2f + 3 and M ≥ 1, a
 * clip τ ≥ 0 (finite), the reference (clip, fltrust) and trusted (fltrust)
 * models given. */
DN_API dn_status dn_aggregate_options_check(const dn_aggregate_options *opt, size_t k, dn_error *err);

/* Applies opt's rule (weights are used by mean only and may be NULL).
 * chosen (may be NULL) gets the index of the model Krum picked, or k for the
 * other rules. DN_ERR_USAGE (bad options or weights), DN_ERR_NUMERIC,
 * DN_ERR_NOMEM. */
DN_API dn_status dn_aggregate(const dn_aggregate_options *opt, const float *models, size_t k, size_t p,
                              const double *weights, float *out, size_t *chosen, dn_error *err);

/* The rules one by one, as described above. weights: k finite values ≥ 0
 * with a positive sum, or NULL. */
DN_API dn_status dn_aggregate_mean(const float *models, size_t k, size_t p, const double *weights, float *out,
                                   dn_error *err);
DN_API dn_status dn_aggregate_median(const float *models, size_t k, size_t p, float *out, dn_error *err);
DN_API dn_status dn_aggregate_trimmed_mean(const float *models, size_t k, size_t p, double trim, float *out, dn_error *err);
DN_API dn_status dn_aggregate_krum(const float *models, size_t k, size_t p, int faulty, float *out, size_t *chosen,
                                   dn_error *err);
/* Multi-Krum: as above, the mean of the min(select, k − f) best models;
 * chosen (may be NULL) gets the best one's index. select = 1 is
 * dn_aggregate_krum, bit for bit. */
DN_API dn_status dn_aggregate_multi_krum(const float *models, size_t k, size_t p, int faulty, int select, float *out,
                                         size_t *chosen, dn_error *err);
/* Norm clipping around reference; clip 0: the median update norm. *tau
 * (may be NULL) gets the bound used. */
DN_API dn_status dn_aggregate_clip(const float *models, size_t k, size_t p, const float *reference, double clip,
                                   const double *weights, float *out, double *tau, dn_error *err);
/* FLTrust around reference with the server's model trusted; trust (k
 * doubles, may be NULL) gets each t_i. */
DN_API dn_status dn_aggregate_fltrust(const float *models, size_t k, size_t p, const float *reference,
                                      const float *trusted, float *out, double *trust, dn_error *err);

/* The index of the first NaN or ±Inf among v[0 … n−1], or n when all are finite. */
DN_API size_t dn_first_nonfinite_f32(const float *v, size_t n);
DN_API size_t dn_first_nonfinite_f64(const double *v, size_t n);

/* ---- faults, to test the rules: what a broken or hostile worker sends ---- */
typedef enum dn_fault_kind {
    DN_FAULT_NONE = 0,
    DN_FAULT_NAN = 1,       /* every value NaN                          */
    DN_FAULT_ZERO = 2,      /* every value 0                            */
    DN_FAULT_RANDOM = 3,    /* every value drawn N(0, 1) from the rng   */
    DN_FAULT_SCALE = 4,     /* every value multiplied by scale          */
    DN_FAULT_SIGN_FLIP = 5  /* every value negated                      */
} dn_fault_kind;

typedef struct dn_fault {
    dn_fault_kind kind;
    double scale; /* DN_FAULT_SCALE only */
} dn_fault;

/* Parses "nan", "zero", "random", "scale:S" (S a finite number) or
 * "sign-flip"; DN_ERR_USAGE listing these otherwise. */
DN_API dn_status dn_fault_parse(const char *text, dn_fault *fault, dn_error *err);
/* "nan", "zero", "random", "scale:100", "sign-flip", "none" into buf; a
 * scale with the fewest digits that dn_fault_parse reads back exactly. */
DN_API void dn_fault_format(const dn_fault *fault, char *buf, size_t size);
/* Corrupts v[0 … n−1] in place as fault says; rng is used by
 * DN_FAULT_RANDOM only (and may be NULL for the others). */
DN_API void dn_fault_apply_f32(const dn_fault *fault, float *v, size_t n, dn_rng *rng);
DN_API void dn_fault_apply_f64(const dn_fault *fault, double *v, size_t n, dn_rng *rng);

/* ---- adversaries: what malicious federated clients send ----
 * A simulation of Byzantine clients among the virtual clients of
 * dn_fedavg_clients_round (the one place that knows the ground truth). A
 * seeded set of the K clients is malicious for the whole run
 * (dn_malicious_clients); whenever one is sampled it attacks. All attacks
 * but label-flip act on what the client sends, written here for a model m_i
 * and its update Δ_i = m_i − w from the round's global model w:
 *   label-flip      data poisoning: it trains honestly on labels l → 9 − l
 *                   and sends that model (nothing changed here);
 *   sign-flip:L     sends w − L·Δ_i (default L = 4, so that a fifth of the
 *                   clients cancels the rest under the mean);
 *   scale:S         sends w + S·Δ_i (model replacement's boosting);
 *   gaussian:SIGMA  sends w + noise, each coordinate N(0, SIGMA²) (default
 *                   SIGMA 0.1), not an update at all;
 *   alie:Z          "A Little Is Enough" (Baruch et al., NeurIPS 2019): all
 *                   malicious clients send w + μ − Z·σ, μ and σ the
 *                   coordinate-wise mean and (population) standard deviation
 *                   of the honest updates of the round; Z = 0 (the default)
 *                   takes the paper's z_max for the round (dn_alie_z);
 *   ipm:EPS         inner-product manipulation (Xie et al., UAI 2019): all
 *                   send w − EPS·μ (default EPS 0.5);
 *   nan, zero, random   the faults above applied to the model.
 * Colluding attacks (alie, ipm) are omniscient, as in those papers: they
 * see every honest update of the round. The honest updates are those of
 * the round's non-malicious clients (all of them when every sampled client
 * is malicious: then the malicious clients' own honest updates). */
typedef enum dn_attack_kind {
    DN_ATTACK_NONE = 0,
    DN_ATTACK_LABEL_FLIP = 1,
    DN_ATTACK_SIGN_FLIP = 2,
    DN_ATTACK_SCALE = 3,
    DN_ATTACK_GAUSSIAN = 4,
    DN_ATTACK_ALIE = 5,
    DN_ATTACK_IPM = 6,
    DN_ATTACK_NAN = 7,
    DN_ATTACK_ZERO = 8,
    DN_ATTACK_RANDOM = 9
} dn_attack_kind;

typedef struct dn_attack {
    dn_attack_kind kind;
    double param; /* L, S, SIGMA, Z or EPS as above; dn_attack_parse fills the defaults */
} dn_attack;

/* Parses "label-flip", "sign-flip[:L]", "scale:S", "gaussian[:SIGMA]",
 * "alie[:Z]", "ipm[:EPS]", "nan", "zero", "random", "none" (numbers finite;
 * SIGMA > 0, Z ≥ 0, EPS > 0); DN_ERR_USAGE listing them otherwise. */
DN_API dn_status dn_attack_parse(const char *text, dn_attack *attack, dn_error *err);
/* The spelling dn_attack_parse reads back exactly ("scale:10", "alie:0",
 * "sign-flip:4", "none"), parameters in the fewest digits that read back
 * (at least 6 asked of %g, as dn_fault_format, so 10 is "10", not "1e+01"). */
DN_API void dn_attack_format(const dn_attack *attack, char *buf, size_t size);
/* "label-flip", "sign-flip", … without parameters; "?" otherwise. */
DN_API const char *dn_attack_name(dn_attack_kind kind);
/* The kinds' names, NULL-terminated, indexed by the enum. Static storage. */
DN_API const char *const *dn_attack_choices(void);

/* Marks the malicious clients: round(F·K) of the K (half up; F ≥ 1: all,
 * F ≤ 0 or NaN: none) drawn by selection sampling from seed, so every
 * rank finds the same set; malicious[k] = 1 for them, 0 for the others.
 * Returns their number. */
DN_API size_t dn_malicious_clients(size_t clients, double fraction, uint64_t seed, unsigned char *malicious);

/* ALIE's z_max for n clients of which f are malicious (Baruch et al.,
 * eq. 4): s = ⌊n/2 + 1⌋ − f, z = Φ⁻¹((n − s) / n), Φ the standard normal
 * CDF; 0 when s ≤ 0 or s ≥ n (nothing to hide behind). */
DN_API double dn_alie_z(size_t n, size_t f);

/* Applies attack to the k models (k, p) of a round in place: row i is
 * replaced by what it sends when malicious[i] is non-zero, from global (w,
 * p floats) and the honest rows as described above, in double, rounded
 * once to float. rng: gaussian's and random's draws, rows in order
 * (DN_ERR_USAGE when NULL for them). Label-flip and none change nothing.
 * DN_ERR_NOMEM (alie and ipm need 2p doubles). */
DN_API dn_status dn_attack_models(const dn_attack *attack, float *models, size_t k, size_t p, const float *global,
                                  const unsigned char *malicious, dn_rng *rng, dn_error *err);

/* ---- detection: which of a round's updates look malicious ----
 * Separate from the merge: every reporting client of a round gets a
 * suspicion score, the ones above the threshold are flagged and left out
 * of that round's merge. Scores are scale-free (the same threshold serves
 * any model and learning rate); a non-finite update scores +Inf and is
 * always flagged. With updates Δ_i = m_i − w:
 *   krum     Krum's score of model i (f = the aggregate options' faulty)
 *            divided by the median Krum score of the round;
 *   cosine   1 − cos(Δ_i, median update), the median taken coordinate-wise
 *            over the round's finite updates: in [0, 2];
 *   norm     the robust z-score of ‖Δ_i‖: |‖Δ_i‖ − median| / (1.4826 ·
 *            MAD), MAD the median absolute deviation of the norms (0/0
 *            counts as 0, x/0 as +Inf), both over the finite updates;
 *   fltrust  1 − FLTrust's trust, 1 − max(0, cos(Δ_i, g_0)), g_0 the
 *            server's update on its root set: in [0, 1].
 * A zero vector has no direction: its cosine with anything is 0. Krum's
 * ratio follows norm's rule for a median score of 0. */
typedef enum dn_detect_method {
    DN_DETECT_NONE = 0,
    DN_DETECT_KRUM = 1,
    DN_DETECT_COSINE = 2,
    DN_DETECT_NORM = 3,
    DN_DETECT_FLTRUST = 4
} dn_detect_method;

/* "none", "krum", "cosine", "norm", "fltrust"; "?" otherwise. */
DN_API const char *dn_detect_method_name(dn_detect_method method);
/* Those names, NULL-terminated, indexed by the enum. Static storage. */
DN_API const char *const *dn_detect_method_choices(void);
/* The threshold a method flags above when none is given (see
 * docs/distributed.md for how they were chosen); 0 for none. */
DN_API double dn_detect_default_threshold(dn_detect_method method);

typedef struct dn_detect_options {
    dn_detect_method method; /* default DN_DETECT_NONE                         */
    double threshold;        /* flag when score > threshold; 0 (default): the
                                method's dn_detect_default_threshold          */
    int reputation;          /* R ≥ 0: a client flagged in R rounds is banned
                                for the rest of the run; 0 (default): never  */
} dn_detect_options;

/* scores[i] for the k ≥ 1 models (k, p) as method says. reference: w
 * (krum does not need it: distances ignore w); trusted: the server's model
 * (fltrust only, else may be NULL); faulty: Krum's f (krum only: needs k ≥
 * f + 3, else every finite update scores 0 — too few to judge).
 * DN_ERR_USAGE (method none or unknown, missing model, f < 0),
 * DN_ERR_NUMERIC (fltrust: a non-finite g_0), DN_ERR_NOMEM. */
DN_API dn_status dn_detect_scores(dn_detect_method method, const float *models, size_t k, size_t p,
                                  const float *reference, const float *trusted, int faulty, double *scores,
                                  dn_error *err);

/* ---- shards: a disjoint split of the samples [0, n) over the ranks ----
 * Rank r of K gets ⌊n/K⌋ samples, one more when r < n mod K.
 *   contiguous  rank r gets the block [first_r, first_r + size_r), first_r
 *               the sum of the sizes of the lower ranks;
 *   random      rank r gets the same block of positions of a permutation
 *               of [0, n) drawn from seed (Fisher–Yates with dn_rng).
 * Either way a shard's indices are listed in ascending order, so a shard
 * keeps the data's order, and one rank's shard is the whole set in order.
 * Ranks that agree on (n, K, mode, seed) get disjoint shards covering [0, n).
 *   replicate   not a split: every rank gets all n samples in order — K
 *               identical workers, for comparing K ranks with one.
 *               dn_dataset_shard and the distributed loops accept it;
 *               dn_shard_indices refuses it (its index holds one shard). */
typedef enum dn_shard_mode { DN_SHARD_CONTIGUOUS = 0, DN_SHARD_RANDOM = 1, DN_SHARD_REPLICATE = 2 } dn_shard_mode;

/* "contiguous", "random", "replicate" (the CLI's --shard); "?" otherwise. */
DN_API const char *dn_shard_mode_name(dn_shard_mode mode);
/* Those names, NULL-terminated, entry i naming the mode i. Static storage. */
DN_API const char *const *dn_shard_mode_choices(void);

/* The number of samples rank gets (0 for a rank outside [0, ranks)). */
DN_API size_t dn_shard_size(size_t n, int ranks, int rank);
/* index gets rank's dn_shard_size(n, ranks, rank) sample indices.
 * DN_ERR_USAGE for ranks < 1, rank outside [0, ranks) or DN_SHARD_REPLICATE;
 * DN_ERR_NOMEM. */
DN_API dn_status dn_shard_indices(size_t n, int ranks, int rank, dn_shard_mode mode, uint64_t seed, size_t *index,
                                  dn_error *err);
/* A new set holding copies of the samples index[0 … count−1] of set, in that
 * order (each index < set->count, checked). Owns its buffers: dn_dataset_free. */
DN_API dn_dataset *dn_dataset_select(const dn_dataset *set, const size_t *index, size_t count, dn_error *err);
/* Rank's shard of the first n samples of set (n ≤ set->count), copied out
 * (DN_SHARD_REPLICATE: all n of them). */
DN_API dn_dataset *dn_dataset_shard(const dn_dataset *set, size_t n, int ranks, int rank, dn_shard_mode mode,
                                    uint64_t seed, dn_error *err);

/* ---- partitions: the training set split among K federated clients ----
 * A partition gives each of K clients a disjoint set of the first n
 * samples of a training set; together they cover all n. It is a plain
 * object made once (dn_partition_make, seeded: the same set, n, K, spec and
 * seed give the same partition on every machine), saved to a file that
 * runs load (dn_partition_save / dn_partition_load), and read through
 * accessors. Client k's samples are listed in ascending index order.
 *
 * The kinds, as written in a spec string (dn_partition_parse):
 *   iid              a random permutation of [0, n) cut into K blocks:
 *                    client k gets ⌊n/K⌋ samples, one more when k < n mod K.
 *   shards:S         McMahan et al.'s pathological non-IID split (AISTATS
 *                    2017): the samples sorted by label (ties by index), cut
 *                    into K·S consecutive shards (sizes ⌊n/KS⌋, one more for
 *                    the first n mod KS), the shards dealt at random, S per
 *                    client. S ≥ 1, K·S ≤ n. The paper's MNIST setting is
 *                    K = 100, shards:2 (200 shards of 300). A client gets at
 *                    most S labels when every label's count is a multiple
 *                    of the shard size; otherwise a shard may straddle two
 *                    labels.
 *   dirichlet:ALPHA[:MIN]
 *                    label skew as Flower Datasets' DirichletPartitioner:
 *                    for each class c (in order 0 … 9) proportions p over
 *                    the K clients are drawn from Dir(α, …, α), and the
 *                    class's m_c samples, shuffled, are cut at
 *                    ⌊m_c · (p_1 + … + p_k)⌋, client k taking the k-th
 *                    piece. α > 0 finite: 0.1 gives each client a few
 *                    labels, 100 is close to IID. MIN (default 10, Flower's
 *                    min_partition_size) is the least samples a client may
 *                    get: the proportions of all classes are drawn again
 *                    until every client holds ≥ MIN, at most
 *                    DN_PARTITION_DIRICHLET_TRIES times, after which the
 *                    call fails (DN_ERR_USAGE: lower MIN or raise α). K·MIN
 *                    must not exceed n. A Dir(α) draw is K Gamma(α, 1)
 *                    draws normalised: Marsaglia & Tsang (2000) for shape
 *                    a ≥ 1 (d = a − 1/3, c = 1/√(9d); x ~ N(0,1),
 *                    v = (1 + cx)³, accept d·v when v > 0 and
 *                    log u < x²/2 + d − dv + d log v), and for a < 1
 *                    Gamma(a) = Gamma(a + 1) · U^(1/a); the draws are kept as
 *                    logarithms so that tiny α never underflows to 0/0.
 *   quantity:SIGMA   IID labels, unbalanced sizes: weights w_k = exp(σ z_k),
 *                    z_k ~ N(0, 1); every client gets 1 sample and the other
 *                    n − K are shared in proportion to w by largest
 *                    remainders (ties to the lower client); then a random
 *                    permutation of [0, n) is cut into blocks of those
 *                    sizes. σ ≥ 0 finite; σ = 0 gives the sizes of iid.
 * Every kind needs 1 ≤ K ≤ n; iid, shards and quantity give every client
 * at least one sample, dirichlet at least MIN. */
#define DN_PARTITION_DIRICHLET_TRIES 1000
#define DN_PARTITION_DIRICHLET_MIN 10

typedef enum dn_partition_kind {
    DN_PARTITION_IID = 0,
    DN_PARTITION_SHARDS = 1,
    DN_PARTITION_DIRICHLET = 2,
    DN_PARTITION_QUANTITY = 3
} dn_partition_kind;

/* "iid", "shards", "dirichlet", "quantity"; "?" otherwise. Static storage. */
DN_API const char *dn_partition_kind_name(dn_partition_kind kind);
/* Those names, NULL-terminated, entry i naming the kind i. Static storage. */
DN_API const char *const *dn_partition_kind_choices(void);
/* The spec syntax for help texts and messages:
 * "iid, shards:S, dirichlet:ALPHA[:MIN], quantity:SIGMA". Static storage. */
DN_API const char *dn_partition_syntax(void);

typedef struct dn_partition_spec {
    dn_partition_kind kind;
    size_t shards;   /* shards: S ≥ 1                                   */
    double alpha;    /* dirichlet: α > 0, finite                        */
    size_t min_size; /* dirichlet: MIN, default DN_PARTITION_DIRICHLET_MIN */
    double sigma;    /* quantity: σ ≥ 0, finite                         */
} dn_partition_spec;

/* Parses "iid", "shards:S", "dirichlet:ALPHA", "dirichlet:ALPHA:MIN" or
 * "quantity:SIGMA" into *spec (the fields the kind does not use are 0).
 * DN_ERR_USAGE naming the text and the rule broken ("shards:0": S must be
 * a whole number ≥ 1; "dirichlet:-1": α must be a finite number > 0;
 * "foo": unknown, listing dn_partition_syntax()). */
DN_API dn_status dn_partition_parse(const char *text, dn_partition_spec *spec, dn_error *err);
/* spec as dn_partition_parse reads it back ("shards:2", "dirichlet:0.1",
 * "dirichlet:0.5:3" when MIN is not the default, "quantity:1.5"), numbers
 * in the fewest digits that read back exactly; into buf (size bytes,
 * always terminated; 64 hold any spec). "?" for a bad kind. */
DN_API void dn_partition_format(const dn_partition_spec *spec, char *buf, size_t size);

typedef struct dn_partition dn_partition; /* K clients' samples (opaque) */

/* The partition of the first n samples of set (1 ≤ n ≤ set->count) among
 * K clients (1 ≤ K ≤ n), as spec says, with every random draw from one dn_rng
 * seeded with seed. DN_ERR_USAGE for n, K or spec out of range (the
 * message names the value and its valid range) or an unreachable Dirichlet
 * minimum; DN_ERR_NOMEM. The caller owns the result (dn_partition_free). */
/* FLTrust's root set, before partitioning: root_size of the first n
 * samples of set (1 ≤ root_size < n ≤ set->count), drawn by selection
 * sampling from seed (every root_size-subset equally likely), copied into
 * *root in ascending order; the other n − root_size, in order, into *rest
 * — the set the clients' partition is then made from. Both own their
 * buffers (dn_dataset_free). DN_ERR_USAGE naming the range, DN_ERR_NOMEM;
 * on failure both are NULL. */
DN_API dn_status dn_dataset_split_root(const dn_dataset *set, size_t n, size_t root_size, uint64_t seed,
                                       dn_dataset **root, dn_dataset **rest, dn_error *err);
DN_API dn_partition *dn_partition_make(const dn_dataset *set, size_t n, size_t clients, const dn_partition_spec *spec,
                                       uint64_t seed, dn_error *err);
/* Accepts NULL. */
DN_API void dn_partition_free(dn_partition *part);

/* K, n (the samples partitioned: the first n of the set), the spec and
 * the seed it was made with, and the CRC-32 of those n samples
 * (dn_dataset_crc32). */
DN_API size_t dn_partition_clients(const dn_partition *part);
DN_API size_t dn_partition_train_size(const dn_partition *part);
DN_API const dn_partition_spec *dn_partition_get_spec(const dn_partition *part);
DN_API uint64_t dn_partition_seed(const dn_partition *part);
DN_API uint32_t dn_partition_data_crc32(const dn_partition *part);
/* Client k's sample count, and its sample indices (that many, ascending,
 * each < n); 0 and NULL for k ≥ K. Owned by part. */
DN_API size_t dn_partition_client_size(const dn_partition *part, size_t k);
DN_API const size_t *dn_partition_client_indices(const dn_partition *part, size_t k);
/* Client k's label histogram: DN_CLASSES counts (NULL for k ≥ K). The rows
 * are contiguous, so client 0's pointer is the whole (K, DN_CLASSES)
 * row-major matrix. Owned by part. */
DN_API const size_t *dn_partition_label_counts(const dn_partition *part, size_t k);
/* A new set holding copies of client k's samples of set, in index order
 * (dn_dataset_select; set must be the one partitioned, or hold at least its
 * first n samples). DN_ERR_USAGE for k ≥ K or a set of fewer than n. */
DN_API dn_dataset *dn_partition_client_set(const dn_partition *part, const dn_dataset *set, size_t k, dn_error *err);

/* The file: safetensors (see "models"), written atomically. Metadata
 * "format" = "digitnet", "format_version" = "1", "kind" = "partition",
 * "clients" (K), "train_size" (n), "spec" (as dn_partition_format writes
 * it), "seed", "data_crc32" (8 hex digits) and "payload_crc32"; tensors
 * "client" I64 (n): the client of each sample, and "label_counts" I64
 * (K, 10). In numpy: client k's samples are np.flatnonzero(client == k).
 * Save: DN_ERR_IO (the previous file is then untouched), DN_ERR_NOMEM. */
DN_API dn_status dn_partition_save(const dn_partition *part, const char *path, dn_error *err);
/* Reads path strictly: everything above present and in range, every
 * client < K, the label counts of each client summing to its size. With
 * set (may be NULL) the file must describe this data: n ≤ set->count and
 * the CRC-32 of its first n samples equal to the recorded one (else
 * DN_ERR_USAGE naming the file: made from other data), and the label counts
 * those of set. DN_ERR_INPUT naming the file and what is wrong for a file
 * that is not such a partition (truncated, corrupt, edited, another kind),
 * DN_ERR_IO when it cannot be read. */
DN_API dn_partition *dn_partition_load(const char *path, const dn_dataset *set, dn_error *err);

/* ---- the communicator: the processes of one job ----
 * A process that joins calls every collective below in the same order as
 * every other rank, with the same n and root; each is a barrier in effect.
 * In a job of one every collective is the identity (a gather is a copy)
 * and reaches no backend. Errors come back as values: DN_ERR_USAGE for a
 * root outside the job or a sum of bytes, else the backend's (DN_ERR_MPI
 * with MPI's own message for MPI, whose counts are limited to INT_MAX). */
typedef struct dn_comm dn_comm;

typedef enum dn_comm_type {
    DN_COMM_BYTE = 0, /* uint8_t  */
    DN_COMM_INT = 1,  /* int      */
    DN_COMM_U64 = 2,  /* uint64_t */
    DN_COMM_F32 = 3,  /* float    */
    DN_COMM_F64 = 4   /* double   */
} dn_comm_type;
typedef enum dn_comm_op { DN_COMM_SUM = 0, DN_COMM_MAX = 1, DN_COMM_MIN = 2 } dn_comm_op;

/* A transport: this process's place in the job and the three collectives,
 * with the semantics of the dn_comm_* functions below. The library calls
 * them only with size > 1, n > 0 and a valid root, always from the thread
 * that calls the trainer. state is passed to each; finish (may be NULL)
 * releases it when the communicator is freed; abort (may be NULL) ends the
 * whole job. An in-process simulation of K workers, a test transport that
 * fails on cue, or another message layer plug in here. */
typedef struct dn_comm_backend {
    int rank, size; /* 0 ≤ rank < size */
    void *state;
    dn_status (*allreduce)(void *state, void *buf, size_t n, dn_comm_type type, dn_comm_op op, dn_error *err);
    dn_status (*broadcast)(void *state, void *buf, size_t n, dn_comm_type type, int root, dn_error *err);
    dn_status (*gather)(void *state, const void *send, size_t n, dn_comm_type type, void *recv, int root,
                        dn_error *err);
    void (*abort)(void *state, int code);
    void (*finish)(void *state);
    /* Optional, all three or none: a non-blocking allreduce (MPI_Iallreduce)
     * that stores its own handle in *request, a test that sets *done (and
     * *request to NULL) once it has completed, a wait until it has. Without
     * them dn_comm_iallreduce runs the blocking allreduce at once. */
    dn_status (*iallreduce)(void *state, void *buf, size_t n, dn_comm_type type, dn_comm_op op, void **request,
                            dn_error *err);
    dn_status (*test)(void *state, void **request, int *done, dn_error *err);
    dn_status (*wait)(void *state, void **request, dn_error *err);
} dn_comm_backend;

/* A communicator over backend (copied; state then belongs to it and is
 * released by finish on dn_comm_free). DN_ERR_USAGE when rank is outside
 * 0 … size − 1 or a job of more than one lacks a collective, DN_ERR_NOMEM;
 * on failure finish is not called (the caller keeps state). */
DN_API dn_comm *dn_comm_create(const dn_comm_backend *backend, dn_error *err);
/* A job of one process (rank 0 of 1) with no transport at all: the
 * collective trainers run on it as a single process, e.g. a sync run of one
 * with its checkpoints; MPI is never initialised. */
DN_API dn_comm *dn_comm_local(dn_error *err);
/* Leaves the job (the backend's finish: MPI_Finalize for MPI, which every
 * rank must reach). Accepts NULL. */
DN_API void dn_comm_free(dn_comm *comm);
/* Ends every process of the job with status code (the backend's abort:
 * MPI_Abort): for a rank that cannot go on while others wait in a
 * collective. The library never calls it itself; it returns without doing
 * anything when the backend has no abort (the local job). */
DN_API void dn_comm_abort(dn_comm *comm, int code);

DN_API int dn_comm_rank(const dn_comm *comm); /* 0 … size − 1 */
DN_API int dn_comm_size(const dn_comm *comm); /* K ≥ 1 */

/* In place on every rank: buf[i] ← op over ranks of buf[i] (MPI_Allreduce).
 * For DN_COMM_F32/F64 sums the order of additions is the transport's choice. */
DN_API dn_status dn_comm_allreduce(dn_comm *comm, void *buf, size_t n, dn_comm_type type, dn_comm_op op, dn_error *err);
/* A collective in flight (dn_comm_iallreduce), in the caller's memory:
 * handle is the backend's, NULL once it has completed (or when nothing was
 * in flight). */
typedef struct dn_comm_request {
    void *handle;
} dn_comm_request;
/* dn_comm_allreduce without waiting for it: buf must stay untouched until
 * dn_comm_test says done or dn_comm_wait returns, when it holds the result.
 * Every rank starts the same non-blocking collectives in the same order;
 * they may complete in any order. Several may be in flight at once (the MPI
 * backend holds up to 64). The job of one, and a backend without
 * iallreduce, complete it before returning. The transport moves it on only
 * inside dn_comm_* calls (MPI has no progress thread by default): calling
 * dn_comm_test while computing lets it go on meanwhile. */
DN_API dn_status dn_comm_iallreduce(dn_comm *comm, void *buf, size_t n, dn_comm_type type, dn_comm_op op,
                                    dn_comm_request *request, dn_error *err);
/* *done = 1 when request has completed (its buffer then holds the result),
 * else 0; moves every collective in flight on. */
DN_API dn_status dn_comm_test(dn_comm *comm, dn_comm_request *request, int *done, dn_error *err);
/* Until request has completed; DN_OK at once when it already had. */
DN_API dn_status dn_comm_wait(dn_comm *comm, dn_comm_request *request, dn_error *err);
/* In place on every rank: buf[i] ← Σ over ranks, added in rank order in
 * double on rank 0 (gather, sum, broadcast). The same bits run after run,
 * whatever algorithms the transport picks: the deterministic reduction. */
DN_API dn_status dn_comm_allreduce_sum_ordered_f32(dn_comm *comm, float *buf, size_t n, dn_error *err);
/* root's buf (n values of type) copied to every rank. */
DN_API dn_status dn_comm_broadcast(dn_comm *comm, void *buf, size_t n, dn_comm_type type, int root, dn_error *err);
/* root's recv gets (size, n) values, rank r's send at row r; recv is not
 * used on other ranks (may be NULL there). */
DN_API dn_status dn_comm_gather(dn_comm *comm, const void *send, size_t n, dn_comm_type type, void *recv, int root,
                                dn_error *err);

/* ---- multi-layer networks across ranks ----
 * Both trainers are collective: every rank calls them in step, each with
 * its own dn_mlp made from the same options (so the same initial weights). */

/* Synchronous data-parallel training, one epoch. Every rank holds the whole
 * training set; the epoch visits it in the order dn_mlp_train_epoch draws
 * from (seed, epoch), in batches of opt.batch. Each batch is cut into K
 * consecutive parts (sizes as dn_shard_size gives), rank r back-propagates
 * part r with the loss gradient scaled by 1/batch (not 1/part), and the
 * gradient is summed over the ranks, so every rank holds the gradient of
 * the whole batch's mean loss and applies the same update. The sums go
 * layer by layer, each started (dn_comm_iallreduce) as soon as its layer's
 * backward is done, layer 0's in blocks of rows, while the layers below
 * compute; each layer's parameters are stepped once its sum is in. K ranks
 * with batch B thus follow one process with batch B within float rounding
 * (bit for bit when K = 1). deterministic: one sum of the whole gradient a
 * step by dn_comm_allreduce_sum_ordered_f32 (rank order on rank 0), the
 * same bits run after run. report (may be NULL) gets the loss and accuracy
 * over all ranks. DN_ERR_NUMERIC on every rank together when any rank's
 * loss or the summed gradient is not finite: a failing rank puts a NaN in
 * the first value of the first sum of the step (the last layer's W[0][0];
 * the buffer's first value when deterministic), which every rank checks
 * before any update.
 *
 * Layer 0 split. With SGD (momentum, Nesterov, weight decay) on the BLAS
 * products, a network with a hidden layer, a batch the small-batch step
 * does not take, and no batch callback on any rank, the ranks cut layer 0
 * by units instead of cutting the batch: rank r computes layer 0's outputs
 * at its units (whole 16-float blocks of the n_1) for the whole batch,
 * one exchange a step gives every rank all of a_1, every rank runs the
 * layers above on the whole batch, and rank r steps its units of W_0 and
 * b_0 from their gradient over the whole batch. With a second hidden
 * layer W_1 is cut by columns too: rank r multiplies its units of a_1 by
 * its columns of W_1, the ranks exchange those partial sums of z_1 (n_2
 * floats a sample) and add them in rank order, and rank r steps its
 * columns of W_1. Nothing else is summed: the
 * trajectory is one process's with batch B (`digitnet mlp --threads 1`,
 * within float rounding of the products cut by units; bit for bit when K
 * = 1), the same bits run after run whether deterministic or not, and
 * the exchange carries n_1 floats a sample (not the gradient's 266 k of
 * 784-300-100-10). One small allreduce a step agrees on the loss before
 * any update (DN_ERR_NUMERIC on every rank together, as above). At the
 * epoch's end every rank's units of W_0, b_0 and their velocity go to all
 * ranks, and rank 0's layers above 0 too, so every rank ends the epoch
 * with the same parameters. The epoch runs on one thread a rank. */
DN_API dn_status dn_mlp_sync_epoch(dn_mlp *mlp, const dn_dataset *train, dn_comm *comm, int deterministic,
                                   dn_mlp_epoch_report *report, dn_error *err);

/* Federated averaging (McMahan et al., AISTATS 2017), one round:
 *   1. rank 0 (the master) broadcasts its network's parameters w_g;
 *   2. every rank (the master too) trains local_epochs epochs of
 *      dn_mlp_train_epoch on its own shard, starting from a fresh optimiser
 *      state (momentum and Adam moments zero), and with the learning rate
 *      the schedule gives at its epochs done (give opt.epochs = rounds ×
 *      local_epochs so the schedule spans the run); with prox_mu > 0 each
 *      local step is FedProx's (below);
 *   3. the master gathers every rank's parameters (a faulty rank sends its
 *      fault applied to a copy: it keeps training honestly) and merges them
 *      with aggregate, the mean weighted by shard sizes, into x̄;
 *   4. when the merge fails — under mean a rank sent a non-finite model, or
 *      a robust rule's result is not finite — the master keeps the model
 *      it broadcast and says why in the report (the server optimiser's
 *      state is then left as it was);
 *   5. otherwise the server optimiser (below) turns Δ = x̄ − w_g into the
 *      new model.
 * On return the master's network holds the new model; the others hold
 * their local models until the next broadcast. A rank whose local training
 * diverges sends NaN. epochs done is (round + 1) × local_epochs on every
 * rank afterwards.
 *
 * FedProx (Li et al., "Federated Optimization in Heterogeneous Networks",
 * MLSys 2020): the local objective gains μ/2 ‖w − w_g‖² over all
 * parameters, weights and biases alike, so each local step's gradient
 * gains μ (w − w_g) before weight decay, momentum or Adam see it (w_g is
 * the model broadcast in step 1; every rank keeps a copy during the round:
 * P more floats). μ = 0 is FedAvg, bit for bit, at no cost.
 *
 * Server optimisers (Reddi et al., "Adaptive Federated Optimization", ICLR
 * 2021; FedAvgM: Hsu et al. 2019), on the master, per coordinate, with
 * η_s = server_lr:
 *   plain     w ← w_g + η_s Δ (η_s = 1: w = x̄, plain FedAvg, bit for bit —
 *             no pass at all);
 *   momentum  v ← β v + Δ,  w ← w_g + η_s v  (β = server_momentum; β = 0
 *             with η_s = 1 is plain FedAvg bit for bit);
 *   adam      m ← β1 m + (1 − β1) Δ,  v ← β2 v + (1 − β2) Δ²,
 *             w ← w_g + η_s m / (√v + τ)  (β1, β2, τ = server_beta1,
 *             server_beta2, server_tau; the paper's defaults 0.9, 0.99,
 *             1e-3). As in the paper's Algorithm 2 there is no bias
 *             correction, and m and v start at 0 (the paper allows
 *             v₋₁ ≥ τ²; τ keeps the quotient finite anyway). In the first
 *             round m = (1 − β1) Δ and √v = √(1 − β2) |Δ|, so every
 *             coordinate moves by less than η_s (1 − β1) / √(1 − β2): η_s
 *             for the defaults (0.1 / 0.1).
 * The state (v, or m and v) is P doubles each, on the master's network
 * only, allocated zeroed on the first round that uses it, freed with the
 * network and saved by dn_mlp_checkpoint_save. The arithmetic is in double
 * as w = x̄ + (η_s u − Δ), u the direction above (Δ, v or m/(√v + τ)),
 * rounded once to float: mathematically w_g + η_s u (the tests find the
 * same floats as computing that directly), and x̄ itself where the
 * correction is 0. A step whose result is not finite keeps the broadcast
 * model (reported as refused; the state keeps its update). */
typedef enum dn_fedavg_server {
    DN_FEDAVG_SERVER_PLAIN = 0,
    DN_FEDAVG_SERVER_MOMENTUM = 1,
    DN_FEDAVG_SERVER_ADAM = 2
} dn_fedavg_server;

/* "plain", "momentum", "adam"; "?" otherwise. Static storage. */
DN_API const char *dn_fedavg_server_name(dn_fedavg_server server);

/* What a straggler does (see "system heterogeneity" below). */
typedef enum dn_straggler_policy {
    DN_STRAGGLER_DROP = 0,   /* its update is discarded (FedAvg's deadline)           */
    DN_STRAGGLER_PARTIAL = 1 /* it trains randint(1, E) epochs and is kept (FedProx's) */
} dn_straggler_policy;

/* "drop", "partial"; "?" otherwise. Static storage. */
DN_API const char *dn_straggler_policy_name(dn_straggler_policy policy);
/* The names above, NULL-terminated, indexed by the enum. */
DN_API const char *const *dn_straggler_policy_choices(void);

typedef struct dn_fedavg_options {
    int local_epochs;               /* E ≥ 1; default 1                         */
    dn_aggregate_options aggregate; /* default dn_aggregate_options_default     */
    dn_fault fault;                 /* what this rank sends instead; default none */
    double prox_mu;                 /* FedProx μ ≥ 0 (finite); default 0: FedAvg */
    dn_fedavg_server server;        /* default DN_FEDAVG_SERVER_PLAIN           */
    double server_lr;               /* η_s > 0 (finite); default 1. For adam
                                       pick about 1e-2 (the CLI's default there):
                                       η_s bounds the first round's move       */
    double server_momentum;         /* momentum: β in [0, 1); default 0         */
    double server_beta1, server_beta2; /* adam: in [0, 1); defaults 0.9, 0.99  */
    double server_tau;              /* adam: τ > 0; default 1e-3                */
    /* System heterogeneity, virtual clients only (dn_fedavg_clients_round;
     * dn_fedavg_round refuses them): see dn_fedavg_plan_round. */
    double stragglers;              /* fraction of each round's sampled clients
                                       that straggle, in [0, 1]; default 0     */
    dn_straggler_policy straggler_policy; /* default DN_STRAGGLER_DROP          */
    double dropout_rate;            /* probability that a sampled client fails
                                       to report, in [0, 1]; default 0         */
    /* Adversaries and defences, virtual clients only (dn_fedavg_round
     * refuses them): see "adversaries in a round" below. */
    dn_attack attack;               /* what malicious clients do; default none */
    double malicious;               /* F in [0, 1): the malicious share of the
                                       K clients; default 0                    */
    dn_detect_options detect;       /* default: none                           */
    const dn_dataset *root;         /* the server's clean root set (FLTrust:
                                       the fltrust rule and detection need it;
                                       read on the master only; not owned);
                                       default NULL                            */
} dn_fedavg_options;

DN_API void dn_fedavg_options_default(dn_fedavg_options *opt);
/* Checks the ranges above (local_epochs, prox_mu and the server's; not
 * aggregate, which needs the job's size: dn_aggregate_options_check).
 * DN_ERR_USAGE naming the option. */
DN_API dn_status dn_fedavg_options_check(const dn_fedavg_options *opt, dn_error *err);
/* What of opt decides the trajectory beyond the defaults, as a run's job
 * description records it (see dn_mlp_run_options.fedavg): "" for plain
 * FedAvg with η_s = 1 and μ = 0, else " prox:MU" when μ > 0, then
 * " server:plain:LR", " server:momentum:BETA:LR" or
 * " server:adam:BETA1:BETA2:TAU:LR" when not plain with η_s = 1, then
 * " stragglers:P:drop" or " stragglers:P:partial" when P > 0,
 * " dropout:Q" when Q > 0, " attack:KIND:F" (KIND as dn_attack_format)
 * when F > 0 and the attack is not none, " detect:METHOD:T:R" when
 * detecting (T the threshold in use), " root:N" with a root set of N — numbers
 * with the fewest digits that read back exactly, e.g.
 * " prox:0.01 server:adam:0.9:0.99:0.001:0.01". Written into buf (size
 * bytes, always terminated, cut if too small). */
DN_API void dn_fedavg_options_describe(const dn_fedavg_options *opt, char *buf, size_t size);

/* Filled on the master (rank 0) only. In dn_fedavg_clients_round a
 * "rank" below is a virtual client: bad_rank and chosen_rank are client
 * ids, and the shards are the sampled clients' sample sets. */
typedef struct dn_fedavg_report {
    int round;             /* 0-based                                              */
    double train_loss;     /* mean local loss of the last local epoch, over all samples */
    size_t samples;        /* Σ shard sizes                                        */
    int refused;           /* 1 when the merge failed and the previous model was kept */
    int bad_rank;          /* under mean: the first rank that sent a non-finite model, else −1 */
    int chosen_rank;       /* krum: the rank whose model was picked, else −1       */
    double seconds;        /* wall time of the round                               */
    char reason[DN_ERROR_MESSAGE_MAX]; /* why the merge failed, "" otherwise        */
    size_t clients_sampled;  /* clients drawn this round (dn_fedavg_round: K ranks) */
    size_t clients_reported; /* of those, the ones whose model was merged      */
    size_t clients_straggling; /* of the sampled, the stragglers (kept or not) */
    size_t clients_dropped_out; /* of the sampled, the ones that failed to report */
    uint64_t bytes_sent;     /* by the master: the model to each sampled client
                                (clients_sampled × parameters × 4)              */
    uint64_t bytes_received; /* by the master: clients_reported × parameters × 4 */
    /* Adversaries (dn_fedavg_clients_round): the simulation's ground truth
     * and detection's verdict over the round's participants, the clients
     * that reported plus the banned ones that would have. */
    size_t malicious;        /* participants that are malicious             */
    size_t flagged;          /* participants left out by detection (banned
                                ones included)                              */
    size_t true_positives;   /* flagged and malicious                       */
    size_t false_positives;  /* flagged and honest                          */
    size_t false_negatives;  /* malicious and not flagged                   */
    size_t banned;           /* participants banned in an earlier round:
                                neither scored nor merged                   */
    size_t scored;           /* clients scored this round (detection on)    */
    const size_t *scored_clients;  /* their ids, ascending (scored of them) */
    const double *scores;          /* their suspicion scores               */
    const unsigned char *flags;    /* 1 where flagged this round           */
    /* The three arrays belong to the network and hold until its next
     * round or dn_mlp_free; NULL when scored is 0. */
} dn_fedavg_report;

/* fault_rng: this rank's generator for DN_FAULT_RANDOM (may be NULL when
 * the fault is not random). report may be NULL. */
DN_API dn_status dn_fedavg_round(dn_mlp *mlp, const dn_dataset *shard, dn_comm *comm, const dn_fedavg_options *opt,
                                 dn_rng *fault_rng, dn_fedavg_report *report, dn_error *err);

/* ---- virtual clients: K clients of a partition on P ranks ----
 * dn_fedavg_clients_round is one round of FedAvg (the steps above) over K
 * virtual clients, the clients of part (see "partitions"), on the P ranks
 * of comm (NULL: one process, P = 1):
 *   1. every rank draws the round's clients itself, with
 *      dn_fedavg_sample_clients(K, client_fraction, seed, round): m =
 *      dn_fedavg_sample_count(K, C) = max(round(C·K), 1) distinct clients
 *      (C in [0, 1]; C = 0 is McMahan et al.'s one client per round), in
 *      ascending id order, from a dn_rng seeded by (seed, round) alone —
 *      the same draw on every rank, so nothing is sent for it; round is
 *      the 0-based round, epochs done / local_epochs on entry;
 *   2. rank 0 broadcasts w_g; the m clients of the draw are cut into P
 *      contiguous blocks (sizes dn_shard_size(m, P, r)) and rank r trains
 *      the clients of block r one after another, each from w_g with a fresh
 *      optimiser state, the epochs done set to round × local_epochs (so the
 *      learning-rate schedule is dn_fedavg_round's), and local_epochs
 *      epochs of dn_mlp_train_epoch on its samples
 *      (dn_partition_client_set of train), shuffled as a network whose
 *      seed is dn_fedavg_client_seed(seed, round, k) — not the network's
 *      own seed, so a client's training is the same on whichever rank runs
 *      it; FedProx (prox_mu) anchors each client at w_g;
 *   3. rank 0 gathers every client's model and merges them with
 *      opt->aggregate in ascending client-id order, the mean weighted by
 *      the client sizes (sums in double), then the server optimiser and
 *      the refusals as in dn_fedavg_round (one shared code path). A client
 *      whose training diverged sends NaN.
 * The report's clients_sampled is m, clients_reported the clients merged;
 * its loss is the size-weighted mean of their last local epoch.
 *
 * System heterogeneity (opt->stragglers, straggler_policy, dropout_rate):
 * before step 2 every rank plans the round with dn_fedavg_plan_round (the
 * same plan everywhere, nothing sent). A client that drops out, or a
 * straggler under DN_STRAGGLER_DROP, is not trained (a simulation need not
 * spend the time) and not merged; a straggler under DN_STRAGGLER_PARTIAL
 * trains its planned randint(1, E) epochs and is merged like the others.
 * The rule merges the clients that report, in ascending id order; when
 * none reports, or too few for the rule (Krum: 2f + 3), the master keeps
 * w_g, the server state is left alone, and the report is refused with the
 * reason ("no client reported: …"). With stragglers = dropout_rate = 0 the
 * round is the one above, bit for bit.
 *
 * P-independence: every client's training depends on (w_g, its samples,
 * seed, round, k) alone and the merge sees the same models in the same
 * order, so for the same network options, partition, C and seed the model
 * after any number of rounds is the same bits for every P ≥ 1
 * (tests/test_dist_trainers.c checks P = 1, 2, 3), provided the network
 * trains with the same thread count everywhere.
 *
 * Threads: with opt.threads T ≥ 2 (0: every core) each rank trains its
 * clients T at a time, each on one thread and its own copy of the network
 * (T − 1 copies, made on the first such round and owned by mlp), which
 * gives the models of one thread, bit for bit. Not while mlp has a batch
 * callback or a profile, or trains with EMA or augmentation: then the
 * clients take turns, each step on T threads.
 *
 * Memory: the master holds P·⌈m/P⌉ ≤ m + P − 1 models (the gather
 * buffer), other ranks ⌈m/P⌉ models and a copy of w_g; one client's
 * samples are copied out at a time. Nothing grows with K beyond the
 * partition itself and the m ids of the draw.
 *
 * Adversaries in a round (opt->attack, malicious, detect, root): the
 * malicious clients are dn_malicious_clients(K, F, seed) — the round's
 * seed, so the set is the run's. A sampled malicious client trains as the
 * attack says (label-flip: on flipped labels, else honestly); on the
 * master, once the reporting clients' models are gathered, their rows
 * become what they send (dn_attack_models, its random draws seeded by
 * (seed, round)). With a root set the master then trains its own model on
 * it, from w_g like a client (seeded by (seed, round) and a tag) and for
 * as many steps as a client of average size n̄ = n / K takes (Cao et al.
 * give the server the clients' local iterations): E · round(n̄ / N)
 * epochs over the N root samples, at least E; that model is the fltrust
 * rule's and detection's reference. Detection (opt->detect.method) scores the
 * reporting clients (dn_detect_scores, Krum's f from opt->aggregate),
 * flags those above the threshold and merges the others with the rule;
 * with reputation R each flag is counted per client, on the network (saved
 * in checkpoints as "client_flags"), and a client flagged in R rounds is
 * banned for the rest of the run: when sampled, it is left out before
 * scoring (the master does not train it; other ranks may, unused). When
 * every participant is flagged, or too few are left for the rule, the
 * round is refused and w_g kept. With F = 0 or attack none nothing is
 * attacked, and with detection none nothing is scored: the round is the
 * one above, bit for bit.
 *
 * opt->fault must be DN_FAULT_NONE (faults are per rank); the rule is
 * checked for m models (Krum needs m ≥ 2f + 3). train must hold at least
 * the samples the partition covers. DN_ERR_USAGE for a bad C, fault or
 * rule; otherwise as dn_fedavg_round. */
DN_API dn_status dn_fedavg_clients_round(dn_mlp *mlp, const dn_dataset *train, const dn_partition *part, dn_comm *comm,
                                         const dn_fedavg_options *opt, double client_fraction, uint64_t seed,
                                         dn_fedavg_report *report, dn_error *err);
/* m = max(round(C·K), 1) (round half up), at most K; 0 when K = 0. */
DN_API size_t dn_fedavg_sample_count(size_t clients, double fraction);
/* The round's draw: m = dn_fedavg_sample_count(clients, fraction) distinct
 * ids in [0, K) written to out (room for m) in ascending order; returns m.
 * Knuth's selection sampling (Algorithm S) over a dn_rng seeded by a hash
 * of (seed, round): every m-subset equally likely, the same draw for the
 * same (K, C, seed, round) on every machine. */
DN_API size_t dn_fedavg_sample_clients(size_t clients, double fraction, uint64_t seed, int round, size_t *out);
/* The round's plan for the m clients of draw (dn_fedavg_sample_clients's,
 * same seed and round): epochs[i] gets the local epochs client draw[i]
 * trains and reports, 0 when it does not report. Seeded by (seed, round)
 * alone, so every rank and every P finds the same plan:
 *   - s = round(P·m) of the m (half up; P = opt->stragglers) are
 *     stragglers, drawn by selection sampling (each s-subset equally
 *     likely); under DN_STRAGGLER_DROP they get 0, under
 *     DN_STRAGGLER_PARTIAL a uniform draw from 1 … E (E = local_epochs);
 *   - each client independently drops out with probability Q
 *     (dropout_rate), whatever else it is: 0;
 *   - every other client gets E.
 * *stragglers and *dropped_out (either may be NULL) get the counts;
 * returns the number of clients with epochs > 0. */
DN_API size_t dn_fedavg_plan_round(const dn_fedavg_options *opt, const size_t *draw, size_t m, uint64_t seed,
                                   int round, int *epochs, size_t *stragglers, size_t *dropped_out);
/* The shuffling seed of client k in round (a hash of seed, round, k). */
DN_API uint64_t dn_fedavg_client_seed(uint64_t seed, int round, size_t client);

/* ---------------------------------------- a training run across the ranks */

/* What the library's distributed loops (dn_pta_run_train, dn_mlp_run_*)
 * need to know about the job besides the model: the communicator, how the
 * training samples are split, which rank misbehaves (to test the merge
 * rules) and the job's description that checkpoints record.
 *
 * Shards: rank r of K trains on its dn_dataset_shard of the run's n
 * samples (mode shard, seed shard_seed), or with DN_SHARD_REPLICATE on all
 * n — K identical workers, for comparing K ranks with one. Fault: rank fault_rank
 * sends fault applied to a copy of its model every epoch or round and
 * trains honestly; its draws (DN_FAULT_RANDOM) come from a generator
 * seeded per rank that the checkpoints save, so a resumed job draws what an
 * uninterrupted one would. */
typedef struct dn_dist_options {
    dn_comm *comm;        /* NULL: one process (default)                        */
    dn_shard_mode shard;  /* default DN_SHARD_CONTIGUOUS                         */
    uint64_t shard_seed;  /* the random split's seed; default 1                  */
    int fault_rank;       /* −1 (default): every rank honest; else < K            */
    dn_fault fault;       /* what fault_rank sends; default DN_FAULT_NONE        */
    const char *job;      /* the job's description in checkpoints, compared verbatim
                             on resume (see "checkpoints"); NULL (default): the loop's mode, "mix", "sync"
                             or "fedavg"                                       */
} dn_dist_options;

/* Fills *opt with the defaults listed above. */
DN_API void dn_dist_options_default(dn_dist_options *opt);

/* A job's description as checkpoints record it (see dn_dist_options.job):
 * mode, then the split and the fault when they are not the defaults —
 * " shard:replicate", " shard:random:SEED", " fault:RANK:FAULT" (FAULT as
 * dn_fault_format writes it) — e.g. "fedavg shard:random:7 fault:2:random".
 * Written into buf (size bytes, always terminated, cut if too small; 96
 * bytes hold every description a checkpoint can store). opt->job and
 * opt->comm are not read. */
DN_API void dn_dist_options_describe(const dn_dist_options *opt, const char *mode, char *buf, size_t size);

/* ------------------------------------------------------------ checkpoints */

/* A checkpoint holds all a trainer needs to go on as if it had never
 * stopped: a run resumed from one ends with the same model, bit for bit, as
 * a run that went straight through (same data, options and machine; for a
 * network, when the run is deterministic). One save / load pair per model
 * kind, dn_pta_checkpoint_* and dn_mlp_checkpoint_*, each taking an
 * optional communicator (comm): NULL for a single process, else the job
 * whose ranks call the pair together.
 *
 * File: safetensors, as models are (see "models"), written atomically (see
 * dn_write_file_atomic: temporary file, fsync, rename), so a run killed at
 * any moment leaves the previous checkpoint or the new one, never a torn
 * file; a failed save (disk full: DN_ERR_IO; read-only folder) leaves the
 * previous file untouched. Metadata "format" = "digitnet",
 * "format_version" = "1" and "kind", which names the model kind and
 * whether a job wrote it: "pta-checkpoint", "pta-distributed-checkpoint",
 * "mlp-distributed-checkpoint". A load names the kind it wants; a file of
 * another kind, a model or no checkpoint at all is refused with
 * DN_ERR_INPUT naming the file and the kind found. Loading checks all a
 * model load checks (offsets, CRC) plus every value's range and the
 * state's consistency: an edited file is refused with a message naming the
 * key, never half-trusted.
 *
 * With comm, save and load are collective: every rank of the job calls
 * them, with the same path and mode. Only rank 0 touches the file, so only
 * rank 0 needs to see it (a cluster without a shared folder resumes too).
 * A save gathers every rank's fault generator (rng; may be NULL when
 * unused: saved as zeros) to rank 0, which writes; every rank returns the
 * status of the write. A load has rank 0 read and check the file, then
 * broadcasts the state, so every rank ends in the same state with its own
 * row of the generators in *rng (may be NULL); on failure every rank
 * returns the failure, rank 0's status and message on every rank when the
 * file is at fault.
 *
 * mode (with comm) describes how the job runs: "sync", "fedavg", "mix", or
 * more (the CLI appends the split and the fault when they are not the
 * defaults, as dn_dist_options_describe writes: "fedavg shard:random:7
 * fault:2:random"); at most 95 characters. The file records it as "mode",
 * the job's size as "ranks" (K) and the generators as the tensor "rng" U8
 * (K, 32): rank r's dn_rng as four little-endian u64 in row r. A resume
 * must name the same mode, compared verbatim, in a job of the same size: a
 * job resumed with other flags would not end where the uninterrupted one
 * does, so it is refused (DN_ERR_INPUT naming the file and both values). */

/* ---- the perceptron's checkpoints ----
 * comm NULL: a single process's trainer, kind "pta-checkpoint". mode and
 * rng must then be NULL (DN_ERR_USAGE otherwise: there is no job to
 * describe and no rank's generator to keep).
 * comm given: a job that mixes (`pta --distributed mix`), kind
 * "pta-distributed-checkpoint"; mode NULL means "mix". After every mix all
 * ranks hold the same W, so rank 0's trainer and curve are the job's, and
 * a load gives every rank that trainer and curve.
 * The kinds are not interchangeable: a single-process load (comm NULL)
 * refuses the distributed kind, a collective one the pta-checkpoint.
 *
 * Both kinds hold, in the metadata, the options ("precision"
 * float|double, "train_size", "eta", "epsilon", "max_epochs", "seed",
 * "average" 0|1, "threads"), "epochs_done", "steps" (update steps since W
 * was last set) and "data_crc32" (8 hex digits); tensors "W" (10, 784) F32
 * or F64, as trained; "avg_acc" (10, 784) F64, only when averaging
 * (Σ (s − 1) Δ_s, so the average is W − avg_acc/steps); "errors" and
 * "seconds" (epochs_done) F64, the curve so far, absent when no curve was
 * given. The distributed kind adds "mode" and "ranks" to the metadata and
 * the tensor "rng" (see above). */

/* The curve of a run: errors[e] (count-pass errors) and seconds[e] (wall
 * time) of each epoch e < epochs. */
typedef struct dn_pta_curve {
    int epochs;
    size_t *errors;
    double *seconds;
} dn_pta_curve;

/* Frees the arrays of a curve filled by dn_pta_checkpoint_load and empties
 * it (the struct itself is the caller's). Accepts NULL. */
DN_API void dn_pta_curve_free(dn_pta_curve *curve);

/* Saves the exact state of pta to path (with comm: rank 0's pta and curve,
 * and every rank's rng). curve may be NULL (or hold 0 epochs); otherwise
 * curve->epochs must equal dn_pta_epochs_done(pta) (DN_ERR_USAGE).
 * data_crc32 is recorded as is (dn_dataset_crc32 of the first train_size
 * training samples, so a resume can check it has the same data; or 0). */
DN_API dn_status dn_pta_checkpoint_save(const dn_pta *pta, dn_comm *comm, const dn_pta_curve *curve, uint32_t data_crc32,
                                        const char *path, const char *mode, const dn_rng *rng, dn_error *err);

/* A new trainer in exactly the state saved in path (free with
 * dn_pta_free); with comm, every rank returns its own, all in the saved
 * state. The file must be of this call's kind and, with comm, of this mode
 * and this number of ranks (DN_ERR_INPUT, see above). When expect is not
 * NULL, the options that decide the result (train_size, eta, epsilon,
 * seed, precision, average) must then equal the checkpoint's —
 * DN_ERR_USAGE naming the option and both values otherwise — and
 * max_epochs and threads are taken from expect. curve (may be NULL) gets
 * the saved curve, to free with dn_pta_curve_free; data_crc32 (may be
 * NULL) the recorded CRC; with comm, rng (may be NULL) this rank's row of
 * the generators. On failure NULL (on every rank with comm), curve empty,
 * and err says why.
 *
 * dn_pta_train goes on to max_epochs epochs in all; train no further when
 * the last epoch of the curve already met ε — or let dn_pta_run_train
 * resume and count (see "the perceptron's training run"). */
DN_API dn_pta *dn_pta_checkpoint_load(dn_comm *comm, const char *path, const char *mode, const dn_pta_options *expect,
                                      dn_pta_curve *curve, uint32_t *data_crc32, dn_rng *rng, dn_error *err);

/* ---- the network's checkpoints ----
 * One kind, "mlp-distributed-checkpoint", with or without comm: comm NULL
 * runs the pair as a job of one (a dn_comm_local made and freed inside;
 * MPI is never initialised), so a single process's file is that of a job
 * of one rank. mode NULL means "sync".
 *
 * The file holds, in the metadata, "mode", "ranks", the network ("hidden"
 * the hidden layers' sizes, "params" the parameter count, "seed"),
 * "epochs_done", "train_size" and "adam_t" (the optimiser's step count);
 * tensors "params" F32 (P), the optimiser state "moment1" / "moment2" F32
 * (P) when the optimiser has them (momentum / Adam moments; sync only,
 * since fedavg starts every round afresh), the fedavg server optimiser's
 * state "server_moment1" (FedAvgM's v or FedAdam's m) / "server_moment2"
 * (FedAdam's v) F64 (P) when rank 0 has them (see dn_fedavg_round),
 * "client_flags" I64 (K) when rank 0 counts detection's flags per virtual
 * client for a reputation (see dn_fedavg_clients_round), and "rng" (see
 * above). A file without the server tensors (an older one, or
 * plain FedAvg) loads with no server state, which a run that needs one
 * starts at zero; the job description tells the settings apart.
 *
 * Save: mlp is the network of this rank (rank 0's is written). Load: into
 * mlp, created with the checkpoint's network options on every rank; rank 0
 * checks the file (the same mode, size and network, or DN_ERR_INPUT saying
 * which differs) and every rank's mlp gets the parameters, the optimiser
 * state and the counts; the server state stays on rank 0, its only user. Resuming gives the same bits as never stopping
 * when the run is deterministic (one process, or deterministic sums). */
DN_API dn_status dn_mlp_checkpoint_save(dn_mlp *mlp, dn_comm *comm, const char *path, const char *mode,
                                        const dn_rng *rng, dn_error *err);
DN_API dn_status dn_mlp_checkpoint_load(dn_mlp *mlp, dn_comm *comm, const char *path, const char *mode, dn_rng *rng,
                                        dn_error *err);

/* ------------------------------------------ the perceptron's training run */

/* One loop for every perceptron run: local or across the ranks of a job,
 * fresh or resumed from a checkpoint. It owns the curve, the checkpoints
 * and the epoch cap, so a program gets the same run `digitnet pta` makes.
 *
 * Local (dist.comm NULL): each epoch is dn_pta_epoch on the first n =
 * pta.train_size samples of train (dn_pta_train is this run on a trainer
 * the caller made).
 *
 * Parameter mixing (dist.comm given; McDonald, Hall & Mann, NAACL 2010): every
 * rank runs one epoch (count pass, then update pass) on its shard of the
 * first n samples, starting from the common W; then W is averaged over the
 * ranks with one allreduce in float64 and every rank goes on from the mean.
 * All count passes saw the same W, so the sum of the shard errors is the
 * error count of that W on all n samples: the ε stop and the curve are
 * global. With one rank the mix is the identity and the run is plain PTA.
 * The allreduce carries W, the errors and each rank's failure flags in one
 * buffer, so all ranks leave it knowing the same things. Summing K floats
 * in float64 is exact unless the values span more than 29 − log2 K binary
 * orders of magnitude, so the mean of a float32 W does not depend on MPI's
 * order of additions. A mix in which some rank's W is not finite is
 * refused (a mean lets one NaN poison all of W): every rank keeps the last
 * good mean and the epoch's report says which ranks sent it. The averaged
 * perceptron (pta.average) is refused when mixing: mixing replaces W
 * between epochs, so no trainer's steps describe the mixed history.
 *
 * Checkpoints (policy below): with a path, the exact state is saved
 * (dn_pta_checkpoint_save, given dist.comm when mixing: collective, rank 0
 * writes) after every `every`-th epoch of the run and at
 * its end. With resume, the trainer and its curve are loaded from that file
 * instead of created: the options that decide W must be the checkpoint's,
 * and so must the data (the CRC-32 of the first n samples is recorded);
 * max_epochs counts the epochs before the checkpoint too, and a finished
 * checkpoint (cap reached or ε met) resumes to the same result without
 * training. A resumed run ends with the W, curve and result of a run that
 * never stopped. init_weights is ignored on resume: the checkpoint holds W.
 * When mixing, the file also holds every rank's fault generator and
 * resumes only a job of the same description (job) and size. */

typedef struct dn_checkpoint_policy {
    const char *path;   /* save here, or NULL: no checkpoints           */
    int every;          /* ≥ 1: save after epochs every, 2·every, …; default 1 */
    const char *resume; /* resume from this checkpoint, or NULL: fresh    */
} dn_checkpoint_policy;

/* What the loop tells after each epoch. */
typedef struct dn_pta_run_report {
    int epoch;         /* 0-based over the whole run, resumed epochs included */
    size_t errors;     /* count-pass errors of the first n (all ranks' together) */
    size_t n;
    double seconds;    /* wall time of the epoch, the mix included            */
    int rank;          /* this process's rank, 0 when local                   */
    int mix_refused;   /* 1 when a non-finite W was sent and the mix refused  */
    char bad_ranks[256]; /* then the ranks that sent one, "1" or "0, 2" ("none
                            alone (the sum overflowed)" when none did alone)  */
} dn_pta_run_report;

/* Called after every epoch, once its checkpoint (when due) is written;
 * return non-zero to stop: the run ends there as at its cap, its last
 * checkpoint written, so resuming it later goes on from that epoch. When
 * mixing, every rank must return the same (the next epoch is collective). */
typedef int (*dn_pta_run_epoch_fn)(const dn_pta_run_report *report, void *user);

typedef struct dn_pta_run_options {
    dn_pta_options pta;          /* the trainer's options (dn_pta_options_default) */
    const char *init_weights;    /* .npy file of a (10, 784) W to start from, or NULL: the seed's W */
    dn_checkpoint_policy checkpoint; /* default: none                  */
    dn_pta_run_epoch_fn on_epoch; /* may be NULL                           */
    void *user;                  /* passed to on_epoch                     */
    dn_dist_options dist;        /* dist.comm NULL (default): a local run; else
                                    parameter mixing over the job          */
} dn_pta_run_options;

/* Fills *opt with the defaults listed above (pta as dn_pta_options_default,
 * dist as dn_dist_options_default). */
DN_API void dn_pta_run_options_default(dn_pta_run_options *opt);

/* Why a resume was refused, for a caller that words it its own way. */
typedef enum dn_pta_resume_refusal {
    DN_PTA_RESUME_ACCEPTED = 0,
    DN_PTA_RESUME_NO_CURVE = 1,        /* the checkpoint holds no curve             */
    DN_PTA_RESUME_OTHER_DATA = 2,      /* this process's data differs (see the CRCs) */
    DN_PTA_RESUME_OTHER_RANK_DATA = 3  /* another rank's data differs               */
} dn_pta_resume_refusal;

/* A run's outcome. Zero it before dn_pta_run_train; free with dn_pta_run_free. */
typedef struct dn_pta_run {
    dn_pta *pta;          /* the trained perceptron (owned; NULL when none was made) */
    dn_pta_curve curve;   /* every epoch of the run, resumed ones included (owned) */
    dn_pta_result result; /* of the whole run: epochs = curve.epochs              */
    double seconds;       /* wall time of this call's epochs                      */
    uint32_t data_crc32;  /* of the first n samples (only with a checkpoint policy) */
    uint32_t checkpoint_crc32;    /* the resumed checkpoint's recorded CRC        */
    dn_pta_resume_refusal refusal; /* set when a resume was refused              */
    int collective_error; /* 1 when the error is the same on every rank (a
                             checkpoint load or save): report it once        */
    dn_rng fault_rng;     /* this rank's fault generator (saved in checkpoints) */
} dn_pta_run;

/* Trains as described above: checks the options (also every ≥ 1, the
 * fault rank within the job, no averaging when mixing), loads this rank's
 * shard, resumes or creates the trainer (init_weights: DN_ERR_INPUT when
 * the file is not a (10, 784) array), runs the epochs and saves the
 * checkpoints. Collective when comm is given: every rank calls it with the
 * same options and data. On failure run holds what was made so far (free
 * it all the same); DN_ERR_USAGE for bad options or a refused resume,
 * DN_ERR_INPUT or DN_ERR_IO for the files, DN_ERR_NOMEM, DN_ERR_MPI. */
DN_API dn_status dn_pta_run_train(const dn_pta_run_options *opt, const dn_dataset *train, dn_pta_run *run, dn_error *err);

/* Frees the trainer and the curve and zeroes run. Accepts NULL. */
DN_API void dn_pta_run_free(dn_pta_run *run);

/* ------------------------------------------------ the network's training run */

/* One loop for every multi-layer network run with checkpoints: a single
 * process or the ranks of a job, fresh or resumed, by epochs (sync) or
 * rounds (fedavg).
 *
 *   sync    each step is one dn_mlp_sync_epoch on the first n samples
 *           (n = train->count: pass a view); without a communicator
 *           (dist.comm NULL: a job of one on dn_comm_local, MPI never
 *           initialised) it is dn_mlp_train_epoch, whose threads split each
 *           layer — the same bits with one thread, the same within float
 *           rounding with more: dn_mlp_train is this run. Steps: opt.epochs of
 *           the network's options.
 *   fedavg  each step is one dn_fedavg_round on this rank's shard of the n
 *           samples (see dn_dist_options), or with clients one
 *           dn_fedavg_clients_round over the partition's virtual clients
 *           (see dn_mlp_run_options.clients); rounds steps.
 *
 * Checkpoints: with checkpoint.path, dn_mlp_checkpoint_save (rank 0
 * writes, every rank returns the outcome) after every every-th step, after
 * the last one and when on_step stops the run. With checkpoint.resume,
 * dn_mlp_run_resume loads the network (dn_mlp_checkpoint_load) before
 * training: the steps already done count towards the total, so a run
 * stopped and resumed ends with the network of a run that never stopped
 * (bit for bit when the run is deterministic: one process, or
 * deterministic sums). The file records job and the number of ranks, and
 * a resume must match both.
 *
 * Usage: create (mlp from dn_mlp_create with the run's options, the same on
 * every rank), resume, train, free. */

typedef enum dn_mlp_run_mode { DN_MLP_RUN_SYNC = 0, DN_MLP_RUN_FEDAVG = 1 } dn_mlp_run_mode;

/* "sync", "fedavg" (the CLI's --distributed modes, and the job description
 * of a run whose dist.job is NULL); "?" otherwise. Static storage. */
DN_API const char *dn_mlp_run_mode_name(dn_mlp_run_mode mode);
/* Those names, NULL-terminated, entry i naming the mode i. Static storage. */
DN_API const char *const *dn_mlp_run_mode_choices(void);

/* What the loop tells after each step. */
typedef struct dn_mlp_run_report {
    int step;                         /* 1-based, resumed steps included           */
    int rank;                         /* this process's rank, 0 when local          */
    const dn_mlp_epoch_report *epoch; /* sync: the epoch (every rank), else NULL    */
    const dn_fedavg_report *round;    /* fedavg: the round (filled on rank 0), else NULL */
    const dn_mlp_selection *selection; /* with a validation set, after this epoch; else NULL */
} dn_mlp_run_report;

/* Called after every step, once its checkpoint (when due) is written;
 * return non-zero to stop (every rank alike when distributed). */
typedef int (*dn_mlp_run_fn)(const dn_mlp_run_report *report, void *user);

typedef struct dn_mlp_run_options {
    dn_mlp_run_mode mode;         /* default DN_MLP_RUN_SYNC                      */
    int deterministic;            /* sync: rank-order sums; default 0            */
    int rounds;                   /* fedavg: R ≥ 1; default 10                   */
    dn_fedavg_options fedavg;     /* fedavg: local epochs, aggregation, FedProx
                                     and the server optimiser (its fault is
                                     ignored: see fault_rank); default as
                                     dn_fedavg_options_default. The job
                                     description the checkpoints record is
                                     dist.job (or "fedavg") followed by
                                     dn_fedavg_options_describe, so a resume
                                     with other FedProx or server settings is
                                     refused                                    */
    dn_checkpoint_policy checkpoint; /* default: none                           */
    dn_mlp_run_fn on_step;        /* may be NULL                                 */
    void *user;                   /* passed to on_step                           */
    dn_dist_options dist;         /* dist.comm NULL (default): one process, without
                                     MPI; the shards and the fault apply to fedavg
                                     without clients                             */
    /* fedavg over virtual clients: with clients (not owned: it must outlive
     * the run; NULL, the default: one client per rank, dn_fedavg_round)
     * every round is dn_fedavg_clients_round(mlp, train, clients, comm,
     * &fedavg, client_fraction, client_seed) on the caller's whole set
     * (train must hold the samples the partition covers; dist.shard is not
     * used, and dist.fault_rank must be −1). The round comes from the epochs
     * done and the draw from (client_seed, round), so a resumed run draws
     * what an uninterrupted one would; the job description gains
     * " clients:K:SPEC:PSEED C:FRACTION seed:SEED" (the partition's K, spec
     * and seed as dn_partition_format and the partition record them, the
     * numbers in the fewest digits that read back), so a resume with other
     * clients, fraction or seed is refused. */
    const dn_partition *clients;  /* default NULL                                 */
    double client_fraction;       /* C in [0, 1]; default 1                       */
    uint64_t client_seed;         /* the draws' and shuffles' seed; default 1     */
    /* sync without a communicator: after each epoch, dn_mlp_select_epoch on
     * this set (before the checkpoint, which keeps its state); the run stops
     * when patience says so, and ends with dn_mlp_restore_best. Not owned.
     * keep_best or patience without it: DN_ERR_USAGE. */
    const dn_dataset *validation; /* default NULL                                 */
} dn_mlp_run_options;

/* Fills *opt with the defaults listed above. */
DN_API void dn_mlp_run_options_default(dn_mlp_run_options *opt);

typedef struct dn_mlp_run dn_mlp_run; /* a run in progress (opaque) */

/* A run of mlp (not owned: it must outlive the run) on train with opt
 * (copied; the strings and dist.comm must outlive the run). Not collective.
 * DN_ERR_USAGE for bad options (every ≥ 1, rounds ≥ 1, the fault rank
 * within the job, fedavg's as dn_fedavg_options_check says; with clients:
 * mode fedavg, C in [0, 1], no fault rank, train holding the partition's
 * n samples; a job
 * description longer than the 95 characters a checkpoint stores when there
 * is a checkpoint policy), DN_ERR_NOMEM. */
DN_API dn_mlp_run *dn_mlp_run_create(dn_mlp *mlp, const dn_mlp_run_options *opt, const dn_dataset *train, dn_error *err);
/* Loads checkpoint.resume into the network (nothing when NULL). Collective;
 * a failure is the same on every rank. */
DN_API dn_status dn_mlp_run_resume(dn_mlp_run *run, dn_error *err);
/* Steps until the total, or until on_step stops it; saves as above.
 * Collective. A failed save stops the run, the same on every rank. */
DN_API dn_status dn_mlp_run_train(dn_mlp_run *run, dn_error *err);
/* Steps done so far (resumed ones included) and the run's total. */
DN_API int dn_mlp_run_steps_done(const dn_mlp_run *run);
DN_API int dn_mlp_run_steps_total(const dn_mlp_run *run);
/* 1 when the last error was the same on every rank (a checkpoint load or
 * save), so it may be reported once. */
DN_API int dn_mlp_run_failed_alike(const dn_mlp_run *run);
/* Frees the run (not the network). Accepts NULL. */
DN_API void dn_mlp_run_free(dn_mlp_run *run);

#ifdef __cplusplus
}
#endif
#endif /* DIGITNET_H */
