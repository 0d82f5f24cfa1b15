#!/usr/bin/env bash
# The main job: installs the dependencies, builds backprop in Release, trains the default model on
# Fashion-MNIST, saves it to model.bp and prints the test accuracy. Extra arguments go to
# `backprop train` (for example: bash scripts/run.sh --epochs 5).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${BUILD_DIR:-build}

bash scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target backprop_cli

exec "./$BUILD_DIR/src/cli/backprop" train --data fashion-mnist --out model.bp "$@"
