#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each one for a bounded time on a
# small generated seed corpus.
#   scripts/fuzz.sh [seconds per target, default 20]
# The build tree is FUZZ_BUILD_DIR (default build-fuzz/; configured here when it has no cache, and
# scripts/test.sh passes its sanitizer build, which has BP_FUZZ on). Crash inputs land in
# FUZZ_BUILD_DIR/artifacts/; the exit status is non-zero if any target failed.
set -euo pipefail

seconds="${1:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-build-fuzz}"
[[ $build = /* ]] || build="$root/$build"
jobs="${FUZZ_JOBS:-$(nproc)}"

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DBP_FUZZ=ON -DBP_WERROR=OFF -DBP_BUILD_CLI=OFF \
    -DBP_BUILD_TESTS=OFF -DBP_BUILD_BENCH=OFF -DBP_BUILD_EXAMPLES=OFF >/dev/null
fi
ninja -C "$build" backprop_fuzz_idx backprop_fuzz_csv backprop_fuzz_spec backprop_fuzz_model >/dev/null

corpus="$build/corpus"
mkdir -p "$corpus/idx" "$corpus/csv" "$corpus/spec" "$corpus/model" "$build/artifacts"

# IDX seeds: a few valid files of different types and ranks, raw and gzip.
python3 - "$corpus/idx" <<'PY'
import gzip, struct, sys, os
out = sys.argv[1]
def idx(code, dims, payload):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload
seeds = {
    "images": idx(0x08, [2, 3, 3], bytes(range(18))),
    "labels": idx(0x08, [4], bytes([0, 1, 2, 9])),
    "sbyte": idx(0x09, [2], bytes([0xff, 0x01])),
    "short": idx(0x0B, [2, 1], struct.pack(">hh", -5, 300)),
    "int": idx(0x0C, [3], struct.pack(">iii", 1, -2, 70000)),
    "float": idx(0x0D, [1, 2], struct.pack(">ff", 1.5, -0.25)),
    "double": idx(0x0E, [2], struct.pack(">dd", 1e300, -3.0)),
    "empty": idx(0x08, [0, 28, 28], b""),
    "scalar": idx(0x0D, [], struct.pack(">f", 2.0)),
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
    open(os.path.join(out, name + ".gz"), "wb").write(gzip.compress(data))
PY

# CSV seeds: the first byte selects the reader options (see fuzz/fuzz_csv.cpp).
printf '\x00x,y,label\n1,2,0\n3.5,-4e1,1\n' >"$corpus/csv/header"
printf '\x01%s\r\n' '1,2,cat' '3,4,dog' >"$corpus/csv/crlf"
printf '\x04a;b;c\n1;2;3\n4;5;6\n' >"$corpus/csv/semicolon"
printf '\x10"q, 1","q""2",y\n"1", 2 ,"3"\n4,5,6\n' >"$corpus/csv/quoted"
printf '\x80a,y\n1,"multi\nline"\n2,x\n' >"$corpus/csv/multiline"
printf '\x42a,b\n1,nan\n2,1e99\n' >"$corpus/csv/nonfinite"

# Model spec seeds: the text form (keywords, spaces, case) and the three JSON forms.
printf 'flatten,dense(256),relu,dense(10)' >"$corpus/spec/default"
printf 'DENSE ( 10 , bias = false ), leaky_relu(0.2),elu(alpha=0.5)' >"$corpus/spec/keywords"
printf '["flatten", {"layer": "dense", "args": [8], "bias": false}, "softplus(2)"]' \
  >"$corpus/spec/json"
printf '{"layers": ["dense(3)", {"layer": "tanh"}]}' >"$corpus/spec/layers"

# Model file seeds: a model, a normalised model and a checkpoint in the archive format. The first
# byte is the harness's: odd means "fix the CRC up" (see fuzz/fuzz_model.cpp).
python3 - "$corpus/model" <<'PY'
import json, os, struct, sys, zlib
out = sys.argv[1]
def archive(meta, tensors):
    b = b"BACKPROP" + struct.pack("<II", 1, 0)
    m = json.dumps(meta).encode()
    b += struct.pack("<Q", len(m)) + m + struct.pack("<Q", len(tensors))
    for name, shape, values in tensors:
        b += struct.pack("<I", len(name)) + name.encode() + struct.pack("<I", len(shape))
        b += b"".join(struct.pack("<Q", d) for d in shape)
        b += b"".join(struct.pack("<f", v) for v in values)
    return b + struct.pack("<I", zlib.crc32(b))
meta = {"kind": "model", "spec": "dense(2)", "input_shape": [3], "task": "classification",
        "num_outputs": 2, "label_names": ["a", "b"], "normalization": "none", "info": {}}
params = [("param/0.weight", [2, 3], [0.5, -1, 2, 0, 1e-3, 3]), ("param/0.bias", [2], [0, 1])]
seeds = {
    "model": archive(meta, params + [("norm/offset", [0], []), ("norm/scale", [0], [])]),
    "normalised": archive(dict(meta, normalization="standardize", spec="dense(2),tanh"),
                          params + [("norm/offset", [3], [1, 2, 3]), ("norm/scale", [3], [1, 1, 2])]),
    "checkpoint": archive(dict(meta, kind="checkpoint", epochs_done=2, optimizer="sgd",
                               trainer={"lr": 0.1}),
                          params + [("norm/offset", [0], []), ("norm/scale", [0], []),
                                    ("optim/velocity.0", [2, 3], [0] * 6),
                                    ("optim/velocity.1", [2], [0, 0])]),
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(b"\x00" + data)
    open(os.path.join(out, name + "-fixcrc"), "wb").write(b"\x01" + data)
PY

status=0
for target in idx csv spec model; do
  echo "== fuzz_$target for ${seconds}s"
  if ! "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/${target}-" \
      -jobs=1 -workers=1 "$corpus/$target" 2>&1 | tail -n 25; then
    status=1
  fi
done
exit $status
