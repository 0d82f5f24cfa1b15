#!/usr/bin/env python3
"""PyTorch's ONNX exports, imported by backprop.

Builds small models with fixed seeds (an MLP of many activations, dense layers on sequences, a CNN
with batch norm and pooling, LSTM and GRU classifiers of the last step), exports each with torch.onnx.export, imports it with
`backprop import`, and compares `backprop predict --scores` with PyTorch's outputs on fixed inputs:
the largest absolute difference must be <= 1e-4, and the imported spec the expected one. A model
with an operator that has no layer form must be refused naming it. Exits non-zero on the first
failure.

  check_torch_import.py --backprop BIN [--work DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch import nn

TOLERANCE = 1e-4


def mlp():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 16),
        nn.Sigmoid(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16), nn.LeakyReLU(0.2),
        nn.Linear(16, 16), nn.ELU(0.5), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 16),
        nn.SiLU(), nn.Linear(16, 16), nn.Softplus(), nn.Linear(16, 16), nn.Mish(),
        nn.Linear(16, 16), nn.Hardswish(), nn.Dropout(0.3), nn.Linear(16, 3), nn.LogSoftmax(1))


MLP_SPEC = ("flatten,dense(32),batchnorm,relu,dense(16),sigmoid,dense(16),tanh,dense(16),"
            "leaky_relu(0.2),dense(16),elu(0.5),dense(16),gelu,dense(16),silu,dense(16),softplus,"
            "dense(16),mish,dense(16),hardswish,dense(3),log_softmax")


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.ReLU(), nn.BatchNorm2d(8), nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 1, stride=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 3))


# PyTorch folds a batch norm that follows a convolution into it; the one after a ReLU stays.
CNN_SPEC = ("conv(4,3,pad=1),relu,maxpool(2),conv(8,3,pad=1,bias=false),relu,batchnorm,avgpool(2),"
            "conv(8,1),relu,global_avgpool,dense(3)")

class LastStepClassifier(nn.Module):
    """A recurrent stack over (batch, seq, features), then a dense layer on its last step."""

    def __init__(self, cell, layers):
        super().__init__()
        self.rnn = cell(8, 16, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


# (name, model, input sample shape, opset, expected spec)
MODELS = [
    ("mlp", mlp, (1, 8, 8), 17, MLP_SPEC),
    ("mlp-opset13", mlp, (1, 8, 8), 13, MLP_SPEC),
    ("sequence", lambda: nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3)),
     (4, 16), 17, "dense(8),relu,flatten,dense(3)"),
    ("cnn", cnn, (1, 8, 8), 17, CNN_SPEC),
    ("lstm-classifier", lambda: LastStepClassifier(nn.LSTM, 2), (5, 8), 17,
     "lstm(16,layers=2),dense(3)"),
    ("gru-classifier", lambda: LastStepClassifier(nn.GRU, 1), (5, 8), 17, "gru(16),dense(3)"),
]


def run(cmd, expect_ok=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if (r.returncode == 0) != expect_ok:
        sys.exit(f"FAILED: {' '.join(cmd)} exited {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def randomise_batch_norm(model, gen):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def export(model, shape, opset, path):
    torch.onnx.export(model, torch.zeros((2,) + shape), path, opset_version=opset,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


def check(a, name, make, shape, opset, spec):
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(8)
    model = make()
    with torch.no_grad():
        randomise_batch_norm(model, gen)
    model.eval()
    onnx_path = os.path.join(a.work, name + ".onnx")
    export(model, shape, opset, onnx_path)
    x = torch.randn((50,) + shape, generator=gen)
    with torch.no_grad():
        ref = model(x).numpy()
    csv = os.path.join(a.work, name + ".csv")
    flat = x.reshape(len(x), -1).numpy()
    with open(csv, "w") as f:
        f.write(",".join(f"f{i}" for i in range(flat.shape[1])) + "\n")
        for row in flat:
            f.write(",".join(f"{v:.9g}" for v in row) + "\n")
    bp_model = os.path.join(a.work, name + ".bp")
    out = run([a.backprop, "import", onnx_path, "--out", bp_model])
    if f": {spec}, input" not in out:
        sys.exit(f"FAILED {name}: expected spec {spec}, import said: {out}")
    text = run([a.backprop, "predict", "--model-file", bp_model, "--input", csv, "--scores"])
    ours = np.array([[float(v) for v in line.split(",")] for line in text.splitlines()])
    if ours.shape != ref.shape:
        sys.exit(f"FAILED {name}: predict gave {ours.shape}, PyTorch {ref.shape}")
    diff = float(np.max(np.abs(ours - ref)))
    print(f"{name} (opset {opset}): {spec}; max |diff| {diff:.2e} over {len(x)} samples")
    if not diff <= TOLERANCE:
        sys.exit(f"FAILED {name}: max |diff| {diff} (limit {TOLERANCE})")


def check_refused(a):
    """An operator without a layer form is refused, naming the operator."""
    path = os.path.join(a.work, "prelu.onnx")
    export(nn.Sequential(nn.Linear(4, 4), nn.PReLU(), nn.Linear(4, 2)).eval(), (4,), 17, path)
    out = run([a.backprop, "import", path, "--out", os.path.join(a.work, "prelu.bp")],
              expect_ok=False)
    if "(PRelu): operator not supported by import" not in out:
        sys.exit(f"FAILED prelu: expected a refusal naming PRelu, got: {out}")
    print("prelu: refused:", out.strip())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backprop", required=True)
    p.add_argument("--work", help="folder for the files (default: a temporary one)")
    a = p.parse_args()
    tmp = None
    if not a.work:
        tmp = tempfile.TemporaryDirectory()
        a.work = tmp.name
    os.makedirs(a.work, exist_ok=True)
    torch.set_num_threads(1)
    for name, make, shape, opset, spec in MODELS:
        check(a, name, make, shape, opset, spec)
    check_refused(a)
    print("every PyTorch export imports and matches")


if __name__ == "__main__":
    main()
