/* npy.c — NumPy .npy files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length
 * (u16 LE in 1.0, u32 LE in 2.0), then an ASCII Python dict literal such as
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n' so the data starts at a multiple
 * of 64, then the raw C-order data.
 *
 * The reader accepts exactly the dict literals NumPy writes (any key order,
 * either quote style, optional trailing commas) and nothing looser: no
 * escapes, no other keys, a real tuple for the shape. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "text_cursor.h"

/* Data bytes are converted with plain loads, right only on a little-endian
 * host; '<' (little-endian) is all the reader accepts and the writer states. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy.c assumes a little-endian host");
#endif

#define NPY_MAX_FILE ((uint64_t)4 << 30)
#define NPY_MAX_HEADER 65536u /* NumPy itself refuses headers over 10000 bytes by default */
#define NPY_ALIGN 64

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

typedef enum npy_type { NPY_F4, NPY_F8, NPY_U1 } npy_type;

static size_t npy_itemsize(npy_type t) { return t == NPY_F8 ? 8 : t == NPY_F4 ? 4 : 1; }

/* Number of elements; 1 on overflow of size_t. A 0-d array holds one. */
static int element_count(const size_t *shape, int ndim, size_t *count)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (dn_mul_overflows(n, shape[d], &n)) return 1;
    }
    *count = n;
    return 0;
}

/* ================================================================ reading */

/* What the header dict says. */
typedef struct npy_header {
    npy_type type;
    int fortran;
    int ndim;
    size_t shape[4];
} npy_header;

/* A quoted Python string without escapes, copied into out (truncation
 * is harmless: no accepted value is long). */
static dn_status hp_string(dn_cursor *p, char *out, size_t cap)
{
    int q = dn_cursor_peek(p);
    if (q != '\'' && q != '"') return dn_cursor_fail(p, "expected a quoted string");
    size_t start = ++p->pos;
    while (p->pos < p->n && p->s[p->pos] != q) {
        if (p->s[p->pos] == '\\') return dn_cursor_fail(p, "escapes are not supported in strings");
        p->pos++;
    }
    if (p->pos >= p->n) return dn_cursor_fail(p, "unterminated string");
    size_t len = p->pos - start;
    if (len >= cap) len = cap - 1;
    memcpy(out, p->s + start, len);
    out[len] = '\0';
    p->pos++;
    return DN_OK;
}

static dn_status hp_descr(dn_cursor *p, npy_header *h)
{
    char descr[16];
    dn_status st = hp_string(p, descr, sizeof descr);
    if (st != DN_OK) return st;
    static const struct {
        const char *descr;
        npy_type type;
    } known[] = {{"<f8", NPY_F8}, {"<f4", NPY_F4}, {"|u1", NPY_U1}, {"<u1", NPY_U1}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(descr, known[i].descr) == 0) {
            h->type = known[i].type;
            return DN_OK;
        }
    }
    return dn_fail(p->err, DN_ERR_INPUT, "%s: unsupported dtype '%s' (expected '<f4', '<f8' or '|u1')", p->path, descr);
}

static dn_status hp_bool(dn_cursor *p, int *out)
{
    if (p->n - p->pos >= 4 && memcmp(p->s + p->pos, "True", 4) == 0) {
        *out = 1, p->pos += 4;
    } else if (p->n - p->pos >= 5 && memcmp(p->s + p->pos, "False", 5) == 0) {
        *out = 0, p->pos += 5;
    } else {
        return dn_cursor_fail(p, "expected True or False");
    }
    return DN_OK;
}

static dn_status hp_size(dn_cursor *p, size_t *out)
{
    uint64_t v = 0;
    switch (dn_cursor_digits(p, SIZE_MAX, &v)) {
    case DN_DIGITS_TOO_LARGE: return dn_cursor_fail(p, "dimension too large");
    case DN_DIGITS_NONE: return dn_cursor_fail(p, "expected a non-negative integer");
    case DN_DIGITS_LEADING_ZERO: return dn_cursor_fail(p, "integer with a leading zero");
    case DN_DIGITS_OK: break;
    }
    *out = (size_t)v;
    return DN_OK;
}

/* "()", "(3,)", "(2, 3)" or "(2, 3,)"; "(3)" is an int, not a tuple. */
static dn_status hp_shape(dn_cursor *p, npy_header *h)
{
    dn_status st = dn_cursor_expect(p, '(');
    h->ndim = 0;
    if (st != DN_OK) return st;
    dn_cursor_skip_blanks(p);
    int trailing_comma = 0;
    while (dn_cursor_peek(p) != ')') {
        if (h->ndim == 4) return dn_fail(p->err, DN_ERR_INPUT, "%s: shape has more than 4 dimensions", p->path);
        if ((st = hp_size(p, &h->shape[h->ndim++])) != DN_OK) return st;
        dn_cursor_skip_blanks(p);
        trailing_comma = dn_cursor_peek(p) == ',';
        if (trailing_comma) {
            p->pos++;
            dn_cursor_skip_blanks(p);
        } else if (dn_cursor_peek(p) != ')') {
            return dn_cursor_fail(p, "expected ',' or ')' in the shape");
        }
    }
    if (h->ndim == 1 && !trailing_comma) return dn_cursor_fail(p, "shape is not a tuple (a 1-tuple needs a trailing comma)");
    p->pos++;
    return DN_OK;
}

static dn_status hp_member(dn_cursor *p, npy_header *h, int seen[3])
{
    static const char *const keys[] = {"descr", "fortran_order", "shape"};
    char key[32];
    dn_status st = hp_string(p, key, sizeof key);
    if (st != DN_OK) return st;
    int k = 0;
    while (k < 3 && strcmp(key, keys[k]) != 0) k++;
    if (k == 3) return dn_fail(p->err, DN_ERR_INPUT, "%s: header: unknown key '%s'", p->path, key);
    if (seen[k]++) return dn_fail(p->err, DN_ERR_INPUT, "%s: header: key '%s' given twice", p->path, key);
    dn_cursor_skip_blanks(p);
    if ((st = dn_cursor_expect(p, ':')) != DN_OK) return st;
    dn_cursor_skip_blanks(p);
    return k == 0 ? hp_descr(p, h) : k == 1 ? hp_bool(p, &h->fortran) : hp_shape(p, h);
}

/* The dict literal, then only spaces up to the final '\n'. */
static dn_status parse_dict(dn_cursor *p, npy_header *h)
{
    int seen[3] = {0, 0, 0};
    dn_status st = dn_cursor_expect(p, '{');
    while (st == DN_OK) {
        dn_cursor_skip_blanks(p);
        if (dn_cursor_peek(p) == '}') break;
        if ((st = hp_member(p, h, seen)) != DN_OK) return st;
        dn_cursor_skip_blanks(p);
        if (dn_cursor_peek(p) != ',' && dn_cursor_peek(p) != '}') return dn_cursor_fail(p, "expected ',' or '}'");
        p->pos += dn_cursor_peek(p) == ',';
    }
    if (st != DN_OK) return st;
    p->pos++;
    dn_cursor_skip_blanks(p);
    if (p->pos != p->n) return dn_cursor_fail(p, "unexpected text after the dict");
    static const char *const keys[] = {"descr", "fortran_order", "shape"};
    for (int k = 0; k < 3; k++) {
        if (!seen[k]) return dn_fail(p->err, DN_ERR_INPUT, "%s: header: missing key '%s'", p->path, keys[k]);
    }
    if (h->fortran) {
        return dn_fail(p->err, DN_ERR_INPUT, "%s: fortran_order True is not supported (save C-order arrays)", p->path);
    }
    return DN_OK;
}

/* Magic, version and header length; *data_start is where the data begins. */
static dn_status parse_preamble(const char *path, const unsigned char *buf, size_t size, size_t *hdr_start,
                                size_t *hdr_len, dn_error *err)
{
    if (memcmp(buf, npy_magic, sizeof npy_magic) != 0) {
        return dn_fail(err, DN_ERR_INPUT, "%s: not a .npy file (bad magic)", path);
    }
    unsigned major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2) || minor != 0) {
        return dn_fail(err, DN_ERR_INPUT, "%s: .npy format version %u.%u is not supported (1.0 and 2.0 are)", path,
                       major, minor);
    }
    size_t start = major == 1 ? 10 : 12;
    if (size < start) {
        return dn_fail(err, DN_ERR_INPUT, "%s: file is %zu bytes, too short for a version 2.0 header", path, size);
    }
    size_t len = (size_t)buf[8] | (size_t)buf[9] << 8;
    if (major == 2) len |= (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (len > size - start) {
        return dn_fail(err, DN_ERR_INPUT, "%s: header length %zu exceeds file size %zu", path, len, size);
    }
    if (len > NPY_MAX_HEADER) {
        return dn_fail(err, DN_ERR_INPUT, "%s: header length %zu exceeds the %u-byte limit", path, len, NPY_MAX_HEADER);
    }
    if (len == 0 || buf[start + len - 1] != '\n') {
        return dn_fail(err, DN_ERR_INPUT, "%s: header does not end with a newline", path);
    }
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned char c = buf[start + i];
        if (c < 0x20 || c > 0x7E) {
            return dn_fail(err, DN_ERR_INPUT, "%s: header byte %zu (0x%02x) is not printable ASCII", path, i, c);
        }
    }
    *hdr_start = start, *hdr_len = len;
    return DN_OK;
}

static void convert(npy_type type, const unsigned char *src, size_t count, double *out)
{
    for (size_t i = 0; i < count; i++) {
        if (type == NPY_F8) {
            memcpy(&out[i], src + 8 * i, 8);
        } else if (type == NPY_F4) {
            float f;
            memcpy(&f, src + 4 * i, 4);
            out[i] = f;
        } else {
            out[i] = src[i];
        }
    }
}

/* Checks the data size against the header, then converts. */
static dn_status decode(const char *path, const unsigned char *buf, size_t size, double **data, size_t shape[4],
                        int *ndim, char *dtype, dn_error *err)
{
    size_t start = 0, len = 0, count = 0, bytes = 0, out_bytes = 0;
    dn_status st = parse_preamble(path, buf, size, &start, &len, err);
    if (st != DN_OK) return st;
    npy_header h = {0};
    /* the dict literal without its final '\n' */
    dn_cursor p = {.s = buf + start, .n = len - 1, .path = path, .where = "header", .blanks = " ", .err = err};
    if ((st = parse_dict(&p, &h)) != DN_OK) return st;
    char sb[128];
    dn_format_shape(sb, sizeof sb, h.shape, h.ndim);
    static const char *const names[] = {"<f4", "<f8", "|u1"};
    size_t data_size = size - start - len;
    if (element_count(h.shape, h.ndim, &count) || dn_mul_overflows(count, npy_itemsize(h.type), &bytes)) {
        return dn_fail(err, DN_ERR_INPUT, "%s: shape %s '%s' is too large", path, sb, names[h.type]);
    }
    if (bytes != data_size) {
        return dn_fail(err, DN_ERR_INPUT, "%s: data is %zu bytes, but shape %s '%s' needs %zu", path, data_size, sb,
                       names[h.type], bytes);
    }
    /* count ≤ data_size, which the real file bounds: this cannot overflow. */
    dn_mul_overflows(count, sizeof(double), &out_bytes);
    double *out = malloc(out_bytes ? out_bytes : 1);
    if (!out) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for %zu values", path, count);
    convert(h.type, buf + start + len, count, out);
    *data = out;
    *ndim = h.ndim;
    *dtype = h.type == NPY_F4 ? 'f' : h.type == NPY_F8 ? 'd' : 'u';
    for (int d = 0; d < 4; d++) shape[d] = d < h.ndim ? h.shape[d] : 0;
    return DN_OK;
}

dn_status dn_npy_read_f64(const char *path, double **data, size_t shape[4], int *ndim, dn_error *err)
{
    char dtype;
    return dn_npy_read_typed_(path, data, shape, ndim, &dtype, err);
}

dn_status dn_npy_read_typed_(const char *path, double **data, size_t shape[4], int *ndim, char *dtype, dn_error *err)
{
    *data = NULL;
    *ndim = 0;
    unsigned char *buf = NULL;
    size_t size = 0;
    dn_status st = dn_read_file(path, 10, NPY_MAX_FILE, "a .npy file", &buf, &size, err);
    if (st != DN_OK) return st;
    st = decode(path, buf, size, data, shape, ndim, dtype, err);
    free(buf);
    return st;
}

/* ================================================================ writing */

dn_status dn_npy_write(const char *path, char dtype_code, const void *data, const size_t *shape, int ndim,
                       dn_error *err)
{
    const char *descr = dtype_code == 'f' ? "<f4" : dtype_code == 'd' ? "<f8" : dtype_code == 'u' ? "|u1" : NULL;
    size_t itemsize = dtype_code == 'f' ? 4 : dtype_code == 'd' ? 8 : 1, count = 0, bytes = 0;
    if (!descr) {
        return dn_fail(err, DN_ERR_USAGE, "%s: unknown dtype code '%c' (expected 'f', 'd' or 'u')", path, dtype_code);
    }
    if (ndim < 0 || ndim > 4) return dn_fail(err, DN_ERR_USAGE, "%s: %d dimensions (0 to 4 allowed)", path, ndim);
    if (ndim > 0 && !shape) return dn_fail(err, DN_ERR_USAGE, "%s: no shape given", path);
    if (element_count(shape, ndim, &count) || dn_mul_overflows(count, itemsize, &bytes)) {
        return dn_fail(err, DN_ERR_USAGE, "%s: array too large", path);
    }
    if (bytes > 0 && !data) return dn_fail(err, DN_ERR_USAGE, "%s: no data to write", path);

    /* Magic, version 1.0 and the u16 length, then the dict padded so the
     * data starts at a multiple of 64, as NumPy writes it. */
    char sb[128], header[256 + NPY_ALIGN];
    dn_format_shape(sb, sizeof sb, shape, ndim);
    int dict =
        snprintf(header + 10, sizeof header - 10, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, sb);
    size_t used = 10 + (size_t)dict + 1, pad = (NPY_ALIGN - used % NPY_ALIGN) % NPY_ALIGN,
           hlen = (size_t)dict + pad + 1;
    memcpy(header, npy_magic, sizeof npy_magic);
    header[6] = 1, header[7] = 0;
    header[8] = (char)(hlen & 0xFF), header[9] = (char)(hlen >> 8);
    memset(header + 10 + dict, ' ', pad);
    header[10 + hlen - 1] = '\n';

    dn_atomic_file f;
    dn_status st = dn_atomic_open(&f, path, err);
    if (st == DN_OK) st = dn_atomic_write(&f, header, 10 + hlen, err);
    if (st == DN_OK) st = dn_atomic_write(&f, data, bytes, err);
    if (st == DN_OK) return dn_atomic_commit(&f, err);
    dn_atomic_abort(&f);
    return st;
}
