/* test_model_io.c — crash-safe output files, the safetensors container and
 * .npy files: round trips, corrupt and hostile input, failures that must
 * leave the previous file in place, and files read by NumPy itself. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "lib/skip.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* The Python that has NumPy: Debian's, not whatever python3 PATH finds. */
#define SYSTEM_PYTHON "/usr/bin/python3"

/* ------------------------------------------------------------------ helpers */

/* Each test gets a fresh empty folder as its state. */
static int make_dir(void **state)
{
    char tmpl[] = "/tmp/dn_test_model_io.XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    *state = strdup(tmpl);
    return *state ? 0 : -1;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            chmod(p, 0700);
            remove_tree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static int drop_dir(void **state)
{
    remove_tree(*state);
    free(*state);
    return 0;
}

static const char *in_dir(void **state, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", (const char *)*state, name);
    return buf;
}

static void write_raw(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* The whole file, NUL-terminated; *len gets its size. */
static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
    buf[size] = '\0';
    fclose(fp);
    if (len) *len = (size_t)size;
    return buf;
}

static void assert_file_is(const char *path, const char *content)
{
    char *got = read_all(path, NULL);
    assert_string_equal(got, content);
    free(got);
}

/* Leftover "<name>.tmp.XXXXXX" files in dir. */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void assert_starts_with(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0) fail_msg("message \"%s\" does not start with \"%s\"", s, prefix);
}

static void assert_contains(const char *s, const char *part)
{
    if (!strstr(s, part)) fail_msg("message \"%s\" does not contain \"%s\"", s, part);
}

static int have_numpy(void) { return system(SYSTEM_PYTHON " -c 'import numpy' >/dev/null 2>&1") == 0; }

/* ------------------------------------------------------------ atomic files */

static void test_atomic_replaces_file(void **state)
{
    char path[512];
    in_dir(state, "out.txt", path, sizeof path);
    write_raw(path, "old content", 11);
    dn_error err;
    assert_int_equal(dn_write_file_atomic(path, "new", 3, &err), DN_OK);
    assert_file_is(path, "new");
    assert_int_equal(count_temp_files(*state), 0);

    /* Also to a path without a folder part, relative to the working folder. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(*state), 0);
    assert_int_equal(dn_write_file_atomic("rel.txt", "x", 1, &err), DN_OK);
    assert_int_equal(chdir(cwd), 0);
    assert_file_is(in_dir(state, "rel.txt", path, sizeof path), "x");
}

/* A fresh file gets the mode fopen() would give, not mkstemp's 0600. */
static void test_atomic_mode_follows_umask(void **state)
{
    char path[512];
    mode_t mask = umask(022);
    umask(mask);
    dn_error err;
    assert_int_equal(dn_write_file_atomic(in_dir(state, "m.bin", path, sizeof path), "m", 1, &err), DN_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0666 & ~mask);
}

static void test_atomic_abort_keeps_old(void **state)
{
    char path[512];
    in_dir(state, "keep.txt", path, sizeof path);
    write_raw(path, "old", 3);
    dn_atomic_file f;
    dn_error err;
    assert_int_equal(dn_atomic_open(&f, path, &err), DN_OK);
    assert_int_equal(count_temp_files(*state), 1);
    assert_int_equal(dn_atomic_write(&f, "half-written", 12, &err), DN_OK);
    dn_atomic_abort(&f);
    assert_file_is(path, "old");
    assert_int_equal(count_temp_files(*state), 0);
    dn_atomic_abort(&f); /* a second abort is harmless */
}

static void test_atomic_missing_folder(void **state)
{
    char path[512];
    in_dir(state, "no/such/folder/model.safetensors", path, sizeof path);
    dn_error err;
    assert_int_equal(dn_write_file_atomic(path, "x", 1, &err), DN_ERR_IO);
    assert_starts_with(err.message, path);
    assert_contains(err.message, strerror(ENOENT));
    assert_int_equal(count_temp_files(*state), 0);

    /* A file where a folder should be. */
    char file[512];
    write_raw(in_dir(state, "plain", file, sizeof file), "p", 1);
    in_dir(state, "plain/model.safetensors", path, sizeof path);
    assert_int_equal(dn_write_file_atomic(path, "x", 1, &err), DN_ERR_IO);
    assert_starts_with(err.message, path);
    assert_file_is(file, "p");
}

/* /proc refuses new files even to root, so this fails on any account. */
static void test_atomic_proc_refuses(void **state)
{
    (void)state;
    dn_error err;
    const char *path = "/proc/digitnet-test-model.safetensors";
    assert_int_equal(dn_write_file_atomic(path, "x", 1, &err), DN_ERR_IO);
    assert_starts_with(err.message, path);
    assert_contains(err.message, "the previous file is unchanged");
}

/* Root writes into a mode 0555 folder regardless of its mode, so as root the
 * write is made by a child that has dropped to the unprivileged uid 65534
 * ("nobody"); the child hands back the status and the message through a pipe. */
static int write_atomic_unprivileged(const char *path, char *message, size_t cap)
{
    dn_error err = {0};
    if (geteuid() != 0) {
        int status = dn_write_file_atomic(path, "new", 3, &err);
        snprintf(message, cap, "%s", err.message);
        return status;
    }
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(100);
        int status = dn_write_file_atomic(path, "new", 3, &err);
        ssize_t written = write(fd[1], err.message, strlen(err.message));
        _exit(written < 0 ? 101 : status);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], message, cap - 1);
    message[got > 0 ? got : 0] = '\0';
    close(fd[0]);
    int wait_status;
    assert_int_equal(waitpid(pid, &wait_status, 0), pid);
    assert_true(WIFEXITED(wait_status));
    assert_true(WEXITSTATUS(wait_status) < 100); /* 100: setuid refused, 101: pipe broken */
    return WEXITSTATUS(wait_status);
}

static void test_atomic_readonly_folder(void **state)
{
    char sub[512], path[600], message[DN_ERROR_MESSAGE_MAX];
    in_dir(state, "ro", sub, sizeof sub);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", sub);
    write_raw(path, "old", 3);
    assert_int_equal(chmod(sub, 0555), 0);
    int status = write_atomic_unprivileged(path, message, sizeof message);
    chmod(sub, 0700);
    assert_int_equal(status, DN_ERR_IO);
    assert_starts_with(message, path);
    assert_contains(message, strerror(EACCES));
    assert_file_is(path, "old");
    assert_int_equal(count_temp_files(sub), 0);
}

/* A write that fails half-way (here: the file-size limit, which binds root
 * too and stands in for a full disk) must leave the previous file and no
 * temporary file. Small writes sit in stdio's buffer and fail only at
 * commit; large ones fail in dn_atomic_write itself: both are covered. */
static void test_atomic_write_failure_keeps_old(void **state)
{
    char path[512];
    in_dir(state, "model.bin", path, sizeof path);
    write_raw(path, "old", 3);
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    low = saved;
    low.rlim_cur = 2048;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);

    size_t sizes[] = {3000, 100000};
    dn_status got[2];
    dn_error errs[2];
    char *big = calloc(1, sizes[1]);
    for (int i = 0; i < 2; i++) got[i] = dn_write_file_atomic(path, big, sizes[i], &errs[i]);

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    free(big);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(got[i], DN_ERR_IO);
        assert_starts_with(errs[i].message, path);
        assert_contains(errs[i].message, strerror(EFBIG));
        assert_contains(errs[i].message, "the previous file is unchanged");
    }
    assert_file_is(path, "old");
    assert_int_equal(count_temp_files(*state), 0);
}

/* ------------------------------------------------------------- safetensors */

static const char note_value[] = "quote\" backslash\\ nl\n tab\t ctl\x01 \xc3\xa9 \xf0\x9f\x99\x82";

typedef struct st_sample {
    float a[6];
    double b[4];
    uint8_t c[8];
    uint8_t d[3];
    double e;
    dn_tensor t[5];
} st_sample;

/* Five tensors; d's three bytes leave e (a scalar F64) misaligned in the
 * payload, so the reader has to copy it. */
static void make_sample(st_sample *s)
{
    for (int i = 0; i < 6; i++) s->a[i] = (float)i * 0.5f - 1.0f;
    const double b[4] = {1.0 / 3.0, -2.5, 1e300, -0.0};
    memcpy(s->b, b, sizeof b);
    for (int i = 0; i < 8; i++) s->c[i] = (uint8_t)(i * 37 % 256);
    s->d[0] = 1, s->d[1] = 2, s->d[2] = 3;
    s->e = -123.456;
    s->t[0] = (dn_tensor){"a", DN_DTYPE_F32, 2, {2, 3}, s->a};
    s->t[1] = (dn_tensor){"b", DN_DTYPE_F64, 1, {4}, s->b};
    s->t[2] = (dn_tensor){"c", DN_DTYPE_U8, 3, {2, 2, 2}, s->c};
    s->t[3] = (dn_tensor){"d", DN_DTYPE_U8, 1, {3}, s->d};
    s->t[4] = (dn_tensor){"e", DN_DTYPE_F64, 0, {0}, &s->e};
}

static const dn_meta_entry sample_meta[] = {
    {"format", "digitnet"},
    {"note", note_value},
    {"payload_crc32", "deadbeef"}, /* stale: the writer computes its own */
    {"k\xc3\xa9y \"x\"", ""},
};

static void write_sample(const char *path)
{
    st_sample s;
    make_sample(&s);
    dn_error err;
    assert_int_equal(dn_st_write(path, s.t, 5, sample_meta, 4, &err), DN_OK);
}

static void test_st_round_trip(void **state)
{
    char path[512];
    in_dir(state, "m.safetensors", path, sizeof path);
    write_raw(path, "previous", 8);
    write_sample(path);
    assert_int_equal(count_temp_files(*state), 0);

    dn_error err;
    dn_st_file *f = dn_st_read(path, &err);
    if (!f) fail_msg("%s", err.message);
    st_sample s;
    make_sample(&s);
    assert_int_equal(dn_st_tensor_count(f), 5);
    for (size_t i = 0; i < 5; i++) {
        const dn_tensor *t = dn_st_tensor_at(f, i), *want = &s.t[i];
        size_t bytes = dn_dtype_size(want->dtype);
        assert_string_equal(t->name, want->name);
        assert_int_equal(t->dtype, want->dtype);
        assert_int_equal(t->ndim, want->ndim);
        for (int d = 0; d < t->ndim; d++) {
            assert_int_equal(t->shape[d], want->shape[d]);
            bytes *= want->shape[d];
        }
        assert_int_equal((uintptr_t)t->data % dn_dtype_size(t->dtype), 0);
        assert_memory_equal(t->data, want->data, bytes);
        assert_ptr_equal(dn_st_find(f, want->name), t);
    }
    assert_null(dn_st_tensor_at(f, 5));
    assert_null(dn_st_find(f, "missing"));

    assert_int_equal(dn_st_meta_count(f), 4);
    assert_string_equal(dn_st_meta(f, "format"), "digitnet");
    assert_string_equal(dn_st_meta(f, "note"), note_value);
    assert_string_equal(dn_st_meta(f, "k\xc3\xa9y \"x\""), "");
    const char *crc = dn_st_meta(f, "payload_crc32");
    assert_non_null(crc);
    assert_int_equal(strlen(crc), 8);
    assert_int_equal(strspn(crc, "0123456789abcdef"), 8);
    assert_string_not_equal(crc, "deadbeef");
    assert_string_equal(dn_st_meta_at(f, 0)->key, "format");
    assert_null(dn_st_meta_at(f, 4));
    assert_null(dn_st_meta(f, "absent"));
    dn_st_free(f);

    /* The payload starts 8-byte aligned: N is a multiple of 8. */
    size_t len;
    unsigned char *raw = (unsigned char *)read_all(path, &len);
    assert_int_equal(raw[0] % 8, 0);
    assert_int_equal(len, 8 + (size_t)raw[0] + 256 * (size_t)raw[1] + 24 + 32 + 8 + 3 + 8);
    free(raw);
}

static void test_st_empty_and_zero_sized(void **state)
{
    char path[512];
    in_dir(state, "z.safetensors", path, sizeof path);
    dn_error err;
    dn_tensor t[2] = {{"none", DN_DTYPE_F32, 2, {0, 5}, NULL}, {"one", DN_DTYPE_U8, 1, {1}, "\x7f"}};
    assert_int_equal(dn_st_write(path, t, 2, NULL, 0, &err), DN_OK);
    dn_st_file *f = dn_st_read(path, &err);
    if (!f) fail_msg("%s", err.message);
    assert_int_equal(dn_st_tensor_count(f), 2);
    assert_int_equal(dn_st_tensor_at(f, 0)->shape[1], 5);
    assert_int_equal(*(const uint8_t *)dn_st_find(f, "one")->data, 0x7f);
    assert_int_equal(dn_st_meta_count(f), 1); /* payload_crc32 */
    dn_st_free(f);

    assert_int_equal(dn_st_write(path, NULL, 0, NULL, 0, &err), DN_OK);
    f = dn_st_read(path, &err);
    if (!f) fail_msg("%s", err.message);
    assert_int_equal(dn_st_tensor_count(f), 0);
    dn_st_free(f);
}

/* A safetensors file: the header length, json, then payload_len bytes
 * counting 0, 1, 2, ... */
static void write_st(const char *path, const char *json, size_t payload_len)
{
    size_t n = strlen(json);
    unsigned char *buf = malloc(8 + n + payload_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    for (size_t i = 0; i < payload_len; i++) buf[8 + n + i] = (unsigned char)i;
    write_raw(path, buf, 8 + n + payload_len);
    free(buf);
}

/* Files from other writers: whitespace, any key order, metadata last,
 * escaped names, no CRC, and an F32 right after 3 bytes of U8. */
static void test_st_foreign_files_accepted(void **state)
{
    char path[512];
    in_dir(state, "foreign.safetensors", path, sizeof path);
    write_st(
        path,
        " {\n \"\\u00e9\\ud83d\\ude42\" : { \"data_offsets\" : [ 3 , 11 ] , \"shape\" : [2] , \"dtype\" : \"F32\" } ,\n"
        "  \"u\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [0, 3]},"
        "  \"__metadata__\": {\"a\\/b\": \"\\\"\\\\\\b\\f\\n\\r\\t\"}\r\n}   ",
        11);
    dn_error err;
    dn_st_file *f = dn_st_read(path, &err);
    assert_null(f); /* must start with '{' (the spec says so) */
    assert_contains(err.message, "must start with '{'");

    write_st(
        path,
        "{\n \"\\u00e9\\ud83d\\ude42\" : { \"data_offsets\" : [ 3 , 11 ] , \"shape\" : [2] , \"dtype\" : \"F32\" } ,\n"
        "  \"u\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [0, 3]},"
        "  \"__metadata__\": {\"a\\/b\": \"\\\"\\\\\\b\\f\\n\\r\\t\"}\r\n}   ",
        11);
    f = dn_st_read(path, &err);
    if (!f) fail_msg("%s", err.message);
    assert_int_equal(dn_st_tensor_count(f), 2);
    assert_string_equal(dn_st_tensor_at(f, 0)->name, "u"); /* payload order */
    const dn_tensor *t = dn_st_find(f, "\xc3\xa9\xf0\x9f\x99\x82");
    assert_non_null(t);
    assert_int_equal((uintptr_t)t->data % 4, 0);
    const unsigned char want[8] = {3, 4, 5, 6, 7, 8, 9, 10};
    assert_memory_equal(t->data, want, 8);
    assert_string_equal(dn_st_meta(f, "a/b"), "\"\\\b\f\n\r\t");
    dn_st_free(f);
}

static void test_st_crc_mismatch(void **state)
{
    char path[512];
    in_dir(state, "crc.safetensors", path, sizeof path);
    write_sample(path);
    size_t len;
    char *raw = read_all(path, &len);
    raw[len - 20] ^= 0x01; /* a byte inside tensor c */
    write_raw(path, raw, len);
    free(raw);
    dn_error err;
    assert_null(dn_st_read(path, &err));
    assert_int_equal(err.code, DN_ERR_INPUT);
    assert_starts_with(err.message, path);
    assert_contains(err.message, "payload CRC32 mismatch (file says ");
    assert_contains(err.message, "the file is corrupt");
}

typedef struct bad_header {
    const char *json;
    size_t payload;
    const char *expect; /* part of the message */
} bad_header;

#define U8_1 "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}"
#define U8_4(b, e) "{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[" #b "," #e "]}"

static const bad_header bad_headers[] = {
    /* JSON syntax */
    {"{\"a\" " U8_1 "}", 1, "expected ':'"},
    {"{\"a\":" U8_1 ",}", 1, "expected a string"},
    {"{\"a\":" U8_1, 1, "expected ',' or '}' at its end"},
    {"{\"a\":{\"dtype\":\"U8\"", 1, "at its end"},
    {"{\"abc", 0, "unterminated string"},
    {"[1]", 0, "must start with '{'"},
    {"  ", 0, "must start with '{'"},
    {"{}x", 0, "unexpected data after the header object"},
    {"{} {}", 0, "unexpected data after the header object"},
    {"{\"a\\q\":" U8_1 "}", 1, "invalid escape"},
    {"{\"a\\u12\":" U8_1 "}", 1, "bad \\u escape"},
    {"{\"a\x01\":" U8_1 "}", 1, "control character"},
    {"{\"a\xff\":" U8_1 "}", 1, "invalid UTF-8"},
    {"{\"a\xc0\xaf\":" U8_1 "}", 1, "invalid UTF-8"},     /* overlong '/' */
    {"{\"a\xed\xa0\x80\":" U8_1 "}", 1, "invalid UTF-8"}, /* raw surrogate */
    {"{\"\\ud800\":" U8_1 "}", 1, "unpaired high surrogate"},
    {"{\"\\udc00\":" U8_1 "}", 1, "unpaired low surrogate"},
    {"{\"a\\u0000\":" U8_1 "}", 1, "NUL"},
    {"{\"a\":1}", 0, "expected '{'"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", 1, "leading zero"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, "expected a non-negative integer"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", 1, "fraction"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1e0],\"data_offsets\":[0,1]}}", 1, "fraction"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", 1, "integer too large"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[[[[[[[[[[1]]]]]]]]]],\"data_offsets\":[0,1]}}", 1,
     "expected a non-negative integer"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,],\"data_offsets\":[0,1]}}", 1, "expected a non-negative integer"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1] \"data_offsets\":[0,1]}}", 1, "expected ',' or '}'"},
    {"{\"a\":{\"dtype\":U8,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "expected a string"},
    /* schema */
    {"{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "tensor 'a': unsupported dtype 'F16'"},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unsupported dtype 'f32'"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor 'a': missing field 'dtype'"},
    {"{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, "tensor 'a': missing field 'shape'"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "tensor 'a': missing field 'data_offsets'"},
    {"{\"a\":{}}", 0, "missing field 'dtype'"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 1, "tensor 'a': unknown field 'x'"},
    {"{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "field 'dtype' given twice"},
    {"{\"a\":" U8_1 ",\"a\":" U8_1 "}", 1, "tensor 'a' given twice"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "'__metadata__' given twice"},
    {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "metadata key 'k' given twice"},
    {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value of 'k' is not a string"},
    {"{\"__metadata__\":{\"k\":{}}}", 0, "is not a string"},
    {"{\"__metadata__\":[]}", 0, "expected '{'"},
    {"{\"__metadata__\":{\"payload_crc32\":\"xyz\"}}", 0, "payload_crc32 'xyz' is not 8 hex digits"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "shape has more than 4 entries"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,1]}}", 1, "data_offsets has more than 2 entries"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", 1, "data_offsets has 1 entries, not 2"},
    {"{\"\":" U8_1 "}", 1, "tensor name '' is 0 bytes"},
    {"{\"0123456789012345678901234567890123456789012345678901234567890123456789\":" U8_1 "}", 1, "(1 to 63 allowed)"},
    {"{\"a\x1b[31m\\u001b\":{}}", 0, "control character"},
    {"{\"a\\u001b[31m\":{\"x\":1}}", 0, "tensor 'a?[31m': unknown field"}, /* no raw escapes in messages */
    /* sizes and offsets */
    {"{\"W\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
     "tensor 'W': data_offsets [0, 20] do not match shape (2, 3) F32 = 24 bytes"},
    {"{\"W\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "do not match shape (3,) F64 = 24 bytes"},
    {"{\"W\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "do not match shape () F64 = 8 bytes"},
    {"{\"W\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}", 0, "is too large"},
    {"{\"a\":" U8_4(0, 4) ",\"b\":" U8_4(2, 6) "}", 6, "tensors 'a' [0, 4] and 'b' [2, 6] overlap"},
    {"{\"a\":" U8_4(0, 4) ",\"b\":" U8_4(6, 10) "}", 10, "payload bytes [4, 6) before tensor 'b' belong to no tensor"},
    {"{\"a\":" U8_4(2, 6) "}", 6, "payload bytes [0, 2) before tensor 'a'"},
    {"{\"a\":" U8_4(0, 4) "}", 6, "payload bytes [4, 6) after the last tensor"},
    {"{}", 3, "payload bytes [0, 3) after the last tensor"},
    {"{\"a\":" U8_4(0, 4) "}", 2, "data_offsets [0, 4] go past the payload's 2 bytes"},
    {"{\"a\":" U8_4(4, 0) "}", 4, "data_offsets [4, 0] end before they begin"},
    {"{\"a\":" U8_4(0, 18446744073709551615) "}", 4, "go past the payload"},
};

static void test_st_malformed_headers(void **state)
{
    char path[512];
    in_dir(state, "bad.safetensors", path, sizeof path);
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        const bad_header *b = &bad_headers[i];
        write_st(path, b->json, b->payload);
        dn_error err = {DN_OK, ""};
        dn_st_file *f = dn_st_read(path, &err);
        if (f) fail_msg("case %zu (%s) was accepted", i, b->json);
        if (err.code != DN_ERR_INPUT) fail_msg("case %zu: code %d, message %s", i, err.code, err.message);
        assert_starts_with(err.message, path);
        assert_contains(err.message, b->expect);
    }
    /* A NUL byte after the object (the table's strings cannot hold one). */
    const char nul_json[] = "{\"a\":" U8_1 "}\0";
    unsigned char buf[8 + sizeof nul_json + 1] = {sizeof nul_json};
    memcpy(buf + 8, nul_json, sizeof nul_json);
    write_raw(path, buf, sizeof buf);
    dn_error err;
    assert_null(dn_st_read(path, &err));
    assert_contains(err.message, "unexpected data after the header object");
}

static void expect_st_input_error(const char *path, const char *part)
{
    dn_error err = {DN_OK, ""};
    assert_null(dn_st_read(path, &err));
    assert_int_equal(err.code, DN_ERR_INPUT);
    assert_starts_with(err.message, path);
    assert_contains(err.message, part);
}

static void test_st_bad_lengths(void **state)
{
    char path[512];
    in_dir(state, "len.safetensors", path, sizeof path);
    write_raw(path, "\x05\0\0\0\0", 5);
    expect_st_input_error(path, "file is 5 bytes, too short");

    unsigned char buf[32] = {0x7f, 0x96, 0x98, 0x00}; /* 9999999 */
    memcpy(buf + 8, "{}", 2);
    write_raw(path, buf, sizeof buf);
    expect_st_input_error(path, "header length 9999999 exceeds file size 32");

    memset(buf, 0xff, 8);
    write_raw(path, buf, sizeof buf);
    expect_st_input_error(path, "header length 18446744073709551615 exceeds file size 32");

    memset(buf, 0, 8);
    buf[0] = 1;
    write_raw(path, buf, 9);
    expect_st_input_error(path, "header length 1 is too short");

    buf[0] = 0;
    write_raw(path, buf, 8);
    expect_st_input_error(path, "header length 0 is too short");

    /* Over the 16 MiB header cap yet within the file: a sparse file. */
    uint64_t big = ((uint64_t)16 << 20) + 1;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(big >> (8 * i));
    write_raw(path, buf, 8);
    assert_int_equal(truncate(path, (off_t)(8 + big + 8)), 0);
    expect_st_input_error(path, "header length 16777217 exceeds the 16777216-byte limit");

    dn_error err;
    in_dir(state, "absent.safetensors", path, sizeof path);
    assert_null(dn_st_read(path, &err));
    assert_int_equal(err.code, DN_ERR_IO);
    assert_starts_with(err.message, path);
    assert_contains(err.message, strerror(ENOENT));

    assert_null(dn_st_read(*state, &err));
    assert_int_equal(err.code, DN_ERR_INPUT);
    assert_contains(err.message, "not a regular file");
}

static void test_st_write_rejects_bad_arguments(void **state)
{
    char path[512];
    in_dir(state, "w.safetensors", path, sizeof path);
    write_raw(path, "old", 3);
    uint8_t x = 1;
    dn_error err;
    dn_tensor twice[2] = {{"t", DN_DTYPE_U8, 1, {1}, &x}, {"t", DN_DTYPE_U8, 1, {1}, &x}};
    assert_int_equal(dn_st_write(path, twice, 2, NULL, 0, &err), DN_ERR_USAGE);
    assert_contains(err.message, "tensor name 't' given twice");
    dn_tensor reserved = {"__metadata__", DN_DTYPE_U8, 1, {1}, &x};
    assert_int_equal(dn_st_write(path, &reserved, 1, NULL, 0, &err), DN_ERR_USAGE);
    dn_tensor five_d = {"t", DN_DTYPE_U8, 5, {1, 1, 1, 1}, &x};
    assert_int_equal(dn_st_write(path, &five_d, 1, NULL, 0, &err), DN_ERR_USAGE);
    dn_tensor huge = {"t", DN_DTYPE_F64, 3, {SIZE_MAX / 2, 3, 1}, &x};
    assert_int_equal(dn_st_write(path, &huge, 1, NULL, 0, &err), DN_ERR_USAGE);
    dn_tensor no_data = {"t", DN_DTYPE_U8, 1, {1}, NULL};
    assert_int_equal(dn_st_write(path, &no_data, 1, NULL, 0, &err), DN_ERR_USAGE);
    dn_meta_entry bad_utf8 = {"k", "\xff"};
    assert_int_equal(dn_st_write(path, NULL, 0, &bad_utf8, 1, &err), DN_ERR_USAGE);
    dn_meta_entry dup[2] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(dn_st_write(path, NULL, 0, dup, 2, &err), DN_ERR_USAGE);
    assert_starts_with(err.message, path);
    assert_file_is(path, "old");
    assert_int_equal(count_temp_files(*state), 0);
}

/* An independent reader: NumPy and the json module, following the spec,
 * must see the same tensors, metadata and CRC as we wrote. */
static const char st_check_py[] =
    "import json, sys, zlib\n"
    "import numpy as np\n"
    "raw = open(sys.argv[1], 'rb').read()\n"
    "n = int.from_bytes(raw[:8], 'little')\n"
    "hdr = json.loads(raw[8:8 + n].decode('utf-8'))\n"
    "payload = raw[8 + n:]\n"
    "meta = hdr.pop('__metadata__')\n"
    "note = ('quote' + chr(34) + ' backslash' + chr(92) + ' nl' + chr(10) + ' tab' + chr(9) + ' ctl' + chr(1)\n"
    "        + ' ' + chr(0xe9) + ' ' + chr(0x1F642))\n"
    "assert meta['note'] == note, repr(meta['note'])\n"
    "assert meta['format'] == 'digitnet'\n"
    "assert meta['k' + chr(0xe9) + 'y ' + chr(34) + 'x' + chr(34)] == ''\n"
    "assert int(meta['payload_crc32'], 16) == zlib.crc32(payload), 'crc'\n"
    "kinds = {'F32': '<f4', 'F64': '<f8', 'U8': 'u1'}\n"
    "def get(name):\n"
    "    t = hdr[name]\n"
    "    b, e = t['data_offsets']\n"
    "    return np.frombuffer(payload[b:e], dtype=kinds[t['dtype']]).reshape(t['shape'])\n"
    "a = get('a')\n"
    "assert a.dtype == np.float32 and a.shape == (2, 3)\n"
    "assert np.array_equal(a, (np.arange(6, dtype=np.float32) * np.float32(0.5) - np.float32(1)).reshape(2, 3))\n"
    "assert np.array_equal(get('b'), np.array([1 / 3, -2.5, 1e300, -0.0]))\n"
    "assert np.array_equal(get('c'), (np.arange(8) * 37 % 256).astype(np.uint8).reshape(2, 2, 2))\n"
    "assert get('d').tolist() == [1, 2, 3]\n"
    "e = get('e')\n"
    "assert e.shape == () and float(e) == -123.456\n"
    "assert sorted(hdr) == ['a', 'b', 'c', 'd', 'e']\n";

static void run_python(void **state, const char *script, const char *args)
{
    char py[512], cmd[2800];
    in_dir(state, "check.py", py, sizeof py);
    write_raw(py, script, strlen(script));
    snprintf(cmd, sizeof cmd, SYSTEM_PYTHON " %s %s", py, args);
    int rc = system(cmd);
    if (rc != 0) fail_msg("NumPy check failed (status %d): %s", rc, cmd);
}

static void test_st_readable_by_numpy(void **state)
{
    if (!have_numpy()) {
        DN_SKIP(SYSTEM_PYTHON " cannot import numpy (Debian: apt-get install python3-numpy)");
    }
    char path[512];
    write_sample(in_dir(state, "np.safetensors", path, sizeof path));
    run_python(state, st_check_py, path);
}

/* -------------------------------------------------------------------- npy */

static size_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (size_t)sb.st_size;
}

static void test_npy_round_trip(void **state)
{
    char path[512];
    float f4[4] = {1.5f, -0.1f, 3e38f, 0};
    double f8[6];
    uint8_t u1[8];
    for (int i = 0; i < 6; i++) f8[i] = i * 0.25;
    for (int i = 0; i < 8; i++) u1[i] = (uint8_t)(i * 33);
    double scalar = -7.5;
    struct {
        const char *name;
        char code;
        const void *data;
        int ndim;
        size_t shape[3];
        size_t itemsize;
    } cases[] = {
        {"f4.npy", 'f', f4, 1, {4}, 4},         {"f8.npy", 'd', f8, 2, {2, 3}, 8},
        {"u1.npy", 'u', u1, 3, {2, 2, 2}, 1},   {"scalar.npy", 'd', &scalar, 0, {0}, 8},
        {"empty.npy", 'f', NULL, 2, {0, 3}, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        in_dir(state, cases[c].name, path, sizeof path);
        dn_error err;
        assert_int_equal(dn_npy_write(path, cases[c].code, cases[c].data, cases[c].shape, cases[c].ndim, &err), DN_OK);
        size_t count = 1;
        for (int d = 0; d < cases[c].ndim; d++) count *= cases[c].shape[d];
        /* NumPy's layout: the data starts at a multiple of 64. */
        assert_int_equal((file_size(path) - count * cases[c].itemsize) % 64, 0);

        double *data;
        size_t shape[4];
        int ndim;
        assert_int_equal(dn_npy_read_f64(path, &data, shape, &ndim, &err), DN_OK);
        assert_int_equal(ndim, cases[c].ndim);
        for (int d = 0; d < ndim; d++) assert_int_equal(shape[d], cases[c].shape[d]);
        for (size_t i = 0; i < count; i++) {
            double want = cases[c].code == 'f'   ? ((const float *)cases[c].data)[i]
                          : cases[c].code == 'd' ? ((const double *)cases[c].data)[i]
                                                 : ((const uint8_t *)cases[c].data)[i];
            assert_true(data[i] == want);
        }
        free(data);
    }
    assert_int_equal(count_temp_files(*state), 0);
}

static const char *fixture(const char *name, char *buf, size_t cap)
{
    /* ctest sets DN_SOURCE_DIR; run by hand, fall back to this file's folder. */
    const char *src = getenv("DN_SOURCE_DIR");
    if (src) {
        snprintf(buf, cap, "%s/tests/fixtures/npy/%s", src, name);
    } else {
        const char *file = __FILE__, *slash = strrchr(file, '/');
        int dir_len = slash ? (int)(slash - file) : 1;
        snprintf(buf, cap, "%.*s/fixtures/npy/%s", dir_len, slash ? file : ".", name);
    }
    return buf;
}

static double *read_fixture(const char *name, size_t shape[4], int *ndim)
{
    char path[1024];
    double *data;
    dn_error err;
    if (dn_npy_read_f64(fixture(name, path, sizeof path), &data, shape, ndim, &err) != DN_OK) {
        fail_msg("%s", err.message);
    }
    return data;
}

/* The fixtures were written by NumPy itself (scripts/make_npy_fixtures.py,
 * which states the same values), so this checks our reader against the
 * real writer: format 1.0 and 2.0, '<f8', '<f4' and '|u1'. */
static void test_npy_numpy_fixtures(void **state)
{
    (void)state;
    size_t shape[4];
    int ndim;
    const double f8_want[6] = {0.5, -1.25, 3.0, 1e-3, 2.5e10, -7.0};
    const char *f8_files[] = {"f8_2x3.npy", "f8_2x3_v2.npy"};
    for (int k = 0; k < 2; k++) {
        double *f8 = read_fixture(f8_files[k], shape, &ndim);
        assert_int_equal(ndim, 2);
        assert_int_equal(shape[0], 2);
        assert_int_equal(shape[1], 3);
        for (int i = 0; i < 6; i++) assert_true(f8[i] == f8_want[i]);
        free(f8);
    }

    double *f4 = read_fixture("f4_3.npy", shape, &ndim);
    assert_int_equal(ndim, 1);
    assert_int_equal(shape[0], 3);
    assert_true(f4[0] == 1.5 && f4[1] == -2.25 && f4[2] == (double)0.1f);
    free(f4);

    double *u1 = read_fixture("u1_2x2.npy", shape, &ndim);
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 2);
    assert_true(u1[0] == 0 && u1[1] == 7 && u1[2] == 128 && u1[3] == 255);
    free(u1);
}

/* A .npy file with the given version and dict, padded as NumPy pads it,
 * then data_len bytes. */
static void write_npy(const char *path, int major, const char *dict, size_t data_len)
{
    size_t prefix = major == 1 ? 10 : 12, n = strlen(dict), used = prefix + n + 1;
    size_t hlen = n + (64 - used % 64) % 64 + 1;
    unsigned char *buf = calloc(1, prefix + hlen + data_len);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    for (size_t i = 0; i < prefix - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memset(buf + prefix, ' ', hlen - 1);
    memcpy(buf + prefix, dict, n);
    buf[prefix + hlen - 1] = '\n';
    write_raw(path, buf, prefix + hlen + data_len);
    free(buf);
}

static void expect_npy_error(const char *path, const char *part)
{
    double sentinel, *data = &sentinel;
    size_t shape[4];
    int ndim = 9;
    dn_error err = {DN_OK, ""};
    assert_int_equal(dn_npy_read_f64(path, &data, shape, &ndim, &err), DN_ERR_INPUT);
    assert_null(data);
    assert_starts_with(err.message, path);
    assert_contains(err.message, part);
}

static void test_npy_variants_accepted(void **state)
{
    char path[512];
    in_dir(state, "v.npy", path, sizeof path);
    const char *dicts[] = {
        "{\"descr\": \"<u1\", \"shape\": (2, 3,), \"fortran_order\": False}",
        "{'shape':(2,3),'fortran_order':False,'descr':'|u1',}",
    };
    for (int k = 0; k < 2; k++) {
        write_npy(path, 1 + k, dicts[k], 6);
        double *data;
        size_t shape[4];
        int ndim;
        dn_error err;
        if (dn_npy_read_f64(path, &data, shape, &ndim, &err) != DN_OK) fail_msg("%s", err.message);
        assert_int_equal(ndim, 2);
        assert_int_equal(shape[1], 3);
        free(data);
    }
}

static void test_npy_malformed(void **state)
{
    char path[512];
    in_dir(state, "bad.npy", path, sizeof path);
    static const struct {
        int major;
        const char *dict;
        size_t data;
        const char *expect;
    } cases[] = {
        {1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", 48, "fortran_order True is not supported"},
        {1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", 48, "unsupported dtype '>f8'"},
        {1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", 24, "unsupported dtype '<i4'"},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 40,
         "data is 40 bytes, but shape (2, 3) '<f8' needs 48"},
        {2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 56, "data is 56 bytes"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }", 1, "more than 4 dimensions"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3), }", 3, "not a tuple"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (02,), }", 2, "leading zero"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (-2,), }", 2, "non-negative integer"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 2, "too large"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0, "too large"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), 'foo': 1, }", 2, "unknown key 'foo'"},
        {1, "{'descr': '|u1', 'fortran_order': False, }", 2, "missing key 'shape'"},
        {1, "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 2, "key 'descr' given twice"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), } x", 2, "unexpected text after the dict"},
        {1, "{'descr': '|u1' 'fortran_order': False, 'shape': (2,), }", 2, "expected ',' or '}'"},
        {1, "{'descr': '|u1', 'fortran_order': false, 'shape': (2,), }", 2, "expected True or False"},
        {1, "{'de\\scr': '|u1', 'fortran_order': False, 'shape': (2,), }", 2, "escapes are not supported"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), '\xc3\xa9': 1}", 2, "not printable ASCII"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,)", 2, "expected ',' or '}' at its end"},
        {3, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 2, "version 3.0 is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_npy(path, cases[i].major, cases[i].dict, cases[i].data);
        expect_npy_error(path, cases[i].expect);
    }

    write_raw(path, "\x93NUMPZ\x01\x00\x00\x00", 10);
    expect_npy_error(path, "bad magic");
    write_raw(path, "\x93NUMPY\x01\x00\x40\x00{}", 12);
    expect_npy_error(path, "header length 64 exceeds file size 12");
    write_raw(path, "\x93NUMPY\x01\x00\x02\x00{}", 12);
    expect_npy_error(path, "does not end with a newline");
    write_raw(path, "\x93NUMPY", 6);
    expect_npy_error(path, "too short");
}

static void test_npy_write_rejects_bad_arguments(void **state)
{
    char path[512];
    in_dir(state, "w.npy", path, sizeof path);
    size_t shape[5] = {1, 1, 1, 1, 1};
    uint8_t x = 0;
    dn_error err;
    assert_int_equal(dn_npy_write(path, 'i', &x, shape, 1, &err), DN_ERR_USAGE);
    assert_contains(err.message, "unknown dtype code 'i'");
    assert_int_equal(dn_npy_write(path, 'u', &x, shape, 5, &err), DN_ERR_USAGE);
    assert_int_equal(dn_npy_write(path, 'u', NULL, shape, 1, &err), DN_ERR_USAGE);
    size_t huge[2] = {SIZE_MAX, 2};
    assert_int_equal(dn_npy_write(path, 'u', &x, huge, 2, &err), DN_ERR_USAGE);
    assert_starts_with(err.message, path);
    assert_int_equal(access(path, F_OK), -1);

    double *data;
    size_t s[4];
    int ndim;
    assert_int_equal(dn_npy_read_f64(path, &data, s, &ndim, &err), DN_ERR_IO);
    assert_starts_with(err.message, path);
}

static const char npy_check_py[] = "import sys\n"
                                   "import numpy as np\n"
                                   "a = np.load(sys.argv[1])\n"
                                   "assert a.dtype == np.float64 and a.shape == (2, 3), (a.dtype, a.shape)\n"
                                   "assert np.array_equal(a, np.arange(6).reshape(2, 3) * 0.25)\n"
                                   "b = np.load(sys.argv[2])\n"
                                   "assert b.dtype == np.float32 and b.shape == (4,)\n"
                                   "assert np.array_equal(b, np.array([1.5, -0.1, 3e38, 0], dtype=np.float32))\n"
                                   "c = np.load(sys.argv[3])\n"
                                   "assert c.dtype == np.uint8 and c.shape == (2, 2, 2)\n"
                                   "assert np.array_equal(c.ravel(), (np.arange(8) * 33).astype(np.uint8))\n"
                                   "d = np.load(sys.argv[4])\n"
                                   "assert d.shape == () and float(d) == -7.5\n";

/* Our writer against the real reader: NumPy must load what we write. */
static void test_npy_readable_by_numpy(void **state)
{
    if (!have_numpy()) {
        DN_SKIP(SYSTEM_PYTHON " cannot import numpy (Debian: apt-get install python3-numpy)");
    }
    char p[4][512], args[2100];
    double f8[6];
    for (int i = 0; i < 6; i++) f8[i] = i * 0.25;
    float f4[4] = {1.5f, -0.1f, 3e38f, 0};
    uint8_t u1[8];
    for (int i = 0; i < 8; i++) u1[i] = (uint8_t)(i * 33);
    double scalar = -7.5;
    size_t s8[2] = {2, 3}, s4[1] = {4}, s1[3] = {2, 2, 2};
    dn_error err;
    assert_int_equal(dn_npy_write(in_dir(state, "a.npy", p[0], 512), 'd', f8, s8, 2, &err), DN_OK);
    assert_int_equal(dn_npy_write(in_dir(state, "b.npy", p[1], 512), 'f', f4, s4, 1, &err), DN_OK);
    assert_int_equal(dn_npy_write(in_dir(state, "c.npy", p[2], 512), 'u', u1, s1, 3, &err), DN_OK);
    assert_int_equal(dn_npy_write(in_dir(state, "d.npy", p[3], 512), 'd', &scalar, NULL, 0, &err), DN_OK);
    snprintf(args, sizeof args, "%s %s %s %s", p[0], p[1], p[2], p[3]);
    run_python(state, npy_check_py, args);
}

/* ------------------------------------------------- import and C export */

/* An untrained network (random weights are all import needs) as a model. */
static dn_model *small_mlp_model(const char *hidden, dn_activation act, dn_loss loss)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    assert_int_equal(dn_mlp_parse_hidden(hidden, &opt, NULL), DN_OK);
    opt.activation = act, opt.loss = loss, opt.seed = 7;
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    assert_non_null(mlp);
    dn_model *model = dn_model_from_mlp(mlp, 0, NULL);
    assert_non_null(model);
    dn_mlp_free(mlp);
    return model;
}

static void assert_same_network(const dn_mlp *a, const dn_mlp *b)
{
    assert_int_equal(dn_mlp_layer_count(a), dn_mlp_layer_count(b));
    for (int k = 0; k < dn_mlp_layer_count(a); k++) {
        assert_int_equal(dn_mlp_layer_activation(a, k), dn_mlp_layer_activation(b, k));
        size_t out = dn_mlp_layer_outputs(a, k), in = dn_mlp_layer_inputs(a, k);
        assert_int_equal(out, dn_mlp_layer_outputs(b, k));
        assert_int_equal(in, dn_mlp_layer_inputs(b, k));
        assert_memory_equal(dn_mlp_weights(a, k), dn_mlp_weights(b, k), out * in * sizeof(float));
        assert_memory_equal(dn_mlp_bias(a, k), dn_mlp_bias(b, k), out * sizeof(float));
    }
}

/* export --npy → import gives the same tensors, activation and loss. */
static void test_import_round_trip(void **state)
{
    char dir[512];
    dn_error err;
    static const struct { const char *hidden; dn_activation act; dn_loss loss; } nets[] = {
        {"6,5", DN_ACT_TANH, DN_LOSS_MSE}, {"7", DN_ACT_SIGMOID, DN_LOSS_CE}, {"", DN_ACT_RELU, DN_LOSS_CE}};
    for (size_t i = 0; i < sizeof nets / sizeof *nets; i++) {
        snprintf(dir, sizeof dir, "%s/net%zu", (const char *)*state, i);
        dn_model *model = small_mlp_model(nets[i].hidden, nets[i].act, nets[i].loss);
        assert_int_equal(dn_model_export_npy(model, dir, NULL, &err), DN_OK);
        dn_model *back = dn_model_import_npy(dir, -1, -1, &err);
        if (!back) fail_msg("%s", err.message);
        assert_same_network(dn_model_get_mlp(model), dn_model_get_mlp(back));
        assert_int_equal(dn_mlp_get_options(dn_model_get_mlp(back))->loss, nets[i].loss);
        assert_string_equal(dn_model_meta(back, "origin"), "imported from .npy files");
        dn_model_free(back);
        dn_model_free(model);
    }
    /* a perceptron: W.npy and the description */
    dn_pta_options po;
    dn_pta_options_default(&po);
    dn_pta *pta = dn_pta_create(&po, NULL);
    dn_model *model = dn_model_from_pta(pta, 0, 0, NULL);
    assert_non_null(model);
    in_dir(state, "pta", dir, sizeof dir);
    assert_int_equal(dn_model_export_npy(model, dir, NULL, &err), DN_OK);
    dn_model *back = dn_model_import_npy(dir, -1, -1, &err);
    if (!back) fail_msg("%s", err.message);
    assert_int_equal(dn_model_get_kind(back), DN_MODEL_PERCEPTRON);
    assert_memory_equal(dn_model_perceptron_weights(model), dn_model_perceptron_weights(back),
                        sizeof(double) * DN_CLASSES * DN_IMAGE_PIXELS);
    dn_model_free(back);
    dn_model_free(model);
    dn_pta_free(pta);
}

/* A folder with one layer 784 → 10 whose files the caller then spoils. */
static void write_layer(const char *dir, int k, size_t out, size_t in, char dtype)
{
    char path[600];
    size_t n = out * in;
    double *v = calloc(n, sizeof *v);
    float *f = calloc(n, sizeof *f);
    assert_true(v && f);
    for (size_t i = 0; i < n; i++) f[i] = (float)(v[i] = 0.001 * (double)(i % 17));
    const size_t wshape[2] = {out, in};
    snprintf(path, sizeof path, "%s/layers.%d.weight.npy", dir, k);
    const void *weights = dtype == 'f' ? (const void *)f : (const void *)v;
    assert_int_equal(dn_npy_write(path, dtype, weights, wshape, 2, NULL), DN_OK);
    snprintf(path, sizeof path, "%s/layers.%d.bias.npy", dir, k);
    assert_int_equal(dn_npy_write(path, 'f', f, wshape, 1, NULL), DN_OK);
    free(v);
    free(f);
}

static void expect_import_error(const char *dir, int act, dn_status code, const char *file, const char *part)
{
    dn_error err;
    dn_model *model = dn_model_import_npy(dir, act, -1, &err);
    if (model) fail_msg("%s: imported, but should be refused with \"%s\"", dir, part);
    assert_int_equal(err.code, code);
    char named[600];
    snprintf(named, sizeof named, "%s/%s", dir, file);
    assert_contains(err.message, file[0] ? named : dir);
    assert_contains(err.message, part);
}

static void test_import_refusals(void **state)
{
    char dir[512], path[600];
    in_dir(state, "bad", dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0777), 0);
    expect_import_error(dir, -1, DN_ERR_INPUT, "", "no W.npy (a perceptron) and no layers.0.weight.npy");
    write_layer(dir, 0, 10, 784, 'd'); /* float64 weights */
    expect_import_error(dir, -1, DN_ERR_INPUT, "layers.0.weight.npy", "dtype '<f8', but float32 '<f4' is needed");
    write_layer(dir, 0, 10, 783, 'f');
    expect_import_error(dir, -1, DN_ERR_INPUT, "layers.0.weight.npy", "shape (10, 783)");
    write_layer(dir, 0, 32, 784, 'f'); /* ends at 32: layer 1 missing */
    expect_import_error(dir, -1, DN_ERR_INPUT, "layers.0.weight.npy", "is layers.1.weight.npy missing?");
    write_layer(dir, 1, 10, 31, 'f'); /* does not chain */
    expect_import_error(dir, -1, DN_ERR_INPUT, "layers.1.weight.npy", "the chain (layers.0 gives 32 outputs)");
    write_layer(dir, 1, 10, 32, 'f');
    snprintf(path, sizeof path, "%s/layers.1.bias.npy", dir);
    assert_int_equal(unlink(path), 0);
    expect_import_error(dir, -1, DN_ERR_INPUT, "layers.1.bias.npy", "missing");
    float nan_bias[10] = {0, 0, 0, 0, 0, 0, 0, (float)NAN, 0, 0};
    const size_t bshape[1] = {10};
    assert_int_equal(dn_npy_write(path, 'f', nan_bias, bshape, 1, NULL), DN_OK);
    expect_import_error(dir, -1, DN_ERR_INPUT, "layers.1.bias.npy", "value 7 is not finite");
    write_layer(dir, 1, 10, 32, 'f'); /* now whole: imports, and the description decides */
    dn_error err;
    dn_model *model = dn_model_import_npy(dir, DN_ACT_TANH, -1, &err);
    if (!model) fail_msg("%s", err.message);
    assert_int_equal(dn_mlp_layer_activation(dn_model_get_mlp(model), 0), DN_ACT_TANH);
    dn_model_free(model);
    snprintf(path, sizeof path, "%s/%s", dir, DN_NPY_DESCRIPTION);
    write_raw(path, "kind = mlp\nactivation = sigmoid\n", 32);
    expect_import_error(dir, DN_ACT_TANH, DN_ERR_USAGE, DN_NPY_DESCRIPTION, "says activation sigmoid, but tanh");
    write_raw(path, "kind = mlp\nlayers = 1\n", 22); /* layers.1 is a stale file */
    expect_import_error(dir, -1, DN_ERR_INPUT, DN_NPY_DESCRIPTION,
                        "says 1 layers, but the folder holds layers.0 to layers.1");
    write_raw(path, "kind = mlp\nshape = round\n", 25);
    expect_import_error(dir, -1, DN_ERR_INPUT, DN_NPY_DESCRIPTION, "line 2: unknown key 'shape'");
    assert_int_equal(unlink(path), 0);
    const size_t wshape[2] = {10, 784};
    double w[10 * 784] = {0};
    snprintf(path, sizeof path, "%s/W.npy", dir);
    assert_int_equal(dn_npy_write(path, 'd', w, wshape, 2, NULL), DN_OK);
    expect_import_error(dir, -1, DN_ERR_INPUT, "", "holds both W.npy");
}

/* The generated source: its comment, arrays and function; and nothing
 * written when a file cannot be. */
static void test_export_c(void **state)
{
    char c_path[512], h_path[512], bad[512];
    dn_error err;
    dn_model *model = small_mlp_model("4", DN_ACT_SIGMOID, DN_LOSS_CE);
    in_dir(state, "net.c", c_path, sizeof c_path);
    in_dir(state, "net.h", h_path, sizeof h_path);
    assert_int_equal(dn_model_export_c(model, c_path, h_path, &err), DN_OK);
    char *c = read_all(c_path, NULL), *h = read_all(h_path, NULL);
    assert_starts_with(c, "/*\n * net.c -- a digitnet classifier as plain C99, generated by digitnet " DN_VERSION);
    assert_contains(c, " * model: mlp, 784 -> 4 -> 10\n *   hidden activation: sigmoid; output: softmax (loss ce)");
    assert_contains(c, " *   hidden = 4\n");
    assert_contains(c, "#include \"net.h\"\n");
    assert_contains(c, "static const float dn_w0[3136] = {\n");
    assert_contains(c, "static const float dn_b1[10] = {\n");
    assert_contains(c, "dn_layer(dn_w0, dn_b0, 784, 4, DN_SIGMOID, pixels, a[0]);");
    assert_contains(h, "int digitnet_classify(const float pixels[784], float probabilities[10]);");
    /* the first weight, as printed, reads back as exactly the float */
    const char *first = strstr(c, "dn_w0[3136] = {\n") + strlen("dn_w0[3136] = {\n");
    assert_true(strtof(first, NULL) == dn_mlp_weights(dn_model_get_mlp(model), 0)[0]);
    free(c);
    free(h);
    /* a header that cannot be written: neither file is written */
    in_dir(state, "other.c", c_path, sizeof c_path);
    in_dir(state, "missing/other.h", bad, sizeof bad);
    assert_int_equal(dn_model_export_c(model, c_path, bad, &err), DN_ERR_IO);
    assert_contains(err.message, bad);
    assert_int_equal(access(c_path, F_OK), -1);
    assert_int_equal(count_temp_files(*state), 0);
    dn_model_free(model);
    /* a non-finite weight (possible in memory, never in a loaded file): refused, nothing written */
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden("3", &opt, NULL);
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    assert_non_null(mlp);
    size_t np;
    dn_mlp_params(mlp, &np)[np - 1] = (float)INFINITY; /* the last bias */
    model = dn_model_from_mlp(mlp, 0, NULL);
    assert_non_null(model);
    assert_int_equal(dn_model_export_c(model, c_path, NULL, &err), DN_ERR_INPUT);
    assert_contains(err.message, "value 9 of layers.1.bias is not finite: nothing written");
    assert_int_equal(access(c_path, F_OK), -1);
    assert_int_equal(count_temp_files(*state), 0);
    dn_model_free(model);
    dn_mlp_free(mlp);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, drop_dir)
    const struct CMUnitTest tests[] = {
        T(test_atomic_replaces_file),
        T(test_atomic_mode_follows_umask),
        T(test_atomic_abort_keeps_old),
        T(test_atomic_missing_folder),
        T(test_atomic_proc_refuses),
        T(test_atomic_readonly_folder),
        T(test_atomic_write_failure_keeps_old),
        T(test_st_round_trip),
        T(test_st_empty_and_zero_sized),
        T(test_st_foreign_files_accepted),
        T(test_st_crc_mismatch),
        T(test_st_malformed_headers),
        T(test_st_bad_lengths),
        T(test_st_write_rejects_bad_arguments),
        T(test_st_readable_by_numpy),
        T(test_npy_round_trip),
        T(test_npy_numpy_fixtures),
        T(test_npy_variants_accepted),
        T(test_npy_malformed),
        T(test_npy_write_rejects_bad_arguments),
        T(test_npy_readable_by_numpy),
        T(test_import_round_trip),
        T(test_import_refusals),
        T(test_export_c),
    };
#undef T
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
