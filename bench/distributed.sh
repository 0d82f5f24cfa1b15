#!/usr/bin/env bash
# Data-parallel training speed on Fashion-MNIST: 1 rank × 2 threads (one process) against 2 ranks ×
# 1 thread (mpirun, each rank bound to a core), for the MLP and the CNN of docs/performance.md,
# global batch 128. Repetitions are interleaved so that noise from other work on the machine hits
# every configuration alike; prints each run's JSON line, then the median and range per
# configuration.
#
#   bash bench/distributed.sh [REPS] [BUILD_DIR]      (defaults: 5, build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPS=${1:-5}
BENCH=${2:-build}/bench/bench_distributed
export OMP_WAIT_POLICY=passive
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((rep = 1; rep <= REPS; rep++)); do
  for model in mlp cnn; do
    OMP_NUM_THREADS=2 "$BENCH" --model "$model" --threads 2 | tee -a "$out"
    OMP_NUM_THREADS=1 mpirun --allow-run-as-root --bind-to core -np 2 \
      "$BENCH" --model "$model" --threads 1 | tee -a "$out"
    OMP_NUM_THREADS=1 mpirun --allow-run-as-root --bind-to core -np 2 \
      "$BENCH" --model "$model" --threads 1 --bucket-kb 128 | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
groups = {}
for r in rows:
    groups.setdefault((r["model"], r["ranks"], r["threads"], r["bucket_kb"]), []).append(r)
def fmt(values, f):
    return f"{f(statistics.median(values))} ({f(min(values))}–{f(max(values))})"
print("\n| model | ranks × threads | bucket | samples/s, median (range) | step ms | MPI wait ms | wait share | bare allreduce ms |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for (model, ranks, threads, kb), rs in groups.items():
    col = lambda k: [r[k] for r in rs]
    wait = "–" if ranks == 1 else fmt(col("wait_ms"), lambda v: f"{v:.2f}")
    share = "–" if ranks == 1 else fmt(col("wait_share"), lambda v: f"{100 * v:.0f}%")
    ar = "–" if ranks == 1 else fmt(col("allreduce_ms"), lambda v: f"{v:.2f}")
    bucket = "–" if ranks == 1 else f"{kb} KiB"
    print(f"| {model.upper()} | {ranks} × {threads} | {bucket} | "
          f"{fmt(col('samples_per_sec'), lambda v: f'{v:,.0f}')} | "
          f"{fmt(col('step_ms'), lambda v: f'{v:.2f}')} | {wait} | {share} | {ar} |")
print(f"\n{len(rows) // max(1, len(groups))} run(s) per row; parameters: " +
      ", ".join(f"{m.upper()} {rs[0]['parameters']:,}" for (m, r, t, k), rs in groups.items() if r == 1))
PY
