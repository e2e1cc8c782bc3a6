/* test_checkpoint.c — perceptron checkpoints: a run stopped after
 * k epochs and resumed ends with exactly the W, average and step count of a
 * run that went straight through; every inconsistent or hostile checkpoint
 * is refused with a message naming the file and the problem; the pair given
 * a communicator writes the job's kind, which the pair without one refuses
 * (and the other way round). Network checkpoints without a communicator
 * (a job of one) round-trip the network bit for bit, and a regularised run
 * with model selection stopped and resumed ends as one that went straight. */
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
#include "text_cursor.h"
#include "lib/synthetic.h"

#define W_SIZE (DN_CLASSES * DN_IMAGE_PIXELS)
#define COUNT 300 /* samples in the synthetic set: enough that epochs keep changing W */

typedef dn_test_fixture fixture;

/* Sparse random "digits": about one pixel in five lit, labels 0–9 spread. */
static int setup(void **state) { return dn_test_fixture_setup(state, COUNT, 7, 5, "dn_ckpt"); }

static int teardown(void **state)
{
    fixture *f = *state;
    char other[160];
    snprintf(other, sizeof other, "%s/other.safetensors", f->dir);
    unlink(other);
    return dn_test_fixture_free(f);
}

static dn_pta_options options(int max_epochs, dn_precision precision, int average)
{
    dn_pta_options o;
    dn_pta_options_default(&o);
    o.train_size = COUNT;
    o.max_epochs = max_epochs;
    o.precision = precision;
    o.average = average;
    o.eta = 0.5;
    o.threads = 1;
    return o;
}

/* Records the curve and stops at max_epochs in all, as the CLI does. */
typedef struct recorder {
    dn_pta_curve curve;
    int max_epochs;
} recorder;

static int record(const dn_pta_epoch_report *r, void *user)
{
    recorder *rec = user;
    int e = rec->curve.epochs++;
    rec->curve.errors = realloc(rec->curve.errors, (size_t)(e + 1) * sizeof *rec->curve.errors);
    rec->curve.seconds = realloc(rec->curve.seconds, (size_t)(e + 1) * sizeof *rec->curve.seconds);
    assert_non_null(rec->curve.errors);
    assert_non_null(rec->curve.seconds);
    rec->curve.errors[e] = r->errors;
    rec->curve.seconds[e] = r->seconds;
    return r->epoch + 1 >= rec->max_epochs;
}

static void assert_same_state(const dn_pta *a, const dn_pta *b, int average)
{
    double wa[W_SIZE], wb[W_SIZE];
    dn_pta_get_weights(a, wa);
    dn_pta_get_weights(b, wb);
    assert_memory_equal(wa, wb, sizeof wa);
    assert_int_equal(dn_pta_epochs_done(a), dn_pta_epochs_done(b));
    if (!average) return;
    assert_int_equal(dn_pta_get_average(a, wa, NULL), DN_OK);
    assert_int_equal(dn_pta_get_average(b, wb, NULL), DN_OK);
    assert_memory_equal(wa, wb, sizeof wa);
}

/* 6 epochs straight against 3, save, load, 3 more: identical in both
 * precisions, with and without averaging. */
static void test_resume_matches_straight(void **state)
{
    fixture *f = *state;
    for (int variant = 0; variant < 4; variant++) {
        dn_precision precision = variant & 1 ? DN_FLOAT64 : DN_FLOAT32;
        int average = variant >> 1;
        dn_error err;
        dn_pta_options six = options(6, precision, average), three = options(3, precision, average);
        dn_pta *straight = dn_pta_create(&six, &err);
        assert_int_equal(dn_pta_train(straight, &f->set, NULL, NULL, NULL, &err), DN_OK);

        recorder first = {{0, NULL, NULL}, 3};
        dn_pta *part = dn_pta_create(&three, &err);
        assert_int_equal(dn_pta_train(part, &f->set, record, &first, NULL, &err), DN_OK);
        assert_int_equal(dn_pta_checkpoint_save(part, NULL, &first.curve, 0x1234abcd, f->path, NULL, NULL, &err),
                         DN_OK);

        recorder rest = {{0, NULL, NULL}, 6};
        uint32_t crc = 0;
        dn_pta *resumed = dn_pta_checkpoint_load(NULL, f->path, NULL, &six, &rest.curve, &crc, NULL, &err);
        if (!resumed) fail_msg("%s", err.message);
        assert_int_equal(crc, 0x1234abcd);
        assert_int_equal(rest.curve.epochs, 3);
        assert_memory_equal(rest.curve.errors, first.curve.errors, 3 * sizeof(size_t));
        assert_memory_equal(rest.curve.seconds, first.curve.seconds, 3 * sizeof(double));
        assert_int_equal(dn_pta_get_options(resumed)->max_epochs, 6);
        assert_same_state(part, resumed, average);
        assert_int_equal(dn_pta_train(resumed, &f->set, record, &rest, NULL, &err), DN_OK);
        assert_int_equal(rest.curve.epochs, 6);
        assert_same_state(straight, resumed, average);

        dn_pta_curve_free(&first.curve);
        dn_pta_curve_free(&rest.curve);
        dn_pta_free(straight);
        dn_pta_free(part);
        dn_pta_free(resumed);
    }
}

/* W is stored in the precision trained: float32 stays F32 in the file. */
static void test_w_keeps_its_precision(void **state)
{
    fixture *f = *state;
    for (int p = 0; p < 2; p++) {
        dn_error err;
        dn_pta_options o = options(2, p ? DN_FLOAT64 : DN_FLOAT32, 0);
        dn_pta *pta = dn_pta_create(&o, &err);
        dn_pta_train(pta, &f->set, NULL, NULL, NULL, &err);
        assert_int_equal(dn_pta_checkpoint_save(pta, NULL, NULL, 0, f->path, NULL, NULL, &err), DN_OK);
        dn_st_file *file = dn_st_read(f->path, &err);
        assert_non_null(file);
        assert_int_equal(dn_st_find(file, "W")->dtype, p ? DN_DTYPE_F64 : DN_DTYPE_F32);
        assert_null(dn_st_find(file, "avg_acc"));
        assert_null(dn_st_find(file, "errors"));
        assert_string_equal(dn_st_meta(file, "kind"), "pta-checkpoint");
        assert_string_equal(dn_st_meta(file, "steps"), "600");
        assert_string_equal(dn_st_meta(file, "eta"), "0.5");
        dn_st_free(file);
        dn_pta_curve curve;
        dn_pta *back = dn_pta_checkpoint_load(NULL, f->path, NULL, NULL, &curve, NULL, NULL, &err);
        if (!back) fail_msg("%s", err.message);
        assert_int_equal(curve.epochs, 0);
        assert_same_state(pta, back, 0);
        dn_pta_free(back);
        dn_pta_free(pta);
    }
}

static void expect_load_failure(const char *path, const dn_pta_options *expect, dn_status code, const char *phrase)
{
    dn_error err = {DN_OK, ""};
    dn_pta_curve curve = {5, NULL, NULL};
    dn_pta *pta = dn_pta_checkpoint_load(NULL, path, NULL, expect, &curve, NULL, NULL, &err);
    dn_pta_free(pta);
    assert_null(pta);
    assert_int_equal(curve.epochs, 0);
    if (err.code != code) fail_msg("code %d, expected %d: %s", err.code, code, err.message);
    if (strncmp(err.message, path, strlen(path)) != 0) fail_msg("message does not name %s: %s", path, err.message);
    if (!strstr(err.message, phrase)) fail_msg("message lacks \"%s\": %s", phrase, err.message);
}

static void test_resume_refuses_other_settings(void **state)
{
    fixture *f = *state;
    dn_error err;
    dn_pta_options o = options(2, DN_FLOAT32, 1);
    dn_pta *pta = dn_pta_create(&o, &err);
    dn_pta_train(pta, &f->set, NULL, NULL, NULL, &err);
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, NULL, 0, f->path, NULL, NULL, &err), DN_OK);
    dn_pta_free(pta);

    dn_pta_options w = o;
    w.eta = 1;
    expect_load_failure(f->path, &w, DN_ERR_USAGE, "made with eta 0.5, this run asks for 1");
    w = o, w.train_size = 100;
    expect_load_failure(f->path, &w, DN_ERR_USAGE, "made with train size 300, this run asks for 100");
    w = o, w.seed = 9;
    expect_load_failure(f->path, &w, DN_ERR_USAGE, "seed 1, this run asks for 9");
    w = o, w.precision = DN_FLOAT64;
    expect_load_failure(f->path, &w, DN_ERR_USAGE, "precision float, this run asks for double");
    w = o, w.average = 0;
    expect_load_failure(f->path, &w, DN_ERR_USAGE, "averaging on, this run asks for off");
    w = o, w.epsilon = 0.25;
    expect_load_failure(f->path, &w, DN_ERR_USAGE, "epsilon 0, this run asks for 0.25");
    w = o, w.max_epochs = 50, w.threads = 2; /* free to change */
    dn_pta *ok = dn_pta_checkpoint_load(NULL, f->path, NULL, &w, NULL, NULL, NULL, &err);
    assert_non_null(ok);
    assert_int_equal(dn_pta_get_options(ok)->max_epochs, 50);
    dn_pta_free(ok);
}

/* ------------------------------------------------- hostile checkpoints */

/* Rewrites the checkpoint at path with metadata key set to value (NULL:
 * removed) and, when drop is given, that tensor left out. */
static void rewrite(const char *path, const char *key, const char *value, const char *drop)
{
    dn_error err;
    dn_st_file *file = dn_st_read(path, &err);
    assert_non_null(file);
    dn_meta_entry meta[40];
    dn_tensor tensors[8];
    size_t nm = 0, nt = 0;
    for (size_t i = 0; i < dn_st_meta_count(file); i++) {
        dn_meta_entry e = *dn_st_meta_at(file, i);
        if (key && strcmp(e.key, key) == 0) {
            if (!value) continue;
            e.value = value;
        }
        meta[nm++] = e;
    }
    for (size_t i = 0; i < dn_st_tensor_count(file); i++)
        if (!drop || strcmp(dn_st_tensor_at(file, i)->name, drop) != 0) tensors[nt++] = *dn_st_tensor_at(file, i);
    char other[160];
    snprintf(other, sizeof other, "%s.new", path);
    assert_int_equal(dn_st_write(other, tensors, nt, meta, nm, &err), DN_OK);
    dn_st_free(file);
    assert_int_equal(rename(other, path), 0);
}

static void fresh_checkpoint(fixture *f, int average)
{
    dn_error err;
    dn_pta_options o = options(2, DN_FLOAT32, average);
    recorder rec = {{0, NULL, NULL}, 2};
    dn_pta *pta = dn_pta_create(&o, &err);
    dn_pta_train(pta, &f->set, record, &rec, NULL, &err);
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, &rec.curve, 0, f->path, NULL, NULL, &err), DN_OK);
    dn_pta_curve_free(&rec.curve);
    dn_pta_free(pta);
}

typedef struct bad_meta {
    const char *key, *value, *phrase;
} bad_meta;

static void test_hostile_metadata_refused(void **state)
{
    fixture *f = *state;
    static const bad_meta cases[] = {
        {"steps", "601", "claims 601 steps, more than 2 epochs of 300 samples allow"},
        {"steps", "-1", "'steps' must be a whole number"},
        {"train_size", " 300", "'train_size' must be a whole number in [0, 1000000]"},
        {"seed", "+7", "'seed' must be a whole number in [0, 18446744073709551615]"},
        {"train_size", "2000000", "'train_size' must be a whole number in [0, 1000000]"},
        {"train_size", "0", "checkpoint settings are invalid: train size must be at least 1"},
        {"eta", "nan", "'eta' must be a finite number"},
        {"eta", "-1", "settings are invalid: eta must be a finite number > 0"},
        {"eta", "0.5x", "'eta' must be a finite number"},
        {"epsilon", "2", "settings are invalid: epsilon must be in [0, 1]"},
        {"precision", "half", "'precision' must be float or double"},
        {"precision", "double", "tensor 'W' must be F64 of shape (10, 784)"},
        {"average", "2", "'average' must be a whole number in [0, 1]"},
        {"average", "1", "checkpoint has no tensor 'avg_acc'"},
        {"epochs_done", "99999999999", "'epochs_done' must be a whole number"},
        {"epochs_done", "3", "tensor 'errors' must be F64 of shape (3,)"},
        {"data_crc32", "1234", "'data_crc32' must be 8 lowercase hex digits"},
        {"max_epochs", NULL, "checkpoint metadata lacks 'max_epochs'"},
        {"kind", "perceptron", "not a pta-checkpoint (its kind is a model)"},
        {"kind", "mlp-checkpoint", "not a pta-checkpoint (its kind is another checkpoint)"},
        {"format", "other", "not a digitnet checkpoint"},
        {"format_version", "2", "checkpoint format version is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fresh_checkpoint(f, 0);
        rewrite(f->path, cases[i].key, cases[i].value, NULL);
        expect_load_failure(f->path, NULL, DN_ERR_INPUT, cases[i].phrase);
    }
}

static void test_hostile_tensors_refused(void **state)
{
    fixture *f = *state;
    fresh_checkpoint(f, 0);
    rewrite(f->path, NULL, NULL, "seconds");
    expect_load_failure(f->path, NULL, DN_ERR_INPUT, "checkpoint has no tensor 'seconds'");
    fresh_checkpoint(f, 0);
    rewrite(f->path, NULL, NULL, "W");
    expect_load_failure(f->path, NULL, DN_ERR_INPUT, "checkpoint has no tensor 'W'");
    fresh_checkpoint(f, 1);
    rewrite(f->path, "average", "0", NULL);
    expect_load_failure(f->path, NULL, DN_ERR_INPUT, "holds avg_acc but says averaging was off");

    /* A non-finite weight and an impossible error count, CRC kept valid. */
    dn_error err;
    fresh_checkpoint(f, 0);
    dn_st_file *file = dn_st_read(f->path, &err);
    dn_tensor t[4];
    dn_meta_entry meta[40];
    size_t nt = dn_st_tensor_count(file), nm = dn_st_meta_count(file);
    for (size_t i = 0; i < nt; i++) t[i] = *dn_st_tensor_at(file, i);
    for (size_t i = 0; i < nm; i++) meta[i] = *dn_st_meta_at(file, i);
    float w[W_SIZE];
    double errors[2] = {3, 301};
    memcpy(w, dn_st_find(file, "W")->data, sizeof w);
    w[77] = INFINITY;
    for (size_t i = 0; i < nt; i++) {
        if (strcmp(t[i].name, "W") == 0) t[i].data = w;
        if (strcmp(t[i].name, "errors") == 0) t[i].data = errors;
    }
    assert_int_equal(dn_st_write(f->path, t, nt, meta, nm, &err), DN_OK);
    expect_load_failure(f->path, NULL, DN_ERR_INPUT, "tensor 'W' holds a non-finite value");
    w[77] = 0;
    assert_int_equal(dn_st_write(f->path, t, nt, meta, nm, &err), DN_OK);
    expect_load_failure(f->path, NULL, DN_ERR_INPUT, "curve entry 1 (errors 301, seconds");
    dn_st_free(file);
}

/* A model is not a checkpoint, and a checkpoint is not a model. */
static void test_models_and_checkpoints_kept_apart(void **state)
{
    fixture *f = *state;
    dn_error err;
    dn_pta_options o = options(1, DN_FLOAT32, 0);
    dn_pta *pta = dn_pta_create(&o, &err);
    dn_model *model = dn_model_from_pta(pta, 0, 0, &err);
    char other[160];
    snprintf(other, sizeof other, "%s/other.safetensors", f->dir);
    assert_int_equal(dn_model_save(model, other, &err), DN_OK);
    expect_load_failure(other, NULL, DN_ERR_INPUT, "not a pta-checkpoint (its kind is a model)");
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, NULL, 0, f->path, NULL, NULL, &err), DN_OK);
    assert_null(dn_model_load(f->path, &err));
    assert_int_equal(err.code, DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "pta-checkpoint"));
    dn_model_free(model);
    dn_pta_free(pta);
}

static void test_save_errors(void **state)
{
    fixture *f = *state;
    dn_error err;
    dn_pta_options o = options(1, DN_FLOAT32, 0);
    dn_pta *pta = dn_pta_create(&o, &err);
    dn_pta_curve wrong = {4, NULL, NULL};
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, &wrong, 0, f->path, NULL, NULL, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "the curve holds 4 epochs but the trainer has done 0"));
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, NULL, 0, "/nonexistent-dn-folder/ck", NULL, NULL, &err),
                     DN_ERR_IO);
    assert_non_null(strstr(err.message, "/nonexistent-dn-folder/ck: cannot create a temporary file"));
    dn_pta_free(pta);
    assert_int_equal(access(f->path, F_OK), -1); /* nothing half-written was left */
}

/* The value of key in path's metadata, copied into out. */
static void meta_of(const char *path, const char *key, char *out, size_t size)
{
    dn_error err;
    dn_st_file *file = dn_st_read(path, &err);
    assert_non_null(file);
    const char *v = dn_st_meta(file, key);
    assert_non_null(v);
    snprintf(out, size, "%s", v);
    dn_st_free(file);
}

/* The perceptron's pair: given a communicator (a job of one here) it writes
 * the distributed kind, which a load without one refuses, and the other way
 * round; without one, a mode or rng is a usage error. */
static void test_pta_kinds_follow_the_communicator(void **state)
{
    fixture *f = *state;
    dn_error err;
    dn_pta_options o = options(2, DN_FLOAT32, 0);
    dn_pta *pta = dn_pta_create(&o, &err);
    assert_non_null(pta);
    recorder rec = {{0, NULL, NULL}, 2};
    assert_int_equal(dn_pta_train(pta, &f->set, record, &rec, NULL, &err), DN_OK);
    dn_comm *one = dn_comm_local(&err);
    assert_non_null(one);
    dn_rng rng = {{1, 2, 3, 4}}, back_rng = {{0, 0, 0, 0}};
    char text[96];

    /* With comm: the distributed kind, mode "mix" when NULL, one rank. */
    assert_int_equal(dn_pta_checkpoint_save(pta, one, &rec.curve, 0xfeed, f->path, NULL, &rng, &err), DN_OK);
    meta_of(f->path, "kind", text, sizeof text);
    assert_string_equal(text, "pta-distributed-checkpoint");
    meta_of(f->path, "mode", text, sizeof text);
    assert_string_equal(text, "mix");
    meta_of(f->path, "ranks", text, sizeof text);
    assert_string_equal(text, "1");
    expect_load_failure(f->path, NULL, DN_ERR_INPUT,
                        "not a pta-checkpoint (its kind is pta-distributed-checkpoint, from a distributed run)");
    dn_pta_curve curve;
    uint32_t crc = 0;
    dn_pta *back = dn_pta_checkpoint_load(one, f->path, "mix", &o, &curve, &crc, &back_rng, &err);
    assert_non_null(back);
    assert_same_state(pta, back, 0);
    assert_int_equal(curve.epochs, 2);
    assert_int_equal(crc, 0xfeed);
    assert_memory_equal(back_rng.s, rng.s, sizeof rng.s);
    dn_pta_curve_free(&curve);
    dn_pta_free(back);
    assert_null(dn_pta_checkpoint_load(one, f->path, "mix shard:replicate", NULL, &curve, NULL, NULL, &err));
    assert_int_equal(err.code, DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "written by a job run as 'mix'"));
    assert_int_equal(curve.epochs, 0);

    /* Without comm: the single-process kind, which a job refuses. */
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, &rec.curve, 0, f->path, NULL, NULL, &err), DN_OK);
    meta_of(f->path, "kind", text, sizeof text);
    assert_string_equal(text, "pta-checkpoint");
    assert_null(dn_pta_checkpoint_load(one, f->path, NULL, NULL, &curve, NULL, NULL, &err));
    assert_int_equal(err.code, DN_ERR_INPUT);
    assert_non_null(strstr(err.message,
                           "not a pta-distributed-checkpoint (its kind is pta-checkpoint, from a single-process run)"));
    assert_int_equal(curve.epochs, 0);

    /* Without comm there is no mode or rng to record or restore. */
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, NULL, 0, f->path, "mix", NULL, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "takes no mode"));
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, NULL, 0, f->path, NULL, &rng, &err), DN_ERR_USAGE);
    assert_non_null(strstr(err.message, "takes no rng"));
    assert_null(dn_pta_checkpoint_load(NULL, f->path, "mix", NULL, &curve, NULL, NULL, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    assert_null(dn_pta_checkpoint_load(NULL, f->path, NULL, NULL, &curve, NULL, &back_rng, &err));
    assert_int_equal(err.code, DN_ERR_USAGE);
    assert_int_equal(curve.epochs, 0);
    dn_pta *still = dn_pta_checkpoint_load(NULL, f->path, NULL, &o, NULL, NULL, NULL, &err); /* untouched */
    assert_non_null(still);
    assert_same_state(pta, still, 0);
    dn_pta_free(still);

    dn_comm_free(one);
    dn_pta_curve_free(&rec.curve);
    dn_pta_free(pta);
}

static dn_mlp *small_mlp(void)
{
    dn_mlp_options o;
    dn_error err;
    dn_mlp_options_default(&o);
    assert_int_equal(dn_mlp_parse_hidden("16", &o, &err), DN_OK);
    o.optimizer = DN_OPTIMIZER_ADAM; /* moments and a step count to restore */
    o.lr = 0.01;
    o.epochs = 4;
    o.batch = 32;
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    assert_non_null(mlp);
    return mlp;
}

static void assert_same_params(dn_mlp *a, dn_mlp *b)
{
    size_t na = 0, nb = 0;
    const float *pa = dn_mlp_params(a, &na), *pb = dn_mlp_params(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na * sizeof *pa);
}

/* The network's pair without a communicator: a job of one, mode "sync";
 * the loaded network is the saved one bit for bit, optimiser state
 * included (a further epoch on each gives the same parameters). */
static void test_mlp_round_trip_without_comm(void **state)
{
    fixture *f = *state;
    dn_error err;
    dn_mlp *mlp = small_mlp(), *back = small_mlp();
    assert_int_equal(dn_mlp_train_epoch(mlp, &f->set, NULL, &err), DN_OK);
    dn_rng rng = {{5, 6, 7, 8}}, back_rng = {{0, 0, 0, 0}};
    assert_int_equal(dn_mlp_checkpoint_save(mlp, NULL, f->path, NULL, &rng, &err), DN_OK);
    char text[96];
    meta_of(f->path, "kind", text, sizeof text);
    assert_string_equal(text, "mlp-distributed-checkpoint");
    meta_of(f->path, "mode", text, sizeof text);
    assert_string_equal(text, "sync");
    meta_of(f->path, "ranks", text, sizeof text);
    assert_string_equal(text, "1");

    assert_int_equal(dn_mlp_checkpoint_load(back, NULL, f->path, NULL, &back_rng, &err), DN_OK);
    assert_same_params(mlp, back);
    assert_int_equal(dn_mlp_epochs_done(back), 1);
    assert_int_equal(dn_mlp_train_size(back), dn_mlp_train_size(mlp));
    assert_memory_equal(back_rng.s, rng.s, sizeof rng.s);
    assert_int_equal(dn_mlp_train_epoch(mlp, &f->set, NULL, &err), DN_OK);
    assert_int_equal(dn_mlp_train_epoch(back, &f->set, NULL, &err), DN_OK);
    assert_same_params(mlp, back);

    /* The same file as a job of one given explicitly; another mode is refused. */
    dn_comm *one = dn_comm_local(&err);
    assert_non_null(one);
    assert_int_equal(dn_mlp_checkpoint_load(back, one, f->path, "sync", NULL, &err), DN_OK);
    assert_int_equal(dn_mlp_checkpoint_load(back, NULL, f->path, "fedavg", NULL, &err), DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "written by a job run as 'sync'"));
    dn_comm_free(one);

    /* A perceptron checkpoint is not a network's. */
    dn_pta_options po = options(1, DN_FLOAT32, 0);
    dn_pta *pta = dn_pta_create(&po, &err);
    assert_int_equal(dn_pta_checkpoint_save(pta, NULL, NULL, 0, f->path, NULL, NULL, &err), DN_OK);
    assert_int_equal(dn_mlp_checkpoint_load(back, NULL, f->path, NULL, NULL, &err), DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "not a mlp-distributed-checkpoint (its kind is pta-checkpoint"));
    dn_pta_free(pta);
    dn_mlp_free(mlp);
    dn_mlp_free(back);
}

/* ---- regularisation and model selection in the network's checkpoint ---- */

/* A run of `epochs` (of 4 in the options: a constant rate, so the schedule
 * does not depend on where a run stops) with dropout, max-norm, label
 * smoothing, EMA, elastic and affine augmentation and keep-best on a
 * validation set; resumed from resume
 * when given, checkpointing into path when given. */
static dn_mlp *regularised_run(const fixture *f, int epochs, const char *path, const char *resume, dn_error *err)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    assert_int_equal(dn_mlp_parse_hidden("24,12", &o, err), DN_OK);
    o.epochs = epochs, o.batch = 32, o.lr = 0.05, o.schedule = DN_SCHEDULE_NONE, o.threads = 2;
    o.dropout_input = 0.2, o.dropout_hidden = 0.5, o.max_norm = 2, o.label_smoothing = 0.1, o.ema = 0.9;
    o.keep_best = 1, o.patience = 10;
    assert_int_equal(dn_augment_parse("elastic:3,20+affine:10,0.1,10,2", &o.augment, err), DN_OK);
    dn_mlp *mlp = dn_mlp_create(&o, err);
    assert_non_null(mlp);
    dn_dataset fit = dn_dataset_view(&f->set, 0, COUNT - 100), held = dn_dataset_view(&f->set, COUNT - 100, 100);
    dn_mlp_run_options ro;
    dn_mlp_run_options_default(&ro);
    ro.validation = &held;
    ro.checkpoint = (dn_checkpoint_policy){path, 1, resume};
    dn_mlp_run *run = dn_mlp_run_create(mlp, &ro, &fit, err);
    assert_non_null(run);
    if (dn_mlp_run_resume(run, err) || dn_mlp_run_train(run, err)) fail_msg("%s", err->message);
    dn_mlp_run_free(run);
    return mlp;
}

/* Stopped after 1 epoch and resumed to 4, the run ends as one that went
 * straight through: the weights, the EMA shadow, the best epoch and its
 * weights (restored at the end) bit for bit. The file is format version 2
 * (a version-1 reader refuses it) and keeps the options: a resume with
 * others is refused, as is one of a plain (version-1) checkpoint. */
static void test_mlp_regularised_resume_matches_straight(void **state)
{
    fixture *f = *state;
    dn_error err;
    char stopped[200];
    snprintf(stopped, sizeof stopped, "%s/other.safetensors", f->dir); /* removed by teardown */
    dn_mlp *straight = regularised_run(f, 4, NULL, NULL, &err);
    dn_mlp_free(regularised_run(f, 1, stopped, NULL, &err));
    char text[96];
    meta_of(stopped, "format_version", text, sizeof text);
    assert_string_equal(text, "2");
    meta_of(stopped, "ema_live", text, sizeof text);
    assert_string_equal(text, "1");
    dn_mlp *resumed = regularised_run(f, 4, NULL, stopped, &err);
    assert_int_equal(dn_mlp_epochs_done(resumed), 4);
    assert_same_params(straight, resumed);
    size_t np;
    dn_mlp_params(straight, &np);
    assert_memory_equal(dn_mlp_eval_params(straight), dn_mlp_eval_params(resumed), np * sizeof(float));
    dn_mlp_selection a, b;
    dn_mlp_get_selection(straight, &a), dn_mlp_get_selection(resumed, &b);
    assert_true(a.best_epoch >= 1 && a.best_epoch == b.best_epoch && a.best_accuracy == b.best_accuracy &&
                a.since_best == b.since_best && a.accuracy == b.accuracy);
    /* guard: the 1-epoch run differs from the 4-epoch one, so the comparison means something */
    dn_mlp *one = regularised_run(f, 1, NULL, NULL, &err);
    assert_memory_not_equal(dn_mlp_params(one, NULL), dn_mlp_params(straight, NULL), np * sizeof(float));
    dn_mlp_free(one);

    /* Other options: refused with the setting named. */
    dn_mlp_options o = *dn_mlp_get_options(resumed);
    o.dropout_hidden = 0.4;
    dn_mlp *other = dn_mlp_create(&o, &err);
    assert_int_equal(dn_mlp_checkpoint_load(other, NULL, stopped, NULL, NULL, &err), DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "dropout_hidden 0.5, this one has 0.4"));
    dn_mlp_free(other);
    o = *dn_mlp_get_options(resumed);
    o.augment.alpha = 34;
    other = dn_mlp_create(&o, &err);
    assert_int_equal(dn_mlp_checkpoint_load(other, NULL, stopped, NULL, NULL, &err), DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "augment_alpha 20, this one has 34"));
    dn_mlp_free(other);
    o = *dn_mlp_get_options(resumed);
    o.augment.affine = 0;
    other = dn_mlp_create(&o, &err);
    assert_int_equal(dn_mlp_checkpoint_load(other, NULL, stopped, NULL, NULL, &err), DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "augment_affine 1, this one has 0"));
    dn_mlp_free(other);
    /* A plain network's checkpoint stays version 1; a regularised run does not take it. */
    dn_mlp *plain = small_mlp();
    assert_int_equal(dn_mlp_checkpoint_save(plain, NULL, f->path, NULL, NULL, &err), DN_OK);
    meta_of(f->path, "format_version", text, sizeof text);
    assert_string_equal(text, "1");
    dn_mlp_free(plain);
    o = *dn_mlp_get_options(resumed);
    assert_int_equal(dn_mlp_parse_hidden("16", &o, &err), DN_OK);
    other = dn_mlp_create(&o, &err);
    assert_int_equal(dn_mlp_checkpoint_load(other, NULL, f->path, NULL, NULL, &err), DN_ERR_INPUT);
    assert_non_null(strstr(err.message, "dropout_input 0, this one has 0.2"));
    dn_mlp_free(other);
    /* The perceptron's reader, a version-1 reader, refuses version 2. */
    assert_null(dn_pta_checkpoint_load(NULL, stopped, NULL, NULL, NULL, NULL, NULL, &err));
    assert_non_null(strstr(err.message, "format version is not supported"));
    dn_mlp_free(straight);
    dn_mlp_free(resumed);
}

/* The one parser of whole numbers in metadata (checkpoints and the MLP
 * model's seed): digits only, overflow checked, against the values written
 * out by hand. */
static void test_whole_number_parser(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t max;
        int ok;
        uint64_t value;
    } cases[] = {
        {"7", UINT64_MAX, 1, 7},
        {"0", UINT64_MAX, 1, 0},
        {"007", UINT64_MAX, 1, 7}, /* leading zeros: accepted, as strtoull did */
        {" 7", UINT64_MAX, 0, 0},
        {"7 ", UINT64_MAX, 0, 0},
        {"+7", UINT64_MAX, 0, 0},
        {"-1", UINT64_MAX, 0, 0},
        {"-0", UINT64_MAX, 0, 0},
        {"", UINT64_MAX, 0, 0},
        {"0x10", UINT64_MAX, 0, 0},
        {"1e3", UINT64_MAX, 0, 0},
        {"18446744073709551615", UINT64_MAX, 1, UINT64_MAX},
        {"18446744073709551616", UINT64_MAX, 0, 0},
        {"99999999999999999999999", UINT64_MAX, 0, 0},
        {"1000000", 1000000, 1, 1000000},
        {"1000001", 1000000, 0, 0},
        {"2", 1, 0, 0}, /* a digit alone above max */
        {"1", 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t v = 12345;
        int rc = dn_parse_u64(cases[i].text, cases[i].max, &v);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_true(v == cases[i].value);
        } else {
            assert_int_equal(rc, -1);
            assert_true(v == 12345); /* untouched on refusal */
        }
    }
}

/* The one parser of real numbers in metadata: strtod's syntax, the whole
 * string, finite, no leading blanks. */
static void test_real_number_parser(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        double value;
    } cases[] = {
        {"0.5", 1, 0.5},   {"-2", 1, -2},       {"1e-3", 1, 1e-3}, {"0.10000000000000001", 1, 0.1},
        {" 0.5", 0, 0},    {"0.5 ", 0, 0},      {"", 0, 0},        {"nan", 0, 0},
        {"inf", 0, 0},     {"1e999", 0, 0},     {"0.5x", 0, 0},    {"\t1", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double v = 12345;
        int rc = dn_parse_double(cases[i].text, &v);
        if (rc != (cases[i].ok ? 0 : -1)) fail_msg("'%s': %d", cases[i].text, rc);
        assert_true(v == (cases[i].ok ? cases[i].value : 12345));
    }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_resume_matches_straight),
        T(test_w_keeps_its_precision),
        T(test_resume_refuses_other_settings),
        T(test_hostile_metadata_refused),
        T(test_hostile_tensors_refused),
        T(test_models_and_checkpoints_kept_apart),
        T(test_save_errors),
        T(test_pta_kinds_follow_the_communicator),
        T(test_mlp_round_trip_without_comm),
        T(test_mlp_regularised_resume_matches_straight),
        cmocka_unit_test(test_whole_number_parser),
        cmocka_unit_test(test_real_number_parser),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
