/* protobuf.c — the protocol buffers writer of protobuf.h. */
#include <stdlib.h>
#include <string.h>

#include "protobuf.h"

enum { WIRE_VARINT = 0, WIRE_LEN = 2, VARINT_MAX = 10 };

void dn_pb_free(dn_pb *pb)
{
    free(pb->data);
    *pb = (dn_pb){0};
}

/* Room for n more bytes, growing by doubling (the weights dominate). */
static int reserve(dn_pb *pb, size_t n)
{
    if (pb->failed) return 0;
    if (n <= pb->cap - pb->len) return 1;
    size_t cap = pb->cap ? pb->cap : 256;
    while (cap - pb->len < n) {
        if (cap > SIZE_MAX / 2) return pb->failed = 1, 0;
        cap *= 2;
    }
    uint8_t *grown = realloc(pb->data, cap);
    if (!grown) return pb->failed = 1, 0;
    pb->data = grown;
    pb->cap = cap;
    return 1;
}

void dn_pb_append(dn_pb *pb, const void *bytes, size_t n)
{
    if (!n || !reserve(pb, n)) return;
    memcpy(pb->data + pb->len, bytes, n);
    pb->len += n;
}

static size_t encode_varint(uint8_t out[VARINT_MAX], uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7) out[n++] = (uint8_t)(v | 0x80);
    out[n++] = (uint8_t)v;
    return n;
}

void dn_pb_varint(dn_pb *pb, uint64_t v)
{
    uint8_t bytes[VARINT_MAX];
    dn_pb_append(pb, bytes, encode_varint(bytes, v));
}

static uint64_t tag(int field, int wire) { return (uint64_t)field << 3 | (uint64_t)wire; }

void dn_pb_int(dn_pb *pb, int field, int64_t v)
{
    dn_pb_varint(pb, tag(field, WIRE_VARINT));
    dn_pb_varint(pb, (uint64_t)v); /* two's complement: -1 is ten bytes, as protobuf's int64 */
}

void dn_pb_bytes(dn_pb *pb, int field, const void *bytes, size_t n)
{
    dn_pb_varint(pb, tag(field, WIRE_LEN));
    dn_pb_varint(pb, n);
    dn_pb_append(pb, bytes, n);
}

void dn_pb_string(dn_pb *pb, int field, const char *s) { dn_pb_bytes(pb, field, s, strlen(s)); }

/* Appends each value's bytes least significant first: the same file on a
 * big-endian host. */
static void append_le(dn_pb *pb, uint64_t bits, size_t size)
{
    uint8_t b[8];
    for (size_t i = 0; i < size; i++) b[i] = (uint8_t)(bits >> (8 * i));
    dn_pb_append(pb, b, size);
}

void dn_pb_f32_le(dn_pb *pb, int field, const float *v, size_t n)
{
    dn_pb_varint(pb, tag(field, WIRE_LEN));
    dn_pb_varint(pb, (uint64_t)n * 4);
    if (!reserve(pb, n * 4)) return;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        append_le(pb, bits, 4);
    }
}

void dn_pb_f64_le(dn_pb *pb, int field, const double *v, size_t n)
{
    dn_pb_varint(pb, tag(field, WIRE_LEN));
    dn_pb_varint(pb, (uint64_t)n * 8);
    if (!reserve(pb, n * 8)) return;
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], 8);
        append_le(pb, bits, 8);
    }
}

size_t dn_pb_begin(const dn_pb *pb) { return pb->len; }

void dn_pb_end(dn_pb *pb, int field, size_t mark)
{
    uint8_t header[2 * VARINT_MAX];
    size_t body = pb->len - mark;
    size_t n = encode_varint(header, tag(field, WIRE_LEN));
    n += encode_varint(header + n, body);
    if (!reserve(pb, n)) return;
    memmove(pb->data + mark + n, pb->data + mark, body);
    memcpy(pb->data + mark, header, n);
    pb->len += n;
}
