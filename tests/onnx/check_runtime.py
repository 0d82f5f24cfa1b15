#!/usr/bin/env python3
"""Exported models in a runtime that backprop did not write.

Trains a small model for every layer kind that ONNX export maps (on made-up CSV data) and the
Fashion-MNIST MLP, CNN and an attention model, exports each, checks the file with ONNX's own
checker, runs it in ONNX Runtime (onnxruntime-node) and compares with `backprop predict --scores` on the same raw inputs:
the largest absolute difference must be <= 1e-4 and the predicted classes the same. Exits non-zero
on the first failure.

  check_runtime.py --backprop BIN --node NODE --ort-dir DIR [--work DIR]
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION = "/usr/share/datasets/fashion-mnist"
TOLERANCE = 1e-4

# (name, spec, data, extra train flags). Together they use every layer that export maps.
CSV_MODELS = [
    ("mlp-standardized", "dense(16),relu,dense(3)", "blobs", ["--normalize", "standardize"]),
    ("mlp-minmax", "dense(16),tanh,dense(3)", "blobs", ["--normalize", "minmax"]),
    ("activations",
     "dense(16),sigmoid,dense(16),tanh,dense(16),leaky_relu(0.2),dense(16),elu(0.5),dense(16),"
     "selu,dense(16),gelu,dense(16),softplus(2),dense(16),softplus,dense(16),silu,dense(16),mish,"
     "dense(16),hardswish,dense(16,bias=false),relu,dense(3)", "blobs", []),
    ("norms",
     "dense(32),batchnorm,relu,dropout(0.3),dense(32),layernorm,relu,"
     "residual(dense(32),relu,dense(32)),dense(3),log_softmax", "blobs", []),
    ("conv",
     "reshape(1,8,8),conv(4,3,pad=1),batchnorm,relu,maxpool(2),conv(8,3,pad=1,groups=2),relu,"
     "avgpool(2,stride=1,pad=1),conv_transpose(4,3,stride=2,pad=1,output_pad=1,bias=false),"
     "relu,conv(6,2,stride=2,dilation=1),global_avgpool,dense(3)", "blobs", []),
    ("shapes", "reshape(8,8),permute(1,0),dense(4),flatten,dense(3),softmax", "blobs", []),
    ("sequence-layernorm", "reshape(4,16),dense(8),layernorm,flatten,dense(3)", "blobs", []),
    ("embedding", "embedding(10,4),flatten,dense(3)", "ids", ["--normalize", "none"]),
    ("lstm", "reshape(8,8),lstm(16),dense(3)", "blobs", []),
    ("positional", "reshape(8,8),positional,dense(4),positional(kind=sinusoidal),flatten,dense(3)",
     "blobs", []),
    ("gru-stack", "reshape(8,8),gru(12,layers=2),dense(3)", "blobs", []),
    ("rnn-sequences", "reshape(8,8),rnn(16,sequences=true),rnn(8,nonlinearity=relu),dense(3)",
     "blobs", []),
    ("lstm-stack-sequences", "reshape(8,8),lstm(8,layers=2,sequences=true),flatten,dense(3)",
     "blobs", []),
    ("attention", "reshape(8,8),dense(16),attention(4),layernorm,flatten,dense(3)", "blobs", []),
    ("attention-causal", "reshape(8,8),attention(2,causal=true),attention(1),flatten,dense(3)",
     "blobs", []),
    ("transformer",
     "embedding(10,32),positional,transformer(4,64),transformer(2,16,dropout=0,causal=false),"
     "flatten,dense(3)", "ids", ["--normalize", "none"]),
]
IMAGE_MODELS = [
    ("fashion-mlp", "auto"),
    ("fashion-cnn", "conv(32,3),relu,maxpool(2),conv(64,3),relu,maxpool(2),flatten,dense(128),relu,"
                    "dense(10)"),
    ("fashion-attention", "reshape(28,28),dense(32),attention(4),layernorm,flatten,dense(10)"),
]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r.stdout


def write_csv(path, kind, rng, rows=240):
    """64 features and a label in 3 classes; every value a multiple of 1/64, exact in float32."""
    labels = rng.integers(0, 3, rows)
    if kind == "ids":
        x = (rng.integers(0, 10, (rows, 64)) + labels[:, None] * 3) % 10
    else:
        x = np.round((rng.normal(size=(rows, 64)) + labels[:, None] - 1) * 64) / 64
    with open(path, "w") as f:
        f.write(",".join([f"f{i}" for i in range(64)] + ["label"]) + "\n")
        for row, label in zip(x, labels):
            f.write(",".join(f"{v:g}" for v in row) + f",c{label}\n")
    return x.astype(np.float32)


def idx_images(path):
    """The images as predict reads them: bytes / 255 in float32."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[4:8], "big")
    pixels = np.frombuffer(data, dtype=np.uint8, count=n * 784, offset=16)
    return (pixels.astype(np.float32) / np.float32(255)).reshape(n, 1, 28, 28)


def check_interface(name, m):
    """Opset 17 (and backprop's functions, version 1, where the graph calls them), one input with a
    dynamic batch axis, one output, the label names as metadata."""
    problems = []
    opsets = [("", 17)] + ([("backprop", 1)] if m.functions else [])
    if [(o.domain, o.version) for o in m.opset_import] != opsets:
        problems.append(f"opsets {m.opset_import}")
    inputs, outputs = list(m.graph.input), list(m.graph.output)
    if [i.name for i in inputs] != ["input"] or [o.name for o in outputs] != ["output"]:
        problems.append("inputs/outputs are not [input] -> [output]")
    elif inputs[0].type.tensor_type.shape.dim[0].dim_param != "batch":
        problems.append("the batch axis is not dynamic")
    meta = {p.key: p.value for p in m.metadata_props}
    for key in ("labels", "backprop.spec", "backprop.info"):
        if key not in meta:
            problems.append(f"no metadata '{key}'")
    if problems:
        sys.exit(f"FAILED {name}: " + "; ".join(problems))


def compare(a, name, model, onnx_path, features, predict_input, sample_shape):
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m, full_check=True)
    check_interface(name, m)
    raw_in = os.path.join(a.work, name + ".in.f32")
    raw_out = os.path.join(a.work, name + ".out.f32")
    features.astype(np.float32).tofile(raw_in)
    shape = ",".join(str(d) for d in (len(features),) + tuple(sample_shape))
    run([a.node, os.path.join(HERE, "ort_run.js"), onnx_path, raw_in, shape, raw_out],
        env=dict(os.environ, NODE_PATH=os.path.join(a.ort_dir, "node_modules")))
    ort = np.fromfile(raw_out, dtype=np.float32).reshape(len(features), -1)
    text = run([a.backprop, "predict", "--model-file", model, "--input", predict_input, "--scores"])
    ours = np.array([[float(v) for v in line.split(",")] for line in text.splitlines()],
                    dtype=np.float32)
    if ours.shape != ort.shape:
        sys.exit(f"FAILED {name}: predict gave {ours.shape}, ONNX Runtime {ort.shape}")
    diff = float(np.max(np.abs(ours - ort)))
    same = int(np.sum(np.argmax(ours, 1) == np.argmax(ort, 1)))
    print(f"{name}: {len(m.graph.node)} nodes, {len(features)} samples, max |diff| {diff:.2e}, "
          f"same class {same}/{len(features)}")
    if not diff <= TOLERANCE or same != len(features):
        sys.exit(f"FAILED {name}: max |diff| {diff} (limit {TOLERANCE}), same class {same}")
    return ours


def train_export(a, name, data, spec, flags):
    model = os.path.join(a.work, name + ".bp")
    out = os.path.join(a.work, name + ".onnx")
    run([a.backprop, "train", "--data", data, "--model", spec, "--out", model, "--quiet",
         "--seed", "3"] + flags)
    run([a.backprop, "export", "--model-file", model, "--onnx", out])
    return model, out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backprop", required=True)
    p.add_argument("--node", default="node")
    p.add_argument("--ort-dir", required=True, help="where node_modules/onnxruntime-node is")
    p.add_argument("--work", help="folder for the files (default: a temporary one)")
    a = p.parse_args()
    tmp = None
    if not a.work:
        tmp = tempfile.TemporaryDirectory()
        a.work = tmp.name
    os.makedirs(a.work, exist_ok=True)
    rng = np.random.default_rng(5)
    data = {}
    for kind in ("blobs", "ids"):
        path = os.path.join(a.work, kind + ".csv")
        data[kind] = (path, write_csv(path, kind, rng))
    for name, spec, kind, flags in CSV_MODELS:
        model, out = train_export(a, name, data[kind][0], spec, ["--epochs", "3"] + flags)
        compare(a, name, model, out, data[kind][1], data[kind][0], (64,))
    images = idx_images(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))
    idx = os.path.join(a.work, "test-images.idx")
    with open(idx, "wb") as f:  # predict reads the same images, uncompressed
        f.write(gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")).read())
    for name, spec in IMAGE_MODELS:
        model, out = train_export(a, name, "fashion-mnist", spec, ["--epochs", "1"])
        compare(a, name, model, out, images, idx, (1, 28, 28))
    print("every exported model matches")


if __name__ == "__main__":
    main()
