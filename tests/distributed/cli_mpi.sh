#!/usr/bin/env bash
# cli_mpi.sh BACKPROP MPIRUN: `backprop train` as a 2-rank job on this machine.
# - 2 ranks × batch 16 train the same model as 1 process × batch 32 (same test loss);
# - only rank 0 prints, writes --log-json, the checkpoint and the model;
# - without OMP_WAIT_POLICY the program re-executes itself under mpirun and still works;
# - a checkpoint resumes with another number of ranks (2 → 1 → 2);
# - a rank that meets bad data ends the job with "error: rank R: ..." and a non-zero exit;
# - --precision bf16 trains as a 2-rank job, close to fp32.
# Every run is bounded by a timeout, so a hang fails the test.
set -uo pipefail
BP=$1 MPIRUN=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
failures=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }
mpi2() { timeout --kill-after=5 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$@"; }
one() { timeout --kill-after=5 60 "$@"; }

# 300 samples, 4 features, 3 classes: the class is the largest of the first three features.
awk 'BEGIN { srand(7); print "a,b,c,d,label";
  for (i = 0; i < 300; i++) { a = rand(); b = rand(); c = rand(); d = rand();
    l = (a > b && a > c) ? "x" : (b > c ? "y" : "z"); printf "%.4f,%.4f,%.4f,%.4f,%s\n", a, b, c, d, l } }' > data.csv
# The model is spelled out without dropout, whose masks a 2-rank job draws differently.
model="flatten,dense(256),relu,dense(128),relu,dense(3)"
common=(train --data data.csv --model "$model" --seed 3 --schedule constant --lr 0.1)

# 1. Two ranks, every output asked for; OMP_WAIT_POLICY unset, so each rank re-executes itself.
env -u OMP_WAIT_POLICY "$MPIRUN" --version > /dev/null || fail "mpirun does not run"
env -u OMP_WAIT_POLICY timeout --kill-after=5 60 "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 \
  "$BP" "${common[@]}" --epochs 3 --batch 16 --out two.bp --log-json two.json --checkpoint two.ck > two.out 2> two.err
code=$?
((code == 0)) || { fail "2-rank training exited $code"; cat two.err >&2; }
[[ $(grep -c "^data-parallel: 2 ranks" two.out) == 1 ]] || fail "the job summary is not printed once"
[[ $(grep -c "^test accuracy" two.out) == 1 ]] || fail "the result is not printed once: $(cat two.out)"
[[ $(grep -c "^epoch 3/3" two.out) == 1 ]] || fail "epoch lines are not printed once"
[[ $(wc -l < two.json) == 3 ]] || fail "--log-json has $(wc -l < two.json) lines, expected 3 (one writer)"
[[ -s two.bp && -s two.ck ]] || fail "model or checkpoint missing"
[[ -z $(ls -A | grep -E '\.tmp|~' || true) ]] || fail "temporary files left behind: $(ls -A)"
one "$BP" info --model-file two.bp | grep -q '"ranks": 2' || fail "the model does not record 2 ranks"

# 2. One process with the global batch (2 × 16) trains the same model: same losses.
one "$BP" "${common[@]}" --epochs 3 --batch 32 --out one.bp --log-json one.json > one.out 2> one.err ||
  { fail "1-process training failed"; cat one.err >&2; }
paste -d' ' <(grep -o '"test_loss":[0-9.e-]*' one.json | cut -d: -f2) \
            <(grep -o '"test_loss":[0-9.e-]*' two.json | cut -d: -f2) |
  awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-4 || NF != 2) { print "test loss " $1 " vs " $2; bad = 1 } }
       END { exit bad }' || fail "2 ranks × 16 and 1 process × 32 disagree"

# 3. Resume the 2-rank checkpoint in one process, then that one with 2 ranks again.
one "$BP" "${common[@]}" --epochs 4 --batch 32 --resume two.ck --out r1.bp --log-json two.json \
  > r1.out 2> r1.err || { fail "resuming with 1 process failed"; cat r1.err >&2; }
grep -q "^epoch 4/4" r1.out || fail "the 1-process resume did not train epoch 4"
mpi2 "$BP" "${common[@]}" --epochs 5 --batch 16 --resume two.ck --out r2.bp --log-json two.json \
  > r2.out 2> r2.err || { fail "resuming with 2 ranks failed"; cat r2.err >&2; }
[[ $(grep -c "^epoch 5/5" r2.out) == 1 ]] || fail "the 2-rank resume did not train epoch 5 once"
[[ $(wc -l < two.json) == 5 ]] || fail "--log-json has $(wc -l < two.json) lines after resuming, expected 5"

# 4. Bad data: one sample so large that the loss overflows on the rank whose shard holds it.
{ head -n 1 data.csv; echo "3e38,3e38,-3e38,3e38,x"; tail -n +2 data.csv; } > bad.csv
start=$SECONDS
mpi2 "$BP" train --data bad.csv --model "$model" --normalize none --epochs 2 --batch 512 --out bad.bp \
  > bad.out 2> bad.err
code=$?
elapsed=$((SECONDS - start))
((code != 0 && code != 124)) || fail "bad data: exit code $code"
((elapsed < 30)) || fail "bad data: the job took ${elapsed}s to end"
grep -Eq "^error: rank [01]: training stopped: the loss became" bad.err ||
  { fail "bad data: no 'error: rank R: ...' line"; cat bad.err >&2; }
[[ ! -e bad.bp ]] || fail "bad data: a model was written"

# 5. bf16 mixed precision in a 2-rank job (gradients averaged in fp32): the model records it, and
#    its test loss stays close to the fp32 job's of part 1.
mpi2 "$BP" "${common[@]}" --epochs 3 --batch 16 --precision bf16 --out bf.bp --log-json bf.json \
  > bf.out 2> bf.err || { fail "2-rank bf16 training failed"; cat bf.err >&2; }
one "$BP" info --model-file bf.bp | grep -q '"precision": "bf16"' || fail "the model does not record bf16"
paste -d' ' <(sed -n 3p two.json | grep -o '"test_loss":[0-9.e-]*' | cut -d: -f2) \
            <(sed -n 3p bf.json | grep -o '"test_loss":[0-9.e-]*' | cut -d: -f2) |
  awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 0.02 * $1 + 0.01 || NF != 2) { print "test loss " $1 " vs " $2; bad = 1 } }
       END { exit bad }' || fail "the bf16 and fp32 2-rank jobs disagree"

if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
