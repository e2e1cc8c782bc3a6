/* test_mlp_model.c — MLP models in files: round trip, strict loading, the
 * .npy export read back, and a short run on real MNIST. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "lib/skip.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digitnet.h"
#include "internal.h"

static void temp_path(char *path, size_t cap, const char *name)
{
    snprintf(path, cap, "/tmp/dn_test_mlp_%ld_%s", (long)getpid(), name);
}

static dn_dataset *synthetic_set(size_t count, uint64_t seed)
{
    dn_dataset *set = calloc(1, sizeof *set);
    *set = (dn_dataset){count, calloc(count, DN_IMAGE_PIXELS), calloc(count, 1), 1, NULL};
    dn_rng rng;
    dn_rng_seed(&rng, seed);
    for (size_t i = 0; i < count; i++) {
        set->labels[i] = (uint8_t)(i % DN_CLASSES);
        for (int k = 0; k < 40; k++) /* class-dependent strokes plus noise */
            set->images[i * DN_IMAGE_PIXELS + (set->labels[i] * 70 + dn_rng_below(&rng, 90)) % DN_IMAGE_PIXELS] = 250;
        for (int k = 0; k < 30; k++) set->images[i * DN_IMAGE_PIXELS + dn_rng_below(&rng, 784)] = (uint8_t)dn_rng_below(&rng, 256);
    }
    return set;
}

static dn_mlp *trained_mlp(const char *hidden, dn_activation act, dn_loss loss, const dn_dataset *set)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden(hidden, &opt, NULL);
    opt.activation = act, opt.loss = loss, opt.epochs = 2, opt.batch = 16, opt.lr = 0.05, opt.threads = 1;
    opt.optimizer = loss == DN_LOSS_MSE ? DN_OPTIMIZER_ADAM : DN_OPTIMIZER_SGD;
    opt.seed = 0xfedcba9876543210ULL; /* beyond 2^53: the file must keep every bit */
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    assert_non_null(mlp);
    assert_int_equal(dn_mlp_train(mlp, set, NULL, NULL, NULL), DN_OK);
    return mlp;
}

static dn_model *save_and_load(const dn_model *model, const char *path)
{
    dn_error err;
    assert_int_equal(dn_model_save(model, path, &err), DN_OK);
    dn_model *loaded = dn_model_load(path, &err);
    if (!loaded) fail_msg("%s", err.message);
    return loaded;
}

/* save → load → the same predictions and probabilities, bit for bit, and
 * the same options and shapes. */
static void round_trip(const char *hidden, dn_activation act, dn_loss loss)
{
    dn_dataset *set = synthetic_set(120, 1);
    dn_mlp *mlp = trained_mlp(hidden, act, loss, set);
    dn_error err;
    dn_model *model = dn_model_from_mlp(mlp, 0x12345678, &err);
    assert_non_null(model);
    char path[256];
    temp_path(path, sizeof path, "roundtrip.safetensors");
    dn_model *loaded = save_and_load(model, path);
    assert_int_equal(dn_model_get_kind(loaded), DN_MODEL_MLP);
    assert_string_equal(dn_model_kind_name(loaded), "mlp");
    assert_string_equal(dn_model_meta(loaded, "hidden"), hidden);
    assert_string_equal(dn_model_meta(loaded, "activation"), dn_activation_name(act));
    assert_string_equal(dn_model_meta(loaded, "data_crc32"), "12345678");
    assert_string_equal(dn_model_meta(loaded, "seed"), "18364758544493064720");
    assert_string_equal(dn_model_meta(loaded, "epochs"), "2");
    const dn_mlp *back = dn_model_get_mlp(loaded);
    assert_non_null(back);
    assert_null(dn_model_perceptron_weights(loaded));
    assert_true(dn_mlp_get_options(back)->seed == dn_mlp_get_options(mlp)->seed);
    assert_int_equal(dn_mlp_get_options(back)->optimizer, dn_mlp_get_options(mlp)->optimizer);
    assert_int_equal(dn_mlp_epochs_done(back), 2);
    assert_int_equal(dn_mlp_train_size(back), 120);
    assert_int_equal(dn_mlp_layer_count(back), dn_mlp_layer_count(mlp));
    size_t n1, n2;
    const float *p1 = dn_mlp_params((dn_mlp *)mlp, &n1), *p2 = dn_mlp_params((dn_mlp *)back, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, n1 * sizeof *p1);
    uint8_t a[120], b[120];
    float sa[1200], sb[1200];
    assert_int_equal(dn_model_classify(model, set->images, 120, a, sa, NULL), DN_OK);
    assert_int_equal(dn_model_classify(loaded, set->images, 120, b, sb, NULL), DN_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(sa, sb, sizeof sa);
    for (int i = 0; i < 120; i++) { /* the scores are probabilities */
        double sum = 0;
        for (int j = 0; j < 10; j++) sum += sa[i * 10 + j];
        assert_true(fabs(sum - 1) < 1e-5);
    }
    dn_model_free(loaded);
    dn_model_free(model);
    dn_mlp_free(mlp);
    dn_dataset_free(set);
    unlink(path);
}

static void test_save_load_identical_outputs(void **state)
{
    (void)state;
    round_trip("24,12", DN_ACT_RELU, DN_LOSS_CE);
    round_trip("16", DN_ACT_SIGMOID, DN_LOSS_MSE);
    round_trip("", DN_ACT_TANH, DN_LOSS_CE);
}

/* ---- strict loading: hand-made files that must be refused ---- */

typedef struct bad_file {
    const char *hidden;
    size_t w0_rows;      /* rows of layers.0.weight */
    int drop_last_bias;  /* omit layers.1.bias */
    int extra_tensor;    /* add "stray" */
    int nan_value;       /* a NaN in layers.0.bias */
    const char *activation;
    const char *expect;  /* in the message */
} bad_file;

static void expect_refused(bad_file b)
{
    static float w0[30 * 784], b0[30], w1[10 * 30], b1[10], stray[3];
    memset(b0, 0, sizeof b0);
    b0[0] = b.nan_value ? NAN : 0.0f;
    dn_tensor t[5] = {
        {"layers.0.weight", DN_DTYPE_F32, 2, {b.w0_rows, 784}, w0},
        {"layers.0.bias", DN_DTYPE_F32, 1, {b.w0_rows}, b0},
        {"layers.1.weight", DN_DTYPE_F32, 2, {10, b.w0_rows}, w1},
        {"layers.1.bias", DN_DTYPE_F32, 1, {10}, b1},
        {"stray", DN_DTYPE_F32, 1, {3}, stray},
    };
    size_t nt = b.drop_last_bias ? 3 : b.extra_tensor ? 5 : 4;
    dn_meta_entry meta[] = {{"format", "digitnet"}, {"format_version", "1"}, {"kind", "mlp"},
                            {"hidden", b.hidden}, {"activation", b.activation}, {"loss", "ce"}};
    char path[256];
    temp_path(path, sizeof path, "bad.safetensors");
    dn_error err;
    assert_int_equal(dn_st_write(path, t, nt, meta, 6, &err), DN_OK);
    assert_null(dn_model_load(path, &err));
    assert_int_equal(err.code, DN_ERR_INPUT);
    if (!strstr(err.message, path) || !strstr(err.message, b.expect))
        fail_msg("message '%s' should name the file and say '%s'", err.message, b.expect);
    unlink(path);
}

static void test_inconsistent_files_refused(void **state)
{
    (void)state;
    /* a good one first, so the refusals below are about what they change */
    static float w0[30 * 784], b0[30], w1[300], b1[10];
    dn_tensor t[4] = {{"layers.0.weight", DN_DTYPE_F32, 2, {30, 784}, w0}, {"layers.0.bias", DN_DTYPE_F32, 1, {30}, b0},
                      {"layers.1.weight", DN_DTYPE_F32, 2, {10, 30}, w1}, {"layers.1.bias", DN_DTYPE_F32, 1, {10}, b1}};
    dn_meta_entry meta[] = {{"format", "digitnet"}, {"format_version", "1"}, {"kind", "mlp"},
                            {"hidden", "30"}, {"activation", "tanh"}, {"loss", "ce"}};
    char path[256];
    temp_path(path, sizeof path, "good.safetensors");
    assert_int_equal(dn_st_write(path, t, 4, meta, 6, NULL), DN_OK);
    dn_model *good = dn_model_load(path, NULL);
    assert_non_null(good);
    assert_int_equal(dn_mlp_layer_activation(dn_model_get_mlp(good), 0), DN_ACT_TANH);
    dn_model_free(good);
    unlink(path);
    /* the seed goes through the same strict parser as checkpoint numbers */
    static const char *const bad_seeds[] = {" 7", "+7", "-1", "", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad_seeds / sizeof *bad_seeds; i++) {
        dn_meta_entry seeded[7];
        memcpy(seeded, meta, sizeof meta);
        seeded[6] = (dn_meta_entry){"seed", bad_seeds[i]};
        assert_int_equal(dn_st_write(path, t, 4, seeded, 7, NULL), DN_OK);
        dn_error err;
        assert_null(dn_model_load(path, &err));
        char want[64];
        snprintf(want, sizeof want, "metadata seed = '%s' is not a valid value", bad_seeds[i]);
        if (!strstr(err.message, want)) fail_msg("message '%s' should say \"%s\"", err.message, want);
        unlink(path);
    }

    expect_refused((bad_file){"30", 29, 0, 0, 0, "tanh", "has shape (29, 784)"});
    expect_refused((bad_file){"31", 30, 0, 0, 0, "tanh", "needs (31, 784)"});
    expect_refused((bad_file){"30", 30, 1, 0, 0, "tanh", "has 4 tensors"});
    expect_refused((bad_file){"30", 30, 0, 1, 0, "tanh", "has 4 tensors"});
    expect_refused((bad_file){"30", 30, 0, 0, 1, "tanh", "non-finite"});
    expect_refused((bad_file){"30", 30, 0, 0, 0, "swish", "activation = 'swish'"});
    expect_refused((bad_file){"30,x", 30, 0, 0, 0, "tanh", "hidden sizes"});
}

/* ---- export ---- */

static void check_npy(const char *dir, const char *name, const float *f, const double *d, size_t rows, size_t cols)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    double *data;
    size_t shape[4];
    int ndim;
    dn_error err;
    if (dn_npy_read_f64(path, &data, shape, &ndim, &err)) fail_msg("%s", err.message);
    assert_int_equal(ndim, cols ? 2 : 1);
    assert_int_equal(shape[0], rows);
    if (cols) assert_int_equal(shape[1], cols);
    size_t n = rows * (cols ? cols : 1);
    double spread = 0;
    for (size_t i = 0; i < n; i++) {
        double want = f ? (double)f[i] : d[i];
        assert_true(data[i] == want); /* float → .npy → double is exact */
        spread = fmax(spread, fabs(want));
    }
    assert_true(spread > 0 || (cols == 0 && f)); /* weights are not all zero; biases may be */
    free(data);
    unlink(path);
}

static void test_exported_npy_read_back(void **state)
{
    (void)state;
    dn_dataset *set = synthetic_set(60, 3);
    dn_mlp *mlp = trained_mlp("20,15", DN_ACT_RELU, DN_LOSS_CE, set);
    dn_model *model = dn_model_from_mlp(mlp, 0, NULL);
    char dir[256];
    temp_path(dir, sizeof dir, "export/nested");
    size_t written;
    dn_error err;
    if (dn_model_export_npy(model, dir, &written, &err)) fail_msg("%s", err.message);
    assert_int_equal(written, 7); /* 3 × (weight, bias) and the description */
    for (int k = 0; k < 3; k++) {
        char name[64];
        size_t out = dn_mlp_layer_outputs(mlp, k), in = dn_mlp_layer_inputs(mlp, k);
        snprintf(name, sizeof name, "layers.%d.weight", k);
        check_npy(dir, name, dn_mlp_weights(mlp, k), NULL, out, in);
        snprintf(name, sizeof name, "layers.%d.bias", k);
        check_npy(dir, name, dn_mlp_bias(mlp, k), NULL, out, 0);
    }
    dn_model_free(model);

    /* a perceptron exports its W */
    dn_pta_options po;
    dn_pta_options_default(&po);
    po.train_size = 60, po.max_epochs = 2, po.threads = 1;
    dn_pta *pta = dn_pta_create(&po, NULL);
    dn_pta_train(pta, set, NULL, NULL, NULL, NULL);
    model = dn_model_from_pta(pta, 0, 0, NULL);
    assert_int_equal(dn_model_export_npy(model, dir, &written, NULL), DN_OK);
    assert_int_equal(written, 2);
    check_npy(dir, "W", NULL, dn_model_perceptron_weights(model), 10, 784);
    char description[512];
    snprintf(description, sizeof description, "%s/%s", dir, DN_NPY_DESCRIPTION);
    assert_int_equal(unlink(description), 0);
    assert_int_equal(rmdir(dir), 0);
    temp_path(dir, sizeof dir, "export");
    rmdir(dir);
    dn_model_free(model);
    dn_pta_free(pta);
    dn_mlp_free(mlp);
    dn_dataset_free(set);
}

static void test_stats(void **state)
{
    (void)state;
    const float v[4] = {1, 2, 3, 6};
    dn_stats st = dn_stats_f32(v, 4);
    assert_true(st.min == 1 && st.max == 6 && st.mean == 3);
    assert_true(fabs(st.std - sqrt(3.5)) < 1e-12);
    st = dn_stats_f64(NULL, 0);
    assert_true(st.min == 0 && st.max == 0 && st.std == 0);
}

/* ---- real MNIST, kept short: 10000 samples, 3 epochs ---- */

static void test_real_mnist_short_run(void **state)
{
    (void)state;
    const char *dir = getenv("DN_DATA");
    dn_dataset *train = dn_mnist_load(dir ? dir : "data/mnist", "train", NULL);
    dn_dataset *test = dn_mnist_load(dir ? dir : "data/mnist", "t10k", NULL);
    if (!train || !test) {
        dn_dataset_free(train);
        dn_dataset_free(test);
        DN_SKIP("no MNIST in DN_DATA (scripts/fetch_mnist.sh)");
    }
    dn_dataset fit = dn_dataset_view(train, 0, 10000), check = dn_dataset_view(test, 0, 2000);
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_mlp_parse_hidden("64", &opt, NULL);
    opt.epochs = 3, opt.threads = 1;
    dn_mlp *mlp = dn_mlp_create(&opt, NULL);
    assert_int_equal(dn_mlp_train(mlp, &fit, NULL, NULL, NULL), DN_OK);
    dn_mlp_eval e;
    assert_int_equal(dn_mlp_evaluate(mlp, &check, &e, NULL), DN_OK);
    print_message("784-64-10, 10000 samples, 3 epochs: test accuracy %.4f, loss %.4f\n", e.accuracy, e.loss);
    assert_true(e.accuracy > 0.91); /* 0.926 here; margin for other BLAS kernels */
    dn_mlp_free(mlp);
    dn_dataset_free(train);
    dn_dataset_free(test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_identical_outputs),
        cmocka_unit_test(test_inconsistent_files_refused),
        cmocka_unit_test(test_exported_npy_read_back),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_real_mnist_short_run),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
