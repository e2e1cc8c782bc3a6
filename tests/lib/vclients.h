/* vclients.h — the fixture of the virtual-client tests (test_vclients, test_robust,
 * test_heterogeneity): a synthetic set of VCLIENTS_COUNT samples, a
 * partition of it, and a small network. Include after <cmocka.h>,
 * digitnet.h and lib/synthetic.h. */
#ifndef DN_TESTS_VCLIENTS_H
#define DN_TESTS_VCLIENTS_H

#define VCLIENTS_COUNT 120

static inline dn_dataset *vclients_set(void)
{
    dn_dataset *set = calloc(1, sizeof *set);
    uint8_t *images = calloc(VCLIENTS_COUNT, DN_IMAGE_PIXELS), *labels = malloc(VCLIENTS_COUNT);
    assert_true(set && images && labels);
    dn_test_fill_synthetic(images, labels, VCLIENTS_COUNT, 5, 4);
    *set = (dn_dataset){VCLIENTS_COUNT, images, labels, 1, NULL};
    return set;
}

/* k clients of set as spec_text says, partition seed 11. */
static inline dn_partition *vclients_partition(const dn_dataset *set, size_t k, const char *spec_text)
{
    dn_partition_spec spec;
    dn_error err = {0};
    assert_int_equal(dn_partition_parse(spec_text, &spec, &err), DN_OK);
    dn_partition *part = dn_partition_make(set, set->count, k, &spec, 11, &err);
    assert_non_null(part);
    return part;
}

/* 784-16-10, one thread; sgd: plain SGD (no momentum) at a constant rate. */
static inline dn_mlp *vclients_network(uint64_t seed, size_t batch, int sgd)
{
    dn_mlp_options o;
    dn_mlp_options_default(&o);
    dn_error err = {0};
    assert_int_equal(dn_mlp_parse_hidden("16", &o, &err), DN_OK);
    o.seed = seed;
    o.epochs = 10;
    o.batch = batch;
    o.threads = 1;
    if (sgd) o.momentum = 0, o.schedule = DN_SCHEDULE_NONE;
    dn_mlp *mlp = dn_mlp_create(&o, &err);
    assert_non_null(mlp);
    return mlp;
}

static inline void vclients_same_params(dn_mlp *a, dn_mlp *b)
{
    size_t na, nb;
    const float *pa = dn_mlp_params(a, &na), *pb = dn_mlp_params(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na * sizeof *pa);
}

/* A whole run of the library's loop: create, resume (when o asks), train, free. */
static inline dn_status vclients_run_loop(dn_mlp *mlp, const dn_mlp_run_options *o, const dn_dataset *set,
                                          dn_error *err)
{
    dn_mlp_run *run = dn_mlp_run_create(mlp, o, set, err);
    if (!run) return err->code;
    dn_status s = dn_mlp_run_resume(run, err);
    if (!s) s = dn_mlp_run_train(run, err);
    dn_mlp_run_free(run);
    return s;
}

#endif /* DN_TESTS_VCLIENTS_H */
