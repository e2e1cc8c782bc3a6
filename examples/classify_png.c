/* classify_png.c — load a saved model (perceptron or MLP) and classify PNG
 * images of handwritten digits, each made MNIST-like (fitted into 20 × 20,
 * centred by its centre of mass) by dn_png_read_digit.
 *
 *   usage: classify_png MODEL IMAGE.png...
 *   build: cc classify_png.c $(pkg-config --cflags --libs digitnet_plot digitnet) -o classify_png
 */
#include <stdio.h>

#include <digitnet_plot.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL IMAGE.png...\n", argv[0]);
        return 2;
    }
    printf("library %s, header %s\n", dn_version(), DN_VERSION_STRING);
    dn_error err = {0};
    dn_model *model = dn_model_load(argv[1], &err);
    if (!model) {
        fprintf(stderr, "classify_png: %s\n", err.message);
        return 1;
    }
    int failures = 0;
    for (int i = 2; i < argc; i++) {
        uint8_t image[DN_IMAGE_PIXELS];
        uint8_t digit;
        float scores[DN_CLASSES]; /* one score per digit (probabilities for an MLP) */
        if (dn_png_read_digit(argv[i], image, &err) || dn_model_classify(model, image, 1, &digit, scores, &err)) {
            fprintf(stderr, "classify_png: %s\n", err.message);
            failures++;
            continue;
        }
        printf("%s: %u (score %.3f)\n", argv[i], (unsigned)digit, scores[digit]);
    }
    dn_model_free(model);
    return failures ? 1 : 0;
}
