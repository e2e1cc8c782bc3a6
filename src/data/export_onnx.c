/*
 * export_onnx.c — a model as an ONNX file (https://onnx.ai), so that ONNX
 * Runtime and the tools around it run digitnet's networks without digitnet.
 *
 * The graph (opset 13, IR version 8: what Debian's python3-onnx 1.12
 * checks, and every ONNX Runtime since 1.10 runs):
 *   MLP         image (N, 784) float, pixel / 255
 *               → per layer K: Gemm(a, layers.K.weight (out, in), layers.K.bias, transB = 1)
 *                 → Relu / Tanh / Sigmoid (hidden), Softmax (ce) or Sigmoid (mse) at the end
 *               → probabilities (N, 10) float, what `digitnet predict` prints
 *   perceptron  image (N, 784) float → Cast to double → Gemm(x, W (10, 784), transB = 1)
 *               → scores (N, 10) double; the class is the arg-max.
 * The perceptron computes in double because digitnet does (its W is
 * float64): only the input's rounding to float separates the two.
 *
 * The file is encoded by hand (protobuf.h) for the few messages of
 * onnx.proto it needs; the field numbers below are onnx.proto's.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "protobuf.h"

/* onnx.proto field numbers, message by message. */
enum { MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3, MODEL_DOC_STRING = 6,
       MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8, MODEL_METADATA_PROPS = 14 };
enum { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum { ENTRY_KEY = 1, ENTRY_VALUE = 2 };
enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5 };
enum { ATTR_NAME = 1, ATTR_I = 3, ATTR_TYPE = 20, ATTR_TYPE_INT = 2 };
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9 };
enum { VALUE_NAME = 1, VALUE_TYPE = 2, VALUE_DOC_STRING = 3 };
enum { TYPE_TENSOR = 1, TENSOR_TYPE_ELEM = 1, TENSOR_TYPE_SHAPE = 2, SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2 };
enum { ONNX_FLOAT = 1, ONNX_DOUBLE = 11 }; /* TensorProto.DataType */

#define ONNX_IR_VERSION 8
#define ONNX_OPSET 13

/* A node with up to three inputs (NULL ends them) and one int attribute
 * (attr NULL for none). */
typedef struct node_spec {
    const char *name, *op, *in[3], *out, *attr;
    int64_t attr_value;
} node_spec;

static void put_node(dn_pb *pb, const node_spec *n)
{
    size_t node = dn_pb_begin(pb);
    for (int i = 0; i < 3 && n->in[i]; i++) dn_pb_string(pb, NODE_INPUT, n->in[i]);
    dn_pb_string(pb, NODE_OUTPUT, n->out);
    dn_pb_string(pb, NODE_NAME, n->name);
    dn_pb_string(pb, NODE_OP_TYPE, n->op);
    if (n->attr) {
        size_t attr = dn_pb_begin(pb);
        dn_pb_string(pb, ATTR_NAME, n->attr);
        dn_pb_int(pb, ATTR_I, n->attr_value);
        dn_pb_int(pb, ATTR_TYPE, ATTR_TYPE_INT);
        dn_pb_end(pb, NODE_ATTRIBUTE, attr);
    }
    dn_pb_end(pb, GRAPH_NODE, node);
}

/* An initializer: dims written one varint each (onnx.proto's dims is not
 * declared packed), the values as raw little-endian bytes. */
static void put_tensor(dn_pb *pb, const char *name, int data_type, size_t rows, size_t cols, const void *values)
{
    size_t t = dn_pb_begin(pb);
    dn_pb_int(pb, TENSOR_DIMS, (int64_t)rows);
    if (cols) dn_pb_int(pb, TENSOR_DIMS, (int64_t)cols);
    dn_pb_int(pb, TENSOR_DATA_TYPE, data_type);
    dn_pb_string(pb, TENSOR_NAME, name);
    size_t n = cols ? rows * cols : rows;
    if (data_type == ONNX_DOUBLE) dn_pb_f64_le(pb, TENSOR_RAW_DATA, values, n);
    else dn_pb_f32_le(pb, TENSOR_RAW_DATA, values, n);
    dn_pb_end(pb, GRAPH_INITIALIZER, t);
}

/* A graph input or output of shape (N, width), N symbolic. */
static void put_value(dn_pb *pb, int field, const char *name, int elem_type, size_t width, const char *doc)
{
    size_t v = dn_pb_begin(pb), type = 0, tensor = 0, shape = 0, dim = 0;
    dn_pb_string(pb, VALUE_NAME, name);
    type = dn_pb_begin(pb);
    tensor = dn_pb_begin(pb);
    dn_pb_int(pb, TENSOR_TYPE_ELEM, elem_type);
    shape = dn_pb_begin(pb);
    dim = dn_pb_begin(pb);
    dn_pb_string(pb, DIM_PARAM, "N");
    dn_pb_end(pb, SHAPE_DIM, dim);
    dim = dn_pb_begin(pb);
    dn_pb_int(pb, DIM_VALUE, (int64_t)width);
    dn_pb_end(pb, SHAPE_DIM, dim);
    dn_pb_end(pb, TENSOR_TYPE_SHAPE, shape);
    dn_pb_end(pb, TYPE_TENSOR, tensor);
    dn_pb_end(pb, VALUE_TYPE, type);
    dn_pb_string(pb, VALUE_DOC_STRING, doc);
    dn_pb_end(pb, field, v);
}

static const char *onnx_op(dn_activation a)
{
    switch (a) {
    case DN_ACT_SIGMOID: return "Sigmoid";
    case DN_ACT_TANH: return "Tanh";
    case DN_ACT_RELU: return "Relu";
    default: return "Softmax";
    }
}

static const char IMAGE_DOC[] = "pixel / 255 in [0, 1], 28 x 28 row by row (MNIST: ink bright)";

/* Layer k: Gemm into "layers.k.z", then its activation into the next a. */
static void put_mlp_layer(dn_pb *pb, const dn_mlp *mlp, int k)
{
    char in[32], w[32], b[32], z[32], out[32], gemm[32], act[32];
    int last = k == dn_mlp_layer_count(mlp) - 1;
    dn_activation f = dn_mlp_layer_activation(mlp, k);
    snprintf(in, sizeof in, "layers.%d.input", k); /* a_k, the input of layer k */
    if (k == 0) snprintf(in, sizeof in, "image");
    snprintf(w, sizeof w, "layers.%d.weight", k);
    snprintf(b, sizeof b, "layers.%d.bias", k);
    snprintf(z, sizeof z, "layers.%d.z", k);
    snprintf(out, sizeof out, "layers.%d.input", k + 1);
    if (last) snprintf(out, sizeof out, "probabilities");
    snprintf(gemm, sizeof gemm, "layers.%d.gemm", k);
    snprintf(act, sizeof act, "layers.%d.%s", k, dn_activation_name(f));
    put_node(pb, &(node_spec){gemm, "Gemm", {in, w, b}, z, "transB", 1});
    /* Softmax over the classes: axis -1 (opset 13's default, said anyway) */
    put_node(pb, &(node_spec){act, onnx_op(f), {z, NULL, NULL}, out, f == DN_ACT_SOFTMAX ? "axis" : NULL, -1});
}

static void put_mlp_graph(dn_pb *pb, const dn_mlp *mlp)
{
    int layers = dn_mlp_layer_count(mlp);
    for (int k = 0; k < layers; k++) put_mlp_layer(pb, mlp, k);
    dn_pb_string(pb, GRAPH_NAME, "digitnet_mlp");
    for (int k = 0; k < layers; k++) {
        char w[32], b[32];
        size_t out = dn_mlp_layer_outputs(mlp, k), in = dn_mlp_layer_inputs(mlp, k);
        snprintf(w, sizeof w, "layers.%d.weight", k);
        snprintf(b, sizeof b, "layers.%d.bias", k);
        put_tensor(pb, w, ONNX_FLOAT, out, in, dn_mlp_weights(mlp, k));
        put_tensor(pb, b, ONNX_FLOAT, out, 0, dn_mlp_bias(mlp, k));
    }
    put_value(pb, GRAPH_INPUT, "image", ONNX_FLOAT, DN_IMAGE_PIXELS, IMAGE_DOC);
    put_value(pb, GRAPH_OUTPUT, "probabilities", ONNX_FLOAT, DN_CLASSES,
              dn_mlp_layer_activation(mlp, layers - 1) == DN_ACT_SOFTMAX
                  ? "softmax probabilities of the digits 0-9; the class is the arg-max"
                  : "sigmoid outputs of the digits 0-9 (a network trained with mse); the class is the arg-max");
}

static void put_perceptron_graph(dn_pb *pb, const dn_model *model)
{
    put_node(pb, &(node_spec){"cast", "Cast", {"image", NULL, NULL}, "image_f64", "to", ONNX_DOUBLE});
    put_node(pb, &(node_spec){"gemm", "Gemm", {"image_f64", "W", NULL}, "scores", "transB", 1});
    dn_pb_string(pb, GRAPH_NAME, "digitnet_perceptron");
    put_tensor(pb, "W", ONNX_DOUBLE, DN_CLASSES, DN_IMAGE_PIXELS, dn_model_perceptron_weights(model));
    put_value(pb, GRAPH_INPUT, "image", ONNX_FLOAT, DN_IMAGE_PIXELS, IMAGE_DOC);
    put_value(pb, GRAPH_OUTPUT, "scores", ONNX_DOUBLE, DN_CLASSES, "W x of the digits 0-9; the class is the arg-max");
}

/* Entry i of the metadata the file carries: the model kind (the model file
 * holds it apart from the rest), then the training metadata. */
static size_t meta_count(const dn_model *model) { return 1 + dn_model_meta_count(model); }
static const char *meta_key(const dn_model *model, size_t i)
{
    return i ? dn_model_meta_key(model, i - 1) : "kind";
}
static const char *meta_value(const dn_model *model, size_t i)
{
    return i ? dn_model_meta(model, dn_model_meta_key(model, i - 1)) : dn_model_kind_name(model);
}

/* "digitnet 0.1.0 mlp model (...); training metadata:\n  kind = mlp\n  key = value..." */
static void put_doc_string(dn_pb *pb, const dn_model *model)
{
    dn_pb doc = {0};
    char line[160];
    snprintf(line, sizeof line, "digitnet %s %s model (input image: pixel / 255); training metadata:", DN_VERSION,
             dn_model_kind_name(model));
    dn_pb_append(&doc, line, strlen(line));
    for (size_t i = 0; i < meta_count(model); i++) {
        const char *key = meta_key(model, i), *value = meta_value(model, i);
        dn_pb_append(&doc, "\n  ", 3);
        dn_pb_append(&doc, key, strlen(key));
        dn_pb_append(&doc, " = ", 3);
        dn_pb_append(&doc, value, strlen(value));
    }
    if (doc.failed) pb->failed = 1;
    else dn_pb_bytes(pb, MODEL_DOC_STRING, doc.data, doc.len);
    dn_pb_free(&doc);
}

static void put_model(dn_pb *pb, const dn_model *model)
{
    dn_pb_int(pb, MODEL_IR_VERSION, ONNX_IR_VERSION);
    dn_pb_string(pb, MODEL_PRODUCER_NAME, "digitnet");
    dn_pb_string(pb, MODEL_PRODUCER_VERSION, DN_VERSION);
    put_doc_string(pb, model);
    size_t graph = dn_pb_begin(pb);
    const dn_mlp *mlp = dn_model_get_mlp(model);
    if (mlp) put_mlp_graph(pb, mlp);
    else put_perceptron_graph(pb, model);
    dn_pb_end(pb, MODEL_GRAPH, graph);
    size_t opset = dn_pb_begin(pb);
    dn_pb_string(pb, OPSET_DOMAIN, ""); /* the default domain, ai.onnx */
    dn_pb_int(pb, OPSET_VERSION, ONNX_OPSET);
    dn_pb_end(pb, MODEL_OPSET_IMPORT, opset);
    /* the training metadata again, as key-value pairs a program can read */
    for (size_t i = 0; i < meta_count(model); i++) {
        size_t entry = dn_pb_begin(pb);
        dn_pb_string(pb, ENTRY_KEY, meta_key(model, i));
        dn_pb_string(pb, ENTRY_VALUE, meta_value(model, i));
        dn_pb_end(pb, MODEL_METADATA_PROPS, entry);
    }
}

dn_status dn_model_export_onnx(const dn_model *model, const char *path, dn_error *err)
{
    if (!model || !path) return dn_fail(err, DN_ERR_USAGE, "dn_model_export_onnx: model and path are required");
    dn_pb pb = {0};
    put_model(&pb, model);
    dn_status s = pb.failed ? dn_fail(err, DN_ERR_NOMEM, "%s: out of memory encoding the ONNX model", path)
                            : dn_write_file_atomic(path, pb.data, pb.len, err);
    dn_pb_free(&pb);
    return s;
}
