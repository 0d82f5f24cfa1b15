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
targets=(idx csv spec model spec_json schedule text onnx)
ninja -C "$build" "${targets[@]/#/backprop_fuzz_}" >/dev/null

corpus="$build/corpus"
mkdir -p "$corpus/idx" "$corpus/csv" "$corpus/spec" "$corpus/model" "$corpus/spec_json" \
  "$corpus/schedule" "$corpus/text" "$corpus/onnx" "$build/artifacts"

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
    # Huge declared sizes: more elements than the limit, and more than 64 bits can count.
    "huge": idx(0x08, [60000, 28, 28, 28], bytes(16)),
    "overflow": idx(0x0E, [0xFFFFFFFF] * 4, bytes(8)),
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
    open(os.path.join(out, name + ".gz"), "wb").write(gzip.compress(data))
# A header that declares 10 bytes in front of a stream that inflates to far more.
bomb = gzip.compress(idx(0x08, [10], bytes(10)) + bytes(1 << 16))
open(os.path.join(out, "bomb.gz"), "wb").write(bomb)
PY

# CSV seeds: the first byte selects the reader options (see fuzz/fuzz_csv.cpp).
printf '\x00x,y,label\n1,2,0\n3.5,-4e1,1\n' >"$corpus/csv/header"
printf '\x01%s\r\n' '1,2,cat' '3,4,dog' >"$corpus/csv/crlf"
printf '\x04a;b;c\n1;2;3\n4;5;6\n' >"$corpus/csv/semicolon"
printf '\x10"q, 1","q""2",y\n"1", 2 ,"3"\n4,5,6\n' >"$corpus/csv/quoted"
printf '\x80a,y\n1,"multi\nline"\n2,x\n' >"$corpus/csv/multiline"
printf '\x42a,b\n1,nan\n2,1e99\n' >"$corpus/csv/nonfinite"

# Text seeds: the first byte picks code points (even) or bytes (odd) and the window length.
printf '\x06caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 hello\n' >"$corpus/text/utf8"
printf '\x02ab\xc0\x80\xed\xa0\x80' >"$corpus/text/invalid"
printf '\x03\x00\xff\xfe binary' >"$corpus/text/bytes"

# Model spec seeds: the text form (keywords, spaces, case) and the three JSON forms.
printf 'flatten,dense(256),relu,dense(10)' >"$corpus/spec/default"
printf 'DENSE ( 10 , bias = false ), leaky_relu(0.2),elu(alpha=0.5)' >"$corpus/spec/keywords"
printf '["flatten", {"layer": "dense", "args": [8], "bias": false}, "softplus(2)"]' \
  >"$corpus/spec/json"
printf '{"layers": ["dense(3)", {"layer": "tanh"}]}' >"$corpus/spec/layers"
# Deep nesting: containers at the limit and past it, and JSON past its own limit.
python3 - "$corpus" <<'PY'
import os, sys
out = sys.argv[1]
def nest(depth, inner="relu"):
    return "residual(" * depth + inner + ")" * depth
open(os.path.join(out, "spec", "deep64"), "w").write(nest(64) + ",dense(2)")
open(os.path.join(out, "spec", "deep65"), "w").write(nest(65))
open(os.path.join(out, "spec", "deep"), "w").write(nest(3000))
for d in ("spec", "spec_json"):
    open(os.path.join(out, d, "arrays"), "w").write("[" * 5000 + "]" * 5000)
    open(os.path.join(out, d, "objects"), "w").write('{"a":' * 5000 + "1" + "}" * 5000)
    open(os.path.join(out, d, "deep_string"), "w").write('["%s"]' % nest(100))
PY
printf '["flatten", {"layer": "dense", "args": [8], "bias": false}, "softplus(2)"]' \
  >"$corpus/spec_json/json"
printf '{"layers": ["dense(3)", {"layer": "residual", "args": ["dense(3)", "relu"]}]}' \
  >"$corpus/spec_json/residual"
printf '[{"layer": "dense", "args": [1e999999]}, "dense(99999999999999999999)"]' \
  >"$corpus/spec_json/huge_numbers"

# Schedule seeds: two bytes of context (run length / 97, steps per epoch), then the text.
printf '\x10\x0awarmup(500),cosine' >"$corpus/schedule/warmup_cosine"
printf '\x10\x0astep(10e,0.1)' >"$corpus/schedule/step_epochs"
printf '\x00\x00multistep(20;30,0.1)' >"$corpus/schedule/multistep"
printf '\x10\x0aonecycle(max_lr=0.5,pct_start=0.3,anneal=linear)' >"$corpus/schedule/onecycle"
printf '\x10\x0aplateau(0.5,3,threshold=0.01,cooldown=2,min_lr=1e-5)' >"$corpus/schedule/plateau"
printf '\x10\x0aconstant(100),exponential(0.99)' >"$corpus/schedule/pieces"
printf '\xff\xffstep(999999999999e,1e308),constant(99999999999999999999)' \
  >"$corpus/schedule/huge_numbers"
python3 -c "print('\x10\x0a' + 'constant(1),' * 2000 + '(' * 3000 + ')' * 3000, end='')" \
  >"$corpus/schedule/long"

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

# ONNX seeds: small graphs of the operators import reads (Debian's python3-onnx writes them).
/usr/bin/python3 - "$corpus/onnx" <<'PY'
import os, sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper
out = sys.argv[1]
def model(nodes, inits, shape, opset=17):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch"] + shape)],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(v, dtype=np.int64 if k[0] == "i" else np.float32), k)
                           for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()
rng = np.random.default_rng(0)
seeds = {
    "mlp": model([helper.make_node("Sub", ["input", "off"], ["a"]), helper.make_node("Div", ["a", "sc"], ["b"]),
                  helper.make_node("Gemm", ["b", "w", "bias"], ["c"], transB=1),
                  helper.make_node("Relu", ["c"], ["output"])],
                 {"off": [0.5], "sc": [2.0], "w": rng.normal(size=(4, 3)), "bias": [0, 1, 2, 3]}, [3]),
    "cnn": model([helper.make_node("Conv", ["input", "w"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  helper.make_node("MaxPool", ["a"], ["b"], kernel_shape=[2, 2], strides=[2, 2]),
                  helper.make_node("Reshape", ["b", "i_shape"], ["output"])],
                 {"w": rng.normal(size=(2, 1, 3, 3)), "i_shape": [0, -1]}, [1, 4, 4], opset=13),
    "lstm": model([helper.make_node("Transpose", ["input"], ["a"], perm=[1, 0, 2]),
                   helper.make_node("LSTM", ["a", "W", "R", "B"], ["y", "yh"], hidden_size=2),
                   helper.make_node("Squeeze", ["y", "i_1"], ["b"]),
                   helper.make_node("Squeeze", ["yh", "i_0"], ["output"])],
                  {"W": rng.normal(size=(1, 8, 3)), "R": rng.normal(size=(1, 8, 2)),
                   "B": rng.normal(size=(1, 16)), "i_1": [1], "i_0": [0]}, [4, 3]),
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
PY

status=0
for target in "${targets[@]}"; do
  echo "== fuzz_$target for ${seconds}s"
  if ! "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/${target}-" \
      -jobs=1 -workers=1 "$corpus/$target" 2>&1 | tail -n 25; then
    status=1
  fi
done
exit $status
