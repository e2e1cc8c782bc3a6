/* safetensors.c — the model container (https://huggingface.co/docs/safetensors).
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the
 * payload: every tensor's bytes, back to back, at data_offsets relative to
 * the payload's start.
 *
 * The reader takes untrusted input (it is fuzzed): every read is bounded by
 * the buffer's length, every allocation is bounded by the real file size
 * (never by a number the file claims), and the JSON parser follows the
 * fixed three-level schema with loops only, so no input can make it recurse. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "internal.h"
#include "text_cursor.h"

/* Tensor bytes are copied between memory and file as they are, which is
 * right only on a little-endian host (x86-64, arm64 as usually run). */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors.c assumes a little-endian host");
#endif

#define ST_MAX_HEADER ((uint64_t)16 << 20) /* a model header is a few KiB; this stops absurd claims */
#define ST_MAX_FILE ((uint64_t)4 << 30)    /* far above any MNIST model, below what we could hold */
#define ST_NAME_SHOWN 60                   /* bytes of a file-supplied name put in a message */

size_t dn_dtype_size(dn_dtype dtype)
{
    switch (dtype) {
    case DN_DTYPE_F32: return 4;
    case DN_DTYPE_F64: return 8;
    case DN_DTYPE_U8: return 1;
    case DN_DTYPE_I64: return 8;
    }
    return 0;
}

static const char *dtype_name(dn_dtype dtype)
{
    switch (dtype) {
    case DN_DTYPE_F32: return "F32";
    case DN_DTYPE_F64: return "F64";
    case DN_DTYPE_U8: return "U8";
    case DN_DTYPE_I64: return "I64";
    }
    return "?";
}

static int dtype_from_name(const char *s, dn_dtype *out)
{
    static const dn_dtype all[] = {DN_DTYPE_F32, DN_DTYPE_F64, DN_DTYPE_U8, DN_DTYPE_I64};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(s, dtype_name(all[i])) == 0) {
            *out = all[i];
            return 1;
        }
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1–4), or 0 when it is invalid:
 * truncated, overlong, a surrogate or above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (avail < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len(u + i, n - i);
        if (len == 0) return 0;
        i += len;
    }
    return 1;
}

/* A name or key for an error message: at most ST_NAME_SHOWN bytes, cut at a
 * character boundary, control characters replaced so that a hostile file
 * cannot put terminal escapes into what the CLI prints. */
static const char *shown(const char *s, char out[ST_NAME_SHOWN + 4])
{
    size_t n = strlen(s), k = n;
    if (k > ST_NAME_SHOWN) {
        k = ST_NAME_SHOWN;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    }
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    strcpy(out + k, k < n ? "..." : "");
    return out;
}

/* Bytes of a tensor's data; 1 when the product overflows size_t. */
static int tensor_bytes(dn_dtype dtype, const size_t *shape, int ndim, size_t *bytes)
{
    size_t n = dn_dtype_size(dtype);
    *bytes = 0;
    for (int d = 0; d < ndim; d++) {
        if (dn_mul_overflows(n, shape[d], &n)) return 1;
    }
    *bytes = n;
    return 0;
}

/* ============================================================== writing */

/* A growing string; `failed` sticks after an allocation failure so that the
 * builder's callers need not check every append. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    size_t need;
    if (dn_add_overflows(b->len, n + 1, &need)) {
        b->failed = 1;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) {
            if (dn_mul_overflows(cap, 2, &cap)) {
                b->failed = 1;
                return;
            }
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_size(sbuf *b, size_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%zu", v);
    sb_puts(b, num);
}

/* s as a JSON string literal; s is valid UTF-8 (checked by the caller). */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_put(b, esc, 6);
            } else {
                sb_put(b, s, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

static dn_status check_tensor_arg(const char *path, const dn_tensor *t, dn_error *err)
{
    size_t len = strnlen(t->name, DN_TENSOR_NAME_MAX), bytes = 0;
    if (len == 0 || len == DN_TENSOR_NAME_MAX || !utf8_valid(t->name) || strcmp(t->name, "__metadata__") == 0) {
        return dn_fail(err, DN_ERR_USAGE, "%s: invalid tensor name (empty, unterminated, not UTF-8 or '__metadata__')",
                       path);
    }
    if (dn_dtype_size(t->dtype) == 0) {
        return dn_fail(err, DN_ERR_USAGE, "%s: tensor '%s' has an unknown dtype", path, t->name);
    }
    if (t->ndim < 0 || t->ndim > DN_TENSOR_MAX_DIMS) {
        return dn_fail(err, DN_ERR_USAGE, "%s: tensor '%s' has %d dimensions (0 to %d allowed)", path, t->name, t->ndim,
                       DN_TENSOR_MAX_DIMS);
    }
    if (tensor_bytes(t->dtype, t->shape, t->ndim, &bytes)) {
        return dn_fail(err, DN_ERR_USAGE, "%s: tensor '%s' is too large", path, t->name);
    }
    if (bytes > 0 && !t->data) return dn_fail(err, DN_ERR_USAGE, "%s: tensor '%s' has no data", path, t->name);
    return DN_OK;
}

/* Writers pass a handful of tensors and entries, so quadratic duplicate
 * checks cost nothing here. */
static dn_status check_write_args(const char *path, const dn_tensor *tensors, size_t nt, const dn_meta_entry *meta,
                                  size_t nmeta, dn_error *err)
{
    size_t total = 0, bytes = 0;
    for (size_t i = 0; i < nt; i++) {
        dn_status st = check_tensor_arg(path, &tensors[i], err);
        if (st != DN_OK) return st;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(tensors[i].name, tensors[j].name) == 0) {
                return dn_fail(err, DN_ERR_USAGE, "%s: tensor name '%s' given twice", path, tensors[i].name);
            }
        }
        tensor_bytes(tensors[i].dtype, tensors[i].shape, tensors[i].ndim, &bytes);
        if (dn_add_overflows(total, bytes, &total)) return dn_fail(err, DN_ERR_USAGE, "%s: tensors too large", path);
    }
    for (size_t i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value || !utf8_valid(meta[i].key) || !utf8_valid(meta[i].value)) {
            return dn_fail(err, DN_ERR_USAGE, "%s: metadata entry %zu is missing or not valid UTF-8", path, i);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(meta[i].key, meta[j].key) == 0) {
                return dn_fail(err, DN_ERR_USAGE, "%s: metadata key '%s' given twice", path, meta[i].key);
            }
        }
    }
    return DN_OK;
}

static uint32_t payload_crc(const dn_tensor *tensors, size_t nt)
{
    uLong crc = crc32_z(0L, Z_NULL, 0);
    for (size_t i = 0; i < nt; i++) {
        size_t bytes;
        tensor_bytes(tensors[i].dtype, tensors[i].shape, tensors[i].ndim, &bytes);
        if (bytes) crc = crc32_z(crc, tensors[i].data, bytes);
    }
    return (uint32_t)crc;
}

/* The JSON header, space-padded so the payload starts 8-byte aligned.
 * A payload_crc32 among meta is dropped: the one written is computed. */
static void build_header(sbuf *h, const dn_tensor *tensors, size_t nt, const dn_meta_entry *meta, size_t nmeta,
                         uint32_t crc)
{
    char hex[16];
    snprintf(hex, sizeof hex, "%08lx", (unsigned long)crc);
    sb_puts(h, "{\"__metadata__\":{");
    for (size_t i = 0; i < nmeta; i++) {
        if (strcmp(meta[i].key, "payload_crc32") == 0) continue;
        sb_json_string(h, meta[i].key);
        sb_puts(h, ":");
        sb_json_string(h, meta[i].value);
        sb_puts(h, ",");
    }
    sb_puts(h, "\"payload_crc32\":");
    sb_json_string(h, hex);
    sb_puts(h, "}");
    size_t offset = 0;
    for (size_t i = 0; i < nt; i++) {
        const dn_tensor *t = &tensors[i];
        size_t bytes;
        tensor_bytes(t->dtype, t->shape, t->ndim, &bytes);
        sb_puts(h, ",");
        sb_json_string(h, t->name);
        sb_puts(h, ":{\"dtype\":\"");
        sb_puts(h, dtype_name(t->dtype));
        sb_puts(h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_puts(h, ",");
            sb_size(h, t->shape[d]);
        }
        sb_puts(h, "],\"data_offsets\":[");
        sb_size(h, offset);
        sb_puts(h, ",");
        sb_size(h, offset + bytes);
        sb_puts(h, "]}");
        offset += bytes;
    }
    sb_puts(h, "}");
    while (!h->failed && h->len % 8 != 0) sb_puts(h, " ");
}

dn_status dn_st_write(const char *path, const dn_tensor *tensors, size_t ntensors, const dn_meta_entry *meta,
                      size_t nmeta, dn_error *err)
{
    dn_status st = check_write_args(path, tensors, ntensors, meta, nmeta, err);
    if (st != DN_OK) return st;
    sbuf h = {0};
    build_header(&h, tensors, ntensors, meta, nmeta, payload_crc(tensors, ntensors));
    if (h.failed) {
        free(h.p);
        return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)((uint64_t)h.len >> (8 * i));

    dn_atomic_file f;
    st = dn_atomic_open(&f, path, err);
    if (st == DN_OK) st = dn_atomic_write(&f, len_le, sizeof len_le, err);
    if (st == DN_OK) st = dn_atomic_write(&f, h.p, h.len, err);
    for (size_t i = 0; i < ntensors && st == DN_OK; i++) {
        size_t bytes;
        tensor_bytes(tensors[i].dtype, tensors[i].shape, tensors[i].ndim, &bytes);
        st = dn_atomic_write(&f, tensors[i].data, bytes, err);
    }
    free(h.p);
    if (st == DN_OK) return dn_atomic_commit(&f, err);
    dn_atomic_abort(&f); /* a no-op when open itself failed */
    return st;
}

/* ============================================================== reading */

struct dn_st_file {
    unsigned char *buf; /* the whole file */
    char *strings;      /* decoded names, keys and values */
    dn_tensor *tensors; /* in payload order */
    void **copies;      /* per tensor: an aligned copy of its data, or NULL */
    size_t ntensors;
    dn_meta_entry *meta; /* in header order */
    size_t nmeta;
};

/* A tensor as the header states it, before its offsets are checked. */
typedef struct st_raw {
    const char *name;
    dn_dtype dtype;
    int ndim;
    size_t shape[DN_TENSOR_MAX_DIMS];
    size_t begin, end;
    size_t index; /* position in the header, to keep sorting stable */
} st_raw;

/* The parser: a cursor over the header and an arena for decoded strings.
 * A decoded string plus its NUL is never longer than its quoted source
 * (escapes only shrink), so an arena of the header's size always suffices. */
typedef struct jp {
    dn_cursor c; /* the header text, the file's path and the error to fill */
    char *arena;
    size_t arena_used, arena_cap;
    st_raw *raws;
    size_t nraws, raws_cap;
    dn_meta_entry *meta;
    size_t nmeta, meta_cap;
    int seen_metadata;
    dn_error *err;
} jp;

static int hex4(const unsigned char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i];
        unsigned d = (c >= '0' && c <= '9')   ? c - '0'
                     : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                     : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                              : 16;
        if (d > 15) return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the \u escape at p->c.pos (a surrogate pair takes two) into out. */
static dn_status jp_unicode_escape(jp *p, char *out, size_t *len)
{
    uint32_t cp, low;
    if (p->c.n - p->c.pos < 6 || !hex4(p->c.s + p->c.pos + 2, &cp)) return dn_cursor_fail(&p->c, "bad \\u escape");
    if (cp >= 0xDC00 && cp <= 0xDFFF) return dn_cursor_fail(&p->c, "unpaired low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        const unsigned char *q = p->c.s + p->c.pos + 6;
        if (p->c.n - p->c.pos < 12 || q[0] != '\\' || q[1] != 'u' || !hex4(q + 2, &low) || low < 0xDC00 || low > 0xDFFF) {
            return dn_cursor_fail(&p->c, "unpaired high surrogate");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        p->c.pos += 6;
    }
    if (cp == 0) return dn_cursor_fail(&p->c, "\\u0000 (NUL) in a string");
    p->c.pos += 6;
    *len = utf8_encode(cp, out);
    return DN_OK;
}

/* One character (raw or escaped) of a string body into out. */
static dn_status jp_string_char(jp *p, char *out, size_t *len)
{
    unsigned char c = p->c.s[p->c.pos];
    if (c < 0x20) return dn_cursor_fail(&p->c, "control character in a string");
    if (c >= 0x80) {
        *len = utf8_seq_len(p->c.s + p->c.pos, p->c.n - p->c.pos);
        if (*len == 0) return dn_cursor_fail(&p->c, "invalid UTF-8");
        memcpy(out, p->c.s + p->c.pos, *len);
        p->c.pos += *len;
        return DN_OK;
    }
    if (c != '\\') {
        out[0] = (char)c, *len = 1, p->c.pos++;
        return DN_OK;
    }
    if (p->c.pos + 1 >= p->c.n) return dn_cursor_fail(&p->c, "unterminated string");
    if (p->c.s[p->c.pos + 1] == 'u') return jp_unicode_escape(p, out, len);
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = p->c.s[p->c.pos + 1] ? strchr(from, p->c.s[p->c.pos + 1]) : NULL;
    if (!hit) return dn_cursor_fail(&p->c, "invalid escape in a string");
    out[0] = to[hit - from], *len = 1, p->c.pos += 2;
    return DN_OK;
}

static dn_status jp_string(jp *p, const char **out)
{
    if (dn_cursor_peek(&p->c) != '"') return dn_cursor_fail(&p->c, "expected a string");
    p->c.pos++;
    char *dst = p->arena + p->arena_used;
    size_t k = 0;
    for (;;) {
        if (p->c.pos >= p->c.n) return dn_cursor_fail(&p->c, "unterminated string");
        if (p->c.s[p->c.pos] == '"') break;
        if (p->arena_used + k + 5 > p->arena_cap) return dn_cursor_fail(&p->c, "string arena exhausted (internal error)");
        size_t len;
        dn_status st = jp_string_char(p, dst + k, &len);
        if (st != DN_OK) return st;
        k += len;
    }
    p->c.pos++;
    dst[k] = '\0';
    p->arena_used += k + 1;
    *out = dst;
    return DN_OK;
}

/* A non-negative JSON integer that fits size_t: no sign, fraction,
 * exponent or leading zero. */
static dn_status jp_size(jp *p, size_t *out)
{
    size_t start = p->c.pos;
    uint64_t v = 0;
    dn_digits d = dn_cursor_digits(&p->c, SIZE_MAX, &v);
    if (d == DN_DIGITS_NONE) return dn_cursor_fail(&p->c, "expected a non-negative integer");
    if (d != DN_DIGITS_OK) { /* both name the number by its first byte */
        p->c.pos = start;
        return dn_cursor_fail(&p->c, d == DN_DIGITS_TOO_LARGE ? "integer too large" : "integer with a leading zero");
    }
    int c = dn_cursor_peek(&p->c);
    if (c == '.' || c == 'e' || c == 'E') return dn_cursor_fail(&p->c, "expected an integer, not a fraction");
    *out = (size_t)v;
    return DN_OK;
}

/* [a, b, ...] with at most max entries. */
static dn_status jp_size_array(jp *p, const char *tensor, const char *field, size_t *vals, size_t max, size_t *count)
{
    char nb[ST_NAME_SHOWN + 4];
    *count = 0;
    dn_status st = dn_cursor_expect(&p->c, '[');
    if (st != DN_OK) return st;
    dn_cursor_skip_blanks(&p->c);
    if (dn_cursor_peek(&p->c) == ']') {
        p->c.pos++;
        return DN_OK;
    }
    for (;;) {
        if (*count == max) {
            return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor '%s': %s has more than %zu entries", p->c.path,
                           shown(tensor, nb), field, max);
        }
        if ((st = jp_size(p, &vals[(*count)++])) != DN_OK) return st;
        dn_cursor_skip_blanks(&p->c);
        if (dn_cursor_peek(&p->c) == ']') {
            p->c.pos++;
            return DN_OK;
        }
        if (dn_cursor_peek(&p->c) != ',') return dn_cursor_fail(&p->c, "expected ',' or ']'");
        p->c.pos++;
        dn_cursor_skip_blanks(&p->c);
    }
}

/* After a member: ',' (returns 1 via *more) or the closing '}'. */
static dn_status jp_next_member(jp *p, int *more)
{
    dn_cursor_skip_blanks(&p->c);
    int c = dn_cursor_peek(&p->c);
    if (c == ',' || c == '}') {
        p->c.pos++;
        *more = (c == ',');
        if (*more) dn_cursor_skip_blanks(&p->c);
        return DN_OK;
    }
    return dn_cursor_fail(&p->c, "expected ',' or '}'");
}

/* Opens an object; *empty tells whether it is "{}". */
static dn_status jp_open_object(jp *p, int *empty)
{
    dn_status st = dn_cursor_expect(&p->c, '{');
    if (st != DN_OK) return st;
    dn_cursor_skip_blanks(&p->c);
    *empty = dn_cursor_peek(&p->c) == '}';
    p->c.pos += (size_t)*empty;
    return DN_OK;
}

/* "key": — the key, the colon and the whitespace around them. */
static dn_status jp_key(jp *p, const char **key)
{
    dn_status st = jp_string(p, key);
    if (st != DN_OK) return st;
    dn_cursor_skip_blanks(&p->c);
    if ((st = dn_cursor_expect(&p->c, ':')) != DN_OK) return st;
    dn_cursor_skip_blanks(&p->c);
    return DN_OK;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t cap2 = *cap ? *cap : 8, bytes;
    while (cap2 < need) {
        if (dn_mul_overflows(cap2, 2, &cap2)) return 0;
    }
    if (dn_mul_overflows(cap2, elem, &bytes)) return 0;
    void *q = realloc(*arr, bytes);
    if (!q) return 0;
    *arr = q, *cap = cap2;
    return 1;
}

static dn_status jp_metadata(jp *p)
{
    int empty, more = 1;
    char nb[ST_NAME_SHOWN + 4];
    dn_status st = jp_open_object(p, &empty);
    if (st != DN_OK || empty) return st;
    while (more) {
        const char *key, *value;
        if ((st = jp_key(p, &key)) != DN_OK) return st;
        if (dn_cursor_peek(&p->c) != '"') {
            return dn_fail(p->c.err, DN_ERR_INPUT, "%s: __metadata__ value of '%s' is not a string (byte %zu)", p->c.path,
                           shown(key, nb), p->c.pos);
        }
        if ((st = jp_string(p, &value)) != DN_OK) return st;
        if (!grow((void **)&p->meta, &p->meta_cap, p->nmeta + 1, sizeof *p->meta)) {
            return dn_fail(p->c.err, DN_ERR_NOMEM, "%s: out of memory reading the header", p->c.path);
        }
        p->meta[p->nmeta++] = (dn_meta_entry){key, value};
        if ((st = jp_next_member(p, &more)) != DN_OK) return st;
    }
    return DN_OK;
}

/* One field of a tensor object; seen[] guards against repeats. */
static dn_status jp_tensor_field(jp *p, st_raw *r, const char *field, int seen[3])
{
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    char nb[ST_NAME_SHOWN + 4], fb[ST_NAME_SHOWN + 4];
    int f = 0;
    while (f < 3 && strcmp(field, fields[f]) != 0) f++;
    if (f == 3) {
        return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor '%s': unknown field '%s'", p->c.path, shown(r->name, nb),
                       shown(field, fb));
    }
    if (seen[f]++) {
        return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor '%s': field '%s' given twice", p->c.path, shown(r->name, nb),
                       field);
    }
    if (f == 0) {
        const char *dt;
        dn_status st = jp_string(p, &dt);
        if (st == DN_OK && !dtype_from_name(dt, &r->dtype)) {
            return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor '%s': unsupported dtype '%s' (expected F32, F64, U8 or I64)",
                           p->c.path, shown(r->name, nb), shown(dt, fb));
        }
        return st;
    }
    size_t count, offs[2];
    if (f == 1) {
        dn_status st = jp_size_array(p, r->name, "shape", r->shape, DN_TENSOR_MAX_DIMS, &count);
        r->ndim = (int)count;
        return st;
    }
    dn_status st = jp_size_array(p, r->name, "data_offsets", offs, 2, &count);
    if (st == DN_OK && count != 2) {
        return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor '%s': data_offsets has %zu entries, not 2", p->c.path,
                       shown(r->name, nb), count);
    }
    r->begin = offs[0], r->end = offs[1];
    return st;
}

static dn_status jp_tensor(jp *p, const char *name)
{
    char nb[ST_NAME_SHOWN + 4];
    size_t len = strlen(name);
    if (len == 0 || len >= DN_TENSOR_NAME_MAX) {
        return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor name '%s' is %zu bytes (1 to %d allowed)", p->c.path,
                       shown(name, nb), len, DN_TENSOR_NAME_MAX - 1);
    }
    if (!grow((void **)&p->raws, &p->raws_cap, p->nraws + 1, sizeof *p->raws)) {
        return dn_fail(p->c.err, DN_ERR_NOMEM, "%s: out of memory reading the header", p->c.path);
    }
    st_raw *r = &p->raws[p->nraws];
    *r = (st_raw){.name = name, .index = p->nraws};
    int empty, more = 1, seen[3] = {0, 0, 0};
    dn_status st = jp_open_object(p, &empty);
    while (st == DN_OK && !empty && more) {
        const char *field;
        if ((st = jp_key(p, &field)) != DN_OK) break;
        if ((st = jp_tensor_field(p, r, field, seen)) != DN_OK) break;
        st = jp_next_member(p, &more);
    }
    if (st != DN_OK) return st;
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    for (int f = 0; f < 3; f++) {
        if (!seen[f]) {
            return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor '%s': missing field '%s'", p->c.path, shown(name, nb),
                           fields[f]);
        }
    }
    p->nraws++;
    return DN_OK;
}

/* The top-level object: "__metadata__" and the tensors, in any order. */
static dn_status jp_header(jp *p)
{
    if (p->c.n == 0 || p->c.s[0] != '{') return dn_cursor_fail(&p->c, "the header must start with '{'");
    int empty, more = 1;
    dn_status st = jp_open_object(p, &empty);
    while (st == DN_OK && !empty && more) {
        const char *key;
        if ((st = jp_key(p, &key)) != DN_OK) break;
        if (strcmp(key, "__metadata__") == 0) {
            if (p->seen_metadata++) {
                return dn_fail(p->c.err, DN_ERR_INPUT, "%s: header JSON: '__metadata__' given twice", p->c.path);
            }
            st = jp_metadata(p);
        } else {
            st = jp_tensor(p, key);
        }
        if (st == DN_OK) st = jp_next_member(p, &more);
    }
    if (st != DN_OK) return st;
    dn_cursor_skip_blanks(&p->c);
    if (p->c.pos != p->c.n) return dn_cursor_fail(&p->c, "unexpected data after the header object");
    return DN_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first string that occurs twice in strs (sorted in place), or NULL. */
static const char *find_duplicate(const char **strs, size_t n)
{
    if (n < 2) return NULL;
    qsort(strs, n, sizeof *strs, cmp_str_ptr);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(strs[i - 1], strs[i]) == 0) return strs[i];
    }
    return NULL;
}

/* Duplicate tensor names or metadata keys, in O(n log n) so that a header
 * of many tiny entries cannot stall the reader. */
static dn_status check_duplicates(jp *p)
{
    char nb[ST_NAME_SHOWN + 4];
    size_t n = p->nraws > p->nmeta ? p->nraws : p->nmeta;
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    if (!strs) return dn_fail(p->c.err, DN_ERR_NOMEM, "%s: out of memory reading the header", p->c.path);
    for (size_t i = 0; i < p->nraws; i++) strs[i] = p->raws[i].name;
    const char *dup = find_duplicate(strs, p->nraws);
    dn_status st = DN_OK;
    if (dup) {
        st = dn_fail(p->c.err, DN_ERR_INPUT, "%s: header JSON: tensor '%s' given twice", p->c.path, shown(dup, nb));
    } else {
        for (size_t i = 0; i < p->nmeta; i++) strs[i] = p->meta[i].key;
        dup = find_duplicate(strs, p->nmeta);
        if (dup) {
            st = dn_fail(p->c.err, DN_ERR_INPUT, "%s: header JSON: metadata key '%s' given twice", p->c.path,
                         shown(dup, nb));
        }
    }
    free(strs);
    return st;
}

/* Each tensor's size against its shape and dtype, and its range against
 * the payload. */
static dn_status check_tensor_sizes(jp *p, size_t payload_size)
{
    char nb[ST_NAME_SHOWN + 4], sb[128];
    for (size_t i = 0; i < p->nraws; i++) {
        const st_raw *r = &p->raws[i];
        size_t bytes;
        dn_format_shape(sb, sizeof sb, r->shape, r->ndim);
        if (tensor_bytes(r->dtype, r->shape, r->ndim, &bytes)) {
            return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor '%s': shape %s %s is too large", p->c.path,
                           shown(r->name, nb), sb, dtype_name(r->dtype));
        }
        if (r->begin > r->end) {
            return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensor '%s': data_offsets [%zu, %zu] end before they begin",
                           p->c.path, shown(r->name, nb), r->begin, r->end);
        }
        if (r->end > payload_size) {
            return dn_fail(p->c.err, DN_ERR_INPUT,
                           "%s: tensor '%s': data_offsets [%zu, %zu] go past the payload's %zu bytes", p->c.path,
                           shown(r->name, nb), r->begin, r->end, payload_size);
        }
        if (r->end - r->begin != bytes) {
            return dn_fail(p->c.err, DN_ERR_INPUT,
                           "%s: tensor '%s': data_offsets [%zu, %zu] do not match shape %s %s = %zu bytes", p->c.path,
                           shown(r->name, nb), r->begin, r->end, sb, dtype_name(r->dtype), bytes);
        }
    }
    return DN_OK;
}

static int cmp_raw(const void *a, const void *b)
{
    const st_raw *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorted by offset, the tensors must tile the payload exactly. */
static dn_status check_tiling(jp *p, size_t payload_size)
{
    char nb[ST_NAME_SHOWN + 4], nb2[ST_NAME_SHOWN + 4];
    if (p->nraws > 1) qsort(p->raws, p->nraws, sizeof *p->raws, cmp_raw);
    size_t at = 0;
    for (size_t i = 0; i < p->nraws; i++) {
        const st_raw *r = &p->raws[i];
        if (r->begin < at) {
            const st_raw *q = &p->raws[i - 1];
            return dn_fail(p->c.err, DN_ERR_INPUT, "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", p->c.path,
                           shown(q->name, nb), q->begin, q->end, shown(r->name, nb2), r->begin, r->end);
        }
        if (r->begin > at) {
            return dn_fail(p->c.err, DN_ERR_INPUT, "%s: payload bytes [%zu, %zu) before tensor '%s' belong to no tensor",
                           p->c.path, at, r->begin, shown(r->name, nb));
        }
        at = r->end;
    }
    if (at != payload_size) {
        return dn_fail(p->c.err, DN_ERR_INPUT, "%s: payload bytes [%zu, %zu) after the last tensor belong to no tensor",
                       p->c.path, at, payload_size);
    }
    return DN_OK;
}

static dn_status check_crc(const dn_st_file *f, const char *path, const unsigned char *payload, size_t size,
                           dn_error *err)
{
    const char *stated = dn_st_meta(f, "payload_crc32");
    if (!stated) return DN_OK;
    uint32_t hi, lo;
    if (strlen(stated) != 8 || !hex4((const unsigned char *)stated, &hi) ||
        !hex4((const unsigned char *)stated + 4, &lo)) {
        char vb[ST_NAME_SHOWN + 4];
        return dn_fail(err, DN_ERR_INPUT, "%s: payload_crc32 '%s' is not 8 hex digits", path, shown(stated, vb));
    }
    uint32_t want = (hi << 16) | lo;
    uint32_t got = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), size ? payload : Z_NULL, size);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* Fuzz builds only (fuzz/run.sh): a mutated tensor byte would almost
     * never come with a matching CRC, and the checks behind this one (dtype,
     * finite values, a checkpoint's consistency) would go untested. */
    want = got;
#endif
    if (want != got) {
        return dn_fail(err, DN_ERR_INPUT,
                       "%s: payload CRC32 mismatch (file says %08lx, data gives %08lx): the file is corrupt", path,
                       (unsigned long)want, (unsigned long)got);
    }
    return DN_OK;
}

/* Header length against the limits and the file size. */
static dn_status header_length(const char *path, const unsigned char *buf, size_t size, size_t *n, dn_error *err)
{
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = (len << 8) | buf[i];
    if (len > size - 8) {
        return dn_fail(err, DN_ERR_INPUT, "%s: header length %llu exceeds file size %zu", path, (unsigned long long)len,
                       size);
    }
    if (len > ST_MAX_HEADER) {
        return dn_fail(err, DN_ERR_INPUT, "%s: header length %llu exceeds the %llu-byte limit", path,
                       (unsigned long long)len, (unsigned long long)ST_MAX_HEADER);
    }
    if (len < 2) {
        return dn_fail(err, DN_ERR_INPUT, "%s: header length %llu is too short for a JSON object", path,
                       (unsigned long long)len);
    }
    *n = (size_t)len;
    return DN_OK;
}

/* Moves the parsed tensors into f, copying any whose data the file leaves
 * misaligned for its dtype (a foreign writer may put an F32 after an odd
 * number of U8 bytes). */
static dn_status place_tensors(dn_st_file *f, const jp *p, unsigned char *payload, dn_error *err)
{
    size_t n = p->nraws ? p->nraws : 1;
    f->tensors = calloc(n, sizeof *f->tensors);
    f->copies = calloc(n, sizeof *f->copies);
    if (!f->tensors || !f->copies) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", p->c.path);
    for (size_t i = 0; i < p->nraws; i++) {
        const st_raw *r = &p->raws[i];
        dn_tensor *t = &f->tensors[i];
        size_t bytes = r->end - r->begin, align = dn_dtype_size(r->dtype);
        strcpy(t->name, r->name);
        t->dtype = r->dtype;
        t->ndim = r->ndim;
        memcpy(t->shape, r->shape, sizeof t->shape);
        const unsigned char *src = payload + r->begin;
        if (bytes == 0) {
            t->data = f->buf; /* nothing to read; malloc's pointer is aligned for anything */
        } else if ((uintptr_t)src % align == 0) {
            t->data = src;
        } else {
            if (!(f->copies[i] = malloc(bytes))) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", p->c.path);
            memcpy(f->copies[i], src, bytes);
            t->data = f->copies[i];
        }
        f->ntensors = i + 1;
    }
    return DN_OK;
}

static dn_status parse_file(dn_st_file *f, const char *path, size_t size, dn_error *err)
{
    size_t n = 0;
    dn_status st = header_length(path, f->buf, size, &n, err);
    if (st != DN_OK) return st;
    jp p = {.c = {.s = f->buf + 8, .n = n, .path = path, .where = "header JSON", .blanks = " \t\n\r",
                  .end_shows_length = 1, .err = err},
            .arena_cap = n + 8};
    p.arena = f->strings = malloc(p.arena_cap);
    if (!p.arena) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
    unsigned char *payload = f->buf + 8 + n;
    size_t payload_size = size - 8 - n;
    st = jp_header(&p);
    if (st == DN_OK) st = check_duplicates(&p);
    if (st == DN_OK) st = check_tensor_sizes(&p, payload_size);
    if (st == DN_OK) st = check_tiling(&p, payload_size);
    f->meta = p.meta, f->nmeta = p.nmeta;
    if (st == DN_OK) st = check_crc(f, path, payload, payload_size, err);
    if (st == DN_OK) st = place_tensors(f, &p, payload, err);
    free(p.raws);
    return st;
}

dn_st_file *dn_st_read(const char *path, dn_error *err)
{
    dn_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    size_t size = 0;
    dn_status st = dn_read_file(path, 8, ST_MAX_FILE, "the 8-byte header length", &f->buf, &size, err);
    if (st == DN_OK) st = parse_file(f, path, size, err);
    if (st != DN_OK) {
        dn_st_free(f);
        return NULL;
    }
    return f;
}

void dn_st_free(dn_st_file *file)
{
    if (!file) return;
    for (size_t i = 0; i < file->ntensors; i++) free(file->copies[i]);
    free(file->copies);
    free(file->tensors);
    free(file->meta);
    free(file->strings);
    free(file->buf);
    free(file);
}

size_t dn_st_tensor_count(const dn_st_file *file) { return file->ntensors; }

const dn_tensor *dn_st_tensor_at(const dn_st_file *file, size_t i)
{
    return i < file->ntensors ? &file->tensors[i] : NULL;
}

const dn_tensor *dn_st_find(const dn_st_file *file, const char *name)
{
    for (size_t i = 0; i < file->ntensors; i++) {
        if (strcmp(file->tensors[i].name, name) == 0) return &file->tensors[i];
    }
    return NULL;
}

size_t dn_st_meta_count(const dn_st_file *file) { return file->nmeta; }

const dn_meta_entry *dn_st_meta_at(const dn_st_file *file, size_t i) { return i < file->nmeta ? &file->meta[i] : NULL; }

const char *dn_st_meta(const dn_st_file *file, const char *key)
{
    for (size_t i = 0; i < file->nmeta; i++) {
        if (strcmp(file->meta[i].key, key) == 0) return file->meta[i].value;
    }
    return NULL;
}
