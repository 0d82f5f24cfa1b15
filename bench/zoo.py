#!/usr/bin/python3
"""Model zoo: backprop against PyTorch on many architectures, side by side in one run.

    /usr/bin/python3 bench/zoo.py [--reps 2] [--models a,b] [--quick] [--markdown docs/performance.md]

Each model of the zoo (`--list` names them) is one spec of backprop's grammar; PyTorch gets the same
layers (same sizes, PyTorch's default initialisation, same loss, SGD lr 0.05 momentum 0.9, same
batch), translated from the spec by this script. Both train on the same subset of Fashion-MNIST
(the first N training images, written as IDX files into a temporary folder) for the same number
of samples, and report training samples/s of the last epoch.

backprop runs `backprop train` (the CLI) with `--threads 2` (`--bp-threads 1,2` adds one thread);
models the CLI cannot feed (images as sequences of 28 rows, an autoencoder whose target is the
image) run `bench_zoo_train`, a small program that drives the same trainer through the library.
PyTorch runs with 1 and 2 threads and counts at its best. The fairness rules are those of
bench/compare_pytorch.py, whose helpers this script uses: every run its own process, the thread
count in OMP_NUM_THREADS (and MKL_/OPENBLAS_) and torch.set_num_threads, OMP_WAIT_POLICY=passive,
repetitions interleaved so that noise from other work hits every configuration alike, only the
training loop timed, both sides gathering each batch from in-memory data inside the loop.

Each model's share of the machine's fp32 peak counts the multiply-adds of its dense, convolution,
recurrent and attention layers (forward; forward+backward taken as 3x) at 2 FLOP each, against
--peak-gflops per thread (210: the AVX-512 FMA peak of the benchmark machine, see
bench/bench_kernels.cpp).
"""

import argparse
import datetime
import gzip
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compare_pytorch as cp  # noqa: E402  (helpers only; it imports no torch at load time)

ROOT = HERE.parent
LR, MOMENTUM = 0.05, 0.9
MARK_BEGIN = "<!-- zoo.py: begin (generated; rerun the script to update) -->"
MARK_END = "<!-- zoo.py: end -->"
TEST_IMAGES = 500  # the CLI evaluates after each epoch (untimed); keep that short

# name: (label, spec, batch, training samples, input, target). input "rows": each image as 28 steps
# of 28 features; target "image": the image itself under mean squared error.
ZOO = {
    "mlp-relu": ("ReLU MLP 784-256-128-10", "flatten,dense(256),relu,dense(128),relu,dense(10)",
                 128, 10000, "image", "labels"),
    "mlp-tanh": ("tanh MLP 784-512-512-10", "flatten,dense(512),tanh,dense(512),tanh,dense(10)",
                 64, 10000, "image", "labels"),
    "mlp-sigmoid": ("sigmoid MLP 784-256-128-10",
                    "flatten,dense(256),sigmoid,dense(128),sigmoid,dense(10)", 32, 10000, "image",
                    "labels"),
    "mlp-gelu-ln-drop": ("GELU MLP, layer norm, dropout",
                         "flatten,dense(256),layernorm,gelu,dropout(0.2),dense(128),layernorm,gelu,"
                         "dropout(0.2),dense(10)", 64, 10000, "image", "labels"),
    "mlp-silu": ("SiLU MLP 784-512-256-10", "flatten,dense(512),silu,dense(256),silu,dense(10)",
                 256, 10000, "image", "labels"),
    "mlp-elu-selu-drop": ("ELU/SELU MLP, dropout",
                          "flatten,dense(256),elu,dropout(0.1),dense(128),selu,dense(10)", 128,
                          10000, "image", "labels"),
    "mlp-leaky-mish-ln": ("leaky ReLU/Mish MLP, layer norm",
                          "flatten,dense(256),layernorm,leaky_relu(0.01),dense(128),layernorm,mish,"
                          "dense(10)", 32, 10000, "image", "labels"),
    "mlp-hardswish-softplus": ("hardswish/softplus MLP 784-512-256-10",
                               "flatten,dense(512),hardswish,dense(256),softplus,dense(10)", 256,
                               10000, "image", "labels"),
    "cnn": ("CNN conv32-conv64-128-10",
            "conv(32,3),relu,maxpool(2),conv(64,3),relu,maxpool(2),flatten,dense(128),relu,dense(10)",
            128, 4000, "image", "labels"),
    "cnn-bn-drop": ("CNN, batch norm, dropout",
                    "conv(32,3),batchnorm,relu,maxpool(2),conv(64,3),batchnorm,relu,maxpool(2),"
                    "flatten,dropout(0.25),dense(128),relu,dropout(0.5),dense(10)", 128, 4000,
                    "image", "labels"),
    "cnn-strided-avgpool": ("CNN, strided convolutions, average pooling",
                            "conv(32,3,stride=2,pad=1),relu,conv(64,3,stride=2,pad=1),relu,"
                            "avgpool(2),flatten,dense(10)", 64, 4000, "image", "labels"),
    "cnn-residual-gap": ("residual CNN, batch norm, global pooling",
                         "conv(16,3,pad=1),batchnorm,relu,residual(conv(16,3,pad=1),batchnorm,relu,"
                         "conv(16,3,pad=1),batchnorm),relu,maxpool(2),residual(conv(16,3,pad=1),"
                         "relu,conv(16,3,pad=1)),relu,global_avgpool,dense(10)", 64, 4000, "image",
                         "labels"),
    "conv-autoencoder": ("conv autoencoder (transposed convolutions, MSE)",
                         "conv(16,3,stride=2,pad=1),relu,conv(32,3,stride=2,pad=1),relu,"
                         "conv_transpose(16,3,stride=2,pad=1,output_pad=1),relu,"
                         "conv_transpose(1,3,stride=2,pad=1,output_pad=1),sigmoid,flatten", 64,
                         4000, "image", "image"),
    "lstm": ("LSTM(128) over 28 rows", "lstm(128),dense(10)", 64, 5000, "rows", "labels"),
    "gru": ("GRU(128) over 28 rows", "gru(128),dense(10)", 64, 5000, "rows", "labels"),
    "rnn": ("RNN(128, tanh) over 28 rows", "rnn(128),dense(10)", 64, 5000, "rows", "labels"),
    "attention": ("self-attention, 4 heads, over 28 rows",
                  "dense(64),attention(4),layernorm,flatten,dense(10)", 64, 5000, "rows", "labels"),
}


# ----------------------------------------------------------------------------------------------
# The spec grammar, translated: shapes, multiply-adds, and (in a worker) the PyTorch modules.
# ----------------------------------------------------------------------------------------------

def split_top(text):
    """Splits at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def parse_layer(item):
    """'conv(16,3,pad=1)' -> ('conv', ['16', '3'], {'pad': '1'}); residual keeps its layers."""
    m = re.fullmatch(r"(\w+)\s*(?:\((.*)\))?", item, re.S)
    if not m:
        raise ValueError(f"cannot read layer '{item}'")
    name, inner = m.group(1).lower(), m.group(2) or ""
    args, kwargs = [], {}
    for a in split_top(inner):
        key, eq, value = a.partition("=")
        if eq and name != "residual" and re.fullmatch(r"\w+", key.strip()):
            kwargs[key.strip()] = value.strip()
        else:
            args.append(a)
    return name, args, kwargs


class Arg:
    """A layer's arguments by position or name, as the spec grammar reads them."""

    def __init__(self, args, kwargs):
        self.args, self.kwargs = args, kwargs

    def get(self, pos, key, default, kind=int):
        if key in self.kwargs:
            value = self.kwargs[key]
        elif pos < len(self.args):
            value = self.args[pos]
        else:
            return default
        if kind is bool:
            return value.lower() in ("true", "1", "yes")
        return kind(value)


def conv_out(size, k, s, p, d=1):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU",
               "silu": "SiLU", "swish": "SiLU", "selu": "SELU", "mish": "Mish",
               "hardswish": "Hardswish", "softmax": None, "log_softmax": None}


def activation(nn, name, a):
    if name == "elu":
        return nn.ELU(a.get(0, "alpha", 1.0, float))
    if name == "leaky_relu":
        return nn.LeakyReLU(a.get(0, "slope", 0.01, float))
    if name == "softplus":
        return nn.Softplus(a.get(0, "beta", 1.0, float))
    if name == "softmax":
        return nn.Softmax(-1)
    if name == "log_softmax":
        return nn.LogSoftmax(-1)
    return getattr(nn, ACTIVATIONS[name])()


def dense_layer(nn, a, shape):
    units = a.get(0, "units", None)
    macs = math.prod(shape) * units
    module = nn and nn.Linear(shape[-1], units, bias=a.get(1, "bias", True, bool))
    return module, shape[:-1] + [units], macs


def conv_layer(nn, a, shape, transpose):
    c, h, w = shape
    f, k = a.get(0, "filters", None), a.get(1, "kernel", None)
    s, p = a.get(2, "stride", 1), a.get(3, "pad", 0)
    base = 5 if transpose else 4
    op = a.get(4, "output_pad", 0) if transpose else 0
    d, g = a.get(base, "dilation", 1), a.get(base + 1, "groups", 1)
    bias = a.get(base + 2, "bias", True, bool)
    if transpose:
        out = [f] + [(x - 1) * s - 2 * p + d * (k - 1) + op + 1 for x in (h, w)]
        macs = c * h * w * (f // g) * k * k
        module = nn and nn.ConvTranspose2d(c, f, k, s, p, op, g, bias, d)
    else:
        out = [f] + [conv_out(x, k, s, p, d) for x in (h, w)]
        macs = math.prod(out) * (c // g) * k * k
        module = nn and nn.Conv2d(c, f, k, s, p, d, g, bias)
    return module, out, macs


def pool_layer(nn, name, a, shape):
    k = a.get(0, "kernel", None)
    s, p = a.get(1, "stride", k), a.get(2, "pad", 0)
    out = [shape[0]] + [conv_out(x, k, s, p) for x in shape[1:]]
    module = nn and (nn.MaxPool2d(k, s, p) if name == "maxpool"
                     else nn.AvgPool2d(k, s, p, count_include_pad=True))
    return module, out, 0


def recurrent_layer(nn, name, a, shape):
    seq, features = shape
    hidden, layers = a.get(0, "hidden", None), a.get(1, "layers", 1)
    sequences = a.get(2, "sequences", False, bool)
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[name]
    macs = seq * gates * hidden * (features + hidden) + \
        (layers - 1) * seq * gates * hidden * 2 * hidden
    out = [seq, hidden] if sequences else [hidden]
    module = None
    if nn:
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[name]
        extra = {"nonlinearity": a.get(3, "nonlinearity", "tanh", str)} if name == "rnn" else {}
        module = torch_wrappers(nn).Recurrent(
            kind(features, hidden, layers, batch_first=True, **extra), sequences)
    return module, out, macs


def attention_layer(nn, a, shape):
    seq, embed = shape
    heads, causal = a.get(0, "heads", None), a.get(1, "causal", False, bool)
    macs = 4 * seq * embed * embed + 2 * seq * seq * embed
    module = nn and torch_wrappers(nn).Attention(embed, heads, causal, seq)
    return module, shape, macs


def norm_layer(nn, name, a, shape):
    if name == "layernorm":
        return nn and nn.LayerNorm(shape, eps=a.get(0, "eps", 1e-5, float)), shape, 0
    momentum, eps = a.get(0, "momentum", 0.1, float), a.get(1, "eps", 1e-5, float)
    kind = nn and (nn.BatchNorm1d if len(shape) == 1 else nn.BatchNorm2d)
    return nn and kind(shape[0], eps=eps, momentum=momentum), shape, 0


def translate_layer(nn, item, shape):
    """One layer of a spec: (PyTorch module or None without nn, output shape, forward MACs)."""
    name, args, kwargs = parse_layer(item)
    a = Arg(args, kwargs)
    if name in ("dense", "linear"):
        return dense_layer(nn, a, shape)
    if name in ("conv", "conv_transpose"):
        return conv_layer(nn, a, shape, name == "conv_transpose")
    if name in ("maxpool", "avgpool"):
        return pool_layer(nn, name, a, shape)
    if name in ("lstm", "gru", "rnn"):
        return recurrent_layer(nn, name, a, shape)
    if name == "attention":
        return attention_layer(nn, a, shape)
    if name in ("batchnorm", "layernorm"):
        return norm_layer(nn, name, a, shape)
    if name == "flatten":
        return nn and nn.Flatten(), [math.prod(shape)], 0
    if name == "global_avgpool":
        return nn and nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), shape[:1], 0
    if name == "dropout":
        return nn and nn.Dropout(a.get(0, "p", 0.5, float)), shape, 0
    if name == "residual":
        inner, out, macs = translate(nn, ",".join(args), shape)
        return nn and torch_wrappers(nn).Residual(inner), out, macs
    if name in ACTIVATIONS or name in ("elu", "leaky_relu", "softplus"):
        return nn and activation(nn, name, a), shape, 0
    raise ValueError(f"zoo.py cannot translate layer '{name}' to PyTorch")


def translate(nn, spec, shape):
    """A whole spec: (nn.Sequential or None, output shape, forward multiply-adds per sample)."""
    modules, macs = [], 0
    for item in split_top(spec):
        module, shape, m = translate_layer(nn, item, list(shape))
        modules.append(module)
        macs += m
    return nn and nn.Sequential(*modules), shape, macs


def input_shape(kind):
    return [28, 28] if kind == "rows" else [1, 28, 28]


_WRAPPERS = {}


def torch_wrappers(nn):
    """The layers PyTorch spells differently: last hidden state, self-attention, x + f(x)."""
    if _WRAPPERS:
        return _WRAPPERS["ns"]
    import torch

    class Recurrent(nn.Module):
        def __init__(self, rnn, sequences):
            super().__init__()
            self.rnn, self.sequences = rnn, sequences

        def forward(self, x):
            out, _ = self.rnn(x)
            return out if self.sequences else out[:, -1]

    class Attention(nn.Module):
        def __init__(self, embed, heads, causal, seq):
            super().__init__()
            self.attn = nn.MultiheadAttention(embed, heads, batch_first=True)
            mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1) if causal else None
            self.register_buffer("mask", mask)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False, attn_mask=self.mask)[0]

    class Residual(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return x + self.inner(x)

    _WRAPPERS["ns"] = argparse.Namespace(Recurrent=Recurrent, Attention=Attention,
                                         Residual=Residual)
    return _WRAPPERS["ns"]


# ----------------------------------------------------------------------------------------------
# Data: the first N images of Fashion-MNIST as an MNIST-style folder both sides read.
# ----------------------------------------------------------------------------------------------

def idx_records(path, count):
    """(header, records): an IDX file's header cut to `count` records and their bytes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    record = math.prod(shape[1:])
    count = min(count, shape[0])
    header = raw[:4] + count.to_bytes(4, "big") + raw[8:4 + 4 * dims]
    return header, raw[4 + 4 * dims:4 + 4 * dims + count * record]


def write_subset(source, folder, train, test):
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        for kind in ("images-idx3", "labels-idx1"):
            header, body = idx_records(source / f"{prefix}-{kind}-ubyte.gz", count)
            (folder / f"{prefix}-{kind}-ubyte").write_bytes(header + body)
    return folder


def read_subset(folder, input_kind):
    import numpy as np

    raw = (folder / "train-images-idx3-ubyte").read_bytes()
    x = np.frombuffer(raw, np.uint8, offset=16).astype(np.float32) / np.float32(255.0)
    y = np.frombuffer((folder / "train-labels-idx1-ubyte").read_bytes(), np.uint8, offset=8)
    return x.reshape([-1] + input_shape(input_kind)), y.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Worker: one PyTorch run in its own process.
# ----------------------------------------------------------------------------------------------

def worker(args):
    import numpy as np
    import torch
    import torch.nn.functional as F

    _, spec, batch, _, input_kind, target = ZOO[args.model]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_all, y_all = read_subset(Path(args.data_dir), input_kind)
    xtr, ytr = torch.from_numpy(x_all), torch.from_numpy(y_all)
    model, _, _ = translate(torch.nn, spec, input_shape(input_kind))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    n = xtr.shape[0]
    model.train()
    rates = []
    for _ in range(args.epochs):
        perm = torch.from_numpy(rng.permutation(n))  # shuffled outside the timed loop
        loss_sum, seen = 0.0, 0
        start = time.perf_counter()
        for b in range(0, n, batch):
            idx = perm[b:b + batch]
            x = xtr[idx]
            opt.zero_grad(set_to_none=True)
            out = model(x)
            if target == "image":
                loss = F.mse_loss(out, x.reshape(len(idx), -1))
            else:
                loss = F.cross_entropy(out, ytr[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
        rates.append(seen / (time.perf_counter() - start))
    Path(args.worker_out).write_text(json.dumps(
        {"samples_per_sec": rates[-1], "train_loss": loss_sum / seen,
         "torch_threads": torch.get_num_threads()}))


# ----------------------------------------------------------------------------------------------
# Driver.
# ----------------------------------------------------------------------------------------------

def run_torch(args, model, threads, data, tmp):
    out, log = tmp / f"torch-{model}-{threads}.json", tmp / f"torch-{model}-{threads}.log"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model", model,
           "--threads", str(threads), "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--data-dir", str(data), "--worker-out", str(out)]
    rc, _, _ = cp.run_measured(cmd, cp.thread_env(threads), args.timeout, log)
    if rc != 0 or not out.exists():
        raise cp.RunError(f"PyTorch {model} with {threads} thread(s) failed (exit {rc}): "
                          f"{cp.tail(log, 3)}")
    return json.loads(out.read_text())["samples_per_sec"]


def backprop_command(args, model, threads, data, tmp, log_json):
    _, spec, batch, _, input_kind, target = ZOO[model]
    common = ["--model", spec, "--epochs", str(args.epochs), "--batch", str(batch), "--lr", str(LR),
              "--momentum", str(MOMENTUM), "--threads", str(threads), "--seed", str(args.seed)]
    if input_kind == "image" and target == "labels":
        return [str(args.backprop), "train", "--data", str(data), *common, "--schedule",
                "constant", "--log-json", str(log_json), "--out", str(tmp / "zoo.bp"), "--quiet"]
    return [str(args.zoo_train), "--data", str(data), *common, "--input", input_kind,
            "--target", target]


def run_backprop(args, model, threads, data, tmp):
    tag = f"bp-{model}-{threads}"
    log_json, log = tmp / f"{tag}.jsonl", tmp / f"{tag}.log"
    log_json.unlink(missing_ok=True)
    cmd = backprop_command(args, model, threads, data, tmp, log_json)
    rc, _, _ = cp.run_measured(cmd, cp.thread_env(threads), args.timeout, log)
    if rc != 0:
        raise cp.RunError(f"backprop {model} with {threads} thread(s) failed (exit {rc}): "
                          f"{cp.tail(log, 3)}")
    text = log_json.read_text() if log_json.exists() else log.read_text()
    epochs = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    if not epochs:
        raise cp.RunError(f"backprop {model} reported no epochs: {cp.tail(log, 3)}")
    return epochs[-1]["samples_per_sec"]


def fail(message):
    sys.exit(f"zoo.py: {message}")


def check_setup(args, models):
    """Stops with one line when a program, PyTorch or the data is missing."""
    def runnable(path):
        return path.is_file() and os.access(path, os.X_OK)

    build = "bash scripts/configure.sh build && ninja -C build"
    if not runnable(args.backprop):
        fail(f"the backprop CLI is not at {args.backprop} (build it: {build} backprop_cli, "
             "or pass --backprop PATH)")
    if any(ZOO[m][4] != "image" or ZOO[m][5] != "labels" for m in models) and \
            not runnable(args.zoo_train):
        fail(f"{args.zoo_train} is missing (build it: {build} backprop_bench_zoo_train)")
    probe = subprocess.run([sys.executable, "-c", "import numpy, torch; print(torch.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        why = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "failed"
        fail(f"cannot import PyTorch with {sys.executable} ({why}); install Debian's "
             "python3-torch and run with /usr/bin/python3")
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        if not (args.data_dir / name).is_file():
            fail(f"{args.data_dir / name} is missing (Debian's dataset-fashion-mnist)")
    return probe.stdout.strip()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backprop", type=Path, default=ROOT / "build/src/cli/backprop",
                   help="the backprop CLI (default: build/src/cli/backprop)")
    p.add_argument("--zoo-train", type=Path, default=None,
                   help="bench_zoo_train (default: <build>/bench/bench_zoo_train beside --backprop)")
    p.add_argument("--models", default=",".join(ZOO), help="comma-separated (default: all)")
    p.add_argument("--list", action="store_true", help="list the models and exit")
    p.add_argument("--reps", type=int, default=2, help="interleaved repetitions (default 2)")
    p.add_argument("--epochs", type=int, default=1,
                   help="epochs per run; the last one is timed (default 1)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplies every model's training samples (default 1)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: one repetition on a fifth of the samples")
    p.add_argument("--bp-threads", default="2", help="backprop thread counts (default 2; the "
                   "ratio uses 2 threads)")
    p.add_argument("--torch-threads", default="1,2", help="PyTorch thread counts (default 1,2)")
    p.add_argument("--peak-gflops", type=float, default=210.0,
                   help="fp32 FMA peak per thread in GFLOP/s (default 210)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900, help="seconds allowed per run")
    p.add_argument("--data-dir", type=Path, default=cp.DATA_DIR)
    p.add_argument("--markdown", type=Path, help="write the table into this Markdown file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    return p.parse_args()


def samples_of(args, model):
    n = ZOO[model][3] * args.scale / (5 if args.quick else 1)
    batch = ZOO[model][2]
    return max(batch, int(round(n / batch)) * batch)


def configs_of(args):
    return [("pytorch", t) for t in args.torch_threads] + [("backprop", t) for t in args.bp_threads]


def measure(args, models, tmp):
    """{(model, library, threads): [samples/s per repetition]}, repetitions interleaved."""
    folders = {}
    for m in models:
        n = samples_of(args, m)
        if n not in folders:
            folders[n] = write_subset(args.data_dir, tmp / f"data-{n}", n, TEST_IMAGES)
    results = {(m, lib, t): [] for m in models for lib, t in configs_of(args)}
    for rep in range(1, args.reps + 1):
        for m in models:
            data = folders[samples_of(args, m)]
            for lib, t in configs_of(args):
                t0 = time.monotonic()
                run = run_torch if lib == "pytorch" else run_backprop
                rate = run(args, m, t, data, tmp)
                results[(m, lib, t)].append(rate)
                print(f"[rep {rep}] {m} {lib} {t} thread(s): {rate:,.0f} samples/s, load "
                      f"{os.getloadavg()[0]:.2f} [{time.monotonic() - t0:.1f} s]", flush=True)
    return results


def model_row(args, m, results):
    label, spec, batch, _, input_kind, target = ZOO[m]
    _, _, macs = translate(None, spec, input_shape(input_kind))
    med = {(lib, t): statistics.median(v) for (mm, lib, t), v in results.items() if mm == m}
    torch_best = max(args.torch_threads, key=lambda t: med[("pytorch", t)])
    ours_t = 2 if 2 in args.bp_threads else max(args.bp_threads)
    ours, peer = med[("backprop", ours_t)], med[("pytorch", torch_best)]

    def peak(rate, threads):
        return 100 * rate * 3 * 2 * macs / (args.peak_gflops * 1e9 * threads)

    ours_cells = " | ".join(f"{med[('backprop', t)]:,.0f}" for t in args.bp_threads)
    if scaling_shown(args):
        ours_cells += f" | {med[('backprop', 2)] / med[('backprop', 1)]:.2f}×"
    row = (f"| {label} | `{spec}` | {batch} | {samples_of(args, m):,} | {macs / 1e6:.2f} | "
           f"{ours_cells} | {peer:,.0f} ({torch_best}) | **{ours / peer:.2f}×** | "
           f"{peak(ours, ours_t):.1f}% | {peak(peer, torch_best):.1f}% |")
    return row, ours / peer


def scaling_shown(args):
    """True when backprop ran on 1 and 2 threads: the table then gives 2 threads' speedup."""
    return 1 in args.bp_threads and 2 in args.bp_threads


def scaling_summary(args, models, results):
    """The geometric mean and the lowest of backprop's 2-thread speedups, when measured."""
    if not scaling_shown(args):
        return []
    med = {k: statistics.median(v) for k, v in results.items()}
    gains = [med[(m, "backprop", 2)] / med[(m, "backprop", 1)] for m in models]
    low = min(range(len(models)), key=lambda i: gains[i])
    geo = math.exp(sum(math.log(g) for g in gains) / len(gains))
    return ["", f"backprop on 2 threads against 1: geometric mean **{geo:.2f}×**; lowest: "
            f"{ZOO[models[low]][0]} ({gains[low]:.2f}×)."]


def render(args, models, results, torch_version, load, started, finished, command):
    rows, ratios = zip(*(model_row(args, m, results) for m in models))
    ours_heads = " | ".join(f"backprop {t}T samples/s" for t in args.bp_threads)
    ours_align = "---:|" * len(args.bp_threads)
    if scaling_shown(args):
        ours_heads += " | 2T/1T"
        ours_align += "---:|"
    slowest = min(range(len(models)), key=lambda i: ratios[i])
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    lines = [
        f"Measured {started:%Y-%m-%d %H:%M} to {finished:%H:%M} on {cp.machine_description()}; "
        f"PyTorch {torch_version}, Python {platform.python_version()}; load average (1 min) "
        f"{load[0]:.2f} before, {load[1]:.2f} after.",
        f"Median of {args.reps} interleaved repetition(s), {args.epochs} epoch(s) per run (the "
        f"last timed), SGD lr {LR} momentum {MOMENTUM}, seed {args.seed}. PyTorch: best of "
        f"{', '.join(map(str, args.torch_threads))} thread(s) (in brackets). MMAC: forward "
        "multiply-adds per sample; peak: share of "
        f"{args.peak_gflops:g} GFLOP/s per thread at 3× the forward's multiply-adds.",
        "",
        f"| model | spec | batch | samples | MMAC | {ours_heads} | PyTorch samples/s (threads) | "
        "ratio | backprop peak | PyTorch peak |",
        f"|---|---|---:|---:|---:|{ours_align}---:|---:|---:|---:|",
        *rows,
        "",
        f"Geometric mean of the ratios: **{geo:.2f}×** over {len(models)} models; lowest: "
        f"{ZOO[models[slowest]][0]} ({ratios[slowest]:.2f}×).",
        *scaling_summary(args, models, results),
        "",
        f"Command: `{command}`",
    ]
    return "\n".join(lines)


def main():
    args = parse_args()
    if args.worker:
        worker(args)
        return
    if args.list:
        for name, (label, spec, batch, n, _, _) in ZOO.items():
            print(f"{name:24} {label} (batch {batch}, {n} samples): {spec}")
        return
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in ZOO]
    if unknown or not models:
        fail(f"unknown model(s) {', '.join(unknown) or '(none)'} (known: {', '.join(ZOO)})")
    if args.reps < 1 or args.epochs < 1 or args.scale <= 0:
        fail("--reps and --epochs must be at least 1, --scale above 0")
    if args.quick:
        args.reps = 1
    args.bp_threads = [int(t) for t in args.bp_threads.split(",")]
    args.torch_threads = [int(t) for t in args.torch_threads.split(",")]
    args.backprop = args.backprop.resolve()
    if args.zoo_train is None:
        build = args.backprop.parents[2] if len(args.backprop.parents) > 2 else args.backprop.parent
        args.zoo_train = build / "bench" / "bench_zoo_train"
    torch_version = check_setup(args, models)
    command = "/usr/bin/python3 bench/zoo.py " + " ".join(sys.argv[1:])
    load_before, started = os.getloadavg()[0], datetime.datetime.now()
    with tempfile.TemporaryDirectory(prefix="zoo-") as tmpdir:
        results = measure(args, models, Path(tmpdir))
    md = render(args, models, results, torch_version, (load_before, os.getloadavg()[0]), started,
                datetime.datetime.now(), command.strip())
    print()
    print(md)
    if args.markdown:
        cp.write_markdown(args.markdown, md, MARK_BEGIN, MARK_END, "The model zoo")
        print(f"written to {args.markdown}")


if __name__ == "__main__":
    try:
        main()
    except cp.RunError as e:
        sys.exit(f"zoo.py: {e}")
    except KeyboardInterrupt:
        sys.exit(130)
