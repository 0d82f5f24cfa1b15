#!/usr/bin/env bash
# Installs the Debian 12 packages that one part of the work needs, and nothing more:
#
#   bash scripts/install-deps.sh [GROUP...]      (default: build)
#
#   build   compiling the library and the program, and the Fashion-MNIST data it trains on
#   test    build + the test suite: GoogleTest, clang and its sanitizer runtimes (the sanitizer and
#           fuzz builds), MPI (data-parallel tests), Google Benchmark, Python (test helpers),
#           pkg-config (the consumer projects), clang-format (the formatting check), python3-onnx
#           and Node.js with npm (exported ONNX files, checked and run in ONNX Runtime), PyTorch
#           (its ONNX exports, imported)
#   mpi     build + data-parallel training across processes (OpenMPI)
#   package build + what cpack needs for the Debian package (dpkg-shlibdeps, file)
#   bench   build + the side-by-side benchmarks: Google Benchmark, MPI, PyTorch and its fastest BLAS
#   fresh   debootstrap, for scripts/check-fresh-machine.sh
#   report  Chromium and Pillow, for scripts/check-report.sh
#
# Idempotent: when every package is already installed it touches nothing (no apt-get update).
# Run as root (or with sudo available).
set -euo pipefail

build=(
  build-essential cmake ninja-build       # the toolchain (GNU OpenMP comes with g++)
  libdnnl-dev ocl-icd-opencl-dev          # oneDNN; its CMake package asks for OpenCL's files
  zlib1g-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  libonnx-dev libprotobuf-dev             # ONNX export: the format's protobuf classes
  dataset-fashion-mnist                   # /usr/share/datasets/fashion-mnist
)
mpi=(openmpi-bin libopenmpi-dev)
test=(
  googletest libgtest-dev
  clang libclang-rt-14-dev libomp-dev     # the clang build (sanitizers, fuzzers; LLVM's OpenMP)
  libbenchmark-dev "${mpi[@]}"
  python3 pkg-config
  clang-format                            # scripts/check-format.sh
  python3-onnx nodejs                     # ONNX's checker; Node.js runs ONNX Runtime (from npm)
  python3-torch                           # PyTorch's ONNX exports, imported by the tests
)
package=(dpkg-dev file)
bench=(
  libbenchmark-dev "${mpi[@]}"
  python3-torch                           # the peer of the side-by-side benchmarks
  libopenblas0-pthread                    # PyTorch's fastest BLAS here (else netlib, ~30x slower)
  fortunes                                # bench/text.py's corpus (/usr/share/games/fortunes)
)

packages=()
for group in "${@:-build}"; do
  case $group in
    build) packages+=("${build[@]}") ;;
    test) packages+=("${build[@]}" "${test[@]}") ;;
    mpi) packages+=("${build[@]}" "${mpi[@]}") ;;
    package) packages+=("${build[@]}" "${package[@]}") ;;
    bench) packages+=("${build[@]}" "${bench[@]}") ;;
    fresh) packages+=(debootstrap) ;;
    report) packages+=(chromium python3-pil) ;;
    *) echo "install-deps: unknown group '$group' (build, test, mpi, package, bench, fresh, report)" >&2; exit 2 ;;
  esac
done

# npm comes with some Node.js builds (and then conflicts with Debian's npm package).
if [[ " ${packages[*]} " == *" nodejs "* ]] && ! command -v npm > /dev/null; then packages+=(npm); fi

missing=()
for pkg in $(printf '%s\n' "${packages[@]}" | sort -u); do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages of '${*:-build}' already installed"
  exit 0
fi

SUDO=()
if ((EUID != 0)); then SUDO=(sudo); fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
