/* test_fuzz_regressions.c — inputs the fuzzers (fuzz/) and the limits audit
 * found, kept as regression tests. Each is written inline, small
 * enough to read, and replayed through the public entry point that failed.
 *
 * "Allocated without bound" is measured as growth of the process's peak
 * virtual size (VmPeak in /proc/self/status): a malloc of hundreds of
 * megabytes maps them at once, touched or not, in the plain build and under
 * AddressSanitizer alike.
 *
 * Built without libpng (no DN_HAVE_PNG) the PNG inputs are skipped and one
 * case checks that dn_png_read_digit refuses a PNG file with DN_ERR_USAGE
 * instead; the IDX and model inputs run in every build. */
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
#include <zlib.h>

#include "digitnet_plot.h"
#include "internal.h"

/* Far above what these tiny files justify, far below the 750+ MiB the bugs
 * asked for: AddressSanitizer's allocator may map a fresh 128 MiB region for
 * an ordinary allocation (seen once in a sanitized run), so not 64 MiB. */
#define GROWTH_LIMIT_KB (256 * 1024)

static long vm_peak_kb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmPeak: %ld kB", &kb) == 1) break;
    if (fp) fclose(fp);
    return kb;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, size, fp), size);
    assert_int_equal(fclose(fp), 0);
}

static void temp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/dn_fuzzreg_%ld_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), name);
}

static void assert_message(const dn_error *err, dn_status code, const char *path, const char *phrase)
{
    if (err->code != code) fail_msg("code %d, expected %d: %s", err->code, code, err->message);
    if (strncmp(err->message, path, strlen(path)) != 0) fail_msg("message does not name %s: %s", path, err->message);
    if (!strstr(err->message, phrase)) fail_msg("message lacks \"%s\": %s", phrase, err->message);
}

/* fuzz_idx, mode 4 (dn_idx_images_read), seed "claims_many": a header that
 * declares 1 000 000 images in front of one image. The old reader (then in
 * png_input.c) allocated count × 784 = 784 MB before reading a byte of
 * data; the IDX reader of idx.c now serves it and grows its buffer only as
 * data arrives, so the file is refused as truncated at a cost of ~1 MB. */
static void test_idx_images_read_huge_claim(void **state)
{
    (void)state;
    static unsigned char file[16 + DN_IMAGE_PIXELS] = {0, 0, 8, 3, 0x00, 0x0f, 0x42, 0x40, 0, 0, 0, 28, 0, 0, 0, 28};
    char path[256];
    temp_path(path, sizeof path, "claims_many");
    write_file(path, file, sizeof file);
    long before = vm_peak_kb();
    dn_error err = {DN_OK, ""};
    size_t count = 0;
    uint8_t *images = dn_idx_images_read(path, &count, &err);
    long growth = vm_peak_kb() - before;
    unlink(path);
    assert_null(images);
    assert_message(&err, DN_ERR_INPUT, path, "expected 784000016 bytes, file has 800 (truncated)");
    if (before > 0 && growth > GROWTH_LIMIT_KB) fail_msg("reading an 800-byte file grew the peak by %ld kB", growth);
}

/* fuzz_model (found with the seed corpus's MLP model and -malloc_limit_mb):
 * 296 bytes whose metadata claims hidden layers of 65536 and 3000 units.
 * The MLP loader allocates the network from "hidden" before reading the
 * tensors, ~1 GB; dn_model_load now first checks that the file holds the
 * tensor bytes those layers need. */
static void test_mlp_hidden_claim_not_backed(void **state)
{
    (void)state;
    static const char header[] =
        "{\"__metadata__\":{\"format\":\"digitnet\",\"format_version\":\"1\",\"kind\":\"mlp\",\"hidden\":\"65536,3000\","
        "\"activation\":\"relu\",\"loss\":\"ce\",\"payload_crc32\":\"758d6336\"},"
        "\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}    ";
    unsigned char file[8 + sizeof header - 1 + 64] = {0};
    file[0] = (unsigned char)(sizeof header - 1); /* 224, little-endian u64 */
    memcpy(file + 8, header, sizeof header - 1);
    char path[256];
    temp_path(path, sizeof path, "mlp_hidden");
    write_file(path, file, sizeof file);
    long before = vm_peak_kb();
    dn_error err = {DN_OK, ""};
    dn_model *model = dn_model_load(path, &err);
    long growth = vm_peak_kb() - before;
    unlink(path);
    assert_null(model);
    assert_message(&err, DN_ERR_INPUT, path,
                   "metadata hidden = '65536,3000' needs 248086770 float32 parameters, but the file's tensors hold only 64 bytes");
    if (before > 0 && growth > GROWTH_LIMIT_KB) fail_msg("a 296-byte model grew the peak by %ld kB", growth);
}

/* fuzz_common.h's check that messages are printable: strings a file
 * supplies (here the model kind, as \u escapes in the JSON) reached the
 * message raw, so a model could send terminal escapes to whoever printed
 * the error. dn_fail now shows C0 and C1 controls as '?'. */
static void test_messages_carry_no_control_characters(void **state)
{
    (void)state;
    char path[256];
    temp_path(path, sizeof path, "escape.st");
    static const float w[1] = {0};
    dn_tensor t = {.name = "W", .dtype = DN_DTYPE_F32, .ndim = 1, .shape = {1}, .data = w};
    dn_meta_entry meta[] = {{"format", "digitnet"}, {"format_version", "1"}, {"kind", "\x1b[2J\xc2\x9b" "31m\x07"}};
    dn_error err = {DN_OK, ""};
    assert_int_equal(dn_st_write(path, &t, 1, meta, 3, &err), DN_OK);
    dn_model *model = dn_model_load(path, &err);
    unlink(path);
    assert_null(model);
    assert_message(&err, DN_ERR_INPUT, path, "unknown model kind '?[2J??31m?'");
    for (const unsigned char *p = (const unsigned char *)err.message; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            fail_msg("control byte 0x%02x in: %s", *p, err.message);
}

#ifdef DN_HAVE_PNG
static size_t png_chunk(unsigned char *out, const char *type, const unsigned char *data, uint32_t len)
{
    unsigned char *p = out;
    p[0] = (unsigned char)(len >> 24), p[1] = (unsigned char)(len >> 16), p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
    memcpy(p + 4, type, 4);
    if (len) memcpy(p + 8, data, len);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), p + 4, 4 + len);
    p[8 + len] = (unsigned char)(crc >> 24), p[9 + len] = (unsigned char)(crc >> 16);
    p[10 + len] = (unsigned char)(crc >> 8), p[11 + len] = (unsigned char)crc;
    return 12 + len;
}

/* The n bytes of file, written as a temporary NAME and read as a digit:
 * refused as bad input with a message holding phrase, without the peak
 * memory growing past GROWTH_LIMIT_KB. */
static void expect_png_refused(const char *name, const unsigned char *file, size_t n, const char *phrase)
{
    char path[256];
    temp_path(path, sizeof path, name);
    write_file(path, file, n);
    long before = vm_peak_kb();
    uint8_t image[DN_IMAGE_PIXELS];
    dn_error err = {DN_OK, ""};
    dn_status s = dn_png_read_digit(path, image, &err);
    long growth = vm_peak_kb() - before;
    unlink(path);
    assert_int_equal(s, DN_ERR_INPUT);
    assert_message(&err, DN_ERR_INPUT, path, phrase);
    if (before > 0 && growth > GROWTH_LIMIT_KB) fail_msg("a %zu-byte PNG grew the peak by %ld kB", n, growth);
}

/* The limits audit, confirmed with fuzz_png: an 88-byte PNG whose header
 * says 8192 × 8192 grey pixels (within DN_PNG_MAX_SIDE) and whose IDAT
 * holds one row. The reader allocated 128 MB of image buffers before libpng
 * found the data missing; it now refuses a header the file's compressed
 * data cannot back (deflate expands at most 1032:1). */
static void test_png_claim_not_backed(void **state)
{
    (void)state;
    static unsigned char row[1 + 8192], idat[64], file[256];
    uLongf idat_len = sizeof idat;
    assert_int_equal(compress2(idat, &idat_len, row, sizeof row, 9), Z_OK);
    static const unsigned char ihdr[13] = {0, 0, 0x20, 0, 0, 0, 0x20, 0, 8, 0, 0, 0, 0}; /* 8192 × 8192, grey 8 */
    size_t n = 8;
    memcpy(file, "\x89PNG\r\n\x1a\n", 8);
    n += png_chunk(file + n, "IHDR", ihdr, sizeof ihdr);
    n += png_chunk(file + n, "IDAT", idat, (uint32_t)idat_len);
    n += png_chunk(file + n, "IEND", NULL, 0);
    expect_png_refused("big.png", file, n, "PNG header claims 8192 × 8192 pixels, more than the file's compressed data");
}

/* fuzz_png, 57 inputs of 40–100 bytes: a text chunk (tEXt, zTXt, iTXt)
 * whose length field says 0.3–1.5 GB. libpng allocated the stated length
 * before reading the chunk (Debian's build sets no cap); the reader now has
 * libpng skip the chunks a digit does not need, in small reads. */
static void test_png_huge_text_chunk(void **state)
{
    (void)state;
    static const unsigned char ihdr[13] = {0, 0, 0, 28, 0, 0, 0, 28, 8, 0, 0, 0, 0}; /* 28 × 28, grey 8 */
    unsigned char file[64];
    size_t n = 8;
    memcpy(file, "\x89PNG\r\n\x1a\n", 8);
    n += png_chunk(file + n, "IHDR", ihdr, sizeof ihdr);
    static const unsigned char itxt[8] = {0x3b, 0x9a, 0xca, 0x00, 'i', 'T', 'X', 't'}; /* 1e9 bytes, none follow */
    memcpy(file + n, itxt, sizeof itxt);
    n += sizeof itxt;
    expect_png_refused("itxt.png", file, n, "corrupt or truncated PNG");
}

#else /* built without libpng */

static void test_png_claim_not_backed(void **state)
{
    (void)state;
    DN_SKIP("test_png_claim_not_backed: built without libpng");
}

static void test_png_huge_text_chunk(void **state)
{
    (void)state;
    DN_SKIP("test_png_huge_text_chunk: built without libpng");
}

/* A file that starts like a PNG is refused before anything is read or
 * allocated: DN_ERR_USAGE, naming the file and saying why. */
static void test_png_refused_without_libpng(void **state)
{
    (void)state;
    static const unsigned char file[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    char path[256];
    temp_path(path, sizeof path, "nolib.png");
    write_file(path, file, sizeof file);
    long before = vm_peak_kb();
    uint8_t image[DN_IMAGE_PIXELS];
    dn_error err = {DN_OK, ""};
    dn_status s = dn_png_read_digit(path, image, &err);
    long growth = vm_peak_kb() - before;
    unlink(path);
    assert_int_equal(s, DN_ERR_USAGE);
    assert_message(&err, DN_ERR_USAGE, path, "built without libpng");
    if (before > 0 && growth > GROWTH_LIMIT_KB) fail_msg("refusing a PNG grew the peak by %ld kB", growth);
}

#endif /* DN_HAVE_PNG */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_images_read_huge_claim),
        cmocka_unit_test(test_mlp_hidden_claim_not_backed),
        cmocka_unit_test(test_messages_carry_no_control_characters),
        cmocka_unit_test(test_png_claim_not_backed),
        cmocka_unit_test(test_png_huge_text_chunk),
#ifndef DN_HAVE_PNG
        cmocka_unit_test(test_png_refused_without_libpng),
#endif
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
