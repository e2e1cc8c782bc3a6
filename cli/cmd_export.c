/* cmd_export.c — `digitnet export MODEL [--npy DIR] [--onnx FILE]
 * [--c-source FILE.c [--c-header FILE.h]]`: every tensor of a model as a
 * NumPy file, so the network can be rebuilt in a few lines of numpy; the
 * model as an ONNX graph, for ONNX Runtime; and the model as one C99 file
 * that classifies without digitnet. */
#include "cli.h"

static void print_npy_files(const dn_model *model, const char *dir, size_t written)
{
    const dn_mlp *mlp = dn_model_get_mlp(model);
    printf("wrote %zu files to %s:", written, dir);
    for (int k = 0; mlp && k < dn_mlp_layer_count(mlp); k++) printf(" layers.%d.weight.npy layers.%d.bias.npy", k, k);
    printf("%s %s\n", mlp ? "" : " W.npy", DN_NPY_DESCRIPTION);
}

int cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *onnx = NULL, *c_source = NULL, *c_header = NULL;
    const cli_opt opts[] = {
        {"--npy", CLI_STRING, &dir, "DIR", "folder for the .npy files (created if missing)", 0, 0, 0, NULL},
        {"--onnx", CLI_STRING, &onnx, "FILE", "the model as ONNX (opset 13) for ONNX Runtime", 0, 0, 0, NULL},
        {"--c-source", CLI_STRING, &c_source, "FILE", "write the model as one C99 file (needs only libm)", 0, 0, 0,
         NULL},
        {"--c-header", CLI_STRING, &c_header, "FILE",
         "also write a header declaring digitnet_classify (with --c-source)", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"export", "MODEL",
                           "Write a model's tensors as .npy (numpy.load reads them), as ONNX, or as C source:\n"
                           "  --npy: MLP: layers.K.weight.npy (float32, (out, in)) and layers.K.bias.npy (float32,\n"
                           "       (out)) for K = 0..L-1; a = x/255, then a = f(a @ W.T + b) layer by layer.\n"
                           "       perceptron: W.npy (float64, (10, 784)), prediction = argmax(W @ (x/255)).\n"
                           "       " DN_NPY_DESCRIPTION " names the kind, activation and loss (for import --npy).\n"
                           "  --onnx: input 'image' (N, 784) float = x/255; output 'probabilities' (N, 10) float\n"
                           "       (MLP) or 'scores' (N, 10) double (perceptron).\n"
                           "  --c-source: static const weights and int digitnet_classify(const float pixels[784],\n"
                           "       float probabilities[10]), pixels = byte/255 of an MNIST-style 28x28 image (no PNG\n"
                           "       centring); the same class as digitnet. Any of the outputs may be combined.",
                           opts, (int)(sizeof opts / sizeof *opts), 1, 1};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    dn_error err = {0};
    if (c_header && !c_source) {
        cli_fail(&err, DN_ERR_USAGE, "--c-header needs --c-source (the header declares the source's function)");
        return cli_report(&err);
    }
    if (!dir && !onnx && !c_source) {
        cli_fail(&err, DN_ERR_USAGE, "export needs --npy DIR, --onnx FILE or --c-source FILE (see digitnet export --help)");
        return cli_report(&err);
    }
    dn_model *model = dn_model_load(pos[0], &err);
    if (!model) return cli_report(&err);
    size_t written = 0;
    dn_status s = dir ? dn_model_export_npy(model, dir, &written, &err) : DN_OK;
    if (!s && dir) print_npy_files(model, dir, written);
    if (!s && onnx && !(s = dn_model_export_onnx(model, onnx, &err)))
        printf("wrote %s: ONNX, input image (N, 784) float, output %s (N, 10)\n", onnx,
               dn_model_get_mlp(model) ? "probabilities" : "scores");
    if (!s && c_source) s = dn_model_export_c(model, c_source, c_header, &err);
    if (!s && c_source) printf("wrote %s%s%s\n", c_source, c_header ? " and " : "", c_header ? c_header : "");
    dn_model_free(model);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
