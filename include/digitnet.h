/*
 * digitnet.h — the public interface of libdigitnet.
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

#define DN_VERSION "0.1.0"
#define DN_IMAGE_SIDE 28
#define DN_IMAGE_PIXELS 784 /* DN_IMAGE_SIDE² */
#define DN_CLASSES 10

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
const char *dn_status_name(dn_status code);

/* Writes size bytes to path so that a crash never leaves a torn file: a
 * temporary file in the same folder, fsync, rename over path, fsync of the
 * folder. On failure the previous file at path is untouched. */
dn_status dn_write_file_atomic(const char *path, const void *data, size_t size, dn_error *err);

/* ------------------------------------------------------------ random numbers */

/* A small, explicit random generator (xoshiro256** seeded by splitmix64).
 * Same seed → same sequence on every machine. */
typedef struct dn_rng {
    uint64_t s[4];
} dn_rng;

void dn_rng_seed(dn_rng *rng, uint64_t seed);
uint64_t dn_rng_next(dn_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double dn_rng_uniform(dn_rng *rng);
/* Uniform integer in [0, bound), bound > 0, without modulo bias. */
uint64_t dn_rng_below(dn_rng *rng, uint64_t bound);
/* Standard normal (Box–Muller). */
double dn_rng_normal(dn_rng *rng);

/* ------------------------------------------------------------------ data */

/* A labelled image set. images: (count, 784) uint8, row-major, never
 * expanded to floats; labels: (count) values 0–9.
 * A set from dn_dataset_load / dn_mnist_load owns both buffers and goes
 * back through dn_dataset_free. A view from dn_dataset_view borrows its
 * parent's buffers: it is a plain value, never freed. */
typedef struct dn_dataset {
    size_t count;
    uint8_t *images;
    uint8_t *labels;
    int owns_buffers;
} dn_dataset;

/* Reads an IDX image file (magic 0x00000803, 28×28) and its IDX label file
 * (magic 0x00000801). A path ending in ".gz" is read through zlib, any
 * other path as raw IDX. Strict: magic and type code, dimensions, the exact
 * file length, equal counts, labels 0–9; sizes are checked before any
 * allocation, and decompression never produces more than the header
 * declares. At most DN_DATASET_MAX_COUNT images. */
#define DN_DATASET_MAX_COUNT 1000000u
dn_dataset *dn_dataset_load(const char *images_path, const char *labels_path, dn_error *err);

/* Loads one split of an MNIST-format folder. split is "train" or "t10k".
 * Looks for <split>-images-idx3-ubyte and <split>-labels-idx1-ubyte, each
 * also as <split>-images.idx3-ubyte (the common spelling) and each raw or
 * with ".gz" appended; the first that exists is read. */
dn_dataset *dn_mnist_load(const char *dir, const char *split, dn_error *err);

void dn_dataset_free(dn_dataset *set);

/* The samples [first, first + count) of set, borrowing its buffers.
 * first + count must not exceed set->count (checked: count is clipped). */
dn_dataset dn_dataset_view(const dn_dataset *set, size_t first, size_t count);

/* CRC-32 (zlib's polynomial) of the images and then the labels of set:
 * recorded in saved models so a model says which data it was trained on. */
uint32_t dn_dataset_crc32(const dn_dataset *set);

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

typedef struct dn_pta_options {
    size_t train_size;      /* n: the first n samples are used; default 60000  */
    double eta;             /* η > 0, finite; default 1                        */
    double epsilon;         /* ε in [0, 1]; default 0                          */
    int max_epochs;         /* ≥ 1; default 100                                */
    uint64_t seed;          /* initial W uniform in [0,1) from this; default 1 */
    dn_precision precision; /* default DN_FLOAT32                              */
    int average;            /* also keep the averaged W; default 0             */
    int threads;            /* worker threads, ≥ 1; default 1                  */
} dn_pta_options;

/* Fills *opt with the defaults listed above. */
void dn_pta_options_default(dn_pta_options *opt);

/* Checks every field, and train_size against the data size when
 * available > 0; the message states the valid range. */
dn_status dn_pta_options_check(const dn_pta_options *opt, size_t available, dn_error *err);

typedef struct dn_pta dn_pta; /* a perceptron being trained (opaque) */

/* Creates a trainer with W drawn uniform in [0,1) from opt->seed. */
dn_pta *dn_pta_create(const dn_pta_options *opt, dn_error *err);
void dn_pta_free(dn_pta *pta);

/* W as (10, 784) float64, row-major: copy out / replace. Replacing W also
 * restarts the average (if kept) and the step counter. */
void dn_pta_get_weights(const dn_pta *pta, double *w_out);
void dn_pta_set_weights(dn_pta *pta, const double *w);
/* The averaged W, (10, 784). Returns DN_ERR_USAGE when average was off or
 * no step has been taken yet. */
dn_status dn_pta_get_average(const dn_pta *pta, double *w_out, dn_error *err);

/* Count pass alone: misclassifications among the first n of set with the
 * current W (n ≤ set->count). */
size_t dn_pta_count_errors(const dn_pta *pta, const dn_dataset *set, size_t n);

/* One epoch: count pass then update pass over the first n samples of set.
 * Returns the count-pass errors; epochs_done() grows by one. */
size_t dn_pta_epoch(dn_pta *pta, const dn_dataset *set, size_t n);

/* Epochs completed so far. */
int dn_pta_epochs_done(const dn_pta *pta);

typedef struct dn_pta_epoch_report {
    int epoch;       /* 0-based index of the epoch whose count pass this is */
    size_t errors;   /* misclassifications of the first n with W at its start */
    size_t n;
    double seconds;  /* wall time of this epoch (count + update) */
} dn_pta_epoch_report;

/* Called after each epoch; return non-zero to stop early. */
typedef int (*dn_pta_epoch_fn)(const dn_pta_epoch_report *report, void *user);

typedef struct dn_pta_result {
    int epochs;          /* epochs run                                       */
    int converged;       /* 1 when errors/n ≤ ε was reached                  */
    size_t final_errors; /* errors of the last count pass                    */
} dn_pta_result;

/* The full loop on train (n = opt->train_size from the options given at
 * creation), calling on_epoch after every epoch (may be NULL). */
dn_status dn_pta_train(dn_pta *pta, const dn_dataset *train, dn_pta_epoch_fn on_epoch, void *user,
                       dn_pta_result *result, dn_error *err);

/* The options the trainer was created with. */
const dn_pta_options *dn_pta_get_options(const dn_pta *pta);

/* ------------------------------------------------------------ linear algebra */

/* Predicts with any (10, 784) float64 W: argmax of W x for each image,
 * lowest index on ties. predicted has room for count labels. */
void dn_linear_predict(const double *w, const uint8_t *images, size_t count, uint8_t *predicted);

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
dn_model *dn_model_from_pta(const dn_pta *pta, int use_average, uint32_t data_crc32, dn_error *err);

dn_model *dn_model_load(const char *path, dn_error *err);
/* Writes atomically: a temporary file in the same folder, fsync, rename,
 * fsync of the folder. On failure the previous file is left untouched. */
dn_status dn_model_save(const dn_model *model, const char *path, dn_error *err);
void dn_model_free(dn_model *model);

dn_model_kind dn_model_get_kind(const dn_model *model);
/* "perceptron" or "mlp". */
const char *dn_model_kind_name(const dn_model *model);

/* Metadata value for key, or NULL. Owned by the model. */
const char *dn_model_meta(const dn_model *model, const char *key);
/* Number of metadata entries and the i-th key (for listing). */
size_t dn_model_meta_count(const dn_model *model);
const char *dn_model_meta_key(const dn_model *model, size_t i);

/* The (10, 784) float64 W a perceptron model predicts with, or NULL for
 * other kinds. Owned by the model. */
const double *dn_model_perceptron_weights(const dn_model *model);

/* Classifies count images. predicted gets the argmax class of each; scores,
 * when not NULL, gets (count, 10) values: softmax probabilities for an MLP,
 * raw W x for a perceptron. */
dn_status dn_model_classify(const dn_model *model, const uint8_t *images, size_t count, uint8_t *predicted,
                            float *scores, dn_error *err);

/* Confusion matrix: confusion[true][predicted] counts over n samples. */
void dn_confusion_matrix(const uint8_t *labels, const uint8_t *predicted, size_t n,
                         size_t confusion[DN_CLASSES][DN_CLASSES]);

/* -------------------------------------------------------------------- npy */

/* NumPy .npy files (format 1.0/2.0, C order, little-endian '<f4', '<f8',
 * '|u1'). Read returns a float64 copy of the data in *data (caller frees
 * with free()), the shape in shape[0..*ndim-1] (ndim ≤ 4). */
dn_status dn_npy_read_f64(const char *path, double **data, size_t shape[4], int *ndim, dn_error *err);
/* Writes atomically (see dn_model_save). dtype_code: 'f' (data is float),
 * 'd' (double) or 'u' (uint8_t); data holds the product of shape[] values. */
dn_status dn_npy_write(const char *path, char dtype_code, const void *data, const size_t *shape, int ndim,
                       dn_error *err);

/* ------------------------------------------------- multi-layer networks (issue 3) */

/* ------------------------------------------------------------ plots (issue 5) */

/* Figures a person opens: line charts and heat maps as hand-written SVG
 * (any browser shows them), images as 8-bit RGB PNG (written with libpng).
 * Every file is written atomically (see dn_write_file_atomic). Text is
 * UTF-8 and is escaped for XML, so titles and labels may hold any text. */

/* One line of a chart: n points (x[i], y[i]). */
typedef struct dn_plot_series {
    const char *label; /* legend text; NULL or "" gives "series K" (1-based) */
    const double *x;   /* n values, or NULL for x = 0, 1, …, n−1 (epoch 0 first) */
    const double *y;   /* n values; non-finite ones are left out of the line */
    size_t n;
} dn_plot_series;

typedef struct dn_plot_options {
    int width, height; /* of the whole figure in pixels, ≥ 200 × 150; default 720 × 440 */
    int log_y;         /* logarithmic y axis; points with y ≤ 0 are then left out; default 0 */
    int y_from_zero;   /* a linear y axis reaches down (or up) to 0; default 1 */
    int markers;       /* a dot on every point: 1 always, 0 never, -1 when a series has
                          at most 60 points; default -1 */
} dn_plot_options;

void dn_plot_options_default(dn_plot_options *opt);

/* A line chart in SVG: a title, axes with ticks at round numbers (1, 2, 5 ×
 * 10^k; powers of ten on a log axis; whole numbers only when every x is
 * whole, as epochs and rounds are), axis labels, one polyline per series in
 * a colour-blind-safe palette, and a legend when nseries > 1, placed in an
 * empty corner of the plot or to its right.
 *
 * For tools that check the figure, each series is a <g class="series">
 * holding one <polyline> with one point per value drawn; the legend is a
 * <g class="legend"> with one <text> per series. opt may be NULL (defaults).
 * title, x_label, y_label may be NULL. Fails with DN_ERR_USAGE when
 * nseries is 0, a series has n > 0 and no y, or the size is out of range. */
dn_status dn_plot_lines(const char *path, const char *title, const char *x_label, const char *y_label,
                        const dn_plot_series *series, size_t nseries, const dn_plot_options *opt, dn_error *err);

/* A confusion matrix as an SVG heat map with the count in every cell:
 * confusion is (10, 10) row-major, [true digit][predicted digit], as
 * dn_confusion_matrix fills it (pass &matrix[0][0]). Diagonal cells are
 * blue by the share of their row classified correctly; off-diagonal cells
 * are red by their count relative to the largest off-diagonal count, so
 * the common confusions stand out. A last column gives each digit's error
 * rate. The 100 cells are <rect class="cell"> elements. title may be NULL. */
dn_status dn_plot_confusion(const char *path, const char *title, const size_t *confusion, dn_error *err);

/* Grids of 28×28 images in a PNG, white background, images in row-major
 * order. Geometry (so a reader can find a pixel): with s = scale, pad = s
 * and caption strip c = 9·f pixels high when captions are given (0
 * otherwise), f = 1 + (s ≥ 4) + (s ≥ 12) the magnification of the built-in
 * 5×7 font, image i sits in grid cell (row i / columns, column i % columns),
 * and its pixel (r, k) fills the s × s block whose top-left corner is
 *   x = pad + column·(28·s + pad) + k·s,
 *   y = pad + row·(c + 28·s + pad) + c + r·s.
 * The PNG is pad + columns·(28·s + pad) wide and pad + rows·(c + 28·s +
 * pad) high. Captions are centred above their image; the font draws digits,
 * space and - + . : = / ( ) #, with '>' drawn as an arrow (→); other
 * characters show as a hollow box. */
typedef struct dn_image_grid_options {
    int columns;      /* images per row, 1–1000; 0 (the default) picks: ⌈count/2⌉ up to
                         12 images, else about 16:9 */
    int scale;        /* each image pixel becomes scale × scale, 1–32; default 8 */
    int shared_scale; /* weight images: one colour scale over all images (the largest
                         |w| of any) rather than one per image; default 0 */
} dn_image_grid_options;

void dn_image_grid_options_default(dn_image_grid_options *opt);

/* Weight images: count rows of weights, each (784) float64 — a perceptron's W
 * (count = 10) or the first layer of an MLP (count = hidden units) — drawn
 * with a diverging colour map: 0 is near-white (#f7f7f7), positive weights
 * red up to #67001f at +m, negative blue down to #053061 at −m, where m is
 * the largest |w| of the image (or of all images with shared_scale). Red
 * pixels are where ink votes for the neuron, blue where ink votes against.
 * captions: count strings or NULL. opt may be NULL. */
dn_status dn_plot_weight_images(const char *path, const double *weights, size_t count, const char *const *captions,
                                const dn_image_grid_options *opt, dn_error *err);

/* Digit images: count images of 784 bytes drawn as dark ink on white
 * (grey 255 − pixel), with optional captions. opt may be NULL. */
dn_status dn_plot_digit_images(const char *path, const uint8_t *images, size_t count, const char *const *captions,
                               const dn_image_grid_options *opt, dn_error *err);

/* A gallery of the first max_count samples of set whose predicted label
 * (predicted has set->count entries) differs from the true one, in set
 * order, each captioned "true→predicted". *shown (may be NULL) gets the
 * number drawn; when no sample is misclassified no file is written and
 * *shown is 0. opt may be NULL (then scale 4, 10 columns). */
dn_status dn_plot_misclassified(const char *path, const dn_dataset *set, const uint8_t *predicted, size_t max_count,
                                const dn_image_grid_options *opt, size_t *shown, dn_error *err);

/* ------------------------------------------------------ distributed (issue 4) */

#ifdef __cplusplus
}
#endif
#endif /* DIGITNET_H */
