#!/usr/bin/python3
"""Side-by-side benchmark: backprop (the CLI) against PyTorch on Fashion-MNIST.

    /usr/bin/python3 bench/compare_pytorch.py [--reps 3] [--epochs 1] [--markdown docs/performance.md]

Runs the same models with the same hyper-parameters (SGD lr 0.05, momentum 0.9, batch 128,
cross-entropy, reshuffled every epoch) in both libraries and reports training samples/s, test
accuracy after the same number of epochs, peak memory (max RSS) and, for the MLP, batch-1 inference
latency.

Fairness rules:
  * Every run is its own process. PyTorch runs once per thread count in {1, 2} with
    torch.set_num_threads(n) and OMP_NUM_THREADS=MKL_NUM_THREADS=n, OMP_WAIT_POLICY=passive; the
    best of those is "the best peer". backprop runs with --threads n and the same environment (and,
    as an extra row, without OMP_WAIT_POLICY).
  * Repetitions are interleaved: each repetition runs every configuration once, so that noise from
    other work on the machine hits all of them alike. The table shows the median and the range.
  * Only the training loop is timed: file loading, shuffling the index permutation and evaluation
    are outside it. Both sides gather each batch from in-memory tensors inside the loop and keep a
    running loss and accuracy (backprop's trainer does; the PyTorch loop does the same).
  * Peak RSS comes from os.wait4's rusage of each run's process (it includes the dataset in memory
    and, for PyTorch, the Python interpreter and the torch libraries). A child's ru_maxrss starts
    from its parent's size at the spawn, so this script never imports torch itself.

PyTorch comes from Debian (python3-torch): run this script with /usr/bin/python3.
The batch-1 latency of backprop comes from build/bench/bench_inference (Google Benchmark).
"""

import argparse
import datetime
import gzip
import json
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
ROOT = HERE.parent
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OPENBLAS = Path("/usr/lib/x86_64-linux-gnu/openblas-pthread")

MODELS = {
    "mlp": {
        "label": "MLP 784-256-128-10",
        "spec": "flatten,dense(256),relu,dense(128),relu,dense(10)",
    },
    "cnn": {
        "label": "CNN conv32-conv64-128-10",
        "spec": "conv(32,3),relu,maxpool(2),conv(64,3),relu,maxpool(2),flatten,dense(128),relu,dense(10)",
    },
}
LR, MOMENTUM, BATCH = 0.05, 0.9, 128
MARK_BEGIN = "<!-- compare_pytorch.py: begin (generated; rerun the script to update) -->"
MARK_END = "<!-- compare_pytorch.py: end -->"


# ----------------------------------------------------------------------------------------------
# Worker: one PyTorch run in its own process.
# ----------------------------------------------------------------------------------------------

def load_idx_gz(path, offset):
    import numpy as np

    with gzip.open(path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=offset)


def load_fashion_mnist(data_dir):
    """Returns (x_train, y_train, x_test, y_test) as numpy arrays, images float32 in [0, 1]."""
    import numpy as np

    def images(name):
        a = load_idx_gz(data_dir / name, 16)
        return (a.reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255.0))

    def labels(name):
        return load_idx_gz(data_dir / name, 8).astype(np.int64)

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


def torch_model(name):
    import torch.nn as nn

    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                             nn.ReLU(), nn.Linear(128, 10))
    # 28 -conv3-> 26 -pool2-> 13 -conv3-> 11 -pool2-> 5: 64·5·5 = 1600 features.
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def loaded_blas():
    """The BLAS shared libraries this process has mapped (which one torch really uses)."""
    names = set()
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split()[-1]
            if re.search(r"lib(open)?blas|libblis|libmkl", os.path.basename(path)):
                names.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(names)


def worker(args):
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    xtr, ytr, xte, yte = load_fashion_mnist(Path(args.data_dir))
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(xte), torch.from_numpy(yte)
    model = torch_model(args.model)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    n = xtr.shape[0]

    train_seconds, seen = 0.0, 0
    for _ in range(args.epochs):
        perm = torch.from_numpy(rng.permutation(n))  # shuffled outside the timed loop
        model.train()
        loss_sum, correct = 0.0, 0
        start = time.perf_counter()
        for b in range(0, n, BATCH):
            idx = perm[b:b + BATCH]
            x, y = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((out.argmax(1) == y).sum())
            seen += len(idx)
        train_seconds += time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xte[b:b + 1000]).argmax(1) == yte[b:b + 1000]).sum())
                      for b in range(0, xte.shape[0], 1000))
    result = {"samples_per_sec": seen / train_seconds, "train_seconds": train_seconds,
              "test_accuracy": correct / xte.shape[0], "torch_threads": torch.get_num_threads(),
              "blas": loaded_blas()}

    if args.model == "mlp" and args.latency_calls > 0:
        x1 = torch.rand(1, 1, 28, 28)
        times = []
        with torch.no_grad():
            for _ in range(200):
                model(x1)
            for _ in range(args.latency_calls):
                t0 = time.perf_counter_ns()
                model(x1)
                times.append(time.perf_counter_ns() - t0)
        result["latency_us"] = statistics.median(times) / 1000.0

    Path(args.worker_out).write_text(json.dumps(result))


# ----------------------------------------------------------------------------------------------
# Driver.
# ----------------------------------------------------------------------------------------------

class RunError(Exception):
    pass


def run_measured(cmd, env, timeout, log_path):
    """Runs cmd; returns (exit code, max RSS in MB, wall seconds). Kills it after `timeout` s."""
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise RunError(f"timed out after {timeout:.0f} s: {' '.join(map(str, cmd))}")
            time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024.0, time.monotonic() - start  # ru_maxrss is KiB


def tail(path, lines=8):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def thread_env(threads, passive=True, blas_dir=None):
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY"):
        env.pop(key, None)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    if passive:
        env["OMP_WAIT_POLICY"] = "passive"
    if blas_dir:
        # Debian's torch loads libblas.so.3; a folder that holds OpenBLAS's libblas.so.3 overrides
        # the system alternative for this process only.
        env["LD_LIBRARY_PATH"] = str(blas_dir) + (":" + env["LD_LIBRARY_PATH"]
                                                  if env.get("LD_LIBRARY_PATH") else "")
    return env


def system_blas():
    """What /usr/lib/.../libblas.so.3 (the Debian alternative) points to, in words."""
    for cand in ("/usr/lib/x86_64-linux-gnu/libblas.so.3", "/usr/lib/aarch64-linux-gnu/libblas.so.3"):
        if os.path.exists(cand):
            real = os.path.realpath(cand)
            if "openblas" in real:
                return "OpenBLAS"
            if "blis" in real:
                return "BLIS"
            if "mkl" in real:
                return "MKL"
            if "/blas/" in real:
                return "netlib reference BLAS"
            return real
    return "unknown BLAS"


def run_torch(args, model, threads, blas, tmp):
    out = tmp / f"torch-{model}-{threads}-{blas}.json"
    log = tmp / f"torch-{model}-{threads}-{blas}.log"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model", model,
           "--threads", str(threads), "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--data-dir", str(args.data_dir), "--worker-out", str(out),
           "--latency-calls", str(args.latency_calls)]
    env = thread_env(threads, blas_dir=args.openblas if blas == "openblas" else None)
    rc, rss, _ = run_measured(cmd, env, args.timeout * args.epochs + 60, log)
    if rc != 0 or not out.exists():
        raise RunError(f"PyTorch ({blas}) {model} with {threads} thread(s) failed (exit {rc}):\n{tail(log)}")
    r = json.loads(out.read_text())
    r["rss_mb"] = rss
    return r


def run_backprop(args, model, threads, passive, tmp, precision="fp32"):
    tag = f"bp-{model}-{threads}-{'passive' if passive else 'default'}-{precision}"
    log_json, log = tmp / f"{tag}.jsonl", tmp / f"{tag}.log"
    log_json.unlink(missing_ok=True)
    cmd = [str(args.backprop), "train", "--data", "fashion-mnist", "--model", MODELS[model]["spec"],
           "--epochs", str(args.epochs), "--batch", str(BATCH), "--lr", str(LR),
           "--momentum", str(MOMENTUM), "--threads", str(threads), "--seed", str(args.seed),
           "--log-json", str(log_json), "--out", str(tmp / f"{tag}.bp"), "--quiet",
           "--precision", precision]
    rc, rss, _ = run_measured(cmd, thread_env(threads, passive), args.timeout * args.epochs + 60, log)
    if rc != 0:
        raise RunError(f"backprop {model} with {threads} thread(s) failed (exit {rc}):\n{tail(log)}")
    epochs = [json.loads(line) for line in log_json.read_text().splitlines() if line.strip()]
    if not epochs:
        raise RunError(f"backprop wrote no epochs to {log_json}:\n{tail(log)}")
    seconds = sum(e["seconds"] for e in epochs)
    samples = sum(e["samples_per_sec"] * e["seconds"] for e in epochs)
    return {"samples_per_sec": samples / seconds, "train_seconds": seconds,
            "test_accuracy": epochs[-1]["test_accuracy"], "rss_mb": rss}


def run_bench_inference(args, threads, tmp, precision="fp32"):
    log = tmp / f"inference-{threads}-{precision}.log"
    out = tmp / f"inference-{threads}-{precision}.json"
    cmd = [str(args.bench_inference), f"--bp_threads={threads}", "--benchmark_format=json",
           f"--benchmark_filter=/bf16:{int(precision == 'bf16')}/",
           f"--benchmark_out={out}", "--benchmark_out_format=json", "--benchmark_repetitions=5",
           "--benchmark_report_aggregates_only=true", "--benchmark_min_time=0.2"]
    rc, _, _ = run_measured(cmd, thread_env(threads), 300, log)
    if rc != 0 or not out.exists():
        raise RunError(f"bench_inference failed (exit {rc}):\n{tail(log)}")
    data = json.loads(out.read_text())
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "median" or b.get("run_type") == "iteration":
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
            return b["real_time"] * scale
    raise RunError(f"bench_inference: no timing in {out}")


def machine_description():
    model, cpus = platform.processor() or "unknown CPU", os.cpu_count()
    cores = threads_per_core = None
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        model = fields.get("Model name", model)
        cpus = fields.get("CPU(s)", cpus)
        if "Core(s) per socket" in fields and "Socket(s)" in fields:
            cores = int(fields["Core(s) per socket"]) * int(fields["Socket(s)"])
        threads_per_core = fields.get("Thread(s) per core")
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    desc = f"{model}, {cpus} logical CPUs"
    if cores is not None:
        desc += f" ({cores} cores, {threads_per_core} thread(s) per core)"
    return desc


def fmt_rate(values):
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.0f}"
    return f"{med:,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def check_setup(args):
    # Checked in a child process: this process must stay small, because a child's peak RSS
    # (ru_maxrss) starts from the size of the parent that spawned it, and torch alone is ~200 MB.
    def probe_torch():
        return subprocess.run([sys.executable, "-c", "import numpy, torch; print(torch.__version__)"],
                              capture_output=True, text=True)
    probe = probe_torch()
    if probe.returncode != 0 and sys.executable == "/usr/bin/python3":
        # The peer is a Debian package: install it (and its fastest BLAS) as the build's own are.
        deps = Path(__file__).resolve().parents[1] / "scripts" / "install-deps.sh"
        subprocess.run(["bash", str(deps), "bench"], check=False)
        probe = probe_torch()
    if probe.returncode != 0:
        sys.exit(f"compare_pytorch.py: cannot import PyTorch/numpy with {sys.executable} "
                 f"({probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'failed'}).\n"
                 "Install Debian's python3-torch and run the script with /usr/bin/python3.")
    if not (args.backprop.is_file() and os.access(args.backprop, os.X_OK)):
        sys.exit(f"compare_pytorch.py: backprop binary not found at {args.backprop}.\n"
                 "Build it: cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && "
                 "ninja -C build backprop_cli backprop_bench_inference   (or pass --backprop PATH)")
    if args.latency_calls > 0 and not (args.bench_inference.is_file()
                                       and os.access(args.bench_inference, os.X_OK)):
        sys.exit(f"compare_pytorch.py: {args.bench_inference} not found; build it with "
                 "ninja -C build backprop_bench_inference, pass --bench-inference PATH, or --latency-calls 0")
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        if not (args.data_dir / name).is_file():
            sys.exit(f"compare_pytorch.py: {args.data_dir / name} is missing (Fashion-MNIST)")
    return probe.stdout.strip()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backprop", type=Path, default=ROOT / "build/src/cli/backprop",
                   help="the backprop CLI binary (default: build/src/cli/backprop)")
    p.add_argument("--bench-inference", type=Path, default=None,
                   help="the bench_inference binary (default: <build>/bench/bench_inference next "
                        "to --backprop)")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    p.add_argument("--epochs", type=int, default=1, help="epochs per run (default 1)")
    p.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    p.add_argument("--models", default="mlp,cnn", help="models to run (default mlp,cnn)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-calls", type=int, default=2000,
                   help="batch-1 forward calls timed in PyTorch (0: skip the latency comparison)")
    p.add_argument("--timeout", type=float, default=900,
                   help="seconds allowed per run and epoch (default 900)")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR)
    p.add_argument("--openblas", type=Path, default=None,
                   help="a folder holding OpenBLAS's libblas.so.3; PyTorch also runs with it "
                        f"(default: {DEFAULT_OPENBLAS} if present; 'none' to skip)")
    p.add_argument("--markdown", type=Path, help="write the results into this Markdown file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        args.threads = int(args.threads)
        worker(args)
        return

    args.backprop = args.backprop.resolve()
    if args.bench_inference is None:
        # build/src/cli/backprop -> build/bench/bench_inference
        build = args.backprop.parents[2] if len(args.backprop.parents) > 2 else args.backprop.parent
        args.bench_inference = build / "bench" / "bench_inference"
    args.bench_inference = args.bench_inference.resolve()
    threads = [int(t) for t in args.threads.split(",")]
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            sys.exit(f"compare_pytorch.py: unknown model '{m}' (known: {', '.join(MODELS)})")
    if args.reps < 1 or args.epochs < 1:
        sys.exit("compare_pytorch.py: --reps and --epochs must be at least 1")
    torch_version = check_setup(args)
    if args.openblas is None:
        args.openblas = DEFAULT_OPENBLAS if (DEFAULT_OPENBLAS / "libblas.so.3").exists() else None
    elif str(args.openblas) == "none":
        args.openblas = None
    elif not (args.openblas / "libblas.so.3").exists():
        sys.exit(f"compare_pytorch.py: --openblas: no libblas.so.3 in {args.openblas}")
    if args.openblas is not None:
        args.openblas = args.openblas.resolve()
    blas_variants = ["system"] + (["openblas"] if args.openblas else [])

    # Configurations: (model, library, threads, variant). PyTorch variants are BLAS libraries,
    # backprop variants are with and without OMP_WAIT_POLICY=passive.
    configs = []
    for m in models:
        for blas in blas_variants:
            for t in threads:
                configs.append((m, "pytorch", t, blas))
        for variant in ("passive", "default"):
            for t in threads:
                configs.append((m, "backprop", t, variant))
    results = {c: [] for c in configs}
    latency = {("pytorch", b, t): [] for b in blas_variants for t in threads}
    latency |= {("backprop", "passive", t): [] for t in threads}
    blas_seen = {}

    load_before = os.getloadavg()
    started = datetime.datetime.now()
    with tempfile.TemporaryDirectory(prefix="compare_pytorch-") as tmpdir:
        tmp = Path(tmpdir)
        for rep in range(1, args.reps + 1):
            for c in configs:
                m, lib, t, variant = c
                t0 = time.monotonic()
                if lib == "pytorch":
                    r = run_torch(args, m, t, variant, tmp)
                    blas_seen[variant] = r["blas"]
                    if "latency_us" in r:
                        latency[("pytorch", variant, t)].append(r["latency_us"])
                else:
                    r = run_backprop(args, m, t, variant == "passive", tmp)
                results[c].append(r)
                print(f"[rep {rep}] {config_name(c, args)} {m} {t} thread(s): "
                      f"{r['samples_per_sec']:,.0f} samples/s, acc {100 * r['test_accuracy']:.2f}%, "
                      f"RSS {r['rss_mb']:.0f} MB, load {os.getloadavg()[0]:.2f} "
                      f"[{time.monotonic() - t0:.1f} s]", flush=True)
            if "mlp" in models and args.latency_calls > 0:
                for t in threads:
                    us = run_bench_inference(args, t, tmp)
                    latency[("backprop", "passive", t)].append(us)
                    print(f"[rep {rep}] backprop batch-1 latency {t} thread(s): {us:.1f} µs", flush=True)
    load_after = os.getloadavg()
    finished = datetime.datetime.now()

    md = render(args, models, threads, configs, results, latency, torch_version,
                blas_seen, load_before, load_after, started, finished)
    print()
    print(md)
    if args.markdown:
        write_markdown(args.markdown, md)
        print(f"written to {args.markdown}")


def median_of(rs, key):
    return statistics.median(r[key] for r in rs) if rs else None


def config_name(c, args=None):
    _, lib, _, variant = c
    if lib == "pytorch":
        return "PyTorch, OpenBLAS" if variant == "openblas" else f"PyTorch, system BLAS ({system_blas()})"
    return "backprop" if variant == "passive" else "backprop, OMP_WAIT_POLICY unset"


def render(args, models, threads, configs, results, latency, torch_version,
           blas_seen, load_before, load_after, started, finished):
    lines = []
    out = lines.append
    out(f"Measured {started:%Y-%m-%d %H:%M} to {finished:%H:%M} on {machine_description()}; "
        f"PyTorch {torch_version} (Debian python3-torch), Python {platform.python_version()}.")
    out(f"{args.reps} interleaved repetition(s), {args.epochs} epoch(s) per run, batch {BATCH}, "
        f"SGD lr {LR} momentum {MOMENTUM}, cross-entropy, seed {args.seed}. All runs set "
        "OMP_NUM_THREADS (and MKL_/OPENBLAS_NUM_THREADS) to the thread count and "
        "OMP_WAIT_POLICY=passive, except the rows that say otherwise.")
    for variant, libs in sorted(blas_seen.items()):
        out(f"PyTorch {variant} BLAS as loaded: {', '.join(libs) if libs else 'none found'}.")
    out(f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.2f}' for x in load_after)}.")
    out("")
    out("| model | library | threads | training samples/s, median (min–max) | test accuracy | peak RSS MB |")
    out("|---|---|---:|---:|---:|---:|")
    for c in configs:
        m, lib, t, variant = c
        rs = results[c]
        if not rs:
            continue
        acc = median_of(rs, "test_accuracy")
        rss = median_of(rs, "rss_mb")
        out(f"| {MODELS[m]['label']} | {config_name(c)} | {t} | "
            f"{fmt_rate([r['samples_per_sec'] for r in rs])} | {100 * acc:.2f}% | {rss:.0f} |")
    out("")
    for m in models:
        peers = {c: median_of(rs, "samples_per_sec") for c, rs in results.items()
                 if c[0] == m and c[1] == "pytorch" and rs}
        if not peers:
            continue
        best = max(peers, key=peers.get)
        label = MODELS[m]["label"]
        peer_text = f"{config_name(best)}, {best[2]} thread(s), {peers[best]:,.0f} samples/s"
        bp2 = results.get((m, "backprop", 2, "passive"), [])
        if bp2:
            ratio = median_of(bp2, "samples_per_sec") / peers[best]
            rss_ratio = median_of(bp2, "rss_mb") / median_of(results[best], "rss_mb")
            out(f"- {label}: throughput ratio backprop 2 threads / best peer ({peer_text}) = "
                f"**{ratio:.2f}×**; peak RSS ratio backprop 2 threads / that peer = {rss_ratio:.2f}.")
    if "mlp" in models and args.latency_calls > 0:
        parts, best = [], {}
        for (lib, variant, t), v in latency.items():
            if v:
                med = statistics.median(v)
                name = config_name(("mlp", lib, t, variant))
                parts.append(f"{name}, {t} thread(s): {med:.1f} µs")
                if med < best.get(lib, (float("inf"),))[0]:
                    best[lib] = (med, f"{name}, {t} thread(s)")
        if len(best) == 2:
            out(f"- MLP batch-1 inference latency (median of medians): {'; '.join(parts)}. "
                f"Ratio best backprop ({best['backprop'][1]}) / best PyTorch ({best['pytorch'][1]}) "
                f"= **{best['backprop'][0] / best['pytorch'][0]:.2f}×** (below 1: backprop answers "
                "faster).")
    out("")
    out("Commands: PyTorch runs `bench/compare_pytorch.py --worker` in a fresh process per "
        "configuration (OpenBLAS through `LD_LIBRARY_PATH`); backprop runs `backprop train --data "
        f"fashion-mnist --model SPEC --epochs {args.epochs} --batch {BATCH} --lr {LR} --momentum "
        f"{MOMENTUM} --threads N --log-json FILE --quiet` and `bench_inference --bp_threads=N "
        "--benchmark_format=json`.")
    return "\n".join(lines)


def write_markdown(path, body, begin=MARK_BEGIN, end=MARK_END,
                   heading="backprop vs PyTorch on Fashion-MNIST"):
    """Puts body between the markers begin and end in path (a new section `heading` if absent)."""
    section = f"{begin}\n{body}\n{end}"
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        if not text:
            text = "# Performance\n"
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + section + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


if __name__ == "__main__":
    try:
        main()
    except RunError as e:
        sys.exit(f"compare_pytorch.py: {e}")
    except KeyboardInterrupt:
        sys.exit(130)
