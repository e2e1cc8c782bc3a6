/* fuzz_model.c — the safetensors container (dn_st_read) through its five
 * users: the model loader (dn_model_load), the perceptron checkpoint loader
 * of one process (dn_pta_checkpoint_load, comm NULL), the loaders given a
 * communicator: dn_mlp_checkpoint_load (mode "sync", into a network with one
 * hidden layer of 16 units, made once) and dn_pta_checkpoint_load (mode
 * "mix"), and the partition loader (dn_partition_load, without data).
 * Every input is offered to all five. This build has no MPI, so
 * dn_comm_init gives a job of one process (rank 0 of 1): the distributed
 * loaders read the file themselves and their collective steps are no-ops.
 *
 * Whatever loads must be usable and must round-trip: saved again and
 * reloaded, a model classifies a test image the same way, a checkpoint
 * gives back the same W (bit for bit), epochs and curve length, and an MLP
 * checkpoint the same parameters (bit for bit), epochs, train_size and
 * fault generator, and a partition the same clients' samples (disjoint,
 * ascending, covering [0, n)) and label counts. Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION,
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
    FUZZ_CHECK(dn_pta_checkpoint_save(pta, NULL, curve, 0, copy, NULL, NULL, &err) == DN_OK);
    dn_pta_curve curve2;
    dn_pta *again = dn_pta_checkpoint_load(NULL, copy, NULL, NULL, &curve2, NULL, NULL, &err);
    FUZZ_CHECK(again != NULL);
    dn_pta_get_weights(pta, w1);
    dn_pta_get_weights(again, w2);
    FUZZ_CHECK(memcmp(w1, w2, sizeof w1) == 0);
    FUZZ_CHECK(dn_pta_epochs_done(pta) == dn_pta_epochs_done(again) && curve2.epochs == curve->epochs);
    dn_pta_curve_free(&curve2);
    dn_pta_free(again);
}

/* The two distributed kinds, for a job of one process. */
#define MLP_MODE "sync"
#define PTA_MODE "mix"

static dn_comm *fuzz_comm(void)
{
    static dn_comm *comm;
    if (!comm) {
        dn_error err = {DN_OK, ""};
        comm = dn_comm_local(&err); /* the distributed checkpoints, read by a job of one */
        FUZZ_CHECK(comm != NULL && dn_comm_rank(comm) == 0 && dn_comm_size(comm) == 1);
    }
    return comm;
}

/* A network of the seeds' shape (784 -> 16 -> 10), made once. */
static dn_mlp *fuzz_mlp(void)
{
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    dn_error err = {DN_OK, ""};
    FUZZ_CHECK(dn_mlp_parse_hidden("16", &opt, &err) == DN_OK);
    dn_mlp *mlp = dn_mlp_create(&opt, &err);
    FUZZ_CHECK(mlp != NULL);
    return mlp;
}

static void check_mlp_checkpoint(dn_mlp *mlp, dn_mlp *again, const dn_rng *rng, const char *copy)
{
    dn_comm *comm = fuzz_comm();
    dn_error err = {DN_OK, ""};
    FUZZ_CHECK(dn_mlp_checkpoint_save(mlp, comm, copy, MLP_MODE, rng, &err) == DN_OK);
    dn_rng rng2;
    memset(&rng2, 0xa5, sizeof rng2);
    FUZZ_CHECK(dn_mlp_checkpoint_load(again, comm, copy, MLP_MODE, &rng2, &err) == DN_OK);
    size_t n1 = 0, n2 = 0;
    const float *p1 = dn_mlp_params(mlp, &n1), *p2 = dn_mlp_params(again, &n2);
    FUZZ_CHECK(n1 == n2 && memcmp(p1, p2, n1 * sizeof *p1) == 0);
    FUZZ_CHECK(dn_mlp_epochs_done(mlp) == dn_mlp_epochs_done(again));
    FUZZ_CHECK(dn_mlp_train_size(mlp) == dn_mlp_train_size(again));
    FUZZ_CHECK(memcmp(rng->s, rng2.s, sizeof rng->s) == 0);
}

static void check_pta_dist_checkpoint(const dn_pta *pta, const dn_pta_curve *curve, uint32_t crc,
                                      const dn_rng *rng, const char *copy)
{
    static double w1[W_VALUES], w2[W_VALUES];
    dn_comm *comm = fuzz_comm();
    dn_error err = {DN_OK, ""};
    FUZZ_CHECK(dn_pta_checkpoint_save(pta, comm, curve, crc, copy, PTA_MODE, rng, &err) == DN_OK);
    dn_pta_curve curve2;
    uint32_t crc2 = 0;
    dn_rng rng2;
    memset(&rng2, 0xa5, sizeof rng2);
    dn_pta *again = dn_pta_checkpoint_load(comm, copy, PTA_MODE, NULL, &curve2, &crc2, &rng2, &err);
    FUZZ_CHECK(again != NULL);
    dn_pta_get_weights(pta, w1);
    dn_pta_get_weights(again, w2);
    FUZZ_CHECK(memcmp(w1, w2, sizeof w1) == 0);
    FUZZ_CHECK(dn_pta_epochs_done(pta) == dn_pta_epochs_done(again) && curve2.epochs == curve->epochs);
    FUZZ_CHECK(crc2 == crc && memcmp(rng->s, rng2.s, sizeof rng->s) == 0);
    dn_pta_curve_free(&curve2);
    dn_pta_free(again);
}

static void check_partition(const dn_partition *part, const char *copy)
{
    size_t n = dn_partition_train_size(part), k = dn_partition_clients(part), total = 0;
    FUZZ_CHECK(k >= 1 && k <= n);
    for (size_t c = 0; c < k; c++) {
        const size_t *index = dn_partition_client_indices(part, c), *counts = dn_partition_label_counts(part, c);
        size_t size = dn_partition_client_size(part, c), sum = 0;
        for (size_t i = 0; i < size; i++) FUZZ_CHECK(index[i] < n && (i == 0 || index[i - 1] < index[i]));
        for (int d = 0; d < DN_CLASSES; d++) sum += counts[d];
        FUZZ_CHECK(sum == size);
        total += size;
    }
    FUZZ_CHECK(total == n);
    dn_error err = {DN_OK, ""};
    FUZZ_CHECK(dn_partition_save(part, copy, &err) == DN_OK);
    dn_partition *again = dn_partition_load(copy, NULL, &err);
    FUZZ_CHECK(again != NULL && dn_partition_clients(again) == k && dn_partition_train_size(again) == n);
    for (size_t c = 0; c < k; c++) {
        size_t size = dn_partition_client_size(part, c);
        FUZZ_CHECK(dn_partition_client_size(again, c) == size);
        FUZZ_CHECK(memcmp(dn_partition_client_indices(part, c), dn_partition_client_indices(again, c),
                          size * sizeof(size_t)) == 0);
        FUZZ_CHECK(memcmp(dn_partition_label_counts(part, c), dn_partition_label_counts(again, c),
                          DN_CLASSES * sizeof(size_t)) == 0);
    }
    FUZZ_CHECK(dn_partition_seed(part) == dn_partition_seed(again));
    FUZZ_CHECK(dn_partition_data_crc32(part) == dn_partition_data_crc32(again));
    dn_partition_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[320], copy[320];
    static dn_mlp *mlp, *mlp_again;
    if (!path[0]) {
        fuzz_path("model.st", path, sizeof path);
        fuzz_path("copy.st", copy, sizeof copy);
        mlp = fuzz_mlp();
        mlp_again = fuzz_mlp();
    }
    fuzz_write(path, data, size);

    dn_error err = {DN_OK, ""};
    dn_model *model = dn_model_load(path, &err);
    if (model) check_model(model, copy);
    else fuzz_check_error(&err, path);
    dn_model_free(model);

    dn_pta_curve curve;
    dn_error err2 = {DN_OK, ""};
    dn_pta *pta = dn_pta_checkpoint_load(NULL, path, NULL, NULL, &curve, NULL, NULL, &err2);
    if (pta) check_checkpoint(pta, &curve, copy);
    else fuzz_check_error(&err2, path);
    dn_pta_curve_free(&curve);
    dn_pta_free(pta);

    dn_rng rng;
    dn_error err3 = {DN_OK, ""};
    if (dn_mlp_checkpoint_load(mlp, fuzz_comm(), path, MLP_MODE, &rng, &err3) == DN_OK)
        check_mlp_checkpoint(mlp, mlp_again, &rng, copy);
    else fuzz_check_error(&err3, path);

    uint32_t crc = 0;
    dn_error err4 = {DN_OK, ""};
    pta = dn_pta_checkpoint_load(fuzz_comm(), path, PTA_MODE, NULL, &curve, &crc, &rng, &err4);
    if (pta) check_pta_dist_checkpoint(pta, &curve, crc, &rng, copy);
    else fuzz_check_error(&err4, path);
    dn_pta_curve_free(&curve);
    dn_pta_free(pta);

    dn_error err5 = {DN_OK, ""};
    dn_partition *part = dn_partition_load(path, NULL, &err5);
    if (part) check_partition(part, copy);
    else fuzz_check_error(&err5, path);
    dn_partition_free(part);
    return 0;
}
