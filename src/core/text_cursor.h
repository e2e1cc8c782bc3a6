/*
 * text_cursor.h — a cursor over the text header of a file (.npy's dict
 * literal, safetensors' JSON), the strict whole-number parser that
 * metadata values go through, and NumPy's way of printing a shape.
 * Internal; not installed.
 */
#ifndef DN_TEXT_CURSOR_H
#define DN_TEXT_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "digitnet.h"

typedef struct dn_cursor {
    const unsigned char *s; /* the header text, not NUL-terminated */
    size_t n, pos;
    const char *path;  /* the file, first word of every message */
    const char *where; /* the part of the file: "header", "header JSON" */
    const char *blanks; /* the bytes dn_cursor_skip_blanks skips */
    /* Whether a failure at the end also gives the text's length, as
     * "at its end (byte N)": safetensors says it, .npy does not. */
    int end_shows_length;
    dn_error *err;
} dn_cursor;

/* DN_ERR_INPUT: "<path>: <where>: <what> at byte <pos> ('c')", the byte
 * shown as a character when printable and in hex otherwise. */
dn_status dn_cursor_fail(const dn_cursor *c, const char *what);
void dn_cursor_skip_blanks(dn_cursor *c);
/* The byte at the cursor (0 … 255), or -1 at the end. */
int dn_cursor_peek(const dn_cursor *c);
/* Steps over ch, or fails with "expected 'ch'". */
dn_status dn_cursor_expect(dn_cursor *c, char ch);

typedef enum dn_digits {
    DN_DIGITS_OK,
    DN_DIGITS_NONE,        /* no digit at the cursor (it has not moved) */
    DN_DIGITS_TOO_LARGE,   /* above max: the cursor is on the digit that made it so */
    DN_DIGITS_LEADING_ZERO /* "07": the cursor is after the digits */
} dn_digits;

/* Reads the run of decimal digits at the cursor into *out, refusing a value
 * above max. No sign, no blanks: the caller decides what may surround it.
 * A leading zero is reported, not refused, so that a format may accept it. */
dn_digits dn_cursor_digits(dn_cursor *c, uint64_t max, uint64_t *out);

/* The one parser of whole numbers kept as text (checkpoint and model
 * metadata): text must be decimal digits and nothing else — no blanks, no
 * sign, not empty — with a value in [0, max]. Leading zeros are accepted.
 * Returns 0 and stores *out, or -1 (then *out is untouched). */
int dn_parse_u64(const char *text, uint64_t max, uint64_t *out);

/* The one parser of real numbers kept as text: the whole of text is one
 * strtod number, finite, without leading blanks (strtod alone would skip
 * them). An underflow to 0 or a subnormal is accepted: the writers print
 * doubles with %.17g, which reads back exactly. Returns 0 and stores *out,
 * or -1 (then *out is untouched). */
int dn_parse_double(const char *text, double *out);

/* "(10, 784)", "(3,)" or "()", as NumPy prints shapes; truncated to cap. */
void dn_format_shape(char *out, size_t cap, const size_t *shape, int ndim);

#endif /* DN_TEXT_CURSOR_H */
