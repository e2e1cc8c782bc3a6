/* test_plot.c — figures: PNGs read back through libpng with the size the
 * header's geometry gives and the exact pixels a known W must produce;
 * SVGs with escaped text, argument checks, and nothing written on failure.
 * Built without libpng (no DN_HAVE_PNG) the PNG cases are skipped, the SVG
 * cases still run, and one case checks that every PNG function refuses
 * with DN_ERR_USAGE, naming the file and saying why, and writes nothing.
 * (The SVG structure — series and points — is parsed as XML by
 * tests/cli_plot.sh with Python's xml.etree.) Each test writes into a
 * fresh temporary folder. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include "lib/skip.h"
#ifdef DN_HAVE_PNG
#include <png.h>
#endif

#include "digitnet_plot.h"

#define W_SIZE (DN_CLASSES * DN_IMAGE_PIXELS)

typedef struct fixture {
    char dir[512];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/dn_plot_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char path[1024];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name) < (int)sizeof path) unlink(path);
    }
    if (d) closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const char *path_in(const fixture *f, const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    return path;
}

/* Entries in the folder other than . and ..: failed writes must leave none (no temporary files either). */
static int files_in(const fixture *f)
{
    DIR *d = opendir(f->dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d) closedir(d);
    return n;
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
    text[len] = '\0';
    fclose(fp);
    return text;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* ------------------------------------------------------------ PNG reading */

#ifdef DN_HAVE_PNG

typedef struct image {
    png_uint_32 w, h;
    uint8_t *rgb; /* (h, w, 3) */
} image;

/* Reads an 8-bit RGB PNG through libpng; fails the test on anything else. */
static image read_png(const char *path)
{
    image im = {0, 0, NULL};
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char sig[8];
    assert_int_equal(fread(sig, 1, 8, fp), 8);
    assert_int_equal(png_sig_cmp(sig, 0, 8), 0);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("%s: libpng could not read it", path);
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    im.w = png_get_image_width(png, info);
    im.h = png_get_image_height(png, info);
    assert_int_equal(png_get_bit_depth(png, info), 8);
    assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
    im.rgb = malloc((size_t)im.w * im.h * 3);
    for (png_uint_32 r = 0; r < im.h; r++) png_read_row(png, im.rgb + (size_t)r * im.w * 3, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return im;
}

static uint32_t pixel(const image *im, size_t x, size_t y)
{
    const uint8_t *p = im->rgb + (y * im->w + x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Every pixel of the s × s block of image pixel (r, k) in grid cell (row, col) has colour rgb. */
static void assert_block(const image *im, size_t s, size_t caption_h, size_t row, size_t col, size_t r, size_t k,
                         uint32_t rgb)
{
    size_t x0 = s + col * (28 * s + s) + k * s, y0 = s + row * (caption_h + 28 * s + s) + caption_h + r * s;
    for (size_t y = y0; y < y0 + s; y++)
        for (size_t x = x0; x < x0 + s; x++)
            if (pixel(im, x, y) != rgb)
                fail_msg("pixel (%zu, %zu) of image (%zu, %zu) is #%06x, expected #%06x", r, k, row, col,
                         pixel(im, x, y), rgb);
}

/* ---------------------------------------------------------- weight images */

/* A W of zeros but +1 at row 3, pixel (5, 7) and −1 at row 8, pixel (20, 3):
 * with per-image scaling the +1 is the darkest red, the −1 the darkest
 * blue, at exactly their blocks; every other pixel is the colour of 0. */
static void test_weight_images_known_pixels(void **state)
{
    const fixture *f = *state;
    double *w = calloc(W_SIZE, sizeof *w);
    w[3 * DN_IMAGE_PIXELS + 5 * 28 + 7] = 1.0;
    w[8 * DN_IMAGE_PIXELS + 20 * 28 + 3] = -1.0;
    static const char *const captions[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    dn_error err;
    assert_int_equal(dn_plot_weight_images(path_in(f, "w.png"), w, 10, captions, NULL, &err), DN_OK);
    image im = read_png(path_in(f, "w.png"));
    const size_t s = 8, font = 2, caption_h = 9 * font, columns = 5; /* defaults: scale 8; 10 images → 5 columns */
    assert_int_equal(im.w, s + columns * (28 * s + s));
    assert_int_equal(im.h, s + 2 * (caption_h + 28 * s + s));
    const uint32_t zero = 0xf7f7f7, red = 0x67001f, blue = 0x053061;
    assert_block(&im, s, caption_h, 0, 3, 5, 7, red);  /* row 3 of W: grid row 0, column 3 */
    assert_block(&im, s, caption_h, 1, 3, 20, 3, blue); /* row 8: grid row 1, column 3 */
    size_t coloured = 0, zeros = 0;
    for (size_t y = 0; y < im.h; y++)
        for (size_t x = 0; x < im.w; x++) {
            coloured += pixel(&im, x, y) == red || pixel(&im, x, y) == blue;
            zeros += pixel(&im, x, y) == zero;
        }
    assert_int_equal(coloured, 2 * s * s);                          /* nothing else took either colour */
    assert_int_equal(zeros, 10 * 28 * 28 * s * s - 2 * s * s);     /* the rest of every image is "0" */
    assert_int_equal(pixel(&im, 0, 0), 0xffffff);                   /* the margin is white */
    size_t ink = 0;                                                 /* the caption "3" is drawn above image 3 */
    for (size_t y = s; y < s + caption_h; y++)
        for (size_t x = s + 3 * (28 * s + s); x < s + 4 * (28 * s + s) - s; x++) ink += pixel(&im, x, y) == 0x333333;
    assert_true(ink > 0);
    free(im.rgb);
    free(w);
}

/* A shared scale draws a small weight paler than the other image's large one. */
static void test_weight_images_shared_scale(void **state)
{
    const fixture *f = *state;
    double *w = calloc(2 * DN_IMAGE_PIXELS, sizeof *w);
    w[0] = 1.0;                    /* image 0, pixel (0, 0) */
    w[DN_IMAGE_PIXELS + 0] = 4.0;  /* image 1, pixel (0, 0) */
    dn_image_grid_options opt;
    dn_image_grid_options_default(&opt);
    opt.scale = 2;
    opt.columns = 2;
    for (int shared = 0; shared < 2; shared++) {
        opt.shared_scale = shared;
        assert_int_equal(dn_plot_weight_images(path_in(f, "s.png"), w, 2, NULL, &opt, NULL), DN_OK);
        image im = read_png(path_in(f, "s.png"));
        assert_int_equal(im.w, 2 + 2 * (56 + 2)); /* no captions: no caption strip */
        assert_int_equal(im.h, 2 + 56 + 2);
        assert_block(&im, 2, 0, 0, 1, 0, 0, 0x67001f);
        if (shared) assert_true(pixel(&im, 2, 2) != 0x67001f && pixel(&im, 2, 2) != 0xf7f7f7);
        else assert_block(&im, 2, 0, 0, 0, 0, 0, 0x67001f);
        free(im.rgb);
    }
    free(w);
}

/* ------------------------------------------------------------ digit images */

static void test_digit_images_and_gallery(void **state)
{
    const fixture *f = *state;
    uint8_t images[5][DN_IMAGE_PIXELS] = {{0}}, labels[5] = {1, 2, 3, 4, 5}, predicted[5] = {1, 7, 3, 4, 0};
    images[1][0] = 255;          /* misclassified sample 1: ink at (0, 0) */
    images[4][27 * 28 + 27] = 128; /* misclassified sample 4: grey at (27, 27) */
    dn_dataset set = {5, &images[0][0], labels, 0, NULL};
    dn_image_grid_options opt = {0, 4, 0};
    size_t shown = 99;
    dn_error err;
    assert_int_equal(dn_plot_misclassified(path_in(f, "g.png"), &set, predicted, 60, &opt, &shown, &err), DN_OK);
    assert_int_equal(shown, 2);
    image im = read_png(path_in(f, "g.png"));
    const size_t s = 4, caption_h = 18; /* scale 4 → font ×2 */
    assert_int_equal(im.w, s + 1 * (28 * s + s)); /* 2 images → 1 column */
    assert_int_equal(im.h, s + 2 * (caption_h + 28 * s + s));
    assert_block(&im, s, caption_h, 0, 0, 0, 0, 0x000000);   /* ink 255 → black */
    assert_block(&im, s, caption_h, 0, 0, 0, 1, 0xffffff);   /* no ink → white */
    assert_block(&im, s, caption_h, 1, 0, 27, 27, 0x7f7f7f); /* 128 → 255 − 128 */
    free(im.rgb);

    shown = 99; /* nothing misclassified: no file, nothing shown */
    assert_int_equal(dn_plot_misclassified(path_in(f, "none.png"), &set, labels, 60, NULL, &shown, &err), DN_OK);
    assert_int_equal(shown, 0);
    assert_int_equal(access(path_in(f, "none.png"), F_OK), -1);
}

static void test_grid_arguments_refused(void **state)
{
    const fixture *f = *state;
    double w[DN_IMAGE_PIXELS] = {0};
    dn_image_grid_options opt;
    dn_image_grid_options_default(&opt);
    dn_error err;
    assert_int_equal(dn_plot_weight_images(path_in(f, "x.png"), w, 0, NULL, &opt, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "x.png"));
    opt.scale = 0;
    assert_int_equal(dn_plot_weight_images(path_in(f, "x.png"), w, 1, NULL, &opt, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "scale"));
    assert_int_equal(dn_plot_weight_images("/nonexistent-dir/x.png", w, 1, NULL, NULL, &err), DN_ERR_IO);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x.png"));
    assert_int_equal(files_in(f), 0);
}

#else /* built without libpng: the PNG cases are skipped, and the functions must refuse */

#define SKIPPED_WITHOUT_PNG(fn)                  \
    static void fn(void **state)                 \
    {                                            \
        (void)state;                             \
        DN_SKIP(#fn ": built without libpng");   \
    }
SKIPPED_WITHOUT_PNG(test_weight_images_known_pixels)
SKIPPED_WITHOUT_PNG(test_weight_images_shared_scale)
SKIPPED_WITHOUT_PNG(test_digit_images_and_gallery)
SKIPPED_WITHOUT_PNG(test_grid_arguments_refused)

static void assert_without_libpng(const fixture *f, dn_status s, const dn_error *err, const char *name)
{
    assert_int_equal(s, DN_ERR_USAGE);
    assert_int_equal(err->code, DN_ERR_USAGE);
    if (!strstr(err->message, path_in(f, name)) || !strstr(err->message, "built without libpng"))
        fail_msg("message should name %s and say 'built without libpng': %s", name, err->message);
    assert_int_equal(files_in(f), 0); /* nothing written, not even a temporary file */
}

/* Every PNG function, given arguments a libpng build accepts, returns
 * DN_ERR_USAGE with a message naming the file; dn_plot_misclassified also
 * reports that it showed nothing. */
static void test_png_functions_without_libpng(void **state)
{
    const fixture *f = *state;
    static double w[2 * DN_IMAGE_PIXELS];
    static uint8_t images[2][DN_IMAGE_PIXELS];
    uint8_t labels[2] = {1, 2}, predicted[2] = {1, 7};
    dn_dataset set = {2, &images[0][0], labels, 0, NULL};
    dn_image_grid_options opt;
    dn_image_grid_options_default(&opt);
    dn_error err = {DN_OK, ""};
    assert_without_libpng(f, dn_plot_weight_images(path_in(f, "w.png"), w, 2, NULL, &opt, &err), &err, "w.png");
    err = (dn_error){DN_OK, ""};
    assert_without_libpng(f, dn_plot_digit_images(path_in(f, "d.png"), &images[0][0], 2, NULL, NULL, &err), &err,
                          "d.png");
    err = (dn_error){DN_OK, ""};
    size_t shown = 99;
    assert_without_libpng(f, dn_plot_misclassified(path_in(f, "g.png"), &set, predicted, 60, &opt, &shown, &err),
                          &err, "g.png");
    assert_int_equal(shown, 0);
    /* the SVG charts of the same library still work */
    const double y[2] = {1, 2};
    dn_plot_series series = {"a", NULL, y, 2};
    assert_int_equal(dn_plot_lines(path_in(f, "ok.svg"), "still drawn", NULL, NULL, &series, 1, NULL, &err), DN_OK);
    assert_int_equal(files_in(f), 1);
}

#endif /* DN_HAVE_PNG */

/* ------------------------------------------------------------------ SVG */

static void test_lines_escapes_text(void **state)
{
    const fixture *f = *state;
    const double y[3] = {3, 1, 2};
    dn_plot_series series[2] = {{"a<b & \"c\"", NULL, y, 3}, {"bad \xff byte", NULL, y, 2}};
    dn_error err;
    assert_int_equal(dn_plot_lines(path_in(f, "e.svg"), "T <&> \x01", "x & y", NULL, series, 2, NULL, &err), DN_OK);
    char *text = read_text(path_in(f, "e.svg"));
    assert_non_null(strstr(text, "T &lt;&amp;&gt; \xEF\xBF\xBD</text>")); /* a control byte becomes U+FFFD */
    assert_non_null(strstr(text, "a&lt;b &amp; &quot;c&quot;"));
    assert_non_null(strstr(text, "bad \xEF\xBF\xBD byte")); /* invalid UTF-8 too */
    assert_null(strstr(text, "\xff"));
    assert_int_equal(count_of(text, "<g class=\"series\""), 2);
    assert_int_equal(count_of(text, "<g class=\"legend\""), 1);
    assert_int_equal(strncmp(text, "<?xml", 5), 0);
    assert_non_null(strstr(text, "</svg>\n"));
    free(text);
}

static void test_lines_arguments_refused(void **state)
{
    const fixture *f = *state;
    const double y[2] = {1, 2};
    dn_plot_series ok = {"a", NULL, y, 2}, no_y = {"b", NULL, NULL, 2};
    dn_plot_options opt;
    dn_plot_options_default(&opt);
    dn_error err;
    assert_int_equal(dn_plot_lines(path_in(f, "a.svg"), NULL, NULL, NULL, &ok, 0, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_plot_lines(path_in(f, "a.svg"), NULL, NULL, NULL, &no_y, 1, NULL, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "a.svg"));
    opt.width = 10;
    assert_int_equal(dn_plot_lines(path_in(f, "a.svg"), NULL, NULL, NULL, &ok, 1, &opt, &err), DN_ERR_USAGE);
    assert_int_equal(files_in(f), 0);
    /* An empty series and no title are fine: an empty frame. */
    dn_plot_series empty = {NULL, NULL, NULL, 0};
    assert_int_equal(dn_plot_lines(path_in(f, "a.svg"), NULL, NULL, NULL, &empty, 1, NULL, &err), DN_OK);
}

static void test_confusion_cells(void **state)
{
    const fixture *f = *state;
    size_t cm[DN_CLASSES][DN_CLASSES];
    for (int t = 0; t < DN_CLASSES; t++)
        for (int p = 0; p < DN_CLASSES; p++) cm[t][p] = t == p ? 1000 + (size_t)t : (size_t)(t * 10 + p) % 7;
    dn_error err;
    assert_int_equal(dn_plot_confusion(path_in(f, "c.svg"), "C", &cm[0][0], &err), DN_OK);
    char *text = read_text(path_in(f, "c.svg"));
    assert_int_equal(count_of(text, "<rect class=\"cell\""), 100);
    assert_non_null(strstr(text, ">1009</text>"));
    free(text);
}

static void test_score_map_cells(void **state)
{
    const fixture *f = *state;
    /* 3 clients × 4 rounds; client 1 is marked, one cell was not scored and
     * four exceed the threshold 0.5 (0.9, +Inf, 0.7 and 2; 0.5 does not). */
    const double scores[12] = {0.1, 0.2, NAN, 0.3, 0.9, INFINITY, 0.7, 0.4, 0, -1, 0.5, 2};
    const unsigned char marked[3] = {0, 1, 0};
    dn_error err;
    assert_int_equal(dn_plot_score_map(path_in(f, "s.svg"), "Scores", "client", "round", scores, 3, 4, 0, 1, 0.5,
                                       marked, "malicious", &err),
                     DN_OK);
    char *text = read_text(path_in(f, "s.svg"));
    assert_int_equal(count_of(text, "<rect class=\"cell"), 12);
    assert_int_equal(count_of(text, "<rect class=\"cell over\""), 4);
    assert_int_equal(count_of(text, "<rect class=\"mark\" data-row=\"1\""), 1);
    assert_int_equal(count_of(text, "class=\"mark\""), 1);
    assert_int_equal(count_of(text, "data-value=\"nan\""), 1);
    assert_non_null(strstr(text, "data-row=\"0\" data-col=\"2\" data-value=\"nan\""));
    assert_non_null(strstr(text, ">malicious</text>"));
    assert_non_null(strstr(text, "</svg>\n"));
    free(text);
    /* No threshold, no marks. */
    assert_int_equal(dn_plot_score_map(path_in(f, "n.svg"), NULL, NULL, NULL, scores, 3, 4, 0, 1, NAN, NULL, NULL,
                                       &err),
                     DN_OK);
    text = read_text(path_in(f, "n.svg"));
    assert_int_equal(count_of(text, "<rect class=\"cell\""), 12);
    assert_int_equal(count_of(text, "class=\"mark\""), 0);
    free(text);
}

static void test_score_map_refuses_bad_sizes(void **state)
{
    const fixture *f = *state;
    const double v[2] = {0, 1};
    dn_error err;
    const char *path = path_in(f, "bad.svg");
    assert_int_equal(dn_plot_score_map(path, NULL, NULL, NULL, v, 0, 2, 0, 1, NAN, NULL, NULL, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "bad.svg"));
    assert_int_equal(dn_plot_score_map(path, NULL, NULL, NULL, v, 1, 0, 0, 1, NAN, NULL, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_plot_score_map(path, NULL, NULL, NULL, v, 10001, 1, 0, 1, NAN, NULL, NULL, &err),
                     DN_ERR_USAGE);
    assert_int_equal(dn_plot_score_map(path, NULL, NULL, NULL, v, 1, 10001, 0, 1, NAN, NULL, NULL, &err),
                     DN_ERR_USAGE);
    assert_int_equal(dn_plot_score_map(path, NULL, NULL, NULL, v, 1, 2, 1, 1, NAN, NULL, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_plot_score_map(path, NULL, NULL, NULL, v, 1, 2, NAN, 1, NAN, NULL, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(dn_plot_score_map(path, NULL, NULL, NULL, v, 1, 2, 0, INFINITY, NAN, NULL, NULL, &err),
                     DN_ERR_USAGE);
    assert_int_equal(dn_plot_score_map(path, NULL, NULL, NULL, NULL, 1, 2, 0, 1, NAN, NULL, NULL, &err), DN_ERR_USAGE);
    assert_int_equal(files_in(f), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_weight_images_known_pixels), T(test_weight_images_shared_scale), T(test_digit_images_and_gallery),
        T(test_grid_arguments_refused),     T(test_lines_escapes_text),        T(test_lines_arguments_refused),
        T(test_confusion_cells),            T(test_score_map_cells),           T(test_score_map_refuses_bad_sizes),
#ifndef DN_HAVE_PNG
        T(test_png_functions_without_libpng),
#endif
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
