/* pta_curve.c — the classic perceptron experiment: the multicategory
 * perceptron training algorithm (PTA) on the first n MNIST samples, printing
 * the misclassifications of every epoch (the epoch curve), then the test
 * error of the final W.
 *
 *   usage: pta_curve MNIST_DIR [N [MAX_EPOCHS]]      (N defaults to 1000)
 *   build: cc pta_curve.c $(pkg-config --cflags --libs digitnet) -o pta_curve
 */
#include <stdio.h>
#include <stdlib.h>

#include <digitnet.h>

/* Called after each epoch with the errors of its count pass. */
static int on_epoch(const dn_pta_epoch_report *r, void *user)
{
    (void)user;
    printf("%d,%zu,%.4f\n", r->epoch, r->errors, (double)r->errors / (double)r->n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s MNIST_DIR [N [MAX_EPOCHS]]\n", argv[0]);
        return 2;
    }
    dn_pta_options opt;
    dn_pta_options_default(&opt); /* η = 1, ε = 0, W uniform in [0,1) from seed 1 */
    opt.train_size = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    if (argc > 3) opt.max_epochs = atoi(argv[3]);

    dn_error err = {0};
    dn_dataset *train = NULL, *test = NULL;
    dn_pta *pta = NULL;
    dn_pta_result result;
    int ok = (train = dn_mnist_load(argv[1], "train", &err)) && (test = dn_mnist_load(argv[1], "t10k", &err)) &&
             !dn_pta_options_check(&opt, train->count, &err) && (pta = dn_pta_create(&opt, &err));
    if (ok) printf("epoch,errors,error_rate\n");
    ok = ok && !dn_pta_train(pta, train, on_epoch, NULL, &result, &err);
    if (ok) {
        printf("%s after %d epochs\n", result.converged ? "converged" : "stopped", result.epochs);
        /* The test error of the final W. */
        static double w[DN_CLASSES * DN_IMAGE_PIXELS];
        uint8_t *predicted = malloc(test->count);
        size_t wrong = 0;
        dn_pta_get_weights(pta, w);
        if (predicted) {
            dn_linear_predict(w, test->images, test->count, predicted);
            for (size_t i = 0; i < test->count; i++) wrong += predicted[i] != test->labels[i];
            printf("test errors %zu of %zu (%.2f%%)\n", wrong, test->count, 100.0 * (double)wrong / (double)test->count);
        }
        free(predicted);
    } else {
        fprintf(stderr, "pta_curve: %s\n", err.message);
    }
    dn_pta_free(pta);
    dn_dataset_free(test);
    dn_dataset_free(train);
    return ok ? 0 : 1;
}
