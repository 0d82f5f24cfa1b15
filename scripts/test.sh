#!/usr/bin/env bash
# Installs what the tests need (scripts/install-deps.sh test) and runs the whole test suite:
#  0. the formatting check (scripts/check-format.sh: every C++ file as .clang-format says);
#  1. the Release build with GCC and the shared library (the tree scripts/run.sh builds), its tests,
#     and projects that use the library as users' projects do (tests/consumers: installed with
#     find_package and pkg-config, and add_subdirectory), and exported ONNX models run in ONNX
#     Runtime (installed from npm into $BUILD_DIR/ort) against `backprop predict`;
#  2. the Debian package (scripts/package.sh) and a check of its contents;
#  3. a build with clang, the static library and AddressSanitizer + UndefinedBehaviorSanitizer, its
#     tests, and each fuzz target briefly (the fuzz targets share that build).
# Exits non-zero if any build, test or fuzz target fails.
#
#   bash scripts/test.sh
#
# Environment: BUILD_DIR (default build), ASAN_BUILD_DIR (default build-asan), JOBS (default 2),
# BP_SKIP_SANITIZERS=1 to run only the Release suite, BP_SKIP_FUZZ=1 to skip the fuzzers,
# BP_FUZZ_SECONDS (default 10) per fuzz target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

start=$SECONDS
section() { printf '\n==== %s (%ds)\n' "$1" $((SECONDS - start)); }

section "dependencies"
bash scripts/install-deps.sh test

failed=()

section "formatting"
bash scripts/check-format.sh || failed+=("formatting")

section "ONNX Runtime (npm) for the ONNX export tests"
ort_dir="$(realpath -m "$BUILD_DIR")/ort"
if [[ ! -d "$ort_dir/node_modules/onnxruntime-node" ]]; then
  mkdir -p "$ort_dir"
  # --ignore-scripts: the CPU runtime ships in the package; its install script only fetches GPU parts.
  npm install --ignore-scripts --no-audit --no-fund --prefix "$ort_dir" onnxruntime-node@1.30.0
fi

section "Release build (GCC, shared library) in $BUILD_DIR"
bash scripts/configure.sh "$BUILD_DIR" -DBP_BUILD_TESTS=ON -DBP_BUILD_BENCH=ON -DBP_BUILD_EXAMPLES=ON \
  -DBP_MPI=ON -DBP_ORT_DIR="$ort_dir" -DPython3_EXECUTABLE=/usr/bin/python3
cmake --build "$BUILD_DIR" -j "$JOBS"

section "Release tests"
ctest --test-dir "$BUILD_DIR" -j "$JOBS" --timeout 900 --output-on-failure || failed+=("Release tests")

section "Debian package"
BUILD_DIR=$BUILD_DIR JOBS=$JOBS bash scripts/package.sh || failed+=("Debian package")

if [[ "${BP_SKIP_SANITIZERS:-0}" != 1 ]]; then
  # -O1 keeps the sanitized suite fast while leaving assertions on (no NDEBUG); the benchmarks are
  # not built. BP_SANITIZE compiles with -fno-sanitize-recover=all, so any UBSan report is fatal.
  # BP_FUZZ adds the fuzz targets to the same build (libFuzzer's coverage hooks cost the tests
  # little), so the sanitized library compiles once for both.
  section "clang ASan+UBSan build (static library, fuzz targets) in $ASAN_BUILD_DIR"
  cmake -S . -B "$ASAN_BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DBP_SANITIZE=ON -DBP_FUZZ=ON -DBP_BUILD_BENCH=OFF \
    -DBP_WERROR=ON
  cmake --build "$ASAN_BUILD_DIR" -j "$JOBS"

  section "ASan+UBSan tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$ASAN_BUILD_DIR" -j "$JOBS" --timeout 900 --output-on-failure \
    || failed+=("ASan+UBSan tests")

  if [[ "${BP_SKIP_FUZZ:-0}" != 1 ]]; then
    # Each reader of untrusted input under libFuzzer, for a short bounded time per target.
    section "fuzzing (${BP_FUZZ_SECONDS:-10}s per target)"
    FUZZ_BUILD_DIR=$ASAN_BUILD_DIR bash scripts/fuzz.sh "${BP_FUZZ_SECONDS:-10}" || failed+=("fuzzing")
  fi
fi

section "done"
if ((${#failed[@]})); then
  for dir in "$BUILD_DIR" "$ASAN_BUILD_DIR"; do
    list=$dir/Testing/Temporary/LastTestsFailed.log
    if [[ -s $list ]]; then
      printf 'failed tests in %s: %s\n' "$dir" "$(cut -d: -f2 "$list" | xargs)" >&2
    fi
  done
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "all tests passed"
