/* cmd_activations.c — `digitnet activations MODEL --layer K --count N --npy
 * FILE`: the outputs of one layer of an MLP for the first N images; for a
 * perceptron, its one layer: the scores W x (float32, as dn_model_classify
 * gives them), which is what an exported model is compared against. */
#include <stdlib.h>

#include "cli.h"

/* How many activations are exactly 0 (dead relu units show up here). */
static size_t count_zeros(const float *a, size_t n)
{
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += a[i] == 0.0f;
    return zeros;
}

/* A perceptron's scores: dn_model_classify's, its classes dropped. */
static dn_status perceptron_scores(const dn_model *model, const uint8_t *images, size_t count, float *a, dn_error *err)
{
    uint8_t *predicted = malloc(count);
    if (!predicted) return cli_fail(err, DN_ERR_NOMEM, "out of memory for %zu predictions", count);
    dn_status s = dn_model_classify(model, images, count, predicted, a, err);
    free(predicted);
    return s;
}

static dn_status write_activations(const dn_model *model, const dn_dataset *set, int layer, size_t first,
                                   size_t count, const char *path, dn_error *err)
{
    const dn_mlp *mlp = dn_model_get_mlp(model);
    const uint8_t *images = set->images + first * DN_IMAGE_PIXELS;
    size_t width = mlp ? dn_mlp_layer_outputs(mlp, layer) : DN_CLASSES;
    float *a = malloc((count * width > 0 ? count * width : 1) * sizeof *a);
    if (!a) return cli_fail(err, DN_ERR_NOMEM, "out of memory for %zu × %zu activations", count, width);
    dn_status s = mlp ? dn_mlp_forward(mlp, images, count, layer, a, err) : perceptron_scores(model, images, count, a, err);
    const size_t shape[2] = {count, width};
    if (!s) s = dn_npy_write(path, 'f', a, shape, 2, err);
    if (!s) {
        dn_stats st = dn_stats_f32(a, count * width);
        printf("wrote %s: (%zu, %zu) float32, the %s outputs of layer %d for images %zu..%zu\n", path, count, width,
               mlp ? dn_activation_name(dn_mlp_layer_activation(mlp, layer)) : "linear (W x)", layer, first,
               first + count - 1);
        printf("min %.5f  max %.5f  mean %.5f  std %.5f  exactly zero: %.1f%%\n", st.min, st.max, st.mean, st.std,
               100.0 * (double)count_zeros(a, count * width) / (double)(count * width));
    }
    free(a);
    return s;
}

int cmd_activations(int argc, char **argv)
{
    const char *data = "data/mnist", *npy = NULL;
    int layer = 0, split = 0;
    size_t count = 100, first = 0;
    const char *const *splits = dn_mnist_split_choices(); /* index 0, the default: "t10k" */
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &data, "DIR", "MNIST-format folder", 0, 0, 0, NULL},
        {"--split", CLI_CHOICE, &split, "S", "which images", 0, 0, 0, splits},
        {"--layer", CLI_INT, &layer, "K", "layer 0..L-1 (L-1 = the output probabilities; a perceptron's 0: W x)", 0,
         DN_MLP_MAX_HIDDEN, 0, NULL},
        {"--first", CLI_SIZE, &first, "F", "start at image F", 0, 1e6, 0, NULL},
        {"--count", CLI_SIZE, &count, "N", "number of images", 1, 1e6, 0, NULL},
        {"--npy", CLI_STRING, &npy, "FILE", "write the (N, width) float32 activations here", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"activations", "MODEL",
                           "Write the activations of layer K of an MLP (or a perceptron's scores) for N images as .npy.",
                           opts, (int)(sizeof opts / sizeof *opts), 1, 1};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    dn_error err = {0};
    if (!npy) {
        cli_fail(&err, DN_ERR_USAGE, "activations needs --npy FILE (see digitnet activations --help)");
        return cli_report(&err);
    }
    dn_model *model = dn_model_load(pos[0], &err);
    if (!model) return cli_report(&err);
    const dn_mlp *mlp = dn_model_get_mlp(model);
    dn_dataset *set = NULL;
    dn_status s = DN_OK;
    int layers = mlp ? dn_mlp_layer_count(mlp) : 1;
    if (layer >= layers) s = cli_fail(&err, DN_ERR_USAGE, "--layer %d: %s has layers 0 to %d", layer, pos[0], layers - 1);
    else if (!(set = dn_mnist_load(data, splits[split], &err))) s = err.code;
    else if (first >= set->count || count > set->count - first)
        s = cli_fail(&err, DN_ERR_USAGE, "--first %zu --count %zu: the %s split has %zu images", first, count,
                     splits[split], set->count);
    if (!s) s = write_activations(model, set, layer, first, count, npy, &err);
    dn_dataset_free(set);
    dn_model_free(model);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
