/* fuzz_png.c — PNG digits (dn_png_read_digit): libpng's decoding through
 * our error handling (longjmp), the size limit, and the MNIST recipe on
 * whatever image comes out. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[320];
    if (!path[0]) fuzz_path("digit.png", path, sizeof path);
    fuzz_write(path, data, size);
    dn_error err = {DN_OK, ""};
    uint8_t image[DN_IMAGE_PIXELS];
    if (dn_png_read_digit(path, image, &err) != DN_OK) {
        fuzz_check_error(&err, path);
        return 0;
    }
    unsigned sum = 0;
    for (size_t i = 0; i < DN_IMAGE_PIXELS; i++) sum += image[i]; /* MSan/ASan see every byte used */
    FUZZ_CHECK(sum > 0); /* a blank image is refused, never returned */
    return 0;
}
