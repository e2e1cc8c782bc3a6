/* cmd_augment.c — `digitnet augment --out grid.png`: what --augment does to
 * digits, as a PNG grid: each row one training image, the original in the
 * first column, then its distortions in the epochs 0, 1, … (the ones
 * `digitnet mlp --augment … --seed S` trains image i on). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mlp_regularise.h"

#define DEFAULT_AUGMENT "elastic:4,34+affine:10,0.1,10,2"

/* count rows of 1 + variants images: image i, then its distortions. */
static uint8_t *grid_images(const dn_augment *aug, uint64_t seed, const dn_dataset *set, size_t count, int variants)
{
    const size_t cols = 1 + (size_t)variants;
    uint8_t *grid = malloc(count * cols * DN_IMAGE_PIXELS);
    if (!grid) return NULL;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *image = set->images + i * DN_IMAGE_PIXELS;
        uint8_t *row = grid + i * cols * DN_IMAGE_PIXELS;
        memcpy(row, image, DN_IMAGE_PIXELS);
        for (int e = 0; e < variants; e++)
            dn_augment_image(aug, dn_augment_key(seed, e, i), image, row + (size_t)(1 + e) * DN_IMAGE_PIXELS);
    }
    return grid;
}

int cmd_augment(int argc, char **argv)
{
    const char *data = "data/mnist", *out = NULL;
    cli_strings augment = {{NULL}, 0};
    size_t count = 8;
    int variants = 7, scale = 4;
    uint64_t seed = 1;
    const cli_opt opts[] = {
        {"--data", CLI_STRING, &data, "DIR", "MNIST-format folder (its first training images are drawn)", 0, 0, 0,
         NULL},
        {"--out", CLI_STRING, &out, "FILE.png", "the grid to write (required)", 0, 0, 0, NULL},
        MLP_AUGMENT_OPT(augment, DEFAULT_AUGMENT),
        {"--count", CLI_SIZE, &count, "N", "rows: the first N training images", 1, 1000, 0, NULL},
        {"--variants", CLI_INT, &variants, "V", "distortions of each (epochs 0 ... V-1)", 1, 100, 0, NULL},
        {"--seed", CLI_U64, &seed, "S", "the seed, as digitnet mlp --seed", 0, 1.8e19, 0, NULL},
        {"--scale", CLI_INT, &scale, "K", "each image pixel becomes K x K PNG pixels", 1, 32, 0, NULL},
    };
    const cli_spec spec = {"augment", "",
                           "Draw a PNG grid of training images (first column) and their distortions under --augment, "
                           "as digitnet mlp --augment SPEC --seed S distorts them in epochs 0, 1, ... Size: with K = scale, C = 1 + V columns and N rows, "
                           "(K + C (28 K + K)) x (K + N (28 K + K)) pixels.",
                           opts, (int)(sizeof opts / sizeof *opts), 0, 0};
    const char *pos[1];
    int npos, rc = cli_parse(&spec, argc, argv, pos, &npos);
    if (rc) return cli_parse_exit_code(rc);
    dn_error err = {0};
    dn_augment aug = {0};
    const cli_strings fallback = {{DEFAULT_AUGMENT}, 1};
    if (!out) cli_fail(&err, DN_ERR_USAGE, "augment: --out FILE.png is required");
    else mlp_parse_augment(augment.count ? &augment : &fallback, &aug, &err);
    if (err.code) return cli_report(&err);
    dn_dataset *train = NULL;
    if ((rc = cli_load_mnist(data, &train, NULL))) return rc;
    if (count > train->count) count = train->count;
    uint8_t *grid = grid_images(&aug, seed, train, count, variants);
    dn_status s = grid ? DN_OK : cli_fail(&err, DN_ERR_NOMEM, "out of memory for %zu images", count);
    if (!s) {
        dn_image_grid_options go;
        dn_image_grid_options_default(&go);
        go.columns = 1 + variants, go.scale = scale;
        s = dn_plot_digit_images(out, grid, count * (size_t)(1 + variants), NULL, &go, &err);
    }
    free(grid);
    dn_dataset_free(train);
    if (s) return cli_report(&err);
    char text[256];
    dn_augment_format(&aug, text, sizeof text);
    printf("wrote %s: %zu images (rows) x %d distortions (%s, seed %llu)\n", out, count, variants, text,
           (unsigned long long)seed);
    return CLI_EXIT_OK;
}
