/* cmd_import.c — `digitnet import --npy DIR --out MODEL`: a model file from
 * .npy tensors (what `export --npy` writes, or NumPy in the same layout). */
#include "cli.h"

int cmd_import(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    int activation = -1, loss = -1; /* -1: as DIR/digitnet-model.txt says (the help says so) */
    const cli_opt opts[] = {
        {"--npy", CLI_STRING, &dir, "DIR", "folder of layers.K.weight.npy / layers.K.bias.npy, or of W.npy", 0, 0, 0,
         NULL},
        {"--out", CLI_STRING, &out, "MODEL", "the model file to write", 0, 0, 0, NULL},
        {"--activation", CLI_CHOICE, &activation, "F",
         "hidden activation (default: as DIR/" DN_NPY_DESCRIPTION " says, else relu)", 0, 0, 0,
         dn_activation_choices()},
        {"--loss", CLI_CHOICE, &loss, "L",
         "output: ce = softmax, mse = sigmoid (default: as DIR/" DN_NPY_DESCRIPTION " says, else ce)", 0, 0, 0,
         dn_loss_choices()},
    };
    const cli_spec spec = {"import", "",
                           "Make a model file from .npy tensors, float32 for an MLP (chained 784 -> ... -> 10),\n"
                           "float64 or float32 W (10, 784) for a perceptron, every value finite. export --npy\n"
                           "then import gives the same tensors.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    int npos, rc = cli_parse(&spec, argc, argv, NULL, &npos);
    if (rc) return cli_parse_exit_code(rc);
    dn_error err = {0};
    if (!dir || !out) {
        cli_fail(&err, DN_ERR_USAGE, "import needs --npy DIR and --out MODEL (see digitnet import --help)");
        return cli_report(&err);
    }
    dn_model *model = dn_model_import_npy(dir, activation, loss, &err);
    if (!model) return cli_report(&err);
    dn_status s = dn_model_save(model, out, &err);
    if (!s) {
        const dn_mlp *mlp = dn_model_get_mlp(model);
        printf("wrote %s (%s", out, dn_model_kind_name(model));
        for (int k = 0; mlp && k < dn_mlp_layer_count(mlp); k++)
            printf("%s%zu", k ? " -> " : ", 784 -> ", dn_mlp_layer_outputs(mlp, k));
        if (mlp) printf(", %s, loss %s", dn_activation_name(dn_mlp_get_options(mlp)->activation),
                        dn_loss_name(dn_mlp_get_options(mlp)->loss));
        printf(")\n");
    }
    dn_model_free(model);
    return s ? cli_report(&err) : CLI_EXIT_OK;
}
