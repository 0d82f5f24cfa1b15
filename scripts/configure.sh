#!/usr/bin/env bash
# Configures the project's main build tree the one way scripts/run.sh, scripts/test.sh and
# scripts/package.sh share, so that each builds on what the others compiled: Release, the
# shared library (as the Debian package installs it), warnings as errors.
#
#   bash scripts/configure.sh BUILD_DIR [CMAKE_ARGS...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=$1
shift
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=ON -DBP_WERROR=ON "$@"
