/* test_augment.c — the elastic and affine distortions and their pipeline
 * against their definitions (digitnet.h, Augmentation): identity
 * parameters give the image back, an integer shift the shifted image, the
 * output stays in range, the draws depend on (seed, epoch, index) alone,
 * the pipeline hands out every batch once, in order, the same for any
 * worker count, and a network trained on distorted images learns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digitnet.h"

/* ---------------------------------------------------------------- helpers */

/* An image with ink everywhere (values 1 … 255 from the rng), so a wrong
 * pixel anywhere shows, the border included. */
static void random_image(uint8_t *image, uint64_t seed)
{
    dn_rng rng;
    dn_rng_seed(&rng, seed);
    for (int i = 0; i < DN_IMAGE_PIXELS; i++) image[i] = (uint8_t)(1 + dn_rng_below(&rng, 255));
}

/* About one pixel in 100 lit, as MNIST's blank margins: a batch of 64 leaves
 * half the pixels unused. */
static void sparse_image(uint8_t *image, uint64_t seed)
{
    dn_rng rng;
    dn_rng_seed(&rng, seed);
    for (int i = 0; i < DN_IMAGE_PIXELS; i++)
        image[i] = dn_rng_below(&rng, 100) == 0 ? (uint8_t)(1 + dn_rng_below(&rng, 255)) : 0;
}

static dn_dataset *image_set(size_t count, uint64_t seed, void (*make)(uint8_t *, uint64_t))
{
    dn_dataset *set = calloc(1, sizeof *set);
    set->count = count;
    set->images = malloc(count * DN_IMAGE_PIXELS);
    set->labels = malloc(count);
    set->owns_buffers = 1;
    for (size_t i = 0; i < count; i++) {
        make(set->images + i * DN_IMAGE_PIXELS, seed + i);
        set->labels[i] = (uint8_t)(i % DN_CLASSES);
    }
    return set;
}

static dn_dataset *random_set(size_t count, uint64_t seed) { return image_set(count, seed, random_image); }

static dn_augment both(void)
{
    dn_augment a = {0};
    assert_int_equal(dn_augment_parse("elastic:4,34+affine:15,0.15,15,3", &a, NULL), DN_OK);
    return a;
}

/* ---------------------------------------------------------------- one image */

static void test_identity_parameters_give_the_image_back(void **state)
{
    (void)state;
    uint8_t in[DN_IMAGE_PIXELS], out[DN_IMAGE_PIXELS];
    random_image(in, 7);
    /* elastic with α = 0 (zero displacement), affine with every range 0, and both */
    const char *specs[] = {"elastic:4,0", "affine:0,0,0,0", "elastic:4,0+affine:0,0,0,0", "elastic:0,0"};
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        dn_augment a = {0};
        assert_int_equal(dn_augment_parse(specs[s], &a, NULL), DN_OK);
        for (int e = 0; e < 3; e++) {
            memset(out, 0xAA, sizeof out);
            dn_augment_image(&a, dn_augment_key(5, e, 3), in, out);
            assert_memory_equal(out, in, DN_IMAGE_PIXELS);
        }
    }
    /* and the explicit identity affine through compose + warp */
    float dx[DN_IMAGE_PIXELS], dy[DN_IMAGE_PIXELS];
    const dn_affine id = {0, 1, 0, 0, 0};
    dn_augment_compose(&id, NULL, NULL, dx, dy);
    for (int i = 0; i < DN_IMAGE_PIXELS; i++) assert_true(dx[i] == 0 && dy[i] == 0);
    dn_augment_warp(in, dx, dy, out);
    assert_memory_equal(out, in, DN_IMAGE_PIXELS);
}

/* out(x, y) = in(x − sx, y − sy), 0 where that is outside. */
static void shifted(const uint8_t *in, int sx, int sy, uint8_t *out)
{
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            int u = x - sx, v = y - sy;
            out[y * 28 + x] = u >= 0 && u < 28 && v >= 0 && v < 28 ? in[v * 28 + u] : 0;
        }
}

static void test_integer_shift_is_the_shifted_image(void **state)
{
    (void)state;
    uint8_t in[DN_IMAGE_PIXELS], out[DN_IMAGE_PIXELS], want[DN_IMAGE_PIXELS];
    float dx[DN_IMAGE_PIXELS], dy[DN_IMAGE_PIXELS];
    random_image(in, 11);
    const int shifts[][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1, 1}, {3, -2}};
    for (size_t k = 0; k < sizeof shifts / sizeof *shifts; k++) {
        const dn_affine a = {0, 1, 0, shifts[k][0], shifts[k][1]};
        dn_augment_compose(&a, NULL, NULL, dx, dy);
        dn_augment_warp(in, dx, dy, out);
        shifted(in, shifts[k][0], shifts[k][1], want);
        assert_memory_equal(out, want, DN_IMAGE_PIXELS);
    }
    /* a constant elastic field of one pixel moves the image the other way */
    float ex[DN_IMAGE_PIXELS], ey[DN_IMAGE_PIXELS];
    for (int i = 0; i < DN_IMAGE_PIXELS; i++) ex[i] = 1.0f, ey[i] = 0.0f;
    dn_augment_compose(NULL, ex, ey, dx, dy);
    dn_augment_warp(in, dx, dy, out);
    shifted(in, -1, 0, want);
    assert_memory_equal(out, want, DN_IMAGE_PIXELS);
}

/* θ = 90° about the centre (13.5, 13.5) maps the pixel grid onto itself:
 * p − c = (u, v) goes to (−v, u), so in(x, y) lands at (27 − y, x) — a
 * quarter turn clockwise as displayed (y down). cos 90° is not exactly 0 in
 * floating point, so this also checks that rounding absorbs it. Four
 * quarter turns give the image back. */
static void test_quarter_turn(void **state)
{
    (void)state;
    uint8_t in[DN_IMAGE_PIXELS], out[DN_IMAGE_PIXELS], back[DN_IMAGE_PIXELS];
    float dx[DN_IMAGE_PIXELS], dy[DN_IMAGE_PIXELS];
    random_image(in, 41);
    const dn_affine turn = {90, 1, 0, 0, 0};
    dn_augment_compose(&turn, NULL, NULL, dx, dy);
    dn_augment_warp(in, dx, dy, out);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) assert_int_equal(out[x * 28 + (27 - y)], in[y * 28 + x]);
    memcpy(back, out, sizeof back);
    for (int k = 0; k < 3; k++) {
        dn_augment_warp(back, dx, dy, out);
        memcpy(back, out, sizeof back);
    }
    assert_memory_equal(back, in, DN_IMAGE_PIXELS);
}

/* A half-pixel shift is the rounded mean of two neighbours: bilinear. */
static void test_half_pixel_shift_is_bilinear(void **state)
{
    (void)state;
    uint8_t in[DN_IMAGE_PIXELS], out[DN_IMAGE_PIXELS];
    float dx[DN_IMAGE_PIXELS], dy[DN_IMAGE_PIXELS];
    random_image(in, 13);
    const dn_affine a = {0, 1, 0, 0.5, 0};
    dn_augment_compose(&a, NULL, NULL, dx, dy);
    dn_augment_warp(in, dx, dy, out);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            double left = x > 0 ? in[y * 28 + x - 1] : 0, mean = 0.5 * (left + in[y * 28 + x]);
            assert_true(fabs(out[y * 28 + x] - mean) <= 0.5 + 1e-9);
        }
}

static void test_output_in_range_and_not_the_input(void **state)
{
    (void)state;
    const dn_augment a = both();
    uint8_t in[DN_IMAGE_PIXELS], out[DN_IMAGE_PIXELS];
    random_image(in, 17);
    int differs = 0;
    for (int e = 0; e < 20; e++) {
        float dx[DN_IMAGE_PIXELS], dy[DN_IMAGE_PIXELS];
        dn_augment_field(&a, dn_augment_key(1, e, 0), dx, dy);
        for (int i = 0; i < DN_IMAGE_PIXELS; i++) assert_true(isfinite(dx[i]) && isfinite(dy[i]));
        /* uint8 holds any value, so check against the corners' bound: a
         * bilinear mix never exceeds its largest input */
        dn_augment_warp(in, dx, dy, out);
        uint8_t hi = 0;
        for (int i = 0; i < DN_IMAGE_PIXELS; i++) hi = in[i] > hi ? in[i] : hi;
        for (int i = 0; i < DN_IMAGE_PIXELS; i++) assert_true(out[i] <= hi);
        differs += memcmp(in, out, DN_IMAGE_PIXELS) != 0;
    }
    assert_int_equal(differs, 20); /* not vacuous: the distortions do move pixels */
    /* a blank image stays blank */
    uint8_t blank[DN_IMAGE_PIXELS] = {0};
    dn_augment_image(&a, dn_augment_key(1, 0, 0), blank, out);
    assert_memory_equal(out, blank, DN_IMAGE_PIXELS);
    /* a full-white image stays within 0 … 255 and mostly white inside */
    memset(in, 255, sizeof in);
    dn_augment_image(&a, dn_augment_key(1, 0, 0), in, out);
    assert_int_equal(out[14 * 28 + 14], 255);
}

static void test_elastic_field_statistics(void **state)
{
    (void)state;
    /* σ = 4, α = 34: the smoothed field's standard deviation is about
     * α · sqrt(1/3 · Σ g²) with Σ g² ≈ 1 / (4πσ²) in 2-D: ≈ 1.38 px inside
     * the image (less near the border, where the field is smoothed towards
     * 0); its mean over many images is about 0 */
    dn_augment a = {0};
    assert_int_equal(dn_augment_parse("elastic:4,34", &a, NULL), DN_OK);
    double sum = 0, sq = 0;
    size_t n = 0;
    for (int k = 0; k < 200; k++) {
        float dx[DN_IMAGE_PIXELS], dy[DN_IMAGE_PIXELS];
        dn_augment_field(&a, dn_augment_key(3, 0, (size_t)k), dx, dy);
        for (int y = 10; y < 18; y++)
            for (int x = 10; x < 18; x++) sum += dx[y * 28 + x], sq += (double)dx[y * 28 + x] * dx[y * 28 + x], n++;
    }
    const double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
    print_message("elastic field inside: mean %.3f sd %.3f px (expected ~0, ~1.38)\n", mean, sd);
    assert_true(fabs(mean) < 0.2);
    assert_true(sd > 1.0 && sd < 1.8);
}

static void test_same_key_same_image_other_epoch_other_image(void **state)
{
    (void)state;
    const dn_augment a = both();
    uint8_t in[DN_IMAGE_PIXELS], o1[DN_IMAGE_PIXELS], o2[DN_IMAGE_PIXELS], o3[DN_IMAGE_PIXELS];
    random_image(in, 19);
    dn_augment_image(&a, dn_augment_key(9, 2, 40), in, o1);
    dn_augment_image(&a, dn_augment_key(9, 2, 40), in, o2);
    assert_memory_equal(o1, o2, DN_IMAGE_PIXELS);
    dn_augment_image(&a, dn_augment_key(9, 3, 40), in, o3); /* other epoch */
    assert_memory_not_equal(o1, o3, DN_IMAGE_PIXELS);
    dn_augment_image(&a, dn_augment_key(10, 2, 40), in, o3); /* other seed */
    assert_memory_not_equal(o1, o3, DN_IMAGE_PIXELS);
    dn_augment_image(&a, dn_augment_key(9, 2, 41), in, o3); /* other image index */
    assert_memory_not_equal(o1, o3, DN_IMAGE_PIXELS);
}

static void test_parse_and_check(void **state)
{
    (void)state;
    dn_augment a = {0};
    dn_error err;
    assert_false(dn_augment_active(&a));
    assert_int_equal(dn_augment_parse("affine:10,0.1,5,2", &a, &err), DN_OK);
    assert_true(a.affine && !a.elastic && a.rotate == 10 && a.scale == 0.1 && a.shear == 5 && a.shift == 2);
    assert_int_equal(dn_augment_parse("elastic:4,34", &a, &err), DN_OK); /* adds, keeps affine */
    assert_true(a.affine && a.elastic && a.sigma == 4 && a.alpha == 34);
    char text[128];
    dn_augment_format(&a, text, sizeof text);
    assert_string_equal(text, "elastic:4,34+affine:10,0.1,5,2");
    dn_augment b = {0};
    assert_int_equal(dn_augment_parse(text, &b, &err), DN_OK);
    assert_memory_equal(&a, &b, sizeof a);
    const struct {
        const char *text, *names;
    } bad[] = {{"elastic:4", "elastic:SIGMA,ALPHA"},     {"elastic:4,34,1", "elastic:SIGMA,ALPHA"},
               {"elastic:x,3", "elastic:SIGMA,ALPHA"},   {"affine:1,2,3", "affine:ROT,SCALE,SHEAR,SHIFT"},
               {"affine:10,0.1,10,20", "SHIFT"},          {"affine:200,0,0,0", "ROT"},
               {"affine:1,1.5,0,0", "SCALE"},             {"affine:1,0,90,0", "SHEAR"},
               {"elastic:11,34", "SIGMA"},                {"elastic:4,-1", "ALPHA"},
               {"blur:3", "unknown kind"},                {"", "unknown kind"},
               {"elastic:4,34+", "unknown kind"},         {"elastic:nan,3", "elastic:SIGMA,ALPHA"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dn_augment c = a;
        assert_int_equal(dn_augment_parse(bad[i].text, &c, &err), DN_ERR_USAGE);
        if (!strstr(err.message, bad[i].names)) fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, err.message,
                                                         bad[i].names);
        assert_memory_equal(&c, &a, sizeof a); /* left as it was */
    }
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    opt.augment.affine = 1, opt.augment.shift = 15;
    assert_int_equal(dn_mlp_options_check(&opt, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "SHIFT"));
}

/* ---------------------------------------------------------------- batches */

static void test_batch_is_the_images_keyed_by_row(void **state)
{
    (void)state;
    const dn_augment a = both();
    dn_dataset *set = random_set(50, 23);
    const uint32_t rows[] = {7, 3, 49, 0, 3};
    uint8_t out[5 * DN_IMAGE_PIXELS], one[DN_IMAGE_PIXELS];
    dn_augment_batch(&a, 4, 6, set->images, rows, 5, out);
    for (int i = 0; i < 5; i++) {
        dn_augment_image(&a, dn_augment_key(4, 6, rows[i]), set->images + rows[i] * DN_IMAGE_PIXELS, one);
        assert_memory_equal(out + i * DN_IMAGE_PIXELS, one, DN_IMAGE_PIXELS);
    }
    /* the same row twice in a batch is distorted the same: the key is the row's */
    assert_memory_equal(out + 1 * DN_IMAGE_PIXELS, out + 4 * DN_IMAGE_PIXELS, DN_IMAGE_PIXELS);
    dn_dataset_free(set);
}

/* All batches of an epoch through a pipeline of `workers` workers, checked
 * against dn_augment_batch, concatenated into all (n, 784). */
static void run_pipeline(const dn_dataset *set, const uint32_t *order, size_t n, size_t batch, int epoch,
                         int workers, size_t depth, uint8_t *all)
{
    const dn_augment a = both();
    dn_error err;
    dn_augment_pipeline *p = dn_augment_pipeline_create(&a, 77, workers, depth, batch, &err);
    if (!p) fail_msg("%s", err.message);
    uint8_t *want = malloc(batch * DN_IMAGE_PIXELS);
    for (int round = 0; round < 2; round++) { /* twice: an epoch after an epoch */
        assert_int_equal(dn_augment_pipeline_start(p, set, order, n, batch, epoch, &err), DN_OK);
        size_t got = 0, batches = 0;
        const dn_dataset *b;
        while ((b = dn_augment_pipeline_next(p))) {
            const size_t expect = n - got < batch ? n - got : batch;
            assert_int_equal(b->count, expect);
            dn_augment_batch(&a, 77, epoch, set->images, order + got, b->count, want);
            assert_memory_equal(b->images, want, b->count * DN_IMAGE_PIXELS);
            for (size_t i = 0; i < b->count; i++) assert_int_equal(b->labels[i], set->labels[order[got + i]]);
            memcpy(all + got * DN_IMAGE_PIXELS, b->images, b->count * DN_IMAGE_PIXELS);
            got += b->count, batches++;
        }
        assert_int_equal(got, n);
        assert_int_equal(batches, (n + batch - 1) / batch);
        assert_null(dn_augment_pipeline_next(p)); /* stays at the end */
    }
    dn_augment_pipeline_finish(p);
    free(want);
    dn_augment_pipeline_free(p);
}

static void test_pipeline_in_order_once_and_thread_independent(void **state)
{
    (void)state;
    const size_t n = 203;
    dn_dataset *set = random_set(n, 29);
    uint32_t order[203];
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)((i * 37 + 5) % n); /* a permutation (37 ⟂ 203) */
    uint8_t *one = malloc(n * DN_IMAGE_PIXELS), *two = malloc(n * DN_IMAGE_PIXELS), *four = malloc(n * DN_IMAGE_PIXELS);
    run_pipeline(set, order, n, 16, 3, 1, 2, one);
    run_pipeline(set, order, n, 16, 3, 2, 4, two);
    run_pipeline(set, order, n, 16, 3, 4, 3, four);
    assert_memory_equal(one, two, n * DN_IMAGE_PIXELS);
    assert_memory_equal(one, four, n * DN_IMAGE_PIXELS);
    free(one), free(two), free(four);
    dn_dataset_free(set);
}

/* peek shows the batch next will hand out, and holds it: with two slots
 * and both held (the batch in hand and the one peeked), the workers cannot
 * touch either, so both keep their bytes until next moves on. */
static void test_pipeline_peek_holds_the_next_batch(void **state)
{
    (void)state;
    const dn_augment a = both();
    const size_t n = 95, batch = 10;
    dn_dataset *set = random_set(n, 37);
    dn_error err;
    dn_augment_pipeline *p = dn_augment_pipeline_create(&a, 9, 2, 2, batch, &err);
    assert_non_null(p);
    assert_int_equal(dn_augment_pipeline_start(p, set, NULL, n, batch, 4, &err), DN_OK);
    uint8_t want[10 * DN_IMAGE_PIXELS], seen[10 * DN_IMAGE_PIXELS];
    uint32_t rows[95]; /* the pipeline's order (none): row i is sample i, keyed by its row */
    for (size_t i = 0; i < n; i++) rows[i] = (uint32_t)i;
    const dn_dataset *ahead = dn_augment_pipeline_peek(p); /* batch 0, before any is handed out */
    assert_non_null(ahead);
    assert_ptr_equal(dn_augment_pipeline_peek(p), ahead); /* peeking again changes nothing */
    for (size_t first = 0; first < n; first += batch) {
        const dn_dataset *b = dn_augment_pipeline_next(p);
        assert_ptr_equal(b, ahead); /* the batch peeked */
        ahead = dn_augment_pipeline_peek(p);
        if (first + batch >= n) {
            assert_null(ahead); /* past the last */
        } else {
            assert_non_null(ahead);
            assert_int_equal(ahead->count, n - first - batch < batch ? n - first - batch : batch);
            memcpy(seen, ahead->images, ahead->count * DN_IMAGE_PIXELS);
        }
        dn_augment_batch(&a, 9, 4, set->images, rows + first, b->count, want);
        assert_memory_equal(b->images, want, b->count * DN_IMAGE_PIXELS); /* still batch `first` */
        if (ahead) {
            dn_augment_batch(&a, 9, 4, set->images, rows + first + batch, ahead->count, want);
            assert_memory_equal(seen, want, ahead->count * DN_IMAGE_PIXELS);
        }
    }
    assert_null(dn_augment_pipeline_next(p));
    assert_null(dn_augment_pipeline_peek(p));
    dn_augment_pipeline_free(p);
    dn_dataset_free(set);
}

/* An epoch abandoned half-way (a stopped epoch), then a fresh one, then
 * freeing with batches still in the slots: no leak, no hang (ASan). */
static void test_pipeline_abandoned_epoch(void **state)
{
    (void)state;
    const dn_augment a = both();
    dn_dataset *set = random_set(100, 31);
    dn_error err;
    dn_augment_pipeline *p = dn_augment_pipeline_create(&a, 1, 2, 4, 10, &err);
    assert_non_null(p);
    assert_int_equal(dn_augment_pipeline_start(p, set, NULL, 100, 10, 0, &err), DN_OK);
    assert_non_null(dn_augment_pipeline_next(p));
    assert_non_null(dn_augment_pipeline_next(p));
    assert_int_equal(dn_augment_pipeline_start(p, set, NULL, 100, 10, 1, &err), DN_OK);
    const dn_dataset *b = dn_augment_pipeline_next(p);
    uint8_t want[10 * DN_IMAGE_PIXELS];
    dn_augment_batch(&a, 1, 1, set->images, NULL, 10, want);
    assert_memory_equal(b->images, want, sizeof want); /* the new epoch's first batch */
    assert_int_equal(dn_augment_pipeline_start(p, set, NULL, 100, 11, 1, &err), DN_ERR_USAGE); /* > batch_max */
    dn_augment_pipeline_free(p); /* mid-epoch */
    dn_augment_pipeline_free(NULL);
    dn_augment off = {0};
    assert_null(dn_augment_pipeline_create(&off, 1, 1, 4, 10, &err));
    assert_null(dn_augment_pipeline_create(&a, 1, 0, 4, 10, &err));
    dn_dataset_free(set);
}

/* ---------------------------------------------------------------- training */

static dn_dataset *load_or_skip(const char *split)
{
    const char *dir = getenv("DN_DATA");
    dn_dataset *set = dn_mnist_load(dir ? dir : "data/mnist", split, NULL);
    if (!set) DN_SKIP("no MNIST in %s (scripts/fetch_mnist.sh)", dir ? dir : "data/mnist");
    return set;
}

/* An epoch with augmentation trains on the distorted images: with one
 * thread and with two (pipeline and step threads together) the parameters
 * differ from an epoch without, and a short run on 3000 MNIST images
 * reaches above 85 % on 2000 test images (without augmentation the same
 * run reaches about 90 %: distortions cost a little on so short a run). */
static void test_training_with_augmentation_learns(void **state)
{
    (void)state;
    dn_dataset *train = load_or_skip("train"), *test = train ? load_or_skip("t10k") : NULL;
    if (!test) {
        dn_dataset_free(train);
        return;
    }
    dn_dataset fit = dn_dataset_view(train, 0, 3000), held = dn_dataset_view(test, 0, 2000);
    double acc[2];
    for (int threads = 1; threads <= 2; threads++) {
        dn_mlp_options opt;
        dn_mlp_options_default(&opt);
        assert_int_equal(dn_mlp_parse_hidden("100", &opt, NULL), DN_OK);
        opt.epochs = 4, opt.threads = threads, opt.batch = 32;
        assert_int_equal(dn_augment_parse("elastic:4,34+affine:10,0.1,10,2", &opt.augment, NULL), DN_OK);
        dn_error err;
        dn_mlp *mlp = dn_mlp_create(&opt, &err);
        assert_non_null(mlp);
        assert_int_equal(dn_mlp_train(mlp, &fit, NULL, NULL, &err), DN_OK);
        dn_mlp_eval ev;
        assert_int_equal(dn_mlp_evaluate(mlp, &held, &ev, &err), DN_OK);
        acc[threads - 1] = ev.accuracy;
        dn_mlp_free(mlp);
    }
    print_message("augmented, 3000 images, 4 epochs: test accuracy %.4f (1 thread), %.4f (2 threads)\n", acc[0],
                  acc[1]);
    assert_true(acc[0] > 0.85 && acc[1] > 0.85);
    dn_dataset_free(train);
    dn_dataset_free(test);
}

/* The epoch trains on exactly the distorted images: with affine:0,0,0,0
 * (the identity) the run equals one without augmentation bit for bit, on
 * one thread (the pipeline's worker distorts, on a machine of two cores or
 * more) and on every core (the training threads distort, in turns with the
 * steps). Dense images, and sparse ones, on which layer 0 leaves the rows
 * of the pixels no batch uses for later (mlp_input_t.c): each step brings
 * the next batch's rows up to date, the distorted batch's too, and both
 * must give the same bits. */
static void check_identity_trains_as_none(dn_dataset *set, int threads)
{
    float *p[2];
    size_t P = 0;
    for (int k = 0; k < 2; k++) {
        dn_mlp_options opt;
        dn_mlp_options_default(&opt);
        assert_int_equal(dn_mlp_parse_hidden("40", &opt, NULL), DN_OK);
        opt.epochs = 2, opt.batch = 64, opt.lr = 0.01, opt.threads = threads;
        if (k) assert_int_equal(dn_augment_parse("affine:0,0,0,0", &opt.augment, NULL), DN_OK);
        dn_error err;
        dn_mlp *mlp = dn_mlp_create(&opt, &err);
        assert_int_equal(dn_mlp_train(mlp, set, NULL, NULL, &err), DN_OK);
        const float *params = dn_mlp_params(mlp, &P);
        p[k] = malloc(P * sizeof(float));
        memcpy(p[k], params, P * sizeof(float));
        dn_mlp_free(mlp);
    }
    assert_memory_equal(p[0], p[1], P * sizeof(float));
    free(p[0]), free(p[1]);
}

static void test_identity_augmentation_trains_as_none(void **state)
{
    (void)state;
    dn_dataset *dense = random_set(300, 37), *sparse = image_set(300, 37, sparse_image);
    for (int threads = 1; threads >= 0; threads--) { /* 0: every core */
        check_identity_trains_as_none(dense, threads);
        check_identity_trains_as_none(sparse, threads);
    }
    dn_dataset_free(dense);
    dn_dataset_free(sparse);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_parameters_give_the_image_back),
        cmocka_unit_test(test_integer_shift_is_the_shifted_image),
        cmocka_unit_test(test_quarter_turn),
        cmocka_unit_test(test_half_pixel_shift_is_bilinear),
        cmocka_unit_test(test_output_in_range_and_not_the_input),
        cmocka_unit_test(test_elastic_field_statistics),
        cmocka_unit_test(test_same_key_same_image_other_epoch_other_image),
        cmocka_unit_test(test_parse_and_check),
        cmocka_unit_test(test_batch_is_the_images_keyed_by_row),
        cmocka_unit_test(test_pipeline_in_order_once_and_thread_independent),
        cmocka_unit_test(test_pipeline_peek_holds_the_next_batch),
        cmocka_unit_test(test_pipeline_abandoned_epoch),
        cmocka_unit_test(test_identity_augmentation_trains_as_none),
        cmocka_unit_test(test_training_with_augmentation_learns),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
