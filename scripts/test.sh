#!/usr/bin/env bash
# Installs the dependencies, builds backprop in Release and runs the whole test suite, then builds
# and runs it again under AddressSanitizer + UndefinedBehaviorSanitizer, then runs each fuzz target
# briefly. Exits non-zero if any build, test or fuzz target fails.
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
bash scripts/install-deps.sh

failed=()

section "Release build in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBP_WERROR=ON
cmake --build "$BUILD_DIR" -j "$JOBS"

section "Release tests"
ctest --test-dir "$BUILD_DIR" -j "$JOBS" --timeout 600 --output-on-failure || failed+=("Release tests")

if [[ "${BP_SKIP_SANITIZERS:-0}" != 1 ]]; then
  # -O1 keeps the sanitized suite fast while leaving assertions on (no NDEBUG); the benchmarks are
  # not built. BP_SANITIZE compiles with -fno-sanitize-recover=all, so any UBSan report is fatal.
  section "ASan+UBSan build in $ASAN_BUILD_DIR"
  cmake -S . -B "$ASAN_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
    -DBP_SANITIZE=ON -DBP_BUILD_BENCH=OFF -DBP_WERROR=ON
  cmake --build "$ASAN_BUILD_DIR" -j "$JOBS"

  section "ASan+UBSan tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$ASAN_BUILD_DIR" -j "$JOBS" --timeout 900 --output-on-failure \
    || failed+=("ASan+UBSan tests")
fi

if [[ "${BP_SKIP_FUZZ:-0}" != 1 ]]; then
  # Each reader of untrusted input (IDX, CSV, model specs, model files) under libFuzzer with
  # ASan+UBSan, for a short bounded time per target.
  section "fuzzing (${BP_FUZZ_SECONDS:-10}s per target)"
  FUZZ_JOBS=$JOBS bash scripts/fuzz.sh "${BP_FUZZ_SECONDS:-10}" || failed+=("fuzzing")
fi

section "done"
if ((${#failed[@]})); then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "all tests passed"
