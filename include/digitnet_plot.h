/*
 * digitnet_plot.h — figures and PNG input: libdigitnet_plot, which needs
 * libpng (pkg-config digitnet_plot; CMake digitnet::plot). Everything else,
 * and the conventions this header follows, is in digitnet.h.
 *
 * Built without libpng, the program still draws the SVG charts but every
 * PNG function returns DN_ERR_USAGE saying so; libdigitnet_plot is then
 * not installed.
 */
#ifndef DIGITNET_PLOT_H
#define DIGITNET_PLOT_H

#include "digitnet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ digits from PNG files */

#define DN_PNG_MAX_SIDE 8192 /* wider or taller PNGs are refused before decoding */

/* Reads a PNG of any size, colour type, bit depth, with or without alpha,
 * and makes it a 784-byte MNIST-style image (see dn_digit_from_grey).
 * Transparency: when most border pixels are transparent the ink is the
 * opacity; otherwise the image is composed over white. Errors name the
 * file: not a PNG, truncated or corrupt, larger than DN_PNG_MAX_SIDE, blank. */
DN_API dn_status dn_png_read_digit(const char *path, uint8_t image[DN_IMAGE_PIXELS], dn_error *err);

/* The same from size bytes in memory (an HTTP upload): the same image as
 * dn_png_read_digit gives for a file holding these bytes, and the same
 * checks (the decompression bound uses size). name (may be NULL: "PNG
 * data") is what the error messages name. Data cut short is DN_ERR_INPUT. */
DN_API dn_status dn_png_decode_digit(const void *data, size_t size, const char *name, uint8_t image[DN_IMAGE_PIXELS],
                                     dn_error *err);

/* ------------------------------------------------------------ plots */

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

DN_API void dn_plot_options_default(dn_plot_options *opt);

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
DN_API dn_status dn_plot_lines(const char *path, const char *title, const char *x_label, const char *y_label,
                               const dn_plot_series *series, size_t nseries, const dn_plot_options *opt, dn_error *err);

/* A confusion matrix as an SVG heat map with the count in every cell:
 * confusion is (10, 10) row-major, [true digit][predicted digit], as
 * dn_confusion_matrix fills it (pass &matrix[0][0]). Diagonal cells are
 * blue by the share of their row classified correctly; off-diagonal cells
 * are red by their count relative to the largest off-diagonal count, so
 * the common confusions stand out. A last column gives each digit's error
 * rate. The 100 cells are <rect class="cell"> elements. title may be NULL. */
DN_API dn_status dn_plot_confusion(const char *path, const char *title, const size_t *confusion, dn_error *err);

/* A heat map of a (rows, cols) row-major matrix of counts, such as a
 * partition's clients × labels (dn_partition_label_counts(part, 0), rows =
 * clients, cols = DN_CLASSES). Each cell is a <rect class="cell"> with
 * data-row, data-col and data-value, shaded from white to dark blue by its
 * share of its row's total (by_row = 1: a client's label distribution) or
 * by its count relative to the largest cell (by_row = 0); the count is
 * written in cells large enough to hold it. Rows are numbered 0 … rows − 1
 * from the top and columns 0 … cols − 1 from the left, a number every few
 * when they are many. Cells shrink as the matrix grows (to 2 pixels a row
 * and 8 a column), so a figure stays about 640 pixels high up to 320 rows.
 * title, row_label and col_label may be NULL. DN_ERR_USAGE unless 1 ≤ rows
 * ≤ 10000 and 1 ≤ cols ≤ 100. */
DN_API dn_status dn_plot_heatmap(const char *path, const char *title, const char *row_label, const char *col_label,
                                 const size_t *values, size_t rows, size_t cols, int by_row, dn_error *err);

/* A heat map of a (rows, cols) row-major matrix of real values, such as
 * the suspicion scores of K federated clients (rows) over R rounds (cols).
 * A NaN cell has no value (a client not scored that round) and is drawn
 * light grey; the others are shaded from white at lo to dark red at hi
 * (values outside [lo, hi] saturate; +Inf is the darkest). Each is a
 * <rect class="cell"> with data-row, data-col and data-value (the value as
 * %g; "nan" for none). A cell whose value exceeds threshold (pass NAN for
 * none) gets class "cell over" and a black outline. Rows r with marked[r]
 * non-zero (marked may be NULL) get a red bar in the left margin with
 * class "mark" and data-row, and marked_label (may be NULL) is named in
 * the legend. Rows and columns numbered as dn_plot_heatmap numbers them;
 * cells shrink as the matrix grows. DN_ERR_USAGE unless 1 ≤ rows ≤ 10000,
 * 1 ≤ cols ≤ 10000 and lo < hi (finite). */
DN_API dn_status dn_plot_score_map(const char *path, const char *title, const char *row_label, const char *col_label,
                                   const double *values, size_t rows, size_t cols, double lo, double hi,
                                   double threshold, const unsigned char *marked, const char *marked_label,
                                   dn_error *err);

/* Grids of 28×28 images in a PNG, white background, images in row-major
 * order. Geometry (so a reader can find a pixel): with s = scale, pad = s
 * and caption strip c = 9·f pixels high when captions are given (0
 * otherwise), f = 1 + (s ≥ 4) + (s ≥ 12) the magnification of the built-in
 * 5×7 font, image i sits in grid cell (row i / columns, column i % columns),
 * and its pixel (r, k) fills the s × s block whose top-left corner is
 *   x = pad + column·(28·s + pad) + k·s,
 *   y = pad + row·(c + 28·s + pad) + c + r·s.
 * The PNG is pad + columns·(28·s + pad) wide and pad + rows·(c + 28·s +
 * pad) high. Captions are centred above their image (clipped to it); the
 * font draws digits, space, - + . : = / ( ) # > and → (U+2192); any other
 * character shows as a hollow box. */
typedef struct dn_image_grid_options {
    int columns;      /* images per row, 1–1000; 0 (the default) picks: ⌈count/2⌉ up to
                         12 images, else about 16:9 with few empty cells */
    int scale;        /* each image pixel becomes scale × scale, 1–32; default 8 */
    int shared_scale; /* weight images: one colour scale over all images (the largest
                         |w| of any) rather than one per image; default 0 */
} dn_image_grid_options;

DN_API void dn_image_grid_options_default(dn_image_grid_options *opt);

/* Weight images: count rows of weights, each (784) float64 — a perceptron's W
 * (count = 10) or the first layer of an MLP (count = hidden units) — drawn
 * with a diverging colour map: 0 is near-white (#f7f7f7), positive weights
 * red up to #67001f at +m and beyond, negative blue down to #053061 at −m
 * and beyond. m is the 99th percentile of |w| over the image's 784 weights
 * (its largest |w| when that percentile is 0), so the few extreme weights
 * on rarely inked pixels saturate rather than wash the rest out; with
 * shared_scale, m is the largest of the images' m. Red pixels are where
 * ink votes for the neuron, blue where ink votes against.
 * captions: count strings or NULL. opt may be NULL. */
DN_API dn_status dn_plot_weight_images(const char *path, const double *weights, size_t count, const char *const *captions,
                                       const dn_image_grid_options *opt, dn_error *err);

/* Digit images: count images of 784 bytes drawn as dark ink on white
 * (grey 255 − pixel), with optional captions. opt may be NULL. */
DN_API dn_status dn_plot_digit_images(const char *path, const uint8_t *images, size_t count, const char *const *captions,
                                      const dn_image_grid_options *opt, dn_error *err);

/* A gallery of the first max_count samples of set whose predicted label
 * (predicted has set->count entries) differs from the true one, in set
 * order, each captioned "true→predicted". *shown (may be NULL) gets the
 * number drawn; when no sample is misclassified no file is written and
 * *shown is 0. opt may be NULL (then scale 4, 10 columns). */
DN_API dn_status dn_plot_misclassified(const char *path, const dn_dataset *set, const uint8_t *predicted, size_t max_count,
                                       const dn_image_grid_options *opt, size_t *shown, dn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* DIGITNET_PLOT_H */
