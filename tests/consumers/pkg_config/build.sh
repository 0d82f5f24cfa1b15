#!/usr/bin/env bash
# Builds and runs the consumer with nothing but pkg-config and the compiler:
#   build.sh PREFIX OUT_DIR     (PREFIX: where backprop is installed)
# A static libbackprop also needs what it links to (pkg-config --static).
set -euo pipefail
prefix=$1 out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PKG_CONFIG_PATH="$(echo "$prefix"/lib*/pkgconfig "$prefix"/lib/*/pkgconfig | tr ' ' ':')"
libdir=$(pkg-config --variable=libdir backprop)
static=()
[[ -e $libdir/libbackprop.a ]] && static=(--static)
flags=$(pkg-config "${static[@]}" --cflags --libs backprop)
mkdir -p "$out"
# shellcheck disable=SC2086  # pkg-config's output is a list of flags
c++ "$here/../consumer.cpp" -o "$out/consumer" $flags -Wl,-rpath,"$libdir"
"$out/consumer"
