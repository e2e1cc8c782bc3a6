/* train_mlp.c — train a multi-layer network on MNIST, report every epoch
 * through a callback, measure it on the test set and save it.
 *
 *   usage: train_mlp MNIST_DIR MODEL_OUT [TRAIN_SIZE [EPOCHS]]
 *   build: cc train_mlp.c $(pkg-config --cflags --libs digitnet) -o train_mlp
 */
#include <stdio.h>
#include <stdlib.h>

#include <digitnet.h>

/* Called by dn_mlp_train after each epoch: a program's own progress line.
 * Returning non-zero would stop training early. */
static int on_epoch(const dn_mlp_epoch_report *r, void *user)
{
    const dn_mlp_options *opt = user;
    printf("epoch %2d/%d  loss %.4f  train accuracy %.4f  lr %.4f  %.2f s\n", r->epoch + 1, opt->epochs,
           r->train_loss, r->train_accuracy, r->lr, r->seconds);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s MNIST_DIR MODEL_OUT [TRAIN_SIZE [EPOCHS]]\n", argv[0]);
        return 2;
    }
    dn_error err = {0};
    dn_dataset *train = NULL, *test = NULL;
    dn_mlp *mlp = NULL;
    dn_model *model = NULL;
    dn_mlp_options opt;
    dn_mlp_options_default(&opt); /* 784-300-100-10, ReLU, SGD: see digitnet.h */
    if (argc > 4) opt.epochs = atoi(argv[4]);

    int ok = (train = dn_mnist_load(argv[1], "train", &err)) && (test = dn_mnist_load(argv[1], "t10k", &err));
    /* A view of the first TRAIN_SIZE samples: no copy. */
    size_t n = ok && argc > 3 ? strtoul(argv[3], NULL, 10) : ok ? train->count : 0;
    dn_dataset subset = ok ? dn_dataset_view(train, 0, n < train->count ? n : train->count) : (dn_dataset){0};
    ok = ok && (mlp = dn_mlp_create(&opt, &err)) && !dn_mlp_train(mlp, &subset, on_epoch, &opt, &err);

    dn_mlp_eval eval;
    ok = ok && !dn_mlp_evaluate(mlp, test, &eval, &err);
    if (ok) printf("test accuracy %.4f (%zu of %zu)\n", eval.accuracy, eval.correct, eval.count);
    /* The model file records a checksum of the data it was trained on. */
    ok = ok && (model = dn_model_from_mlp(mlp, dn_dataset_crc32(&subset), &err)) &&
         !dn_model_save(model, argv[2], &err);
    if (ok) printf("saved %s\n", argv[2]);
    else fprintf(stderr, "train_mlp: %s\n", err.message);

    dn_model_free(model);
    dn_mlp_free(mlp);
    dn_dataset_free(test);
    dn_dataset_free(train);
    return ok ? 0 : 1;
}
