/* idx.c — MNIST-format IDX files, raw or gzipped (the "data" section of
 * digitnet.h).
 *
 * The reader trusts nothing a header says: every declared size is checked
 * against limits with overflow-safe arithmetic before anything is
 * allocated, and a buffer only grows as bytes actually arrive, so a tiny or
 * hostile file cannot make us reserve memory it does not back with data. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <zlib.h>

#include "internal.h"

#define IDX_TYPE_UBYTE 0x08
#define IN_CHUNK ((size_t)16 << 10)    /* compressed bytes read at a time */
#define FIRST_CAP ((size_t)1 << 20)    /* first buffer size when the length is unproven */
#define TRAILING_LIMIT ((size_t)64 << 20) /* how far past the end we count extra bytes */

/* What one IDX file must hold: its dimension count and bytes per item. */
typedef struct idx_kind {
    unsigned char ndims;
    size_t item_size;
    const char *noun;
} idx_kind;

static const idx_kind IDX_IMAGES = {3, DN_IMAGE_PIXELS, "images"};
static const idx_kind IDX_LABELS = {1, 1, "labels"};

/* An IDX file's items: in memory (map NULL, data from malloc) or inside a
 * private mapping of the whole file (data = map + the header's length). */
typedef struct idx_body {
    unsigned char *data;
    void *map;
    size_t map_len;
} idx_body;

/* A byte source: a raw file, or a gzip file inflated on the fly. */
typedef struct source {
    const char *path;
    FILE *fp;
    int gz;         /* inflate through zlib */
    int zs_ready;   /* zs needs inflateEnd */
    int member_end; /* inflate finished a gzip member; another may follow */
    int eof;        /* no more decompressed bytes */
    z_stream zs;
    size_t peek_pos, peek_len; /* raw only: bytes of in[] read to sniff the magic */
    unsigned char in[IN_CHUNK];
} source;

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static dn_status io_error(const source *src, dn_error *err)
{
    return dn_fail(err, DN_ERR_IO, "%s: read failed: %s", src->path, strerror(errno));
}

static dn_status gz_start(source *src, dn_error *err)
{
    /* 15 + 16: a 32 KiB window and gzip framing only, so zlib or raw
     * deflate data is refused rather than guessed at. */
    int rc = inflateInit2(&src->zs, 15 + 16);
    if (rc == Z_MEM_ERROR) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory starting zlib", src->path);
    if (rc != Z_OK) return dn_fail(err, DN_ERR_IO, "%s: zlib failed to start (%d)", src->path, rc);
    src->zs_ready = 1;
    src->zs.next_in = src->in;
    src->zs.avail_in = (uInt)src->peek_len;
    src->peek_len = 0;
    return DN_OK;
}

/* Opens path and checks that its first bytes agree with its name: gzip
 * data exactly when the name ends in ".gz". */
static dn_status source_open(source *src, const char *path, dn_error *err)
{
    memset(src, 0, sizeof *src);
    src->path = path;
    src->gz = has_suffix(path, ".gz");
    src->fp = fopen(path, "rb");
    if (!src->fp) return dn_fail(err, DN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    src->peek_len = fread(src->in, 1, 2, src->fp);
    if (ferror(src->fp)) return io_error(src, err);
    if (src->peek_len == 0) return dn_fail(err, DN_ERR_INPUT, "%s: file is empty", path);
    int gzip_magic = src->peek_len == 2 && src->in[0] == 0x1f && src->in[1] == 0x8b;
    if (!src->gz && gzip_magic)
        return dn_fail(err, DN_ERR_INPUT, "%s: gzip data read as raw IDX (rename the file to end in .gz)", path);
    if (src->gz && !gzip_magic)
        return dn_fail(err, DN_ERR_INPUT,
                       "%s: not gzip data although the name ends in .gz (if it is raw IDX, drop the .gz)", path);
    return src->gz ? gz_start(src, err) : DN_OK;
}

static void source_close(source *src)
{
    if (src->zs_ready) inflateEnd(&src->zs);
    if (src->fp) fclose(src->fp);
    src->zs_ready = 0;
    src->fp = NULL;
}

static dn_status raw_read(source *src, unsigned char *dst, size_t want, size_t *got, dn_error *err)
{
    size_t n = src->peek_len - src->peek_pos;
    if (n > want) n = want;
    if (n > 0) memcpy(dst, src->in + src->peek_pos, n);
    src->peek_pos += n;
    if (n < want) n += fread(dst + n, 1, want - n, src->fp);
    *got = n;
    return ferror(src->fp) ? io_error(src, err) : DN_OK;
}

/* One refill-and-inflate step. Concatenated gzip members form one stream
 * (as gunzip reads them); running out of input inside a member is
 * truncation. Sets src->eof after the last member. */
static dn_status gz_step(source *src, dn_error *err)
{
    z_stream *zs = &src->zs;
    if (zs->avail_in == 0) {
        size_t n = fread(src->in, 1, sizeof src->in, src->fp);
        if (ferror(src->fp)) return io_error(src, err);
        if (n == 0 && src->member_end) {
            src->eof = 1;
            return DN_OK;
        }
        if (n == 0) return dn_fail(err, DN_ERR_INPUT, "%s: truncated gzip data (the compressed stream ends early)", src->path);
        zs->next_in = src->in;
        zs->avail_in = (uInt)n;
    }
    if (src->member_end) {
        inflateReset(zs);
        src->member_end = 0;
    }
    int rc = inflate(zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) src->member_end = 1;
    if (rc == Z_MEM_ERROR) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory inflating gzip data", src->path);
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR)
        return dn_fail(err, DN_ERR_INPUT, "%s: corrupt gzip data (%s)", src->path, zs->msg ? zs->msg : "zlib error");
    return DN_OK;
}

static dn_status gz_read(source *src, unsigned char *dst, size_t want, size_t *got, dn_error *err)
{
    z_stream *zs = &src->zs;
    *got = 0;
    while (*got < want && !src->eof) {
        size_t room = want - *got;
        zs->next_out = dst + *got;
        zs->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        dn_status st = gz_step(src, err);
        *got = (size_t)(zs->next_out - dst);
        if (st != DN_OK) return st;
    }
    return DN_OK;
}

/* Reads up to want bytes; fewer only at the end of the data. */
static dn_status source_read(source *src, unsigned char *dst, size_t want, size_t *got, dn_error *err)
{
    return src->gz ? gz_read(src, dst, want, got, err) : raw_read(src, dst, want, got, err);
}

static dn_status short_header(const source *src, size_t got, size_t need, dn_error *err)
{
    return dn_fail(err, DN_ERR_INPUT, "%s: file is shorter than the IDX header (%zu of %zu bytes%s)", src->path, got,
                   need, src->gz ? " after decompression" : "");
}

static dn_status check_magic(const source *src, const unsigned char *m, const idx_kind *kind, dn_error *err)
{
    if (m[0] != 0 || m[1] != 0)
        return dn_fail(err, DN_ERR_INPUT, "%s: not an IDX file (magic bytes %02x %02x %02x %02x, expected 00 00 08 %02x)",
                       src->path, m[0], m[1], m[2], m[3], kind->ndims);
    if (m[2] != IDX_TYPE_UBYTE)
        return dn_fail(err, DN_ERR_INPUT, "%s: IDX type code 0x%02x, expected 0x08 (unsigned byte)", src->path, m[2]);
    if (m[3] != kind->ndims)
        return dn_fail(err, DN_ERR_INPUT, "%s: IDX file has %u dimension(s), expected %u for %s (magic 0x%08" PRIx32
                       ", expected 0x%08x)", src->path, m[3], kind->ndims, kind->noun, be32(m),
                       0x800u | kind->ndims);
    return DN_OK;
}

static dn_status check_dims(const source *src, const unsigned char *d, const idx_kind *kind, size_t *count,
                            dn_error *err)
{
    uint32_t n = be32(d);
    if (kind->ndims == 3 && (be32(d + 4) != DN_IMAGE_SIDE || be32(d + 8) != DN_IMAGE_SIDE))
        return dn_fail(err, DN_ERR_INPUT, "%s: images are %" PRIu32 "x%" PRIu32 " pixels, expected %dx%d", src->path,
                       be32(d + 4), be32(d + 8), DN_IMAGE_SIDE, DN_IMAGE_SIDE);
    if (n == 0) return dn_fail(err, DN_ERR_INPUT, "%s: declares 0 %s", src->path, kind->noun);
    if (n > DN_DATASET_MAX_COUNT)
        return dn_fail(err, DN_ERR_INPUT, "%s: declares %" PRIu32 " %s, more than the limit of %u", src->path, n,
                       kind->noun, DN_DATASET_MAX_COUNT);
    *count = n;
    return DN_OK;
}

/* Reads and validates the header; *header_len gets its size in bytes. */
static dn_status read_header(source *src, const idx_kind *kind, size_t *count, size_t *header_len, dn_error *err)
{
    unsigned char h[16];
    size_t need = 4, got;
    dn_status st = source_read(src, h, need, &got, err);
    if (st == DN_OK && got < need) st = short_header(src, got, need, err);
    if (st == DN_OK) st = check_magic(src, h, kind, err);
    if (st != DN_OK) return st;
    need = 4 + 4 * (size_t)kind->ndims;
    st = source_read(src, h + 4, need - 4, &got, err);
    if (st == DN_OK && got < need - 4) st = short_header(src, 4 + got, need, err);
    if (st == DN_OK) st = check_dims(src, h + 4, kind, count, err);
    *header_len = need;
    return st;
}

/* expected vs actual length of the whole file (or of its decompressed data). */
static dn_status length_error(const source *src, size_t expected, uintmax_t actual, int at_least, dn_error *err)
{
    const char *why = actual < expected ? "truncated" : "trailing data";
    const char *more = at_least ? "more than " : "";
    if (src->gz)
        return dn_fail(err, DN_ERR_INPUT, "%s: expected %zu bytes after decompression, got %s%ju (%s)", src->path,
                       expected, more, actual, why);
    return dn_fail(err, DN_ERR_INPUT, "%s: expected %zu bytes, file has %s%ju (%s)", src->path, expected, more, actual,
                   why);
}

/* Reads exactly size bytes into a buffer that starts at first_cap and
 * doubles as data arrives; *len < size means the data ended early. */
static dn_status read_growing(source *src, size_t size, size_t first_cap, unsigned char **out, size_t *len,
                              dn_error *err)
{
    unsigned char *buf = NULL;
    size_t cap = 0, got = 0;
    dn_status st = DN_OK;
    *len = 0;
    while (st == DN_OK && *len < size) {
        if (*len == cap) {
            size_t next = cap == 0 ? first_cap : (cap > size / 2 ? size : cap * 2);
            unsigned char *grown = realloc(buf, next);
            if (!grown) {
                st = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory (%zu bytes)", src->path, next);
                break;
            }
            buf = grown;
            cap = next;
        }
        st = source_read(src, buf + *len, cap - *len, &got, err);
        *len += got;
        if (st == DN_OK && *len < cap) break; /* the data ended */
    }
    if (st != DN_OK) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    return st;
}

/* Counts bytes past the declared end, stopping beyond TRAILING_LIMIT so a
 * gzip bomb costs bounded time. */
static dn_status count_trailing(source *src, size_t *extra, dn_error *err)
{
    unsigned char scratch[4096];
    size_t got = sizeof scratch;
    dn_status st = DN_OK;
    *extra = 0;
    while (st == DN_OK && got == sizeof scratch && *extra <= TRAILING_LIMIT) {
        st = source_read(src, scratch, sizeof scratch, &got, err);
        *extra += got;
    }
    return st;
}

/* For a raw regular file the length is known up front: check it before
 * allocating. *proven tells whether the payload may be allocated at once. */
static dn_status precheck_length(source *src, size_t total, int *proven, dn_error *err)
{
    struct stat sb;
    *proven = 0;
    if (src->gz || fstat(fileno(src->fp), &sb) != 0 || !S_ISREG(sb.st_mode)) return DN_OK;
    if ((uintmax_t)sb.st_size != total) return length_error(src, total, (uintmax_t)sb.st_size, 0, err);
    *proven = 1;
    return DN_OK;
}

static dn_status read_body(source *src, size_t header_len, size_t payload, unsigned char **data, dn_error *err)
{
    size_t total, len, extra;
    int proven;
    if (dn_add_overflows(header_len, payload, &total))
        return dn_fail(err, DN_ERR_INPUT, "%s: declared size overflows", src->path);
    dn_status st = precheck_length(src, total, &proven, err);
    if (st != DN_OK) return st;
    st = read_growing(src, payload, proven || payload < FIRST_CAP ? payload : FIRST_CAP, data, &len, err);
    if (st == DN_OK && len < payload) st = length_error(src, total, header_len + len, 0, err);
    if (st == DN_OK) st = count_trailing(src, &extra, err);
    if (st == DN_OK && extra > 0) st = length_error(src, total, (uintmax_t)total + extra, extra > TRAILING_LIMIT, err);
    if (st != DN_OK) {
        free(*data);
        *data = NULL;
    }
    return st;
}

/* A raw regular file whose length is exactly header + payload is mapped
 * privately rather than read: a run that looks at a few thousand images
 * touches only their pages, where reading copied all 47 MB of MNIST's
 * training images and faulted in a buffer as large (most of a short run's
 * time). Private and writable, so a caller's writes stay its own. Returns
 * 0 (and maps nothing) where a mapping does not apply or fails: the caller
 * then reads the file as before. */
static int map_body(source *src, size_t header_len, size_t payload, idx_body *body)
{
    struct stat sb;
    size_t total;
    if (src->gz || payload == 0 || dn_add_overflows(header_len, payload, &total)) return 0;
    if (fstat(fileno(src->fp), &sb) != 0 || !S_ISREG(sb.st_mode) || (uintmax_t)sb.st_size != total) return 0;
    void *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE, fileno(src->fp), 0);
    if (map == MAP_FAILED) return 0;
    body->map = map;
    body->map_len = total;
    body->data = (unsigned char *)map + header_len;
    return 1;
}

/* Reads one IDX file of the given kind: *count items into body, mapped
 * when may_map and the file allows it (map_body), else read into memory. */
static dn_status load_idx(const char *path, const idx_kind *kind, int may_map, size_t *count, idx_body *body,
                          dn_error *err)
{
    source src;
    size_t header_len = 0, payload = 0;
    memset(body, 0, sizeof *body);
    dn_status st = source_open(&src, path, err);
    if (st == DN_OK) st = read_header(&src, kind, count, &header_len, err);
    if (st == DN_OK && dn_mul_overflows(*count, kind->item_size, &payload))
        st = dn_fail(err, DN_ERR_INPUT, "%s: declared size overflows", path);
    if (st == DN_OK && !(may_map && map_body(&src, header_len, payload, body)))
        st = read_body(&src, header_len, payload, &body->data, err);
    source_close(&src);
    return st;
}

static void idx_body_release(idx_body *body)
{
    if (body->map)
        munmap(body->map, body->map_len);
    else
        free(body->data);
    memset(body, 0, sizeof *body);
}

uint8_t *dn_idx_images_read(const char *path, size_t *count, dn_error *err)
{
    idx_body body;
    size_t n = 0;
    if (!path) {
        dn_fail(err, DN_ERR_USAGE, "dn_idx_images_read: a path is required");
        return NULL;
    }
    if (load_idx(path, &IDX_IMAGES, 0, &n, &body, err) != DN_OK) return NULL;
    *count = n;
    return body.data;
}

static dn_status check_labels(const dn_dataset *set, size_t nlabels, const char *images_path, const char *labels_path,
                              dn_error *err)
{
    if (nlabels != set->count)
        return dn_fail(err, DN_ERR_INPUT, "%s: %zu labels, but %s has %zu images", labels_path, nlabels, images_path,
                       set->count);
    for (size_t i = 0; i < nlabels; i++)
        if (set->labels[i] >= DN_CLASSES)
            return dn_fail(err, DN_ERR_INPUT, "%s: label %u at index %zu is out of range 0-9", labels_path,
                           set->labels[i], i);
    return DN_OK;
}

dn_dataset *dn_dataset_load(const char *images_path, const char *labels_path, dn_error *err)
{
    if (!images_path || !labels_path) {
        dn_fail(err, DN_ERR_USAGE, "dn_dataset_load: an images path and a labels path are required");
        return NULL;
    }
    dn_dataset *set = calloc(1, sizeof *set);
    if (!set) {
        dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", images_path);
        return NULL;
    }
    set->owns_buffers = 1;
    size_t nlabels = 0;
    idx_body images, labels = {NULL, NULL, 0};
    dn_status st = load_idx(images_path, &IDX_IMAGES, 1, &set->count, &images, err);
    if (st == DN_OK) st = load_idx(labels_path, &IDX_LABELS, 0, &nlabels, &labels, err);
    set->images = images.data;
    set->labels = labels.data;
    if (st == DN_OK) st = check_labels(set, nlabels, images_path, labels_path, err);
    if (st == DN_OK && !(set->cache = dn_dataset_cache_new_(set->count)))
        st = dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", images_path);
    if (st != DN_OK) {
        idx_body_release(&images);
        idx_body_release(&labels);
        free(set);
        return NULL;
    }
    set->cache->images_map = images.map;
    set->cache->images_map_len = images.map_len;
    return set;
}

/* dir/name in a new string; NULL when out of memory. */
static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir), size;
    const char *sep = (n == 0 || dir[n - 1] == '/') ? "" : "/";
    if (dn_add_overflows(n, strlen(name) + 2, &size)) return NULL;
    char *path = malloc(size);
    if (path) snprintf(path, size, "%s%s%s", dir, sep, name);
    return path;
}

/* A path "exists" unless stat says it is absent: any other failure (say,
 * permission) is left for open to report precisely. */
static int path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

#define SPLIT_FORMS 4

/* Finds the first existing spelling of <split>-<what>-<idx>-ubyte in dir. */
static dn_status find_split_file(const char *dir, const char *split, const char *what, const char *idx, char **found,
                                 dn_error *err)
{
    char names[SPLIT_FORMS][64];
    for (int i = 0; i < SPLIT_FORMS; i++)
        snprintf(names[i], sizeof names[i], i < 2 ? "%s-%s-%s-ubyte%s" : "%s-%s.%s-ubyte%s", split, what, idx,
                 i % 2 ? ".gz" : "");
    for (int i = 0; i < SPLIT_FORMS; i++) {
        *found = join_path(dir, names[i]);
        if (!*found) return dn_fail(err, DN_ERR_NOMEM, "%s: out of memory", dir);
        if (path_exists(*found)) return DN_OK;
        free(*found);
    }
    *found = NULL;
    return dn_fail(err, DN_ERR_IO, "%s: no %s %s file (looked for %s, %s, %s, %s); run scripts/fetch_mnist.sh to fetch MNIST",
                   dir, split, what, names[0], names[1], names[2], names[3]);
}

static const char *const mnist_splits[] = {"t10k", "train", NULL};

const char *const *dn_mnist_split_choices(void) { return mnist_splits; }

dn_dataset *dn_mnist_load(const char *dir, const char *split, dn_error *err)
{
    if (!dir || !split || (strcmp(split, mnist_splits[1]) != 0 && strcmp(split, mnist_splits[0]) != 0)) {
        dn_fail(err, DN_ERR_USAGE, "MNIST split \"%s\" in %s: expected \"train\" or \"t10k\"", split ? split : "(null)",
                dir ? dir : "(no folder)");
        return NULL;
    }
    char *images = NULL, *labels = NULL;
    dn_dataset *set = NULL;
    if (find_split_file(dir, split, "images", "idx3", &images, err) == DN_OK &&
        find_split_file(dir, split, "labels", "idx1", &labels, err) == DN_OK)
        set = dn_dataset_load(images, labels, err);
    free(images);
    free(labels);
    return set;
}

/* Only sets from dn_dataset_load own anything; a view (a plain value, often
 * on the stack) passed here by mistake is left alone rather than freed. */
struct dn_dataset_cache *dn_dataset_cache_new_(size_t count)
{
    struct dn_dataset_cache *cache = malloc(sizeof *cache);
    if (!cache) return NULL;
    cache->covers = count;
    atomic_init(&cache->pta_index, NULL);
    cache->images_map = NULL;
    cache->images_map_len = 0;
    return cache;
}

static void dataset_cache_free(struct dn_dataset_cache *cache)
{
    if (!cache) return;
    dn_dataset_derived *index = atomic_load(&cache->pta_index);
    if (index) index->release(index);
    free(cache);
}

void dn_dataset_free(dn_dataset *set)
{
    if (!set || !set->owns_buffers) return;
    if (set->cache && set->cache->images_map)
        munmap(set->cache->images_map, set->cache->images_map_len);
    else
        free(set->images);
    dataset_cache_free(set->cache);
    free(set->labels);
    free(set);
}

dn_dataset dn_dataset_view(const dn_dataset *set, size_t first, size_t count)
{
    dn_dataset view = {0, NULL, NULL, 0, NULL};
    if (!set || !set->images || !set->labels) return view;
    if (first > set->count) first = set->count;
    view.count = count < set->count - first ? count : set->count - first;
    view.images = set->images + first * DN_IMAGE_PIXELS;
    view.labels = set->labels + first;
    /* What is derived from the images starts at the first one. */
    view.cache = first == 0 ? set->cache : NULL;
    return view;
}

/* zlib's crc32 takes a uInt length: feed large buffers in pieces. */
static uLong crc_update(uLong crc, const uint8_t *data, size_t size)
{
    while (size > 0) {
        uInt piece = size > (1u << 30) ? (1u << 30) : (uInt)size;
        crc = crc32(crc, data, piece);
        data += piece;
        size -= piece;
    }
    return crc;
}

uint32_t dn_dataset_crc32(const dn_dataset *set)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    if (!set || !set->images || !set->labels) return (uint32_t)crc;
    crc = crc_update(crc, set->images, set->count * DN_IMAGE_PIXELS);
    crc = crc_update(crc, set->labels, set->count);
    return (uint32_t)crc;
}
