/* text_cursor.c — the byte cursor under the .npy and safetensors header
 * parsers, and the strict whole-number parser. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "text_cursor.h"

dn_status dn_cursor_fail(const dn_cursor *c, const char *what)
{
    if (c->pos >= c->n) {
        if (c->end_shows_length)
            return dn_fail(c->err, DN_ERR_INPUT, "%s: %s: %s at its end (byte %zu)", c->path, c->where, what, c->n);
        return dn_fail(c->err, DN_ERR_INPUT, "%s: %s: %s at its end", c->path, c->where, what);
    }
    unsigned char ch = c->s[c->pos];
    if (ch >= 0x21 && ch < 0x7F) {
        return dn_fail(c->err, DN_ERR_INPUT, "%s: %s: %s at byte %zu ('%c')", c->path, c->where, what, c->pos, ch);
    }
    return dn_fail(c->err, DN_ERR_INPUT, "%s: %s: %s at byte %zu (0x%02x)", c->path, c->where, what, c->pos, ch);
}

void dn_cursor_skip_blanks(dn_cursor *c)
{
    /* the test on ch first: strchr would find a NUL byte in any set */
    while (c->pos < c->n && c->s[c->pos] && strchr(c->blanks, c->s[c->pos])) c->pos++;
}

int dn_cursor_peek(const dn_cursor *c) { return c->pos < c->n ? c->s[c->pos] : -1; }

dn_status dn_cursor_expect(dn_cursor *c, char ch)
{
    if (dn_cursor_peek(c) == (unsigned char)ch) {
        c->pos++;
        return DN_OK;
    }
    char what[16];
    snprintf(what, sizeof what, "expected '%c'", ch);
    return dn_cursor_fail(c, what);
}

dn_digits dn_cursor_digits(dn_cursor *c, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = c->pos;
    while (c->pos < c->n && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
        uint64_t digit = (uint64_t)(c->s[c->pos] - '0');
        /* v * 10 + digit > max, asked without overflowing */
        if (digit > max || v > (max - digit) / 10) return DN_DIGITS_TOO_LARGE;
        v = v * 10 + digit;
        c->pos++;
    }
    if (c->pos == start) return DN_DIGITS_NONE;
    if (c->pos - start > 1 && c->s[start] == '0') return DN_DIGITS_LEADING_ZERO;
    *out = v;
    return DN_DIGITS_OK;
}

int dn_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    size_t n = strlen(text), zeros = 0;
    /* Leading zeros are accepted (strtoull did): skip them, keeping a last
     * digit so that "0" and "00" still read as a number. */
    while (zeros + 1 < n && text[zeros] == '0') zeros++;
    dn_cursor c = {(const unsigned char *)text + zeros, n - zeros, 0, "", "", "", 0, NULL};
    uint64_t v = 0;
    if (dn_cursor_digits(&c, max, &v) != DN_DIGITS_OK || c.pos != c.n) return -1;
    *out = v;
    return 0;
}

int dn_parse_double(const char *text, double *out)
{
    if (isspace((unsigned char)text[0])) return -1;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

void dn_format_shape(char *out, size_t cap, const size_t *shape, int ndim)
{
    size_t used = (size_t)snprintf(out, cap, "(");
    for (int d = 0; d < ndim && used < cap; d++) {
        used += (size_t)snprintf(out + used, cap - used, d ? ", %zu" : "%zu", shape[d]);
    }
    if (used < cap) snprintf(out + used, cap - used, ndim == 1 ? ",)" : ")");
}
