/*
 * plot_png_absent.c — the PNG image grids of a build without libpng: the
 * same functions, each returning DN_ERR_USAGE with a message that says why,
 * so a program built against the full header still links and can tell its
 * user what to install. SVG charts (plot_svg.c) need no libpng and stay.
 */
#include "internal.h"
#include "digitnet_plot.h"

static dn_status without_libpng(const char *path, dn_error *err)
{
    return dn_fail(err, DN_ERR_USAGE, "%s: this libdigitnet was built without libpng and cannot write PNG files",
                   path);
}

void dn_image_grid_options_default(dn_image_grid_options *opt) { *opt = (dn_image_grid_options){0, 8, 0}; }

dn_status dn_plot_weight_images(const char *path, const double *weights, size_t count, const char *const *captions,
                                const dn_image_grid_options *opt, dn_error *err)
{
    (void)weights, (void)count, (void)captions, (void)opt;
    return without_libpng(path, err);
}

dn_status dn_plot_digit_images(const char *path, const uint8_t *images, size_t count, const char *const *captions,
                               const dn_image_grid_options *opt, dn_error *err)
{
    (void)images, (void)count, (void)captions, (void)opt;
    return without_libpng(path, err);
}

dn_status dn_plot_misclassified(const char *path, const dn_dataset *set, const uint8_t *predicted, size_t max_count,
                                const dn_image_grid_options *opt, size_t *shown, dn_error *err)
{
    (void)set, (void)predicted, (void)max_count, (void)opt;
    if (shown) *shown = 0;
    return without_libpng(path, err);
}
