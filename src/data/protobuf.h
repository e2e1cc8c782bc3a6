/*
 * protobuf.h — the few pieces of the protocol buffers wire format that an
 * ONNX file needs, written by hand (no generated code, no dependency):
 * varints, length-delimited fields (strings, bytes, nested messages) and
 * little-endian float arrays. Not installed.
 *
 * Wire format (https://protobuf.dev/programming-guides/encoding/): a field
 * is a tag, varint (number << 3 | wire type), then its value: a varint
 * (type 0) or a varint length and that many bytes (type 2). Varints hold 7
 * bits a byte, least significant group first, the high bit set on every
 * byte but the last: 300 = AC 02. Negative int64 values are their 64-bit
 * two's complement (10 bytes), as protobuf's int64 requires.
 */
#ifndef DN_PROTOBUF_H
#define DN_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer. After a failed allocation `failed` is set and
 * every later call does nothing, so an encoder checks once, at the end. */
typedef struct dn_pb {
    uint8_t *data;
    size_t len, cap;
    int failed;
} dn_pb;

void dn_pb_free(dn_pb *pb);
void dn_pb_append(dn_pb *pb, const void *bytes, size_t n);
void dn_pb_varint(dn_pb *pb, uint64_t v);

/* Field number `field` holding a varint (int32, int64, enum) or bytes. */
void dn_pb_int(dn_pb *pb, int field, int64_t v);
void dn_pb_bytes(dn_pb *pb, int field, const void *bytes, size_t n);
void dn_pb_string(dn_pb *pb, int field, const char *s);
/* n values as one length-delimited field of little-endian IEEE 754 bytes
 * (ONNX's TensorProto.raw_data), whatever the host's byte order. */
void dn_pb_f32_le(dn_pb *pb, int field, const float *v, size_t n);
void dn_pb_f64_le(dn_pb *pb, int field, const double *v, size_t n);

/* A nested message: remember dn_pb_begin's mark, write the message's fields,
 * then dn_pb_end puts the tag and length in front of them (the length is
 * only known at the end, so the fields move up by the header's size). */
size_t dn_pb_begin(const dn_pb *pb);
void dn_pb_end(dn_pb *pb, int field, size_t mark);

#endif
