"""serve_check.py — the HTTP side of tests/cli_serve_api.sh and cli_serve_bad.sh:
a client of `digitnet serve` on the standard library (urllib, http.client,
socket), plus numpy to read the .npy files `digitnet export --npy` writes.

  serve_check.py pngs IMAGES N DIR      write the first N images of an IDX file as DIR/NNNN.png
  serve_check.py api URL DIR            the API against predict --json and export --npy (DIR: the files)
  serve_check.py bad URL DIR            malformed requests: each refused, the server still answering

Prints one line per failure and the largest differences; exits 1 when any check failed.
"""
import gzip
import http.client
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

failures = 0


def fail(message):
    global failures
    failures += 1
    print("FAIL: " + message)


# ------------------------------------------------------------------ PNGs

def read_idx_images(path, count):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803 and rows == 28 and cols == 28
        return [f.read(784) for _ in range(min(count, n))]


def png_bytes(pixels, side=28):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\0" + pixels[y * side:(y + 1) * side] for y in range(side))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write_pngs(images_path, count, folder):
    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(read_idx_images(images_path, count)):
        with open(os.path.join(folder, "%04d.png" % i), "wb") as f:
            f.write(png_bytes(img))


# ------------------------------------------------------------------ HTTP

def request(url, method="GET", body=None, content_type=None, timeout=10):
    """(status, headers, parsed JSON or raw bytes)."""
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, headers, data = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, data = e.code, e.headers, e.read()
    if headers.get("Content-Type", "").startswith("application/json"):
        return status, headers, json.loads(data)
    return status, headers, data


def predict_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def max_rel(a, b):
    return max(abs(x - y) / max(1.0, abs(y)) for x, y in zip(a, b))


# ------------------------------------------------------------------ api

def check_models(base):
    status, headers, body = request(base + "api/models")
    if status != 200:
        return fail("/api/models: status %d" % status)
    models = {m["name"]: m for m in body["models"]}
    if [m["name"] for m in body["models"]] != ["mlp", "pta", "mlp-2"]:
        fail("/api/models names %s, expected mlp, pta, mlp-2 (a clash gets -2)" % [m["name"] for m in body["models"]])
    mlp, pta = models.get("mlp", {}), models.get("pta", {})
    if mlp.get("kind") != "mlp" or mlp.get("layers") != [784, 64, 32, 10] or \
            mlp.get("activations") != ["relu", "relu", "softmax"] or mlp.get("meta", {}).get("hidden") != "64,32":
        fail("/api/models: mlp is %s" % {k: v for k, v in mlp.items() if k != "meta"})
    if pta.get("kind") != "perceptron" or pta.get("layers") != [784, 10] or pta.get("activations") != ["step"] or \
            pta.get("meta", {}).get("predict_with") != "W":
        fail("/api/models: pta is %s" % {k: v for k, v in pta.items() if k != "meta"})


def check_page(base):
    for path in ("", "static/index.html"):
        status, headers, body = request(base + path)
        if status != 200 or not headers.get("Content-Type", "").startswith("text/html") or b"<title>" not in body:
            fail("GET /%s: status %d, type %s, %d bytes" % (path, status, headers.get("Content-Type"), len(body)))
    with open(os.path.join(os.environ["DN_SOURCE_DIR"], "web", "index.html"), "rb") as f:
        if request(base)[2] != f.read():
            fail("GET / is not web/index.html")


def check_mlp_response(where, r, ref):
    if r.get("model") not in ("mlp", "mlp-2") or r.get("kind") != "mlp":
        fail("%s: model %s kind %s" % (where, r.get("model"), r.get("kind")))
    if r["digit"] != ref["digit"]:
        fail("%s: digit %d, predict says %d" % (where, r["digit"], ref["digit"]))
    if len(r["input"]) != 784 or not all(isinstance(v, int) and 0 <= v <= 255 for v in r["input"]):
        fail("%s: input is not 784 integers 0..255" % where)
    if [len(a) for a in r["activations"]] != [64, 32] or min(min(a) for a in r["activations"]) < 0:
        fail("%s: activations of sizes %s (relu: none negative)" % (where, [len(a) for a in r["activations"]]))
    return max(abs(x - y) for x, y in zip(r["probabilities"], ref["probabilities"]))


def check_pta_response(where, r, ref):
    if r["digit"] != ref["digit"]:
        fail("%s: digit %d, predict says %d" % (where, r["digit"], ref["digit"]))
    scores = r["scores"]
    if scores.index(max(scores)) != r["digit"]:
        fail("%s: digit %d is not the argmax of the scores" % (where, r["digit"]))
    if len(r["contributions"]) != 10 or any(len(row) != 784 for row in r["contributions"]):
        fail("%s: contributions are not 10 rows of 784" % where)
    sums = [sum(row) for row in r["contributions"]]
    rel = max(abs(s - t) / max(1.0, abs(t)) for s, t in zip(sums, scores))
    if rel > 1e-4:
        fail("%s: contribution rows sum to %s, scores %s" % (where, sums, scores))
    return max_rel(scores, ref["probabilities"]), rel


def check_api(base, d):
    check_models(base)
    check_page(base)
    # PNG uploads against predict --json on the same files
    mlp_ref, pta_ref = predict_lines(d + "/mlp.png.json"), predict_lines(d + "/pta.png.json")
    worst_mlp = worst_pta = worst_sum = 0.0
    for i, (m, p) in enumerate(zip(mlp_ref, pta_ref)):
        with open(m["input"], "rb") as f:
            data = f.read()
        model = "mlp" if i % 2 else "mlp-2"  # the clashing name serves the same network
        status, _, r = request(base + "api/predict?model=" + model, "POST", data, "image/png")
        if status != 200:
            fail("PNG %s to %s: status %d %s" % (m["input"], model, status, r))
            continue
        worst_mlp = max(worst_mlp, check_mlp_response("mlp " + m["input"], r, m))
        status, _, r = request(base + "api/predict?model=pta", "POST", data, "image/png")
        if status != 200:
            fail("PNG %s to pta: status %d %s" % (m["input"], status, r))
            continue
        diff, rel = check_pta_response("pta " + m["input"], r, p)
        worst_pta, worst_sum = max(worst_pta, diff), max(worst_sum, rel)
    print("serve_check: %d PNGs; largest difference from predict --json: mlp probabilities %.3g, perceptron scores "
          "%.3g (relative); contributions vs scores %.3g" % (len(mlp_ref), worst_mlp, worst_pta, worst_sum))
    if worst_mlp > 1e-6 or worst_pta > 1e-6:
        fail("the API differs from predict --json by more than 1e-6")
    # raw 784-byte bodies against predict --json on the IDX file
    raws = read_idx_images(os.environ["IMAGES"], 200)
    mlp_idx, pta_idx = predict_lines(d + "/mlp.idx.json"), predict_lines(d + "/pta.idx.json")
    worst = 0.0
    for i, raw in enumerate(raws):
        status, _, r = request(base + "api/predict", "POST", raw, "application/octet-stream")  # the first model
        if status != 200:
            fail("raw image %d: status %d %s" % (i, status, r))
            continue
        if bytes(r["input"]) != raw:
            fail("raw image %d: input is not the bytes sent" % i)
        worst = max(worst, check_mlp_response("raw %d" % i, r, mlp_idx[i]))
        status, _, r = request(base + "api/predict?model=pta", "POST", raw, "application/octet-stream")
        worst = max(worst, check_pta_response("raw pta %d" % i, r, pta_idx[i])[0]) if status == 200 else worst
        if status != 200:
            fail("raw image %d to pta: status %d" % (i, status))
    print("serve_check: %d raw images; largest difference %.3g" % (len(raws), worst))
    if worst > 1e-6:
        fail("raw bodies: the API differs from predict --json by more than 1e-6")
    check_weights(base, d)
    status, _, r = request(base + "api/run")
    if status != 200 or r != {"state": "none"}:
        fail("/api/run of a plain serve: %d %s" % (status, r))


def check_weights(base, d):
    import numpy as np
    for k in range(3):
        status, _, r = request(base + "api/weights?model=mlp&layer=%d" % k)
        w = np.load("%s/mlp.npy/layers.%d.weight.npy" % (d, k))
        b = np.load("%s/mlp.npy/layers.%d.bias.npy" % (d, k))
        if status != 200 or r["shape"] != list(w.shape) or r["layer"] != k:
            fail("weights of mlp layer %d: status %d shape %s, npy %s" % (k, status, r.get("shape"), w.shape))
            continue
        # %.9g parsed and rounded to float32 is the float itself
        if not (np.array_equal(np.array(r["weights"], dtype=np.float32).reshape(w.shape), w)
                and np.array_equal(np.array(r["bias"], dtype=np.float32), b)):
            fail("weights of mlp layer %d differ from the .npy export" % k)
    status, _, r = request(base + "api/weights?model=pta&layer=0")
    w = np.load(d + "/pta.npy/W.npy")
    if status != 200 or r["shape"] != [10, 784] or r["bias"] != [] or \
            not np.array_equal(np.array(r["weights"], dtype=np.float64).reshape(10, 784), w):
        fail("weights of pta: status %d shape %s, or values differ from W.npy" % (status, r.get("shape")))
    print("serve_check: /api/weights equals export --npy for mlp layers 0-2 and the perceptron")


# ------------------------------------------------------------------ bad

def expect_error(base, what, status, words, path, method="GET", body=None, content_type=None):
    got, headers, r = request(base + path, method, body, content_type)
    if got != status:
        fail("%s: status %d, expected %d (%s)" % (what, got, status, r))
    elif not isinstance(r, dict) or not isinstance(r.get("error"), str):
        fail("%s: the body is not JSON with an \"error\": %r" % (what, r))
    elif not all(w in r["error"] for w in words):
        fail("%s: the error %r does not say %s" % (what, r["error"], words))
    still_answers(base, what)
    return r


def still_answers(base, after):
    status, _, r = request(base + "api/models", timeout=5)
    if status != 200 or "models" not in r:
        fail("after %s: /api/models answered %d" % (after, status))


def raw_http(host, port, head, body=b"", wait=5.0):
    """Sends head and body on a socket of its own and returns what comes back within wait seconds."""
    s = socket.create_connection((host, port), timeout=wait)
    s.sendall(head + body)
    data = b""
    try:
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
    except socket.timeout:
        pass
    s.close()
    return data


def check_bad(base, d):
    with open(d + "/good.png", "rb") as f:
        good = f.read()
    u = urllib.parse.urlparse(base)
    expect_error(base, "truncated PNG", 400, ["PNG"], "api/predict", "POST", good[:len(good) // 2], "image/png")
    expect_error(base, "783 bytes", 400, ["784", "783"], "api/predict", "POST", bytes(783), "application/octet-stream")
    expect_error(base, "784 bytes without octet-stream", 400, ["application/octet-stream"], "api/predict", "POST",
                 bytes(range(256)) * 3 + bytes(16), "text/plain")
    expect_error(base, "blank raw image", 400, ["blank"], "api/predict", "POST", bytes(784), "application/octet-stream")
    expect_error(base, "empty body", 400, ["PNG"], "api/predict", "POST", b"", "image/png")
    expect_error(base, "unknown model", 400, ["unknown model", "nosuch"], "api/predict?model=nosuch", "POST", good,
                 "image/png")
    expect_error(base, "duplicated query", 400, ["model", "more than once"], "api/predict?model=mlp&model=mlp",
                 "POST", good, "image/png")
    expect_error(base, "negative layer", 400, ["negative"], "api/weights?model=mlp&layer=-1")
    expect_error(base, "non-numeric layer", 400, ["whole number"], "api/weights?model=mlp&layer=abc")
    expect_error(base, "layer out of range", 400, ["out of range"], "api/weights?model=mlp&layer=3")
    expect_error(base, "perceptron layer 1", 400, ["out of range"], "api/weights?model=pta&layer=1")
    expect_error(base, "no layer", 400, ["layer"], "api/weights?model=mlp")
    expect_error(base, "unknown model for weights", 400, ["unknown model"], "api/weights?model=x&layer=0")
    expect_error(base, "unknown path", 404, ["/api/nothing"], "api/nothing")
    expect_error(base, "unknown static file", 404, ["no such file"], "static/nothing.js")
    expect_error(base, "GET /api/predict", 405, ["POST"], "api/predict")
    expect_error(base, "POST /api/models", 405, ["GET"], "api/models", "POST", b"x", "text/plain")
    expect_error(base, "events without a run", 404, ["no training run"], "api/events")
    # a 10 MB body: 413 at once, from the headers, before the body is sent
    t0 = time.monotonic()
    reply = raw_http(u.hostname, u.port, b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                     b"Content-Length: 10485760\r\n\r\n", good, wait=5)
    if not reply.startswith(b"HTTP/1.1 413") or b'"error"' not in reply or b"4 MiB" not in reply:
        fail("10 MB Content-Length: got %r" % reply[:200])
    if time.monotonic() - t0 > 3:
        fail("10 MB Content-Length: the 413 took %.1f s" % (time.monotonic() - t0))
    still_answers(base, "10 MB body")
    # a 10 MB chunked body (no Content-Length): refused once past 4 MiB, the rest dropped
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    conn.request("POST", "/api/predict", body=iter([bytes(1 << 20)] * 10), headers={"Content-Type": "image/png"},
                 encode_chunked=True)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 413 or b"4 MiB" not in body:
        fail("10 MB chunked body: status %d %r" % (resp.status, body[:200]))
    conn.close()
    still_answers(base, "10 MB chunked body")
    # a body that never comes: the others are answered meanwhile; the server drops it after its timeout
    hung = socket.create_connection((u.hostname, u.port), timeout=30)
    hung.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n"
                 + good[:10])
    t0 = time.monotonic()
    for _ in range(5):
        still_answers(base, "a request that never finishes its body")
    if time.monotonic() - t0 > 2:
        fail("with a hung upload open, 5 requests took %.1f s" % (time.monotonic() - t0))
    try:
        data = hung.recv(4096)  # the server's idle timeout (10 s) closes it
        waited = time.monotonic() - t0
        if data and not data.startswith(b"HTTP/1.1 4"):
            fail("hung upload: the server sent %r" % data[:100])
        if waited > 20:
            fail("hung upload dropped only after %.1f s" % waited)
        print("serve_check: a hung upload was dropped after %.1f s while others were answered" % waited)
    except socket.timeout:
        fail("hung upload: still open after 30 s (no idle timeout)")
    hung.close()
    still_answers(base, "the hung upload")


def main():
    mode = sys.argv[1]
    if mode == "pngs":
        write_pngs(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return 0
    base = sys.argv[2]
    if mode == "api":
        check_api(base, sys.argv[3])
    elif mode == "bad":
        check_bad(base, sys.argv[3])
    else:
        print("serve_check.py: unknown mode " + mode)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
