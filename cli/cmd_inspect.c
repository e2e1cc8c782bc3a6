/* cmd_inspect.c — `digitnet inspect MODEL`: what a model file holds, layer
 * by layer, with the statistics of every weight tensor. */
#include "cli.h"

static void print_stats_row(const char *what, dn_stats st)
{
    printf("    %-7s min %+.5f  max %+.5f  mean %+.6f  std %.6f\n", what, st.min, st.max, st.mean, st.std);
}

static void print_meta(const dn_model *model)
{
    printf("metadata:\n");
    for (size_t i = 0; i < dn_model_meta_count(model); i++) {
        const char *key = dn_model_meta_key(model, i);
        printf("  %-16s %s\n", key, dn_model_meta(model, key));
    }
}

static void print_mlp(const dn_mlp *mlp)
{
    size_t total = 0;
    printf("layers (W stored (out, in); a_{k+1} = f(W a_k + b)):\n");
    for (int k = 0; k < dn_mlp_layer_count(mlp); k++) {
        size_t out = dn_mlp_layer_outputs(mlp, k), in = dn_mlp_layer_inputs(mlp, k), params = out * in + out;
        total += params;
        printf("  layer %d: %zu -> %zu, %s, %zu parameters (layers.%d.weight (%zu, %zu), layers.%d.bias (%zu))\n", k,
               in, out, dn_activation_name(dn_mlp_layer_activation(mlp, k)), params, k, out, in, k, out);
        print_stats_row("weight", dn_stats_f32(dn_mlp_weights(mlp, k), out * in));
        print_stats_row("bias", dn_stats_f32(dn_mlp_bias(mlp, k), out));
    }
    printf("total parameters: %zu\n", total);
}

static void print_perceptron(const dn_model *model)
{
    printf("layers (one linear layer, prediction = argmax W x, no bias):\n");
    printf("  W: 784 -> 10, %d parameters (W (10, 784))\n", DN_CLASSES * DN_IMAGE_PIXELS);
    print_stats_row("W", dn_stats_f64(dn_model_perceptron_weights(model), DN_CLASSES * DN_IMAGE_PIXELS));
}

int cmd_inspect(int argc, char **argv)
{
    const cli_opt opts[1] = {{0}};
    const cli_spec spec = {"inspect", "MODEL",
                           "Show a model: its metadata, each layer's shape, activation, parameter count and weight "
                           "statistics.",
                           opts, 0, 1, 1};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    dn_error err = {0};
    dn_model *model = dn_model_load(pos[0], &err);
    if (!model) return cli_report(&err);
    printf("model: %s (%s)\n", pos[0], dn_model_kind_name(model));
    print_meta(model);
    const dn_mlp *mlp = dn_model_get_mlp(model);
    if (mlp) print_mlp(mlp);
    else print_perceptron(model);
    dn_model_free(model);
    return CLI_EXIT_OK;
}
