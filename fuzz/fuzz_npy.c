/* fuzz_npy.c — the NumPy .npy reader (dn_npy_read_f64). A file it accepts
 * must round-trip: written back with dn_npy_write and read again, it gives
 * the same shape and values. */
#include "fuzz_common.h"

#include <math.h>

static size_t element_count(const size_t *shape, int ndim)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d]; /* bounded by the file size the reader checked */
    return n;
}

static void check_round_trip(const double *data, const size_t *shape, int ndim)
{
    static char copy[320];
    if (!copy[0]) fuzz_path("copy.npy", copy, sizeof copy);
    dn_error err = {DN_OK, ""};
    FUZZ_CHECK(dn_npy_write(copy, 'd', data, shape, ndim, &err) == DN_OK);
    double *again = NULL;
    size_t shape2[4];
    int ndim2 = -1;
    FUZZ_CHECK(dn_npy_read_f64(copy, &again, shape2, &ndim2, &err) == DN_OK);
    FUZZ_CHECK(ndim2 == ndim && memcmp(shape2, shape, (size_t)ndim * sizeof *shape) == 0);
    size_t n = element_count(shape, ndim);
    for (size_t i = 0; i < n; i++) FUZZ_CHECK(memcmp(&again[i], &data[i], sizeof *data) == 0 || (isnan(again[i]) && isnan(data[i])));
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    static char path[320];
    if (!path[0]) fuzz_path("array.npy", path, sizeof path);
    fuzz_write(path, bytes, size);
    dn_error err = {DN_OK, ""};
    double *data = NULL;
    size_t shape[4] = {0, 0, 0, 0};
    int ndim = -1;
    dn_status s = dn_npy_read_f64(path, &data, shape, &ndim, &err);
    if (s != DN_OK) {
        FUZZ_CHECK(data == NULL);
        fuzz_check_error(&err, path);
        return 0;
    }
    FUZZ_CHECK(data != NULL && ndim >= 0 && ndim <= 4);
    FUZZ_CHECK(element_count(shape, ndim) * sizeof(double) <= 8 * size); /* no bytes conjured */
    check_round_trip(data, shape, ndim);
    free(data);
    return 0;
}
