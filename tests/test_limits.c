/* test_limits.c — sizes read from files are bounded: a gzip bomb
 * behind a valid IDX header is refused after a bounded amount of inflating,
 * without its bytes ever being kept; headers that claim more than the file
 * holds are refused before anything of that size is allocated. Allocation
 * is measured as growth of VmPeak (see test_fuzz_regressions.c). */
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

#include "digitnet.h"

#define GROWTH_LIMIT_KB (32 * 1024)
#define BOMB_MB 100 /* zeros inflated behind the data: past the reader's 64 MiB trailing-data limit */

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

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void temp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/dn_limits_%ld_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), name);
}

static void write_raw(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, size, fp), size);
    assert_int_equal(fclose(fp), 0);
}

/* A gzip file: a valid IDX file of count items, then extra_mb MiB of zeros,
 * compressed ~1000:1 — a few hundred KB on disk. */
static void write_bomb(const char *path, const unsigned char *idx, size_t idx_size, size_t extra_mb)
{
    gzFile gz = gzopen(path, "wb1");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, idx, (unsigned)idx_size), (int)idx_size);
    static unsigned char zeros[1 << 20];
    for (size_t i = 0; i < extra_mb; i++) assert_int_equal(gzwrite(gz, zeros, sizeof zeros), (int)sizeof zeros);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void expect_refused(const char *images, const char *labels, const char *culprit, const char *phrase,
                           long before)
{
    dn_error err = {DN_OK, ""};
    dn_dataset *set = dn_dataset_load(images, labels, &err);
    long growth = vm_peak_kb() - before;
    dn_dataset_free(set);
    assert_null(set);
    if (err.code != DN_ERR_INPUT) fail_msg("code %d: %s", err.code, err.message);
    if (strncmp(err.message, culprit, strlen(culprit)) != 0) fail_msg("does not name %s: %s", culprit, err.message);
    if (!strstr(err.message, phrase)) fail_msg("lacks \"%s\": %s", phrase, err.message);
    if (before > 0 && growth > GROWTH_LIMIT_KB) fail_msg("the peak grew by %ld kB: %s", growth, err.message);
}

/* 3 images declared and present, then 100 MiB of zeros in the same gzip
 * stream: refused as trailing data once 64 MiB past the end have been
 * counted, through a 4 KiB scratch buffer. */
static void test_gzip_bomb_after_the_data(void **state)
{
    (void)state;
    enum { COUNT = 3 };
    static unsigned char images[16 + COUNT * DN_IMAGE_PIXELS], labels[8 + COUNT];
    put_be32(images, 0x803), put_be32(images + 4, COUNT), put_be32(images + 8, 28), put_be32(images + 12, 28);
    put_be32(labels, 0x801), put_be32(labels + 4, COUNT);
    char gz[256], lab[256];
    temp_path(gz, sizeof gz, "bomb-images.gz");
    temp_path(lab, sizeof lab, "labels");
    write_bomb(gz, images, sizeof images, BOMB_MB);
    write_raw(lab, labels, sizeof labels);
    long before = vm_peak_kb();
    expect_refused(gz, lab, gz, "expected 2368 bytes after decompression, got more than", before);
    unlink(gz);
    unlink(lab);
}

/* The labels of a bomb: the same limit applies to every IDX file. */
static void test_gzip_bomb_in_labels(void **state)
{
    (void)state;
    enum { COUNT = 2 };
    static unsigned char images[16 + COUNT * DN_IMAGE_PIXELS], labels[8 + COUNT];
    put_be32(images, 0x803), put_be32(images + 4, COUNT), put_be32(images + 8, 28), put_be32(images + 12, 28);
    put_be32(labels, 0x801), put_be32(labels + 4, COUNT);
    char img[256], gz[256];
    temp_path(img, sizeof img, "images");
    temp_path(gz, sizeof gz, "bomb-labels.gz");
    write_raw(img, images, sizeof images);
    write_bomb(gz, labels, sizeof labels, BOMB_MB);
    expect_refused(img, gz, gz, "expected 10 bytes after decompression, got more than", vm_peak_kb());
    unlink(img);
    unlink(gz);
}

/* A gzip file whose header claims the maximum count and whose stream ends
 * after one image: the buffer grows only as data arrives. */
static void test_gzip_claim_without_data(void **state)
{
    (void)state;
    static unsigned char images[16 + DN_IMAGE_PIXELS];
    put_be32(images, 0x803), put_be32(images + 4, DN_DATASET_MAX_COUNT), put_be32(images + 8, 28);
    put_be32(images + 12, 28);
    char gz[256];
    temp_path(gz, sizeof gz, "claim.gz");
    write_bomb(gz, images, sizeof images, 0);
    long before = vm_peak_kb();
    size_t count = 0;
    dn_error err = {DN_OK, ""};
    uint8_t *data = dn_idx_images_read(gz, &count, &err);
    long growth = vm_peak_kb() - before;
    unlink(gz);
    assert_null(data);
    if (!strstr(err.message, "expected 784000016 bytes after decompression, got 800 (truncated)"))
        fail_msg("%s", err.message);
    if (before > 0 && growth > GROWTH_LIMIT_KB) fail_msg("the peak grew by %ld kB", growth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip_bomb_after_the_data),
        cmocka_unit_test(test_gzip_bomb_in_labels),
        cmocka_unit_test(test_gzip_claim_without_data),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
