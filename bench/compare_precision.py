#!/usr/bin/python3
"""Side-by-side benchmark: backprop training in fp32 against bf16 mixed precision (--precision).

    python3 bench/compare_precision.py [--reps 3] [--epochs 1] [--threads 2] [--models mlp,cnn]

Trains compare_pytorch.py's MLP and CNN on Fashion-MNIST with its settings (SGD lr 0.05, momentum
0.9, batch 128, the same seed) once in each precision per repetition, the repetitions interleaved
so that noise from other work hits both alike, and prints training samples/s (median and range),
the bf16/fp32 ratio, test accuracy after the same epochs, and the MLP's batch-1 inference latency
from build/bench/bench_inference.
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compare_pytorch as cp  # noqa: E402  (helpers only; it imports no torch at load time)

PRECISIONS = ("fp32", "bf16")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backprop", type=Path, default=cp.ROOT / "build/src/cli/backprop")
    p.add_argument("--bench-inference", type=Path, default=cp.ROOT / "build/bench/bench_inference")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    p.add_argument("--epochs", type=int, default=1, help="epochs per run (default 1)")
    p.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    p.add_argument("--models", default="mlp,cnn", help="models to run (default mlp,cnn)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900, help="seconds allowed per epoch")
    args = p.parse_args()
    models = args.models.split(",")
    runs = {(m, prec): [] for m in models for prec in PRECISIONS}
    latency = {prec: [] for prec in PRECISIONS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for rep in range(args.reps):
            for m in models:
                for prec in PRECISIONS:
                    r = cp.run_backprop(args, m, args.threads, True, tmp, precision=prec)
                    runs[(m, prec)].append(r)
                    print(f"rep {rep + 1} {m} {prec}: {r['samples_per_sec']:.0f} samples/s, "
                          f"accuracy {100 * r['test_accuracy']:.2f}%", flush=True)
            if args.bench_inference.exists():
                for prec in PRECISIONS:
                    latency[prec].append(cp.run_bench_inference(args, args.threads, tmp, prec))

    print(f"\n{args.epochs} epoch(s), {args.threads} thread(s), {args.reps} interleaved repetitions")
    print("| model | fp32 samples/s | bf16 samples/s | bf16/fp32 | fp32 accuracy | bf16 accuracy |")
    print("|---|---|---|---|---|---|")
    for m in models:
        rate = {prec: [r["samples_per_sec"] for r in runs[(m, prec)]] for prec in PRECISIONS}
        acc = {prec: [100 * r["test_accuracy"] for r in runs[(m, prec)]] for prec in PRECISIONS}
        ratios = [b / f for f, b in zip(rate["fp32"], rate["bf16"])]
        print(f"| {cp.MODELS[m]['label']} | {cp.fmt_rate(rate['fp32'])} | "
              f"{cp.fmt_rate(rate['bf16'])} | {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f}) | {statistics.median(acc['fp32']):.2f}% | "
              f"{statistics.median(acc['bf16']):.2f}% |")
    if latency["fp32"]:
        print(f"\nMLP batch-1 inference latency: fp32 {statistics.median(latency['fp32']):.1f} us, "
              f"bf16 {statistics.median(latency['bf16']):.1f} us (medians)")


if __name__ == "__main__":
    main()
