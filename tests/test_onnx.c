/* test_onnx.c — the hand-written protobuf encoder on byte sequences worked
 * out by hand from the wire format (protobuf.dev, "Encoding"), and the ONNX
 * export's framing and refusals. That the files are valid ONNX and compute
 * what digitnet computes is for real tools to say: tests/cli_onnx.sh runs
 * onnx.checker and ONNX Runtime on them. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digitnet.h"
#include "internal.h"
#include "protobuf.h"

/* pb holds exactly the n bytes of want; the buffer is freed. */
static void expect_bytes(dn_pb *pb, const uint8_t *want, size_t n)
{
    assert_false(pb->failed);
    assert_int_equal(pb->len, n);
    assert_memory_equal(pb->data, want, n);
    dn_pb_free(pb);
}
#define EXPECT(pb, ...)                                   \
    do {                                                  \
        static const uint8_t want_[] = {__VA_ARGS__};     \
        expect_bytes(pb, want_, sizeof want_);            \
    } while (0)

static void test_varints(void **state)
{
    (void)state;
    dn_pb pb = {0};
    dn_pb_varint(&pb, 0);
    EXPECT(&pb, 0x00);
    dn_pb_varint(&pb, 127);
    EXPECT(&pb, 0x7f);
    dn_pb_varint(&pb, 128);
    EXPECT(&pb, 0x80, 0x01);
    dn_pb_varint(&pb, 300); /* the documentation's example */
    EXPECT(&pb, 0xac, 0x02);
    dn_pb_varint(&pb, UINT64_MAX);
    EXPECT(&pb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
}

static void test_fields(void **state)
{
    (void)state;
    dn_pb pb = {0};
    dn_pb_int(&pb, 1, 150); /* "a = 150" of the documentation */
    EXPECT(&pb, 0x08, 0x96, 0x01);
    dn_pb_int(&pb, 3, -1); /* int64 -1: ten bytes of two's complement */
    EXPECT(&pb, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    dn_pb_int(&pb, 20, 2); /* field 20 (AttributeProto.type): a two-byte tag */
    EXPECT(&pb, 0xa0, 0x01, 0x02);
    dn_pb_string(&pb, 2, "testing");
    EXPECT(&pb, 0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g');
    dn_pb_string(&pb, 1, ""); /* an empty string is still a field */
    EXPECT(&pb, 0x0a, 0x00);
}

static void test_little_endian_arrays(void **state)
{
    (void)state;
    dn_pb pb = {0};
    const float f[2] = {1.0f, -2.0f}; /* 0x3f800000, 0xc0000000 */
    dn_pb_f32_le(&pb, 9, f, 2);
    EXPECT(&pb, 0x4a, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0);
    const double d = 1.0; /* 0x3ff0000000000000 */
    dn_pb_f64_le(&pb, 9, &d, 1);
    EXPECT(&pb, 0x4a, 0x08, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f);
}

static void test_nested_messages(void **state)
{
    (void)state;
    dn_pb pb = {0};
    size_t c = dn_pb_begin(&pb); /* "c = {a = 150}" of the documentation */
    dn_pb_int(&pb, 1, 150);
    dn_pb_end(&pb, 3, c);
    EXPECT(&pb, 0x1a, 0x03, 0x08, 0x96, 0x01);

    /* two levels, the inner 200 bytes long: its length takes two bytes
     * (C8 01) and the outer one's 203 (CB 01); the fields move up intact */
    dn_pb_int(&pb, 1, 7);
    size_t outer = dn_pb_begin(&pb), inner = dn_pb_begin(&pb);
    uint8_t body[197];
    for (size_t i = 0; i < sizeof body; i++) body[i] = (uint8_t)i;
    dn_pb_bytes(&pb, 4, body, sizeof body); /* 22 C5 01 + 197 = 200 bytes */
    dn_pb_end(&pb, 2, inner);
    dn_pb_end(&pb, 5, outer);
    static const uint8_t head[] = {0x08, 0x07, 0x2a, 0xcb, 0x01, 0x12, 0xc8, 0x01, 0x22, 0xc5, 0x01};
    assert_int_equal(pb.len, sizeof head + sizeof body);
    assert_memory_equal(pb.data, head, sizeof head);
    assert_memory_equal(pb.data + sizeof head, body, sizeof body);
    dn_pb_free(&pb);
}

static dn_model *small_mlp_model(void)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    assert_int_equal(dn_mlp_parse_hidden("5", &opt, NULL), DN_OK);
    opt.activation = DN_ACT_TANH;
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    assert_non_null(mlp);
    dn_model *model = dn_model_from_mlp(mlp, 0, NULL);
    dn_mlp_free(mlp);
    assert_non_null(model);
    return model;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *data = malloc(*n);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, *n, fp), *n);
    fclose(fp);
    return data;
}

static int contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return 1;
    return 0;
}

/* The file starts with ir_version 8 and producer "digitnet" and holds the
 * first layer's weights as raw bytes (this host is little-endian) and the
 * producer version. */
static void test_export_framing(void **state)
{
    (void)state;
    dn_model *model = small_mlp_model();
    char path[256];
    snprintf(path, sizeof path, "/tmp/dn_test_onnx_%ld.onnx", (long)getpid());
    dn_error err;
    assert_int_equal(dn_model_export_onnx(model, path, &err), DN_OK);
    size_t n;
    uint8_t *data = read_all(path, &n);
    static const uint8_t head[] = {0x08, 0x08, 0x12, 0x08, 'd', 'i', 'g', 'i', 't', 'n', 'e', 't', 0x1a};
    assert_true(n > sizeof head);
    assert_memory_equal(data, head, sizeof head);
    const dn_mlp *mlp = dn_model_get_mlp(model);
    assert_true(contains(data, n, dn_mlp_weights(mlp, 0), 5 * 784 * sizeof(float)));
    assert_true(contains(data, n, "\x0a\x05image", 7));
    assert_true(contains(data, n, "Tanh", 4) && contains(data, n, "Softmax", 7));
    assert_true(contains(data, n, DN_VERSION, strlen(DN_VERSION)));
    free(data);
    unlink(path);
    dn_model_free(model);
}

/* A folder that does not exist: an I/O error naming the file, no file. */
static void test_export_refusals(void **state)
{
    (void)state;
    dn_model *model = small_mlp_model();
    dn_error err = {0};
    const char *path = "/tmp/dn_test_onnx_no_such_folder/m.onnx";
    assert_int_equal(dn_model_export_onnx(model, path, &err), DN_ERR_IO);
    assert_non_null(strstr(err.message, path));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(dn_model_export_onnx(NULL, path, &err), DN_ERR_USAGE);
    assert_int_equal(dn_model_export_onnx(model, NULL, NULL), DN_ERR_USAGE);
    dn_model_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varints),          cmocka_unit_test(test_fields),
        cmocka_unit_test(test_little_endian_arrays), cmocka_unit_test(test_nested_messages),
        cmocka_unit_test(test_export_framing),   cmocka_unit_test(test_export_refusals),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
