/* test_partition.c — the partitions of a training set among K federated
 * clients (dn_partition_*): every kind gives disjoint clients covering the
 * first n samples with exact sizes; shards:2 gives at most two labels per
 * client on labels that fall into shards cleanly; Dirichlet is the same
 * per seed, more skewed at α = 0.1 than at 100, and for two clients
 * draws Beta(α, α) shares (the Gamma sampler); quantity sizes are
 * unequal and sum to n; the file round-trips exactly and a truncated,
 * corrupted or foreign file is refused naming it; bad specs are refused. */
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
#include "digitnet_plot.h"
#include "lib/synthetic.h"

#define COUNT 1000

typedef dn_test_fixture fixture;

/* Random labels 0–9, a few lit pixels. */
static int setup(void **state) { return dn_test_fixture_setup(state, COUNT, 11, 50, "dn_partition"); }

static int teardown(void **state) { return dn_test_fixture_free(*state); }

static dn_partition_spec spec_of(const char *text)
{
    dn_partition_spec spec;
    dn_error err = {0};
    assert_int_equal(dn_partition_parse(text, &spec, &err), DN_OK);
    return spec;
}

static dn_partition *make(const dn_dataset *set, size_t n, size_t k, const char *text, uint64_t seed)
{
    dn_partition_spec spec = spec_of(text);
    dn_error err = {0};
    dn_partition *part = dn_partition_make(set, n, k, &spec, seed, &err);
    if (!part) print_message("%s\n", err.message);
    assert_non_null(part);
    return part;
}

/* Disjoint, covering [0, n), each list ascending, and the label counts
 * those of the data. */
static void assert_covers(const dn_partition *part, const dn_dataset *set, size_t n, size_t k)
{
    assert_int_equal(dn_partition_clients(part), k);
    assert_int_equal(dn_partition_train_size(part), n);
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    size_t total = 0;
    for (size_t c = 0; c < k; c++) {
        size_t size = dn_partition_client_size(part, c), counts[DN_CLASSES] = {0};
        const size_t *index = dn_partition_client_indices(part, c);
        for (size_t i = 0; i < size; i++) {
            assert_true(index[i] < n);
            assert_false(seen[index[i]]);
            seen[index[i]] = 1;
            if (i) assert_true(index[i - 1] < index[i]);
            counts[set->labels[index[i]]]++;
        }
        assert_memory_equal(counts, dn_partition_label_counts(part, c), sizeof counts);
        total += size;
    }
    assert_int_equal(total, n);
    for (size_t i = 0; i < n; i++) assert_true(seen[i]);
    free(seen);
    assert_int_equal(dn_partition_client_size(part, k), 0);
    assert_null(dn_partition_client_indices(part, k));
    assert_null(dn_partition_label_counts(part, k));
}

static int same_partition(const dn_partition *a, const dn_partition *b)
{
    if (dn_partition_clients(a) != dn_partition_clients(b) || dn_partition_train_size(a) != dn_partition_train_size(b))
        return 0;
    for (size_t c = 0; c < dn_partition_clients(a); c++) {
        size_t size = dn_partition_client_size(a, c);
        if (size != dn_partition_client_size(b, c) ||
            memcmp(dn_partition_client_indices(a, c), dn_partition_client_indices(b, c), size * sizeof(size_t)) != 0 ||
            memcmp(dn_partition_label_counts(a, c), dn_partition_label_counts(b, c), DN_CLASSES * sizeof(size_t)) != 0)
            return 0;
    }
    return 1;
}

/* The mean over clients of the share of its most common label. */
static double skew(const dn_partition *part)
{
    double sum = 0;
    for (size_t c = 0; c < dn_partition_clients(part); c++) {
        const size_t *counts = dn_partition_label_counts(part, c);
        size_t top = 0, n = dn_partition_client_size(part, c);
        for (int d = 0; d < DN_CLASSES; d++)
            if (counts[d] > top) top = counts[d];
        sum += n ? (double)top / (double)n : 0;
    }
    return sum / (double)dn_partition_clients(part);
}

/* iid: n/K ± 1 (the first n mod K clients one more), of all or of the first n. */
static void test_iid_sizes(void **state)
{
    fixture *f = *state;
    const size_t ns[] = {COUNT, 995, 7};
    for (size_t t = 0; t < 3; t++) {
        size_t n = ns[t], k = 7;
        dn_partition *part = make(&f->set, n, k, "iid", 3);
        assert_covers(part, &f->set, n, k);
        for (size_t c = 0; c < k; c++) assert_int_equal(dn_partition_client_size(part, c), n / k + (c < n % k));
        assert_int_equal(dn_partition_get_spec(part)->kind, DN_PARTITION_IID);
        assert_int_equal(dn_partition_seed(part), 3);
        dn_dataset first = dn_dataset_view(&f->set, 0, n);
        assert_int_equal(dn_partition_data_crc32(part), dn_dataset_crc32(&first));
        dn_partition_free(part);
    }
    dn_partition_free(NULL);
}

/* Labels 0–9 in turn: each label's 60 samples are two shards of 30, so
 * every shard holds one label and every client at most two. */
static void test_shards_two_labels(void **state)
{
    (void)state;
    size_t n = 600, k = 10;
    uint8_t *images = calloc(n, DN_IMAGE_PIXELS), *labels = malloc(n);
    assert_non_null(images);
    assert_non_null(labels);
    for (size_t i = 0; i < n; i++) labels[i] = (uint8_t)(i % DN_CLASSES);
    dn_dataset set = {n, images, labels, 0, NULL};
    dn_partition *part = make(&set, n, k, "shards:2", 5);
    assert_covers(part, &set, n, k);
    for (size_t c = 0; c < k; c++) {
        assert_int_equal(dn_partition_client_size(part, c), 60);
        const size_t *counts = dn_partition_label_counts(part, c);
        int present = 0;
        for (int d = 0; d < DN_CLASSES; d++) {
            present += counts[d] > 0;
            assert_true(counts[d] == 0 || counts[d] == 30 || counts[d] == 60);
        }
        assert_true(present >= 1 && present <= 2);
    }
    assert_true(skew(part) >= 0.5);
    dn_partition_free(part);
    /* shards:1 of 20 clients: one label each. */
    part = make(&set, n, 20, "shards:1", 5);
    assert_true(skew(part) == 1.0);
    dn_partition_free(part);
    free(images);
    free(labels);
}

/* Shards on random labels still cover the first n exactly, sizes as the shards give. */
static void test_shards_cover(void **state)
{
    fixture *f = *state;
    dn_partition *part = make(&f->set, 997, 9, "shards:3", 2);
    assert_covers(part, &f->set, 997, 9);
    for (size_t c = 0; c < 9; c++) {
        size_t size = dn_partition_client_size(part, c);
        assert_true(size >= 3 * (997 / 27) && size <= 3 * (997 / 27 + 1));
    }
    dn_partition *again = make(&f->set, 997, 9, "shards:3", 2);
    assert_true(same_partition(part, again));
    dn_partition_free(part);
    dn_partition_free(again);
}

/* The same seed gives the same partition; another seed another; the
 * minimum size holds; α = 0.1 is far more skewed than α = 100. */
static void test_dirichlet(void **state)
{
    fixture *f = *state;
    size_t k = 10;
    dn_partition *a = make(&f->set, COUNT, k, "dirichlet:0.1", 7), *b = make(&f->set, COUNT, k, "dirichlet:0.1", 7);
    dn_partition *c = make(&f->set, COUNT, k, "dirichlet:0.1", 8), *iidish = make(&f->set, COUNT, k, "dirichlet:100", 7);
    assert_covers(a, &f->set, COUNT, k);
    assert_covers(iidish, &f->set, COUNT, k);
    assert_true(same_partition(a, b));
    assert_false(same_partition(a, c));
    for (size_t j = 0; j < k; j++) {
        assert_true(dn_partition_client_size(a, j) >= DN_PARTITION_DIRICHLET_MIN);
        assert_true(dn_partition_client_size(c, j) >= DN_PARTITION_DIRICHLET_MIN);
    }
    double skewed = skew(a), flat = skew(iidish);
    print_message("dirichlet skew: alpha 0.1 %.3f (seed 8: %.3f), alpha 100 %.3f\n", skewed, skew(c), flat);
    assert_true(skewed > 0.5);
    assert_true(skew(c) > 0.5);
    assert_true(flat < 0.25);
    /* Skew rises as α falls, over several seeds. */
    double mean[3] = {0};
    const char *specs[3] = {"dirichlet:100", "dirichlet:1", "dirichlet:0.1"};
    for (int s = 0; s < 3; s++)
        for (uint64_t seed = 1; seed <= 4; seed++) {
            dn_partition *p = make(&f->set, COUNT, k, specs[s], seed);
            mean[s] += skew(p) / 4;
            dn_partition_free(p);
        }
    assert_true(mean[0] < mean[1] && mean[1] < mean[2]);
    /* A minimum of 0 accepts the first draw; tiny α stays finite. */
    dn_partition *tiny = make(&f->set, COUNT, k, "dirichlet:0.001:0", 1);
    assert_covers(tiny, &f->set, COUNT, k);
    for (int d = 0; d < DN_CLASSES; d++) { /* each class goes (nearly) whole to one client */
        size_t top = 0, total = 0;
        for (size_t j = 0; j < k; j++) {
            size_t v = dn_partition_label_counts(tiny, j)[d];
            total += v;
            if (v > top) top = v;
        }
        assert_true((double)top >= 0.95 * (double)total);
    }
    dn_partition_free(tiny);
    dn_partition_free(a);
    dn_partition_free(b);
    dn_partition_free(c);
    dn_partition_free(iidish);
}

/* The Gamma sampler behind Dir(α), through the public API: one class of
 * 4000 samples over K = 2 clients, so client 0's share is a Beta(α, α)
 * draw (to 1/4000), of mean 1/2 and variance 1/(4(2α + 1)). α = 0.3 takes
 * the a < 1 boost, α = 3 Marsaglia–Tsang directly. 400 draws each: the
 * sample variance is within 25 % of the truth (about 3.5 standard errors). */
static void test_dirichlet_is_beta_for_two(void **state)
{
    (void)state;
    size_t n = 4000;
    uint8_t *images = calloc(n, DN_IMAGE_PIXELS), *labels = calloc(n, 1);
    assert_non_null(images);
    assert_non_null(labels);
    dn_dataset set = {n, images, labels, 0, NULL};
    const double alphas[] = {0.3, 3};
    const char *specs[] = {"dirichlet:0.3:0", "dirichlet:3:0"};
    for (int a = 0; a < 2; a++) {
        double sum = 0, sum2 = 0;
        const int draws = 400;
        for (int s = 0; s < draws; s++) {
            dn_partition *part = make(&set, n, 2, specs[a], (uint64_t)s + 1);
            double share = (double)dn_partition_client_size(part, 0) / (double)n;
            sum += share;
            sum2 += share * share;
            dn_partition_free(part);
        }
        double mean = sum / draws, var = sum2 / draws - mean * mean, want = 1 / (4 * (2 * alphas[a] + 1));
        print_message("Dir(%g, %g): mean %.4f (1/2), variance %.4f (%.4f)\n", alphas[a], alphas[a], mean, var, want);
        assert_true(fabs(mean - 0.5) < 4 * sqrt(want / draws));
        assert_true(var > 0.75 * want && var < 1.25 * want);
    }
    free(images);
    free(labels);
}

/* σ > 0: unequal sizes, at least one each, summing to n; σ = 0: iid's sizes. */
static void test_quantity(void **state)
{
    fixture *f = *state;
    size_t k = 20;
    dn_partition *part = make(&f->set, COUNT, k, "quantity:1.5", 4);
    assert_covers(part, &f->set, COUNT, k);
    size_t smallest = COUNT, largest = 0;
    for (size_t c = 0; c < k; c++) {
        size_t size = dn_partition_client_size(part, c);
        assert_true(size >= 1);
        if (size < smallest) smallest = size;
        if (size > largest) largest = size;
    }
    assert_true(largest >= 4 * smallest);
    dn_partition_free(part);
    part = make(&f->set, COUNT, k, "quantity:0", 4);
    for (size_t c = 0; c < k; c++) assert_int_equal(dn_partition_client_size(part, c), COUNT / k);
    dn_partition_free(part);
    part = make(&f->set, 25, 25, "quantity:3", 4); /* K = n: one each */
    for (size_t c = 0; c < 25; c++) assert_int_equal(dn_partition_client_size(part, c), 1);
    dn_partition_free(part);
}

/* Saved, loaded with and without the data: the same partition, spec, seed and CRC. */
static void test_save_load(void **state)
{
    fixture *f = *state;
    const char *specs[] = {"iid", "shards:2", "dirichlet:0.5:3", "quantity:1"};
    for (int s = 0; s < 4; s++) {
        dn_partition *part = make(&f->set, 990, 12, specs[s], 9);
        dn_error err = {0};
        assert_int_equal(dn_partition_save(part, f->path, &err), DN_OK);
        for (int with_data = 0; with_data < 2; with_data++) {
            dn_partition *back = dn_partition_load(f->path, with_data ? &f->set : NULL, &err);
            if (!back) print_message("%s\n", err.message);
            assert_non_null(back);
            assert_true(same_partition(part, back));
            char a[64], b[64];
            dn_partition_format(dn_partition_get_spec(part), a, sizeof a);
            dn_partition_format(dn_partition_get_spec(back), b, sizeof b);
            assert_string_equal(a, specs[s]);
            assert_string_equal(b, specs[s]);
            assert_int_equal(dn_partition_seed(back), 9);
            assert_int_equal(dn_partition_data_crc32(back), dn_partition_data_crc32(part));
            dn_dataset *client = dn_partition_client_set(back, &f->set, 3, &err);
            assert_non_null(client);
            assert_int_equal(client->count, dn_partition_client_size(back, 3));
            assert_int_equal(client->labels[0], f->set.labels[dn_partition_client_indices(back, 3)[0]]);
            dn_dataset_free(client);
            assert_null(dn_partition_client_set(back, &f->set, 12, &err));
            assert_int_equal(err.code, DN_ERR_USAGE);
            dn_partition_free(back);
        }
        dn_partition_free(part);
    }
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *size = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(*size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *size, fp), *size);
    fclose(fp);
    return buf;
}

static void write_all(const char *path, const unsigned char *buf, size_t size)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, size, fp), size);
    fclose(fp);
}

static void assert_refused(const char *path, const dn_dataset *set, dn_status code, const char *text)
{
    dn_error err = {0};
    assert_null(dn_partition_load(path, set, &err));
    print_message("refused: %s\n", err.message);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.message, path));
    if (text) assert_non_null(strstr(err.message, text));
}

/* Truncated, one payload byte flipped, other data, a model, a missing file. */
static void test_bad_files_refused(void **state)
{
    fixture *f = *state;
    dn_partition *part = make(&f->set, COUNT, 10, "dirichlet:1", 1);
    dn_error err = {0};
    assert_int_equal(dn_partition_save(part, f->path, &err), DN_OK);
    size_t size;
    unsigned char *good = read_all(f->path, &size);
    write_all(f->path, good, size / 2);
    assert_refused(f->path, &f->set, DN_ERR_INPUT, NULL);
    write_all(f->path, good, size - 1);
    assert_refused(f->path, NULL, DN_ERR_INPUT, NULL);
    good[size - 40] ^= 1; /* in label_counts: the payload CRC catches it */
    write_all(f->path, good, size);
    assert_refused(f->path, NULL, DN_ERR_INPUT, "CRC");
    good[size - 40] ^= 1;
    write_all(f->path, good, size);
    dn_partition *back = dn_partition_load(f->path, &f->set, &err);
    assert_non_null(back);
    dn_partition_free(back);
    /* Other data: one label changed. */
    uint8_t saved = f->set.labels[5];
    f->set.labels[5] = (uint8_t)((saved + 1) % DN_CLASSES);
    assert_refused(f->path, &f->set, DN_ERR_USAGE, "other data");
    f->set.labels[5] = saved;
    /* A set smaller than the partition. */
    dn_dataset small = dn_dataset_view(&f->set, 0, 10);
    assert_refused(f->path, &small, DN_ERR_USAGE, "covers");
    /* A perceptron model is not a partition. */
    dn_pta_options o;
    dn_pta_options_default(&o);
    o.train_size = 10;
    dn_pta *pta = dn_pta_create(&o, &err);
    assert_non_null(pta);
    dn_model *model = dn_model_from_pta(pta, 0, 0, &err);
    assert_non_null(model);
    assert_int_equal(dn_model_save(model, f->path, &err), DN_OK);
    assert_refused(f->path, NULL, DN_ERR_INPUT, "not a partition");
    dn_model_free(model);
    dn_pta_free(pta);
    /* A partition is not a model either. */
    assert_int_equal(dn_partition_save(part, f->path, &err), DN_OK);
    assert_null(dn_model_load(f->path, &err));
    unlink(f->path);
    assert_refused(f->path, NULL, DN_ERR_IO, NULL);
    free(good);
    dn_partition_free(part);
}

/* Specs: the good ones read back as written, the bad ones refused with the rule. */
static void test_specs(void **state)
{
    (void)state;
    const char *good[] = {"iid", "shards:2", "shards:300", "dirichlet:0.1", "dirichlet:100", "dirichlet:0.5:0",
                          "quantity:0", "quantity:1.5"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        dn_partition_spec spec = spec_of(good[i]);
        char text[64];
        dn_partition_format(&spec, text, sizeof text);
        assert_string_equal(text, good[i]);
    }
    dn_partition_spec spec = spec_of("dirichlet:0.3");
    assert_int_equal(spec.min_size, DN_PARTITION_DIRICHLET_MIN);
    assert_true(spec.alpha == 0.3);
    spec = spec_of("dirichlet:0.3:10"); /* the default MIN is not written */
    char text[64];
    dn_partition_format(&spec, text, sizeof text);
    assert_string_equal(text, "dirichlet:0.3");
    const struct {
        const char *text, *says;
    } bad[] = {{"shards:0", "S in shards:S"},         {"shards:", "S in shards:S"},
               {"shards:-2", "S in shards:S"},        {"shards", "S in shards:S"},
               {"shards:2.5", "S in shards:S"},       {"dirichlet:-1", "ALPHA"},
               {"dirichlet:0", "ALPHA"},              {"dirichlet:nan", "ALPHA"},
               {"dirichlet:inf", "ALPHA"},            {"dirichlet", "ALPHA"},
               {"dirichlet:1:x", "MIN"},              {"dirichlet:1:-1", "MIN"},
               {"quantity:-1", "SIGMA"},              {"quantity:", "SIGMA"},
               {"foo", "unknown partition 'foo'"},    {"", "unknown partition"},
               {"iid:2", "iid takes no value"},       {"IID", "valid: iid, shards:S, dirichlet:ALPHA[:MIN]"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dn_error err = {0};
        assert_int_equal(dn_partition_parse(bad[i].text, &spec, &err), DN_ERR_USAGE);
        if (!strstr(err.message, bad[i].says)) print_message("'%s': %s\n", bad[i].text, err.message);
        assert_non_null(strstr(err.message, bad[i].says));
        assert_int_equal(dn_partition_parse(bad[i].text, &spec, NULL), DN_ERR_USAGE);
    }
    const char *const *names = dn_partition_kind_choices();
    assert_string_equal(names[DN_PARTITION_IID], "iid");
    assert_string_equal(names[DN_PARTITION_SHARDS], "shards");
    assert_string_equal(names[DN_PARTITION_DIRICHLET], "dirichlet");
    assert_string_equal(names[DN_PARTITION_QUANTITY], "quantity");
    assert_null(names[4]);
    for (int k = 0; names[k]; k++) assert_string_equal(dn_partition_kind_name((dn_partition_kind)k), names[k]);
    assert_string_equal(dn_partition_kind_name((dn_partition_kind)4), "?");
}

/* Sizes the data cannot meet are refused with the valid range. */
static void test_make_refuses(void **state)
{
    fixture *f = *state;
    const struct {
        size_t n, k;
        const char *spec, *says;
    } bad[] = {{0, 1, "iid", "train size 0"},          {COUNT + 1, 2, "iid", "train size 1001"},
               {10, 11, "iid", "11 clients"},          {10, 0, "iid", "0 clients"},
               {100, 51, "shards:2", "more shards"},   {100, 11, "dirichlet:1", "at least 10 samples"},
               {100, 10, "dirichlet:0.01:10", "no draw of"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dn_partition_spec spec = spec_of(bad[i].spec);
        dn_error err = {0};
        assert_null(dn_partition_make(&f->set, bad[i].n, bad[i].k, &spec, 1, &err));
        if (!strstr(err.message, bad[i].says)) print_message("%s: %s\n", bad[i].spec, err.message);
        assert_int_equal(err.code, DN_ERR_USAGE);
        assert_non_null(strstr(err.message, bad[i].says));
        assert_null(strstr(err.message, "--"));
    }
    dn_partition_spec spec = spec_of("iid");
    assert_null(dn_partition_make(&f->set, 10, 2, NULL, 1, NULL));
    assert_null(dn_partition_make(NULL, 10, 2, &spec, 1, NULL));
}

/* The heat map of the label counts: one cell per client and label. */
static void test_heatmap(void **state)
{
    fixture *f = *state;
    dn_partition *part = make(&f->set, COUNT, 30, "dirichlet:0.3:1", 2);
    char path[160];
    snprintf(path, sizeof path, "%s/labels.svg", f->dir);
    dn_error err = {0};
    assert_int_equal(dn_plot_heatmap(path, "Labels <per> client", "client", "label", dn_partition_label_counts(part, 0),
                                     30, DN_CLASSES, 1, &err),
                     DN_OK);
    size_t size;
    unsigned char *svg = read_all(path, &size);
    char *text = malloc(size + 1);
    assert_non_null(text);
    memcpy(text, svg, size);
    text[size] = '\0';
    size_t cells = 0;
    for (const char *p = text; (p = strstr(p, "<rect class=\"cell\"")); p++) cells++;
    assert_int_equal(cells, 30 * DN_CLASSES);
    assert_non_null(strstr(text, "Labels &lt;per&gt; client"));
    assert_non_null(strstr(text, "</svg>"));
    free(text);
    free(svg);
    unlink(path);
    assert_int_equal(dn_plot_heatmap(path, NULL, NULL, NULL, dn_partition_label_counts(part, 0), 0, 10, 0, &err),
                     DN_ERR_USAGE);
    assert_int_equal(dn_plot_heatmap(path, NULL, NULL, NULL, dn_partition_label_counts(part, 0), 1, 101, 0, &err),
                     DN_ERR_USAGE);
    assert_int_equal(access(path, F_OK), -1);
    dn_partition_free(part);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_iid_sizes, setup, teardown),
        cmocka_unit_test(test_shards_two_labels),
        cmocka_unit_test_setup_teardown(test_shards_cover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirichlet, setup, teardown),
        cmocka_unit_test(test_dirichlet_is_beta_for_two),
        cmocka_unit_test_setup_teardown(test_quantity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files_refused, setup, teardown),
        cmocka_unit_test(test_specs),
        cmocka_unit_test_setup_teardown(test_make_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heatmap, setup, teardown),
    };
    return dn_tests_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
