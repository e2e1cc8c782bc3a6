#!/usr/bin/python3
"""onnx_check.py FILE KIND VERSION OPS — exit 0 when the ONNX library (Debian's
python3-onnx) accepts FILE, a digitnet export of a KIND ("mlp" or
"perceptron") model made by digitnet VERSION, with the operators OPS
(comma-separated, in order); else print why and exit 1.

onnx.checker.check_model(full_check=True) checks the protobuf, the IR and
opset rules of every node and runs strict shape inference; this script adds
what digitnet promises on top: the names, types and shapes of the input and
output, the producer, every weight an initializer, the training metadata."""
import sys

import onnx
from onnx import TensorProto


def shape_of(value):
    t = value.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in t.shape.dim]
    return TensorProto.DataType.Name(t.elem_type), dims


def problems(model, kind, version, ops):
    out_name, out_type = ("probabilities", "FLOAT") if kind == "mlp" else ("scores", "DOUBLE")
    g = model.graph
    if model.ir_version != 8:
        yield "ir_version %d, expected 8" % model.ir_version
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", 0) < 13:
        yield "opset_import %r: the default domain at 13 or later expected" % opsets
    if (model.producer_name, model.producer_version) != ("digitnet", version):
        yield "producer %s %s, expected digitnet %s" % (model.producer_name, model.producer_version, version)
    if [(i.name,) + shape_of(i) for i in g.input] != [("image", "FLOAT", ["N", 784])]:
        yield "inputs %r, expected image FLOAT [N, 784]" % [(i.name,) + shape_of(i) for i in g.input]
    if [(o.name,) + shape_of(o) for o in g.output] != [(out_name, out_type, ["N", 10])]:
        yield "outputs %r, expected %s %s [N, 10]" % ([(o.name,) + shape_of(o) for o in g.output], out_name, out_type)
    if [n.op_type for n in g.node] != ops.split(","):
        yield "operators %s, expected %s" % (",".join(n.op_type for n in g.node), ops)
    made = {"image"} | {o for n in g.node for o in n.output}
    weights = {t.name for t in g.initializer}
    loose = {i for n in g.node for i in n.input} - made - weights
    if loose:
        yield "node inputs neither computed nor initializers: %s" % sorted(loose)
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("kind") != kind:
        yield "metadata_props kind %r, expected %r" % (meta.get("kind"), kind)
    for key, value in meta.items():
        if "\n  %s = %s" % (key, value) not in model.doc_string:
            yield "doc_string lacks the metadata %s = %s" % (key, value)
    if not model.doc_string.startswith("digitnet %s %s model" % (version, kind)):
        yield "doc_string starts %r" % model.doc_string[:60]


def main():
    path, kind, version, ops = sys.argv[1:5]
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # the checker's own words, on one line
        print("onnx_check: %s: onnx.checker refuses it: %s" % (path, " ".join(str(e).split())))
        return 1
    found = list(problems(model, kind, version, ops))
    for p in found:
        print("onnx_check: %s: %s" % (path, p))
    if found:
        return 1
    params = sum(len(t.raw_data) // (8 if t.data_type == TensorProto.DOUBLE else 4) for t in model.graph.initializer)
    print("onnx_check: %s: onnx %s check_model(full_check=True) passed; IR %d, opset %d, %s, %d parameters"
          % (path, onnx.__version__, model.ir_version, model.opset_import[0].version,
             " ".join(n.op_type for n in model.graph.node), params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
