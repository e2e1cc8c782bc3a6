/* cmd_predict.c — `digitnet predict MODEL INPUT...`: classify PNG images or
 * the images of an IDX file, one line per image. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_INPUTS 4096

typedef enum input_kind { INPUT_PNG, INPUT_IDX, INPUT_UNKNOWN } input_kind;

/* By the first bytes: the PNG signature, an IDX image magic, or gzip. */
static input_kind sniff(const char *path, dn_error *err)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char idx_magic[4] = {0, 0, 8, 3}, gzip_magic[2] = {0x1f, 0x8b};
    unsigned char head[8] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cli_fail(err, DN_ERR_IO, "%s: cannot open", path);
        return INPUT_UNKNOWN;
    }
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    if (got == 8 && memcmp(head, png_sig, 8) == 0) return INPUT_PNG;
    if ((got >= 4 && memcmp(head, idx_magic, 4) == 0) || (got >= 2 && memcmp(head, gzip_magic, 2) == 0))
        return INPUT_IDX;
    cli_fail(err, DN_ERR_INPUT, "%s: neither a PNG nor an IDX image file", path);
    return INPUT_UNKNOWN;
}

/* A JSON string of a file name: quotes, backslashes and control bytes escaped. */
static void print_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') printf("\\%c", *c);
        else if (*c < 0x20) printf("\\u%04x", *c);
        else putchar(*c);
    }
    putchar('"');
}

/* One line per image: text, or with --json {"input", "digit", "probabilities"}
 * at %.9g, the digits a float needs (what digitnet serve answers). */
static void print_line(const char *name, size_t index, int indexed, uint8_t predicted, const float *p, int json)
{
    char label[32] = "";
    if (indexed) snprintf(label, sizeof label, "[%zu]", index);
    if (json) {
        char *full = malloc(strlen(name) + sizeof label);
        if (full) sprintf(full, "%s%s", name, label);
        printf("{\"input\": ");
        print_json_string(full ? full : name);
        free(full);
        printf(", \"digit\": %d, \"probabilities\": [", predicted);
        for (int j = 0; j < DN_CLASSES; j++) printf(j ? ", %.9g" : "%.9g", p[j]);
        printf("]}\n");
        return;
    }
    printf("%s%s predicted: %d probabilities:", name, label, predicted);
    for (int j = 0; j < DN_CLASSES; j++) printf(" %.4f", p[j]);
    printf("\n");
}

/* Classifies count images and prints them as name or name[i]. */
static dn_status predict(const dn_model *model, const char *name, const uint8_t *images, size_t count, int indexed,
                         int json, dn_error *err)
{
    uint8_t *pred = malloc(count ? count : 1);
    float *scores = malloc((count ? count : 1) * DN_CLASSES * sizeof *scores);
    dn_status s = pred && scores ? dn_model_classify(model, images, count, pred, scores, err)
                                 : cli_fail(err, DN_ERR_NOMEM, "%s: out of memory for %zu predictions", name, count);
    for (size_t i = 0; !s && i < count; i++) print_line(name, i, indexed, pred[i], scores + i * DN_CLASSES, json);
    free(pred);
    free(scores);
    return s;
}

static dn_status predict_file(const dn_model *model, const char *path, int json, dn_error *err)
{
    input_kind kind = sniff(path, err);
    if (kind == INPUT_UNKNOWN) return err->code;
    if (kind == INPUT_PNG) {
        uint8_t image[DN_IMAGE_PIXELS];
        dn_status s = dn_png_read_digit(path, image, err);
        return s ? s : predict(model, path, image, 1, 0, json, err);
    }
    size_t count = 0;
    uint8_t *images = dn_idx_images_read(path, &count, err);
    if (!images) return err->code;
    dn_status s = predict(model, path, images, count, 1, json, err);
    free(images);
    return s;
}

int cmd_predict(int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {
        {"--json", CLI_FLAG, &json, NULL,
         "one JSON object per line instead: {\"input\": NAME, \"digit\": D, \"probabilities\": [p0, ..., p9]}, "
         "probabilities at %.9g (a perceptron's raw scores W x)", 0, 0, 0, NULL},
    };
    const cli_spec spec = {"predict", "MODEL INPUT...",
                           "Classify images: PNG files (any size or colour, made 28x28 as MNIST was) or IDX image "
                           "files.\nPrints '<input> predicted: D probabilities: p0 ... p9' per image; an IDX file's "
                           "images are named FILE[i].",
                           opts, (int)(sizeof opts / sizeof *opts), 2, MAX_INPUTS + 1};
    const char **pos = malloc((MAX_INPUTS + 1) * sizeof *pos);
    if (!pos) return CLI_EXIT_NOMEM;
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) {
        free(pos);
        return cli_parse_exit_code(rc);
    }
    dn_error err = {0};
    dn_model *model = dn_model_load(pos[0], &err);
    if (!model) {
        free(pos);
        return cli_report(&err);
    }
    /* Every input is tried; a bad one is reported and the exit code says so. */
    rc = CLI_EXIT_OK;
    for (int i = 1; i < npos; i++)
        if (predict_file(model, pos[i], json, &err)) rc = cli_report(&err);
    dn_model_free(model);
    free(pos);
    return rc;
}
