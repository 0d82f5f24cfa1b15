#!/usr/bin/env bash
# The main job: installs what building and training need (scripts/install-deps.sh build), builds
# the backprop program in Release, trains the default model on Fashion-MNIST, saves it to model.bp
# and prints the test accuracy. Extra arguments go to `backprop train` (for example:
# bash scripts/run.sh --epochs 5).
#
# Environment: BUILD_DIR (default build; scripts/test.sh builds the rest of the same tree),
# JOBS (default: the number of cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${BUILD_DIR:-build}

bash scripts/install-deps.sh build
bash scripts/configure.sh "$BUILD_DIR" -DBP_BUILD_TESTS=OFF -DBP_BUILD_BENCH=OFF -DBP_BUILD_EXAMPLES=OFF
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target backprop_cli

exec "./$BUILD_DIR/src/cli/backprop" train --data fashion-mnist --out model.bp "$@"
