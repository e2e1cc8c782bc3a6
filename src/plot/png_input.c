/*
 * png_input.c — digits from outside MNIST: PNG files of any kind decoded
 * to grey and made into MNIST-style 28 × 28 images by dn_digit_from_grey
 * (src/data/digit_image.c).
 *
 * libpng reports errors by longjmp. Everything that must survive the jump
 * (the FILE, the png structs, the buffers) lives in a png_reader owned by
 * the caller of the function that calls setjmp, so no local of that
 * function is changed between setjmp and longjmp and none needs volatile;
 * the caller frees whatever the reader holds, jump or no jump.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#ifdef DN_HAVE_PNG
#include <png.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "digitnet_plot.h"

#define PNG_CHUNK_MAX (1u << 20) /* bytes libpng may allocate for one ancillary chunk */

/* Built without libpng, only the decoding below is missing: dn_digit_from_grey
 * (further down) works on pixels from any source. */
#ifdef DN_HAVE_PNG

/* ---------------------------------------------------------------- PNG decoding */

typedef struct png_reader {
    const char *path; /* the file, or the name given for a memory buffer: errors name it */
    FILE *fp;         /* the file, or NULL when reading from memory */
    const unsigned char *data; /* memory input: size bytes, next at offset */
    size_t size, offset;
    png_structp png;
    png_infop info;
    uint8_t *pixels; /* (height, width, 2): grey, alpha */
    png_bytep *rows;
    size_t width, height;
    char why[160]; /* libpng's own words for what went wrong */
} png_reader;

static void on_png_error(png_structp png, png_const_charp message)
{
    png_reader *r = png_get_error_ptr(png);
    snprintf(r->why, sizeof r->why, "%s", message);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp message)
{
    (void)png, (void)message; /* the library never prints; warnings change nothing we rely on */
}

/* Every colour type and depth becomes 8-bit grey + alpha. */
static void ask_for_grey_alpha(png_structp png, png_infop info)
{
    png_set_expand(png); /* palette → RGB, grey < 8 bits → 8, tRNS → alpha */
    png_set_strip_16(png);
    int type = png_get_color_type(png, info);
    if (type & PNG_COLOR_MASK_COLOR) png_set_rgb_to_gray(png, PNG_ERROR_ACTION_NONE, -1, -1);
    if (!(type & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

/* Deflate expands data at most 1032:1, so a PNG of S bytes holds at most
 * 1032·S bytes of pixel rows: a header claiming more (an 88-byte file
 * saying 8192 × 8192) is refused before the image buffers are allocated
 *. A stream that is not a regular file has only the side cap. */
static int pixels_fit_file(const png_reader *r)
{
    double size = (double)r->size;
    if (r->fp) {
        struct stat sb;
        if (fstat(fileno(r->fp), &sb) != 0 || !S_ISREG(sb.st_mode)) return 1;
        size = (double)sb.st_size;
    }
    double rows = (double)png_get_rowbytes(r->png, r->info) * (double)r->height;
    return rows <= 1032.0 * size;
}

/* libpng's read callback for a memory buffer: a read past its end is the
 * truncated-PNG error a file cut short gives. */
static void read_from_memory(png_structp png, png_bytep out, size_t length)
{
    png_reader *r = png_get_io_ptr(png);
    if (length > r->size - r->offset) png_error(png, "read past the end of the data");
    memcpy(out, r->data + r->offset, length);
    r->offset += length;
}

/* libpng allocates a text or profile chunk's declared length before reading
 * it, and 1.6.39 caps that length only at 2^31: 40 bytes claiming a 1 GB
 * iTXt chunk made it ask for 1 GB (found by fuzz_png). A digit needs none
 * of these chunks, so libpng is told to treat them as unknown and skip
 * them, which it does in small reads. tRNS (transparency) and the critical
 * chunks are still read; what they allocate is bounded by the image. */
static void skip_unused_chunks(png_structp png)
{
    static const png_byte unused[] = "iTXt\0tEXt\0zTXt\0iCCP\0sPLT\0eXIf\0tIME\0pHYs\0sBIT\0hIST\0"
                                     "bKGD\0cHRM\0gAMA\0sRGB\0oFFs\0pCAL\0sCAL\0sTER\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0); /* truly unknown ones too */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, unused, (int)(sizeof unused / 5));
    png_set_chunk_malloc_max(png, PNG_CHUNK_MAX); /* and a cap where libpng applies one */
}

/* The only function that calls setjmp; it changes no local after it. */
static dn_status decode_png(png_reader *r, dn_error *err)
{
    if (setjmp(png_jmpbuf(r->png)))
        return dn_fail(err, DN_ERR_INPUT, "%s: corrupt or truncated PNG (%s)", r->path, r->why);
    if (r->fp) png_init_io(r->png, r->fp);
    else png_set_read_fn(r->png, r, read_from_memory);
    png_set_sig_bytes(r->png, 8);
    skip_unused_chunks(r->png);
    png_read_info(r->png, r->info);
    r->width = png_get_image_width(r->png, r->info);
    r->height = png_get_image_height(r->png, r->info);
    if (r->width > DN_PNG_MAX_SIDE || r->height > DN_PNG_MAX_SIDE)
        return dn_fail(err, DN_ERR_INPUT, "%s: PNG is %zu × %zu pixels, larger than the %d × %d this reads",
                       r->path, r->width, r->height, DN_PNG_MAX_SIDE, DN_PNG_MAX_SIDE);
    if (!pixels_fit_file(r))
        return dn_fail(err, DN_ERR_INPUT, "%s: PNG header claims %zu × %zu pixels, more than the file's compressed "
                       "data can hold (truncated or corrupt)", r->path, r->width, r->height);
    ask_for_grey_alpha(r->png, r->info);
    if (png_get_rowbytes(r->png, r->info) != 2 * r->width)
        return dn_fail(err, DN_ERR_INPUT, "%s: unexpected PNG pixel layout after conversion", r->path);
    r->pixels = malloc(2 * r->width * r->height);
    r->rows = malloc(r->height * sizeof *r->rows);
    if (!r->pixels || !r->rows) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for the image", r->path);
    for (size_t y = 0; y < r->height; y++) r->rows[y] = r->pixels + 2 * r->width * y;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL); /* reaches IEND: a file cut after the pixels is still truncated */
    return DN_OK;
}

/* Reads the signature from the file (r->path) or the memory buffer (r->data)
 * and creates libpng's structs. */
static dn_status open_png(png_reader *r, dn_error *err)
{
    unsigned char sig[8];
    if (r->data) {
        if (r->size < 8 || png_sig_cmp(r->data, 0, 8) != 0)
            return dn_fail(err, DN_ERR_INPUT, "%s: not a PNG (no PNG signature)", r->path);
        r->offset = 8;
    } else {
        if (!(r->fp = fopen(r->path, "rb")))
            return dn_fail(err, DN_ERR_IO, "%s: cannot open (%s)", r->path, strerror(errno));
        if (fread(sig, 1, 8, r->fp) != 8 || png_sig_cmp(sig, 0, 8) != 0)
            return dn_fail(err, DN_ERR_INPUT, "%s: not a PNG file (no PNG signature)", r->path);
    }
    r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, on_png_error, on_png_warning);
    if (r->png) r->info = png_create_info_struct(r->png);
    if (!r->png || !r->info) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for the PNG decoder", r->path);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* Fuzz builds only (fuzz/run.sh): mutated chunks keep their stale CRCs;
     * checking them would stop almost every input at the first chunk. */
    png_set_crc_action(r->png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
    png_set_option(r->png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
    return DN_OK;
}

static void close_png(png_reader *r)
{
    if (r->png) png_destroy_read_struct(&r->png, r->info ? &r->info : NULL, NULL);
    if (r->fp) fclose(r->fp);
    free(r->rows);
    free(r->pixels);
}

/* Grey + alpha → one grey image. When most of the border is transparent,
 * the strokes are the opaque part whatever their colour: ink = opacity,
 * bright on dark. Otherwise the image is composed over white paper. */
static void flatten_alpha(const uint8_t *ga, size_t w, size_t h, uint8_t *grey)
{
    size_t border = 0, transparent = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++)
            if (y == 0 || x == 0 || y == h - 1 || x == w - 1) border++, transparent += ga[2 * (y * w + x) + 1] < 128;
    int alpha_is_ink = 2 * transparent > border;
    for (size_t i = 0; i < w * h; i++) {
        unsigned g = ga[2 * i], a = ga[2 * i + 1];
        grey[i] = alpha_is_ink ? (uint8_t)a : (uint8_t)((g * a + 255u * (255u - a) + 127u) / 255u);
    }
}

/* The file and the memory buffer differ only in where open_png and
 * decode_png read: r holds either; everything after is shared. */
static dn_status read_digit(png_reader *r, uint8_t image[DN_IMAGE_PIXELS], dn_error *err)
{
    dn_status s = open_png(r, err);
    if (!s) s = decode_png(r, err);
    uint8_t *grey = NULL;
    if (!s && !(grey = malloc(r->width * r->height > 0 ? r->width * r->height : 1)))
        s = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for the image", r->path);
    if (!s) {
        flatten_alpha(r->pixels, r->width, r->height, grey);
        s = dn_digit_from_grey(grey, r->width, r->height, image, r->path, err);
    }
    free(grey);
    close_png(r);
    return s;
}

dn_status dn_png_read_digit(const char *path, uint8_t image[DN_IMAGE_PIXELS], dn_error *err)
{
    png_reader r;
    memset(&r, 0, sizeof r);
    r.path = path;
    return read_digit(&r, image, err);
}

dn_status dn_png_decode_digit(const void *data, size_t size, const char *name, uint8_t image[DN_IMAGE_PIXELS],
                              dn_error *err)
{
    static const unsigned char none = 0; /* r.data must not be NULL: it says "memory" */
    png_reader r;
    memset(&r, 0, sizeof r);
    r.path = name ? name : "PNG data";
    r.data = data && size ? data : &none;
    r.size = data ? size : 0;
    return read_digit(&r, image, err);
}

#else

dn_status dn_png_read_digit(const char *path, uint8_t image[DN_IMAGE_PIXELS], dn_error *err)
{
    (void)image;
    return dn_fail(err, DN_ERR_USAGE, "%s: this libdigitnet was built without libpng and cannot read PNG files", path);
}

dn_status dn_png_decode_digit(const void *data, size_t size, const char *name, uint8_t image[DN_IMAGE_PIXELS],
                              dn_error *err)
{
    (void)data, (void)size, (void)image;
    return dn_fail(err, DN_ERR_USAGE, "%s: this libdigitnet was built without libpng and cannot read PNG data",
                   name ? name : "PNG data");
}

#endif /* DN_HAVE_PNG */
