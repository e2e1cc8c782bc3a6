/*
 * digit_image.c — any grey image made into an MNIST digit (dn_digit_from_grey),
 * the step after decoding a PNG or a drawing.
 *
 * The MNIST recipe (LeCun et al.): the digit fitted into a 20 × 20 box,
 * aspect ratio kept, grey levels from anti-aliasing, then centred by its
 * centre of mass in the 28 × 28 field. Measured on the training set: the
 * longer side of the ink box is exactly 20 for every image, and the centre
 * of mass sits at (14.0, 14.0) ± 0.29 in 0-based pixel coordinates — an
 * integer shift that rounds it to pixel 14. This file does the same.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define INK_FLOOR 13       /* after contrast stretching, below this (5%) is background noise */
#define MIN_CONTRAST 16    /* ink must differ from the background by this much, or the image is blank */
#define BOX 20             /* the digit's longer side in MNIST */
#define CENTRE 14.0        /* where MNIST puts the centre of mass (0-based pixels) */

/* ---------------------------------------------------------------- MNIST recipe */

/* Mean and median of the outer frame of pixels. */
static void border_stats(const uint8_t *g, size_t w, size_t h, double *mean, int *median)
{
    size_t hist[256] = {0}, n = 0;
    double sum = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++)
            if (y == 0 || x == 0 || y == h - 1 || x == w - 1) hist[g[y * w + x]]++, sum += g[y * w + x], n++;
    *mean = sum / (double)n;
    size_t seen = 0;
    int v = 0;
    while (2 * (seen + hist[v]) <= n && v < 255) seen += hist[v++];
    *median = v;
}

typedef struct ink_box {
    size_t x0, y0, w, h;
} ink_box;

/* Ink bright on dark, background 0, contrast stretched to 0 … 255, in place;
 * fills the box of the ink. Returns 0 for a blank image. */
static int extract_ink(uint8_t *g, size_t w, size_t h, ink_box *box)
{
    double mean;
    int bg;
    border_stats(g, w, h, &mean, &bg);
    int invert = mean >= 128; /* dark ink on light paper: MNIST has it the other way */
    if (invert) bg = 255 - bg;
    int top = 0;
    for (size_t i = 0; i < w * h; i++) {
        int v = invert ? 255 - g[i] : g[i];
        g[i] = (uint8_t)v;
        top = v > top ? v : top;
    }
    if (top - bg < MIN_CONTRAST) return 0;
    size_t x0 = w, y0 = h, x1 = 0, y1 = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            int v = ((int)g[y * w + x] - bg) * 255 / (top - bg);
            g[y * w + x] = (uint8_t)(v < INK_FLOOR ? 0 : v);
            if (v < INK_FLOOR) continue;
            x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
        }
    *box = (ink_box){x0, y0, x1 - x0 + 1, y1 - y0 + 1};
    return 1;
}

/* Area-averaging weights along one axis: output cell o covers the source
 * interval [o·n/m, (o+1)·n/m); source pixel i counts with its overlap.
 * Works for shrinking and for enlarging (then a cell covers part of a pixel). */
static double overlap(size_t i, double lo, double hi)
{
    double a = (double)i > lo ? (double)i : lo, b = (double)(i + 1) < hi ? (double)(i + 1) : hi;
    return b > a ? b - a : 0.0;
}

/* The box of g resampled to ow × oh (≤ 20 × 20) by area averaging. */
static void resample(const uint8_t *g, size_t w, const ink_box *box, size_t ow, size_t oh, double out[BOX][BOX])
{
    const double sx = (double)box->w / (double)ow, sy = (double)box->h / (double)oh;
    for (size_t oy = 0; oy < oh; oy++)
        for (size_t ox = 0; ox < ow; ox++) {
            double ylo = oy * sy, yhi = (oy + 1) * sy, xlo = ox * sx, xhi = (ox + 1) * sx, sum = 0;
            for (size_t y = (size_t)ylo; (double)y < yhi && y < box->h; y++) {
                double wy = overlap(y, ylo, yhi);
                const uint8_t *row = g + (box->y0 + y) * w + box->x0;
                for (size_t x = (size_t)xlo; (double)x < xhi && x < box->w; x++) sum += wy * overlap(x, xlo, xhi) * row[x];
            }
            out[oy][ox] = sum / (sx * sy);
        }
}

/* The integer shift along one axis that brings the centre of mass c of a
 * block [at, at + len) to CENTRE, limited so the block stays in 0 … 27. */
static long centring_shift(double c, size_t at, size_t len)
{
    long shift = lround(CENTRE - c);
    long lo = -(long)at, hi = (long)(DN_IMAGE_SIDE - at - len);
    return shift < lo ? lo : shift > hi ? hi : shift;
}

/* Places the ow × oh block in the 28 × 28 image, centred by mass. */
static void place(double cell[BOX][BOX], size_t ow, size_t oh, uint8_t image[DN_IMAGE_PIXELS])
{
    size_t ax = (DN_IMAGE_SIDE - ow) / 2, ay = (DN_IMAGE_SIDE - oh) / 2;
    double mass = 0, mx = 0, my = 0;
    for (size_t y = 0; y < oh; y++)
        for (size_t x = 0; x < ow; x++) mass += cell[y][x], mx += cell[y][x] * (double)(ax + x), my += cell[y][x] * (double)(ay + y);
    size_t px = (size_t)((long)ax + centring_shift(mx / mass, ax, ow));
    size_t py = (size_t)((long)ay + centring_shift(my / mass, ay, oh));
    memset(image, 0, DN_IMAGE_PIXELS);
    for (size_t y = 0; y < oh; y++)
        for (size_t x = 0; x < ow; x++) {
            double v = floor(cell[y][x] + 0.5);
            image[(py + y) * DN_IMAGE_SIDE + px + x] = (uint8_t)(v > 255 ? 255 : v);
        }
}

dn_status dn_digit_from_grey(const uint8_t *grey, size_t width, size_t height, uint8_t image[DN_IMAGE_PIXELS],
                             const char *name, dn_error *err)
{
    size_t n;
    if (width == 0 || height == 0 || dn_mul_overflows(width, height, &n))
        return dn_fail(err, DN_ERR_INPUT, "%s: image has no pixels", name);
    uint8_t *g = malloc(n);
    if (!g) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for the image", name);
    memcpy(g, grey, n);
    ink_box box;
    if (!extract_ink(g, width, height, &box)) {
        free(g);
        return dn_fail(err, DN_ERR_INPUT, "%s: the image is blank (no ink stands out from the background)", name);
    }
    /* the longer side becomes 20, the other keeps the aspect ratio (at least 1) */
    size_t longer = box.w > box.h ? box.w : box.h;
    size_t ow = (size_t)lround((double)box.w * BOX / (double)longer), oh = (size_t)lround((double)box.h * BOX / (double)longer);
    ow = ow < 1 ? 1 : ow, oh = oh < 1 ? 1 : oh;
    double cell[BOX][BOX];
    resample(g, width, &box, ow, oh, cell);
    free(g);
    place(cell, ow, oh, image);
    return DN_OK;
}

/* IDX image files (dn_idx_images_read) are read in idx.c, by the same strict
 * reader as dn_dataset_load: it allocates only as data arrives. */
