/* test_mlp_png.c — digits from PNG files (any format, made MNIST-style) and
 * IDX image files without labels. The PNGs are written here with libpng.
 * Built without libpng (no DN_HAVE_PNG) the PNG cases are skipped, the
 * resampling (dn_digit_from_grey) and IDX cases still run, and one case
 * checks that dn_png_read_digit refuses with DN_ERR_USAGE, naming the file. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <math.h>
#ifdef DN_HAVE_PNG
#include <png.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "digitnet_plot.h"

static void temp_path(char *path, size_t cap, const char *name)
{
    snprintf(path, cap, "/tmp/dn_test_png_%ld_%s", (long)getpid(), name);
}

#define SKIPPED_WITHOUT_PNG(fn)                  \
    static void fn(void **state)                 \
    {                                            \
        (void)state;                             \
        DN_SKIP(#fn ": built without libpng");   \
    }

#ifdef DN_HAVE_PNG
/* ---------------------------------------------------------------- writing PNGs */

typedef struct png_spec {
    int color_type, bit_depth, interlace;
    const png_color *palette; /* for PNG_COLOR_TYPE_PALETTE */
    int npalette;
} png_spec;

/* rows: h rows of w pixels, each pixel the format's samples, one byte per
 * sample for depth ≤ 8 (libpng packs sub-byte depths), two big-endian
 * bytes for depth 16. */
static void write_png(const char *path, const uint8_t *data, size_t w, size_t h, png_spec spec)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng could not write %s", path);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, spec.bit_depth, spec.color_type,
                 spec.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (spec.palette) png_set_PLTE(png, info, spec.palette, spec.npalette);
    png_write_info(png, info);
    if (spec.bit_depth < 8) png_set_packing(png);
    int channels = spec.color_type == PNG_COLOR_TYPE_RGB ? 3 : spec.color_type == PNG_COLOR_TYPE_RGBA ? 4
                   : spec.color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    size_t stride = w * (size_t)channels * (spec.bit_depth == 16 ? 2 : 1);
    png_bytep *rows = malloc(h * sizeof *rows);
    for (size_t y = 0; y < h; y++) rows[y] = (png_bytep)(data + y * stride);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(fp);
}

static const png_spec GREY8 = {PNG_COLOR_TYPE_GRAY, 8, 0, NULL, 0};

/* ---------------------------------------------------------------- a drawn digit */

/* A "7", dark ink (0) on white paper (255), w × h, binary. */
static uint8_t *draw_seven(size_t w, size_t h)
{
    uint8_t *g = malloc(w * h);
    memset(g, 255, w * h);
    for (size_t y = h / 5; y < h / 5 + h / 10; y++) /* the bar */
        for (size_t x = w / 5; x < 4 * w / 5; x++) g[y * w + x] = 0;
    for (size_t y = h / 5; y < 4 * h / 5; y++) { /* the stem, leaning */
        size_t x = 4 * w / 5 - (y - h / 5) * (w / 3) / (3 * h / 5);
        for (size_t t = 0; t < w / 10; t++) g[y * w + x - t] = 0;
    }
    return g;
}

static int max_pixel_diff(const uint8_t *a, const uint8_t *b)
{
    int m = 0;
    for (int i = 0; i < DN_IMAGE_PIXELS; i++) m = abs(a[i] - b[i]) > m ? abs(a[i] - b[i]) : m;
    return m;
}

static void expect_same_digit(const char *path, const uint8_t *want, int tolerance)
{
    uint8_t got[DN_IMAGE_PIXELS];
    dn_error err;
    if (dn_png_read_digit(path, got, &err)) fail_msg("%s", err.message);
    int diff = max_pixel_diff(got, want);
    if (diff > tolerance) fail_msg("%s: differs from the grey reference by %d", path, diff);
    unlink(path);
}

/* Every colour type and depth gives the digit the plain grey PNG gives. */
static void test_every_png_format_same_digit(void **state)
{
    (void)state;
    enum { W = 60, H = 80 };
    uint8_t *g = draw_seven(W, H), want[DN_IMAGE_PIXELS];
    assert_int_equal(dn_digit_from_grey(g, W, H, want, "seven", NULL), DN_OK);
    size_t ink = 0;
    for (int i = 0; i < DN_IMAGE_PIXELS; i++) ink += want[i] > 128;
    assert_true(ink > 40); /* a real digit came out, bright on dark */
    assert_int_equal(want[0], 0);

    char path[256];
    uint8_t *buf = malloc((size_t)W * H * 8);
    temp_path(path, sizeof path, "grey8.png");
    write_png(path, g, W, H, GREY8);
    expect_same_digit(path, want, 0);
    temp_path(path, sizeof path, "interlaced.png");
    write_png(path, g, W, H, (png_spec){PNG_COLOR_TYPE_GRAY, 8, 1, NULL, 0});
    expect_same_digit(path, want, 0);
    for (size_t i = 0; i < (size_t)W * H; i++) /* RGB, 16 bits: grey·257 in every channel */
        for (int c = 0; c < 3; c++) buf[6 * i + 2 * c] = buf[6 * i + 2 * c + 1] = g[i];
    temp_path(path, sizeof path, "rgb16.png");
    write_png(path, buf, W, H, (png_spec){PNG_COLOR_TYPE_RGB, 16, 0, NULL, 0});
    expect_same_digit(path, want, 1);
    for (size_t i = 0; i < (size_t)W * H; i++) buf[i] = g[i] ? 1 : 0; /* 1-bit palette: white, black */
    png_color pal[2] = {{0, 0, 0}, {255, 255, 255}};
    temp_path(path, sizeof path, "palette1.png");
    write_png(path, buf, W, H, (png_spec){PNG_COLOR_TYPE_PALETTE, 1, 0, pal, 2});
    expect_same_digit(path, want, 1);
    for (size_t i = 0; i < (size_t)W * H; i++) /* red strokes on a transparent sheet: the ink is the opacity */
        buf[4 * i] = 200, buf[4 * i + 1] = 10, buf[4 * i + 2] = 10, buf[4 * i + 3] = (uint8_t)(255 - g[i]);
    temp_path(path, sizeof path, "rgba.png");
    write_png(path, buf, W, H, (png_spec){PNG_COLOR_TYPE_RGBA, 8, 0, NULL, 0});
    expect_same_digit(path, want, 0);
    for (size_t i = 0; i < (size_t)W * H; i++) buf[2 * i] = g[i], buf[2 * i + 1] = 255; /* opaque grey + alpha */
    temp_path(path, sizeof path, "ga.png");
    write_png(path, buf, W, H, (png_spec){PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, NULL, 0});
    expect_same_digit(path, want, 0);
    for (size_t i = 0; i < (size_t)W * H; i++) buf[i] = (uint8_t)(255 - g[i]); /* already white on black */
    temp_path(path, sizeof path, "dark.png");
    write_png(path, buf, W, H, GREY8);
    expect_same_digit(path, want, 0);
    free(buf);
    free(g);
}

#else
SKIPPED_WITHOUT_PNG(test_every_png_format_same_digit)
#endif /* DN_HAVE_PNG */

/* The digit keeps its aspect ratio: a tall thin "1" stays thin. */
static void test_aspect_ratio_and_centre(void **state)
{
    (void)state;
    enum { W = 200, H = 100 };
    uint8_t g[W * H], out[DN_IMAGE_PIXELS];
    memset(g, 255, sizeof g);
    for (int y = 10; y < 90; y++) /* an 8 × 80 bar far to the right */
        for (int x = 170; x < 178; x++) g[y * W + x] = 30;
    assert_int_equal(dn_digit_from_grey(g, W, H, out, "bar", NULL), DN_OK);
    int x0 = 28, x1 = -1, y0 = 28, y1 = -1;
    double mass = 0, cx = 0, cy = 0;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            int v = out[y * 28 + x];
            if (!v) continue;
            x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1, y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            mass += v, cx += v * x, cy += v * y;
        }
    assert_int_equal(y1 - y0 + 1, 20); /* the longer side is 20 */
    assert_int_equal(x1 - x0 + 1, 2);  /* 8/80 of it */
    assert_true(fabs(cx / mass - 14) <= 0.5 && fabs(cy / mass - 14) <= 0.5);
}

/* ---------------------------------------------------------------- errors */

#ifdef DN_HAVE_PNG

static void expect_error(const char *path, dn_status code, const char *needle)
{
    uint8_t out[DN_IMAGE_PIXELS];
    dn_error err;
    assert_int_equal(dn_png_read_digit(path, out, &err), code);
    if (!strstr(err.message, path) || !strstr(err.message, needle))
        fail_msg("message '%s' should name %s and say '%s'", err.message, path, needle);
}

static void test_bad_pngs_refused(void **state)
{
    (void)state;
    char path[256];
    temp_path(path, sizeof path, "missing.png");
    expect_error(path, DN_ERR_IO, "cannot open");

    temp_path(path, sizeof path, "text.png");
    FILE *fp = fopen(path, "w");
    fputs("this is not an image\n", fp);
    fclose(fp);
    expect_error(path, DN_ERR_INPUT, "not a PNG");

    enum { W = 60, H = 80 };
    uint8_t *g = draw_seven(W, H);
    temp_path(path, sizeof path, "whole.png");
    write_png(path, g, W, H, GREY8);
    fp = fopen(path, "rb");
    unsigned char bytes[8192];
    size_t n = fread(bytes, 1, sizeof bytes, fp);
    fclose(fp);
    unlink(path);
    for (size_t cut = n / 2; cut < n; cut += n / 2 - 1) { /* inside the pixels, then just before IEND */
        temp_path(path, sizeof path, "truncated.png");
        fp = fopen(path, "wb");
        fwrite(bytes, 1, cut == n / 2 ? cut : n - 6, fp);
        fclose(fp);
        expect_error(path, DN_ERR_INPUT, "truncated");
        unlink(path);
    }
    free(g);

    uint8_t *wide = calloc(9000, 1);
    temp_path(path, sizeof path, "wide.png");
    write_png(path, wide, 9000, 1, GREY8);
    expect_error(path, DN_ERR_INPUT, "larger than");
    unlink(path);
    memset(wide, 200, 2500);
    temp_path(path, sizeof path, "blank.png");
    write_png(path, wide, 50, 50, GREY8);
    expect_error(path, DN_ERR_INPUT, "blank");
    unlink(path);
    free(wide);
    temp_path(path, sizeof path, "text.png");
    unlink(path);
}

/* A valid PNG signature and IHDR followed by an iTXt chunk that claims
 * 1 GiB and ends: refused as truncated. (libpng 1.6.39 used to allocate the
 * claimed length first — found by fuzz_png with its malloc limit, which is
 * where that regression shows; here the file must simply be refused.) */
static void test_huge_text_chunk_refused(void **state)
{
    (void)state;
    char path[256];
    temp_path(path, sizeof path, "huge-itxt.png");
    static const unsigned char head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                         0, 0, 0, 28, 0, 0, 0, 28, 8, 0, 0, 0, 0};
    unsigned char file[sizeof head + 4 + 24];
    memcpy(file, head, sizeof head);
    uLong crc = crc32(0, head + 12, 17);
    unsigned char *p = file + sizeof head;
    for (int i = 0; i < 4; i++) *p++ = (unsigned char)(crc >> (24 - 8 * i));
    memcpy(p, "\x40\x00\x00\x00iTXtkeyword\0\0\0\0\0\0\0\0\0", 24);
    FILE *fp = fopen(path, "wb");
    fwrite(file, 1, sizeof file, fp);
    fclose(fp);
    expect_error(path, DN_ERR_INPUT, "truncated");
    unlink(path);
}

/* ---------------------------------------------------------------- real digits */

static dn_dataset *load_or_skip(const char *split)
{
    const char *dir = getenv("DN_DATA");
    dn_dataset *set = dn_mnist_load(dir ? dir : "data/mnist", split, NULL);
    if (!set) DN_SKIP("no MNIST in %s (scripts/fetch_mnist.sh)", dir ? dir : "data/mnist");
    return set;
}

/* A real MNIST test digit, scaled up 8×, drawn dark on light grey paper off
 * centre in a larger sheet, saved as PNG: reading it back must give nearly
 * the original 28 × 28, and a small network trained here must classify it
 * as it classifies the original. */
static void test_png_of_real_digit(void **state)
{
    (void)state;
    dn_dataset *train = load_or_skip("train"), *test = load_or_skip("t10k");
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden("64", &opt, NULL);
    opt.epochs = 2, opt.threads = 1;
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    dn_dataset fit = dn_dataset_view(train, 0, 5000);
    assert_int_equal(dn_mlp_train(mlp, &fit, NULL, NULL, NULL), DN_OK);

    enum { S = 8, W = 300, H = 260, X0 = 37, Y0 = 15, N = 12 };
    uint8_t *sheet = malloc(W * H);
    char path[256];
    temp_path(path, sizeof path, "real.png");
    int agree = 0;
    for (int i = 0; i < N; i++) {
        const uint8_t *orig = test->images + (size_t)i * DN_IMAGE_PIXELS;
        memset(sheet, 235, W * H);
        for (int y = 0; y < 28 * S; y++)
            for (int x = 0; x < 28 * S; x++) sheet[(Y0 + y) * W + X0 + x] = (uint8_t)(235 - orig[(y / S) * 28 + x / S] * 215 / 255);
        write_png(path, sheet, W, H, GREY8);
        uint8_t got[DN_IMAGE_PIXELS], pred[2];
        dn_error err;
        if (dn_png_read_digit(path, got, &err)) fail_msg("%s", err.message);
        double mad = 0;
        for (int k = 0; k < DN_IMAGE_PIXELS; k++) mad += abs(got[k] - orig[k]) / 784.0;
        if (mad > 2) fail_msg("test image %d: mean |difference| %.1f grey levels from the original", i, mad);
        dn_mlp_classify(mlp, orig, 1, &pred[0], NULL, NULL);
        dn_mlp_classify(mlp, got, 1, &pred[1], NULL, NULL);
        agree += pred[0] == pred[1] && pred[1] == test->labels[i];
        print_message("test image %d (label %d): mean |diff| %.2f, predicted %d from the original, %d from the PNG\n",
                      i, test->labels[i], mad, pred[0], pred[1]);
    }
    assert_true(agree >= N - 1);
    unlink(path);
    free(sheet);
    dn_mlp_free(mlp);
    dn_dataset_free(train);
    dn_dataset_free(test);
}

/* ---------------------------------------------------------------- PNGs in memory */

static unsigned char *file_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char *data = malloc(1 << 20);
    *n = fread(data, 1, 1 << 20, fp);
    fclose(fp);
    return data;
}

/* One IHDR chunk of width × height, 8-bit grey, with its CRC, at out (25 bytes). */
static size_t put_ihdr(unsigned char *out, uint32_t width, uint32_t height)
{
    unsigned char body[17] = {'I', 'H', 'D', 'R'};
    for (int b = 0; b < 4; b++) body[4 + b] = (unsigned char)(width >> (24 - 8 * b));
    for (int b = 0; b < 4; b++) body[8 + b] = (unsigned char)(height >> (24 - 8 * b));
    body[12] = 8; /* depth 8, grey, deflate, no filter, no interlace */
    uLong crc = crc32(0, body, 17);
    memcpy(out, "\0\0\0\x0d", 4);
    memcpy(out + 4, body, 17);
    for (int b = 0; b < 4; b++) out[21 + b] = (unsigned char)(crc >> (24 - 8 * b));
    return 25;
}

/* dn_png_decode_digit (an upload) gives exactly the image dn_png_read_digit
 * gives for the same bytes in a file, and refuses what the file reader
 * refuses: data cut anywhere, no signature, nothing, a header that claims
 * more pixels than the data can inflate to; errors name the given name. */
static void test_png_decode_from_memory(void **state)
{
    (void)state;
    enum { W = 60, H = 80 };
    uint8_t *g = draw_seven(W, H);
    const png_spec specs[] = {GREY8, {PNG_COLOR_TYPE_GRAY, 8, 1, NULL, 0}, {PNG_COLOR_TYPE_GRAY, 4, 0, NULL, 0}};
    uint8_t *packed = malloc((size_t)W * H);
    for (size_t i = 0; i < (size_t)W * H; i++) packed[i] = g[i] >> 4; /* 4-bit grey, one sample a byte */
    char path[256];
    temp_path(path, sizeof path, "memory.png");
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        write_png(path, specs[k].bit_depth == 4 ? packed : g, W, H, specs[k]);
        uint8_t from_file[DN_IMAGE_PIXELS], from_memory[DN_IMAGE_PIXELS];
        dn_error err = {DN_OK, ""};
        if (dn_png_read_digit(path, from_file, &err)) fail_msg("%s", err.message);
        size_t n;
        unsigned char *data = file_bytes(path, &n);
        if (dn_png_decode_digit(data, n, "upload", from_memory, &err)) fail_msg("%s", err.message);
        assert_memory_equal(from_file, from_memory, DN_IMAGE_PIXELS);
        for (size_t cut = 0; cut < n; cut += cut < 40 ? 1 : 97) { /* every header byte, then through the pixels */
            err = (dn_error){DN_OK, ""};
            assert_int_equal(dn_png_decode_digit(data, cut, "upload", from_memory, &err), DN_ERR_INPUT);
            if (!strstr(err.message, "upload")) fail_msg("cut at %zu: '%s' does not name 'upload'", cut, err.message);
        }
        assert_int_equal(dn_png_decode_digit(data, n - 6, "upload", from_memory, &err), DN_ERR_INPUT);
        assert_non_null(strstr(err.message, "truncated"));
        free(data);
        unlink(path);
    }
    dn_error err = {DN_OK, ""};
    uint8_t out[DN_IMAGE_PIXELS];
    assert_int_equal(dn_png_decode_digit(NULL, 0, NULL, out, &err), DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "PNG data: not a PNG"));
    assert_int_equal(dn_png_decode_digit("GIF89a.....", 11, "x.gif", out, &err), DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "x.gif: not a PNG"));
    /* 8192 × 8192 claimed by some 60 bytes: refused before allocating 64 MiB */
    unsigned char bomb[128] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t n = 8 + put_ihdr(bomb + 8, 8192, 8192);
    unsigned char zeros[64] = {0}, idat[128] = {'I', 'D', 'A', 'T'};
    uLongf packed_size = sizeof idat - 4;
    assert_int_equal(compress2(idat + 4, &packed_size, zeros, sizeof zeros, 9), Z_OK);
    for (int b = 0; b < 4; b++) bomb[n + b] = (unsigned char)(packed_size >> (24 - 8 * b));
    memcpy(bomb + n + 4, idat, 4 + packed_size);
    uLong crc = crc32(0, idat, (uInt)(4 + packed_size));
    n += 8 + packed_size;
    for (int b = 0; b < 4; b++) bomb[n + b] = (unsigned char)(crc >> (24 - 8 * b));
    n += 4;
    memcpy(bomb + n, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    n += 12;
    assert_int_equal(dn_png_decode_digit(bomb, n, "bomb", out, &err), DN_ERR_INPUT);
    if (!strstr(err.message, "bomb") || !strstr(err.message, "compressed data"))
        fail_msg("'%s' should name 'bomb' and refuse the claimed size", err.message);
    free(packed);
    free(g);
}

#else /* built without libpng */
SKIPPED_WITHOUT_PNG(test_png_decode_from_memory)
SKIPPED_WITHOUT_PNG(test_bad_pngs_refused)
SKIPPED_WITHOUT_PNG(test_huge_text_chunk_refused)
SKIPPED_WITHOUT_PNG(test_png_of_real_digit)

/* A real PNG signature (and a missing file alike) gets DN_ERR_USAGE with a
 * message naming the file and saying the library was built without libpng. */
static void test_png_read_digit_without_libpng(void **state)
{
    (void)state;
    char path[256];
    temp_path(path, sizeof path, "nolib.png");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, fp);
    fclose(fp);
    uint8_t out[DN_IMAGE_PIXELS];
    dn_error err;
    for (int missing = 0; missing < 2; missing++) { /* the file, then the same name removed */
        err = (dn_error){DN_OK, ""};
        assert_int_equal(dn_png_read_digit(path, out, &err), DN_ERR_USAGE);
        unlink(path);
        assert_int_equal(err.code, DN_ERR_USAGE);
        if (!strstr(err.message, path) || !strstr(err.message, "built without libpng"))
            fail_msg("message '%s' should name %s and say 'built without libpng'", err.message, path);
    }
    assert_int_equal(dn_png_decode_digit("\x89PNG\r\n\x1a\n", 8, "upload", out, &err), DN_ERR_USAGE);
    if (!strstr(err.message, "upload") || !strstr(err.message, "built without libpng"))
        fail_msg("message '%s' should name 'upload' and say 'built without libpng'", err.message);
}
#endif /* DN_HAVE_PNG */

/* ---------------------------------------------------------------- IDX images */

static void write_idx(const char *path, int gz, uint32_t magic, uint32_t count, const uint8_t *images, size_t nbytes,
                      int extra)
{
    unsigned char h[16] = {0};
    uint32_t fields[4] = {magic, count, 28, 28};
    for (int f = 0; f < 4; f++)
        for (int b = 0; b < 4; b++) h[4 * f + b] = (unsigned char)(fields[f] >> (24 - 8 * b));
    gzFile f = gzopen(path, gz ? "wb" : "wbT"); /* T: written as is, no compression */
    gzwrite(f, h, 16);
    gzwrite(f, images, (unsigned)nbytes);
    if (extra) gzwrite(f, "x", 1);
    gzclose(f);
}

static void test_idx_images_without_labels(void **state)
{
    (void)state;
    uint8_t images[3 * DN_IMAGE_PIXELS];
    for (int i = 0; i < 3 * DN_IMAGE_PIXELS; i++) images[i] = (uint8_t)(i * 7);
    char path[256];
    for (int gz = 0; gz < 2; gz++) {
        temp_path(path, sizeof path, gz ? "images.idx3-ubyte.gz" : "images.idx3-ubyte");
        write_idx(path, gz, 0x803, 3, images, sizeof images, 0);
        size_t count = 0;
        dn_error err;
        uint8_t *got = dn_idx_images_read(path, &count, &err);
        if (!got) fail_msg("%s", err.message);
        assert_int_equal(count, 3);
        assert_memory_equal(got, images, sizeof images);
        free(got);
        /* refused, naming the file (the wording is idx.c's) */
        struct { uint32_t magic, count; size_t bytes; int extra; } bad[] = {
            {0x801, 3, sizeof images, 0}, /* a label file */
            {0x803, 4, sizeof images, 0}, /* truncated */
            {0x803, 3, sizeof images, 1}, /* a byte too many */
            {0x803, 2000000, 0, 0},       /* more images than allowed */
        };
        for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
            write_idx(path, gz, bad[b].magic, bad[b].count, images, bad[b].bytes, bad[b].extra);
            assert_null(dn_idx_images_read(path, &count, &err));
            assert_int_equal(err.code, DN_ERR_INPUT);
            if (!strstr(err.message, path)) fail_msg("'%s' should name the file", err.message);
        }
        unlink(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_png_format_same_digit),
        cmocka_unit_test(test_aspect_ratio_and_centre),
        cmocka_unit_test(test_bad_pngs_refused),
        cmocka_unit_test(test_huge_text_chunk_refused),
        cmocka_unit_test(test_idx_images_without_labels),
        cmocka_unit_test(test_png_of_real_digit),
        cmocka_unit_test(test_png_decode_from_memory),
#ifndef DN_HAVE_PNG
        cmocka_unit_test(test_png_read_digit_without_libpng),
#endif
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
