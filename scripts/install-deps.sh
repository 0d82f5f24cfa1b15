#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test and benchmark backprop.
# Idempotent: when every package is already installed it touches nothing (no apt-get update).
# Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build g++   # the toolchain (GNU OpenMP comes with g++)
  clang libclang-rt-14-dev                # sanitizer and fuzz builds only
  googletest libgtest-dev                 # tests
  libbenchmark-dev                        # bench/
  libdnnl-dev                             # fast CPU kernels (oneDNN)
  zlib1g-dev                              # reading .gz datasets
  libcli11-dev nlohmann-json3-dev libfmt-dev
  openmpi-bin libopenmpi-dev              # data-parallel training across processes (BP_MPI)
  dataset-fashion-mnist                   # /usr/share/datasets/fashion-mnist
  python3-torch                           # side-by-side benchmarks against PyTorch
  libopenblas0-pthread                    # PyTorch's fastest BLAS here (else netlib, ~30x slower)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if ((EUID != 0)); then SUDO=(sudo); fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
