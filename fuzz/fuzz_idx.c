/* fuzz_idx.c — the IDX readers, raw and gzip.
 *
 * Input: one mode byte, then the bytes of the file under test.
 *   bit 0  the file is named "in.gz" (read through zlib), else "in" (raw)
 *   bit 1  the file is the labels file of dn_dataset_load, else the images
 *   bit 2  read it with dn_idx_images_read (images alone) instead
 * The other file of the pair is a valid raw file of 3 samples, so a fuzzed
 * file declaring 3 items reaches the label and count checks too. */
#include "fuzz_common.h"

#define COMPANION_COUNT 3

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void write_companions(const char *images, const char *labels)
{
    static uint8_t img[16 + COMPANION_COUNT * DN_IMAGE_PIXELS], lab[8 + COMPANION_COUNT];
    put_be32(img, 0x803), put_be32(img + 4, COMPANION_COUNT), put_be32(img + 8, 28), put_be32(img + 12, 28);
    for (size_t i = 16; i < sizeof img; i++) img[i] = (uint8_t)(i * 7);
    put_be32(lab, 0x801), put_be32(lab + 4, COMPANION_COUNT);
    for (size_t i = 0; i < COMPANION_COUNT; i++) lab[8 + i] = (uint8_t)(i + 4);
    fuzz_write(images, img, sizeof img);
    fuzz_write(labels, lab, sizeof lab);
}

static void check_dataset(const char *images, const char *labels)
{
    dn_error err = {DN_OK, ""};
    dn_dataset *set = dn_dataset_load(images, labels, &err);
    if (!set) {
        const char *culprit = strncmp(err.message, labels, strlen(labels)) == 0 ? labels : images;
        fuzz_check_error(&err, culprit);
        return;
    }
    /* Success promises: a count within the limit, labels 0–9, owned buffers. */
    FUZZ_CHECK(set->count >= 1 && set->count <= DN_DATASET_MAX_COUNT && set->owns_buffers);
    for (size_t i = 0; i < set->count; i++) FUZZ_CHECK(set->labels[i] < DN_CLASSES);
    (void)dn_dataset_crc32(set);
    dn_dataset_free(set);
}

static void check_images_alone(const char *path)
{
    dn_error err = {DN_OK, ""};
    size_t count = 0;
    uint8_t *images = dn_idx_images_read(path, &count, &err);
    if (!images) {
        fuzz_check_error(&err, path);
        return;
    }
    FUZZ_CHECK(count <= DN_DATASET_MAX_COUNT);
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < count * DN_IMAGE_PIXELS; i += 4096) sink ^= images[i]; /* ASan sees the extent */
    (void)sink;
    free(images);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char images[320], labels[320], raw[320], gz[320];
    if (!images[0]) {
        fuzz_path("companion-images", images, sizeof images);
        fuzz_path("companion-labels", labels, sizeof labels);
        fuzz_path("in", raw, sizeof raw);
        fuzz_path("in.gz", gz, sizeof gz);
        write_companions(images, labels);
    }
    if (size < 1) return 0;
    unsigned mode = data[0];
    const char *path = mode & 1 ? gz : raw;
    fuzz_write(path, data + 1, size - 1);
    if (mode & 4) check_images_alone(path);
    else if (mode & 2) check_dataset(images, path);
    else check_dataset(path, labels);
    return 0;
}
