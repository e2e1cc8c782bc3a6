/* synthetic.h — a small labelled set of random sparse "digits" for the tests that need
 * no MNIST, the same for a given seed on every run and every rank; and the fixture of the
 * checkpoint tests: such a set plus a scratch folder with a checkpoint path in it.
 * Include after <cmocka.h> and digitnet.h. */
#ifndef DN_TESTS_SYNTHETIC_H
#define DN_TESTS_SYNTHETIC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline uint64_t dn_test_lcg(uint64_t *s) { return *s = *s * 6364136223846793005u + 1442695040888963407u; }

/* images: count × DN_IMAGE_PIXELS bytes, zeroed by the caller. About one pixel in
 * one_in is lit with a random grey; labels spread over 0–9. */
static inline void dn_test_fill_synthetic(uint8_t *images, uint8_t *labels, size_t count, uint64_t seed,
                                          unsigned one_in)
{
    uint64_t s = seed;
    for (size_t i = 0; i < count; i++) {
        labels[i] = (uint8_t)((dn_test_lcg(&s) >> 33) % 10);
        for (size_t k = 0; k < DN_IMAGE_PIXELS; k++)
            if ((dn_test_lcg(&s) >> 40) % one_in == 0) images[i * DN_IMAGE_PIXELS + k] = (uint8_t)(dn_test_lcg(&s) >> 56);
    }
}

/* count images with `ink` random non-zero pixels each (the rest 0, as in MNIST),
 * labels cycling through the classes. */
static inline void dn_test_random_images(uint8_t *images, uint8_t *labels, size_t count, int ink, uint64_t seed)
{
    dn_rng rng;
    dn_rng_seed(&rng, seed);
    memset(images, 0, count * DN_IMAGE_PIXELS);
    for (size_t i = 0; i < count; i++) {
        for (int k = 0; k < ink; k++)
            images[i * DN_IMAGE_PIXELS + dn_rng_below(&rng, DN_IMAGE_PIXELS)] = (uint8_t)(1 + dn_rng_below(&rng, 255));
        labels[i] = (uint8_t)((i * 7 + 3) % DN_CLASSES);
    }
}

typedef struct dn_test_fixture {
    uint8_t *images, *labels;
    dn_dataset set;
    char dir[64];   /* a scratch folder, removed by dn_test_fixture_free */
    char path[128]; /* a checkpoint file in dir */
} dn_test_fixture;

/* Two classes told apart by where the ink is: a bar two rows high in the top half
 * (label 2) or in the bottom half (label 7), at random rows and columns, plus
 * `speckles` random grey pixels (0 for clean bars). Goes back through dn_dataset_free. */
static inline dn_dataset *dn_test_two_class_set(size_t count, uint64_t seed, int speckles)
{
    dn_dataset *set = calloc(1, sizeof *set);
    set->count = count;
    set->images = calloc(count, DN_IMAGE_PIXELS);
    set->labels = calloc(count, 1);
    set->owns_buffers = 1;
    dn_rng rng;
    dn_rng_seed(&rng, seed);
    for (size_t i = 0; i < count; i++) {
        uint8_t *im = set->images + i * DN_IMAGE_PIXELS;
        int top = i % 2 == 0;
        size_t row = (top ? 3 : 16) + dn_rng_below(&rng, 9), col = 2 + dn_rng_below(&rng, 8);
        for (size_t c = col; c < col + 16; c++) im[row * 28 + c] = im[(row + 1) * 28 + c] = 255;
        for (int k = 0; k < speckles; k++) im[dn_rng_below(&rng, DN_IMAGE_PIXELS)] = (uint8_t)dn_rng_below(&rng, 120);
        set->labels[i] = top ? 2 : 7;
    }
    return set;
}

/* A cmocka setup's body: *state gets the fixture; -1 when memory or the folder fails. */
static inline int dn_test_fixture_setup(void **state, size_t count, uint64_t seed, unsigned one_in,
                                        const char *prefix)
{
    dn_test_fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->images = calloc(count, DN_IMAGE_PIXELS);
    f->labels = malloc(count);
    if (!f->images || !f->labels) return -1;
    dn_test_fill_synthetic(f->images, f->labels, count, seed, one_in);
    f->set = (dn_dataset){count, f->images, f->labels, 0, NULL};
    snprintf(f->dir, sizeof f->dir, "/tmp/%s_XXXXXX", prefix);
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/ck.safetensors", f->dir);
    *state = f;
    return 0;
}

/* Removes the checkpoint and the folder (which must hold nothing else) and frees. */
static inline int dn_test_fixture_free(dn_test_fixture *f)
{
    unlink(f->path);
    rmdir(f->dir);
    free(f->images);
    free(f->labels);
    free(f);
    return 0;
}

#endif
