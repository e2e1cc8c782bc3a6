/* file_read.c — reading a whole (small) file into memory, with its size checked first. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static dn_status check_size(const char *path, const struct stat *sb, size_t min_size, uint64_t max_size,
                            const char *too_short_for, dn_error *err)
{
    if (!S_ISREG(sb->st_mode)) return dn_fail(err, DN_ERR_INPUT, "%s: not a regular file", path);
    if ((uint64_t)sb->st_size < min_size)
        return dn_fail(err, DN_ERR_INPUT, "%s: file is %lld bytes, too short for %s", path, (long long)sb->st_size,
                       too_short_for);
    if ((uint64_t)sb->st_size > max_size || (uint64_t)sb->st_size > SIZE_MAX)
        return dn_fail(err, DN_ERR_INPUT, "%s: file is %lld bytes, more than the %llu-byte limit", path,
                       (long long)sb->st_size, (unsigned long long)max_size);
    return DN_OK;
}

dn_status dn_read_file(const char *path, size_t min_size, uint64_t max_size, const char *too_short_for,
                       unsigned char **out, size_t *size, dn_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return dn_fail(err, DN_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    dn_status st = fstat(fileno(fp), &sb) != 0 ? dn_fail(err, DN_ERR_IO, "%s: cannot stat (%s)", path, strerror(errno))
                                               : check_size(path, &sb, min_size, max_size, too_short_for, err);
    unsigned char *buf = NULL;
    if (st == DN_OK) {
        *size = (size_t)sb.st_size;
        buf = malloc(*size ? *size : 1);
        if (!buf) st = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory for %zu bytes", path, *size);
    }
    if (st == DN_OK && fread(buf, 1, *size, fp) != *size)
        st = dn_fail(err, DN_ERR_IO, "%s: cannot read (%s)", path,
                     ferror(fp) ? strerror(errno) : "file shrank while reading");
    fclose(fp);
    if (st != DN_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return DN_OK;
}
