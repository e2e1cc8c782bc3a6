#!/usr/bin/python3
"""make_fuzz_corpus.py — seed inputs for the fuzzers in fuzz/.

usage: scripts/make_fuzz_corpus.py [OUT]      (default: fuzz/corpus/seed)

Writes OUT/idx, OUT/model, OUT/npy, OUT/png and OUT/serve: small valid files of every
kind each reader accepts (serve: requests, laid out as fuzz/fuzz_serve.c reads them), plus near misses (truncated, trailing bytes, wrong
magic) so the fuzzer starts at the edges. Only the standard library is used,
and the files are made here rather than committed, so the repository holds
no binary blobs. Deterministic: the same files on every run.
"""
import json
import os
import struct
import sys
import zlib

# ------------------------------------------------------------------ helpers


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gzip_bytes(data, level=9):
    """One gzip member with a fixed header (mtime 0), as zlib writes it."""
    c = zlib.compressobj(level, zlib.DEFLATED, 16 + 15)
    return c.compress(data) + c.flush()


def digit_pixels(count, side=28):
    """count images whose strokes are a ring and a bar, shifted per image."""
    out = bytearray()
    for i in range(count):
        for y in range(side):
            for x in range(side):
                r2 = (x - 14 - i % 3) ** 2 + (y - 14) ** 2
                ring = 36 <= r2 <= 64
                bar = 12 <= x <= 14 and 4 <= y <= 24 and i % 2
                out.append(255 - 8 * i if (ring or bar) else 0)
    return bytes(out)


# ---------------------------------------------------------------------- IDX


def idx_images(count, stored=None, rows=28, cols=28, magic=0x803):
    stored = count if stored is None else stored
    return struct.pack(">IIII", magic, count, rows, cols) + digit_pixels(stored)[: stored * rows * cols]


def idx_labels(count, stored=None, magic=0x801):
    stored = count if stored is None else stored
    return struct.pack(">II", magic, count) + bytes((i * 7 + 3) % 10 for i in range(stored))


def make_idx(out):
    """Mode byte (see fuzz/fuzz_idx.c): 1 gz name, 2 labels file, 4 images alone."""
    d = os.path.join(out, "idx")
    images = {
        "valid3": idx_images(3),
        "valid1": idx_images(1),
        "truncated": idx_images(3)[:-5],
        "trailing": idx_images(3) + b"\x00\x01",
        "claims_many": idx_images(1000000, stored=1),
        "zero": idx_images(0),
        "wrong_side": idx_images(3, rows=27),
        "header_only": idx_images(3)[:16],
        "labels_magic": idx_images(3, magic=0x801),
    }
    labels = {
        "valid3": idx_labels(3),
        "bad_label": idx_labels(3)[:-1] + b"\x0a",
        "truncated": idx_labels(3)[:-1],
        "count5": idx_labels(5),
        "images_magic": idx_labels(3, magic=0x803),
    }
    for name, data in images.items():
        write(d, "images_raw_" + name, b"\x00" + data)
        write(d, "images_gz_" + name, b"\x01" + gzip_bytes(data))
        write(d, "alone_raw_" + name, b"\x04" + data)
        write(d, "alone_gz_" + name, b"\x05" + gzip_bytes(data))
    for name, data in labels.items():
        write(d, "labels_raw_" + name, b"\x02" + data)
        write(d, "labels_gz_" + name, b"\x03" + gzip_bytes(data))
    two = gzip_bytes(idx_images(3)[:100]) + gzip_bytes(idx_images(3)[100:])
    write(d, "images_gz_two_members", b"\x01" + two)
    write(d, "images_gz_cut", b"\x01" + gzip_bytes(idx_images(3))[:-9])
    write(d, "images_gz_stored", b"\x01" + gzip_bytes(idx_images(2), level=0))
    # A small gzip bomb: 3 images declared, megabytes of zeros behind them.
    write(d, "images_gz_bomb", b"\x01" + gzip_bytes(idx_images(3) + bytes(4 << 20)))


# -------------------------------------------------------------- safetensors

DTYPES = {"F32": ("<f", 4), "F64": ("<d", 8), "U8": ("<B", 1), "I64": ("<q", 8)}


def tensor(name, dtype, shape, values):
    fmt, size = DTYPES[dtype]
    data = b"".join(struct.pack(fmt, v) for v in values)
    return (name, dtype, list(shape), data)


def safetensors(tensors, meta, crc=True):
    payload, header, at = b"", {}, 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(data)]}
        payload += data
        at += len(data)
    meta = dict(meta)
    if crc:
        meta["payload_crc32"] = "%08x" % (zlib.crc32(payload) & 0xFFFFFFFF)
    header = {"__metadata__": meta, **header}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + payload


def weights(scale, count=7840):
    return [((i * 7919) % 1000 - 500) * scale for i in range(count)]


PTA_META = {
    "format": "digitnet",
    "format_version": "1",
    "precision": "float",
    "train_size": "100",
    "eta": "1",
    "epsilon": "0",
    "max_epochs": "5",
    "seed": "1",
}


def make_model(out):
    d = os.path.join(out, "model")
    model = {**PTA_META, "kind": "perceptron", "epochs": "2", "predict_with": "W", "data_crc32": "0000abcd"}
    w32 = tensor("W", "F32", (10, 784), weights(1e-3))
    w64 = tensor("W", "F64", (10, 784), weights(1e-3))
    avg = tensor("W_average", "F64", (10, 784), weights(5e-4))
    write(d, "perceptron_f32", safetensors([w32], model))
    write(d, "perceptron_f64", safetensors([w64], {**model, "precision": "double"}))
    write(d, "perceptron_average", safetensors([w32, avg], {**model, "predict_with": "W_average"}))
    write(d, "perceptron_no_crc", safetensors([w32], model, crc=False))
    mlp_meta = {"format": "digitnet", "format_version": "1", "kind": "mlp", "hidden": "16", "activation": "relu",
                "loss": "ce", "init": "he", "optimizer": "sgd", "schedule": "none", "lr": "0.1", "batch": "32",
                "seed": "1", "epochs": "1", "train_size": "100", "data_crc32": "0000abcd"}
    layers = [tensor("layers.0.weight", "F32", (16, 784), weights(1e-3, 16 * 784)),
              tensor("layers.0.bias", "F32", (16,), weights(1e-2, 16)),
              tensor("layers.1.weight", "F32", (10, 16), weights(1e-2, 160)),
              tensor("layers.1.bias", "F32", (10,), weights(1e-2, 10))]
    write(d, "mlp_16", safetensors(layers, mlp_meta))
    write(d, "mlp_no_hidden_layer", safetensors(
        [tensor("layers.0.weight", "F32", (10, 784), weights(1e-3)), tensor("layers.0.bias", "F32", (10,), [0] * 10)],
        {**mlp_meta, "hidden": "", "activation": "sigmoid", "loss": "mse"}))

    ckpt = {**PTA_META, "kind": "pta-checkpoint", "average": "0", "threads": "1", "epochs_done": "2",
            "steps": "200", "data_crc32": "0000abcd"}
    curve = [tensor("errors", "F64", (2,), [60, 41]), tensor("seconds", "F64", (2,), [0.01, 0.0125])]
    write(d, "checkpoint_f32", safetensors([w32] + curve, ckpt))
    write(d, "checkpoint_no_curve", safetensors([w32], ckpt))
    acc = tensor("avg_acc", "F64", (10, 784), weights(0.25))
    write(d, "checkpoint_f64_average",
          safetensors([w64, acc] + curve, {**ckpt, "precision": "double", "average": "1"}))
    write(d, "checkpoint_zero_epochs", safetensors([w32], {**ckpt, "epochs_done": "0", "steps": "0"}))

    # Checkpoints of distributed runs, as a job of one process saves them
    # (fuzz/fuzz_model.c loads the MLP kind in mode "sync" into a network
    # with hidden "16", the PTA kind in mode "mix").
    rng = tensor("rng", "U8", (1, 32), [(i * 29 + 7) % 256 for i in range(32)])
    nparams = 16 * 784 + 16 + 10 * 16 + 10
    dist = {"format": "digitnet", "format_version": "1", "kind": "mlp-distributed-checkpoint", "mode": "sync",
            "ranks": "1", "hidden": "16", "params": str(nparams), "seed": "1", "epochs_done": "2",
            "train_size": "100", "adam_t": "0"}
    params = tensor("params", "F32", (nparams,), weights(1e-3, nparams))
    moment1 = tensor("moment1", "F32", (nparams,), weights(1e-4, nparams))
    write(d, "mlp_dist_checkpoint", safetensors([params, rng], dist))
    write(d, "mlp_dist_checkpoint_moment1", safetensors([params, moment1, rng], dist))
    write(d, "pta_dist_checkpoint", safetensors(
        [w32] + curve + [rng], {**ckpt, "kind": "pta-distributed-checkpoint", "mode": "mix", "ranks": "1"}))

    # Partitions (dn_partition_load, without data): 12 samples over 3 clients.
    owner = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
    labels = [i % 10 for i in range(12)]
    counts = [0] * 30
    for i, c in enumerate(owner):
        counts[c * 10 + labels[i]] += 1
    part = {"format": "digitnet", "format_version": "1", "kind": "partition", "clients": "3", "train_size": "12",
            "seed": "1", "data_crc32": "0000abcd"}
    part_tensors = [tensor("client", "I64", (12,), owner), tensor("label_counts", "I64", (3, 10), counts)]
    write(d, "partition_iid", safetensors(part_tensors, {**part, "spec": "iid"}))
    write(d, "partition_dirichlet", safetensors(part_tensors, {**part, "spec": "dirichlet:0.5:2"}))

    # Small containers for the parser itself: escapes, every dtype, empty.
    tiny = [tensor("a", "U8", (3,), [1, 2, 3]), tensor("b\u00e9", "F32", (2, 1), [0.5, -2]),
            tensor("c", "F64", (), [3.25]), tensor("empty", "F32", (0, 4), []), tensor("d", "I64", (2,), [-1, 1 << 40])]
    write(d, "tiny_dtypes", safetensors(tiny, {"format": "digitnet", "note": "tab\there \"quoted\" \u2713"}))
    write(d, "tiny_empty", safetensors([], {}))
    text = b'{"__metadata__":{"k":"\\u00e9\\ud83d\\ude00"},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    write(d, "tiny_unicode_escapes", struct.pack("<Q", len(text)) + text + b"\x07")
    write(d, "header_too_long", struct.pack("<Q", 1 << 40) + b"{}")


# ---------------------------------------------------------------------- npy


def npy(descr, shape, data, version=1, fortran=False, quote="'"):
    shape_text = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    q = quote
    d = "{%sdescr%s: %s%s%s, %sfortran_order%s: %s, %sshape%s: %s, }" % (
        q, q, q, descr, q, q, q, "True" if fortran else "False", q, q, shape_text)
    start = 10 if version == 1 else 12
    pad = -(start + len(d) + 1) % 64
    header = (d + " " * pad + "\n").encode()
    length = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header + data


def make_npy(out):
    d = os.path.join(out, "npy")
    f8 = struct.pack("<6d", 1, -2.5, 3e300, 0, -0.0, 7)
    write(d, "f8_2x3", npy("<f8", (2, 3), f8))
    write(d, "f8_2x3_v2", npy("<f8", (2, 3), f8, version=2))
    write(d, "f4_3", npy("<f4", (3,), struct.pack("<3f", 1.5, -1, 1e30)))
    write(d, "u1_2x2", npy("|u1", (2, 2), bytes([0, 1, 254, 255])))
    write(d, "u1_4d", npy("|u1", (1, 2, 1, 2), bytes([9, 8, 7, 6])))
    write(d, "f8_scalar", npy("<f8", (), struct.pack("<d", 42)))
    write(d, "f8_empty", npy("<f8", (0, 5), b""))
    write(d, "f4_double_quotes", npy("<f4", (1,), struct.pack("<f", 2), quote='"'))
    write(d, "fortran", npy("<f8", (2, 1), struct.pack("<2d", 1, 2), fortran=True))
    write(d, "short_data", npy("<f8", (2, 3), f8[:-1]))
    write(d, "big_endian", npy(">f8", (1,), struct.pack(">d", 1)))


# ---------------------------------------------------------------------- png


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, depth, colour, rows, extra=b""):
    """rows: one bytes object per scanline, already packed for depth/colour."""
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


def make_png(out):
    d = os.path.join(out, "png")
    side = 28
    ink = digit_pixels(1)
    grey = [bytes(255 - v for v in ink[y * side:(y + 1) * side]) for y in range(side)]  # dark ink on white
    write(d, "grey8", png(side, side, 8, 0, grey))
    write(d, "grey16", png(side, side, 16, 0, [bytes(b for v in r for b in (v, v)) for r in grey]))
    rgb = [bytes(c for v in r for c in (v, v // 2, 255 - v)) for r in grey]
    write(d, "rgb8", png(side, side, 8, 2, rgb))
    rgba = [bytes(c for v in r for c in (0, 0, 0, 255 - v)) for r in grey]  # ink as opacity
    write(d, "rgba8", png(side, side, 8, 6, rgba))
    ga = [bytes(c for v in r for c in (v, 255)) for r in grey]
    write(d, "grey_alpha8", png(side, side, 8, 4, ga))
    bits = []
    for r in grey:
        packed = bytearray((side + 7) // 8)
        for x, v in enumerate(r):
            if v > 127:
                packed[x // 8] |= 0x80 >> (x % 8)
        bits.append(bytes(packed))
    write(d, "grey1", png(side, side, 1, 0, bits))
    plte = png_chunk(b"PLTE", bytes([255, 255, 255, 0, 0, 0]))
    write(d, "palette1_trns", png(side, side, 1, 3, bits, plte + png_chunk(b"tRNS", b"\xff\x80")))
    write(d, "wide_thin", png(200, 3, 8, 0, [bytes(255 if 40 < x < 160 and y == 1 else 0 for x in range(200))
                                               for y in range(3)]))
    write(d, "blank", png(8, 8, 8, 0, [bytes(8)] * 8))
    write(d, "truncated", png(side, side, 8, 0, grey)[:-30])


# -------------------------------------------------------------------- serve


def serve_request(method, content_type, path, query=b"", body=b""):
    """fuzz/fuzz_serve.c's layout: method byte, Content-Type byte, path, query, body."""
    methods = [b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS"]
    types = [None, b"application/octet-stream", b"image/png", b"text/plain"]
    return bytes([methods.index(method), types.index(content_type)]) + path + b"\n" + query + b"\n" + body


def make_serve(out):
    d = os.path.join(out, "serve")
    side = 28
    grey = [digit_pixels(1)[y * side:(y + 1) * side] for y in range(side)]
    digit_png = png(side, side, 8, 0, grey)
    octet, image = b"application/octet-stream", b"image/png"
    write(d, "models", serve_request(b"GET", None, b"/api/models"))
    write(d, "page", serve_request(b"GET", None, b"/"))
    write(d, "static", serve_request(b"GET", None, b"/static/app.js"))
    write(d, "run", serve_request(b"GET", None, b"/api/run"))
    write(d, "events", serve_request(b"GET", None, b"/api/events"))
    write(d, "predict_png_mlp", serve_request(b"POST", image, b"/api/predict", b"model=mlp", digit_png))
    write(d, "predict_png_pta", serve_request(b"POST", image, b"/api/predict", b"model=pta", digit_png))
    write(d, "predict_raw", serve_request(b"POST", octet, b"/api/predict", b"", digit_pixels(1)))
    write(d, "predict_raw_pta", serve_request(b"POST", octet, b"/api/predict", b"model=pta", digit_pixels(2)[784:]))
    write(d, "predict_783", serve_request(b"POST", octet, b"/api/predict", b"", digit_pixels(1)[:783]))
    write(d, "predict_truncated", serve_request(b"POST", image, b"/api/predict", b"model=mlp", digit_png[:-30]))
    write(d, "weights", serve_request(b"GET", None, b"/api/weights", b"model=mlp&layer=1"))
    write(d, "weights_pta", serve_request(b"GET", None, b"/api/weights", b"model=pta&layer=0"))
    write(d, "weights_bad", serve_request(b"GET", None, b"/api/weights", b"model=mlp&layer=-1&layer=x"))
    write(d, "wrong_method", serve_request(b"PUT", None, b"/api/predict"))
    write(d, "unknown", serve_request(b"GET", None, b"/api/nothing", b"a=%22"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("fuzz", "corpus", "seed")
    make_idx(out)
    make_model(out)
    make_npy(out)
    make_png(out)
    make_serve(out)
    for kind in ("idx", "model", "npy", "png", "serve"):
        print("%s: %d seeds in %s" % (kind, len(os.listdir(os.path.join(out, kind))), os.path.join(out, kind)))


if __name__ == "__main__":
    main()
