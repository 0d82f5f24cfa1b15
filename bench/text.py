#!/usr/bin/python3
"""Character models on a text corpus: backprop against PyTorch, side by side in one run.

    /usr/bin/python3 bench/text.py [--corpus /usr/share/games/fortunes/computers] [--epochs 3]
                                   [--models lstm,transformer] [--seeds 1,2,3]
                                   [--markdown docs/results.md]

Both sides read the corpus as backprop does (`backprop train --data FILE --seq-len 64`): UTF-8
code points, the first 90% for training and the last 10% for testing, a vocabulary of the training
part's characters plus an unknown token (id 0, first; the others in code-point order), and
non-overlapping windows of 64 characters with the next character as the target at every position.
Both train the same model (same layer sizes, each side's own initialisation) with Adam (lr 0.002,
constant), batch 32, shuffled, for the same epochs, then report the test loss in bits per
character and the training samples (windows) per second of the last epoch. With several seeds
(`--seeds 1,2,3`) each side trains once per seed and the table gives the mean bits per character
with its spread and the median speed: one seed's difference between the two is of the size of a
change of seed.

backprop runs the CLI with --threads 2; PyTorch runs with 1 and 2 threads and counts at its best
(the fairness rules of bench/compare_pytorch.py: each run its own process, the thread count in
OMP_NUM_THREADS and torch.set_num_threads, OMP_WAIT_POLICY=passive, only the training loop timed).
After the runs, backprop's LSTM continues a few prompts (`backprop generate`).
"""

import argparse
import json
import math
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
SEQ, BATCH, LR, TEST_FRACTION = 64, 32, 0.002, 0.1
MARK_BEGIN = "<!-- text.py: begin (generated; rerun the script to update) -->"
MARK_END = "<!-- text.py: end -->"
PROMPTS = ["The ", "A computer ", "Unix "]

# name: (label, backprop spec with V for the vocabulary's size)
MODELS = {
    "lstm": ("character LSTM", "embedding(V,64),lstm(256,sequences=true),dense(V)"),
    "transformer": ("decoder-only transformer",
                    "embedding(V,64),positional,transformer(4,256,dropout=0),dense(V)"),
}


def corpus_ids(path):
    """The training and test parts as id lists, and the vocabulary's size (as backprop cuts them)."""
    text = Path(path).read_bytes().decode("utf-8")
    n_test = int(math.floor(TEST_FRACTION * len(text) + 0.5))
    train, test = text[:len(text) - n_test], text[len(text) - n_test:]
    vocab = {c: i + 1 for i, c in enumerate(sorted(set(train)))}
    return [vocab[c] for c in train], [vocab.get(c, 0) for c in test], len(vocab) + 1


def windows(ids):
    import torch
    n = (len(ids) - 1) // SEQ
    t = torch.tensor(ids[:n * SEQ + 1], dtype=torch.long)
    return t[:n * SEQ].reshape(n, SEQ), t[1:n * SEQ + 1].reshape(n, SEQ)


def torch_model(name, v):
    import torch
    from torch import nn

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.lstm, self.out = nn.Embedding(v, 64), nn.LSTM(64, 256,
                                                                           batch_first=True), nn.Linear(256, v)

        def forward(self, x):
            return self.out(self.lstm(self.embed(x))[0])

    class Transformer(nn.Module):
        """embedding, learned positions, one pre-norm causal block (4 heads, GELU MLP of 256)."""

        def __init__(self, dim=64, heads=4, ff=256):
            super().__init__()
            self.embed = nn.Embedding(v, dim)
            self.pos = nn.Parameter(torch.randn(SEQ, dim) * 0.02)
            self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.ff1, self.ff2 = nn.Linear(dim, ff), nn.Linear(ff, dim)
            self.out = nn.Linear(dim, v)
            self.register_buffer("mask", torch.triu(torch.ones(SEQ, SEQ, dtype=torch.bool), 1))

        def forward(self, x):
            s = x.shape[1]
            x = self.embed(x) + self.pos[:s]
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=self.mask[:s, :s], need_weights=False)[0]
            x = x + self.ff2(nn.functional.gelu(self.ff1(self.ln2(x))))
            return self.out(x)

    return {"lstm": Lstm, "transformer": Transformer}[name]()


def worker(args):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_ids, test_ids, v = corpus_ids(args.corpus)
    (xtr, ytr), (xte, yte) = windows(train_ids), windows(test_ids)
    model = torch_model(args.model, v)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(args.seed)
    n, rates = xtr.shape[0], []
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)  # shuffled outside the timed loop
        start = time.perf_counter()
        for b in range(0, n, BATCH):
            idx = perm[b:b + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xtr[idx]).reshape(-1, v), ytr[idx].reshape(-1))
            loss.backward()
            opt.step()
        rates.append(n / (time.perf_counter() - start))
    model.eval()
    with torch.no_grad():
        test = sum(F.cross_entropy(model(xte[b:b + 256]).reshape(-1, v), yte[b:b + 256].reshape(-1),
                                   reduction="sum").item() for b in range(0, xte.shape[0], 256))
    Path(args.worker_out).write_text(json.dumps(
        {"samples_per_sec": rates[-1], "test_bpc": test / yte.numel() / math.log(2)}))


def run_torch(args, model, threads, tmp):
    out, log = tmp / f"torch-{model}-{threads}.json", tmp / f"torch-{model}-{threads}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model", model,
           "--threads", str(threads), "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--corpus", str(args.corpus), "--worker-out", str(out)]
    rc, _, _ = cp.run_measured(cmd, cp.thread_env(threads), args.timeout, log)
    if rc != 0 or not out.exists():
        raise cp.RunError(f"PyTorch {model} ({threads} threads) failed: {cp.tail(log, 3)}")
    return json.loads(out.read_text())


def run_backprop(args, model, v, tmp):
    log_json, log = tmp / f"bp-{model}.jsonl", tmp / f"bp-{model}.log"
    out = tmp / f"{model}.bp"
    spec = MODELS[model][1].replace("V", str(v))
    cmd = [str(args.backprop), "train", "--data", str(args.corpus), "--seq-len", str(SEQ),
           "--model", spec, "--optimizer", "adam", "--lr", str(LR), "--schedule", "constant",
           "--batch", str(BATCH), "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--threads", "2", "--log-json", str(log_json), "--out", str(out), "--quiet"]
    if args.plot and model == "lstm" and args.seed == args.seeds[0]:
        cmd += ["--plot", str(args.plot)]
    rc, _, _ = cp.run_measured(cmd, cp.thread_env(2), args.timeout, log)
    if rc != 0:
        raise cp.RunError(f"backprop {model} failed (exit {rc}): {cp.tail(log, 3)}")
    last = [json.loads(line) for line in log_json.read_text().splitlines()][-1]
    return {"samples_per_sec": last["samples_per_sec"],
            "test_bpc": last["test_loss"] / math.log(2), "model": out}


def samples(args, model_file):
    text = []
    for seed, prompt in enumerate(PROMPTS, 1):
        run = subprocess.run([str(args.backprop), "generate", "--model-file", str(model_file),
                              "--prompt", prompt, "--length", "160", "--temperature", "0.8",
                              "--seed", str(seed)], capture_output=True, text=True)
        if run.returncode == 0:  # else a prompt character the corpus lacks
            text.append(prompt + run.stdout.rstrip("\n"))
    return text


def bits(runs):
    """The runs' test bits per character: the one value, or the mean (sd) and each seed's."""
    values = [r["test_bpc"] for r in runs]
    if len(values) == 1:
        return f"{values[0]:.3f}"
    each = ", ".join(f"{x:.3f}" for x in values)
    return f"{statistics.mean(values):.3f} ({statistics.stdev(values):.3f}; {each})"


def speed(runs):
    return statistics.median(r["samples_per_sec"] for r in runs)


def render(args, v, rows, texts):
    seeds = ", ".join(str(s) for s in args.seeds)
    lines = [f"Corpus `{args.corpus}` ({Path(args.corpus).stat().st_size} bytes, {v} tokens with "
             f"the unknown one), windows of {SEQ}, Adam lr {LR}, batch {BATCH}, {args.epochs} "
             f"epochs, seed(s) {seeds}; test = the last 10%.", "",
             "| model | backprop bits/char | PyTorch bits/char | backprop samples/s | "
             "PyTorch samples/s (best of 1, 2 threads) | ratio |", "|---|---|---|---|---|---|"]
    if len(args.seeds) > 1:
        lines[0] += (" Bits per character: mean (standard deviation; each seed's); samples/s: "
                     "the median over the seeds.")
    for label, bp, pt, best in rows:
        lines.append(f"| {label} | {bits(bp)} | {bits(pt)} | {speed(bp):.0f} | "
                     f"{speed(pt):.0f} ({best} threads) | {speed(bp) / speed(pt):.2f}x |")
    if texts:
        lines += ["", "Samples from backprop's LSTM (`--temperature 0.8`, seeds 1, 2, 3, 160 "
                  "characters after each prompt):", "", "```"] + texts + ["```"]
    return "\n".join(lines)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("/usr/share/games/fortunes/computers"),
                   help="UTF-8 text (default: Debian's fortunes package, 'computers')")
    p.add_argument("--backprop", type=Path, default=ROOT / "build/src/cli/backprop")
    p.add_argument("--models", default="lstm,transformer")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", default="1", help="comma-separated seeds, one run per side each")
    p.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--plot", type=Path, help="backprop's LSTM curves (loss.svg) into this folder")
    p.add_argument("--markdown", type=Path, help="write the table between the markers of this file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    return args


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    if not args.corpus.exists():
        sys.exit(f"text.py: {args.corpus} is missing (apt-get install fortunes, or --corpus FILE)")
    _, _, v = corpus_ids(args.corpus)
    rows, texts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for model in args.models.split(","):
            ours, theirs, best = [], [], None
            for seed in args.seeds:  # PyTorch's best thread count is chosen on the first seed
                args.seed = seed
                ours.append(run_backprop(args, model, v, tmp))
                if best is None:
                    torch = {t: run_torch(args, model, t, tmp) for t in (1, 2)}
                    best = max(torch, key=lambda t: torch[t]["samples_per_sec"])
                    theirs.append(torch[best])
                else:
                    theirs.append(run_torch(args, model, best, tmp))
                print(f"{model} seed {seed}: backprop {ours[-1]['test_bpc']:.3f} bits/char "
                      f"{ours[-1]['samples_per_sec']:.0f}/s, PyTorch {theirs[-1]['test_bpc']:.3f} "
                      f"bits/char {theirs[-1]['samples_per_sec']:.0f}/s ({best} threads)", flush=True)
                if model == "lstm" and seed == args.seeds[0]:
                    texts = samples(args, ours[-1]["model"])
            rows.append((MODELS[model][0], ours, theirs, best))
    body = render(args, v, rows, texts)
    print(body)
    if args.markdown:
        cp.write_markdown(args.markdown, body, MARK_BEGIN, MARK_END,
                          heading="Character models on a text corpus")


if __name__ == "__main__":
    main()
