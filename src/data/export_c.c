/*
 * export_c.c — a model as one self-contained C99 source file (and, when
 * asked, a header declaring its function): the weights as static const
 * arrays and `int digitnet_classify(const float pixels[784], float
 * probabilities[10])`, needing only libm.
 *
 * The generated arithmetic is digitnet's, operation for operation, so that
 * a program built from it classifies as digitnet does:
 *   MLP: each dot product accumulated in double in index order and rounded
 *        to float (the plain reference product, mlp_layers.c), the bias
 *        added and the activation applied in float (the same expressions as
 *        dn_bias_act_row_), the softmax in double as dn_softmax_ce, the
 *        class the argmax of the output with the lowest index on ties.
 *        digitnet's default BLAS product sums in another order, so scores
 *        may differ from it in the last bits of a float.
 *   perceptron: W·x in double, x = byte / 255.0, as linear_scores: W stays
 *        float64 (a float copy would change the sums).
 * Every number is printed so that it reads back exactly (%.9g for a float,
 * %.17g for a double, checked by reading it back; hex otherwise).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define VALUES_PER_LINE 6

/* ---------------------------------------------------------------- numbers */

/* Makes a decimal integer such as "3" or "-0" a floating literal. */
static void add_point(char *text, size_t cap)
{
    if (strpbrk(text, ".eEnNxX") == NULL && strlen(text) + 3 <= cap) strcat(text, ".0");
}

/* v as a C float literal that reads back as exactly v. */
static void float_literal(float v, char *out, size_t cap)
{
    snprintf(out, cap, "%.9g", (double)v);
    if (strtof(out, NULL) != v || signbit(strtof(out, NULL)) != signbit(v)) snprintf(out, cap, "%a", (double)v);
    add_point(out, cap - 1);
    strcat(out, "f");
}

/* v as a C double literal that reads back as exactly v. */
static void double_literal(double v, char *out, size_t cap)
{
    snprintf(out, cap, "%.17g", v);
    if (strtod(out, NULL) != v || signbit(strtod(out, NULL)) != signbit(v)) snprintf(out, cap, "%a", v);
    add_point(out, cap);
}

/* Refuses NaN and Inf: a loaded model never holds them, a model built in
 * memory might, and the generated file would not compile. */
static dn_status check_finite_f32(const float *v, size_t n, const char *what, const char *path, dn_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return dn_fail(err, DN_ERR_INPUT, "%s: value %zu of %s is not finite: nothing written", path, i, what);
    return DN_OK;
}

static dn_status check_finite_f64(const double *v, size_t n, const char *what, const char *path, dn_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return dn_fail(err, DN_ERR_INPUT, "%s: value %zu of %s is not finite: nothing written", path, i, what);
    return DN_OK;
}

static void write_f32_array(FILE *fp, const char *name, const float *v, size_t n)
{
    fprintf(fp, "static const float %s[%zu] = {\n", name, n);
    for (size_t i = 0; i < n; i++) {
        char text[64];
        float_literal(v[i], text, sizeof text);
        fprintf(fp, "%s%s,%s", i % VALUES_PER_LINE ? " " : "    ", text,
                (i + 1) % VALUES_PER_LINE && i + 1 < n ? "" : "\n");
    }
    fprintf(fp, "};\n\n");
}

static void write_f64_array(FILE *fp, const char *name, const double *v, size_t n)
{
    fprintf(fp, "static const double %s[%zu] = {\n", name, n);
    for (size_t i = 0; i < n; i++) {
        char text[64];
        double_literal(v[i], text, sizeof text);
        fprintf(fp, "%s%s,%s", i % VALUES_PER_LINE ? " " : "    ", text,
                (i + 1) % VALUES_PER_LINE && i + 1 < n ? "" : "\n");
    }
    fprintf(fp, "};\n\n");
}

/* ---------------------------------------------------------------- comment */

/* text inside a C comment: printable ASCII, never the comment's end, and
 * never a comment's start (-Wcomment, an error under -Werror). */
static void comment_text(FILE *fp, const char *text)
{
    for (const char *c = text; *c; c++) {
        int ch = (unsigned char)*c;
        if ((ch == '*' && c[1] == '/') || (ch == '/' && c[1] == '*')) fprintf(fp, "%c ", ch);
        else fputc(ch >= 0x20 && ch < 0x7f ? ch : '?', fp);
    }
}

static void write_shape_line(FILE *fp, const dn_model *model)
{
    const dn_mlp *mlp = dn_model_get_mlp(model);
    if (!mlp) {
        fprintf(fp, " * model: perceptron, 784 -> 10, no bias, W float64; scores = W x, class = argmax\n");
        return;
    }
    const int L = dn_mlp_layer_count(mlp);
    fprintf(fp, " * model: mlp, 784");
    for (int k = 0; k < L; k++) fprintf(fp, " -> %zu", dn_mlp_layer_outputs(mlp, k));
    fprintf(fp, "\n *   hidden activation: %s; output: %s (loss %s)\n",
            L > 1 ? dn_activation_name(dn_mlp_layer_activation(mlp, 0)) : "none (no hidden layer)",
            dn_mlp_get_options(mlp)->loss == DN_LOSS_CE ? "softmax" : "sigmoid",
            dn_loss_name(dn_mlp_get_options(mlp)->loss));
}

static const char *const perceptron_note =
    " * probabilities (may be NULL) gets the raw scores (W x)_j, as `digitnet\n"
    " * predict` prints them for a perceptron: they are not probabilities (they\n"
    " * neither lie in [0, 1] nor sum to 1), only their order means something.\n"
    " * Each pixel that is exactly some byte / 255 (as a float) is taken as\n"
    " * byte / 255 in double, as digitnet computes it, so the scores are\n"
    " * digitnet's bit for bit; any other value is used as it is.\n";

static const char *const mlp_note =
    " * probabilities (may be NULL) gets the softmax of the output (loss ce), or\n"
    " * the sigmoid outputs divided by their sum (loss mse), as `digitnet predict`\n"
    " * prints them. Arithmetic as digitnet's reference path: each dot product\n"
    " * summed in double in index order and rounded to float, bias and\n"
    " * activation in float, the softmax in double. (digitnet's default BLAS\n"
    " * products sum in another order: its scores may differ in the last bits.)\n";

static void write_comment(FILE *fp, const dn_model *model, const char *c_name)
{
    fprintf(fp, "/*\n * ");
    comment_text(fp, c_name);
    fprintf(fp, " -- a digitnet classifier as plain C99, generated by digitnet %s\n * (digitnet export --c-source). "
            "Needs only libm: cc -std=c99 -O2 -c FILE.c, link -lm.\n *\n", dn_version());
    write_shape_line(fp, model);
    fprintf(fp, " *\n * training metadata:\n");
    for (size_t i = 0; i < dn_model_meta_count(model); i++) {
        const char *key = dn_model_meta_key(model, i);
        fprintf(fp, " *   ");
        comment_text(fp, key);
        fprintf(fp, " = ");
        comment_text(fp, dn_model_meta(model, key));
        fprintf(fp, "\n");
    }
    fprintf(fp, " *\n * int digitnet_classify(const float pixels[784], float probabilities[10])\n"
                " * returns the class 0-9 (the argmax, the lowest index on ties).\n"
                " * pixels: a 28x28 grey image row by row, white digit on black as in\n"
                " * MNIST, each value byte / 255 in [0, 1] (the input digitnet's own\n"
                " * forward pass takes). `digitnet predict` first makes a PNG an MNIST\n"
                " * digit (inverted if light, cropped, scaled to 20 pixels, centred by\n"
                " * mass); this code does not: give it MNIST-style images.\n");
    fputs(dn_model_get_mlp(model) ? mlp_note : perceptron_note, fp);
    fprintf(fp, " * Compile without -ffast-math and without contraction into fused\n"
                " * multiply-adds (-std=c99 does not contract; -std=gnu* may: add\n"
                " * -ffp-contract=off) to reproduce digitnet's predictions exactly.\n */\n");
}

/* ---------------------------------------------------------------- code */

static const char *const mlp_code =
    "enum { DN_IDENTITY, DN_SIGMOID, DN_TANH, DN_RELU };\n\n"
    "/* out = act(W in + b): the sum in double, then float as digitnet. */\n"
    "static void dn_layer(const float *w, const float *b, int n_in, int n_out, int act, const float *in, float *out)\n"
    "{\n"
    "    int o, i;\n"
    "    for (o = 0; o < n_out; o++) {\n"
    "        const float *row = w + (long)o * n_in;\n"
    "        double sum = 0;\n"
    "        float z;\n"
    "        for (i = 0; i < n_in; i++) sum += (double)row[i] * (double)in[i];\n"
    "        z = (float)sum + b[o];\n"
    "        if (act == DN_RELU) z = z > 0.0f ? z : 0.0f;\n"
    "        else if (act == DN_SIGMOID) z = 1.0f / (1.0f + expf(-z));\n"
    "        else if (act == DN_TANH) z = tanhf(z);\n"
    "        out[o] = z;\n"
    "    }\n"
    "}\n\n"
    "static int dn_argmax(const float *v)\n"
    "{\n"
    "    int j, best = 0;\n"
    "    for (j = 1; j < 10; j++)\n"
    "        if (v[j] > v[best]) best = j;\n"
    "    return best;\n"
    "}\n\n";

/* Only for a cross-entropy network: an unused static function would warn. */
static const char *const softmax_code =
    "/* The softmax of the logits in place, the largest subtracted first. */\n"
    "static void dn_softmax(float *v)\n"
    "{\n"
    "    float max = v[dn_argmax(v)];\n"
    "    double sum = 0;\n"
    "    int j;\n"
    "    for (j = 0; j < 10; j++) sum += exp((double)v[j] - max);\n"
    "    for (j = 0; j < 10; j++) v[j] = (float)(exp((double)v[j] - max) / sum);\n"
    "}\n\n";

/* The forward pass through the L layers, ping-ponging two buffers. */
static void write_mlp_classify(FILE *fp, const dn_mlp *mlp)
{
    const int L = dn_mlp_layer_count(mlp);
    const int ce = dn_mlp_get_options(mlp)->loss == DN_LOSS_CE;
    static const char *const act_names[] = {"DN_SIGMOID", "DN_TANH", "DN_RELU"};
    const char *hidden = L > 1 ? act_names[dn_mlp_layer_activation(mlp, 0)] : "DN_IDENTITY";
    size_t widest = 0;
    for (int k = 0; k < L; k++)
        if (dn_mlp_layer_outputs(mlp, k) > widest) widest = dn_mlp_layer_outputs(mlp, k);
    fputs(mlp_code, fp);
    if (ce) fputs(softmax_code, fp);
    /* Small networks keep their activations on the stack (reentrant); a
     * wide one in a static buffer rather than risk the stack. */
    const int on_stack = widest <= 4096;
    fprintf(fp, "int digitnet_classify(const float pixels[784], float probabilities[10])\n{\n"
                "    %sfloat a[2][%zu];%s\n    int j, best;\n", on_stack ? "" : "static ", widest,
            on_stack ? "" : " /* static: too wide for the stack; not thread-safe */");
    for (int k = 0; k < L; k++) {
        const char *in = k == 0 ? "pixels" : k % 2 ? "a[0]" : "a[1]", *out = k % 2 ? "a[1]" : "a[0]";
        const char *act = k < L - 1 ? hidden : ce ? "DN_IDENTITY" : "DN_SIGMOID";
        fprintf(fp, "    dn_layer(dn_w%d, dn_b%d, %zu, %zu, %s, %s, %s);\n", k, k, dn_mlp_layer_inputs(mlp, k),
                dn_mlp_layer_outputs(mlp, k), act, in, out);
    }
    const char *last = (L - 1) % 2 ? "a[1]" : "a[0]";
    if (ce) fprintf(fp, "    dn_softmax(%s);\n", last);
    fprintf(fp, "    best = dn_argmax(%s);\n    if (probabilities) {\n", last);
    if (ce) {
        fprintf(fp, "        for (j = 0; j < 10; j++) probabilities[j] = %s[j];\n", last);
    } else {
        fprintf(fp, "        double sum = 0, scale;\n        for (j = 0; j < 10; j++) sum += %s[j];\n"
                    "        scale = sum > 0 ? 1.0 / sum : 1.0; /* sigmoid outputs need not sum to 1 */\n"
                    "        for (j = 0; j < 10; j++) probabilities[j] = (float)(%s[j] * scale);\n", last, last);
    }
    fprintf(fp, "    }\n    return best;\n}\n");
}

static const char *const perceptron_code =
    "/* byte / 255.0 when p is the float of some byte / 255, else p itself. */\n"
    "static double dn_pixel(float p)\n"
    "{\n"
    "    double b = floor((double)p * 255.0 + 0.5);\n"
    "    if (b >= 0.0 && b <= 255.0 && (float)(b / 255.0) == p) return b / 255.0;\n"
    "    return (double)p;\n"
    "}\n\n"
    "int digitnet_classify(const float pixels[784], float probabilities[10])\n"
    "{\n"
    "    double x[784], scores[10];\n"
    "    int j, k, best = 0;\n"
    "    for (k = 0; k < 784; k++) x[k] = dn_pixel(pixels[k]);\n"
    "    for (j = 0; j < 10; j++) {\n"
    "        double sum = 0;\n"
    "        for (k = 0; k < 784; k++) sum += dn_w[j * 784 + k] * x[k];\n"
    "        scores[j] = sum;\n"
    "        if (sum > scores[best]) best = j;\n"
    "    }\n"
    "    if (probabilities)\n"
    "        for (j = 0; j < 10; j++) probabilities[j] = (float)scores[j];\n"
    "    return best;\n"
    "}\n";

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void write_source(FILE *fp, const dn_model *model, const char *c_path, const char *h_path)
{
    write_comment(fp, model, base_name(c_path));
    fprintf(fp, "#include <math.h>\n");
    if (h_path) {
        fprintf(fp, "#include \"");
        comment_text(fp, base_name(h_path)); /* printable, as a string literal must be */
        fprintf(fp, "\"\n");
    }
    fprintf(fp, "\nint digitnet_classify(const float pixels[784], float probabilities[10]);\n\n");
    const dn_mlp *mlp = dn_model_get_mlp(model);
    if (!mlp) {
        write_f64_array(fp, "dn_w", dn_model_perceptron_weights(model), (size_t)DN_CLASSES * DN_IMAGE_PIXELS);
        fputs(perceptron_code, fp);
        return;
    }
    for (int k = 0; k < dn_mlp_layer_count(mlp); k++) {
        char name[32];
        size_t out = dn_mlp_layer_outputs(mlp, k);
        snprintf(name, sizeof name, "dn_w%d", k);
        write_f32_array(fp, name, dn_mlp_weights(mlp, k), out * dn_mlp_layer_inputs(mlp, k));
        snprintf(name, sizeof name, "dn_b%d", k);
        write_f32_array(fp, name, dn_mlp_bias(mlp, k), out);
    }
    write_mlp_classify(fp, mlp);
}

static void write_header(FILE *fp, const dn_model *model, const char *h_path)
{
    fprintf(fp, "/* ");
    comment_text(fp, base_name(h_path));
    fprintf(fp, " -- the function of a digitnet %s classifier (generated by digitnet %s).\n"
                " * Returns the class 0-9 of a 28x28 MNIST-style image, pixels byte / 255;\n"
                " * see the comment at the top of the .c file. */\n"
                "#ifndef DIGITNET_CLASSIFY_H\n#define DIGITNET_CLASSIFY_H\n\n"
                "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
                "int digitnet_classify(const float pixels[784], float probabilities[10]);\n\n"
                "#ifdef __cplusplus\n}\n#endif\n\n#endif\n",
            dn_model_kind_name(model), dn_version());
}

static dn_status check_model(const dn_model *model, const char *c_path, dn_error *err)
{
    const dn_mlp *mlp = dn_model_get_mlp(model);
    if (!mlp)
        return check_finite_f64(dn_model_perceptron_weights(model), (size_t)DN_CLASSES * DN_IMAGE_PIXELS, "W", c_path,
                                err);
    dn_status s = DN_OK;
    for (int k = 0; k < dn_mlp_layer_count(mlp) && !s; k++) {
        size_t out = dn_mlp_layer_outputs(mlp, k);
        char what[48];
        snprintf(what, sizeof what, "layers.%d.weight", k);
        s = check_finite_f32(dn_mlp_weights(mlp, k), out * dn_mlp_layer_inputs(mlp, k), what, c_path, err);
        snprintf(what, sizeof what, "layers.%d.bias", k);
        if (!s) s = check_finite_f32(dn_mlp_bias(mlp, k), out, what, c_path, err);
    }
    return s;
}

dn_status dn_model_export_c(const dn_model *model, const char *c_path, const char *h_path, dn_error *err)
{
    if (!model || !c_path) return dn_fail(err, DN_ERR_USAGE, "export to C needs a model and a path for the .c file");
    if (h_path && strpbrk(base_name(h_path), "\"\\\n"))
        return dn_fail(err, DN_ERR_USAGE, "%s: a header name with a quote, backslash or newline cannot be #included",
                       h_path);
    dn_status s = check_model(model, c_path, err);
    if (s) return s;
    /* Both temporary files exist before either is written: a folder that
     * refuses the header fails the export before the source is replaced. */
    dn_atomic_file c = {0}, h = {0};
    if ((s = dn_atomic_open(&c, c_path, err))) return s;
    if (h_path && (s = dn_atomic_open(&h, h_path, err))) {
        dn_atomic_abort(&c);
        return s;
    }
    write_source(c.fp, model, c_path, h_path);
    if (h_path) write_header(h.fp, model, h_path);
    /* commit checks every write (ferror) and removes its temporary file on failure */
    s = dn_atomic_commit(&c, err);
    if (h_path) {
        if (s) dn_atomic_abort(&h);
        else s = dn_atomic_commit(&h, err);
    }
    return s;
}
