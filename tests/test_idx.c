/* test_idx.c — the IDX reader: valid raw and gzipped files round-trip, and
 * every malformed kind is refused with the right code and a message that
 * starts with the culprit's path. Files are built in a fresh temporary
 * folder per test. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include "lib/skip.h"
#include <zlib.h>

#include "digitnet.h"

#define PATH_SIZE 512
#define N 3 /* samples in the small test files */

typedef struct fixture {
    char dir[PATH_SIZE];
    char images[PATH_SIZE]; /* valid raw images, N samples */
    char labels[PATH_SIZE]; /* valid raw labels, N samples */
} fixture;

typedef struct bytes {
    unsigned char *data;
    size_t len;
} bytes;

/* ------------------------------------------------------------- helpers */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint8_t pixel(size_t sample, size_t j) { return (uint8_t)(sample * 31 + j); }
static uint8_t label(size_t sample) { return (uint8_t)((sample * 7 + 3) % 10); }

/* An images file: header declaring count × rows × cols, then `stored`
 * images of the test pattern (stored may differ from count). */
static bytes image_bytes(uint32_t count, uint32_t rows, uint32_t cols, size_t stored)
{
    size_t item = (size_t)rows * cols;
    bytes b = {malloc(16 + stored * item), 16 + stored * item};
    assert_non_null(b.data);
    put_be32(b.data, 0x803);
    put_be32(b.data + 4, count);
    put_be32(b.data + 8, rows);
    put_be32(b.data + 12, cols);
    for (size_t i = 0; i < stored; i++)
        for (size_t j = 0; j < item; j++) b.data[16 + i * item + j] = pixel(i, j);
    return b;
}

static bytes label_bytes(uint32_t count)
{
    bytes b = {malloc(8 + (size_t)count), 8 + (size_t)count};
    assert_non_null(b.data);
    put_be32(b.data, 0x801);
    put_be32(b.data + 4, count);
    for (size_t i = 0; i < count; i++) b.data[8 + i] = label(i);
    return b;
}

static void write_raw(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* mode "wb" writes one gzip member, "ab" appends another. */
static void write_gz_mode(const char *path, const void *data, size_t len, const char *mode)
{
    gzFile gz = gzopen(path, mode);
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void write_gz(const char *path, const void *data, size_t len) { write_gz_mode(path, data, len, "wb"); }

static void put_file(const char *path, bytes b, int gz)
{
    if (gz)
        write_gz(path, b.data, b.len);
    else
        write_raw(path, b.data, b.len);
    free(b.data);
}

static void path_in(char *out, const fixture *f, const char *name)
{
    int n = snprintf(out, PATH_SIZE, "%s/%s", f->dir, name);
    assert_true(n > 0 && n < PATH_SIZE);
}

static long file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

/* Loading must fail with code, and the message must start with culprit
 * and contain phrase. */
static void expect_failure(const char *images, const char *labels, dn_status code, const char *culprit,
                           const char *phrase)
{
    dn_error err = {DN_OK, ""};
    dn_dataset *set = dn_dataset_load(images, labels, &err);
    dn_dataset_free(set);
    assert_null(set);
    if (err.code != code) fail_msg("code %d, expected %d: %s", err.code, code, err.message);
    if (strncmp(err.message, culprit, strlen(culprit)) != 0)
        fail_msg("message does not start with \"%s\": %s", culprit, err.message);
    if (!strstr(err.message, phrase)) fail_msg("message lacks \"%s\": %s", phrase, err.message);
}

static void assert_test_pattern(const dn_dataset *set, size_t count)
{
    assert_non_null(set);
    assert_int_equal(set->count, count);
    assert_true(set->owns_buffers);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(set->labels[i], label(i));
        for (size_t j = 0; j < DN_IMAGE_PIXELS; j++)
            if (set->images[i * DN_IMAGE_PIXELS + j] != pixel(i, j)) fail_msg("pixel %zu of image %zu differs", j, i);
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/dn_idx_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) return -1;
    path_in(f->images, f, "images-idx3-ubyte");
    path_in(f->labels, f, "labels-idx1-ubyte");
    put_file(f->images, image_bytes(N, 28, 28, N), 0);
    put_file(f->labels, label_bytes(N), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char path[PATH_SIZE];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name) < (int)sizeof path) unlink(path);
    }
    if (d) closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ------------------------------------------------------------ valid data */

static void test_raw_round_trips(void **state)
{
    fixture *f = *state;
    dn_error err = {DN_OK, ""};
    dn_dataset *set = dn_dataset_load(f->images, f->labels, &err);
    assert_test_pattern(set, N);
    dn_dataset_free(set);
}

static void test_gz_round_trips(void **state)
{
    fixture *f = *state;
    char images[PATH_SIZE], labels[PATH_SIZE];
    path_in(images, f, "images-idx3-ubyte.gz");
    path_in(labels, f, "labels-idx1-ubyte.gz");
    put_file(images, image_bytes(N, 28, 28, N), 1);
    put_file(labels, label_bytes(N), 1);
    dn_dataset *set = dn_dataset_load(images, labels, NULL);
    assert_test_pattern(set, N);
    dn_dataset_free(set);
    set = dn_dataset_load(images, f->labels, NULL); /* gz images with raw labels */
    assert_test_pattern(set, N);
    dn_dataset_free(set);
}

static void test_concatenated_gz_members_are_one_stream(void **state)
{
    fixture *f = *state;
    char images[PATH_SIZE];
    path_in(images, f, "split.gz");
    bytes b = image_bytes(N, 28, 28, N);
    write_gz_mode(images, b.data, 100, "wb");
    write_gz_mode(images, b.data + 100, b.len - 100, "ab");
    free(b.data);
    dn_dataset *set = dn_dataset_load(images, f->labels, NULL);
    assert_test_pattern(set, N);
    dn_dataset_free(set);
}

static void test_view_clips_to_bounds(void **state)
{
    fixture *f = *state;
    dn_dataset *set = dn_dataset_load(f->images, f->labels, NULL);
    assert_non_null(set);

    dn_dataset v = dn_dataset_view(set, 1, 100);
    assert_int_equal(v.count, N - 1);
    assert_ptr_equal(v.images, set->images + DN_IMAGE_PIXELS);
    assert_ptr_equal(v.labels, set->labels + 1);
    assert_false(v.owns_buffers);
    dn_dataset_free(&v); /* a view owns nothing: freeing one is a no-op */

    assert_int_equal(dn_dataset_view(set, 0, 2).count, 2);
    assert_int_equal(dn_dataset_view(set, N, 1).count, 0);
    assert_int_equal(dn_dataset_view(set, N + 5, 1).count, 0);
    assert_int_equal(dn_dataset_view(set, 1, SIZE_MAX).count, N - 1);
    assert_int_equal(dn_dataset_view(NULL, 0, 1).count, 0);
    dn_dataset_free(set);
    dn_dataset_free(NULL);
}

static void test_crc32_covers_images_then_labels(void **state)
{
    fixture *f = *state;
    dn_dataset *set = dn_dataset_load(f->images, f->labels, NULL);
    assert_non_null(set);
    uLong want = crc32(0L, Z_NULL, 0);
    want = crc32(want, set->images, N * DN_IMAGE_PIXELS);
    want = crc32(want, set->labels, N);
    assert_int_equal(dn_dataset_crc32(set), (uint32_t)want);

    dn_dataset head = dn_dataset_view(set, 0, 1); /* a view hashes only its samples */
    uLong head_crc = crc32(crc32(0L, Z_NULL, 0), set->images, DN_IMAGE_PIXELS);
    head_crc = crc32(head_crc, set->labels, 1);
    assert_int_equal(dn_dataset_crc32(&head), (uint32_t)head_crc);
    dn_dataset_free(set);
}

/* -------------------------------------------------------- malformed headers */

static void test_wrong_magic(void **state)
{
    fixture *f = *state;
    bytes b = image_bytes(N, 28, 28, N);
    b.data[0] = 0x50;
    put_file(f->images, b, 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "not an IDX file");
}

static void test_wrong_type_code(void **state)
{
    fixture *f = *state;
    bytes b = image_bytes(N, 28, 28, N);
    b.data[2] = 0x0d; /* float */
    put_file(f->images, b, 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "type code 0x0d, expected 0x08");
}

static void test_labels_file_given_as_images(void **state)
{
    fixture *f = *state;
    expect_failure(f->labels, f->labels, DN_ERR_INPUT, f->labels, "1 dimension(s), expected 3");
    expect_failure(f->images, f->images, DN_ERR_INPUT, f->images, "3 dimension(s), expected 1");
}

static void test_wrong_image_size(void **state)
{
    fixture *f = *state;
    put_file(f->images, image_bytes(N, 27, 28, N), 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "images are 27x28 pixels, expected 28x28");
}

static void test_zero_count(void **state)
{
    fixture *f = *state;
    put_file(f->images, image_bytes(0, 28, 28, 0), 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "declares 0 images");
}

static void test_count_over_limit(void **state)
{
    fixture *f = *state;
    char gz[PATH_SIZE];
    path_in(gz, f, "big.gz");
    put_file(f->images, image_bytes(DN_DATASET_MAX_COUNT + 1, 28, 28, 1), 0);
    put_file(gz, image_bytes(DN_DATASET_MAX_COUNT + 1, 28, 28, 1), 1);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "declares 1000001 images, more than the limit");
    expect_failure(gz, f->labels, DN_ERR_INPUT, gz, "more than the limit of 1000000");
}

static void test_empty_file(void **state)
{
    fixture *f = *state;
    char gz[PATH_SIZE];
    path_in(gz, f, "empty.gz");
    write_raw(f->images, "", 0);
    write_raw(gz, "", 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "file is empty");
    expect_failure(gz, f->labels, DN_ERR_INPUT, gz, "file is empty");
}

static void test_shorter_than_header(void **state)
{
    fixture *f = *state;
    bytes b = image_bytes(N, 28, 28, 0);
    write_raw(f->images, b.data, 10);
    write_raw(f->labels, b.data, 3);
    free(b.data);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "shorter than the IDX header (10 of 16 bytes)");
}

static void test_missing_file(void **state)
{
    fixture *f = *state;
    char missing[PATH_SIZE];
    path_in(missing, f, "no-such-file");
    expect_failure(missing, f->labels, DN_ERR_IO, missing, "cannot open: No such file or directory");
    expect_failure(f->images, missing, DN_ERR_IO, missing, "No such file or directory");
    assert_null(dn_dataset_load(missing, f->labels, NULL)); /* err may be NULL */
    expect_failure(NULL, f->labels, DN_ERR_USAGE, "dn_dataset_load", "required");
}

/* ----------------------------------------------------- malformed contents */

static void test_truncated_by_one_byte(void **state)
{
    fixture *f = *state;
    bytes b = image_bytes(N, 28, 28, N);
    b.len -= 1;
    put_file(f->images, b, 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "expected 2368 bytes, file has 2367 (truncated)");
}

static void test_one_extra_byte(void **state)
{
    fixture *f = *state;
    bytes b = label_bytes(N + 1);
    put_be32(b.data + 4, N); /* declares N, carries N + 1 */
    put_file(f->labels, b, 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->labels, "expected 11 bytes, file has 12 (trailing data)");
}

static void test_label_out_of_range(void **state)
{
    fixture *f = *state;
    bytes b = label_bytes(N);
    b.data[8 + 2] = 10;
    put_file(f->labels, b, 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->labels, "label 10 at index 2 is out of range 0-9");
}

static void test_counts_unequal(void **state)
{
    fixture *f = *state;
    put_file(f->labels, label_bytes(N - 1), 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->labels, "2 labels, but");
}

/* ------------------------------------------------------------------ gzip */

static void test_gzip_under_raw_name(void **state)
{
    fixture *f = *state;
    put_file(f->images, image_bytes(N, 28, 28, N), 1);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "gzip data read as raw IDX");
}

static void test_raw_under_gz_name(void **state)
{
    fixture *f = *state;
    char gz[PATH_SIZE];
    path_in(gz, f, "images.gz");
    put_file(gz, image_bytes(N, 28, 28, N), 0);
    expect_failure(gz, f->labels, DN_ERR_INPUT, gz, "not gzip data");
}

static void test_gz_stream_truncated(void **state)
{
    fixture *f = *state;
    char gz[PATH_SIZE];
    path_in(gz, f, "cut.gz");
    put_file(gz, image_bytes(N, 28, 28, N), 1);
    assert_int_equal(truncate(gz, file_size(gz) - 12), 0);
    expect_failure(gz, f->labels, DN_ERR_INPUT, gz, "truncated gzip data");
}

static void test_gz_corrupt(void **state)
{
    fixture *f = *state;
    char gz[PATH_SIZE];
    path_in(gz, f, "corrupt.gz");
    bytes b = image_bytes(N, 28, 28, N);
    write_gz(gz, b.data, b.len);
    free(b.data);
    FILE *fp = fopen(gz, "r+b"); /* flip a byte of the CRC in the trailer */
    assert_non_null(fp);
    assert_int_equal(fseek(fp, -8, SEEK_END), 0);
    int c = fgetc(fp);
    assert_int_equal(fseek(fp, -8, SEEK_END), 0);
    fputc(c ^ 0xff, fp);
    assert_int_equal(fclose(fp), 0);
    expect_failure(gz, f->labels, DN_ERR_INPUT, gz, "corrupt gzip data");
}

static void test_gz_content_length_is_exact(void **state)
{
    fixture *f = *state;
    char gz[PATH_SIZE];
    path_in(gz, f, "len.gz");
    bytes b = image_bytes(N, 28, 28, N);
    write_gz(gz, b.data, b.len - 1);
    expect_failure(gz, f->labels, DN_ERR_INPUT, gz, "expected 2368 bytes after decompression, got 2367 (truncated)");
    free(b.data);

    b = image_bytes(N, 28, 28, N + 1);
    put_be32(b.data + 4, N);
    put_file(gz, b, 1);
    expect_failure(gz, f->labels, DN_ERR_INPUT, gz, "expected 2368 bytes after decompression, got 3152 (trailing data)");
}

/* The header claims the maximum count, the file carries 10 images: the
 * reader must fail on the missing data (never allocating 784 MB up front,
 * which the sanitizer run would also flag as a large allocation). */
static void test_gz_huge_claim_little_data(void **state)
{
    fixture *f = *state;
    char gz[PATH_SIZE];
    path_in(gz, f, "claim.gz");
    put_file(gz, image_bytes(DN_DATASET_MAX_COUNT, 28, 28, 10), 1);
    expect_failure(gz, f->labels, DN_ERR_INPUT, gz, "expected 784000016 bytes after decompression, got 7856 (truncated)");
}

static void test_raw_huge_claim_little_data(void **state)
{
    fixture *f = *state;
    put_file(f->images, image_bytes(DN_DATASET_MAX_COUNT, 28, 28, 10), 0);
    expect_failure(f->images, f->labels, DN_ERR_INPUT, f->images, "expected 784000016 bytes, file has 7856 (truncated)");
}

/* ------------------------------------------------------------ dn_mnist_load */

static void test_mnist_load_finds_each_spelling(void **state)
{
    fixture *f = *state;
    char images[PATH_SIZE], labels[PATH_SIZE];
    path_in(images, f, "t10k-images.idx3-ubyte.gz"); /* the last spelling tried */
    path_in(labels, f, "t10k-labels-idx1-ubyte");    /* the first */
    put_file(images, image_bytes(N, 28, 28, N), 1);
    put_file(labels, label_bytes(N), 0);
    dn_error err = {DN_OK, ""};
    dn_dataset *set = dn_mnist_load(f->dir, "t10k", &err);
    if (!set) fail_msg("%s", err.message);
    assert_test_pattern(set, N);
    dn_dataset_free(set);
}

static void test_mnist_load_prefers_raw(void **state)
{
    fixture *f = *state;
    char path[PATH_SIZE];
    path_in(path, f, "train-images-idx3-ubyte");
    put_file(path, image_bytes(N, 28, 28, N), 0);
    path_in(path, f, "train-images-idx3-ubyte.gz"); /* corrupt: must not be read */
    write_raw(path, "junk", 4);
    path_in(path, f, "train-labels-idx1-ubyte.gz");
    put_file(path, label_bytes(N), 1);
    dn_dataset *set = dn_mnist_load(f->dir, "train", NULL);
    assert_test_pattern(set, N);
    dn_dataset_free(set);
}

static void test_mnist_load_missing_lists_names(void **state)
{
    fixture *f = *state;
    dn_error err = {DN_OK, ""};
    assert_null(dn_mnist_load(f->dir, "train", &err));
    assert_int_equal(err.code, DN_ERR_IO);
    assert_true(strncmp(err.message, f->dir, strlen(f->dir)) == 0);
    assert_non_null(strstr(err.message, "train-images-idx3-ubyte.gz"));
    assert_non_null(strstr(err.message, "train-images.idx3-ubyte"));
    assert_non_null(strstr(err.message, "scripts/fetch_mnist.sh"));
}

static void test_mnist_load_bad_split(void **state)
{
    fixture *f = *state;
    dn_error err = {DN_OK, ""};
    assert_null(dn_mnist_load(f->dir, "test", &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "\"train\" or \"t10k\""));
    assert_null(dn_mnist_load(f->dir, NULL, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
}

/* The published split names are exactly those dn_mnist_load accepts. */
static void test_mnist_split_choices(void **state)
{
    fixture *f = *state;
    const char *const *splits = dn_mnist_split_choices();
    assert_string_equal(splits[0], "t10k");
    assert_string_equal(splits[1], "train");
    assert_null(splits[2]);
    for (int i = 0; splits[i]; i++) {
        dn_error err = {DN_OK, ""};
        assert_null(dn_mnist_load(f->dir, splits[i], &err)); /* an empty folder: no file, yet a valid split */
        assert_int_equal(err.code, DN_ERR_IO);
    }
}

/* ------------------------------------------------------------- real data */

static int folder_exists(const char *dir)
{
    struct stat sb;
    return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void load_split(const char *dir, const char *split, size_t count, uint8_t first_label)
{
    dn_error err = {DN_OK, ""};
    dn_dataset *set = dn_mnist_load(dir, split, &err);
    if (!set) fail_msg("%s", err.message);
    assert_int_equal(set->count, count);
    assert_int_equal(set->labels[0], first_label);
    dn_dataset_free(set);
}

static void test_real_mnist(void **state)
{
    (void)state;
    const char *dir = getenv("DN_DATA");
    if (!dir || !*dir) dir = "data/mnist";
    if (!folder_exists(dir)) DN_SKIP("no data in %s", dir);
    load_split(dir, "train", 60000, 5);
    load_split(dir, "t10k", 10000, 7);
}

static void test_fashion_mnist_gz(void **state)
{
    (void)state;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    if (!folder_exists(dir)) DN_SKIP("no data in %s", dir);
    load_split(dir, "train", 60000, 9); /* ankle boot */
    load_split(dir, "t10k", 10000, 9);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_raw_round_trips),
        T(test_gz_round_trips),
        T(test_concatenated_gz_members_are_one_stream),
        T(test_view_clips_to_bounds),
        T(test_crc32_covers_images_then_labels),
        T(test_wrong_magic),
        T(test_wrong_type_code),
        T(test_labels_file_given_as_images),
        T(test_wrong_image_size),
        T(test_zero_count),
        T(test_count_over_limit),
        T(test_empty_file),
        T(test_shorter_than_header),
        T(test_missing_file),
        T(test_truncated_by_one_byte),
        T(test_one_extra_byte),
        T(test_label_out_of_range),
        T(test_counts_unequal),
        T(test_gzip_under_raw_name),
        T(test_raw_under_gz_name),
        T(test_gz_stream_truncated),
        T(test_gz_corrupt),
        T(test_gz_content_length_is_exact),
        T(test_gz_huge_claim_little_data),
        T(test_raw_huge_claim_little_data),
        T(test_mnist_load_finds_each_spelling),
        T(test_mnist_load_prefers_raw),
        T(test_mnist_load_missing_lists_names),
        T(test_mnist_load_bad_split),
        T(test_mnist_split_choices),
        cmocka_unit_test(test_real_mnist),
        cmocka_unit_test(test_fashion_mnist_gz),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
