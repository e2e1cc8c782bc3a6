/* cmd_export.c — `digitnet export MODEL --npy DIR`: every tensor of a model
 * as a NumPy file, so the network can be rebuilt in a few lines of numpy;
 * `--onnx FILE`: the model as an ONNX graph, for ONNX Runtime. */
#include "cli.h"

int cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *onnx = NULL;
    const cli_opt opts[] = {
        {"--npy", CLI_STRING, &dir, "DIR", "folder for the .npy files (created if missing)", 0, 0, 0, NULL},
        {"--onnx", CLI_STRING, &onnx, "FILE", "the model as ONNX (opset 13) for ONNX Runtime", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"export", "MODEL",
                           "Write every tensor of a model as .npy (numpy.load reads them):\n"
                           "  MLP: layers.K.weight.npy (float32, (out, in)) and layers.K.bias.npy (float32, (out))\n"
                           "       for K = 0..L-1; a = x/255, then a = f(a @ W.T + b) layer by layer.\n"
                           "  perceptron: W.npy (float64, (10, 784)), prediction = argmax(W @ (x/255)).\n"
                           "and/or the model as one ONNX file: input 'image' (N, 784) float = x/255;\n"
                           "  output 'probabilities' (N, 10) float (MLP) or 'scores' (N, 10) double (perceptron).",
                           opts, 2, 1, 1};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    dn_error err = {0};
    if (!dir && !onnx) {
        cli_fail(&err, DN_ERR_USAGE, "export needs --npy DIR or --onnx FILE (see digitnet export --help)");
        return cli_report(&err);
    }
    dn_model *model = dn_model_load(pos[0], &err);
    if (!model) return cli_report(&err);
    size_t written = 0;
    dn_status s = dir ? dn_model_export_npy(model, dir, &written, &err) : DN_OK;
    if (!s && dir) {
        const dn_mlp *mlp = dn_model_get_mlp(model);
        printf("wrote %zu files to %s:", written, dir);
        for (int k = 0; mlp && k < dn_mlp_layer_count(mlp); k++) printf(" layers.%d.weight.npy layers.%d.bias.npy", k, k);
        printf("%s\n", mlp ? "" : " W.npy");
    }
    if (!s && onnx && !(s = dn_model_export_onnx(model, onnx, &err)))
        printf("wrote %s: ONNX, input image (N, 784) float, output %s (N, 10)\n", onnx,
               dn_model_get_mlp(model) ? "probabilities" : "scores");
    dn_model_free(model);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
