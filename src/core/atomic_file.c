/* atomic_file.c — crash-safe output files.
 *
 * A file is written under a temporary name in the folder of its final path,
 * made durable (fsync), then renamed over the final path, and the folder is
 * fsynced so the rename itself survives a power cut. rename() within one
 * file system is atomic, so a reader sees either the old file or the whole
 * new one, never a torn mix; until the rename the old file is untouched. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static const char temp_suffix[] = ".tmp.XXXXXX";

/* The folder part of path, as open() needs it: "." when path has none. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t len = (slash == path) ? 1 : (size_t)(slash - path); /* keep "/" for "/x" */
    char *dir = malloc(len + 1);
    if (dir) {
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    return dir;
}

/* The process umask, read without calling umask(), which would briefly
 * change it under other threads' feet. Linux only; -1 when unknown. */
static int current_umask(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    if (!fp) return -1;
    char line[256];
    int mask = -1;
    while (fgets(line, sizeof line, fp)) {
        unsigned value;
        if (sscanf(line, "Umask: %o", &value) == 1) {
            mask = (int)(value & 0777);
            break;
        }
    }
    fclose(fp);
    return mask;
}

/* mkstemp creates 0600; give the file the mode a plain fopen() would, so a
 * saved model is as readable as any other output. When the umask cannot be
 * read the file stays 0600: never wider than the user may have asked for. */
static void set_default_mode(int fd)
{
    int mask = current_umask();
    if (mask >= 0) (void)fchmod(fd, (mode_t)(0666 & ~mask));
}

static void release(dn_atomic_file *f)
{
    free(f->final_path);
    free(f->temp_path);
    f->fp = NULL;
    f->final_path = NULL;
    f->temp_path = NULL;
}

dn_status dn_atomic_open(dn_atomic_file *f, const char *path, dn_error *err)
{
    f->fp = NULL;
    f->final_path = strdup(path);
    f->temp_path = malloc(strlen(path) + sizeof temp_suffix);
    if (!f->final_path || !f->temp_path) {
        release(f);
        return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory preparing the output file", path);
    }
    strcpy(f->temp_path, path);
    strcat(f->temp_path, temp_suffix);

    int fd = mkstemp(f->temp_path);
    if (fd < 0) {
        int e = errno;
        char *dir = folder_of(path);
        dn_fail(err, DN_ERR_IO,
                "%s: cannot create a temporary file in folder '%s' (%s); the previous file is unchanged", path,
                dir ? dir : "?", strerror(e));
        free(dir);
        release(f);
        return DN_ERR_IO;
    }
    set_default_mode(fd);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        unlink(f->temp_path);
        release(f);
        return dn_fail(err, DN_ERR_IO, "%s: cannot open the temporary file (%s); the previous file is unchanged", path,
                       strerror(e));
    }
    return DN_OK;
}

dn_status dn_atomic_write(dn_atomic_file *f, const void *data, size_t size, dn_error *err)
{
    if (size == 0) return DN_OK;
    if (!f->fp) {
        return dn_fail(err, DN_ERR_IO, "%s: write to a file that is not open", f->final_path ? f->final_path : "?");
    }
    if (fwrite(data, 1, size, f->fp) != size) {
        return dn_fail(err, DN_ERR_IO, "%s: cannot write (%s); the previous file is unchanged", f->final_path,
                       strerror(errno));
    }
    return DN_OK;
}

/* Makes the rename durable. A folder we may write into but not read (mode
 * -wx) cannot be opened, and some file systems refuse fsync on folders
 * (EINVAL); the new file is in place either way, so only real I/O errors
 * are reported. */
static dn_status sync_folder(const char *path, dn_error *err)
{
    char *dir = folder_of(path);
    if (!dir) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory syncing its folder", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    dn_status st = DN_OK;
    if (fd >= 0) {
        int e = fsync(fd) == 0 ? 0 : errno;
        if (e != 0 && e != EINVAL && e != ENOTSUP) {
            st = dn_fail(err, DN_ERR_IO,
                         "%s: written, but syncing folder '%s' failed (%s); the new file may not survive a crash", path,
                         dir, strerror(e));
        }
        close(fd);
    }
    free(dir);
    return st;
}

/* Frees the handle and removes the temporary file after a failed step. */
static dn_status fail_commit(dn_atomic_file *f, const char *what, int e, dn_error *err)
{
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    unlink(f->temp_path);
    dn_fail(err, DN_ERR_IO, "%s: cannot %s (%s); the previous file is unchanged", f->final_path, what, strerror(e));
    release(f);
    return DN_ERR_IO;
}

dn_status dn_atomic_commit(dn_atomic_file *f, dn_error *err)
{
    if (!f->fp) {
        dn_atomic_abort(f);
        return dn_fail(err, DN_ERR_IO, "commit of an output file that is not open");
    }
    /* ferror catches a failed dn_atomic_write the caller did not check. */
    errno = 0;
    if (fflush(f->fp) != 0 || ferror(f->fp)) return fail_commit(f, "write", errno ? errno : EIO, err);
    if (fsync(fileno(f->fp)) != 0) return fail_commit(f, "write (fsync)", errno, err);
    FILE *fp = f->fp;
    f->fp = NULL;
    if (fclose(fp) != 0) return fail_commit(f, "write (close)", errno, err);
    if (rename(f->temp_path, f->final_path) != 0) return fail_commit(f, "replace it (rename)", errno, err);
    dn_status st = sync_folder(f->final_path, err);
    release(f);
    return st;
}

void dn_atomic_abort(dn_atomic_file *f)
{
    if (f->fp) fclose(f->fp);
    if (f->temp_path) unlink(f->temp_path);
    release(f);
}

dn_status dn_write_file_atomic(const char *path, const void *data, size_t size, dn_error *err)
{
    dn_atomic_file f;
    dn_status st = dn_atomic_open(&f, path, err);
    if (st != DN_OK) return st;
    st = dn_atomic_write(&f, data, size, err);
    if (st != DN_OK) {
        dn_atomic_abort(&f);
        return st;
    }
    return dn_atomic_commit(&f, err);
}
