/*
 * plot_png.c — grids of 28×28 images (weights, digits) as PNG via libpng.
 *
 * An image is painted on an RGB canvas in memory, encoded by libpng into a
 * growing memory buffer and written in one atomic step. libpng reports
 * errors by longjmp to the setjmp in encode_png; its default handlers
 * print to stderr, so both are replaced (the library never prints).
 * Captions use a built-in 5×7 pixel font: no font files, same pixels on
 * every machine, which is what lets a test check an image exactly.
 */
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "digitnet_plot.h"

#define SIDE DN_IMAGE_SIDE
#define MAX_IMAGES 100000
#define MAX_PIXELS (200u * 1000u * 1000u) /* 600 MB of RGB: far above any sane grid */

/* ---------------------------------------------------------------- canvas */

typedef struct canvas {
    size_t w, h;
    uint8_t *rgb; /* (h, w, 3) */
} canvas;

typedef struct colour {
    uint8_t r, g, b;
} colour;

static dn_status canvas_create(canvas *c, size_t w, size_t h, const char *path, dn_error *err)
{
    size_t pixels;
    if (dn_mul_overflows(w, h, &pixels) || pixels > MAX_PIXELS)
        return dn_fail(err, DN_ERR_USAGE, "%s: a %zu × %zu image is too large; use fewer images or a smaller scale",
                       path, w, h);
    c->w = w;
    c->h = h;
    c->rgb = malloc(pixels * 3);
    if (!c->rgb) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for a %zu × %zu image", path, w, h);
    memset(c->rgb, 0xff, pixels * 3); /* white */
    return DN_OK;
}

static void fill_rect(canvas *c, size_t x, size_t y, size_t w, size_t h, colour col)
{
    for (size_t r = y; r < y + h && r < c->h; r++)
        for (size_t k = x; k < x + w && k < c->w; k++) {
            uint8_t *p = c->rgb + (r * c->w + k) * 3;
            p[0] = col.r, p[1] = col.g, p[2] = col.b;
        }
}

/* ------------------------------------------------------------------ font */

/* 5×7 glyphs, one byte per row, bit 4 the leftmost column. */
typedef struct glyph {
    unsigned code; /* Unicode code point */
    uint8_t rows[7];
} glyph;

static const glyph font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},                      {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},       {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},          {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},       {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}}, {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}}, {0x2192, {0, 0x04, 0x02, 0x1F, 0x02, 0x04, 0}},
};
static const uint8_t unknown_glyph[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

/* Decodes one UTF-8 code point at *s and advances; a bad byte decodes as itself. */
static unsigned next_code_point(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned code = *p++;
    int extra = code >= 0xF0 ? 3 : code >= 0xE0 ? 2 : code >= 0xC0 ? 1 : 0;
    if (extra) code &= 0x3Fu >> extra;
    for (; extra > 0 && (*p & 0xC0) == 0x80; extra--) code = (code << 6) | (*p++ & 0x3Fu);
    *s = p;
    return code;
}

static const uint8_t *glyph_rows(unsigned code)
{
    for (size_t i = 0; i < sizeof font / sizeof *font; i++)
        if (font[i].code == code) return font[i].rows;
    return unknown_glyph;
}

static size_t text_columns(const char *text)
{
    size_t n = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; n++) next_code_point(&s);
    return n;
}

/* Draws text with font magnification f, each glyph 5f wide plus f spacing,
 * clipped to the box [x, x + max_w). */
static void draw_text(canvas *c, size_t x, size_t y, size_t max_w, size_t f, const char *text, colour col)
{
    size_t pen = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s && pen + 5 * f <= max_w; pen += 6 * f) {
        const uint8_t *rows = glyph_rows(next_code_point(&s));
        for (size_t r = 0; r < 7; r++)
            for (size_t k = 0; k < 5; k++)
                if (rows[r] & (0x10u >> k)) fill_rect(c, x + pen + k * f, y + r * f, f, f, col);
    }
}

/* ---------------------------------------------------------------- PNG out */

typedef struct png_sink {
    uint8_t *data;
    size_t size, cap;
    char message[160];
} png_sink;

static void sink_write(png_structp png, png_bytep bytes, png_size_t n)
{
    png_sink *s = png_get_io_ptr(png);
    if (n > s->cap - s->size) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap - s->size < n) cap *= 2;
        uint8_t *grown = realloc(s->data, cap);
        if (!grown) png_error(png, "out of memory");
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->size, bytes, n);
    s->size += n;
}

static void sink_flush(png_structp png) { (void)png; }

static void on_png_error(png_structp png, png_const_charp message)
{
    png_sink *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", message);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp message) { (void)png, (void)message; }

/* Encodes c as 8-bit RGB into sink. Everything the error path frees is
 * set before setjmp, so no local needs to be volatile. */
static dn_status encode_png(const canvas *c, png_sink *sink, const char *path, dn_error *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory starting the PNG encoder", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return dn_fail(err, DN_ERR_NOMEM, "%s: cannot encode the PNG (%s)", path, sink->message);
    }
    png_set_write_fn(png, sink, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (size_t r = 0; r < c->h; r++) png_write_row(png, c->rgb + r * c->w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return DN_OK;
}

static dn_status save_png(const canvas *c, const char *path, dn_error *err)
{
    png_sink sink = {NULL, 0, 0, ""};
    dn_status s = encode_png(c, &sink, path, err);
    if (!s) s = dn_write_file_atomic(path, sink.data, sink.size, err);
    free(sink.data);
    return s;
}

/* ------------------------------------------------------------------ grids */

void dn_image_grid_options_default(dn_image_grid_options *opt) { *opt = (dn_image_grid_options){0, 8, 0}; }

/* The geometry documented in digitnet.h. */
typedef struct grid {
    size_t count, columns, rows;
    size_t scale, pad, font, caption_h, cell; /* cell = 28·scale */
    const char *const *captions;
} grid;

/* Up to 12 images: two rows. More: about 16:9, and of the column counts
 * near that the one that leaves the fewest empty cells in the last row. */
static size_t auto_columns(size_t count)
{
    if (count <= 12) return (count + 1) / 2;
    size_t ideal = (size_t)ceil(sqrt((double)count * 16.0 / 9.0)), best = ideal, best_waste = SIZE_MAX;
    for (size_t c = ideal - 2; c <= ideal + 2; c++) {
        size_t waste = (count + c - 1) / c * c - count;
        if (waste < best_waste) best = c, best_waste = waste;
    }
    return best;
}

static dn_status grid_layout(grid *g, size_t count, const char *const *captions, const dn_image_grid_options *opt,
                             const char *path, dn_error *err)
{
    if (!path) return dn_fail(err, DN_ERR_USAGE, "plot: no output path given");
    if (count == 0 || count > MAX_IMAGES)
        return dn_fail(err, DN_ERR_USAGE, "%s: %zu images; a grid holds 1 to %d", path, count, MAX_IMAGES);
    if (opt->scale < 1 || opt->scale > 32 || opt->columns < 0 || opt->columns > 1000)
        return dn_fail(err, DN_ERR_USAGE, "%s: scale %d or columns %d out of range (scale 1–32, columns 0–1000)",
                       path, opt->scale, opt->columns);
    g->count = count;
    g->columns = opt->columns ? (size_t)opt->columns : auto_columns(count);
    if (g->columns > count) g->columns = count;
    g->rows = (count + g->columns - 1) / g->columns;
    g->scale = (size_t)opt->scale;
    g->pad = g->scale;
    g->font = 1 + (g->scale >= 4) + (g->scale >= 12);
    g->caption_h = captions ? 9 * g->font : 0;
    g->cell = SIDE * g->scale;
    g->captions = captions;
    return DN_OK;
}

static size_t cell_x(const grid *g, size_t i) { return g->pad + (i % g->columns) * (g->cell + g->pad); }
static size_t cell_y(const grid *g, size_t i)
{
    return g->pad + (i / g->columns) * (g->caption_h + g->cell + g->pad) + g->caption_h;
}

static void draw_caption(canvas *c, const grid *g, size_t i)
{
    if (!g->captions || !g->captions[i]) return;
    size_t width = text_columns(g->captions[i]) * 6 * g->font - g->font;
    size_t x = cell_x(g, i) + (width < g->cell ? (g->cell - width) / 2 : 0);
    draw_text(c, x, cell_y(g, i) - g->caption_h + g->font, g->cell, g->font, g->captions[i],
              (colour){0x33, 0x33, 0x33});
}

typedef colour (*pixel_fn)(const void *images, size_t image, size_t pixel, const void *ctx);

/* Paints every image through paint(images, i, pixel) and saves the PNG. */
static dn_status draw_grid(const grid *g, const void *images, pixel_fn paint, const void *ctx, const char *path,
                           dn_error *err)
{
    canvas c;
    dn_status s = canvas_create(&c, g->pad + g->columns * (g->cell + g->pad),
                                g->pad + g->rows * (g->caption_h + g->cell + g->pad), path, err);
    if (s) return s;
    for (size_t i = 0; i < g->count; i++) {
        if (g->pad >= 2) /* a hairline frame in the gap: where one image ends and the next begins */
            fill_rect(&c, cell_x(g, i) - 1, cell_y(g, i) - 1, g->cell + 2, g->cell + 2, (colour){0xd0, 0xd0, 0xd0});
        for (size_t p = 0; p < DN_IMAGE_PIXELS; p++)
            fill_rect(&c, cell_x(g, i) + (p % SIDE) * g->scale, cell_y(g, i) + (p / SIDE) * g->scale, g->scale,
                      g->scale, paint(images, i, p, ctx));
        draw_caption(&c, g, i);
    }
    s = save_png(&c, path, err);
    free(c.rgb);
    return s;
}

/* ------------------------------------------------------------ weight images */

/* ColorBrewer RdBu, 11 classes, blue (negative) to red (positive). */
static const colour diverging[11] = {{0x05, 0x30, 0x61}, {0x21, 0x66, 0xac}, {0x43, 0x93, 0xc3}, {0x92, 0xc5, 0xde},
                                     {0xd1, 0xe5, 0xf0}, {0xf7, 0xf7, 0xf7}, {0xfd, 0xdb, 0xc7}, {0xf4, 0xa5, 0x82},
                                     {0xd6, 0x60, 0x4d}, {0xb2, 0x18, 0x2b}, {0x67, 0x00, 0x1f}};

static colour diverging_colour(double t) /* t in [-1, 1] */
{
    double pos = (fmin(fmax(t, -1), 1) + 1) * 5;
    int i = pos >= 10 ? 9 : (int)pos;
    double f = pos - i;
    const colour a = diverging[i], b = diverging[i + 1];
    return (colour){(uint8_t)lround(a.r + f * (b.r - a.r)), (uint8_t)lround(a.g + f * (b.g - a.g)),
                    (uint8_t)lround(a.b + f * (b.b - a.b))};
}

typedef struct weight_ctx {
    double *limit; /* per image: the |w| drawn at full colour */
} weight_ctx;

static colour weight_pixel(const void *images, size_t image, size_t pixel, const void *ctx)
{
    const double *w = images;
    double m = ((const weight_ctx *)ctx)->limit[image], v = w[image * DN_IMAGE_PIXELS + pixel];
    return diverging_colour(m > 0 && isfinite(v) ? v / m : 0);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The |w| of one image drawn at full colour: the 99th percentile, so the
 * handful of extreme weights a perceptron grows on rarely inked border
 * pixels saturate instead of washing every other pixel out to white; the
 * largest |w| when that percentile is 0 (a nearly empty image). */
static double robust_limit(const double *w, double *scratch)
{
    size_t n = 0;
    double largest = 0;
    for (size_t p = 0; p < DN_IMAGE_PIXELS; p++)
        if (isfinite(w[p])) scratch[n++] = fabs(w[p]), largest = fmax(largest, fabs(w[p]));
    if (n == 0) return 0;
    qsort(scratch, n, sizeof *scratch, compare_doubles);
    double q = scratch[(size_t)floor(0.99 * (double)(n - 1))];
    return q > 0 ? q : largest;
}

static void weight_limits(const double *w, size_t count, int shared, double *limit)
{
    double scratch[DN_IMAGE_PIXELS], all = 0;
    for (size_t i = 0; i < count; i++) {
        limit[i] = robust_limit(w + i * DN_IMAGE_PIXELS, scratch);
        all = fmax(all, limit[i]);
    }
    for (size_t i = 0; shared && i < count; i++) limit[i] = all;
}

dn_status dn_plot_weight_images(const char *path, const double *weights, size_t count, const char *const *captions,
                                const dn_image_grid_options *opt, dn_error *err)
{
    dn_image_grid_options defaults;
    if (!opt) dn_image_grid_options_default(&defaults), opt = &defaults;
    grid g;
    dn_status s = grid_layout(&g, count, captions, opt, path, err);
    if (s) return s;
    if (!weights) return dn_fail(err, DN_ERR_USAGE, "%s: no weights given", path);
    weight_ctx ctx = {malloc(count * sizeof(double))};
    if (!ctx.limit) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    weight_limits(weights, count, opt->shared_scale, ctx.limit);
    s = draw_grid(&g, weights, weight_pixel, &ctx, path, err);
    free(ctx.limit);
    return s;
}

/* ------------------------------------------------------------- digit images */

static colour digit_pixel(const void *images, size_t image, size_t pixel, const void *ctx)
{
    (void)ctx;
    uint8_t v = (uint8_t)(255 - ((const uint8_t *)images)[image * DN_IMAGE_PIXELS + pixel]);
    return (colour){v, v, v};
}

dn_status dn_plot_digit_images(const char *path, const uint8_t *images, size_t count, const char *const *captions,
                               const dn_image_grid_options *opt, dn_error *err)
{
    dn_image_grid_options defaults;
    if (!opt) dn_image_grid_options_default(&defaults), opt = &defaults;
    grid g;
    dn_status s = grid_layout(&g, count, captions, opt, path, err);
    if (s) return s;
    if (!images) return dn_fail(err, DN_ERR_USAGE, "%s: no images given", path);
    return draw_grid(&g, images, digit_pixel, NULL, path, err);
}

/* The gallery: copies the chosen images next to each other (draw_grid
 * wants them contiguous) with captions "true→predicted". */
typedef struct gallery {
    uint8_t *images;
    char (*text)[16];
    const char **captions;
    size_t count;
} gallery;

static dn_status gallery_collect(gallery *g, const dn_dataset *set, const uint8_t *predicted, size_t max_count,
                                 const char *path, dn_error *err)
{
    size_t wrong = 0;
    for (size_t i = 0; i < set->count && wrong < max_count; i++) wrong += predicted[i] != set->labels[i];
    g->count = 0;
    g->images = malloc((wrong ? wrong : 1) * DN_IMAGE_PIXELS);
    g->text = malloc((wrong ? wrong : 1) * sizeof *g->text);
    g->captions = malloc((wrong ? wrong : 1) * sizeof *g->captions);
    if (!g->images || !g->text || !g->captions) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < set->count && g->count < wrong; i++) {
        if (predicted[i] == set->labels[i]) continue;
        memcpy(g->images + g->count * DN_IMAGE_PIXELS, set->images + i * DN_IMAGE_PIXELS, DN_IMAGE_PIXELS);
        snprintf(g->text[g->count], sizeof g->text[g->count], "%u\xE2\x86\x92%u", (unsigned)set->labels[i],
                 (unsigned)predicted[i]);
        g->captions[g->count] = g->text[g->count];
        g->count++;
    }
    return DN_OK;
}

dn_status dn_plot_misclassified(const char *path, const dn_dataset *set, const uint8_t *predicted, size_t max_count,
                                const dn_image_grid_options *opt, size_t *shown, dn_error *err)
{
    if (shown) *shown = 0;
    if (!path || !set || !predicted)
        return dn_fail(err, DN_ERR_USAGE, "plot: the misclassified gallery needs a path, a set and predictions");
    dn_image_grid_options defaults = {10, 4, 0};
    if (!opt) opt = &defaults;
    gallery g = {NULL, NULL, NULL, 0};
    dn_status s = gallery_collect(&g, set, predicted, max_count, path, err);
    if (!s && g.count > 0) s = dn_plot_digit_images(path, g.images, g.count, g.captions, opt, err);
    if (!s && shown) *shown = g.count;
    free(g.images);
    free(g.text);
    free(g.captions);
    return s;
}
