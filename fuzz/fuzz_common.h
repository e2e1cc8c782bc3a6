/*
 * fuzz_common.h — what the libFuzzer targets share.
 *
 * The readers under test take a path, as the program does, so each input is
 * written to a file in a private folder (on /dev/shm when there is one: no
 * disk traffic) and read from there: the fuzzers test the very code path a
 * user's file takes, stat and all, not a from-memory twin.
 *
 * An input that makes a reader misbehave without crashing (a success that
 * breaks the format's promises, a failure without a message naming the
 * file) is turned into a crash with FUZZ_CHECK so libFuzzer saves it.
 */
#ifndef DN_FUZZ_COMMON_H
#define DN_FUZZ_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digitnet_plot.h" /* and digitnet.h */

#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                           \
            __builtin_trap();                                                                                          \
        }                                                                                                              \
    } while (0)

static char fuzz_dir[256];

static void fuzz_remove_dir(void)
{
    /* Only our own fixed names live here; remove them, then the folder. */
    static const char *const names[] = {"in",          "in.gz",    "companion-images", "companion-labels",
                                        "model.st",    "copy.st",  "array.npy",        "copy.npy",
                                        "digit.png"};
    char path[320];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir, names[i]);
        unlink(path);
    }
    rmdir(fuzz_dir);
}

/* dir/name in a static buffer (one per call site is enough: callers copy). */
static const char *fuzz_path(const char *name, char *out, size_t cap)
{
    if (!fuzz_dir[0]) {
        struct stat sb;
        const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
        /* Named by pid: a process killed for a crash cannot remove its
         * folder, and fuzz/run.sh removes those whose process is gone. */
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/dn_fuzz_%ld", base, (long)getpid());
        if (mkdir(fuzz_dir, 0700) != 0) {
            perror("fuzz: mkdir");
            abort();
        }
        atexit(fuzz_remove_dir);
    }
    snprintf(out, cap, "%s/%s", fuzz_dir, name);
    return out;
}

static void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
}

/* A failure must carry one of the documented codes and a message that
 * starts with the file's path. */
static void fuzz_check_error(const dn_error *err, const char *path)
{
    FUZZ_CHECK(err->code == DN_ERR_INPUT || err->code == DN_ERR_IO || err->code == DN_ERR_NOMEM);
    FUZZ_CHECK(strncmp(err->message, path, strlen(path)) == 0);
    FUZZ_CHECK(strlen(err->message) > strlen(path) + 2);
    for (const unsigned char *p = (const unsigned char *)err->message; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f); /* printable: no escapes from the file */
}

#endif /* DN_FUZZ_COMMON_H */
