/* fuzz_model.c — the safetensors container (dn_st_read) through its two
 * users: the model loader (dn_model_load) and the perceptron checkpoint
 * loader (dn_pta_checkpoint_load). Every input is offered to both.
 *
 * Whatever loads must be usable and must round-trip: saved again and
 * reloaded, a model classifies a test image the same way and a checkpoint
 * gives back the same W. Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION,
 * the reader does not insist on the payload CRC, so mutated tensor values
 * reach the checks behind it. */
#include "fuzz_common.h"

#define W_VALUES (DN_CLASSES * DN_IMAGE_PIXELS)

static void test_image(uint8_t image[DN_IMAGE_PIXELS])
{
    for (size_t i = 0; i < DN_IMAGE_PIXELS; i++) image[i] = (uint8_t)((i * 37) % 251);
}

static void check_model(dn_model *model, const char *copy)
{
    uint8_t image[DN_IMAGE_PIXELS], a = 255, b = 255;
    float scores[DN_CLASSES];
    test_image(image);
    for (size_t i = 0; i < dn_model_meta_count(model); i++) FUZZ_CHECK(dn_model_meta_key(model, i) != NULL);
    FUZZ_CHECK(dn_model_kind_name(model) != NULL);
    dn_error err = {DN_OK, ""};
    if (dn_model_classify(model, image, 1, &a, scores, &err) != DN_OK) return; /* a kind this build cannot run */
    FUZZ_CHECK(a < DN_CLASSES);
    FUZZ_CHECK(dn_model_save(model, copy, &err) == DN_OK);
    dn_model *again = dn_model_load(copy, &err);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(dn_model_classify(again, image, 1, &b, NULL, &err) == DN_OK && a == b);
    dn_model_free(again);
}

static void check_checkpoint(const dn_pta *pta, const dn_pta_curve *curve, const char *copy)
{
    static double w1[W_VALUES], w2[W_VALUES];
    dn_error err = {DN_OK, ""};
    FUZZ_CHECK(dn_pta_checkpoint_save(pta, curve, 0, copy, &err) == DN_OK);
    dn_pta_curve curve2;
    dn_pta *again = dn_pta_checkpoint_load(copy, NULL, &curve2, NULL, &err);
    FUZZ_CHECK(again != NULL);
    dn_pta_get_weights(pta, w1);
    dn_pta_get_weights(again, w2);
    FUZZ_CHECK(memcmp(w1, w2, sizeof w1) == 0);
    FUZZ_CHECK(dn_pta_epochs_done(pta) == dn_pta_epochs_done(again) && curve2.epochs == curve->epochs);
    dn_pta_curve_free(&curve2);
    dn_pta_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[320], copy[320];
    if (!path[0]) {
        fuzz_path("model.st", path, sizeof path);
        fuzz_path("copy.st", copy, sizeof copy);
    }
    fuzz_write(path, data, size);

    dn_error err = {DN_OK, ""};
    dn_model *model = dn_model_load(path, &err);
    if (model) check_model(model, copy);
    else fuzz_check_error(&err, path);
    dn_model_free(model);

    dn_pta_curve curve;
    dn_error err2 = {DN_OK, ""};
    dn_pta *pta = dn_pta_checkpoint_load(path, NULL, &curve, NULL, &err2);
    if (pta) check_checkpoint(pta, &curve, copy);
    else fuzz_check_error(&err2, path);
    dn_pta_curve_free(&curve);
    dn_pta_free(pta);
    return 0;
}
