#!/usr/bin/env bash
# Builds and runs tests/consumers/consumer.cpp the ways a user's project would take backprop:
#   run.sh installed BUILD_DIR WORK_DIR     cmake --install into WORK_DIR/prefix, then a CMake
#                                            project with find_package and one with pkg-config only
#   run.sh subdirectory SOURCE_DIR WORK_DIR  a CMake project that add_subdirectory()s the source
# Extra CMake arguments for the consumer projects come from CONSUMER_CMAKE_ARGS (e.g. the compiler).
set -euo pipefail
mode=$1 from=$(cd "$2" && pwd) work=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$work" && mkdir -p "$work" && work=$(cd "$work" && pwd)
read -r -a cmake_args <<<"${CONSUMER_CMAKE_ARGS:-}"

case $mode in
installed)
  prefix=$work/prefix
  cmake --install "$from" --prefix "$prefix"
  for f in include/backprop/backprop.hpp include/backprop/version.hpp include/backprop/export.hpp \
           bin/backprop; do
    [[ -e $prefix/$f ]] || { echo "not installed: $f" >&2; exit 1; }
  done
  ls "$prefix"/lib*/cmake/backprop/backpropConfig.cmake "$prefix"/lib*/cmake/backprop/backpropConfigVersion.cmake \
     "$prefix"/lib*/pkgconfig/backprop.pc >/dev/null
  "$prefix/bin/backprop" --version
  echo "== find_package"
  cmake -S "$here/find_package" -B "$work/find_package" -DCMAKE_PREFIX_PATH="$prefix" "${cmake_args[@]}"
  cmake --build "$work/find_package"
  "$work/find_package/consumer"
  echo "== pkg-config"
  bash "$here/pkg_config/build.sh" "$prefix" "$work/pkg_config"
  ;;
subdirectory)
  echo "== add_subdirectory"
  cmake -S "$here/add_subdirectory" -B "$work/add_subdirectory" -G Ninja -DBACKPROP_SOURCE_DIR="$from" \
    -DEXPECTED_BUILD_TYPE= "${cmake_args[@]}"
  cmake --build "$work/add_subdirectory"
  "$work/add_subdirectory/consumer"
  ;;
*)
  echo "run.sh: unknown mode '$mode' (installed or subdirectory)" >&2
  exit 2
  ;;
esac
